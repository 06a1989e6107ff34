package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeaveOnce: a leaver is served when it gets a 200 and its first
// soakLeaveRead bytes, and fails on an error status or a body cut before
// them; leaveLoop counts both.
func TestLeaveOnce(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var hits atomic.Int64
	addr := serveHTTP(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/bench/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = w.Write([]byte(big)) // fails once the leaver is gone
		case "/bench/short":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = w.Write([]byte(big[:1000]))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // cut the stream
		default:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	})})
	ctx := context.Background()

	if err := leaveOnce(ctx, addr, "/bench/big"); err != nil {
		t.Errorf("big: %v", err)
	}
	if err := leaveOnce(ctx, addr, "/bench/busy"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("busy: %v, want the 503", err)
	}
	if err := leaveOnce(ctx, addr, "/bench/short"); err == nil || !strings.Contains(err.Error(), "1000 of the first 65536 bytes") {
		t.Errorf("short: %v, want the stream cut at 1000 bytes", err)
	}

	for _, tc := range []struct {
		path         string
		left, failed bool
	}{{"/bench/big", true, false}, {"/bench/busy", false, true}} {
		// Leavers go one at a time: once the server has seen the
		// (soakLeaveErrKeep+2)th, the ones before it have been counted.
		const atLeast = soakLeaveErrKeep + 1
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan *soakLeavers)
		from := hits.Load()
		go func() { done <- leaveLoop(lctx, addr, tc.path, time.Millisecond) }()
		for deadline := time.Now().Add(30 * time.Second); hits.Load()-from <= atLeast && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
		l := <-done
		if l.Started < atLeast || l.Left+l.Failed != l.Started || (l.Left > 0) != tc.left || (l.Failed > 0) != tc.failed {
			t.Errorf("%s: %+v", tc.path, l)
		}
		if len(l.Errors) > soakLeaveErrKeep {
			t.Errorf("%s: %d errors kept, want at most %d", tc.path, len(l.Errors), soakLeaveErrKeep)
		}
		if l.Object != strings.TrimPrefix(tc.path, "/bench/") {
			t.Errorf("object %q", l.Object)
		}
	}
}

// TestCountFDs: one more open file is one more descriptor.
func TestCountFDs(t *testing.T) {
	before, err := countFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, err := countFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("%d descriptors, then %d with one more file open", before, after)
	}
	if _, err := countFDs(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
