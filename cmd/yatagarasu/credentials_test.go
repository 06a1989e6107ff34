package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"yatagarasu/internal/s3server"
)

// isolateAWSEnv points the default credential chain away from this machine's
// own configuration, so only what the test sets is found.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestDefaultCredentialChain(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3server.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3server.SecretKey)
	toml := fmt.Sprintf(`
[[buckets]]
name = "chain"
path_prefix = "/chain"
[buckets.s3]
bucket = %q
endpoint = %q
force_path_style = true
`, mediaBucket, origin.URL)
	p := startProxy(t, toml, nodeOptions{})
	origin.Put(t, mediaBucket, "chain.txt", []byte("from the chain"), "text/plain", nil)
	resp, body := do(t, "GET", p.url+"/chain/chain.txt")
	if resp.StatusCode != 200 || string(body) != "from the chain" {
		t.Fatalf("GET with default-chain credentials = %d %s", resp.StatusCode, body)
	}
}

func TestBrokenCredentialsIsolateTheirBucket(t *testing.T) {
	isolateAWSEnv(t) // the chain finds nothing
	toml := fmt.Sprintf(`
[[buckets]]
name = "nocreds"
path_prefix = "/nocreds"
[buckets.s3]
bucket = %q
endpoint = %q
force_path_style = true
`, mediaBucket, origin.URL) + bucketTOML("media", "/media", mediaBucket, "")
	p := startProxy(t, toml, nodeOptions{})
	origin.Put(t, mediaBucket, "iso.txt", []byte("isolated"), "text/plain", nil)

	resp, body := do(t, "GET", p.url+"/nocreds/iso.txt")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("bucket without credentials = %d %s, want 503 ServiceUnavailable with Retry-After", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "credential") {
		t.Errorf("the client message leaks the internal reason: %s", body)
	}
	resp, body = do(t, "GET", p.url+"/media/iso.txt")
	if resp.StatusCode != 200 || string(body) != "isolated" {
		t.Fatalf("the healthy bucket = %d %s, want 200", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", p.url+"/ready")
	if resp.StatusCode != 200 {
		t.Fatalf("/ready = %d, want 200: one broken bucket must not take the node out", resp.StatusCode)
	}
	for _, want := range []string{`"status": "degraded"`, `"nocreds": {`, `"state": "not ready"`, `"reason": "credentials: `, `"media": {`, `"state": "ready"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/ready lacks %s:\n%s", want, body)
		}
	}
}

// TestSessionTokensAgainstMinIO uses MinIO, whose STS issues real temporary
// credentials (versitygw only accepts web-identity sessions).
func TestSessionTokensAgainstMinIO(t *testing.T) {
	m := s3server.Start(t, s3server.MinIO)
	m.CreateBucket(t, "tokens")
	m.Put(t, "tokens", "t.txt", []byte("temporary credentials work"), "text/plain", nil)
	creds := m.AssumeRole(t, 15*time.Minute)
	bucket := func(name, extra string) string {
		return fmt.Sprintf(`
[[buckets]]
name = %q
path_prefix = "/%s"
[buckets.s3]
bucket = "tokens"
endpoint = %q
force_path_style = true
%s
`, name, name, m.URL, extra)
	}

	t.Run("static session token", func(t *testing.T) {
		p := startProxy(t, bucket("sts", fmt.Sprintf("access_key = %q\nsecret_key = %q\nsession_token = %q", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/sts/t.txt")
		if resp.StatusCode != 200 || string(body) != "temporary credentials work" {
			t.Fatalf("GET = %d %s", resp.StatusCode, body)
		}
	})
	t.Run("tampered token is refused by S3", func(t *testing.T) {
		// Shows the token is sent and checked: without it, or with another
		// one, S3 refuses the temporary key.
		p := startProxy(t, bucket("bad", fmt.Sprintf("access_key = %q\nsecret_key = %q\nsession_token = %q", creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken+"x")), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/bad/t.txt")
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Fatalf("GET with a tampered token = %d %s, want S3's refusal", resp.StatusCode, body)
		}
	})
	t.Run("default chain with a session token", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
		t.Setenv("AWS_SESSION_TOKEN", creds.SessionToken)
		p := startProxy(t, bucket("env", ""), nodeOptions{})
		resp, body := do(t, "GET", p.url+"/env/t.txt")
		if resp.StatusCode != 200 || string(body) != "temporary credentials work" {
			t.Fatalf("GET = %d %s", resp.StatusCode, body)
		}
	})
	t.Run("304 keeps ETag and Last-Modified", func(t *testing.T) {
		p := startProxy(t, bucket("cond", fmt.Sprintf("access_key = %q\nsecret_key = %q", s3server.AccessKey, s3server.SecretKey)), nodeOptions{})
		head, err := m.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("tokens"), Key: aws.String("t.txt")})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, "GET", p.url+"/cond/t.txt", "If-None-Match: "+aws.ToString(head.ETag))
		if resp.StatusCode != 304 || len(body) != 0 {
			t.Fatalf("If-None-Match = %d %q, want an empty 304", resp.StatusCode, body)
		}
		if resp.Header.Get("Etag") != aws.ToString(head.ETag) || resp.Header.Get("Last-Modified") != head.LastModified.UTC().Format(http.TimeFormat) {
			t.Fatalf("304 ETag %q Last-Modified %q, want %q %q", resp.Header.Get("Etag"), resp.Header.Get("Last-Modified"), aws.ToString(head.ETag), head.LastModified.UTC().Format(http.TimeFormat))
		}
	})
}
