package resources

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime/metrics"
	"slices"
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

// DefaultMemoryLimit is the memory limit of the process's cgroup (the
// smallest on its path, v2 or v1) when there is one, else 80% of the
// machine's RAM.
func DefaultMemoryLimit() uint64 {
	if n, ok := cgroupMemoryLimit(os.DirFS("/")); ok {
		return n
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		return uint64(float64(si.Totalram) * float64(si.Unit) * 0.8)
	}
	return 1 << 30
}

// cgroupMemoryLimit returns the smallest memory limit set on the process's
// cgroup or any of its ancestors, reading /proc/self/cgroup and the cgroup
// file system under root: memory.max (v2) or memory.limit_in_bytes (v1).
// Under a systemd unit that is the unit's MemoryMax; in a container whose
// cgroup is mounted as the root, the file at the mount's root. "max" and
// v1's "unlimited" (a huge number) are no limit.
func cgroupMemoryLimit(root fs.FS) (uint64, bool) {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	var best uint64
	found := false
	consider := func(dir, file string) {
		for {
			if b, err := fs.ReadFile(root, path.Join(dir, file)); err == nil {
				v := strings.TrimSpace(string(b))
				if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 0 && n < 1<<60 && (!found || n < best) {
					best, found = n, true
				}
			}
			if dir == "sys/fs/cgroup" || dir == "sys/fs/cgroup/memory" {
				return
			}
			dir = path.Dir(dir)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		rel := strings.TrimSuffix(parts[2], "/")
		switch {
		case parts[0] == "0" && parts[1] == "":
			consider("sys/fs/cgroup"+rel, "memory.max")
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			consider("sys/fs/cgroup/memory"+rel, "memory.limit_in_bytes")
		}
	}
	return best, found
}
