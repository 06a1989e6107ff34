package supervision

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Observer hears each supervision decision, for metrics and logs. Its methods
// run on the supervising actor's goroutine and must not block.
type Observer interface {
	// Restarted: child failed with reason and is being restarted.
	Restarted(child *actor.PID, reason any)
	// Stopped: child failed with reason and is being stopped, either because the
	// failure is Fatal or because its restart budget is spent.
	Stopped(child *actor.PID, reason any, budgetSpent bool)
}

// OneForOne returns a strategy that restarts only the failing child, as long
// as its Tracker allows; past the budget (or on Fatal) the child is stopped and
// its parent sees it terminate. now supplies the clock (time.Now in
// production). One strategy serves one parent's children.
func OneForOne(b Budget, obs Observer, now func() time.Time) actor.SupervisorStrategy {
	return &oneForOne{budget: b, obs: obs, now: now, trackers: map[string]*Tracker{}}
}

type oneForOne struct {
	budget Budget
	obs    Observer
	now    func() time.Time

	mu       sync.Mutex // guards the following field
	trackers map[string]*Tracker
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *oneForOne) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, _ any) {
	if Decide(reason) == actor.StopDirective {
		s.forget(child)
		s.obs.Stopped(child, reason, false)
		sup.StopChildren(child)
		return
	}
	if s.allow(child) {
		s.obs.Restarted(child, reason)
		sup.RestartChildren(child)
		return
	}
	s.obs.Stopped(child, reason, true)
	sup.StopChildren(child)
}

func (s *oneForOne) allow(child *actor.PID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.trackers[child.Id]
	if t == nil {
		t = &Tracker{Budget: s.budget}
		s.trackers[child.Id] = t
	}
	ok := t.Allow(s.now())
	if !ok {
		delete(s.trackers, child.Id)
	}
	return ok
}

func (s *oneForOne) forget(child *actor.PID) {
	s.mu.Lock()
	delete(s.trackers, child.Id)
	s.mu.Unlock()
}
