package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"yatagarasu/auth"
	"yatagarasu/buckets"
	"yatagarasu/supervision"
)

// Settings configure the supervision tree. The zero value of a field takes the
// default named beside it.
type Settings struct {
	// Tick is how often a bucket supervisor samples its bucket. Default 100ms.
	Tick time.Duration
	// ChildBudget limits restarts of a bucket's children; past it the bucket
	// is not ready and its supervisor is re-created. Default 5 in 1 minute.
	ChildBudget supervision.Budget
	// BucketBudget limits restarts of a bucket supervisor that panics.
	// Default 5 in 1 minute.
	BucketBudget supervision.Budget
	// RespawnBackoff is the first delay before re-creating a bucket supervisor
	// that stopped; it doubles up to RespawnMax. Defaults 1s and 30s.
	RespawnBackoff, RespawnMax time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Log receives lifecycle events. Default slog.Default().
	Log *slog.Logger
	// Monitor, when its Pressure is set, runs the resource monitor under the
	// root.
	Monitor MonitorSettings
}

func (s Settings) withDefaults() Settings {
	if s.Tick <= 0 {
		s.Tick = 100 * time.Millisecond
	}
	if s.ChildBudget == (supervision.Budget{}) {
		s.ChildBudget = supervision.Budget{Max: 5, Within: time.Minute}
	}
	if s.BucketBudget == (supervision.Budget{}) {
		s.BucketBudget = supervision.Budget{Max: 5, Within: time.Minute}
	}
	if s.RespawnBackoff <= 0 {
		s.RespawnBackoff = time.Second
	}
	if s.RespawnMax <= 0 {
		s.RespawnMax = 30 * time.Second
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	return s
}

// askTimeout bounds the rare synchronous asks (add, remove) to the root.
const askTimeout = 10 * time.Second

// System is a running supervision tree. Its methods are safe for concurrent
// use; they are for start, reload and shutdown, not the request path.
type System struct {
	as   *actor.ActorSystem
	root *actor.PID
}

// Start creates the actor system and its root.
func Start(set Settings) *System {
	set = set.withDefaults()
	logger := slog.New(levelFloor{Handler: set.Log.Handler(), min: slog.LevelWarn}).With("component", "protoactor")
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	root, err := as.Root.SpawnNamed(actor.PropsFromProducer(newRoot(set)), "root")
	if err != nil {
		panic(fmt.Sprintf("actors: spawning the root: %v", err)) // a fresh system has no "root" yet
	}
	return &System{as: as, root: root}
}

// BucketOptions are what a bucket supervisor owns besides the bucket.
type BucketOptions struct {
	// Keys is the bucket's JWT key set, nil for a public bucket. With a
	// jwks_url the supervisor runs a fetcher child and the bucket is not ready
	// until the first good fetch.
	Keys *auth.KeySet
}

// Add starts a supervisor for b. The bucket is not ready until the supervisor
// publishes its first Snapshot (after the first credential retrieval).
func (s *System) Add(b *buckets.Bucket, opts BucketOptions) error {
	res, err := s.as.Root.RequestFuture(s.root, addBucket{b: b, opts: opts}, askTimeout).Result()
	if err != nil {
		return fmt.Errorf("actors: adding bucket %q: %w", b.Name(), err)
	}
	return res.(bucketAdded).err
}

// Remove stops b's supervisor and its children, and returns once they have
// stopped.
func (s *System) Remove(b *buckets.Bucket) error {
	res, err := s.as.Root.RequestFuture(s.root, removeBucket{b: b}, askTimeout).Result()
	if err != nil {
		return fmt.Errorf("actors: removing bucket %q: %w", b.Name(), err)
	}
	return res.(bucketRemoved).err
}

// Stop stops the whole tree and waits for it. Buckets are left NotReady.
func (s *System) Stop() error {
	err := s.as.Root.PoisonFuture(s.root).Wait()
	s.as.Shutdown()
	if err != nil && !errors.Is(err, actor.ErrTimeout) {
		return fmt.Errorf("actors: stopping: %w", err)
	}
	return err
}
