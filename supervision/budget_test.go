package supervision

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// allowStep is one Tracker.Allow call at t0+at and what it must answer.
type allowStep struct {
	at           time.Duration
	want         bool
	wantRestarts int // Restarts() right after the call
}

func TestTrackerAllow(t *testing.T) {
	const minute = time.Minute
	tests := []struct {
		name   string
		budget Budget
		steps  []allowStep
	}{
		{
			name:   "up to Max inside the window, the next one refused",
			budget: Budget{Max: 3, Within: minute},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: time.Second, want: true, wantRestarts: 2},
				{at: 2 * time.Second, want: true, wantRestarts: 3},
				{at: 3 * time.Second, want: false, wantRestarts: 0},
			},
		},
		{
			name:   "after a refusal the tracker starts over",
			budget: Budget{Max: 2, Within: minute},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: time.Second, want: true, wantRestarts: 2},
				{at: 2 * time.Second, want: false, wantRestarts: 0},
				{at: 3 * time.Second, want: true, wantRestarts: 1},
				{at: 4 * time.Second, want: true, wantRestarts: 2},
				{at: 5 * time.Second, want: false, wantRestarts: 0},
			},
		},
		{
			name:   "a restart exactly Within ago has left the window",
			budget: Budget{Max: 1, Within: minute},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: minute, want: true, wantRestarts: 1},
			},
		},
		{
			name:   "a restart just under Within ago is still in the window",
			budget: Budget{Max: 1, Within: minute},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: minute - time.Nanosecond, want: false, wantRestarts: 0},
			},
		},
		{
			name:   "a restart just over Within ago has left the window",
			budget: Budget{Max: 1, Within: minute},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: minute + time.Nanosecond, want: true, wantRestarts: 1},
			},
		},
		{
			name:   "the window slides: only the old restart falls out",
			budget: Budget{Max: 2, Within: 10 * time.Second},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: 5 * time.Second, want: true, wantRestarts: 2},
				{at: 10 * time.Second, want: true, wantRestarts: 2},  // the t0 restart fell out
				{at: 14 * time.Second, want: false, wantRestarts: 0}, // 5s and 10s are still inside
			},
		},
		{
			name:   "Within 0 means forever",
			budget: Budget{Max: 2, Within: 0},
			steps: []allowStep{
				{at: 0, want: true, wantRestarts: 1},
				{at: 1000 * time.Hour, want: true, wantRestarts: 2},
				{at: 100000 * time.Hour, want: false, wantRestarts: 0},
			},
		},
		{
			name:   "Max 0 refuses at once",
			budget: Budget{Max: 0, Within: minute},
			steps: []allowStep{
				{at: 0, want: false, wantRestarts: 0},
				{at: time.Hour, want: false, wantRestarts: 0},
			},
		},
		{
			name:   "the zero Budget refuses",
			budget: Budget{},
			steps: []allowStep{
				{at: 0, want: false, wantRestarts: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Tracker{Budget: tt.budget}
			for i, s := range tt.steps {
				if got := tr.Allow(t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d: Allow(t0+%v) = %v, want %v", i, s.at, got, s.want)
				}
				if got := tr.Restarts(); got != s.wantRestarts {
					t.Fatalf("step %d: after Allow(t0+%v), Restarts() = %d, want %d", i, s.at, got, s.wantRestarts)
				}
			}
		})
	}
}

func ExampleTracker() {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := Tracker{Budget: Budget{Max: 2, Within: time.Minute}}
	fmt.Println(tr.Allow(t0))                       // first restart
	fmt.Println(tr.Allow(t0.Add(10 * time.Second))) // second, still inside the minute
	fmt.Println(tr.Allow(t0.Add(20 * time.Second))) // third inside the minute: refused
	fmt.Println(tr.Allow(t0.Add(30 * time.Second))) // the tracker started over
	// Output:
	// true
	// true
	// false
	// true
}
