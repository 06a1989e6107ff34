package buckets

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/config"
)

// Upstream client buffer sizes. S3 answers with many x-amz-meta-* headers can
// exceed fasthttp's 4 KiB default ("small read buffer").
const (
	upstreamReadBufferSize  = 32 << 10
	upstreamWriteBufferSize = 8 << 10
)

// upstream is one bucket's way to S3: the endpoint's address, the pooled
// fasthttp.HostClient and the pool's accounting. Safe for concurrent use.
type upstream struct {
	client *fasthttp.HostClient
	// scheme is "http" or "https".
	scheme string
	// host is the Host header and URL authority, e.g. "127.0.0.1:9000" or
	// "media.s3.eu-west-1.amazonaws.com".
	host string
	// pathPrefix is "/<bucket>" with path-style addressing, "" with
	// virtual-hosted addressing.
	pathPrefix string
	// timeout bounds an attempt until the response headers.
	timeout time.Duration
	// maxIdle is the most idle connections kept in the pool.
	maxIdle int64

	open atomic.Int64 // connections dialed and not yet closed
	busy atomic.Int64 // connections lent to requests (or waited for)
}

// newUpstream builds the endpoint and pool for one bucket.
func newUpstream(s config.S3, dial func(string) (net.Conn, error)) (*upstream, error) {
	u := &upstream{timeout: s.Timeout.Duration, maxIdle: int64(*s.MaxIdleConnections)}
	var endpointHost string
	if s.Endpoint == "" {
		u.scheme, endpointHost = "https", "s3."+s.Region+".amazonaws.com"
	} else {
		e, err := url.Parse(s.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("buckets: endpoint %q: %w", s.Endpoint, err)
		}
		u.scheme, endpointHost = e.Scheme, e.Host
	}
	if s.ForcePathStyle {
		u.host, u.pathPrefix = endpointHost, "/"+s.Bucket
	} else {
		u.host = s.Bucket + "." + endpointHost
	}
	addr := u.host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if u.scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	if dial == nil {
		dialer := &net.Dialer{Timeout: s.ConnectTimeout.Duration, KeepAlive: 30 * time.Second}
		dial = func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) }
	}
	u.client = &fasthttp.HostClient{
		Addr:  addr,
		Name:  "yatagarasu",
		IsTLS: u.scheme == "https",
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: hostOnly(u.host),
		},
		Dial: func(addr string) (net.Conn, error) {
			c, err := dial(addr)
			if err != nil {
				return nil, err
			}
			return u.track(c), nil
		},
		MaxConns:            s.ConnectionPoolSize,
		MaxIdleConnDuration: s.IdleTimeout.Duration,
		MaxConnWaitTimeout:  s.ConnectionWaitTimeout.Duration,
		// Retries are ours (and only before a byte reached the client): the
		// HostClient's default is 5 silent attempts.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		ReadBufferSize:            upstreamReadBufferSize,
		WriteBufferSize:           upstreamWriteBufferSize,
		DisablePathNormalizing:    true,
		StreamResponseBody:        true,
		// LIFO keeps the busiest connections warm and lets the rest idle out.
		ConnPoolStrategy: fasthttp.LIFO,
	}
	return u, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// do sends req and reads the response headers into resp, leaving any body as a
// stream. It classifies failures as *TimeoutError, *ConnError or
// ErrNoFreeConnections.
func (u *upstream) do(req *fasthttp.Request, resp *fasthttp.Response) error {
	if u.maxIdle == 0 {
		req.SetConnectionClose()
	}
	u.busy.Add(1)
	err := u.client.DoTimeout(req, resp, u.timeout)
	if err != nil || resp.BodyStream() == nil {
		u.busy.Add(-1)
	}
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fmt.Errorf("%w: %w", ErrNoFreeConnections, err)
	case isTimeout(err):
		return &TimeoutError{Err: err}
	default:
		return &ConnError{Err: err}
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() && !errors.Is(err, syscall.ECONNREFUSED)
}

// release hands back the connection of a streamed response; call it before the
// response's body stream is closed. The connection returns to the pool only if
// that keeps at most maxIdle connections idle; otherwise it is closed.
func (u *upstream) release(resp *fasthttp.Response) {
	busy := u.busy.Add(-1)
	if u.open.Load()-busy > u.maxIdle {
		resp.SetConnectionClose()
	}
}

// stats reports the pool's open and busy connections.
func (u *upstream) stats() (open, busy int64) {
	open, busy = u.open.Load(), u.busy.Load()
	return open, min(busy, open)
}

// close drops the pool's idle connections; busy ones close when released.
func (u *upstream) close() { u.client.CloseIdleConnections() }

// track wraps a dialed connection so the pool's open count stays exact and a
// response can find its connection (see connOf).
func (u *upstream) track(c net.Conn) net.Conn {
	u.open.Add(1)
	tc := &trackedConn{Conn: c, u: u}
	tc.local = &connAddr{Addr: c.LocalAddr(), conn: tc}
	return tc
}

// trackedConn is a pooled upstream connection.
type trackedConn struct {
	net.Conn
	u      *upstream
	local  *connAddr // a pointer, so LocalAddr does not allocate
	closed sync.Once
}

func (c *trackedConn) Close() error {
	c.closed.Do(func() { c.u.open.Add(-1) })
	return c.Conn.Close()
}

// LocalAddr returns an address that leads back to the connection: fasthttp
// keeps a response's local address, which is how a streamed body finds the
// connection whose read deadline it moves.
func (c *trackedConn) LocalAddr() net.Addr { return c.local }

// connAddr is a net.Addr carrying its connection.
type connAddr struct {
	net.Addr
	conn *trackedConn
}

// connOf returns the connection resp was read from, or nil.
func connOf(resp *fasthttp.Response) *trackedConn {
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		return a.conn
	}
	return nil
}
