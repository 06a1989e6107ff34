package buckets

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"yatagarasu/config"
)

// Credential refresh policy.
const (
	// CredentialExpiryWindow: credentials are refreshed this long before they
	// expire, so requests never sign with an expired set.
	CredentialExpiryWindow = 5 * time.Minute
	// credentialRetryMin and credentialRetryMax bound the backoff between
	// failed refreshes (1s, 2s, 4s … 30s).
	credentialRetryMin = time.Second
	credentialRetryMax = 30 * time.Second
)

// PanicError is a panic recovered from a credential provider, returned as an
// error so it does not crash the SDK's background goroutine; the refresher
// re-raises it where its supervisor can see it.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("buckets: credential provider panicked: %v", e.Value)
}

// guardedProvider turns a provider's panic into a *PanicError.
type guardedProvider struct{ p aws.CredentialsProvider }

func (g guardedProvider) Retrieve(ctx context.Context) (c aws.Credentials, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return g.p.Retrieve(ctx)
}

// credentialSource is a bucket's credential provider behind an
// aws.CredentialsCache, which serialises retrievals and never caches a
// failure. The refresher decides when to refresh (CredentialExpiryWindow
// early, see NextCredentialRefresh), so the cache has no expiry window of its
// own: one would also move the Expires it reports earlier, and short-lived
// credentials would look expired on arrival. The default chain is built on
// first use, so a broken environment makes the bucket not ready with a reason
// instead of failing the whole node. Safe for concurrent use.
type credentialSource struct {
	s3 config.S3

	mu    sync.Mutex // guards the following field
	cache *aws.CredentialsCache
}

func newCredentialSource(s3 config.S3, override aws.CredentialsProvider) *credentialSource {
	cs := &credentialSource{s3: s3}
	switch {
	case override != nil:
		cs.cache = newCache(override)
	case s3.AccessKey != "":
		cs.cache = newCache(credentials.NewStaticCredentialsProvider(s3.AccessKey, s3.SecretKey, s3.SessionToken))
	}
	return cs
}

func newCache(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(guardedProvider{p})
}

// retrieve asks the provider for credentials now: the refresher calls it only
// when it has decided that a refresh is due.
func (cs *credentialSource) retrieve(ctx context.Context) (aws.Credentials, error) {
	cs.mu.Lock()
	if cs.cache == nil {
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cs.s3.Region))
		if err != nil {
			cs.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("default credential chain: %w", err)
		}
		if cfg.Credentials == nil {
			cs.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("default credential chain: no credential provider found")
		}
		cs.cache = newCache(cfg.Credentials)
	}
	cache := cs.cache
	cs.mu.Unlock()
	cache.Invalidate()
	return cache.Retrieve(ctx)
}

// NextCredentialRefresh says how long to wait before the next refresh, given
// the last attempt's result and how many attempts in a row have failed. Zero
// means never (static credentials that cannot expire).
func NextCredentialRefresh(now time.Time, c aws.Credentials, err error, failuresInRow int) time.Duration {
	if err != nil {
		d := credentialRetryMin << min(max(failuresInRow-1, 0), 10)
		return min(d, credentialRetryMax)
	}
	if !c.CanExpire {
		return 0
	}
	left := c.Expires.Sub(now)
	d := left - CredentialExpiryWindow
	if d < left/2 {
		// Short-lived credentials: refresh halfway through their life.
		d = left / 2
	}
	return max(d, credentialRetryMin)
}

// Usable reports whether c can still sign a request at now.
func Usable(c aws.Credentials, now time.Time) bool {
	return c.AccessKeyID != "" && (!c.CanExpire || now.Before(c.Expires))
}
