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
type removeBucket struct{ b *buckets.Bucket }

// bucketRemoved answers removeBucket.
type bucketRemoved struct{ err error }

// respawnBucket re-creates a bucket supervisor that died, after its backoff.
type respawnBucket struct{ b *buckets.Bucket }

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

// root is the top of the tree: one child per bucket. Buckets are known by
// identity, not name: during a reload a changed bucket's old and new
// instances both run until the old one has drained. It re-creates a bucket
// supervisor that stops unasked, after a backoff that doubles each time (up to
// Settings.RespawnMax). State is owned by the actor: no locks.
type root struct {
	set      Settings
	log      *slog.Logger
	strategy actor.SupervisorStrategy
	entries  map[*buckets.Bucket]*rootEntry
	byPID    map[string]*buckets.Bucket // child PID id → bucket
	stopping bool                       // the tree is shutting down: re-create nothing
	respawns map[*buckets.Bucket]*timer // pending re-creations
	seq      int                        // makes child names unique
}

func newRoot(set Settings) actor.Producer {
	return func() actor.Actor {
		r := &root{set: set, log: set.Log, entries: map[*buckets.Bucket]*rootEntry{}, byPID: map[string]*buckets.Bucket{}, respawns: map[*buckets.Bucket]*timer{}}
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
		if _, exists := r.entries[msg.b]; exists {
			ctx.Respond(bucketAdded{err: fmt.Errorf("actors: bucket %q is already supervised", msg.b.Name())})
			return
		}
		e := &rootEntry{b: msg.b, opts: msg.opts}
		r.entries[msg.b] = e
		err := r.spawn(ctx, e)
		if err != nil {
			delete(r.entries, msg.b)
		}
		ctx.Respond(bucketAdded{err: err})
	case removeBucket:
		e, ok := r.entries[msg.b]
		switch {
		case !ok:
			ctx.Respond(bucketRemoved{err: fmt.Errorf("actors: bucket %q is not supervised", msg.b.Name())})
		case e.pid == nil: // waiting to be re-created: nothing runs
			r.respawns[msg.b].Stop()
			delete(r.respawns, msg.b)
			delete(r.entries, msg.b)
			ctx.Respond(bucketRemoved{})
		default:
			e.removing = append(e.removing, ctx.Sender())
			ctx.Stop(e.pid)
		}
	case respawnBucket:
		delete(r.respawns, msg.b)
		if e, ok := r.entries[msg.b]; ok && e.pid == nil {
			if err := r.spawn(ctx, e); err != nil {
				r.log.Error("re-creating bucket supervisor failed", "bucket", msg.b.Name(), "err", err)
			}
		}
	case *actor.Terminated:
		dropStaleChildren(ctx)
		r.terminated(ctx, msg.Who)
	case *actor.Stopping:
		r.stopping = true
		for _, t := range r.respawns {
			t.Stop()
		}
	}
}

func (r *root) spawn(ctx actor.Context, e *rootEntry) error {
	props := actor.PropsFromProducer(newBucketSupervisor(e.b, e.opts, r.set))
	r.seq++
	pid, err := ctx.SpawnNamed(props, fmt.Sprintf("bucket-%s-%d", e.b.Name(), r.seq))
	if err != nil {
		return fmt.Errorf("actors: spawning supervisor for %q: %w", e.b.Name(), err)
	}
	e.pid, e.started = pid, r.set.Now()
	r.byPID[pid.Id] = e.b
	return nil
}

// dropStaleChildren clears the slots past the end of ctx's children list.
// protoactor's PIDSet.Remove shortens the list without clearing the slot it
// gives up, and a *actor.PID caches its process: a stopped child's PID left
// there keeps its whole actor reachable (a bucket supervisor, its children,
// its bucket with pool, metrics and window) until a later child takes the
// slot, which after a burst of reloads may be never. Call it from the actor's
// own Receive on *actor.Terminated: protoactor has removed the child by then,
// and the list is only touched on the actor's goroutine.
func dropStaleChildren(ctx actor.Context) {
	kids := ctx.Children() // the set's own slice, not a copy
	clear(kids[len(kids):cap(kids)])
}

func (r *root) terminated(ctx actor.Context, who *actor.PID) {
	b, ok := r.byPID[who.Id]
	if !ok {
		return
	}
	delete(r.byPID, who.Id)
	e := r.entries[b]
	if e == nil || e.pid == nil || e.pid.Id != who.Id {
		return
	}
	e.pid = nil
	if len(e.removing) > 0 {
		for _, to := range e.removing {
			ctx.Send(to, bucketRemoved{})
		}
		delete(r.entries, b)
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
	r.log.Warn("bucket supervisor stopped; re-creating", "bucket", b.Name(), "after", delay.String())
	r.respawns[b] = sendAfter(ctx.ActorSystem(), delay, ctx.Self(), respawnBucket{b: b})
}

// HandleFailure implements actor.SupervisorStrategy for the bucket supervisors.
func (r *root) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	r.strategy.HandleFailure(sys, sup, child, rs, reason, msg)
}

// Restarted implements supervision.Observer.
func (r *root) Restarted(child *actor.PID, reason any) {
	r.log.Error("bucket supervisor panicked; restarted", "bucket", r.nameOf(child), "reason", fmt.Sprint(reason))
}

// Stopped implements supervision.Observer.
func (r *root) Stopped(child *actor.PID, reason any, budgetSpent bool) {
	r.log.Error("bucket supervisor stopped after failures", "bucket", r.nameOf(child), "reason", fmt.Sprint(reason), "budget_spent", budgetSpent)
}

func (r *root) nameOf(child *actor.PID) string {
	if b := r.byPID[child.Id]; b != nil {
		return b.Name()
	}
	return child.Id
}
