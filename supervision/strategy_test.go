package supervision

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// fakeSupervisor records what the strategy asks of the parent. A fake at this
// seam: a real parent would have to spawn children and make them panic, and
// the strategy's only contract with it is these five calls.
type fakeSupervisor struct{ calls []string }

func (s *fakeSupervisor) Children() []*actor.PID { return nil }
func (s *fakeSupervisor) EscalateFailure(reason any, _ any) {
	s.calls = append(s.calls, fmt.Sprintf("EscalateFailure(%v)", reason))
}
func (s *fakeSupervisor) RestartChildren(pids ...*actor.PID) { s.record("RestartChildren", pids) }
func (s *fakeSupervisor) StopChildren(pids ...*actor.PID)    { s.record("StopChildren", pids) }
func (s *fakeSupervisor) ResumeChildren(pids ...*actor.PID)  { s.record("ResumeChildren", pids) }

func (s *fakeSupervisor) record(op string, pids []*actor.PID) {
	ids := make([]string, len(pids))
	for i, p := range pids {
		ids[i] = p.Id
	}
	s.calls = append(s.calls, op+"("+strings.Join(ids, ",")+")")
}

// fakeObserver records the decisions it hears (the production observer feeds
// metrics and logs, which are not what is under test).
type fakeObserver struct{ events []string }

func (o *fakeObserver) Restarted(child *actor.PID, reason any) {
	o.events = append(o.events, fmt.Sprintf("Restarted(%s, %v)", child.Id, reason))
}

func (o *fakeObserver) Stopped(child *actor.PID, reason any, budgetSpent bool) {
	o.events = append(o.events, fmt.Sprintf("Stopped(%s, %v, budgetSpent=%v)", child.Id, reason, budgetSpent))
}

// failure is one child failing at t0+at with reason.
type failure struct {
	at     time.Duration
	child  string
	reason any
}

func TestOneForOne(t *testing.T) {
	fatal := Fatal{Err: fmt.Errorf("bad config")}
	tests := []struct {
		name       string
		budget     Budget
		failures   []failure
		wantCalls  []string
		wantEvents []string
	}{
		{
			name:   "restarts within the budget",
			budget: Budget{Max: 2, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Second, "a", "boom again"},
			},
			wantCalls:  []string{"RestartChildren(a)", "RestartChildren(a)"},
			wantEvents: []string{"Restarted(a, boom)", "Restarted(a, boom again)"},
		},
		{
			name:   "past the budget the child is stopped",
			budget: Budget{Max: 2, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Second, "a", "boom"},
				{2 * time.Second, "a", "third"},
			},
			wantCalls:  []string{"RestartChildren(a)", "RestartChildren(a)", "StopChildren(a)"},
			wantEvents: []string{"Restarted(a, boom)", "Restarted(a, boom)", "Stopped(a, third, budgetSpent=true)"},
		},
		{
			name:   "old failures leave the window",
			budget: Budget{Max: 1, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Minute, "a", "boom"},
			},
			wantCalls:  []string{"RestartChildren(a)", "RestartChildren(a)"},
			wantEvents: []string{"Restarted(a, boom)", "Restarted(a, boom)"},
		},
		{
			name:       "Fatal stops without spending the budget",
			budget:     Budget{Max: 5, Within: time.Minute},
			failures:   []failure{{0, "a", fatal}},
			wantCalls:  []string{"StopChildren(a)"},
			wantEvents: []string{"Stopped(a, supervision: fatal: bad config, budgetSpent=false)"},
		},
		{
			name:       "*Fatal stops too",
			budget:     Budget{Max: 5, Within: time.Minute},
			failures:   []failure{{0, "a", &fatal}},
			wantCalls:  []string{"StopChildren(a)"},
			wantEvents: []string{"Stopped(a, supervision: fatal: bad config, budgetSpent=false)"},
		},
		{
			name:   "separate children have separate budgets",
			budget: Budget{Max: 1, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Second, "b", "boom"},
				{2 * time.Second, "a", "boom"},
				{3 * time.Second, "b", "boom"},
			},
			wantCalls: []string{"RestartChildren(a)", "RestartChildren(b)", "StopChildren(a)", "StopChildren(b)"},
			wantEvents: []string{
				"Restarted(a, boom)", "Restarted(b, boom)",
				"Stopped(a, boom, budgetSpent=true)", "Stopped(b, boom, budgetSpent=true)",
			},
		},
		{
			name:   "a child stopped for its budget starts afresh when re-created",
			budget: Budget{Max: 1, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Second, "a", "boom"},
				{2 * time.Second, "a", "boom"},
			},
			wantCalls:  []string{"RestartChildren(a)", "StopChildren(a)", "RestartChildren(a)"},
			wantEvents: []string{"Restarted(a, boom)", "Stopped(a, boom, budgetSpent=true)", "Restarted(a, boom)"},
		},
		{
			name:   "a child stopped as Fatal starts afresh when re-created",
			budget: Budget{Max: 1, Within: time.Minute},
			failures: []failure{
				{0, "a", "boom"},
				{time.Second, "a", fatal},
				{2 * time.Second, "a", "boom"},
			},
			wantCalls: []string{"RestartChildren(a)", "StopChildren(a)", "RestartChildren(a)"},
			wantEvents: []string{
				"Restarted(a, boom)",
				"Stopped(a, supervision: fatal: bad config, budgetSpent=false)",
				"Restarted(a, boom)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			obs := &fakeObserver{}
			sup := &fakeSupervisor{}
			s := OneForOne(tt.budget, obs, func() time.Time { return now })
			pids := map[string]*actor.PID{}
			for _, f := range tt.failures {
				now = t0.Add(f.at)
				pid := pids[f.child]
				if pid == nil {
					pid = actor.NewPID("nonhost", f.child)
					pids[f.child] = pid
				}
				// The strategy ignores the actor system, the restart statistics
				// and the message: nil for all three.
				s.HandleFailure(nil, sup, pid, nil, f.reason, nil)
			}
			if !reflect.DeepEqual(sup.calls, tt.wantCalls) {
				t.Errorf("supervisor calls = %q, want %q", sup.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(obs.events, tt.wantEvents) {
				t.Errorf("observer events = %q, want %q", obs.events, tt.wantEvents)
			}
		})
	}
}
