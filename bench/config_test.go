package main

import (
	"strings"
	"testing"
	"time"
)

// Generated configs: the keys the brief fixes must be there, with the
// per-run values substituted.
func TestGeneratedConfigs(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want []string
	}{
		{
			name: "yatagarasu public",
			cfg:  yatagarasuConfig(yatagarasuParams{Port: 18080, OriginAddr: "127.0.0.1:19000", PoolSize: 80}, profiles[0]),
			want: []string{
				"[server]\naddress = \"127.0.0.1\"\nport = 18080\n",
				"[[buckets]]\nname = \"bench\"\npath_prefix = \"/bench\"\n[buckets.s3]\n",
				`bucket = "bench"`, `region = "us-east-1"`, `endpoint = "http://127.0.0.1:19000"`,
				"force_path_style = true", `access_key = "AKIDBENCH"`, `secret_key = "bench-secret"`,
				"connection_pool_size = 80", "max_idle_connections = 80",
			},
		},
		{
			name: "yatagarasu profile TOML is appended last",
			cfg: yatagarasuConfig(yatagarasuParams{Port: 1, OriginAddr: "127.0.0.1:2", PoolSize: 3},
				profile{Name: "extra", TOML: "[logging]\naccess_log = true\n"}),
			want: []string{"max_idle_connections = 3\n\n# profile extra\n[logging]\naccess_log = true\n"},
		},
		{
			name: "nginx",
			cfg:  nginxConfig(nginxParams{Dir: "/out/n", Port: 18081, OriginAddr: "127.0.0.1:19000", Conns: 64}),
			want: []string{
				"daemon off;", "master_process off;", "worker_processes 1;", "pid /out/n/nginx.pid;",
				"error_log /out/n/error.log", "access_log off;", "proxy_temp_path /out/n/proxy;",
				"client_body_temp_path /out/n/client_body;", "server 127.0.0.1:19000;", "keepalive 64;",
				"listen 127.0.0.1:18081", "proxy_buffering off;", "proxy_buffer_size 64k;", "proxy_buffers 4 64k;",
				"proxy_http_version 1.1;", `proxy_set_header Connection "";`,
			},
		},
		{
			name: "haproxy",
			cfg:  haproxyConfig(haproxyParams{Port: 18082, OriginAddr: "127.0.0.1:19000", Conns: 256}),
			want: []string{
				"nbthread 1", "mode http", "http-reuse always", "bind 127.0.0.1:18082",
				"server origin 127.0.0.1:19000 pool-max-conn 256",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(tt.cfg, w) {
					t.Errorf("config lacks %q:\n%s", w, tt.cfg)
				}
			}
			if strings.Contains(tt.cfg, "%!") {
				t.Errorf("formatting error in config:\n%s", tt.cfg)
			}
		})
	}
}

func TestBuildScenarios(t *testing.T) {
	tests := []struct {
		name      string
		list      string
		conns     int
		big       string
		wantNames []string
		wantConns []int
		wantErr   bool
	}{
		{name: "all in run order", list: "all", big: "1g",
			wantNames: []string{"1k", "half", "idle10k", "1m", "1m-256", "1g", "fail5", "fail30", "fail30-nobreaker", "dead"},
			wantConns: []int{64, 64, idleOpeners, 64, 256, 1, 64, 64, 64, 64}},
		{name: "order is fixed, duplicates dropped", list: "1g,1k,1k", big: "1g", wantNames: []string{"1k", "1g"}, wantConns: []int{64, 1}},
		{name: "big picks the object", list: "big", big: "5g", wantNames: []string{"5g"}, wantConns: []int{1}},
		{name: "override spares the stream and idle10k", list: "1m-256,1g,idle10k,half", conns: 8, big: "1g",
			wantNames: []string{"1k", "half", "idle10k", "1m-256", "1g"}, wantConns: []int{8, 8, idleOpeners, 8, 1}},
		{name: "half alone gets its 1k first", list: "half", big: "1g", wantNames: []string{"1k", "half"}, wantConns: []int{64, 64}},
		{name: "half after a selected 1k", list: "half,1k", big: "1g", wantNames: []string{"1k", "half"}, wantConns: []int{64, 64}},
		{name: "unknown", list: "2k", big: "1g", wantErr: true},
		{name: "bad big", list: "1k", big: "2g", wantErr: true},
		{name: "empty", list: " , ", big: "1g", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildScenarios(tt.list, time.Second, time.Second, tt.conns, tt.big, 3)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("buildScenarios = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.wantNames) {
				t.Fatalf("got %d scenarios %v, want %v", len(got), got, tt.wantNames)
			}
			for i, sc := range got {
				if sc.Name != tt.wantNames[i] || sc.Conns != tt.wantConns[i] {
					t.Errorf("scenario %d = %s/%d conns, want %s/%d", i, sc.Name, sc.Conns, tt.wantNames[i], tt.wantConns[i])
				}
				if _, err := parseSize(sc.Object); err != nil {
					t.Errorf("scenario %s object %q: %v", sc.Name, sc.Object, err)
				}
				// 1k is a calibration run exactly when half needs it and
				// it was not asked for.
				wantCal := sc.Name == "1k" && strings.Contains(tt.list, "half") && !strings.Contains(tt.list, "1k")
				if sc.Calibration != wantCal {
					t.Errorf("scenario %s calibration = %v, want %v", sc.Name, sc.Calibration, wantCal)
				}
				wantPublicOnly := sc.Object != "1k"
				if sc.PublicOnly != wantPublicOnly {
					t.Errorf("scenario %s public only = %v, want %v", sc.Name, sc.PublicOnly, wantPublicOnly)
				}
				switch sc.Name {
				case "half":
					if sc.Kind != kindOpen || sc.RateOf != 0.5 {
						t.Errorf("half = %+v, want an open loop at half rate", sc)
					}
				case "idle10k":
					if sc.Kind != kindIdle || sc.Idle != 10000 || sc.IdleFor != 3*time.Second {
						t.Errorf("idle10k = %+v, want 10000 connections idle 3s", sc)
					}
				}
			}
		})
	}
}

func TestSelectProfiles(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr bool
	}{
		{name: "public", list: "public", want: []string{"public"}},
		{name: "default", list: defaultProfiles, want: []string{"public", "noaccesslog", "keepbuffers", "limits", "auth-hs256", "auth-es256"}},
		{name: "keepbuffers", list: "keepbuffers,public", want: []string{"keepbuffers", "public"}},
		{name: "duplicates dropped", list: "public, public", want: []string{"public"}},
		{name: "unknown", list: "auth-rs999", wantErr: true},
		{name: "empty", list: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectProfiles(tt.list)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("selectProfiles = %v, want an error", got)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("selectProfiles = %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i].Name != tt.want[i] {
					t.Errorf("profile %d = %s, want %s", i, got[i].Name, tt.want[i])
				}
			}
		})
	}
}

func TestComputeRatios(t *testing.T) {
	mk := func(sc, target string, rps, cpu, rss float64, p99 time.Duration, failed bool) row {
		r := row{Scenario: sc, Target: target, CPUPerReqUS: cpu, PeakRSSMiB: rss}
		r.Load.ReqPerSec, r.Load.P99 = rps, p99
		if failed {
			r.Error = "boom"
		}
		return r
	}
	kind := func(r row, k string) row { r.Kind = k; return r }
	rows := []row{
		mk("1k", "direct", 100, 5, 10, time.Millisecond, false),
		mk("1k", "yatagarasu", 50, 20, 40, 4*time.Millisecond, false),
		mk("1k", "yatagarasu:auth-hs256", 40, 25, 40, 5*time.Millisecond, false),
		mk("1k", "yatagarasu:limits", 0, 0, 0, 0, true),
		mk("1k", "nginx", 80, 10, 8, 2*time.Millisecond, false),
		mk("1k", "haproxy", 0, 0, 0, 0, true),
		mk("1m", "yatagarasu", 1, 1, 1, 1, true),
		mk("1m", "nginx", 1, 1, 1, 1, false),
		// half and idle10k have tables of their own.
		kind(mk("half", "yatagarasu", 1, 1, 1, 1, false), kindOpen),
		kind(mk("half", "nginx", 1, 1, 1, 1, false), kindOpen),
		kind(mk("idle10k", "yatagarasu", 1, 1, 1, 1, false), kindIdle),
		kind(mk("idle10k", "nginx", 1, 1, 1, 1, false), kindIdle),
	}
	want := []ratio{
		{Scenario: "1k", Target: "yatagarasu", Versus: "direct", ReqPerSec: 0.5, P99: 4, CPUPerReq: 4, PeakRSS: 4},
		{Scenario: "1k", Target: "yatagarasu", Versus: "nginx", ReqPerSec: 0.625, P99: 2, CPUPerReq: 2, PeakRSS: 5},
		{Scenario: "1k", Target: "yatagarasu:auth-hs256", Versus: "direct", ReqPerSec: 0.4, P99: 5, CPUPerReq: 5, PeakRSS: 4},
		{Scenario: "1k", Target: "yatagarasu:auth-hs256", Versus: "yatagarasu", ReqPerSec: 0.8, P99: 1.25, CPUPerReq: 1.25, PeakRSS: 1},
		{Scenario: "1k", Target: "yatagarasu:auth-hs256", Versus: "nginx", ReqPerSec: 0.5, P99: 2.5, CPUPerReq: 2.5, PeakRSS: 5},
	}
	got := computeRatios(rows)
	if len(got) != len(want) {
		t.Fatalf("computeRatios = %+v\nwant %+v", got, want)
	}
	for i := range want {
		t.Run(want[i].Target+"/"+want[i].Versus, func(t *testing.T) {
			if got[i] != want[i] {
				t.Fatalf("ratio %d = %+v, want %+v", i, got[i], want[i])
			}
		})
	}
}

func TestRequireLoopback(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		wantOK bool
	}{
		{name: "ipv4 loopback", addr: "127.0.0.1:8080", wantOK: true},
		{name: "other 127/8", addr: "127.3.2.1:80", wantOK: true},
		{name: "ipv6 loopback", addr: "[::1]:80", wantOK: true},
		{name: "localhost", addr: "localhost:80", wantOK: true},
		{name: "private range", addr: "10.0.0.1:80", wantOK: false},
		{name: "public", addr: "93.184.216.34:80", wantOK: false},
		{name: "name", addr: "example.com:80", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := requireLoopback(tt.addr); (err == nil) != tt.wantOK {
				t.Fatalf("requireLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.wantOK)
			}
		})
	}
}
