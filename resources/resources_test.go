package resources

import (
	"os"
	"testing"
	"testing/fstest"
)

func TestLevelOf(t *testing.T) {
	cases := []struct {
		name        string
		used, limit float64
		want        Level
	}{
		{"idle", 10, 100, Normal},
		{"just under warning", 79.99, 100, Normal},
		{"warning", 80, 100, Warning},
		{"critical", 90, 100, Critical},
		{"just under exhausted", 94.9, 100, Critical},
		{"exhausted", 95, 100, Exhausted},
		{"over", 150, 100, Exhausted},
		{"no limit", 1e12, 0, Normal},
	}
	for _, tc := range cases {
		if got := LevelOf(tc.used, tc.limit); got != tc.want {
			t.Errorf("%s: LevelOf(%v, %v) = %v, want %v", tc.name, tc.used, tc.limit, got, tc.want)
		}
	}
}

func TestSampleLevelIsTheWorse(t *testing.T) {
	s := Sample{FDs: 10, FDLimit: 100, Memory: 91, MemLimit: 100}
	if s.Level() != Critical {
		t.Fatalf("memory at 91%%, FDs at 10%%: %v, want critical", s.Level())
	}
	s = Sample{FDs: 96, FDLimit: 100, Memory: 1, MemLimit: 100}
	if s.Level() != Exhausted {
		t.Fatalf("FDs at 96%%: %v, want exhausted", s.Level())
	}
}

func TestPressure(t *testing.T) {
	var p Pressure
	if p.Level() != Normal || p.Last() != (Sample{}) {
		t.Fatal("the zero Pressure is not Normal with no sample")
	}
	if prev := p.Set(Sample{FDs: 96, FDLimit: 100}); prev != Normal || p.Level() != Exhausted {
		t.Fatalf("Set: previous %v, level %v", prev, p.Level())
	}
	if prev := p.Set(Sample{FDs: 1, FDLimit: 100}); prev != Exhausted || p.Level() != Normal {
		t.Fatalf("recovery: previous %v, level %v", prev, p.Level())
	}
}

func TestLevelString(t *testing.T) {
	for l, want := range map[Level]string{Normal: "normal", Warning: "warning", Critical: "critical", Exhausted: "exhausted", 9: "Level(9)"} {
		if l.String() != want {
			t.Errorf("%d.String() = %q, want %q", l, l.String(), want)
		}
	}
}

func TestSamplerReadsThisProcess(t *testing.T) {
	s, err := NewSampler(1 << 40).Read()
	if err != nil {
		t.Fatal(err)
	}
	before := s.FDs
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s2, _ := NewSampler(1 << 40).Read()
	if s2.FDs != before+1 || s.FDLimit == 0 || s.Memory == 0 || s.MemLimit != 1<<40 {
		t.Fatalf("samples %+v then %+v: want one more FD, a limit and some memory", s, s2)
	}
	if DefaultMemoryLimit() == 0 {
		t.Fatal("no default memory limit")
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name   string
		fs     fstest.MapFS
		want   uint64
		wantOK bool
	}{
		{"systemd unit on a v2 host: the unit's MemoryMax", fstest.MapFS{
			"proc/self/cgroup":                                         file("0::/system.slice/yatagarasu.service\n"),
			"sys/fs/cgroup/memory.max":                                 file("max\n"),
			"sys/fs/cgroup/system.slice/memory.max":                    file("max\n"),
			"sys/fs/cgroup/system.slice/yatagarasu.service/memory.max": file("536870912\n"),
		}, 536870912, true},
		{"a parent's limit is smaller", fstest.MapFS{
			"proc/self/cgroup":             file("0::/a/b\n"),
			"sys/fs/cgroup/a/memory.max":   file("1000000\n"),
			"sys/fs/cgroup/a/b/memory.max": file("2000000\n"),
		}, 1000000, true},
		{"container with its cgroup as the mount root", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("268435456\n"),
		}, 268435456, true},
		{"v1, path not visible in the mount: the mount root", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/process_api/66a8\n3:cpuset:/\n0::/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("4294967296\n"),
		}, 4294967296, true},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup": file("4:memory,hugetlb:/x\n"),
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0, false},
		{"v2 unlimited everywhere", fstest.MapFS{
			"proc/self/cgroup":                    file("0::/user.slice\n"),
			"sys/fs/cgroup/memory.max":            file("max\n"),
			"sys/fs/cgroup/user.slice/memory.max": file("max\n"),
		}, 0, false},
		{"no /proc", fstest.MapFS{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(tt.fs)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("cgroupMemoryLimit = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
