// Package resources watches the process's file descriptors and memory against
// their limits and turns the worse of the two into a pressure Level that the
// request path reads with one atomic load: at Warning it is logged, at
// Critical per-request histograms and access-log lines stop (counters stay),
// at Exhausted new requests are refused with 503. Sampling reads
// /proc/self/fd, RLIMIT_NOFILE and runtime/metrics; judging is plain Go with
// no clock, driven by the monitor actor's tick.
package resources

import (
	"fmt"
	"sync/atomic"
)

// Level is a pressure level.
type Level int32

const (
	// Normal: below Warning's threshold.
	Normal Level = iota
	// Warning: at 80% of a limit; logged.
	Warning
	// Critical: at 90%; per-request histograms and access-log lines stop.
	Critical
	// Exhausted: at 95%; new requests get 503.
	Exhausted
)

// String returns "normal", "warning", "critical" or "exhausted".
func (l Level) String() string {
	switch l {
	case Normal:
		return "normal"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	case Exhausted:
		return "exhausted"
	}
	return fmt.Sprintf("Level(%d)", int32(l))
}

// Thresholds, as fractions of a limit.
const (
	WarningAt   = 0.80
	CriticalAt  = 0.90
	ExhaustedAt = 0.95
)

// LevelOf maps a used/limit ratio to a level. Leaving a level needs no
// hysteresis beyond the thresholds themselves: the rule is that below
// 80% everything resumes.
func LevelOf(used, limit float64) Level {
	if limit <= 0 {
		return Normal
	}
	switch r := used / limit; {
	case r >= ExhaustedAt:
		return Exhausted
	case r >= CriticalAt:
		return Critical
	case r >= WarningAt:
		return Warning
	}
	return Normal
}

// Sample is one reading.
type Sample struct {
	FDs, FDLimit     uint64
	Memory, MemLimit uint64
}

// Level is the worse of the two resources' levels.
func (s Sample) Level() Level {
	return max(LevelOf(float64(s.FDs), float64(s.FDLimit)), LevelOf(float64(s.Memory), float64(s.MemLimit)))
}

// Pressure is the level shared between the monitor (the only writer) and the
// request path. The zero Pressure is Normal. Safe for concurrent use.
type Pressure struct {
	level  atomic.Int32
	sample atomic.Pointer[Sample]
}

// Level returns the current level.
func (p *Pressure) Level() Level { return Level(p.level.Load()) }

// Set records a sample and its level; it returns the previous level.
func (p *Pressure) Set(s Sample) (previous Level) {
	p.sample.Store(&s)
	return Level(p.level.Swap(int32(s.Level())))
}

// Last returns the last sample (zero before the first).
func (p *Pressure) Last() Sample {
	if s := p.sample.Load(); s != nil {
		return *s
	}
	return Sample{}
}
