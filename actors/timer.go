package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// timer sends a message to an actor after a delay, once or repeatedly, until
// stopped. It replaces protoactor's scheduler package, whose timer reads its
// state without synchronisation (a data race under -race). Safe for
// concurrent use; Stop is idempotent and no message is sent after it returns.
type timer struct {
	mu      sync.Mutex // guards the following fields
	t       *time.Timer
	stopped bool
}

// sendAfter sends msg to pid once, after d.
func sendAfter(sys *actor.ActorSystem, d time.Duration, pid *actor.PID, msg any) *timer {
	return startTimer(sys, d, 0, pid, msg)
}

// sendEvery sends msg to pid every d, the first time after d.
func sendEvery(sys *actor.ActorSystem, d time.Duration, pid *actor.PID, msg any) *timer {
	return startTimer(sys, d, d, pid, msg)
}

func startTimer(sys *actor.ActorSystem, delay, every time.Duration, pid *actor.PID, msg any) *timer {
	tm := &timer{}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.t = time.AfterFunc(delay, func() {
		tm.mu.Lock()
		defer tm.mu.Unlock()
		if tm.stopped {
			return
		}
		sys.Root.Send(pid, msg)
		if every > 0 {
			tm.t.Reset(every)
		}
	})
	return tm
}

// Stop cancels the timer. A nil timer is stopped already.
func (tm *timer) Stop() {
	if tm == nil {
		return
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.stopped = true
	tm.t.Stop()
}
