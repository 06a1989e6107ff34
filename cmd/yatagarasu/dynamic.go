package main

import (
	"fmt"
	"path"
	"sync"

	"yatagarasu/actors"
	"yatagarasu/auth"
	"yatagarasu/buckets"
	"yatagarasu/config"
	"yatagarasu/gateway"
)

// dynamicBuckets implements gateway.DynamicBuckets: the real buckets behind
// each pass-through rule, created on first use and bounded per rule. Safe for
// concurrent use.
type dynamicBuckets struct {
	n *node

	mu    sync.RWMutex // guards the following field
	rules map[*buckets.Bucket]*passRule
}

// passRule is one pass-through rule and its live real buckets.
type passRule struct {
	cfg  config.Bucket
	keys *auth.KeySet

	mu   sync.RWMutex // guards the following field
	live map[string]*buckets.Bucket
}

// add registers a rule (its template bucket routes "/").
func (d *dynamicBuckets) add(rule *buckets.Bucket, cfg config.Bucket, keys *auth.KeySet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rules == nil {
		d.rules = map[*buckets.Bucket]*passRule{}
	}
	if d.rules[rule] == nil {
		d.rules[rule] = &passRule{cfg: cfg, keys: keys, live: map[string]*buckets.Bucket{}}
	}
}

// remove forgets a rule and returns its real buckets, for the caller to retire.
func (d *dynamicBuckets) remove(rule *buckets.Bucket) []*buckets.Bucket {
	d.mu.Lock()
	pr := d.rules[rule]
	delete(d.rules, rule)
	d.mu.Unlock()
	if pr == nil {
		return nil
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var out []*buckets.Bucket
	for _, b := range pr.live {
		out = append(out, b)
	}
	return out
}

// Bucket implements gateway.DynamicBuckets.
func (d *dynamicBuckets) Bucket(rule *buckets.Bucket, name string) (*buckets.Bucket, error) {
	d.mu.RLock()
	pr := d.rules[rule]
	d.mu.RUnlock()
	if pr == nil {
		return nil, gateway.ErrBucketNotAllowed
	}
	pr.mu.RLock()
	b := pr.live[name]
	pr.mu.RUnlock()
	if b != nil {
		return b, nil
	}
	if !pr.allows(name) {
		return nil, gateway.ErrBucketNotAllowed
	}
	return d.create(pr, name)
}

// allows reports whether a real bucket name matches the rule's globs.
func (pr *passRule) allows(name string) bool {
	if config.BucketNameProblem(name) != "" {
		return false
	}
	for _, glob := range pr.cfg.AllowedBuckets {
		if ok, _ := path.Match(glob, name); ok {
			return true
		}
	}
	return false
}

// create builds, supervises and publishes the real bucket name, evicting the
// least recently used idle one when the rule is at max_dynamic_buckets. It
// runs under the rule's lock: a first use is rare, and lookups of existing
// buckets wait for it only a few milliseconds.
func (d *dynamicBuckets) create(pr *passRule, name string) (*buckets.Bucket, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if b := pr.live[name]; b != nil {
		return b, nil // created while we waited for the lock
	}
	if len(pr.live) >= pr.cfg.MaxDynamicBuckets {
		var lru *buckets.Bucket
		for _, b := range pr.live {
			if b.InFlight() == 0 && (lru == nil || b.LastUse() < lru.LastUse()) {
				lru = b
			}
		}
		if lru == nil {
			return nil, fmt.Errorf("%w: all %d buckets of the pass-through rule are busy", gateway.ErrTooManyInFlight, len(pr.live))
		}
		delete(pr.live, lru.Name())
		d.n.retire(lru, d.n.current().cfg.Server.ShutdownTimeout.Duration)
	}
	cfg := pr.cfg
	cfg.Name, cfg.S3.Bucket, cfg.PathPrefix = name, name, "/"+name
	b, err := buckets.New(cfg, buckets.Options{Credentials: d.n.opts.credentials[pr.cfg.Name], Dial: d.n.opts.dial})
	if err != nil {
		return nil, err
	}
	if err := d.n.sys.Add(b, actors.BucketOptions{Keys: pr.keys}); err != nil {
		b.Close()
		return nil, err
	}
	waitStarted(b)
	pr.live[name] = b
	return b, nil
}

// Each implements gateway.DynamicBuckets.
func (d *dynamicBuckets) Each(f func(*buckets.Bucket)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, pr := range d.rules {
		pr.mu.RLock()
		for _, b := range pr.live {
			f(b)
		}
		pr.mu.RUnlock()
	}
}

// count returns the live real buckets of a rule.
func (d *dynamicBuckets) count(rule *buckets.Bucket) int {
	d.mu.RLock()
	pr := d.rules[rule]
	d.mu.RUnlock()
	if pr == nil {
		return 0
	}
	pr.mu.RLock()
	defer pr.mu.RUnlock()
	return len(pr.live)
}
