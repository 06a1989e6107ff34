package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Clients that hang up mid-body, beside each soak load phase: a GET of a
// large object every soakLeaveEvery, its header and soakLeaveRead bytes of
// body read, then the connection closed with megabytes unread. That is
// what a player seeking or a download cancelled does, and it takes the
// proxy's other path for a stream: the client write fails, the splice pipe
// may hold bytes and is discarded, the upstream connection is closed
// instead of pooled. A mistake there (a descriptor leaked, or closed twice
// under a connection that reused its number) shows as open descriptors
// growing or as the phase's other requests failing.

// Fixed parameters of the leaving clients.
const (
	soakLeaveObject  = "16m" // far more than the sockets buffer: cut mid-splice
	soakLeaveEvery   = 100 * time.Millisecond
	soakLeaveRead    = 64 << 10
	soakLeaveTimeout = 10 * time.Second // one leaver, dial to hang-up
	soakLeaveErrKeep = 5                // errors quoted in the report
)

// soakLeavers is a load phase's account of its leaving clients.
type soakLeavers struct {
	Object  string `json:"object"`
	Started int    `json:"started"`
	// Left: answered 200 and sent at least soakLeaveRead bytes of body
	// before the client hung up. Failed: anything else (no connection, an
	// error status, the stream ending early).
	Left   int      `json:"left"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"` // the first soakLeaveErrKeep
	// CutCounted is the proxy's http_streams_cut_total{side="client"} over
	// the phase (Before to After): every leaver should be one. Nil for the
	// reloads phase, whose rebuilt buckets start their counters again.
	CutCounted *float64 `json:"cut_counted,omitempty"`
}

// leaveLoop starts a leaving client of path on addr every every until ctx
// ends, one at a time, and returns their account; one that ctx's end cut
// short is not counted.
func leaveLoop(ctx context.Context, addr, path string, every time.Duration) *soakLeavers {
	l := &soakLeavers{Object: strings.TrimPrefix(path, "/bench/")}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return l
		case <-tick.C:
		}
		err := leaveOnce(ctx, addr, path)
		if ctx.Err() != nil {
			return l // the phase ended under it: not counted
		}
		l.Started++
		if err != nil {
			l.Failed++
			if len(l.Errors) < soakLeaveErrKeep {
				l.Errors = append(l.Errors, err.Error())
			}
			continue
		}
		l.Left++
	}
}

// leaveOnce is one leaving client: GET path, read the header and
// soakLeaveRead bytes of body, hang up.
func leaveOnce(ctx context.Context, addr, path string) error {
	d := net.Dialer{Timeout: soakLeaveTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("leaver: %w", err)
	}
	defer c.Close() // the unread rest makes it a reset
	_ = c.SetDeadline(time.Now().Add(soakLeaveTimeout))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		return fmt.Errorf("leaver: %w", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("leaver: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("leaver: %s", resp.Status)
	}
	if n, err := io.CopyN(io.Discard, resp.Body, soakLeaveRead); err != nil {
		return fmt.Errorf("leaver: %d of the first %d bytes: %w", n, soakLeaveRead, err)
	}
	return nil
}

// leaversGoal judges a phase's leaving clients: every one served until it
// hung up.
func leaversGoal(phase string, l *soakLeavers) soakGoal {
	g := soakGoal{Phase: phase, Goal: fmt.Sprintf("every client leaving mid-body is served until it hangs up (GET /bench/%s, %d KiB read)", l.Object, soakLeaveRead>>10)}
	if l.Started == 0 {
		g.Got = "not judged: none started"
		return g
	}
	g.Judged, g.Met = true, l.Failed == 0
	g.Got = fmt.Sprintf("%d of %d, %d failed", l.Left, l.Started, l.Failed)
	if l.CutCounted != nil {
		g.Got += fmt.Sprintf("; the proxy counted %.0f client cuts", *l.CutCounted)
	}
	if len(l.Errors) > 0 {
		g.Got += ": " + strings.Join(l.Errors, "; ")
	}
	return g
}
