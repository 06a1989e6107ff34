package main

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPlanIdle(t *testing.T) {
	all := []string{"direct", "yatagarasu", "yatagarasu:auth-hs256", "nginx", "haproxy"}
	tests := []struct {
		name    string
		lim     fdLimits
		targets []string
		want    int
		reasons int // how many limits bound it
		reason  string
	}{
		{name: "room for all", lim: fdLimits{Soft: 1 << 20, Hard: 1 << 20, CanRaise: true, Ports: 28232}, targets: all, want: 10000},
		{name: "20000 files, no CAP_SYS_RESOURCE", lim: fdLimits{Soft: 20000, Hard: 20000, Ports: 28232}, targets: all, want: 10000},
		{name: "harness soft limit", lim: fdLimits{Soft: 4096, Hard: 1 << 20, CanRaise: true}, targets: []string{"nginx"},
			want: 4096 - idleReserve, reasons: 1, reason: "harness"},
		{name: "yatagarasu's 80% warning", lim: fdLimits{Soft: 12000, Hard: 12000, CanRaise: true}, targets: all,
			want: 9600 - 80 - idleReserve, reasons: 1, reason: "warns above 80%"},
		{name: "nginx keeps 1/16 free", lim: fdLimits{Soft: 10500, Hard: 10500}, targets: []string{"nginx"},
			want: (10500-idleReserve)*15/16 - 160, reasons: 1, reason: "1/16"},
		{name: "few ports", lim: fdLimits{Soft: 1 << 20, Hard: 1 << 20, CanRaise: true, Ports: 5000}, targets: all,
			want: 5000 - 1024, reasons: 1, reason: "ip_local_port_range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := planIdle(10000, tt.lim, 80, tt.targets)
			if got != tt.want || len(why) != tt.reasons {
				t.Fatalf("planIdle = %d, %q; want %d with %d reasons", got, why, tt.want, tt.reasons)
			}
			if tt.reason != "" && !strings.Contains(why[len(why)-1], tt.reason) {
				t.Fatalf("reason %q lacks %q", why[len(why)-1], tt.reason)
			}
		})
	}
}

func TestIdleParsing(t *testing.T) {
	if got := parsePortRange("32768\t60999\n"); got != 28232 {
		t.Errorf("parsePortRange = %d, want 28232", got)
	}
	for _, bad := range []string{"", "1", "x y", "60999 32768"} {
		if got := parsePortRange(bad); got != 0 {
			t.Errorf("parsePortRange(%q) = %d, want 0", bad, got)
		}
	}
	status := "Name:\tbench\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n"
	eff, ok := parseCapEff(status)
	if !ok || eff != 0x1fffeffffff || eff&(1<<capSysResource) != 0 {
		t.Errorf("parseCapEff = %x, %v; want 1fffeffffff without CAP_SYS_RESOURCE", eff, ok)
	}
	if _, ok := parseCapEff("Name:\tx\n"); ok {
		t.Error("parseCapEff found a CapEff line in a status without one")
	}
	tests := []struct {
		before, idle uint64
		n            int
		want         float64
	}{
		{before: 20000, idle: 120000, n: 10000, want: 10},
		{before: 20000, idle: 19000, n: 1000, want: -1},
		{before: 1, idle: 2, n: 0, want: 0},
	}
	for _, tt := range tests {
		if got := kibPerConn(tt.before, tt.idle, tt.n); got != tt.want {
			t.Errorf("kibPerConn(%d, %d, %d) = %g, want %g", tt.before, tt.idle, tt.n, got, tt.want)
		}
	}
	u, _ := url.Parse("http://127.0.0.1:8080/bench/1k")
	req := string(idleRequest(u, []string{"Authorization: Bearer x"}))
	want := "GET /bench/1k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: yatagarasu-bench\r\nAuthorization: Bearer x\r\n\r\n"
	if req != want {
		t.Errorf("idleRequest = %q, want %q", req, want)
	}
}

// The idle connections against an in-test server on 127.0.0.1 (no process,
// a handful of sockets): each GET answered, the connections held, one
// closed by the server seen as closed, and a close answer not held.
func TestOpenIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal("loopback listener:", err)
	}
	defer ln.Close()
	serverSide := make(chan net.Conn, 16)
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, n int) {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
				if n == 5 {
					resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
				}
				_, _ = c.Write([]byte(resp))
				serverSide <- c
			}(c, n)
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/bench/1k")
	var res idleResult
	held := openIdle(context.Background(), u.Host, idleRequest(u, nil), 6, 2, &res)
	defer closeIdle(held)
	if res.Opened != 5 || res.Failed != 1 || !strings.Contains(res.FirstError, "closed the connection") {
		t.Fatalf("opened %d, failed %d (%s); want 5 held and the close answer failed", res.Opened, res.Failed, res.FirstError)
	}
	if got := countOpen(held); got != 5 {
		t.Fatalf("countOpen = %d, want 5", got)
	}
	// The server closes one: it reads as closed once the FIN is in.
	c := <-serverSide
	_ = c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for countOpen(held) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("countOpen = %d after a server close, want 4", countOpen(held))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
