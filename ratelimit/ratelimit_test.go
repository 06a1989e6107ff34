package ratelimit

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestLimiter(t *testing.T) {
	// 10 per second, burst 3: a token every 100ms, 3 at once.
	steps := []struct {
		name string
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{"burst 1", 0, true, 0},
		{"burst 2", 0, true, 0},
		{"burst 3", 0, true, 0},
		{"burst spent", 0, false, 100 * time.Millisecond},
		{"still early", 99 * time.Millisecond, false, time.Millisecond},
		{"one token back", 100 * time.Millisecond, true, 0},
		{"spent again", 100 * time.Millisecond, false, 100 * time.Millisecond},
		{"a long pause refills only the burst", 10 * time.Second, true, 0},
		{"burst 2 after the pause", 10 * time.Second, true, 0},
		{"burst 3 after the pause", 10 * time.Second, true, 0},
		{"no more than the burst", 10 * time.Second, false, 100 * time.Millisecond},
	}
	l := NewLimiter(Rule{Rate: 10, Burst: 3})
	for _, s := range steps {
		ok, wait := l.Allow(t0.Add(s.at))
		if ok != s.ok || wait != s.wait {
			t.Fatalf("%s: Allow(t0+%v) = %v, %v; want %v, %v", s.name, s.at, ok, wait, s.ok, s.wait)
		}
	}
}

func TestLimiterLongRunRate(t *testing.T) {
	// Offered 1000/s for 10s against a 50/s limit with burst 5: exactly the
	// burst plus 50 per second are admitted.
	l := NewLimiter(Rule{Rate: 50, Burst: 5})
	admitted := 0
	for i := range 10000 {
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			admitted++
		}
	}
	if admitted < 500 || admitted > 505 {
		t.Fatalf("admitted %d in 10s at 50/s burst 5, want 500 to 505", admitted)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	// 100 goroutines racing at one instant: exactly the burst gets through.
	l := NewLimiter(Rule{Rate: 1, Burst: 20})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow(t0); ok {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 20 {
		t.Fatalf("admitted %d, want the burst of 20", admitted.Load())
	}
}

func key(i uint32) Key {
	var k Key
	k[10], k[11] = 0xff, 0xff
	binary.BigEndian.PutUint32(k[12:], i)
	return k
}

func TestTablePerKey(t *testing.T) {
	tb := NewTable(Rule{Rate: 1, Burst: 2}, 1000)
	for _, k := range []Key{key(1), key(2)} {
		for i := range 2 {
			if ok, _ := tb.Allow(k, t0); !ok {
				t.Fatalf("key %v request %d refused within its burst", k[12:], i)
			}
		}
		if ok, wait := tb.Allow(k, t0); ok || wait != time.Second {
			t.Fatalf("key %v: third request = %v, %v; want refused for 1s", k[12:], ok, wait)
		}
	}
}

func TestTableBound(t *testing.T) {
	const max = 6400
	tb := NewTable(Rule{Rate: 1, Burst: 5}, max)
	// 100k distinct keys, all inside their burst (nothing idle): the bound
	// holds by dropping arbitrary entries.
	for i := range uint32(100_000) {
		tb.Allow(key(i), t0)
	}
	if n := tb.Len(); n > max+shards {
		t.Fatalf("table holds %d keys, want at most about %d", n, max)
	}
	// Once their buckets have refilled, entries are idle and are dropped
	// first: a returning key is not penalised by a stale entry.
	later := t0.Add(time.Minute)
	for i := range uint32(max) {
		tb.Allow(key(200_000+i), later)
	}
	for i := range 5 {
		if ok, _ := tb.Allow(key(200_000), later); !ok && i < 4 {
			t.Fatalf("a key's own burst refused at request %d", i)
		}
	}
}

// TestTableMemory reports the memory of a table holding a million keys (the
// figure issue 5 asks for); it asserts only a generous bound.
func TestTableMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := NewTable(Rule{Rate: 1, Burst: 1}, 1_000_000)
	for i := range uint32(1_000_000) {
		tb.Allow(key(i), t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / float64(tb.Len())
	t.Logf("%d keys: %.1f MiB, %.1f bytes per key", tb.Len(), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), perKey)
	if perKey > 128 {
		t.Fatalf("%.1f bytes per key, want well under 128", perKey)
	}
	runtime.KeepAlive(tb)
}

func BenchmarkLimiterAllow(b *testing.B) {
	b.ReportAllocs()
	l := NewLimiter(Rule{Rate: 1e9, Burst: 1 << 20})
	now := time.Now()
	for b.Loop() {
		l.Allow(now)
	}
}

func BenchmarkTableAllow(b *testing.B) {
	for _, keys := range []int{1, 1000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			b.ReportAllocs()
			tb := NewTable(Rule{Rate: 1e9, Burst: 1 << 20}, keys)
			now := time.Now()
			i := uint32(0)
			for b.Loop() {
				tb.Allow(key(i%uint32(keys)), now)
				i++
			}
		})
	}
}
