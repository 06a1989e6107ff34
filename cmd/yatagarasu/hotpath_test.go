package main

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The hot path measured in-process: a node built from TOML in front of an
// origin and a client that both work on fixed buffers, so every allocation
// counted per request is the proxy's own.

// cannedOrigin answers every request on every connection with resp. It
// allocates nothing per request.
func cannedOrigin(t testing.TB, resp []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 16<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if end < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf, buf[end+4:n])
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// okResponse is an S3-like 200 with a body of n bytes.
func okResponse(n int) []byte {
	return []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(n) +
		"\r\nContent-Type: application/octet-stream\r\nETag: \"0123456789abcdef0123456789abcdef\"\r\n" +
		"Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nx-amz-request-id: 4442587FB7D0A2F9\r\n\r\n" +
		string(bytes.Repeat([]byte{'x'}, n)))
}

// keepAliveClient sends one fixed request at a time on one connection and
// reads the whole answer into a fixed buffer.
type keepAliveClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func newKeepAliveClient(t testing.TB, addr string, req string) *keepAliveClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAliveClient{c: c, req: []byte(req), buf: make([]byte, 64<<10)}
}

// do returns the status code, or an error; it allocates nothing on success.
func (k *keepAliveClient) do() (int, error) {
	if _, err := k.c.Write(k.req); err != nil {
		return 0, err
	}
	n, end := 0, -1
	for end < 0 {
		m, err := k.c.Read(k.buf[n:])
		if err != nil {
			return 0, err
		}
		n += m
		end = bytes.Index(k.buf[:n], []byte("\r\n\r\n"))
	}
	head := k.buf[:end]
	i := bytes.Index(head, []byte("\r\nContent-Length: "))
	if i < 0 {
		return 0, errNoLength
	}
	j := i + len("\r\nContent-Length: ")
	length := 0
	for ; j < len(head) && head[j] >= '0' && head[j] <= '9'; j++ {
		length = length*10 + int(head[j]-'0')
	}
	for total := end + 4 + length; n < total; {
		m, err := k.c.Read(k.buf[n:min(total, len(k.buf))])
		if err != nil {
			return 0, err
		}
		n += m
		if n == len(k.buf) && n < total {
			total -= n
			n = 0
		}
	}
	status := int(k.buf[9]-'0')*100 + int(k.buf[10]-'0')*10 + int(k.buf[11]-'0')
	return status, nil
}

var errNoLength = fmt.Errorf("answer without Content-Length")

// hotPathSecret signs the HS256 tokens of the authenticated variant.
const hotPathSecret = "hot-path-secret-of-at-least-32-bytes!!"

// hotPathVariants are the configurations measured: the issue's "public,
// metrics on, access log off", the same with the access log, and everything
// a production bucket would configure (JWT, rate limits, breaker, limits)
// without any of it tripping.
var hotPathVariants = []struct {
	name   string
	server string // added to [server]
	top    string // top-level tables
	bucket string // extra [buckets.*] tables
	jwt    bool
}{
	{name: "public", top: "[log]\naccess = false\n"},
	{name: "public+accesslog", top: "[log]\naccess = true\nformat = \"json\"\n"},
	{name: "jwt+limits+breaker", server: `
max_concurrent_requests = 10000
[server.rate_limit.global]
requests_per_second = 1000000
[server.rate_limit.per_ip]
requests_per_second = 1000000
`, top: "[log]\naccess = true\nformat = \"json\"\n", bucket: `
max_concurrent_requests = 5000
[buckets.s3.rate_limit]
requests_per_second = 1000000
[buckets.s3.circuit_breaker]
failure_threshold = 5
[buckets.auth]
algorithms = ["HS256"]
secret = "` + hotPathSecret + `"
[[buckets.auth.token_sources]]
type = "bearer"
`, jwt: true},
}

// startHotPath starts a node for one variant in front of a canned origin
// serving size-byte objects, with release_idle_buffers as given, and returns
// a client for it.
func startHotPath(t testing.TB, v int, size int, releaseIdle bool) *keepAliveClient {
	t.Helper()
	hv := hotPathVariants[v]
	server := fmt.Sprintf("release_idle_buffers = %v\n", releaseIdle) + hv.server // before its sub-tables
	originURL := cannedOrigin(t, okResponse(size))
	p := startProxyWith(t, fmt.Sprintf(`
[server]
port = 0
%s
%s
[[buckets]]
name = "hot"
path_prefix = "/hot"
[buckets.s3]
bucket = "b"
endpoint = %q
force_path_style = true
access_key = "AK"
secret_key = "SK"
%s`, server, hv.top, originURL, hv.bucket), nodeOptions{})
	req := "GET /hot/photos/2024/beach.jpg HTTP/1.1\r\nHost: proxy\r\nUser-Agent: bench\r\nAccept: */*\r\n"
	if hv.jwt {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "user-1", "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(hotPathSecret))
		if err != nil {
			t.Fatal(err)
		}
		req += "Authorization: Bearer " + tok + "\r\n"
	}
	return newKeepAliveClient(t, strings.TrimPrefix(p.url, "http://"), req+"\r\n")
}

// BenchmarkHotPath is one client's 1 KiB GETs through a whole node; allocs/op
// counts every allocation in the process, and the origin and client make
// none.
func BenchmarkHotPath(b *testing.B) {
	for v, hv := range hotPathVariants {
		b.Run(hv.name, func(b *testing.B) {
			c := startHotPath(b, v, 1024, true)
			b.ReportAllocs()
			for b.Loop() {
				if status, err := c.do(); err != nil || status != 200 {
					b.Fatalf("GET = %d, %v", status, err)
				}
			}
		})
	}
}
