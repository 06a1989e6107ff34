//go:build !race

package auth

import "testing"

// TestVerifyMissingTokenAllocs: a request without a token (every request to
// a protected bucket from a client that has not logged in, and every SigV4
// request without a security token) costs no allocation.
func TestVerifyMissingTokenAllocs(t *testing.T) {
	v := newVerifier(t, hsTOML+`
[[buckets.auth.token_sources]]
type = "bearer"
[[buckets.auth.token_sources]]
type = "header"
name = "X-Amz-Security-Token"
[[buckets.auth.token_sources]]
type = "query"
name = "access_token"
`)
	r := request("x-id=GetObject&versionId=3", "alice/x", "Authorization", sigV4)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(r, t0); err != ErrMissingToken {
			t.Fatalf("Verify = %v, want ErrMissingToken", err)
		}
	}); n != 0 {
		t.Errorf("Verify without a token: %v allocations per call, want 0", n)
	}
}
