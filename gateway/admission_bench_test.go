package gateway

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
	"yatagarasu/config"
	"yatagarasu/ratelimit"
)

// admissionEnv is a gateway with every limit configured (none tripping) and
// a request that passes them all.
func admissionEnv(tb testing.TB) (*Gateway, *fasthttp.RequestCtx) {
	tb.Helper()
	cfg, err := config.Parse([]byte(`
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "bk"
endpoint = "http://127.0.0.1:9"
force_path_style = true
access_key = "AK"
secret_key = "SK"
max_concurrent_requests = 1000
[buckets.s3.rate_limit]
requests_per_second = 1e9
burst = 1000000
`), "bench.toml")
	if err != nil {
		tb.Fatal(err)
	}
	b, err := buckets.New(cfg.Buckets[0], buckets.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	b.Publish(&buckets.Snapshot{State: buckets.Ready, HasCredentials: true, Credentials: aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}})
	g := New(Options{})
	g.SetTable(&Table{Router: buckets.NewRouter([]*buckets.Bucket{b}), Settings: Settings{
		BlockInjection: true,
		GlobalRate:     ratelimit.NewLimiter(ratelimit.Rule{Rate: 1e9, Burst: 1 << 20}),
		PerIPRate:      ratelimit.NewTable(ratelimit.Rule{Rate: 1e9, Burst: 1 << 20}, 1000),
	}})
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI("/media/photos/2026/holiday%20pictures/IMG_0042.jpg?versionId=3")
	req.Header.SetHost("proxy.example")
	req.Header.Set("User-Agent", "bench/1.0")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Range", "bytes=0-1023")
	raw := req.Header.String()
	ctx := &fasthttp.RequestCtx{}
	var parsed fasthttp.Request
	if err := parsed.Header.Read(bufioReader(raw)); err != nil {
		tb.Fatal(err)
	}
	ctx.Init(&parsed, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, nil)
	return g, ctx
}

// admitOnce runs the admission steps of serve in order, as serve does, at
// now, and reports whether the request passed them all. Callers move now on
// between calls, as the clock does between requests: at a standing instant
// the rate limits' bursts run out after a million requests.
func admitOnce(g *Gateway, ctx *fasthttp.RequestCtx, bp *pathBufs, now time.Time) bool {
	uri := ctx.Request.Header.RequestURI()
	path, _ := splitURI(uri)
	m := buckets.MethodOf(ctx.Method())
	t := g.table.Load()
	if err, _ := checkRequest(ctx, &t.Settings.Limits, m, uri); err != nil {
		return false
	}
	decoded, ok := buckets.AppendUnescapedPath(bp.decoded[:0], path)
	bp.decoded = decoded
	if !ok {
		return false
	}
	b, _, found := t.Router.Route(decoded)
	pol := t.policies[b]
	if !found || checkPath(decoded, pol.blockInjection, &bp.twice) != "" {
		return false
	}
	r := &request{g: g, t: t, b: b, start: now, client: t.Settings.trusted.clientIP(ctx)}
	if r.limitRate(pol) != nil || !b.Acquire() {
		return false
	}
	b.Release()
	return true
}

func BenchmarkAdmission(b *testing.B) {
	b.ReportAllocs()
	g, ctx := admissionEnv(b)
	bp := &pathBufs{}
	now := ctx.Time()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if !admitOnce(g, ctx, bp, now) {
			b.Fatal("the request was refused")
		}
	}
}

// bufioReader reads a raw header block.
func bufioReader(raw string) *bufio.Reader { return bufio.NewReader(strings.NewReader(raw)) }
