package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestRoutingByLongestPrefix(t *testing.T) {
	toml := bucketTOML("data", "/data", dataBucket, "") +
		bucketTOML("database", "/database", otherBucket, "") +
		bucketTOML("archive", "/data/archive", otherBucket, "") +
		bucketTOML("root", "/", mediaBucket, "")
	p := startProxy(t, toml, nodeOptions{})
	origin.Put(t, dataBucket, "x.txt", []byte("data bucket"), "text/plain", nil)
	origin.Put(t, otherBucket, "x.txt", []byte("other bucket"), "text/plain", nil)
	origin.Put(t, mediaBucket, "datax/x.txt", []byte("root bucket"), "text/plain", nil)
	origin.Put(t, mediaBucket, "health", []byte("an object named health"), "text/plain", nil)
	cases := []struct {
		name, path, want string
	}{
		{"prefix", "/data/x.txt", "data bucket"},
		{"longer prefix sharing letters", "/database/x.txt", "other bucket"},
		{"deeper prefix", "/data/archive/x.txt", "other bucket"},
		{"no boundary: root bucket", "/datax/x.txt", "root bucket"},
		{"prefix matched on the decoded path", "/d%61ta/x.txt", "data bucket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", p.url+tc.path)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Fatalf("GET %s = %d %q, want 200 %q", tc.path, resp.StatusCode, body, tc.want)
			}
		})
	}
	t.Run("built-ins win over the root bucket", func(t *testing.T) {
		resp, body := do(t, "GET", p.url+"/health")
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"status": "ok"`) {
			t.Fatalf("/health = %d %s, want the health JSON", resp.StatusCode, body)
		}
		resp, body = do(t, "GET", p.url+"/admin/nothing")
		if resp.StatusCode != 404 || !strings.Contains(string(body), "<Code>NotFound</Code>") {
			t.Fatalf("/admin/nothing = %d %s, want the built-in 404", resp.StatusCode, body)
		}
	})
	t.Run("bucket root is not listed", func(t *testing.T) {
		for _, path := range []string{"/data", "/data/"} {
			resp, body := do(t, "GET", p.url+path)
			if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
				t.Fatalf("GET %s = %d %s, want 403 AccessDenied", path, resp.StatusCode, body)
			}
		}
	})
}

func TestUnknownPrefixIs404XML(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	resp, body := do(t, "GET", p.url+"/nowhere/x.txt")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("unknown prefix = %d (%s), want 404 XML", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rid := resp.Header.Get("X-Request-Id")
	want := "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message><RequestId>" + rid + "</RequestId></Error>"
	if !strings.Contains(string(body), want) {
		t.Fatalf("body = %s\nwant it to contain %s", body, want)
	}
	resp, body = do(t, "HEAD", p.url+"/nowhere/x.txt")
	if resp.StatusCode != 404 || len(body) != 0 {
		t.Fatalf("HEAD unknown prefix = %d with %d body bytes, want 404 without a body", resp.StatusCode, len(body))
	}
}

func TestMethods(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	for _, m := range []string{"PUT", "POST", "DELETE", "PATCH", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			resp, body := do(t, m, p.url+"/media/x.txt")
			if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" || !strings.Contains(string(body), "<Code>MethodNotAllowed</Code>") {
				t.Fatalf("%s = %d Allow %q %s, want 405 with Allow", m, resp.StatusCode, resp.Header.Get("Allow"), body)
			}
		})
	}
	resp, body := do(t, "OPTIONS", p.url+"/media/x.txt")
	if resp.StatusCode != 204 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" || len(body) != 0 {
		t.Fatalf("OPTIONS = %d Allow %q body %q, want 204 with Allow", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

func TestMalformedPaths(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	cases := []struct {
		name, target string
		status       int
		code         string
	}{
		{"malformed escape", "/media/%zz", 400, "InvalidURI"},
		{"lone percent", "/media/a%", 400, "InvalidURI"},
		{"absolute form", "http://example.com/media/x.txt", 400, "InvalidURI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawRequest(t, p.addr(), "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(raw, "HTTP/1.1 "+strconv.Itoa(tc.status)) || !strings.Contains(raw, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("GET %s answered:\n%s\nwant %d %s", tc.target, raw, tc.status, tc.code)
			}
		})
	}
}

func TestAdminListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	toml := fmt.Sprintf("[admin]\nport = %d\n", port) + bucketTOML("root", "/", mediaBucket, "")
	p := startProxy(t, toml, nodeOptions{})
	origin.Put(t, mediaBucket, "health", []byte("an object named health"), "text/plain", nil)

	resp, body := do(t, "GET", p.url+"/health")
	if resp.StatusCode != 200 || string(body) != "an object named health" {
		t.Fatalf("main listener /health = %d %q, want the object: built-ins moved away", resp.StatusCode, body)
	}
	for _, path := range []string{"/health", "/ready", "/metrics"} {
		resp, _ := do(t, "GET", p.adminURL+path)
		if resp.StatusCode != 200 {
			t.Errorf("admin listener %s = %d, want 200", path, resp.StatusCode)
		}
	}
	resp, _ = do(t, "GET", p.adminURL+"/health.txt")
	if resp.StatusCode != 404 {
		t.Errorf("admin listener serves a bucket path: %d", resp.StatusCode)
	}
	if h, _, _ := net.SplitHostPort(p.adminAddr()); h != "127.0.0.1" {
		t.Errorf("admin listener on %s, want loopback", p.adminAddr())
	}
}

func TestHealthAndReady(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	resp, body := do(t, "GET", p.url+"/health")
	var h struct {
		Status        string  `json:"status"`
		Version       string  `json:"version"`
		UptimeSeconds float64 `json:"uptime_seconds"`
		Generation    uint64  `json:"generation"`
	}
	if err := json.Unmarshal(body, &h); err != nil || resp.StatusCode != 200 || h.Status != "ok" || h.Version == "" || h.Generation != 1 {
		t.Fatalf("/health = %d %s (%v)", resp.StatusCode, body, err)
	}
	resp, body = do(t, "GET", p.url+"/ready")
	var r struct {
		Status  string `json:"status"`
		Buckets map[string]struct {
			State string `json:"state"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.Status != "ready" || r.Buckets["media"].State != "ready" {
		t.Fatalf("/ready = %d %s (%v)", resp.StatusCode, body, err)
	}
	p.gw.SetDraining(true)
	resp, _ = do(t, "GET", p.url+"/ready")
	if resp.StatusCode != 503 {
		t.Fatalf("/ready while draining = %d, want 503", resp.StatusCode)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	origin.Put(t, mediaBucket, "m.txt", []byte("metrics!"), "text/plain", nil)
	do(t, "GET", p.url+"/media/m.txt")
	do(t, "GET", p.url+"/media/m.txt")
	do(t, "HEAD", p.url+"/media/missing.txt")
	do(t, "PUT", p.url+"/media/m.txt")
	resp, body := do(t, "GET", p.url+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`http_requests_total{bucket="media",method="GET",status="200"} 2`,
		`http_requests_total{bucket="media",method="HEAD",status="404"} 1`,
		`http_requests_total{bucket="(none)",method="OTHER",status="405"} 1`,
		`http_request_duration_seconds_count{bucket="media"} 3`,
		`s3_upstream_duration_seconds_count{bucket="media"} 3`,
		`http_response_bytes_total{bucket="media"} 16`,
		`http_requests_in_flight 0`, // built-ins are not counted
		`connection_pool_size{bucket="media"} 50`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
