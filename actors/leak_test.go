package actors

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"yatagarasu/buckets"
	"yatagarasu/config"
)

// TestRemovedBucketsAreCollected: a bucket added and then removed (what every
// reload does to a changed bucket) leaves nothing of itself reachable from
// the tree: its supervisor, children, timers and futures all let go of it.
// Every one, whether it was removed while others were still running (a burst
// of reloads) or last: protoactor leaves a removed child's PID, which caches
// the stopped actor, past the end of the root's children list, where nothing
// may ever overwrite it (see dropStaleChildren).
func TestRemovedBucketsAreCollected(t *testing.T) {
	o := startOrigin(t, 200)
	sys, _ := startSystem(t, Settings{})
	var collected atomic.Int64
	made := 0
	add := func() *buckets.Bucket {
		t.Helper()
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
[[buckets]]
name = "b%d"
path_prefix = "/b%d"
[buckets.s3]
bucket = "b"
endpoint = "http://%s"
force_path_style = true
access_key = "AK"
secret_key = "SK"
`, made, made, o.addr)), "leak.toml")
		if err != nil {
			t.Fatal(err)
		}
		b, err := buckets.New(cfg.Buckets[0], buckets.Options{})
		if err != nil {
			t.Fatal(err)
		}
		made++
		runtime.AddCleanup(b, func(*atomic.Int64) { collected.Add(1) }, &collected)
		if err := sys.Add(b, BucketOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ready", func() bool { return b.Snapshot().State == buckets.Ready })
		if _, err := fetch(t, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	remove := func(b *buckets.Bucket) {
		t.Helper()
		if err := sys.Remove(b); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	// A burst: eight supervised at once, then removed, grows the root's
	// children list to eight; one at a time afterwards reuses only its first
	// slot.
	var burst []*buckets.Bucket
	for range 8 {
		burst = append(burst, add())
	}
	for _, b := range burst {
		remove(b)
	}
	burst = nil
	for range 20 {
		remove(add())
	}
	// Remove has returned for each: only the cleanups are left to run.
	deadline := time.Now().Add(10 * time.Second)
	for collected.Load() < int64(made) && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got := collected.Load(); got < int64(made) {
		t.Errorf("%d of %d removed buckets were collected", got, made)
	}
}
