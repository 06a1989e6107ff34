// Package s3server runs real S3-compatible servers on loopback ports for
// integration tests: versitygw (posix backend), the primary, and MinIO, a
// second opinion for what versitygw does not do (STS session tokens, ETag and
// Last-Modified on 304). It finds a server's binary in its environment
// variable ($VERSITYGW_BIN, $MINIO_BIN), on PATH or in the user cache
// directory, and builds it into that cache with `go install` when none is
// found (a cold build takes minutes; later runs and fresh clones reuse it).
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Kind is one S3 server implementation.
type Kind struct {
	// Name is the binary's name.
	Name string
	// Module is what `go install` builds, pinned.
	Module string
	// EnvVar names the variable that may point at a binary.
	EnvVar string
	// args returns the command line for a server on addr storing in root.
	args func(addr, root string) []string
	// env returns extra environment variables.
	env []string
	// readyPath is requested until it answers.
	readyPath string
}

var (
	// Versitygw is the primary test server (posix backend: a directory per
	// bucket, metadata in xattrs).
	Versitygw = Kind{
		Name:   "versitygw",
		Module: "github.com/versity/versitygw/cmd/versitygw@v1.8.0",
		EnvVar: "VERSITYGW_BIN",
		args: func(addr, root string) []string {
			return []string{"--port", addr, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
				"--keep-alive", "--virtual-domain", VirtualDomain, "--quiet", "posix", root}
		},
		readyPath: "/",
	}
	// MinIO is the second opinion. The pinned pseudo-version is the module
	// proxy's latest on 2026-11-27; MinIO tags releases outside semver.
	MinIO = Kind{
		Name:   "minio",
		Module: "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c",
		EnvVar: "MINIO_BIN",
		args: func(addr, root string) []string {
			return []string{"server", root, "--address", addr, "--quiet"}
		},
		env:       []string{"MINIO_ROOT_USER=" + AccessKey, "MINIO_ROOT_PASSWORD=" + SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off"},
		readyPath: "/minio/health/live",
	}
)

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
	binaryMu    sync.Mutex
	binaryPaths = map[string]string{}
)

// Binary returns the binary of k, building it if needed. Concurrent test
// processes serialise the build with a lock file in the cache directory.
func Binary(k Kind) (string, error) {
	binaryMu.Lock()
	defer binaryMu.Unlock()
	if p, ok := binaryPaths[k.Name]; ok {
		return p, nil
	}
	p, err := findOrBuild(k)
	if err == nil {
		binaryPaths[k.Name] = p
	}
	return p, err
}

func findOrBuild(k Kind) (string, error) {
	if p := os.Getenv(k.EnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("s3server: %s=%s: %w", k.EnvVar, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(k.Name); err == nil {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, k.Name)
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
	fmt.Fprintf(os.Stderr, "s3server: building %s into %s (first run only; takes a few minutes)\n", k.Module, dir)
	cmd := exec.Command("go", "install", k.Module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
	cmd.Dir = os.TempDir() // outside any module, so our go.mod does not apply
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("s3server: go install %s: %w\n%s", k.Module, err, out)
	}
	return bin, nil
}

// Server is a running S3 server. Stop and Start may be called from one
// goroutine at a time (tests stop and restart it mid-test).
type Server struct {
	// Addr is host:port; URL is "http://" + Addr.
	Addr, URL string
	// Root is the posix backend's directory: one subdirectory per bucket.
	Root string

	kind Kind
	bin  string
	log  *bytes.Buffer
	cmd  *exec.Cmd
}

// Start starts a server on a free loopback port with an empty root. It
// registers Stop with tb.Cleanup.
func Start(tb testing.TB, k Kind) *Server {
	tb.Helper()
	s, err := StartProcess(k, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartProcess starts a server with root as its backend directory, for a
// TestMain that shares one server between tests; the caller must Stop it.
func StartProcess(k Kind, root string) (*Server, error) {
	bin, err := Binary(k)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{Addr: addr, URL: "http://" + addr, Root: root, kind: k, bin: bin}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// startupWait is how long a just-started server may take to answer, and
// its STS to come up (AssumeRole).
const startupWait = 30 * time.Second

// Start (re)starts the process on the same address and root.
func (s *Server) Start() error {
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, s.kind.args(s.Addr, s.Root)...)
	s.cmd.Env = append(os.Environ(), s.kind.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("s3server: starting %s: %w", s.bin, err)
	}
	deadline := time.Now().Add(startupWait)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + s.kind.readyPath)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("s3server: %s did not answer on %s within %v; its output:\n%s", s.kind.Name, s.Addr, startupWait, s.log)
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

// AssumeRole asks the server's STS for temporary credentials (MinIO grants
// them to its root user for any role ARN), waiting up to startupWait for an
// STS that is still starting.
func (s *Server) AssumeRole(tb testing.TB, duration time.Duration) aws.Credentials {
	tb.Helper()
	c := sts.New(sts.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/yatagarasu-test"),
		RoleSessionName: aws.String("yatagarasu-test"),
		DurationSeconds: aws.Int32(int32(duration.Seconds())),
	}
	out, err := c.AssumeRole(context.Background(), in)
	// MinIO answers S3 requests before its identity subsystem is up, and
	// STS until then with "Server not initialized, please try again".
	for give := time.Now().Add(startupWait); err != nil && strings.Contains(err.Error(), "Server not initialized") && time.Now().Before(give); {
		time.Sleep(100 * time.Millisecond)
		out, err = c.AssumeRole(context.Background(), in)
	}
	if err != nil {
		tb.Fatalf("AssumeRole on %s: %v", s.kind.Name, err)
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(out.Credentials.Expiration),
	}
}
