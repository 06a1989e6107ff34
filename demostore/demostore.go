// Package demostore runs the embedded demo store: an in-process,
// S3-compatible server on a loopback port (gofakes3 with an in-memory
// backend), seeded with a few objects so `go tool task run` serves a real
// object on a fresh machine. It is for trying the proxy, not for production:
// gofakes3 ignores authentication and several conditional headers.
package demostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Object is one seeded object.
type Object struct {
	Key         string
	ContentType string
	Body        []byte
}

// Seed is what the store holds at start.
func Seed() []Object {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	return []Object{
		{Key: "hello.txt", ContentType: "text/plain; charset=utf-8", Body: []byte("Hello from yatagarasu! This object came from the embedded demo store through the proxy.\n")},
		{Key: "index.html", ContentType: "text/html; charset=utf-8", Body: []byte("<!doctype html><title>yatagarasu</title><h1>yatagarasu demo</h1>\n")},
		{Key: "data/sample.json", ContentType: "application/json", Body: []byte(`{"name":"yatagarasu","kind":"s3 edge proxy"}` + "\n")},
		{Key: "docs/read me.txt", ContentType: "text/plain; charset=utf-8", Body: []byte("A key with a space: request it as /demo/docs/read%20me.txt\n")},
		{Key: "bin/1MiB.bin", ContentType: "application/octet-stream", Body: big},
	}
}

// Store is a running demo store.
type Store struct {
	srv *http.Server
	ln  net.Listener
}

// Start listens on addr (a loopback host:port), creates bucket and seeds it.
func Start(addr, bucket string, log *slog.Logger) (*Store, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("demostore: creating bucket %q: %w", bucket, err)
	}
	modified := time.Now().UTC().Format(http.TimeFormat)
	for _, o := range Seed() {
		meta := map[string]string{"Content-Type": o.ContentType, "Last-Modified": modified}
		if _, err := backend.PutObject(bucket, o.Key, meta, bytes.NewReader(o.Body), int64(len(o.Body)), nil); err != nil {
			return nil, fmt.Errorf("demostore: seeding %q: %w", o.Key, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(slogLogger{log}), gofakes3.WithHostBucket(false))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demostore: %w", err)
	}
	s := &Store{srv: &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo store stopped", "err", err)
		}
	}()
	log.Info("demo store listening", "address", ln.Addr().String(), "bucket", bucket)
	return s, nil
}

// Addr returns the address the store listens on.
func (s *Store) Addr() string { return s.ln.Addr().String() }

// Close stops the store.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// slogLogger sends gofakes3's log lines to slog at debug level.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Print(level gofakes3.LogLevel, v ...any) {
	s.l.Debug(fmt.Sprint(v...), "component", "demostore", "level", string(level))
}
