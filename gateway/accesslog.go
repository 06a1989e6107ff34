package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// AccessLog writes one structured line per request through log/slog into a
// buffered writer that is flushed at least every second and on Close. Lines
// carry no secrets: no query string, no header values, no token — only the
// verified token's subject. Safe for concurrent use.
type AccessLog struct {
	logger *slog.Logger
	w      *flushingWriter
}

// NewAccessLog writes JSON (json true) or text lines to out.
func NewAccessLog(out io.Writer, json bool) *AccessLog {
	w := newFlushingWriter(out, time.Second)
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, nil)
	} else {
		h = slog.NewTextHandler(w, nil)
	}
	return &AccessLog{logger: slog.New(h), w: w}
}

// Close flushes what is buffered and stops the flusher.
func (a *AccessLog) Close() error { return a.w.Close() }

// log writes r's line.
func (a *AccessLog) log(r *request, bytes int64) {
	bucket, breaker := unroutedLabel, ""
	if r.b != nil {
		bucket = r.b.Name()
		if r.b.BreakerEnabled() {
			breaker = r.b.Snapshot().Breaker.State.String()
		}
	}
	attrs := [...]slog.Attr{
		slog.String("request_id", string(r.rid[:])),
		slog.String("client_ip", r.client.String()),
		slog.String("method", r.method.String()),
		slog.String("bucket", bucket),
		slog.String("key", string(r.key)),
		slog.Int("status", r.status),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(time.Since(r.start).Microseconds())/1000),
		slog.Int("attempts", r.attempts),
		slog.String("breaker", breaker),
		slog.String("subject", r.subject),
		slog.String("reason", r.reason),
	}
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs[:]...)
}

// flushingWriter buffers writes and flushes them every interval and on Close.
type flushingWriter struct {
	mu   sync.Mutex // guards the following field
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newFlushingWriter(out io.Writer, every time.Duration) *flushingWriter {
	f := &flushingWriter{w: bufio.NewWriterSize(out, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go f.loop(every)
	return f
}

func (f *flushingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Write(p)
}

func (f *flushingWriter) loop(every time.Duration) {
	defer close(f.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.flush()
		case <-f.stop:
			f.flush()
			return
		}
	}
}

func (f *flushingWriter) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Flush()
}

// Close flushes and stops; it is safe to call once.
func (f *flushingWriter) Close() error {
	close(f.stop)
	<-f.done
	return nil
}
