package actors

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/aws/aws-sdk-go-v2/aws"

	"yatagarasu/buckets"
	"yatagarasu/supervision"
)

// Child names under a bucket supervisor; they are the `child` metrics label.
const (
	childCredentials = "credentials"
	childJWKS        = "jwks"
)

// tick asks the bucket supervisor to sample its bucket.
type tick struct{}

// upstreamFailed is the hot path's edge event: an attempt failed and the
// supervisor should re-assess now rather than at its next tick.
type upstreamFailed struct{}

// breakerTrip: the closed breaker of generation gen saw its threshold of
// consecutive failures.
type breakerTrip struct{ gen uint64 }

// probeResult: a half-open probe of generation gen finished.
type probeResult struct {
	gen    uint64
	failed bool
}

// retrySlot asks whether failed attempt n may be retried; the supervisor
// answers retryGrant.
type retrySlot struct {
	n          int
	retryAfter time.Duration
}

// retryGrant answers retrySlot.
type retryGrant struct {
	delay time.Duration
	ok    bool
}

// bucketSupervisor owns one bucket: its state decisions, its published
// Snapshot and its children. Every field is owned by the actor (one message at
// a time): no locks.
type bucketSupervisor struct {
	b    *buckets.Bucket
	opts BucketOptions
	set  Settings
	log  *slog.Logger

	strategy actor.SupervisorStrategy
	restarts map[string]*metrics.Counter // actor_restarts_total by child

	window    *buckets.Window
	last      buckets.Totals // the bucket's outcomes at the last tick
	breaker   *buckets.Breaker
	budget    *buckets.RetryBudget
	policy    buckets.RetryPolicy
	lastReqs  uint64 // requests started at the last tick
	rand      *rand.Rand
	creds     aws.Credentials
	credErr   error
	credSeen  bool   // a retrieval has reported at least once
	gaveUp    string // set when a child's restart budget is spent
	published *buckets.Snapshot
	ticker    *timer
}

func newBucketSupervisor(b *buckets.Bucket, opts BucketOptions, set Settings) actor.Producer {
	return func() actor.Actor {
		s := &bucketSupervisor{
			b:        b,
			opts:     opts,
			set:      set,
			log:      set.Log.With("bucket", b.Name()),
			restarts: map[string]*metrics.Counter{},
			window:   buckets.NewWindow(int(buckets.WindowLength / set.Tick)),
			breaker:  buckets.NewBreaker(b.BreakerSettings()),
			rand:     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
		}
		policy, percent, floor := b.RetrySettings()
		s.policy = policy
		s.budget = buckets.NewRetryBudget(percent, floor, int(buckets.WindowLength/set.Tick), set.Tick)
		s.strategy = supervision.OneForOne(set.ChildBudget, s, set.Now)
		return s
	}
}

// Receive implements actor.Actor.
func (s *bucketSupervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.last = s.b.Outcomes()
		s.lastReqs = s.b.RequestsStarted()
		s.b.BreakerChanged()
		s.b.SetEvents(edgeSender{sys: ctx.ActorSystem(), pid: ctx.Self()})
		s.b.ArmEdge()
		s.spawnChildren(ctx)
		s.ticker = sendEvery(ctx.ActorSystem(), s.set.Tick, ctx.Self(), tick{})
		s.publish()
	case tick:
		totals := s.b.Outcomes()
		s.window.Push(totals.Sub(s.last))
		s.last = totals
		reqs := s.b.RequestsStarted()
		s.budget.Tick(reqs - s.lastReqs)
		s.lastReqs = reqs
		now := s.set.Now()
		before, gen := s.breaker.State(now)
		if s.b.BreakerEnabled() {
			s.breaker.OnWindow(now, s.window.SumLast(int(s.b.BreakerWindow()/s.set.Tick)))
		}
		s.breakerMoved(before, gen, now)
		s.b.ArmEdge()
		s.publish()
	case upstreamFailed:
		s.publish()
	case breakerTrip:
		now := s.set.Now()
		before, gen := s.breaker.State(now)
		s.breaker.Trip(now, msg.gen)
		s.breakerMoved(before, gen, now)
		s.publish()
	case probeResult:
		now := s.set.Now()
		before, gen := s.breaker.State(now)
		s.breaker.OnResult(now, msg.gen, msg.failed)
		s.breakerMoved(before, gen, now)
		s.publish()
	case retrySlot:
		ok := s.budget.Allow(s.b.RequestsStarted() - s.lastReqs)
		ctx.Respond(retryGrant{delay: s.policy.Delay(msg.n, s.rand.Float64(), msg.retryAfter), ok: ok})
	case keysResult:
		if msg.err != nil {
			s.log.Warn("jwks fetch failed; keeping the last good key set", "err", msg.err)
		}
		s.publish()
	case credentialsResult:
		s.credSeen = true
		s.credErr = msg.err
		if msg.err == nil {
			s.creds = msg.creds
		}
		s.publish()
	case *actor.Terminated:
		if s.gaveUp != "" {
			// A child spent its restart budget: this bucket cannot work as
			// configured. Stop; the root re-creates us after a backoff.
			s.publish()
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		s.ticker.Stop()
		s.b.SetEvents(nil)
		if s.gaveUp == "" {
			s.gaveUp = "bucket supervisor stopped"
		}
		s.publish()
	}
}

func (s *bucketSupervisor) spawnChildren(ctx actor.Context) {
	props := actor.PropsFromProducer(newCredentialRefresher(s.b, s.set.Now))
	if _, err := ctx.SpawnNamed(props, childCredentials); err != nil {
		s.log.Error("spawning child failed", "child", childCredentials, "err", err)
	}
	if k := s.opts.Keys; k != nil && k.HasJWKS() {
		props := actor.PropsFromProducer(newJWKSFetcher(k, s.set.Now))
		if _, err := ctx.SpawnNamed(props, childJWKS); err != nil {
			s.log.Error("spawning child failed", "child", childJWKS, "err", err)
		}
	}
}

// publish decides the bucket's state and publishes it when it changed.
func (s *bucketSupervisor) publish() {
	now := s.set.Now()
	recent := s.window.Sum()
	pending := s.b.Outcomes().Sub(s.last)
	recent.Attempts += pending.Attempts
	recent.Failures += pending.Failures

	have := buckets.Usable(s.creds, now)
	status := buckets.CredentialStatus{Have: have, Err: s.credErr}
	if !s.credSeen {
		status.Err = nil
	}
	state, reason := buckets.Assess(status, recent)
	if k := s.opts.Keys; k != nil && state != buckets.NotReady {
		if ok, why := k.Ready(); !ok {
			state, reason = buckets.NotReady, why
		}
	}
	if s.gaveUp != "" {
		state, reason = buckets.NotReady, s.gaveUp
	}
	bstate, bgen := s.breaker.State(now)
	view := buckets.BreakerView{State: bstate, Generation: bgen, OpenUntil: s.breaker.Expiry()}
	if bstate == buckets.BreakerOpen && state != buckets.NotReady {
		state, reason = buckets.Degraded, "circuit breaker open until "+view.OpenUntil.UTC().Format(time.RFC3339)
	}
	next := &buckets.Snapshot{State: state, Reason: reason, Credentials: s.creds, HasCredentials: have, Recent: recent, Breaker: view, At: now}
	if p := s.published; p != nil && p.State == next.State && p.Reason == next.Reason &&
		p.HasCredentials == next.HasCredentials && p.Credentials == next.Credentials && p.Recent == next.Recent && p.Breaker == next.Breaker {
		return
	}
	if p := s.published; p == nil || p.State != next.State {
		s.log.Info("bucket state", "state", state.String(), "reason", reason)
	}
	s.published = next
	s.b.Publish(next)
}

// breakerMoved resets the hot path's breaker counters, counts and logs when
// the breaker changed generation since (before, gen).
func (s *bucketSupervisor) breakerMoved(before buckets.BreakerState, gen uint64, now time.Time) {
	after, cur := s.breaker.State(now)
	if cur == gen {
		return
	}
	s.b.BreakerChanged()
	if after == buckets.BreakerOpen {
		s.b.Metrics().BreakerOpened.Inc()
	}
	s.log.Warn("circuit breaker", "from", before.String(), "to", after.String())
}

// HandleFailure implements actor.SupervisorStrategy for this actor's children
// (protoactor asks the parent actor first), delegating to a OneForOne strategy
// whose Observer is this actor.
func (s *bucketSupervisor) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, msg any) {
	s.strategy.HandleFailure(sys, sup, child, rs, reason, msg)
}

// Restarted implements supervision.Observer.
func (s *bucketSupervisor) Restarted(child *actor.PID, reason any) {
	name := childName(child)
	s.restartCounter(name).Inc()
	s.log.Warn("child restarted", "child", name, "reason", fmt.Sprint(reason))
}

// Stopped implements supervision.Observer.
func (s *bucketSupervisor) Stopped(child *actor.PID, reason any, budgetSpent bool) {
	name := childName(child)
	s.gaveUp = fmt.Sprintf("%s failed: %v", name, reason)
	if budgetSpent {
		s.gaveUp = fmt.Sprintf("%s exceeded its restart budget (%d in %v): %v", name, s.set.ChildBudget.Max, s.set.ChildBudget.Within, reason)
	}
	s.log.Error("child stopped", "child", name, "reason", fmt.Sprint(reason), "budget_spent", budgetSpent)
}

func (s *bucketSupervisor) restartCounter(child string) *metrics.Counter {
	c := s.restarts[child]
	if c == nil {
		c = s.b.Metrics().Set().GetOrCreateCounter(`actor_restarts_total{bucket=` + strconv.Quote(s.b.Name()) + `,child=` + strconv.Quote(child) + `}`)
		s.restarts[child] = c
	}
	return c
}

// childName is the last element of a child's PID ("…/credentials").
func childName(pid *actor.PID) string {
	id := pid.GetId()
	return id[strings.LastIndexByte(id, '/')+1:]
}

// edgeSender implements buckets.Events with one Send per edge.
type edgeSender struct {
	sys *actor.ActorSystem
	pid *actor.PID
}

func (e edgeSender) UpstreamFailed(*buckets.Bucket) { e.sys.Root.Send(e.pid, upstreamFailed{}) }

func (e edgeSender) BreakerTrip(_ *buckets.Bucket, gen uint64) {
	e.sys.Root.Send(e.pid, breakerTrip{gen: gen})
}

func (e edgeSender) ProbeResult(_ *buckets.Bucket, gen uint64, failed bool) {
	e.sys.Root.Send(e.pid, probeResult{gen: gen, failed: failed})
}

// retrySlotTimeout bounds the wait for the supervisor's answer; no answer
// means no retry (a supervisor that is restarting keeps no budget).
const retrySlotTimeout = 200 * time.Millisecond

// RetrySlot asks the supervisor, synchronously: this is the failure path.
func (e edgeSender) RetrySlot(_ *buckets.Bucket, n int, retryAfter time.Duration) (time.Duration, bool) {
	res, err := e.sys.Root.RequestFuture(e.pid, retrySlot{n: n, retryAfter: retryAfter}, retrySlotTimeout).Result()
	if err != nil {
		return 0, false
	}
	g, ok := res.(retryGrant)
	return g.delay, ok && g.ok
}
