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
	tooks := []time.Duration{0, time.Microsecond, 1234567 * time.Microsecond, 3 * time.Hour, 999 * time.Nanosecond}
	check := func(r *request, n int64, now time.Time, took time.Duration) {
		t.Helper()
		for _, json := range []bool{true, false} {
			got := string(appendLine(nil, json, r, n, now, took))
			if want := slogLine(json, r, n, now, took); got != want {
				t.Fatalf("json=%v:\n got %q\nwant %q", json, got, want)
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
		check(r, rng.Int64N(1<<40), at[rng.IntN(len(at))], time.Duration(rng.Int64N(int64(time.Hour))))
	}
}
