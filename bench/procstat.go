package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Per-process measurements from /proc: CPU time from /proc/<pid>/stat and
// resident memory from /proc/<pid>/status, plus a sampler that tracks the
// peak RSS while a load runs.

var errProcFormat = errors.New("unexpected /proc format")

// clockTicks returns the kernel's clock ticks per second (getconf CLK_TCK),
// the unit of utime and stime in /proc/<pid>/stat. 100 when getconf fails,
// which is what Linux uses on every common architecture.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 {
		return 100
	}
	return float64(n)
}

// parseStatTicks extracts utime+stime (fields 14 and 15, in clock ticks)
// from the contents of /proc/<pid>/stat. These are totals over all of the
// process's threads. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatTicks(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("bench: stat: no ')': %w", errProcFormat)
	}
	// After ") " come fields 3 (state), 4, ... so field k is rest[k-3].
	rest := strings.Fields(string(stat[end+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("bench: stat: %d fields after comm: %w", len(rest), errProcFormat)
	}
	utime, err := strconv.ParseUint(rest[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: stat utime: %w", err)
	}
	stime, err := strconv.ParseUint(rest[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: stat stime: %w", err)
	}
	return utime + stime, nil
}

// readCPUTicks reads utime+stime of pid in clock ticks.
func readCPUTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: read stat: %w", err)
	}
	return parseStatTicks(b)
}

// memStatus is the memory of a process in KiB, from /proc/<pid>/status.
type memStatus struct {
	RSSKiB uint64 // VmRSS: resident now
	HWMKiB uint64 // VmHWM: peak resident since the process started
}

// parseStatus extracts VmRSS and VmHWM ("VmRSS:	  1234 kB") from the
// contents of /proc/<pid>/status.
func parseStatus(status []byte) (memStatus, error) {
	var m memStatus
	var seen int
	for line := range bytes.Lines(status) {
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.RSSKiB
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.HWMKiB
		default:
			continue
		}
		f := strings.Fields(string(line[6:]))
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("bench: status line %q: %w", bytes.TrimSpace(line), errProcFormat)
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("bench: status line %q: %w", bytes.TrimSpace(line), err)
		}
		*dst = v
		seen++
	}
	if seen != 2 {
		return m, fmt.Errorf("bench: status: VmRSS or VmHWM missing: %w", errProcFormat)
	}
	return m, nil
}

// readMem reads the memory status of pid.
func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("bench: read status: %w", err)
	}
	return parseStatus(b)
}

// countFDs counts the open descriptors of pid (/proc/<pid>/fd).
func countFDs(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: open descriptors: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("bench: open descriptors: %w", err)
	}
	return len(names), nil
}

// rssSampler polls VmRSS of one process and keeps the maximum.
type rssSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  uint64 // KiB; written by the sampling goroutine only until stop
}

// sampleRSS starts polling pid's VmRSS every interval until stop.
func sampleRSS(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := readMem(pid); err == nil {
				s.peak = max(s.peak, m.RSSKiB)
			}
			select {
			case <-s.stopc:
				if m, err := readMem(pid); err == nil {
					s.peak = max(s.peak, m.RSSKiB)
				}
				return
			case <-t.C:
			}
		}
	})
	return s
}

// stop ends the sampling, takes one last sample and returns the peak in KiB.
func (s *rssSampler) stop() uint64 {
	close(s.stopc)
	s.wg.Wait()
	return s.peak
}

// cpuTimes are the machine-wide counters of the "cpu" line of /proc/stat,
// in clock ticks.
type cpuTimes struct{ busy, total uint64 }

// parseCPULine parses the aggregate "cpu  user nice system idle iowait irq
// softirq steal ..." line at the top of /proc/stat. Idle and iowait count
// as idle; everything else as busy.
func parseCPULine(stat []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("bench: /proc/stat cpu line %q: %w", line, errProcFormat)
	}
	var t cpuTimes
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("bench: /proc/stat cpu line %q: %w", line, errProcFormat)
		}
		// Guest time (fields 9 and 10) is already included in user and nice.
		if i >= 8 {
			break
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t, nil
}

// machineBusy returns the fraction of all CPUs that was busy over window,
// before the harness starts anything: other work on the machine skews every
// figure, so the report states it.
func machineBusy(window time.Duration) (float64, error) {
	read := func() (cpuTimes, error) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return cpuTimes{}, fmt.Errorf("bench: read /proc/stat: %w", err)
		}
		return parseCPULine(b)
	}
	a, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	b, err := read()
	if err != nil {
		return 0, err
	}
	if b.total <= a.total {
		return 0, nil
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total), nil
}
