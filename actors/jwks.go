package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"yatagarasu/auth"
)

// jwksTimeout bounds one key set fetch.
const jwksTimeout = 10 * time.Second

// refreshKeys asks the fetcher to fetch the key set (a schedule tick, or a
// token with an unknown kid).
type refreshKeys struct{}

// keysResult is a fetch's outcome, sent to the bucket supervisor.
type keysResult struct{ err error }

// jwksFetcher is a bucket supervisor's child for buckets whose auth uses a
// jwks_url: it fetches the key set at start, every jwks_refresh, and when a
// token names an unknown kid (the KeySet rate-limits that to one fetch per
// jwks_min_refresh, across every bucket sharing the set). Before the first
// good fetch it retries with backoff (1s, 2s … up to jwks_min_refresh); a
// failed fetch keeps the last good set. State is owned by the actor.
type jwksFetcher struct {
	keys        *auth.KeySet
	now         func() time.Time
	failures    int
	timer       *timer
	unsubscribe func()
}

func newJWKSFetcher(keys *auth.KeySet, now func() time.Time) actor.Producer {
	return func() actor.Actor { return &jwksFetcher{keys: keys, now: now} }
}

// Receive implements actor.Actor.
func (f *jwksFetcher) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		sys, self := ctx.ActorSystem(), ctx.Self()
		f.unsubscribe = f.keys.Subscribe(func() { sys.Root.Send(self, refreshKeys{}) })
		ctx.Send(ctx.Self(), refreshKeys{})
	case refreshKeys:
		f.fetch(ctx)
	case *actor.Restarting, *actor.Stopping:
		f.timer.Stop()
		if f.unsubscribe != nil {
			f.unsubscribe()
		}
	}
}

func (f *jwksFetcher) fetch(ctx actor.Context) {
	f.timer.Stop()
	rctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	_, err := f.keys.Refresh(rctx, f.now())
	cancel()
	next := f.keys.RefreshInterval()
	if err != nil {
		f.failures++
		if loaded, _ := f.keys.Ready(); !loaded {
			next = min(time.Second<<min(f.failures-1, 10), f.keys.MinRefreshInterval())
		} else {
			next = f.keys.MinRefreshInterval()
		}
	} else {
		f.failures = 0
	}
	ctx.Send(ctx.Parent(), keysResult{err: err})
	f.timer = sendAfter(ctx.ActorSystem(), next, ctx.Self(), refreshKeys{})
}
