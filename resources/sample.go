package resources

import (
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
)

// Sampler reads the process's usage. Not safe for concurrent use: it reuses
// its buffers (the monitor actor owns it).
type Sampler struct {
	memLimit uint64
	metric   []metrics.Sample
}

// NewSampler returns a sampler judging memory against memLimit bytes.
func NewSampler(memLimit uint64) *Sampler {
	return &Sampler{
		memLimit: memLimit,
		// All memory mapped by the Go runtime, heap and otherwise (what the
		// soft memory limit is about), minus what it has returned to the OS.
		metric: []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}},
	}
}

// Read takes a sample.
func (s *Sampler) Read() (Sample, error) {
	fds, err := countFDs()
	if err != nil {
		return Sample{}, err
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return Sample{}, fmt.Errorf("resources: getrlimit: %w", err)
	}
	metrics.Read(s.metric)
	var mem uint64
	if s.metric[0].Value.Kind() == metrics.KindUint64 && s.metric[1].Value.Kind() == metrics.KindUint64 {
		mem = s.metric[0].Value.Uint64() - s.metric[1].Value.Uint64()
	}
	return Sample{FDs: fds, FDLimit: rl.Cur, Memory: mem, MemLimit: s.memLimit}, nil
}

// countFDs counts the entries of /proc/self/fd.
func countFDs() (uint64, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("resources: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("resources: %w", err)
	}
	return uint64(len(names)) - 1, nil // the directory's own descriptor
}

// DefaultMemoryLimit is the cgroup's memory limit when there is one, else
// 80% of the machine's RAM.
func DefaultMemoryLimit() uint64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			v := strings.TrimSpace(string(b))
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 0 && n < 1<<60 {
				return n
			}
		}
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		return uint64(float64(si.Totalram) * float64(si.Unit) * 0.8)
	}
	return 1 << 30
}
