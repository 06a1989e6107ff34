package buckets

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"yatagarasu/config"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNextCredentialRefresh(t *testing.T) {
	errRefresh := errors.New("refresh failed")
	expiring := func(d time.Duration) aws.Credentials {
		return aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", CanExpire: true, Expires: t0.Add(d)}
	}
	static := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	tests := []struct {
		name     string
		creds    aws.Credentials
		err      error
		failures int
		want     time.Duration
	}{
		{"static credentials never", static, nil, 0, 0},
		{"long-lived: 5 minutes before expiry", expiring(time.Hour), nil, 0, 55 * time.Minute},
		{"long-lived: 12 minutes left", expiring(12 * time.Minute), nil, 0, 7 * time.Minute},
		{"10 minutes left: both rules agree", expiring(10 * time.Minute), nil, 0, 5 * time.Minute},
		{"short-lived: half of 8 minutes", expiring(8 * time.Minute), nil, 0, 4 * time.Minute},
		{"short-lived: half of 2 minutes", expiring(2 * time.Minute), nil, 0, time.Minute},
		{"short-lived: half of 3s", expiring(3 * time.Second), nil, 0, 1500 * time.Millisecond},
		{"never below 1s", expiring(time.Second), nil, 0, time.Second},
		{"already expired: 1s", expiring(-time.Minute), nil, 0, time.Second},
		{"expiring now: 1s", expiring(0), nil, 0, time.Second},
		{"error, no count", static, errRefresh, 0, time.Second},
		{"first error", static, errRefresh, 1, time.Second},
		{"second error", static, errRefresh, 2, 2 * time.Second},
		{"third error", static, errRefresh, 3, 4 * time.Second},
		{"fourth error", static, errRefresh, 4, 8 * time.Second},
		{"fifth error", static, errRefresh, 5, 16 * time.Second},
		{"sixth error capped at 30s", static, errRefresh, 6, 30 * time.Second},
		{"many errors capped at 30s", static, errRefresh, 1000, 30 * time.Second},
		{"error with expiring credentials still backs off", expiring(time.Hour), errRefresh, 2, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextCredentialRefresh(t0, tt.creds, tt.err, tt.failures); got != tt.want {
				t.Errorf("NextCredentialRefresh(t0, expires t0%+v, %v, %d) = %v, want %v",
					tt.creds.Expires.Sub(t0), tt.err, tt.failures, got, tt.want)
			}
		})
	}
}

func TestUsable(t *testing.T) {
	tests := []struct {
		name  string
		creds aws.Credentials
		now   time.Time
		want  bool
	}{
		{"static", aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}, t0, true},
		{"no key", aws.Credentials{}, t0, false},
		{"no key but not expired", aws.Credentials{CanExpire: true, Expires: t0.Add(time.Hour)}, t0, false},
		{"before expiry", aws.Credentials{AccessKeyID: "AK", CanExpire: true, Expires: t0.Add(time.Nanosecond)}, t0, true},
		{"at expiry", aws.Credentials{AccessKeyID: "AK", CanExpire: true, Expires: t0}, t0, false},
		{"after expiry", aws.Credentials{AccessKeyID: "AK", CanExpire: true, Expires: t0}, t0.Add(time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Usable(tt.creds, tt.now); got != tt.want {
				t.Errorf("Usable(%+v, %v) = %v, want %v", tt.creds, tt.now, got, tt.want)
			}
		})
	}
}

// TestGuardedProviderPanic runs a panicking provider through the cache, which
// calls it on the SDK's singleflight goroutine: an unrecovered panic there
// would end the test binary, not fail this test.
func TestGuardedProviderPanic(t *testing.T) {
	errValue := errors.New("provider bug")
	tests := []struct {
		name  string
		value any
	}{
		{"string", "boom"},
		{"error", errValue},
		{"runtime error", nil}, // a nil-map write, below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				if tt.value == nil {
					var m map[string]int
					m["x"]++
				}
				panic(tt.value)
			})
			_, err := newCache(p).Retrieve(context.Background())
			var pe *PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("Retrieve() error = %v (%T), want a *PanicError", err, err)
			}
			if tt.value != nil && pe.Value != tt.value {
				t.Errorf("PanicError.Value = %v, want %v", pe.Value, tt.value)
			}
			if !strings.Contains(string(pe.Stack), "credentials_test.go") {
				t.Errorf("PanicError.Stack does not show the panicking provider:\n%s", pe.Stack)
			}
			if want := fmt.Sprintf("buckets: credential provider panicked: %v", pe.Value); pe.Error() != want {
				t.Errorf("PanicError.Error() = %q, want %q", pe.Error(), want)
			}
		})
	}
}

// countingProvider returns creds or err and counts its calls.
type countingProvider struct {
	creds aws.Credentials
	err   error
	calls atomic.Int32
}

func (p *countingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	p.calls.Add(1)
	return p.creds, p.err
}

func newBucketFromTOML(t testing.TB, s3 string, opts Options) *Bucket {
	t.Helper()
	src := "[[buckets]]\nname = \"x\"\npath_prefix = \"/x\"\n[buckets.s3]\nbucket = \"bkt\"\n" + s3
	cfg, err := config.Parse([]byte(src), "test.toml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	b, err := New(cfg.Buckets[0], opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestRefreshCredentials(t *testing.T) {
	const endpoint = "endpoint = \"http://127.0.0.1:9\"\nforce_path_style = true\n"
	tests := []struct {
		name string
		s3   string
		opts Options
		want aws.Credentials
	}{
		{
			name: "static keys from the configuration",
			s3:   endpoint + "access_key = \"AK\"\nsecret_key = \"SK\"\n",
			want: aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", Source: "StaticCredentials"},
		},
		{
			name: "static keys with a session token",
			s3:   endpoint + "access_key = \"AK\"\nsecret_key = \"SK\"\nsession_token = \"TOK\"\n",
			want: aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "TOK", Source: "StaticCredentials"},
		},
		{
			name: "Options.Credentials replaces the configured keys",
			s3:   endpoint + "access_key = \"AK\"\nsecret_key = \"SK\"\n",
			opts: Options{Credentials: &countingProvider{creds: aws.Credentials{AccessKeyID: "OTHER", SecretAccessKey: "S2"}}},
			want: aws.Credentials{AccessKeyID: "OTHER", SecretAccessKey: "S2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucketFromTOML(t, tt.s3, tt.opts)
			got, err := b.RefreshCredentials(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("RefreshCredentials() = %+v, %v; want %+v, nil", got, err, tt.want)
			}
		})
	}
}

// TestRefreshCredentialsDefaultChain builds a bucket without keys, so the SDK's
// default chain is loaded on first use; the environment is its only source.
func TestRefreshCredentialsDefaultChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "ENVAK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ENVSK")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b := newBucketFromTOML(t, "endpoint = \"http://127.0.0.1:9\"\nforce_path_style = true\n", Options{})
	got, err := b.RefreshCredentials(context.Background())
	if err != nil || got.AccessKeyID != "ENVAK" || got.SecretAccessKey != "ENVSK" {
		t.Errorf("RefreshCredentials() = %q/%q, %v; want ENVAK/ENVSK, nil", got.AccessKeyID, got.SecretAccessKey, err)
	}
}

func TestRefreshCredentialsPanickingProvider(t *testing.T) {
	p := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { panic("provider bug") })
	b := newBucketFromTOML(t, "endpoint = \"http://127.0.0.1:9\"\nforce_path_style = true\n", Options{Credentials: p})
	_, err := b.RefreshCredentials(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "provider bug" {
		t.Errorf("RefreshCredentials() error = %v, want a *PanicError holding \"provider bug\"", err)
	}
}

// TestRefreshCredentialsFailuresNotCached checks that a failed retrieval is
// retried on the next call rather than served from the cache.
func TestRefreshCredentialsFailuresNotCached(t *testing.T) {
	p := &countingProvider{err: errors.New("sts down")}
	b := newBucketFromTOML(t, "endpoint = \"http://127.0.0.1:9\"\nforce_path_style = true\n", Options{Credentials: p})
	for i := 0; i < 2; i++ {
		if _, err := b.RefreshCredentials(context.Background()); err == nil {
			t.Fatalf("call %d: RefreshCredentials() error = nil, want the provider's error", i)
		}
	}
	if got := p.calls.Load(); got != 2 {
		t.Errorf("provider called %d times for 2 failed refreshes, want 2", got)
	}
}
