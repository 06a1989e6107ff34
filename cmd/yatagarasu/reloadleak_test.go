package main

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"yatagarasu/buckets"
)

// TestReloadsLetGoOfOldBuckets: every bucket a reload replaced or removed is
// garbage once it has drained: nothing of a node (generations, the gateway's
// tables, rate-limit state, the actor tree, pools, metric sets) keeps it
// reachable, so a node reloaded all day does not grow. Reloads come faster
// than the drains, so several retired buckets are supervised at once (the
// actor tree's children list grows, then shrinks), and "extra" serves a
// request before it goes, so its pool's idle-connection cleaner (asleep for
// the default idle_timeout) outlives it.
func TestReloadsLetGoOfOldBuckets(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "ok") })
	base := faultBucket("main", o.addr, "idle_timeout = \"1s\"\n")
	p := startLive(t, base)
	tr := newCollectTracker()
	reload := 0
	track := func() {
		for _, b := range p.buckets() {
			tr.track(b, fmt.Sprintf("%s@reload%d", b.Name(), reload))
		}
	}
	track()
	const reloads = 150
	for i := range reloads {
		var toml string
		switch i % 3 {
		case 0: // a changed limit rebuilds "main"
			toml = faultBucket("main", o.addr, fmt.Sprintf("idle_timeout = \"1s\"\nmax_concurrent_requests = %d\n", 100+i))
		case 1: // a bucket added
			toml = base + faultBucket("extra", o.addr, "")
		case 2: // and removed again
			toml = base
		}
		if status, answer := p.reload(t, toml); status != 200 {
			t.Fatalf("reload %d: %d %v", i, status, answer)
		}
		do(t, "GET", p.url+"/main/k")
		if i%3 == 1 {
			do(t, "GET", p.url+"/extra/k")
		}
		reload = i + 1
		track()
	}
	for _, b := range p.buckets() {
		tr.keep(b) // not retired
	}
	p.node.retiring.Wait() // every retired bucket drained and stopped
	tr.check(t, "retired")
}

// TestEvictedDynamicBucketsAreCollected: a pass-through rule's real bucket
// evicted for a new one (max_dynamic_buckets) is garbage once it has
// drained, as a reloaded bucket is, though the routing table stays the same.
func TestEvictedDynamicBucketsAreCollected(t *testing.T) {
	o := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 200, "", "ok") })
	p := startLive(t, fmt.Sprintf(`
[[buckets]]
name = "any"
path_prefix = "/"
allowed_buckets = ["ytg-*"]
max_dynamic_buckets = 2
[buckets.s3]
bucket = "*"
endpoint = "http://%s"
force_path_style = true
access_key = "AK"
secret_key = "SK"
`, o.addr))
	tr := newCollectTracker()
	const requests = 30
	for i := range requests {
		// Three names in turn through two places: every request evicts one.
		name := fmt.Sprintf("ytg-%d", i%3)
		if resp, body := do(t, "GET", p.url+"/"+name+"/k"); resp.StatusCode != 200 {
			t.Fatalf("GET /%s/k: %d %s", name, resp.StatusCode, body)
		}
		p.node.dyn.Each(func(b *buckets.Bucket) { tr.track(b, fmt.Sprintf("%s@request%d", b.Name(), i)) })
	}
	p.node.dyn.Each(tr.keep)
	p.node.retiring.Wait()
	tr.check(t, "evicted")
}

// collectTracker watches buckets for collection by the GC: each tracked one
// gets a cleanup that marks it collected. Not safe for concurrent track and
// keep calls; the cleanups may run on any goroutine.
type collectTracker struct {
	made, collected atomic.Int64
	alive           sync.Map                   // label → true until collected
	seen            map[*buckets.Bucket]string // bucket → label, until check
	live            int64                      // kept: not expected to be collected
}

func newCollectTracker() *collectTracker {
	return &collectTracker{seen: map[*buckets.Bucket]string{}}
}

// track starts watching b under label, once per bucket.
func (c *collectTracker) track(b *buckets.Bucket, label string) {
	if c.seen[b] != "" {
		return
	}
	c.made.Add(1)
	c.seen[b] = label
	c.alive.Store(label, true)
	runtime.AddCleanup(b, func(label string) { c.collected.Add(1); c.alive.Delete(label) }, label)
}

// keep marks b as still in use: it is not expected to be collected.
func (c *collectTracker) keep(b *buckets.Bucket) {
	c.live++
	c.alive.Delete(c.seen[b])
}

// check drops the tracker's own references, then waits (GC by GC, up to 10
// s) until every tracked bucket not kept was collected, and fails t naming
// those still reachable; what says what they are ("retired", "evicted").
func (c *collectTracker) check(t *testing.T, what string) {
	t.Helper()
	clear(c.seen)
	want := c.made.Load() - c.live
	for deadline := time.Now().Add(10 * time.Second); c.collected.Load() < want && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got := c.collected.Load(); got < want {
		var left []string
		c.alive.Range(func(k, _ any) bool { left = append(left, k.(string)); return true })
		t.Errorf("%d of %d %s buckets were collected; still reachable: %v", got, want, what, left)
	}
}
