package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"yatagarasu/buckets"
	"yatagarasu/config"
	"yatagarasu/supervision"
)

func TestMain(m *testing.M) {
	// protoactor's event stream and dead-letter throttle and fasthttp's
	// timers are package-level or end at their next wake-up after a stop;
	// everything else must be gone.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.(*eventStream).run"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

// origin is a loopback S3 stand-in answering every request with status.
type origin struct {
	addr   string
	status atomic.Int32
	hits   atomic.Int64
	// failFirst answers the next failFirst requests with 503.
	failFirst atomic.Int32
}

func startOrigin(t *testing.T, status int) *origin {
	t.Helper()
	o := &origin{}
	o.status.Store(int32(status))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		o.hits.Add(1)
		if o.failFirst.Add(-1) >= 0 {
			ctx.SetStatusCode(503)
			return
		}
		ctx.SetStatusCode(int(o.status.Load()))
		ctx.SetBodyString("x")
	}}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return o
}

// newBucket builds a bucket named name whose upstream is o and whose
// credentials come from provider (nil: static keys from the config).
func newBucket(t *testing.T, name string, o *origin, provider aws.CredentialsProvider) *buckets.Bucket {
	t.Helper()
	return newBucketWith(t, name, o, provider, "")
}

// newBucketWith is newBucket with extra keys for [buckets.s3] (and tables
// after it).
func newBucketWith(t *testing.T, name string, o *origin, provider aws.CredentialsProvider, extra string) *buckets.Bucket {
	t.Helper()
	src := fmt.Sprintf(`
[[buckets]]
name = %q
path_prefix = "/%s"
[buckets.s3]
bucket = "b"
endpoint = "http://%s"
force_path_style = true
access_key = "AK"
secret_key = "SK"
%s
`, name, name, o.addr, extra)
	cfg, err := config.Parse([]byte(src), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := buckets.New(cfg.Buckets[0], buckets.Options{Credentials: provider})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// startSystem starts a tree with fast settings and stops it at cleanup.
func startSystem(t *testing.T, set Settings) (*System, *syncWriter) {
	t.Helper()
	logs := &syncWriter{w: &bytes.Buffer{}}
	set.Log = slog.New(slog.NewTextHandler(logs, nil))
	if set.Tick == 0 {
		set.Tick = 10 * time.Millisecond
	}
	sys := Start(set)
	t.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return sys, logs
}

// eventually polls cond until it holds or 5s pass. It waits for actors
// running on their own goroutines; no state machine is moved by sleeping.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// provider is a credentials provider driven by a function, counting calls.
type provider struct {
	calls atomic.Int64
	fn    func(call int64) (aws.Credentials, error)
}

func (p *provider) Retrieve(context.Context) (aws.Credentials, error) {
	return p.fn(p.calls.Add(1))
}

func good() (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Source: "test"}, nil
}

func TestSupervisorPublishesReady(t *testing.T) {
	o := startOrigin(t, 200)
	b := newBucket(t, "media", o, nil)
	if s := b.Snapshot(); s.State != buckets.NotReady {
		t.Fatalf("before supervision: state %v, want not ready", s.State)
	}
	sys, _ := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bucket to be ready", func() bool { return b.Snapshot().State == buckets.Ready })
	if s := b.Snapshot(); !s.HasCredentials || s.Credentials.AccessKeyID != "AK" {
		t.Fatalf("ready snapshot has credentials %+v", s.Credentials)
	}
	if err := sys.Add(b, BucketOptions{}); err == nil {
		t.Fatal("adding the same bucket twice succeeded")
	}
}

func TestCredentialFailureIsolatesBucket(t *testing.T) {
	o := startOrigin(t, 200)
	broken := newBucket(t, "broken", o, &provider{fn: func(int64) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no credentials here")
	}})
	healthy := newBucket(t, "healthy", o, nil)
	sys, _ := startSystem(t, Settings{})
	for _, b := range []*buckets.Bucket{broken, healthy} {
		if err := sys.Add(b, BucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both buckets to settle", func() bool {
		return healthy.Snapshot().State == buckets.Ready && strings.Contains(broken.Snapshot().Reason, "no credentials here")
	})
	if s := broken.Snapshot(); s.State != buckets.NotReady {
		t.Fatalf("broken bucket: state %v (%s), want not ready", s.State, s.Reason)
	}
	// Fetch refuses at once, without touching the origin.
	before := o.hits.Load()
	err := broken.Fetch(&buckets.Inbound{Method: []byte("GET"), Key: []byte("k"), Header: &fasthttp.RequestHeader{}}, &fasthttp.Response{}, &buckets.Body{}, time.Now())
	if !errors.Is(err, buckets.ErrNotReady) || o.hits.Load() != before {
		t.Fatalf("Fetch on a not-ready bucket = %v with %d origin hits, want ErrNotReady and none", err, o.hits.Load()-before)
	}
}

func TestPanickingRefresherIsRestarted(t *testing.T) {
	o := startOrigin(t, 200)
	p := &provider{fn: func(call int64) (aws.Credentials, error) {
		if call == 1 {
			panic("credential provider bug")
		}
		return good()
	}}
	b := newBucket(t, "media", o, p)
	sys, logs := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restarted refresher to publish credentials", func() bool { return b.Snapshot().State == buckets.Ready })
	var out bytes.Buffer
	b.Metrics().Set().WritePrometheus(&out)
	if !strings.Contains(out.String(), `actor_restarts_total{bucket="media",child="credentials"} 1`) {
		t.Errorf("metrics lack one credentials restart:\n%s", out.String())
	}
	if !strings.Contains(logs.String(), "child restarted") {
		t.Errorf("restart not logged; logs:\n%s", logs.String())
	}
}

func TestSpentBudgetMarksNotReadyAndRespawns(t *testing.T) {
	o := startOrigin(t, 200)
	p := &provider{fn: func(int64) (aws.Credentials, error) { panic("always broken") }}
	b := newBucket(t, "doomed", o, p)
	healthy := newBucket(t, "healthy", o, nil)
	sys, logs := startSystem(t, Settings{
		ChildBudget:    supervision.Budget{Max: 2, Within: time.Minute},
		RespawnBackoff: 20 * time.Millisecond,
		RespawnMax:     20 * time.Millisecond,
	})
	for _, bk := range []*buckets.Bucket{b, healthy} {
		if err := sys.Add(bk, BucketOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the budget to be spent", func() bool {
		return strings.Contains(b.Snapshot().Reason, "exceeded its restart budget")
	})
	if s := b.Snapshot(); s.State != buckets.NotReady {
		t.Fatalf("state %v, want not ready", s.State)
	}
	// 1 start + 2 restarts = 3 calls per supervisor life; the root re-creates
	// the supervisor, whose refresher calls again.
	eventually(t, "the supervisor to be re-created", func() bool { return p.calls.Load() > 3 })
	if !strings.Contains(logs.String(), "re-creating") {
		t.Errorf("re-creation not logged:\n%s", logs.String())
	}
	if healthy.Snapshot().State != buckets.Ready {
		t.Errorf("healthy bucket: %v (%s), want ready", healthy.Snapshot().State, healthy.Snapshot().Reason)
	}
}

func TestFailureEdgePublishesBeforeTheTick(t *testing.T) {
	o := startOrigin(t, 500)
	b := newBucket(t, "media", o, nil)
	// A tick of an hour: anything published after the first sample came
	// through the edge message.
	sys, _ := startSystem(t, Settings{Tick: time.Hour})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	in := &buckets.Inbound{Method: []byte("GET"), Key: []byte("k"), Header: &fasthttp.RequestHeader{}}
	var body buckets.Body
	if err := b.Fetch(in, resp, &body, time.Now()); err != nil || resp.StatusCode() != 500 {
		t.Fatalf("Fetch = %v, status %d; want S3's 500", err, resp.StatusCode())
	}
	_, _ = io.Copy(io.Discard, &body)
	body.Finish()
	eventually(t, "the failure to be published", func() bool { return b.Snapshot().Recent.Failures == 1 })
}

// fetch sends one GET through b and reads the body; it returns the status.
func fetch(t *testing.T, b *buckets.Bucket) (int, error) {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var body buckets.Body
	in := &buckets.Inbound{Method: []byte("GET"), Key: []byte("k"), Header: &fasthttp.RequestHeader{}}
	if err := b.Fetch(in, resp, &body, time.Now()); err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, &body)
	body.Finish()
	return resp.StatusCode(), nil
}

func TestDegradedUnderFailures(t *testing.T) {
	o := startOrigin(t, 503)
	b := newBucketWith(t, "media", o, nil, "[buckets.s3.retry]\nmax_attempts = 1\n[buckets.s3.circuit_breaker]\nenabled = false")
	sys, _ := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
	for range 5 {
		if status, err := fetch(t, b); err != nil || status != 503 {
			t.Fatalf("fetch = %d, %v; want S3's 503", status, err)
		}
	}
	eventually(t, "degraded", func() bool { return b.Snapshot().State == buckets.Degraded })
	if s := b.Snapshot(); !strings.Contains(s.Reason, "5 of 5 upstream attempts failed") {
		t.Errorf("reason %q", s.Reason)
	}
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	o := startOrigin(t, 503)
	b := newBucketWith(t, "media", o, nil, "[buckets.s3.retry]\nmax_attempts = 1\n[buckets.s3.circuit_breaker]\nfailure_threshold = 3\nsuccess_threshold = 2\nhalf_open_max_requests = 2\ntimeout = \"300ms\"")
	sys, _ := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
	for range 3 {
		if status, _ := fetch(t, b); status != 503 {
			t.Fatalf("status %d, want S3's 503", status)
		}
	}
	eventually(t, "the breaker to open", func() bool { return b.Snapshot().Breaker.State == buckets.BreakerOpen })
	hits := o.hits.Load()
	_, err := fetch(t, b)
	var open *buckets.BreakerOpenError
	if !errors.As(err, &open) || o.hits.Load() != hits {
		t.Fatalf("fetch while open = %v with %d origin hits, want *BreakerOpenError and none", err, o.hits.Load()-hits)
	}
	if s := b.Snapshot(); s.State != buckets.Degraded || !strings.Contains(s.Reason, "circuit breaker open") {
		t.Errorf("bucket state %v %q while open, want degraded", s.State, s.Reason)
	}
	o.status.Store(200)
	eventually(t, "half-open after the timeout", func() bool { return b.Snapshot().Breaker.State == buckets.BreakerHalfOpen })
	for range 2 {
		if status, err := fetch(t, b); status != 200 {
			t.Fatalf("probe = %d, %v", status, err)
		}
	}
	eventually(t, "closed after two good probes", func() bool { return b.Snapshot().Breaker.State == buckets.BreakerClosed })
	var out bytes.Buffer
	b.Metrics().Set().WritePrometheus(&out)
	for _, want := range []string{`circuit_breaker_opened_total{bucket="media"} 1`, `circuit_breaker_rejected_total{bucket="media"} 1`, `circuit_breaker_state{bucket="media"} 0`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	o := startOrigin(t, 503)
	b := newBucketWith(t, "media", o, nil, "[buckets.s3.retry]\nmax_attempts = 3\ninitial_backoff = \"10ms\"")
	sys, _ := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
	// The origin fails twice, then answers: the client sees one 200.
	o.failFirst.Store(2)
	o.status.Store(200)
	if status, err := fetch(t, b); status != 200 || err != nil {
		t.Fatalf("fetch = %d, %v; want 200 after two retries", status, err)
	}
	if o.hits.Load() != 3 {
		t.Errorf("origin hits = %d, want 3", o.hits.Load())
	}
	var out bytes.Buffer
	b.Metrics().Set().WritePrometheus(&out)
	for _, want := range []string{`s3_retry_attempts_total{bucket="media"} 2`, `s3_retry_success_total{bucket="media"} 1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRemoveStopsSupervisor(t *testing.T) {
	o := startOrigin(t, 200)
	b := newBucket(t, "media", o, nil)
	sys, _ := startSystem(t, Settings{})
	if err := sys.Add(b, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
	// A bucket of the same name (a reload's replacement) runs beside it.
	b2 := newBucket(t, "media", o, nil)
	if err := sys.Add(b2, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sys.Remove(b); err != nil {
		t.Fatal(err)
	}
	if s := b.Snapshot(); s.State != buckets.NotReady {
		t.Fatalf("after Remove: %v, want not ready", s.State)
	}
	if err := sys.Remove(b); err == nil {
		t.Fatal("removing a bucket twice succeeded")
	}
	eventually(t, "the new bucket ready", func() bool { return b2.Snapshot().State == buckets.Ready })
}

// syncWriter serialises writes from the actors' goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
