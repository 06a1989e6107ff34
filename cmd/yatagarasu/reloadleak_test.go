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
	var made, collected atomic.Int64
	var alive sync.Map       // label → true until collected
	seen := map[any]string{} // bucket → label
	reload := 0
	track := func() {
		for _, b := range p.buckets() {
			if seen[b] == "" {
				made.Add(1)
				label := fmt.Sprintf("%s@reload%d", b.Name(), reload)
				seen[b] = label
				alive.Store(label, true)
				runtime.AddCleanup(b, func(label string) { collected.Add(1); alive.Delete(label) }, label)
			}
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
	live := int64(len(p.buckets()))
	for _, b := range p.buckets() {
		alive.Delete(seen[b]) // not retired
	}
	clear(seen)            // the test's own references
	p.node.retiring.Wait() // every retired bucket drained and stopped
	deadline := time.Now().Add(10 * time.Second)
	for collected.Load() < made.Load()-live && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := collected.Load(), made.Load()-live; got < want {
		var left []string
		alive.Range(func(k, _ any) bool { left = append(left, k.(string)); return true })
		t.Errorf("%d of %d retired buckets were collected; still reachable: %v", got, want, left)
	}
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
	var made, collected atomic.Int64
	var alive sync.Map // label → true until collected
	seen := map[any]string{}
	const requests = 30
	for i := range requests {
		// Three names in turn through two places: every request evicts one.
		name := fmt.Sprintf("ytg-%d", i%3)
		if resp, body := do(t, "GET", p.url+"/"+name+"/k"); resp.StatusCode != 200 {
			t.Fatalf("GET /%s/k: %d %s", name, resp.StatusCode, body)
		}
		p.node.dyn.Each(func(b *buckets.Bucket) {
			if seen[b] == "" {
				made.Add(1)
				label := fmt.Sprintf("%s@request%d", b.Name(), i)
				seen[b] = label
				alive.Store(label, true)
				runtime.AddCleanup(b, func(label string) { collected.Add(1); alive.Delete(label) }, label)
			}
		})
	}
	var live int64
	p.node.dyn.Each(func(b *buckets.Bucket) { live++; alive.Delete(seen[b]) })
	clear(seen)
	p.node.retiring.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for collected.Load() < made.Load()-live && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := collected.Load(), made.Load()-live; got < want {
		var left []string
		alive.Range(func(k, _ any) bool { left = append(left, k.(string)); return true })
		t.Errorf("%d of %d evicted buckets were collected; still reachable: %v", got, want, left)
	}
}
