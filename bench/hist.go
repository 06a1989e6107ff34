package main

import (
	"math"
	"math/bits"
	"time"
)

// A log-linear latency histogram (the HdrHistogram layout with 64
// sub-buckets per power of two): every latency is recorded, in constant
// memory, with at most 1/64 (1.6 %) relative error, and histograms of
// several connections merge by adding counts.

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // sub-buckets per power of two
	// Values below 2*histSub are exact; above, each power of two from
	// 2^(histSubBits+1) to 2^63 has histSub buckets.
	histBuckets = histSub*(64-histSubBits) + histSub
)

// histogram counts durations in nanoseconds. Not safe for concurrent use:
// each load connection keeps its own and they are merged at the end.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max uint64 // ns, valid when n > 0
	sum      float64
}

// histIndex maps a value to its bucket.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	return histSub*shift + int(v>>shift)
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	shift := i/histSub - 1
	sub := uint64(i - histSub*shift)
	lo = sub << shift
	return lo, lo + (1 << shift) - 1
}

// record adds one duration; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// merge adds o's counts to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the q-quantile (0 < q <= 1): the middle of the bucket
// holding the ceil(q*n)-th smallest value, clamped to the observed range.
// Zero when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histBounds(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// mean returns the average duration; zero when empty.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
