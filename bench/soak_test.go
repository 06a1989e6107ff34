package main

import (
	"bufio"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestComputeGrowth(t *testing.T) {
	seq := func(n int, f func(i int) float64) ([]float64, []float64) {
		ts, vs := make([]float64, n), make([]float64, n)
		for i := range n {
			ts[i], vs[i] = float64(10+i), f(i)
		}
		return ts, vs
	}
	tests := []struct {
		name  string
		ts    []float64
		vs    []float64
		valid bool
		win   int
		first float64
		last  float64
		pct   float64
		peak  float64
	}{
		{name: "no samples"},
		{name: "one sample: nothing to compare", ts: []float64{1}, vs: []float64{7}, win: 1, first: 7, last: 7, peak: 7},
		{name: "two samples, window of one", ts: []float64{1, 2}, vs: []float64{100, 104}, valid: true, win: 1, first: 100, last: 104, pct: 4, peak: 104},
		{name: "nine samples: window still one", ts: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, vs: []float64{10, 99, 99, 99, 99, 99, 99, 99, 12},
			valid: true, win: 1, first: 10, last: 12, pct: 20, peak: 99},
		{name: "first mean zero", ts: []float64{1, 2}, vs: []float64{0, 5}, win: 1, first: 0, last: 5, peak: 5},
		{name: "length mismatch", ts: []float64{1}, vs: []float64{1, 2}},
	}
	// 100 samples rising 1..100: windows of 10, means 5.5 and 95.5.
	ts, vs := seq(100, func(i int) float64 { return float64(i + 1) })
	tests = append(tests, struct {
		name  string
		ts    []float64
		vs    []float64
		valid bool
		win   int
		first float64
		last  float64
		pct   float64
		peak  float64
	}{name: "rising", ts: ts, vs: vs, valid: true, win: 10, first: 5.5, last: 95.5, pct: 100 * 90 / 5.5, peak: 100})
	// Flat with a spike in the middle: the middle does not count.
	ts, vs = seq(35, func(i int) float64 {
		if i == 17 {
			return 500
		}
		return 40
	})
	tests = append(tests, struct {
		name  string
		ts    []float64
		vs    []float64
		valid bool
		win   int
		first float64
		last  float64
		pct   float64
		peak  float64
	}{name: "flat, spike in the middle", ts: ts, vs: vs, valid: true, win: 3, first: 40, last: 40, pct: 0, peak: 500})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := computeGrowth(tt.ts, tt.vs)
			if g.Valid != tt.valid || g.Window != tt.win || g.First != tt.first || g.Last != tt.last ||
				math.Abs(g.Pct-tt.pct) > 1e-9 || g.Peak != tt.peak {
				t.Fatalf("computeGrowth = %+v, want valid %v window %d first %g last %g pct %g peak %g",
					g, tt.valid, tt.win, tt.first, tt.last, tt.pct, tt.peak)
			}
			if g.Samples != len(tt.vs) {
				t.Fatalf("Samples = %d, want %d", g.Samples, len(tt.vs))
			}
		})
	}

	// The windows' time spans are those of the averaged samples.
	ts, vs = seq(100, func(i int) float64 { return 1 })
	g := computeGrowth(ts, vs)
	if g.FirstFrom != 10 || g.FirstTo != 19 || g.LastFrom != 100 || g.LastTo != 109 {
		t.Fatalf("windows %g-%g and %g-%g, want 10-19 and 100-109", g.FirstFrom, g.FirstTo, g.LastFrom, g.LastTo)
	}
}

// soakTOML mirrors every key soakConfig writes, so that decoding with no
// undecoded key proves each one sits in the table meant for it.
type soakTOML struct {
	Server struct {
		Address string `toml:"address"`
		Port    int    `toml:"port"`
	} `toml:"server"`
	Admin struct {
		Token string `toml:"token"`
	} `toml:"admin"`
	Log struct {
		Access *bool `toml:"access"`
	} `toml:"log"`
	Buckets []struct {
		Name       string `toml:"name"`
		PathPrefix string `toml:"path_prefix"`
		S3         struct {
			Bucket                string `toml:"bucket"`
			Region                string `toml:"region"`
			Endpoint              string `toml:"endpoint"`
			ForcePathStyle        bool   `toml:"force_path_style"`
			AccessKey             string `toml:"access_key"`
			SecretKey             string `toml:"secret_key"`
			ConnectionPoolSize    int    `toml:"connection_pool_size"`
			MaxIdleConnections    int    `toml:"max_idle_connections"`
			MaxConcurrentRequests int    `toml:"max_concurrent_requests"`
		} `toml:"s3"`
	} `toml:"buckets"`
}

func decodeSoakTOML(t *testing.T, cfg string) soakTOML {
	t.Helper()
	var c soakTOML
	md, err := toml.Decode(cfg, &c)
	if err != nil {
		t.Fatalf("invalid TOML: %v\n%s", err, cfg)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys outside the expected tables: %v\n%s", u, cfg)
	}
	return c
}

func TestSoakConfigVariants(t *testing.T) {
	p := soakParams{Port: 18080, OriginAddr: "127.0.0.1:19000", Conns: 64}
	tests := []struct {
		v        soakVariant
		buckets  []string
		pool     int
		maxConcs int
	}{
		{v: soakVariant{}, buckets: []string{"bench"}, pool: 80, maxConcs: 1000},
		{v: soakVariant{Extra: true}, buckets: []string{"bench", "extra"}, pool: 80, maxConcs: 1000},
		{v: soakVariant{Alt: true}, buckets: []string{"bench"}, pool: 96, maxConcs: 2000},
		{v: soakVariant{Extra: true, Alt: true}, buckets: []string{"bench", "extra"}, pool: 96, maxConcs: 2000},
	}
	for _, tt := range tests {
		cfg := soakConfig(p, tt.v)
		c := decodeSoakTOML(t, cfg)
		if c.Server.Address != "127.0.0.1" || c.Server.Port != 18080 {
			t.Errorf("%+v: server %+v", tt.v, c.Server)
		}
		if c.Admin.Token != soakAdminToken || len(c.Admin.Token) < 16 {
			t.Errorf("%+v: admin token %q (the proxy wants >= 16 characters)", tt.v, c.Admin.Token)
		}
		if c.Log.Access == nil || !*c.Log.Access {
			t.Errorf("%+v: access log not explicitly on", tt.v)
		}
		var names []string
		for _, b := range c.Buckets {
			names = append(names, b.Name)
			if b.S3.Endpoint != "http://127.0.0.1:19000" || !b.S3.ForcePathStyle || b.S3.AccessKey == "" || b.S3.SecretKey == "" {
				t.Errorf("%+v: bucket %s s3 %+v", tt.v, b.Name, b.S3)
			}
			if b.PathPrefix != "/"+b.Name || b.S3.Bucket != b.Name {
				t.Errorf("%+v: bucket %s prefix %q s3 bucket %q", tt.v, b.Name, b.PathPrefix, b.S3.Bucket)
			}
			if b.S3.MaxIdleConnections > b.S3.ConnectionPoolSize {
				t.Errorf("%+v: bucket %s keeps more idle connections than its pool", tt.v, b.Name)
			}
		}
		if !reflect.DeepEqual(names, tt.buckets) {
			t.Fatalf("%+v: buckets %v, want %v", tt.v, names, tt.buckets)
		}
		bench := c.Buckets[0].S3
		if bench.ConnectionPoolSize != tt.pool || bench.MaxIdleConnections != tt.pool || bench.MaxConcurrentRequests != tt.maxConcs {
			t.Errorf("%+v: bench pool %d idle %d max_concurrent %d, want %d %d %d", tt.v,
				bench.ConnectionPoolSize, bench.MaxIdleConnections, bench.MaxConcurrentRequests, tt.pool, tt.pool, tt.maxConcs)
		}
		if bench.MaxConcurrentRequests < p.Conns || bench.ConnectionPoolSize < p.Conns {
			t.Errorf("%+v: limits below the load's %d connections would refuse requests", tt.v, p.Conns)
		}
		if len(c.Buckets) > 1 && c.Buckets[1].S3.MaxConcurrentRequests != 0 {
			t.Errorf("%+v: max_concurrent_requests landed in the extra bucket", tt.v)
		}
	}
	// Many connections raise the concurrency limit with them.
	c := decodeSoakTOML(t, soakConfig(soakParams{Port: 1, OriginAddr: "127.0.0.1:2", Conns: 512}, soakVariant{}))
	if got := c.Buckets[0].S3.MaxConcurrentRequests; got != 2048 {
		t.Errorf("512 connections: max_concurrent_requests %d, want 2048", got)
	}
}

func TestSoakReloadCycle(t *testing.T) {
	const conns = 64
	p := soakParams{Port: 1, OriginAddr: "127.0.0.1:2", Conns: conns}
	prev := soakVariant{} // the proxy starts with the base variant
	extraChanges, limitChanges := 0, 0
	for i := range 12 {
		v, change := soakReloadVariant(i, conns)
		if change == "" {
			t.Fatalf("reload %d: no description", i)
		}
		switch {
		case v.Extra != prev.Extra && v.Alt == prev.Alt:
			extraChanges++
			if want := map[bool]string{true: "add bucket extra", false: "remove bucket extra"}[v.Extra]; change != want {
				t.Errorf("reload %d: %q, want %q", i, change, want)
			}
		case v.Alt != prev.Alt && v.Extra == prev.Extra:
			limitChanges++
			if !strings.HasPrefix(change, "bench: pool ") {
				t.Errorf("reload %d: %q", i, change)
			}
		default:
			t.Fatalf("reload %d: %+v -> %+v changes not exactly one thing", i, prev, v)
		}
		if soakConfig(p, v) == soakConfig(p, prev) {
			t.Fatalf("reload %d: the config file does not change", i)
		}
		// Adding/removing alternates with rebuilding the loaded bucket.
		if (i%2 == 0) != (v.Extra != prev.Extra) {
			t.Errorf("reload %d: changes do not alternate", i)
		}
		if i%4 == 3 && v != (soakVariant{}) {
			t.Errorf("reload %d: %+v, want back at the start variant", i, v)
		}
		prev = v
	}
	if extraChanges != 6 || limitChanges != 6 {
		t.Fatalf("extra changes %d, limit changes %d, want 6 and 6", extraChanges, limitChanges)
	}
	if _, change := soakReloadVariant(1, conns); change != "bench: pool 80->96, max_concurrent_requests 1000->2000" {
		t.Errorf("limit change described as %q", change)
	}
}

const soakMetricsText = `# HELP go_goroutines Number of goroutines
go_goroutines 73
go_memstats_alloc_bytes 10485760
go_memstats_heap_inuse_bytes 1.2582912e+07
process_resident_memory_bytes 35651584
config_generation 41
config_reload_failure_total 2
config_reload_success_total 40
http_requests_total{bucket="bench",method="GET",status="200"} 99000
http_requests_total{bucket="bench",method="GET",status="503"} 10
http_requests_total{bucket="extra",method="GET",status="200"} 5
http_requests_total{bucket="(none)",method="OTHER",status="405"} 1
go_info_ext{compiler="gc", GOARCH="amd64"} 1
go_gc_duration_seconds_count 17
http_streams_cut_total{bucket="bench",side="client"} 40
http_streams_cut_total{bucket="bench",side="upstream"} 3
http_streams_cut_total{bucket="extra",side="client"} 2
`

func TestParseSoakMetrics(t *testing.T) {
	m, err := parseSoakMetrics(soakMetricsText)
	if err != nil {
		t.Fatal(err)
	}
	want := soakMetrics{Goroutines: 73, HeapInuse: 12 << 20, HeapSeries: seriesHeapInuse, HeapAlloc: 10 << 20, ProcessRSS: 34 << 20,
		Requests: 99016, Generation: 41, ReloadOK: 40, ReloadFailed: 2, GCs: 17, StreamsCutClient: 42, Series: 16}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("parseSoakMetrics =\n%+v\nwant\n%+v", m, want)
	}

	// Without heap_inuse the allocated heap stands in, and says so.
	text := strings.Replace(soakMetricsText, "go_memstats_heap_inuse_bytes 1.2582912e+07\n", "", 1)
	m, err = parseSoakMetrics(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.HeapInuse != 10<<20 || m.HeapSeries != seriesHeapAlloc || len(m.Missing) != 0 {
		t.Fatalf("fallback: heap %g from %q, missing %v", m.HeapInuse, m.HeapSeries, m.Missing)
	}

	// Missing series are listed, not fatal.
	m, err = parseSoakMetrics("go_goroutines 5\n")
	if err != nil {
		t.Fatal(err)
	}
	wantMissing := []string{seriesProcessRSS, seriesRequests, seriesGeneration, seriesReloadOK, seriesReloadFail, seriesHeapInuse}
	if m.Goroutines != 5 || !reflect.DeepEqual(m.Missing, wantMissing) {
		t.Fatalf("sparse: %+v, missing want %v", m, wantMissing)
	}

	// Not the proxy's metrics at all, or not metrics text.
	if _, err := parseSoakMetrics("up 1\n"); err == nil {
		t.Fatal("no goroutines and no heap: want an error")
	}
	if _, err := parseSoakMetrics("go_goroutines{ 1\n"); err == nil {
		t.Fatal("malformed text: want an error")
	}
}

func TestSoakGoals(t *testing.T) {
	// grow is soakGrowthMinSamples samples: first, then last from the
	// second on (10 % windows of one sample each).
	grow := func(first, last float64) growthStats {
		ts := make([]float64, soakGrowthMinSamples)
		vs := make([]float64, soakGrowthMinSamples)
		for i := range ts {
			ts[i], vs[i] = float64(i), last
		}
		vs[0] = first
		return computeGrowth(ts, vs)
	}
	phases := []soakPhase{
		{Name: soakPhaseRequest, Load: loadResult{Requests: 1000, Statuses: map[int]int64{200: 1000}},
			RSS: grow(30, 31), Heap: grow(10, 11), Goroutines: grow(72, 72), FDs: grow(150, 170),
			Leavers: &soakLeavers{Object: "16m", Started: 600, Left: 600, CutCounted: new(600.0)},
			Before:  soakSample{Goroutines: 7}, After: soakSample{Goroutines: 72}, Settled: soakSample{Goroutines: 7}, SettledAfter: 21},
		{Name: soakPhaseReload, Load: loadResult{Requests: 500, Errors: 2, StatusErrors: 2, Statuses: map[int]int64{200: 498, 503: 2}},
			RSS: grow(30, 30), Heap: grow(10, 10), Goroutines: computeGrowth([]float64{1}, []float64{70}), FDs: computeGrowth([]float64{1, 2}, []float64{3481, 4388}),
			Leavers: &soakLeavers{Object: "16m", Started: 50, Left: 48, Failed: 2, Errors: []string{"leaver: 503 Service Unavailable"}},
			Before:  soakSample{Goroutines: 7}, After: soakSample{Goroutines: 7}, Settled: soakSample{Goroutines: 7}, SettledAfter: 3,
			Reloads: &soakReloads{Requested: 10, OK: 10, PerSecond: 5}},
		{Name: "broken", Error: "stalled"},
	}
	streams := []soakStream{
		{Object: "1g", Proxy: soakProxyFresh, Size: 1 << 30, Bytes: 1<<30 + 200, Complete: true, PeakRSSMiB: 40, MBPerSec: 900},
		{Object: "5g", Proxy: soakProxyFresh, Size: 5 << 30, Bytes: 100, Complete: false, PeakRSSMiB: 30, Load: loadResult{SocketErrors: 1}},
		{Object: "2g", Proxy: soakProxySoaked, Error: "bench: go loader: boom"},
	}
	got := soakGoals(phases, streams)
	type verdict struct {
		phase, goal   string
		judged, met   bool
		gotContaining string
	}
	want := []verdict{
		{soakPhaseRequest, "no client request fails", true, true, "0 failed of 1000"},
		{soakPhaseRequest, "RSS growth < 5% after the warm-up", true, true, "+3.3%"},
		{soakPhaseRequest, "Go heap in use growth < 5% after the warm-up", true, false, "+10.0%"},
		{soakPhaseRequest, "goroutines growth < 5% after the warm-up", true, true, "+0.0%"},
		{soakPhaseRequest, "open descriptors growth < 5% after the warm-up", true, false, "+13.3% (150.0 -> 170.0, means"},
		{soakPhaseRequest, "every client leaving mid-body is served until it hangs up (GET /bench/16m, 64 KiB read)", true, true, "600 of 600, 0 failed; the proxy counted 600 client cuts"},
		{soakPhaseRequest, "goroutines back to the baseline within 150s of the load", true, true, "7 before the load, 72 3s after; back to 7 after 21s"},
		{soakPhaseReload, "no client request fails", true, false, "statuses 503:2"},
		{soakPhaseReload, "every reload succeeds", true, true, "10 of 10 ok"},
		{soakPhaseReload, "RSS growth < 5% after the warm-up", true, true, "+0.0%"},
		{soakPhaseReload, "Go heap in use growth < 5% after the warm-up", true, true, "+0.0%"},
		{soakPhaseReload, "goroutines growth < 5% after the warm-up", false, false, "1 measured samples"},
		{soakPhaseReload, "open descriptors growth < 5% after the warm-up", false, false, "not judged: 2 measured samples, fewer than 10 (+26.1% (3481 -> 4388, means of 1 samples))"},
		{soakPhaseReload, "every client leaving mid-body is served until it hangs up (GET /bench/16m, 64 KiB read)", true, false, "48 of 50, 2 failed: leaver: 503 Service Unavailable"},
		{soakPhaseReload, "goroutines back to the baseline within 150s of the load", true, true, "7 before the load, 7 3s after"},
		{"broken", "phase completes", true, false, "stalled"},
		{"stream 1g", "fresh proxy: complete, peak RSS < 64 MiB", true, true, "peak RSS 40.0 MiB"},
		{"stream 5g", "fresh proxy: complete, peak RSS < 64 MiB", true, false, "INCOMPLETE"},
		{"stream 2g", "soaked proxy: complete, peak RSS < 64 MiB", true, false, "boom"},
	}
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("%+v", g)
		}
		t.Fatalf("%d goals, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Phase != w.phase || g.Goal != w.goal || g.Judged != w.judged || g.Met != w.met || !strings.Contains(g.Got, w.gotContaining) {
			t.Errorf("goal %d = %+v\nwant %+v", i, g, w)
		}
	}

	// A peak at the limit fails: the goal is strictly below.
	g := soakGoals(nil, []soakStream{{Object: "1g", Complete: true, PeakRSSMiB: soakStreamRSSMiB}})
	if g[0].Met {
		t.Fatalf("peak RSS of exactly %d MiB met the goal", soakStreamRSSMiB)
	}
	// Goroutines not back within the wait are said so.
	g = soakGoals([]soakPhase{{Name: "x", RSS: grow(1, 1), Heap: grow(1, 1), Goroutines: grow(1, 1),
		Before: soakSample{Goroutines: 7}, After: soakSample{Goroutines: 9}, Settled: soakSample{Goroutines: 8}, SettledAfter: -1}}, nil)
	if last := g[len(g)-1]; last.Met || !strings.Contains(last.Got, "still 8 after 150s") {
		t.Fatalf("not settled: %+v", last)
	}
}

func TestNearestReload(t *testing.T) {
	log := []soakReload{{N: 1, At: 10}, {N: 2, At: 10.5}, {N: 3, At: 11}}
	for _, tt := range []struct {
		t    float64
		want int
	}{{5, 1}, {10, 1}, {10.4, 1}, {10.5, 2}, {10.9, 2}, {50, 3}} {
		r, ok := nearestReload(log, tt.t)
		if !ok || r.N != tt.want {
			t.Errorf("nearestReload(%g) = #%d %v, want #%d", tt.t, r.N, ok, tt.want)
		}
	}
	if _, ok := nearestReload(nil, 1); ok {
		t.Error("no reloads: want ok false")
	}
}

func TestSoakFlags(t *testing.T) {
	o, err := parseFlags([]string{"-soak"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.soak || o.soakRequests != 1_000_000 || o.soakReloads != 1000 || o.soakDuration != 0 || o.soakStreams != "1g,5g" {
		t.Fatalf("defaults: %+v", o)
	}
	for _, args := range [][]string{{"-soak", "-duration", "24h"}, {"-soak", "-soak-duration", "24h"}, {"-soak", "-duration", "1s", "-soak-duration", "24h"}} {
		o, err := parseFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		if o.soakDuration != 24*time.Hour {
			t.Errorf("%v: soak duration %s, want 24h", args, o.soakDuration)
		}
	}
	// Without -soak, -duration keeps its scenario meaning.
	if o, _ := parseFlags([]string{"-duration", "24h"}); o.soakDuration != 0 {
		t.Errorf("-duration without -soak set the soak duration")
	}
	for _, args := range [][]string{
		{"-soak", "-soak-requests", "0"},
		{"-soak", "-soak-reloads", "-1"},
		{"-soak", "-soak-streams", "1g,huge"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	if _, err := parseFlags([]string{"-soak", "-soak-requests", "0", "-soak-duration", "1h"}); err != nil {
		t.Errorf("a time-bounded soak needs no request count: %v", err)
	}
	objs, err := soakStreamObjects(" 1g, 5g ,")
	if err != nil || !reflect.DeepEqual(objs, []string{"1g", "5g"}) {
		t.Fatalf("soakStreamObjects = %v, %v", objs, err)
	}
	if objs, err := soakStreamObjects("none"); err != nil || len(objs) != 0 {
		t.Fatalf("none: %v, %v", objs, err)
	}
}

func TestLineCounter(t *testing.T) {
	var c lineCounter
	for _, s := range []string{`{"status":200}` + "\n" + `{"status":`, `200}` + "\n", "", "\n\n"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if c.lines() != 4 {
		t.Fatalf("lines = %d, want 4", c.lines())
	}
}

func TestReadResponseCapture(t *testing.T) {
	body := `<Error><Code>SlowDown</Code></Error>`
	in := "HTTP/1.1 503 Service Unavailable\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
		"HTTP/1.1 404 Not Found\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("x", 2000)
	br := bufio.NewReader(strings.NewReader(in))
	var capture []byte
	r, err := readResponseCapture(br, false, &capture)
	if err != nil || r.status != 503 || string(capture) != body {
		t.Fatalf("503: %+v %v, captured %q", r, err, capture)
	}
	capture = capture[:0]
	if r, err := readResponseCapture(br, false, &capture); err != nil || r.status != 200 || len(capture) != 0 {
		t.Fatalf("200: %+v %v, captured %q (a success is not captured)", r, err, capture)
	}
	r, err = readResponseCapture(br, false, &capture)
	if err != nil || r.status != 404 || len(capture) != maxCapture || r.bodyBytes != 2000 {
		t.Fatalf("404: %+v %v, captured %d bytes, want %d and the whole body consumed", r, err, len(capture), maxCapture)
	}
}

func TestWriteSoakPlot(t *testing.T) {
	res := &soakResults{Started: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Nproc: 2, Conns: 64, Object: "1k",
		Requests: 1000, Reloads: 10, HeapSeries: seriesHeapInuse}
	for i := range 60 {
		phase := soakPhaseRequest
		if i >= 30 {
			phase = soakPhaseReload
		}
		res.Samples = append(res.Samples, soakSample{T: float64(i), Phase: phase, RSSMiB: 30 + float64(i%5),
			HeapMiB: 10 + float64(i%3), Goroutines: 72})
	}
	res.Samples = append(res.Samples, soakSample{T: 60.5, Err: "read failed"}) // skipped
	res.Phases = []soakPhase{
		{Name: soakPhaseRequest, Start: 0, WarmupEnd: 5, End: 29, RSS: computeGrowth([]float64{5, 29}, []float64{30, 31})},
		{Name: soakPhaseReload, Start: 30, WarmupEnd: 35, End: 59},
	}
	path := filepath.Join(t.TempDir(), "soak.png")
	if err := writeSoakPlot(path, res); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != soakPlotW || b.Dy() < 3*soakPlotPanelH {
		t.Fatalf("plot is %v", b)
	}
	// Nothing to draw: no file, no error.
	empty := filepath.Join(t.TempDir(), "none.png")
	if err := writeSoakPlot(empty, &soakResults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("a plot without samples was written: %v", err)
	}
}

func TestSoakTimeAxis(t *testing.T) {
	for _, tt := range []struct {
		span float64
		unit string
	}{{40, "s"}, {1200, "s"}, {1201, "min"}, {86400, "h"}} {
		if u, _ := soakTimeUnit(tt.span); u != tt.unit {
			t.Errorf("soakTimeUnit(%g) = %s, want %s", tt.span, u, tt.unit)
		}
	}
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {3, 5}, {7, 10}, {12, 20}, {250, 500}} {
		if got := soakNiceStep(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("soakNiceStep(%g) = %g, want %g", tt.in, got, tt.want)
		}
	}
}

func BenchmarkParseSoakMetrics(b *testing.B) {
	b.ReportAllocs()
	text := strings.Repeat(metricsText, 10) + soakMetricsText
	for b.Loop() {
		if _, err := parseSoakMetrics(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkComputeGrowth(b *testing.B) {
	b.ReportAllocs()
	ts, vs := make([]float64, 86400), make([]float64, 86400) // a day of 1 s samples
	for i := range ts {
		ts[i], vs[i] = float64(i), 30+float64(i%7)
	}
	for b.Loop() {
		computeGrowth(ts, vs)
	}
}
