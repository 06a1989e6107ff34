// Package s3server runs a real S3-compatible server (versitygw, posix
// backend) on a loopback port for integration tests. It finds the binary in
// $VERSITYGW_BIN, on PATH or in the user cache directory, and builds it into
// that cache with `go install` when none is found (a cold build takes minutes;
// later runs and fresh clones reuse it).
package s3server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Module is the versitygw release the tests run against.
const Module = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Credentials of the servers this package starts.
const (
	AccessKey = "YTGTESTACCESSKEY"
	SecretKey = "ytg-test-secret-key-0123456789"
	Region    = "us-east-1"
	// VirtualDomain is the base domain for virtual-hosted addressing:
	// "<bucket>.s3.test:<port>". Nothing resolves it; tests dial Addr directly.
	VirtualDomain = "s3.test"
)

// CacheDir is where a built versitygw is kept: <user cache dir>/yatagarasu/bin.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	return filepath.Join(dir, "yatagarasu", "bin"), nil
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the versitygw to run, building it if needed. Concurrent test
// processes serialise the build with a lock file in the cache directory.
func Binary() (string, error) {
	binaryOnce.Do(func() { binaryPath, binaryErr = findOrBuild() })
	return binaryPath, binaryErr
}

func findOrBuild() (string, error) {
	if p := os.Getenv("VERSITYGW_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("s3server: VERSITYGW_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("s3server: locking the build: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	fmt.Fprintf(os.Stderr, "s3server: building %s into %s (first run only; takes a few minutes)\n", Module, dir)
	cmd := exec.Command("go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Dir = os.TempDir() // outside any module, so our go.mod does not apply
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("s3server: go install %s: %w\n%s", Module, err, out)
	}
	return bin, nil
}

// Server is a running versitygw. Stop and Start may be called from one
// goroutine at a time (tests stop and restart it mid-test).
type Server struct {
	// Addr is host:port; URL is "http://" + Addr.
	Addr, URL string
	// Root is the posix backend's directory: one subdirectory per bucket.
	Root string

	bin string
	log *bytes.Buffer
	cmd *exec.Cmd
}

// Start starts a server on a free loopback port with an empty root. It
// registers Stop with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartProcess(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartProcess starts a server with root as its backend directory, for a
// TestMain that shares one server between tests; the caller must Stop it.
func StartProcess(root string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{Addr: addr, URL: "http://" + addr, Root: root, bin: bin}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start (re)starts the process on the same address and root.
func (s *Server) Start() error {
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin,
		"--port", s.Addr,
		"--access", AccessKey,
		"--secret", SecretKey,
		"--region", Region,
		"--keep-alive",
		"--virtual-domain", VirtualDomain,
		"--quiet",
		"posix", s.Root)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("s3server: starting %s: %w", s.bin, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("s3server: versitygw did not answer on %s within 20s; its output:\n%s", s.Addr, s.log)
}

// Stop kills the process and waits for it. Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Client returns an S3 client for the server (path-style), for test setup.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// CreateBucket creates a bucket, failing tb on error.
func (s *Server) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	_, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		tb.Fatalf("creating bucket %q: %v", name, err)
	}
}

// Put uploads body as key with optional metadata, failing tb on error.
func (s *Server) Put(tb testing.TB, bucket, key string, body []byte, contentType string, meta map[string]string) {
	tb.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.Client().PutObject(context.Background(), in); err != nil {
		tb.Fatalf("putting %s/%s: %v", bucket, key, err)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("s3server: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
