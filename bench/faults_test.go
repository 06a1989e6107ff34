package main

import (
	"math"
	"testing"
)

// The draws are a pure function of seed and request number, so these
// counts are fixed: the tolerances only say how far from the rate a sound
// generator may land (5 standard deviations).
func TestFaultsRate(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name string
		rate float64
		seed uint64
	}{
		{name: "5%", rate: 0.05, seed: 1},
		{name: "5% other seed", rate: 0.05, seed: 42},
		{name: "30%", rate: 0.30, seed: 1},
		{name: "0.1%", rate: 0.001, seed: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFaults(tt.rate, tt.seed)
			if err != nil {
				t.Fatal(err)
			}
			var failed, afterFail, pairs int
			prev := false
			for i := uint64(1); i <= n; i++ {
				cur := f.fail(i)
				if cur {
					failed++
				}
				if prev {
					pairs++
					if cur {
						afterFail++
					}
				}
				prev = cur
			}
			want := tt.rate * n
			tol := 5 * math.Sqrt(n*tt.rate*(1-tt.rate))
			if math.Abs(float64(failed)-want) > tol {
				t.Errorf("%d of %d failed, want %.0f ± %.0f", failed, n, want, tol)
			}
			// Independence: a failure is no likelier right after a failure.
			if pairs > 0 {
				cond := float64(afterFail) / float64(pairs)
				condTol := 5 * math.Sqrt(tt.rate*(1-tt.rate)/float64(pairs))
				if math.Abs(cond-tt.rate) > condTol {
					t.Errorf("P(fail | previous failed) = %.4f over %d pairs, want %.4f ± %.4f", cond, pairs, tt.rate, condTol)
				}
			}
		})
	}
}

func TestFaultsEdges(t *testing.T) {
	never, err := newFaults(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	always, err := newFaults(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if never.active() || !always.active() {
		t.Fatalf("active: rate 0 = %v, rate 1 = %v", never.active(), always.active())
	}
	for i := range uint64(10_000) {
		if never.fail(i) {
			t.Fatalf("rate 0 failed request %d", i)
		}
		if !always.fail(i) {
			t.Fatalf("rate 1 passed request %d", i)
		}
	}
	for _, bad := range []float64{-0.01, 1.01, math.NaN(), math.Inf(1)} {
		if _, err := newFaults(bad, 1); err == nil {
			t.Errorf("newFaults(%v) accepted", bad)
		}
	}
}

func TestFaultsSeed(t *testing.T) {
	a, _ := newFaults(0.5, 1)
	b, _ := newFaults(0.5, 1)
	c, _ := newFaults(0.5, 2)
	differ := 0
	for i := range uint64(1000) {
		if a.fail(i) != b.fail(i) {
			t.Fatalf("same seed, request %d: different draws", i)
		}
		if a.fail(i) != c.fail(i) {
			differ++
		}
	}
	// Two independent fair sequences differ about half the time.
	if differ < 400 || differ > 600 {
		t.Errorf("seeds 1 and 2 differ on %d of 1000 draws, want about 500", differ)
	}
}

func BenchmarkFaultsFail(b *testing.B) {
	b.ReportAllocs()
	f, _ := newFaults(0.05, 1)
	n := 0
	for i := 0; b.Loop(); i++ {
		if f.fail(uint64(i)) {
			n++
		}
	}
	_ = n
}
