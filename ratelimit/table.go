package ratelimit

import (
	"sync"
	"time"
)

// Key identifies a bucket in a Table: a client IP as 16 bytes (IPv4 in its
// IPv6-mapped form).
type Key [16]byte

const shards = 64

// Table holds one token bucket per key, all with the same rule, bounded to
// about max keys. An entry whose bucket is full again (its arrival time has
// passed) is idle: dropping it changes nothing, because a missing entry is a
// full bucket. A shard that reaches its share of max drops its idle entries;
// if none is idle (a flood of distinct keys, each inside its burst), it drops
// one arbitrary entry, which hands that key a fresh bucket — the price of a
// hard bound. Memory is about 56 bytes per key (measured by TestTableMemory). Safe for concurrent use.
type Table struct {
	p        params
	perShard int
	shards   [shards]tableShard
}

type tableShard struct {
	mu  sync.Mutex // guards the following field
	tat map[Key]int64
	_   [40]byte // keep shards on separate cache lines
}

// NewTable returns a table for rule holding about max keys.
func NewTable(rule Rule, max int) *Table {
	t := &Table{p: newParams(rule), perShard: (max + shards - 1) / shards}
	for i := range t.shards {
		t.shards[i].tat = make(map[Key]int64)
	}
	return t
}

// Allow admits one request for key at now, or returns how long until one
// would be.
func (t *Table) Allow(key Key, now time.Time) (ok bool, retryAfter time.Duration) {
	n := now.UnixNano()
	s := &t.shards[shardOf(key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, found := s.tat[key]
	next, wait, ok := t.p.admit(tat, n)
	if !ok {
		return false, wait
	}
	if !found && len(s.tat) >= t.perShard {
		s.evictLocked(n)
	}
	s.tat[key] = next
	return true, 0
}

// evictLocked drops idle entries, or one arbitrary entry if none is idle.
func (s *tableShard) evictLocked(now int64) {
	dropped := false
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
			dropped = true
		}
	}
	if !dropped {
		for k := range s.tat {
			delete(s.tat, k)
			break
		}
	}
}

// Len returns the number of keys held.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// shardOf mixes the key's last bytes (where IPv4 addresses differ) into a
// shard index.
func shardOf(k Key) int {
	h := uint32(2166136261)
	for _, b := range k[8:] {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % shards)
}
