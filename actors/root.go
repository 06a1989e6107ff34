package actors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"yatagarasu/buckets"
	"yatagarasu/supervision"
)

// addBucket asks the root to start supervising a bucket; it replies bucketAdded.
type addBucket struct {
	b    *buckets.Bucket
	opts BucketOptions
}

// bucketAdded answers addBucket.
type bucketAdded struct{ err error }

// removeBucket asks the root to stop a bucket's supervisor; it replies
// bucketRemoved once the supervisor and its children have stopped.
type removeBucket struct{ name string }

// bucketRemoved answers removeBucket.
type bucketRemoved struct{ err error }

// respawnBucket re-creates a bucket supervisor that died, after its backoff.
type respawnBucket struct {
	name string
	b    *buckets.Bucket
}

// rootEntry is one supervised bucket.
type rootEntry struct {
	b        *buckets.Bucket
	opts     BucketOptions
	pid      *actor.PID // nil while waiting to be re-created
	started  time.Time
	respawns int          // re-creations in a row without a stable run
	removing []*actor.PID // waiting for bucketRemoved
}

// stableRun: a supervisor that lived this long resets its respawn backoff.
const stableRun = time.Minute

// root is the top of the tree: one child per bucket. It re-creates a bucket
// supervisor that stops unasked, after a backoff that doubles each time (up to
// Settings.RespawnMax). State is owned by the actor: no locks.
type root struct {
	set      Settings
	log      *slog.Logger
	strategy actor.SupervisorStrategy
	entries  map[string]*rootEntry
	byPID    map[string]string // child PID id → bucket name
	stopping bool              // the tree is shutting down: re-create nothing
	respawns map[string]*timer // pending re-creations by bucket name
}

func newRoot(set Settings) actor.Producer {
	return func() actor.Actor {
		r := &root{set: set, log: set.Log, entries: map[string]*rootEntry{}, byPID: map[string]string{}, respawns: map[string]*timer{}}
		r.strategy = supervision.OneForOne(set.BucketBudget, r, set.Now)
		return r
	}
}

// Receive implements actor.Actor.
func (r *root) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if m := r.set.Monitor; m.Pressure != nil {
			if _, err := ctx.SpawnNamed(actor.PropsFromProducer(newMonitor(m, r.log)), "resources"); err != nil {
				r.log.Error("spawning the resource monitor failed", "err", err)
			}
		}
	case addBucket:
		name := msg.b.Name()
		if _, exists := r.entries[name]; exists {
			ctx.Respond(bucketAdded{err: fmt.Errorf("actors: bucket %q is already supervised", name)})
			return
		}
		e := &rootEntry{b: msg.b, opts: msg.opts}
		r.entries[name] = e
		err := r.spawn(ctx, name, e)
		if err != nil {
			delete(r.entries, name)
		}
		ctx.Respond(bucketAdded{err: err})
	case removeBucket:
		e, ok := r.entries[msg.name]
		switch {
		case !ok:
			ctx.Respond(bucketRemoved{err: fmt.Errorf("actors: no bucket %q", msg.name)})
		case e.pid == nil: // waiting to be re-created: nothing runs
			r.respawns[msg.name].Stop()
			delete(r.respawns, msg.name)
			delete(r.entries, msg.name)
			ctx.Respond(bucketRemoved{})
		default:
			e.removing = append(e.removing, ctx.Sender())
			ctx.Stop(e.pid)
		}
	case respawnBucket:
		delete(r.respawns, msg.name)
		if e, ok := r.entries[msg.name]; ok && e.b == msg.b && e.pid == nil {
			if err := r.spawn(ctx, msg.name, e); err != nil {
				r.log.Error("re-creating bucket supervisor failed", "bucket", msg.name, "err", err)
			}
		}
	case *actor.Terminated:
		r.terminated(ctx, msg.Who)
	case *actor.Stopping:
		r.stopping = true
		for _, t := range r.respawns {
			t.Stop()
		}
	}
}

func (r *root) spawn(ctx actor.Context, name string, e *rootEntry) error {
	props := actor.PropsFromProducer(newBucketSupervisor(e.b, e.opts, r.set))
	pid, err := ctx.SpawnNamed(props, "bucket-"+name)
	if err != nil {
		return fmt.Errorf("actors: spawning supervisor for %q: %w", name, err)
	}
	e.pid, e.started = pid, r.set.Now()
	r.byPID[pid.Id] = name
	return nil
}

func (r *root) terminated(ctx actor.Context, who *actor.PID) {
	name, ok := r.byPID[who.Id]
	if !ok {
		return
	}
	delete(r.byPID, who.Id)
	e := r.entries[name]
	if e == nil || e.pid == nil || e.pid.Id != who.Id {
		return
	}
	e.pid = nil
	if len(e.removing) > 0 {
		for _, to := range e.removing {
			ctx.Send(to, bucketRemoved{})
		}
		delete(r.entries, name)
		return
	}
	if r.stopping {
		return
	}
	// Died unasked: re-create after a backoff.
	if r.set.Now().Sub(e.started) >= stableRun {
		e.respawns = 0
	}
	delay := min(r.set.RespawnBackoff<<min(e.respawns, 16), r.set.RespawnMax)
	e.respawns++
	r.log.Warn("bucket supervisor stopped; re-creating", "bucket", name, "after", delay.String())
	r.respawns[name] = sendAfter(ctx.ActorSystem(), delay, ctx.Self(), respawnBucket{name: name, b: e.b})
}

// HandleFailure implements actor.SupervisorStrategy for the bucket supervisors.
func (r *root) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	r.strategy.HandleFailure(sys, sup, child, rs, reason, msg)
}

// Restarted implements supervision.Observer.
func (r *root) Restarted(child *actor.PID, reason any) {
	r.log.Error("bucket supervisor panicked; restarted", "bucket", r.byPID[child.Id], "reason", fmt.Sprint(reason))
}

// Stopped implements supervision.Observer.
func (r *root) Stopped(child *actor.PID, reason any, budgetSpent bool) {
	r.log.Error("bucket supervisor stopped after failures", "bucket", r.byPID[child.Id], "reason", fmt.Sprint(reason), "budget_spent", budgetSpent)
}
