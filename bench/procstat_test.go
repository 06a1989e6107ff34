package main

import (
	"errors"
	"os"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{
			name: "nginx",
			stat: "4242 (nginx) S 1 4242 4242 0 -1 4194560 1531 0 0 0 1234 567 0 0 20 0 1 0 98765 12345678 1024 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
			want: 1234 + 567,
		},
		{
			name: "comm with spaces and parentheses",
			stat: "77 (weird) name (x)) R 1 77 77 0 -1 4194304 10 0 0 0 5 7 0 0 20 0 4 0 100 0 0 18446744073709551615\n",
			want: 12,
		},
		{
			name: "large counters",
			stat: "1 (yatagarasu) S 0 1 1 0 -1 0 0 0 0 0 4294967296 1 0 0 20 0 8 0 1 0 0 0\n",
			want: 4294967297,
		},
		{name: "no comm", stat: "1 yatagarasu S 0", wantErr: true},
		{name: "truncated", stat: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 5", wantErr: true},
		{name: "non-numeric utime", stat: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 five 6 0 0 20 0 1 0 1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.stat))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseStatTicks = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatTicks = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    memStatus
		wantErr error
	}{
		{
			name:   "typical",
			status: "Name:\tnginx\nVmPeak:\t   12000 kB\nVmHWM:\t    9000 kB\nVmRSS:\t    8123 kB\nThreads:\t1\n",
			want:   memStatus{RSSKiB: 8123, HWMKiB: 9000},
		},
		{
			name:    "kernel thread has no Vm lines",
			status:  "Name:\tkthreadd\nState:\tS (sleeping)\n",
			wantErr: errProcFormat,
		},
		{
			name:    "unexpected unit",
			status:  "VmHWM:\t9 MB\nVmRSS:\t8 MB\n",
			wantErr: errProcFormat,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tt.status))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("parseStatus error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatus = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestProcSelf checks the parsers against this test process's own /proc
// files, so a kernel format change shows up here rather than as zeros in a
// benchmark report.
func TestProcSelf(t *testing.T) {
	tests := []struct {
		name  string
		check func(pid int) error
	}{
		{name: "stat", check: func(pid int) error { _, err := readCPUTicks(pid); return err }},
		{name: "status", check: func(pid int) error {
			m, err := readMem(pid)
			if err == nil && (m.RSSKiB == 0 || m.HWMKiB < m.RSSKiB) {
				err = errors.New("implausible memory figures")
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat("/proc/self/stat"); err != nil {
				t.Skip("no /proc")
			}
			if err := tt.check(os.Getpid()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    cpuTimes
		wantErr bool
	}{
		{
			name: "with guest fields",
			stat: "cpu  100 5 50 800 20 3 2 0 7 1\ncpu0 50 2 25 400 10 1 1 0 0 0\n",
			want: cpuTimes{busy: 100 + 5 + 50 + 3 + 2 + 0, total: 100 + 5 + 50 + 800 + 20 + 3 + 2 + 0},
		},
		{
			name: "old kernel, four fields",
			stat: "cpu 10 0 10 80\n",
			want: cpuTimes{busy: 20, total: 100},
		},
		{name: "per-cpu line first", stat: "cpu0 1 2 3 4\n", wantErr: true},
		{name: "garbage", stat: "cpu a b c d\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPULine([]byte(tt.stat))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseCPULine = %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseCPULine = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
