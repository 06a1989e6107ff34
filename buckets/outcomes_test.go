package buckets

import (
	"testing"
)

func TestTotalsSub(t *testing.T) {
	tests := []struct {
		name string
		a, b Totals
		want Totals
	}{
		{"zero", Totals{}, Totals{}, Totals{}},
		{"field by field", Totals{Attempts: 10, Failures: 4}, Totals{Attempts: 3, Failures: 1}, Totals{Attempts: 7, Failures: 3}},
		{"same", Totals{Attempts: 5, Failures: 5}, Totals{Attempts: 5, Failures: 5}, Totals{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Sub(tt.b); got != tt.want {
				t.Errorf("%+v.Sub(%+v) = %+v, want %+v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	type step struct {
		push Totals
		want Totals // Sum() after the push
	}
	tests := []struct {
		name  string
		n     int
		steps []step
	}{
		{
			name: "sums the last 3 and forgets older ones",
			n:    3,
			steps: []step{
				{Totals{Attempts: 1, Failures: 1}, Totals{Attempts: 1, Failures: 1}},
				{Totals{Attempts: 10, Failures: 2}, Totals{Attempts: 11, Failures: 3}},
				{Totals{Attempts: 100, Failures: 3}, Totals{Attempts: 111, Failures: 6}},
				{Totals{Attempts: 1000, Failures: 4}, Totals{Attempts: 1110, Failures: 9}}, // forgets the first
				{Totals{}, Totals{Attempts: 1100, Failures: 7}},                            // forgets the second
				{Totals{}, Totals{Attempts: 1000, Failures: 4}},                            // forgets the third
				{Totals{}, Totals{}}, // forgets the fourth
				{Totals{Attempts: 2, Failures: 0}, Totals{Attempts: 2, Failures: 0}},
			},
		},
		{
			name: "n below 1 keeps one slot",
			n:    0,
			steps: []step{
				{Totals{Attempts: 5, Failures: 1}, Totals{Attempts: 5, Failures: 1}},
				{Totals{Attempts: 7, Failures: 2}, Totals{Attempts: 7, Failures: 2}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.n)
			if got := w.Sum(); got != (Totals{}) {
				t.Fatalf("Sum() of a new window = %+v, want zero", got)
			}
			for i, s := range tt.steps {
				w.Push(s.push)
				if got := w.Sum(); got != s.want {
					t.Fatalf("step %d: after Push(%+v), Sum() = %+v, want %+v", i, s.push, got, s.want)
				}
			}
		})
	}
}

func TestOutcomesRecord(t *testing.T) {
	var o Outcomes
	for _, failed := range []bool{false, true, true, false, false} {
		o.record(failed)
	}
	if got, want := o.Load(), (Totals{Attempts: 5, Failures: 2}); got != want {
		t.Errorf("Load() after 5 attempts, 2 failed = %+v, want %+v", got, want)
	}
}
