package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/aws/aws-sdk-go-v2/aws"

	"yatagarasu/buckets"
)

// credentialTimeout bounds one credential retrieval (IMDS, STS, SSO…).
const credentialTimeout = 10 * time.Second

// refreshCredentials asks the refresher to retrieve credentials now.
type refreshCredentials struct{}

// credentialRefresher is a bucket supervisor's child: it retrieves the
// bucket's credentials at start, again shortly before they expire, and with
// backoff after a failure, and reports each result to its parent. A failed
// retrieval is never cached (the next one asks the provider again). State is
// owned by the actor: no locks.
type credentialRefresher struct {
	b        *buckets.Bucket
	now      func() time.Time
	failures int // failed retrievals in a row
	timer    *timer
}

func newCredentialRefresher(b *buckets.Bucket, now func() time.Time) actor.Producer {
	return func() actor.Actor { return &credentialRefresher{b: b, now: now} }
}

// Receive implements actor.Actor.
func (r *credentialRefresher) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(ctx.Self(), refreshCredentials{})
	case refreshCredentials:
		r.refresh(ctx)
	case *actor.Restarting, *actor.Stopping:
		r.cancel()
	}
}

func (r *credentialRefresher) refresh(ctx actor.Context) {
	r.cancel()
	rctx, cancel := context.WithTimeout(context.Background(), credentialTimeout)
	creds, err := r.b.RefreshCredentials(rctx)
	cancel()
	var pe *buckets.PanicError
	if errors.As(err, &pe) {
		// The provider panicked in the SDK's goroutine, where it was caught;
		// raise it here so this actor's supervisor restarts us.
		panic(pe.Value)
	}
	if err != nil {
		r.failures++
	} else {
		r.failures = 0
	}
	ctx.Send(ctx.Parent(), credentialsResult{creds: creds, err: err})
	if next := buckets.NextCredentialRefresh(r.now(), creds, err, r.failures); next > 0 {
		r.timer = sendAfter(ctx.ActorSystem(), next, ctx.Self(), refreshCredentials{})
	}
}

func (r *credentialRefresher) cancel() {
	r.timer.Stop()
	r.timer = nil
}

// credentialsResult is a retrieval's outcome, sent to the bucket supervisor.
type credentialsResult struct {
	creds aws.Credentials
	err   error
}
