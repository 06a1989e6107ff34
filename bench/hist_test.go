package main

import (
	"math"
	"testing"
	"time"
)

func TestHistIndexBounds(t *testing.T) {
	// Every value must fall inside the bounds of its own bucket, and
	// buckets must be contiguous.
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 40, math.MaxUint64}
	for v := uint64(0); v < 5000; v++ {
		values = append(values, v)
	}
	for _, v := range values {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, i, lo, hi)
		}
	}
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	uniform := func() *histogram {
		var h histogram
		for i := 1; i <= 100000; i++ {
			h.record(time.Duration(i) * time.Microsecond)
		}
		return &h
	}
	single := func() *histogram {
		var h histogram
		h.record(1234 * time.Microsecond)
		return &h
	}
	// 99 fast requests and one slow: p99 is still fast, max is not.
	tail := func() *histogram {
		var h histogram
		for range 99 {
			h.record(100 * time.Microsecond)
		}
		h.record(time.Second)
		return &h
	}
	// n-1 fast requests and one slow one.
	slowEvery := func(n int) *histogram {
		var h histogram
		for range n - 1 {
			h.record(100 * time.Microsecond)
		}
		h.record(time.Second)
		return &h
	}
	merged := func() *histogram {
		var a, b histogram
		for i := 1; i <= 50000; i++ {
			a.record(time.Duration(i) * time.Microsecond)
			b.record(time.Duration(50000+i) * time.Microsecond)
		}
		a.merge(&b)
		return &a
	}
	tests := []struct {
		name string
		h    *histogram
		q    float64
		want time.Duration
	}{
		{name: "uniform p50", h: uniform(), q: 0.50, want: 50 * time.Millisecond},
		{name: "uniform p99", h: uniform(), q: 0.99, want: 99 * time.Millisecond},
		{name: "uniform p99.9", h: uniform(), q: 0.999, want: 99900 * time.Microsecond},
		{name: "uniform p100", h: uniform(), q: 1, want: 100 * time.Millisecond},
		{name: "single value p50", h: single(), q: 0.5, want: 1234 * time.Microsecond},
		{name: "single value p99", h: single(), q: 0.99, want: 1234 * time.Microsecond},
		{name: "tail p99", h: tail(), q: 0.99, want: 100 * time.Microsecond},
		{name: "tail max", h: tail(), q: 1, want: time.Second},
		// 1 slow request in 1000 is p99.9 itself; in 1001 it is above it.
		{name: "p99.9 catches 1 in 1000", h: slowEvery(1000), q: 0.999, want: 100 * time.Microsecond},
		{name: "p99.9 at the slow one", h: slowEvery(999), q: 0.999, want: time.Second},
		{name: "merged p50", h: merged(), q: 0.50, want: 50 * time.Millisecond},
		{name: "merged p99", h: merged(), q: 0.99, want: 99 * time.Millisecond},
		{name: "empty", h: &histogram{}, q: 0.5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.quantile(tt.q)
			// The layout promises 1/64 relative error; allow exactly that.
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/64 {
				t.Fatalf("quantile(%v) = %v, want %v ±1.6%%", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistogramMergeAndMean(t *testing.T) {
	tests := []struct {
		name     string
		a, b     []time.Duration
		wantN    uint64
		wantMin  time.Duration
		wantMax  time.Duration
		wantMean time.Duration
	}{
		{name: "both sides", a: []time.Duration{10, 20}, b: []time.Duration{5, 45}, wantN: 4, wantMin: 5, wantMax: 45, wantMean: 20},
		{name: "empty other", a: []time.Duration{7}, b: nil, wantN: 1, wantMin: 7, wantMax: 7, wantMean: 7},
		{name: "empty self", a: nil, b: []time.Duration{3, 9}, wantN: 2, wantMin: 3, wantMax: 9, wantMean: 6},
		{name: "negative counts as zero", a: []time.Duration{-5}, b: []time.Duration{4}, wantN: 2, wantMin: 0, wantMax: 4, wantMean: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b histogram
			for _, d := range tt.a {
				a.record(d)
			}
			for _, d := range tt.b {
				b.record(d)
			}
			a.merge(&b)
			if a.n != tt.wantN || time.Duration(a.min) != tt.wantMin || time.Duration(a.max) != tt.wantMax || a.mean() != tt.wantMean {
				t.Fatalf("n=%d min=%d max=%d mean=%v; want %d %d %d %v", a.n, a.min, a.max, a.mean(),
					tt.wantN, tt.wantMin, tt.wantMax, tt.wantMean)
			}
		})
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h histogram
	d := time.Duration(1)
	for b.Loop() {
		h.record(d)
		d = d*7 + 13&(1<<32-1)
	}
}
