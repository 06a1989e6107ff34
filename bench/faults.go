package main

import (
	"fmt"
	"math"
)

// Origin fault injection for the resilience scenarios: the origin answers a
// fraction of requests with S3's 503 SlowDown, each request drawn
// independently. The draw is a pure function of a seed and the request's
// sequence number, so it needs no lock on the origin's hot path (the
// sequence number is the atomic request id it hands out anyway) and a seed
// reproduces the same set of failures.

// faults is the origin's failure mode. The zero value injects nothing.
type faults struct {
	seed uint64
	// threshold is rate scaled to 53 bits: draw n fails when the top 53
	// bits of its hash are below it. 0 never fails, 1<<53 always does.
	threshold uint64
}

// faultBits is the precision of a draw: a float64 rate is exact in it.
const faultBits = 53

// newFaults returns the failure mode answering rate (0 <= rate <= 1) of
// the requests with 503.
func newFaults(rate float64, seed uint64) (faults, error) {
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		return faults{}, fmt.Errorf("bench: fail rate %v: want 0 <= rate <= 1", rate)
	}
	return faults{seed: seed, threshold: uint64(math.Round(rate * (1 << faultBits)))}, nil
}

// active reports whether any request can fail.
func (f faults) active() bool { return f.threshold > 0 }

// fail reports whether request number n fails.
func (f faults) fail(n uint64) bool {
	return splitmix64(f.seed+n*0x9e3779b97f4a7c15)>>(64-faultBits) < f.threshold
}

// splitmix64 is the finalizer of Vigna's SplitMix64: a bijective mix whose
// outputs for consecutive inputs pass BigCrush, which is all a Bernoulli
// draw per request needs.
func splitmix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
