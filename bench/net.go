package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Loopback plumbing: free ports for the processes under test and the
// readiness probe that waits for them to answer.

// freePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before returning, so a process configured with it can bind it;
// the origin avoids even that small race by inheriting its listener.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newProbeClient returns the HTTP client the harness uses for readiness
// probes and origin stats: no proxy from the environment, short timeouts.
func newProbeClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     5 * time.Second,
		},
	}
}

// waitHTTP polls url every 50 ms until it answers 200, the timeout
// passes, ctx ends, or p exits (then waiting longer is pointless).
func (e *env) waitHTTP(ctx context.Context, url string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("bench: probe %s: %w", url, err)
		}
		resp, err := e.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p != nil && p.exited() {
			return fmt.Errorf("bench: %s exited before %s answered (%v)", p.name, url, p.waitErr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s not ready after %s: %s", url, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// refusingPort reserves a port on 127.0.0.1 that refuses connections: a
// TCP socket bound to it that never listens, so every SYN is answered with
// RST (ECONNREFUSED, as from a dead host's closed port) and no other
// process can take the port meanwhile. release closes the socket.
func refusingPort() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("bench: refusing port: %w", err)
	}
	release = func() { _ = syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		release()
		return "", nil, fmt.Errorf("bench: refusing port: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		release()
		return "", nil, fmt.Errorf("bench: refusing port: %w", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		release()
		return "", nil, fmt.Errorf("bench: refusing port: unexpected address %T", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port)), release, nil
}
