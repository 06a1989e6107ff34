package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"yatagarasu/buckets"
)

// slogLine is the line the access log wrote with log/slog before it encoded
// lines by hand: the reference appendLine must reproduce byte for byte.
func slogLine(json bool, r *request, n int64, now time.Time, took time.Duration) string {
	var buf bytes.Buffer
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(&buf, nil)
	} else {
		h = slog.NewTextHandler(&buf, nil)
	}
	bucket := unroutedLabel
	rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("request_id", string(r.rid[:])),
		slog.String("client_ip", r.client.String()),
		slog.String("method", r.method.String()),
		slog.String("bucket", bucket),
		slog.String("key", string(r.key)),
		slog.Int("status", r.status),
		slog.Int64("bytes", n),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int("attempts", r.attempts),
		slog.String("breaker", ""),
		slog.String("subject", r.subject),
		slog.String("reason", r.reason),
	)
	if err := h.Handle(context.Background(), rec); err != nil {
		panic(err)
	}
	return buf.String()
}

// awkwardStrings are values that exercise every escaping and quoting rule.
var awkwardStrings = []string{
	"", "plain", "a b", "a=b", `q"uote`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "ü日本🦀", "\u2028\u2029", "\xff\xfe", "a\xc3", "\u00a0nbsp", "\u200bzero-width",
	"'; drop table x", "%2e%2e/", "=", " ", "\\", "x\u0085y",
}

func TestAccessLineMatchesSlog(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	at := []time.Time{
		time.Date(2026, 11, 27, 8, 51, 18, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("JST", 9*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(3*3600+30*60))),
		{}, // slog leaves the time out
	}
	tooks := []time.Duration{
		0, time.Microsecond, 1234567 * time.Microsecond, 3 * time.Hour, 999 * time.Nanosecond,
		10 * time.Millisecond, 999_999_999 * time.Microsecond, 1_000_000_000 * time.Microsecond, -time.Millisecond,
	}
	// One pooled line buffer per format across every line, as in the
	// access log: its cached second must follow the seconds and zones.
	var bufs [2]lineBuf
	check := func(r *request, n int64, now time.Time, took time.Duration) {
		t.Helper()
		for i, json := range []bool{true, false} {
			want := slogLine(json, r, n, now, took)
			if got := string(appendLine(nil, json, r, n, now, took)); got != want {
				t.Fatalf("json=%v:\n got %q\nwant %q", json, got, want)
			}
			if got := string(bufs[i].appendLine(nil, json, r, n, now, took)); got != want {
				t.Fatalf("json=%v, through a line buffer:\n got %q\nwant %q", json, got, want)
			}
		}
	}
	for i, s := range awkwardStrings {
		r := &request{
			rid:    [requestIDLen]byte([]byte("0123456789abcdef")),
			method: buckets.MethodGET, client: netip.MustParseAddr("2001:db8::1"),
			key: []byte(s), subject: s, reason: s, status: 200 + i, attempts: i,
		}
		check(r, int64(i)*1000, at[i%len(at)], tooks[i%len(tooks)])
	}
	// The same second in another zone: the cached second must not answer.
	zones := []*time.Location{time.UTC, time.FixedZone("JST", 9*3600), time.FixedZone("", -(3*3600 + 30*60)), time.UTC}
	for _, z := range zones {
		r := &request{rid: [requestIDLen]byte([]byte("0123456789abcdef")), method: buckets.MethodGET, client: netip.MustParseAddr("192.0.2.1"), status: 200}
		check(r, 1, at[0].In(z), time.Millisecond)
	}
	for range 2000 {
		var key []byte
		for range rng.IntN(24) {
			key = append(key, byte(rng.IntN(256)))
		}
		r := &request{
			rid:    [requestIDLen]byte([]byte("fedcba9876543210")),
			method: buckets.MethodHEAD, client: netip.AddrFrom4([4]byte{byte(rng.IntN(256)), 0, 0, 1}),
			key: key, subject: string(key[:len(key)/2]), status: 100 + rng.IntN(500), attempts: rng.IntN(4),
		}
		now := at[rng.IntN(len(at))]
		if !now.IsZero() {
			switch rng.IntN(3) {
			case 0: // another instant of the same or the next second
				now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			case 1: // a whole millisecond: trailing zeros in the fraction
				now = now.Truncate(time.Second).Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			}
		}
		took := time.Duration(rng.Int64N(int64(time.Hour)))
		if rng.IntN(4) == 0 {
			took = tooks[rng.IntN(len(tooks))]
		}
		check(r, rng.Int64N(1<<40), now, took)
	}
}

// BenchmarkAccessLine encodes one request's line, as the access log does for
// every request, with the clock moving a little each line.
func BenchmarkAccessLine(b *testing.B) {
	r := &request{
		rid:    [requestIDLen]byte([]byte("0123456789abcdef")),
		method: buckets.MethodGET, client: netip.MustParseAddr("127.0.0.1"),
		key: []byte("bench/1k"), status: 200, attempts: 1,
	}
	start := time.Date(2026, 11, 27, 8, 51, 18, 123456789, time.UTC)
	for _, json := range []bool{false, true} {
		name := "text"
		if json {
			name = "json"
		}
		b.Run(name, func(b *testing.B) {
			var l lineBuf
			b.ReportAllocs()
			now := start
			for b.Loop() {
				now = now.Add(17 * time.Microsecond)
				l.b = l.appendLine(l.b[:0], json, r, 1024, now, 970*time.Microsecond)
			}
		})
	}
}
