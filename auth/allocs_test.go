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

// TestVerifyCachedTokenAllocs: a client reusing its token costs no
// allocation, whatever the algorithm (the signature check is cached, the
// claims re-checked).
func TestVerifyCachedTokenAllocs(t *testing.T) {
	v := newVerifier(t, hsTOML+`key_prefix_claim = "folder"
[[buckets.auth.claims]]
claim = "role"
operator = "in"
value = ["reader", "admin"]
`)
	r := bearer(hsToken(t, map[string]any{"folder": "alice/", "role": "reader"}))
	r.Key = []byte("alice/x")
	if _, err := v.Verify(r, t0); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(r, t0); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify of a cached token: %v allocations per call, want 0", n)
	}
}
