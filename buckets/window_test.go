package buckets

import (
	"math/rand/v2"
	"testing"
)

func TestWindowSumLast(t *testing.T) {
	// push i carries Attempts i and Failures 10·i, so every slot is distinct.
	pushes := func(n int) []Totals {
		var ts []Totals
		for i := 1; i <= n; i++ {
			ts = append(ts, Totals{Attempts: uint64(i), Failures: uint64(10 * i)})
		}
		return ts
	}
	tests := []struct {
		name   string
		slots  int
		pushes []Totals
		k      int
		want   Totals
	}{
		{"empty window, last 1", 3, nil, 1, Totals{}},
		{"empty window, last 3", 3, nil, 3, Totals{}},
		{"1..5 into 3, last 1", 3, pushes(5), 1, Totals{Attempts: 5, Failures: 50}},
		{"1..5 into 3, last 2", 3, pushes(5), 2, Totals{Attempts: 4 + 5, Failures: 40 + 50}},
		{"1..5 into 3, last 3 is the sum", 3, pushes(5), 3, Totals{Attempts: 3 + 4 + 5, Failures: 30 + 40 + 50}},
		{"1..5 into 3, last 10 is the sum", 3, pushes(5), 10, Totals{Attempts: 3 + 4 + 5, Failures: 30 + 40 + 50}},
		{"1..5 into 3, last 0", 3, pushes(5), 0, Totals{}},
		{"1..5 into 3, last -1", 3, pushes(5), -1, Totals{}},
		{"1..2 into 3, last 1", 3, pushes(2), 1, Totals{Attempts: 2, Failures: 20}},
		{"1..2 into 3, last 2", 3, pushes(2), 2, Totals{Attempts: 1 + 2, Failures: 10 + 20}},
		{"1..2 into 3, last 3", 3, pushes(2), 3, Totals{Attempts: 1 + 2, Failures: 10 + 20}},
		{"1..3 into 3, wrapped to slot 0, last 2", 3, pushes(3), 2, Totals{Attempts: 2 + 3, Failures: 20 + 30}},
		{"1..4 into 1, last 1", 1, pushes(4), 1, Totals{Attempts: 4, Failures: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.slots)
			for _, p := range tt.pushes {
				w.Push(p)
			}
			if got := w.SumLast(tt.k); got != tt.want {
				t.Errorf("window of %d after %d pushes: SumLast(%d) = %+v, want %+v", tt.slots, len(tt.pushes), tt.k, got, tt.want)
			}
		})
	}
}

func TestWindowSum(t *testing.T) {
	tests := []struct {
		name   string
		slots  int
		pushes int
		want   Totals
	}{
		{"empty", 3, 0, Totals{}},
		{"1..5 into 3", 3, 5, Totals{Attempts: 3 + 4 + 5, Failures: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.slots)
			for i := 1; i <= tt.pushes; i++ {
				w.Push(Totals{Attempts: uint64(i), Failures: uint64(i % 2)})
			}
			if got := w.Sum(); got != tt.want {
				t.Errorf("window of %d after pushing 1..%d: Sum() = %+v, want %+v", tt.slots, tt.pushes, got, tt.want)
			}
		})
	}
}

// TestWindowSumLastMatchesHistory compares SumLast with a sum over the pushes
// kept on the side, for every k and after every push.
func TestWindowSumLastMatchesHistory(t *testing.T) {
	const slots = 7
	rng := rand.New(rand.NewPCG(3, 4))
	w := NewWindow(slots)
	var history []Totals
	for push := 1; push <= 30; push++ {
		a := rng.Uint64N(1000)
		p := Totals{Attempts: a, Failures: rng.Uint64N(a + 1)}
		w.Push(p)
		history = append(history, p)
		for k := 0; k <= slots+1; k++ {
			var want Totals
			for i := len(history) - 1; i >= 0 && i >= len(history)-min(k, slots); i-- {
				want.Attempts += history[i].Attempts
				want.Failures += history[i].Failures
			}
			if got := w.SumLast(k); got != want {
				t.Fatalf("after push %d: SumLast(%d) = %+v, want %+v", push, k, got, want)
			}
		}
		if got, want := w.Sum(), w.SumLast(slots); got != want {
			t.Fatalf("after push %d: Sum() = %+v, want SumLast(%d) = %+v", push, got, slots, want)
		}
	}
}
