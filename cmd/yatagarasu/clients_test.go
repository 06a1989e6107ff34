package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// listingBucket is an entry with allow_list on, in front of the shared origin.
func listingBucket(name, bucket string) string {
	return strings.Replace(bucketTOML(name, "/"+name, bucket, ""), "[buckets.s3]\n", "allow_list = true\n[buckets.s3]\n", 1)
}

// listResult is the part of a ListObjectsV2 answer the tests compare.
type listResult struct {
	Name     string   `xml:"Name"`
	Keys     []string `xml:"Contents>Key"`
	Prefixes []string `xml:"CommonPrefixes>Prefix"`
}

func TestBucketLevelRequests(t *testing.T) {
	p := startProxy(t, listingBucket("lst", otherBucket)+bucketTOML("nolist", "/nolist", otherBucket, ""), nodeOptions{})
	for _, k := range []string{"list/a.txt", "list/b.txt", "list/sub/c.txt", "list/with space.txt", "list/new\nline.txt"} {
		origin.Put(t, otherBucket, k, []byte(k), "text/plain", nil)
	}
	t.Run("ListObjectsV2 passes S3's answer through", func(t *testing.T) {
		for _, path := range []string{"/lst?list-type=2&prefix=list%2F&delimiter=%2F", "/lst/?list-type=2&prefix=list%2F&delimiter=%2F"} {
			resp, body := do(t, "GET", p.url+path)
			var got listResult
			if err := xml.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s (%v)", path, resp.StatusCode, body, err)
			}
			if got.Name != otherBucket || len(got.Prefixes) != 1 || got.Prefixes[0] != "list/sub/" || len(got.Keys) != 4 {
				t.Fatalf("GET %s: %+v", path, got)
			}
		}
	})
	t.Run("the query is forwarded as sent", func(t *testing.T) {
		cases := []struct {
			name, query string
			status      int
			check       func(listResult) bool
		}{
			{"empty values", "list-type=2&prefix=&delimiter=", 200, func(r listResult) bool { return len(r.Keys) >= 5 }},
			{"encoded newline in a prefix", "list-type=2&prefix=list%2Fnew%0A", 200, func(r listResult) bool { return len(r.Keys) == 1 && r.Keys[0] == "list/new\nline.txt" }},
			{"max-keys and start-after", "list-type=2&prefix=list%2F&max-keys=1&start-after=list%2Fa.txt", 200, func(r listResult) bool { return len(r.Keys) == 1 && r.Keys[0] == "list/b.txt" }},
			{"v1 with marker", "prefix=list%2F&marker=list%2Fb.txt", 200, func(r listResult) bool { return len(r.Keys) >= 1 && r.Keys[0] > "list/b.txt" }},
			{"a bad max-keys is S3's to refuse", "list-type=2&max-keys=banana", 400, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := do(t, "GET", p.url+"/lst?"+tc.query)
				if resp.StatusCode != tc.status {
					t.Fatalf("?%s = %d %s, want %d", tc.query, resp.StatusCode, body, tc.status)
				}
				if tc.check != nil {
					var got listResult
					_ = xml.Unmarshal(body, &got)
					if !tc.check(got) {
						t.Fatalf("?%s: %+v", tc.query, got)
					}
				}
			})
		}
	})
	t.Run("continuation tokens round-trip", func(t *testing.T) {
		_, body := do(t, "GET", p.url+"/lst?list-type=2&prefix=list%2F&max-keys=2")
		var page struct {
			Token string `xml:"NextContinuationToken"`
		}
		_ = xml.Unmarshal(body, &page)
		if page.Token == "" {
			t.Fatalf("no continuation token in %s", body)
		}
		resp, body := do(t, "GET", p.url+"/lst?list-type=2&prefix=list%2F&max-keys=2&continuation-token="+escapeQuery(page.Token))
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<Key>list/new") {
			t.Fatalf("page 2: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("listing off is 403, not 404", func(t *testing.T) {
		resp, body := do(t, "GET", p.url+"/nolist?list-type=2")
		if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("HeadBucket and location are always answered", func(t *testing.T) {
		for _, path := range []string{"/nolist", "/lst"} {
			if resp, body := do(t, "HEAD", p.url+path); resp.StatusCode != 200 || len(body) != 0 {
				t.Fatalf("HEAD %s = %d", path, resp.StatusCode)
			}
			resp, body := do(t, "GET", p.url+path+"?location")
			if resp.StatusCode != 200 || !strings.Contains(string(body), "LocationConstraint") {
				t.Fatalf("GET %s?location = %d %s", path, resp.StatusCode, body)
			}
		}
	})
	t.Run("other sub-resources are refused with a reason", func(t *testing.T) {
		for _, target := range []string{"/lst?acl", "/lst?policy", "/lst?cors", "/lst?versions", "/lst/list/a.txt?acl", "/lst/list/a.txt?tagging"} {
			resp, body := do(t, "GET", p.url+target)
			if resp.StatusCode != 403 || !strings.Contains(string(body), "is not available through this read-only proxy") {
				t.Fatalf("GET %s = %d %s", target, resp.StatusCode, body)
			}
		}
	})
}

func escapeQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestPassThroughRule(t *testing.T) {
	rule := fmt.Sprintf(`
[[buckets]]
name = "any"
path_prefix = "/"
allowed_buckets = ["ytg-m*", "ytg-data"]
max_dynamic_buckets = 2
allow_list = true
[buckets.s3]
bucket = "*"
endpoint = %q
force_path_style = true
access_key = %q
secret_key = %q
`, origin.URL, "YTGTESTACCESSKEY", "ytg-test-secret-key-0123456789")
	p := startProxy(t, bucketTOML("explicit", "/ytg-other", mediaBucket, "")+rule, nodeOptions{})
	origin.Put(t, mediaBucket, "pt/obj.txt", []byte("from media"), "text/plain", nil)
	origin.Put(t, dataBucket, "pt/obj.txt", []byte("from data"), "text/plain", nil)
	origin.Put(t, otherBucket, "pt/obj.txt", []byte("from other"), "text/plain", nil)

	cases := []struct {
		name, path string
		status     int
		body       string
	}{
		{"allowed by a glob", "/ytg-media/pt/obj.txt", 200, "from media"},
		{"allowed by name", "/ytg-data/pt/obj.txt", 200, "from data"},
		{"an explicit prefix wins", "/ytg-other/pt/obj.txt", 200, "from media"}, // the explicit entry maps /ytg-other to the media bucket
		{"not allowed", "/private-bucket/pt/obj.txt", 403, ""},
		{"an invalid name", "/a%2Cb/x", 403, ""},
		{"built-ins still win", "/health", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", p.url+tc.path)
			if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
				t.Fatalf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
	t.Run("HeadBucket of an allowed but missing bucket is 404 without a body", func(t *testing.T) {
		resp, body := do(t, "HEAD", p.url+"/ytg-missing")
		if resp.StatusCode != 404 || len(body) != 0 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("each real bucket has its own series, and the bound evicts the least recently used", func(t *testing.T) {
		// So far: ytg-media, ytg-data, then ytg-missing (HeadBucket), with at
		// most 2 kept: ytg-media, the least recently used, went.
		m := metricsOf(t, p)
		if strings.Contains(m, `bucket="ytg-media"`) || !strings.Contains(m, `http_requests_total{bucket="ytg-data",method="GET",status="200"} 1`) ||
			!strings.Contains(m, `http_requests_total{bucket="ytg-missing",method="HEAD",status="404"} 1`) {
			t.Fatalf("after three buckets with max_dynamic_buckets = 2, want ytg-data and ytg-missing only:\n%s", grepLines(m, "http_requests_total{bucket=\"ytg-"))
		}
		time.Sleep(5 * time.Millisecond)
		do(t, "GET", p.url+"/ytg-data/pt/obj.txt") // ytg-missing is now the least recently used
		if resp, body := do(t, "GET", p.url+"/ytg-media/pt/obj.txt"); resp.StatusCode != 200 || string(body) != "from media" {
			t.Fatalf("ytg-media again: %d %s", resp.StatusCode, body)
		}
		m = metricsOf(t, p)
		if strings.Contains(m, `bucket="ytg-missing"`) || !strings.Contains(m, `http_requests_total{bucket="ytg-media",method="GET",status="200"} 1`) {
			t.Fatalf("want ytg-missing evicted and ytg-media back with fresh series:\n%s", grepLines(m, "http_requests_total{bucket=\"ytg-"))
		}
	})
}

func TestPassThroughBreakerIsolation(t *testing.T) {
	down := startFaultOrigin(t, func(n int64, c net.Conn) bool { return reply(c, 503, "", "down") })
	rule := fmt.Sprintf(`
[[buckets]]
name = "any"
path_prefix = "/"
allowed_buckets = ["b-*"]
[buckets.s3]
bucket = "*"
endpoint = "http://%s"
force_path_style = true
access_key = "AK"
secret_key = "SK"
[buckets.s3.retry]
max_attempts = 1
[buckets.s3.circuit_breaker]
failure_threshold = 2
timeout = "1h"
`, down.addr)
	p := startProxy(t, rule, nodeOptions{})
	for range 3 {
		do(t, "GET", p.url+"/b-one/k")
	}
	eventuallyT(t, "b-one's breaker open", func() bool {
		return strings.Contains(metricsOf(t, p), `circuit_breaker_state{bucket="b-one"} 1`)
	})
	hits := down.hits.Load()
	if resp, _ := do(t, "GET", p.url+"/b-two/k"); resp.StatusCode != 503 || down.hits.Load() != hits+1 {
		t.Fatalf("b-two: %d with %d origin hits; want S3's own 503 after one attempt: its breaker is its own", resp.StatusCode, down.hits.Load()-hits)
	}
}

// rcloneCannotAddress and s3cmdCannotAddress are the key-table rows the
// client itself cannot name (its own path handling, not the proxy's), with
// the reason; every other row is replayed through it.
var (
	rcloneCannotAddress = map[string]string{
		"trailing slash": "rclone treats a name ending in / as a directory: cat prints the objects under it",
	}
	s3cmdCannotAddress = map[string]string{
		"trailing slash": "s3cmd get refuses a URI ending in / (\"Expecting S3 URI with a filename or --recursive\")",
		"question mark":  "s3cmd get expands ? as a wildcard: a?b.txt also names a+b.txt, a:b.txt, a@b.txt ...",
	}
)

// clientEnv prepares the real clients' configuration files in dir.
type clientEnv struct {
	dir, url string
}

func (c clientEnv) aws(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := requireClient(t, "aws")
	cfg := c.file(t, "aws-config", "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n")
	cmd := exec.Command(bin, append([]string{"--endpoint-url", c.url}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.dir, "none"),
		"AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy", "AWS_EC2_METADATA_DISABLED=true")
	return runClient(t, cmd)
}

func (c clientEnv) rclone(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := requireClient(t, "rclone")
	conf := c.file(t, "rclone.conf", fmt.Sprintf("[y]\ntype = s3\nprovider = Other\nenv_auth = false\naccess_key_id = dummy\nsecret_access_key = dummy\nendpoint = %s\nforce_path_style = true\n", c.url))
	cmd := exec.Command(bin, append([]string{"--config", conf}, args...)...)
	cmd.Env = withoutEnv(os.Environ(), "AWS_CA_BUNDLE")
	return runClient(t, cmd)
}

func (c clientEnv) s3cmd(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := requireClient(t, "s3cmd")
	host := strings.TrimPrefix(c.url, "http://")
	conf := c.file(t, "s3cfg", fmt.Sprintf("[default]\naccess_key = dummy\nsecret_key = dummy\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n", host, host))
	return runClient(t, exec.Command(bin, append([]string{"-c", conf}, args...)...))
}

// file writes a client's configuration file into the env's folder and
// returns its path.
func (c clientEnv) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runClient runs a client command and returns its combined output, failing t
// with that output when the command fails.
func runClient(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(cmd.Path), cmd.Args[1:], err, out)
	}
	return out
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func sameSHA(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("%s: %d bytes differ from the object's %d", path, len(got), len(want))
	}
}

// TestRealClients drives the aws CLI, rclone, s3cmd and minio-go through the
// proxy against the real S3 server, comparing bytes.
func TestRealClients(t *testing.T) {
	p := startProxy(t, listingBucket("cli", dataBucket), nodeOptions{})
	big := make([]byte, 20<<20+77)
	for i := range big {
		big[i] = byte(i*31 + i>>10)
	}
	origin.Put(t, dataBucket, "clients/big.bin", big, "application/octet-stream", nil)
	origin.Put(t, dataBucket, "clients/small.txt", []byte("0123456789abcdef"), "text/plain", nil)
	for _, k := range keyTable {
		body := []byte("client " + k.key)
		if strings.HasSuffix(k.key, "/") {
			body = nil
		}
		origin.Put(t, dataBucket, "clients/"+k.key, body, "application/octet-stream", nil)
	}
	c := clientEnv{dir: t.TempDir(), url: p.url}

	t.Run("aws s3api get-object --range", func(t *testing.T) {
		out := filepath.Join(c.dir, "range.bin")
		c.aws(t, "s3api", "get-object", "--bucket", "cli", "--key", "clients/big.bin", "--range", "bytes=1000-1999", out)
		sameSHA(t, out, big[1000:2000])
	})
	t.Run("aws s3api head-object", func(t *testing.T) {
		out := c.aws(t, "s3api", "head-object", "--bucket", "cli", "--key", "clients/big.bin")
		if !strings.Contains(string(out), fmt.Sprintf(`"ContentLength": %d`, len(big))) {
			t.Fatalf("head-object: %s", out)
		}
	})
	t.Run("aws s3 cp of 20 MiB (HEAD, then parallel ranged GETs with If-Match)", func(t *testing.T) {
		out := filepath.Join(c.dir, "big.bin")
		c.aws(t, "s3", "cp", "s3://cli/clients/big.bin", out)
		sameSHA(t, out, big)
	})
	t.Run("aws s3 ls", func(t *testing.T) {
		out := c.aws(t, "s3", "ls", "s3://cli/clients/")
		if !strings.Contains(string(out), "big.bin") || !strings.Contains(string(out), "small.txt") {
			t.Fatalf("s3 ls: %s", out)
		}
	})
	t.Run("aws CLI over the key table", func(t *testing.T) {
		for _, k := range keyTable {
			out := filepath.Join(c.dir, "key.out")
			c.aws(t, "s3api", "get-object", "--bucket", "cli", "--key", "clients/"+k.key, out)
			want := []byte("client " + k.key)
			if strings.HasSuffix(k.key, "/") {
				want = nil
			}
			sameSHA(t, out, want)
		}
	})
	t.Run("rclone copyto", func(t *testing.T) {
		out := filepath.Join(c.dir, "rclone.bin")
		c.rclone(t, "copyto", "y:cli/clients/big.bin", out)
		sameSHA(t, out, big)
	})
	t.Run("rclone cat --offset --count", func(t *testing.T) {
		got := c.rclone(t, "cat", "--offset", "4", "--count", "6", "y:cli/clients/small.txt")
		if string(got) != "456789" {
			t.Fatalf("rclone cat = %q", got)
		}
	})
	t.Run("rclone lsl", func(t *testing.T) {
		out := c.rclone(t, "lsl", "y:cli/clients/")
		if !strings.Contains(string(out), fmt.Sprintf("%d", len(big))) || !strings.Contains(string(out), "big.bin") {
			t.Fatalf("rclone lsl: %s", out)
		}
	})
	t.Run("rclone over the key table", func(t *testing.T) {
		for _, k := range keyTable {
			if why, ok := rcloneCannotAddress[k.name]; ok {
				t.Logf("rclone: %s key %q not replayed: %s", k.name, k.key, why)
				continue
			}
			got := c.rclone(t, "cat", "y:cli/clients/"+k.key)
			if want := "client " + k.key; string(got) != want {
				t.Errorf("rclone cat %q = %q, want %q", k.key, got, want)
			}
		}
	})
	t.Run("s3cmd over the key table", func(t *testing.T) {
		for _, k := range keyTable {
			if why, ok := s3cmdCannotAddress[k.name]; ok {
				t.Logf("s3cmd: %s key %q not replayed: %s", k.name, k.key, why)
				continue
			}
			out := filepath.Join(c.dir, "s3cmd-key.out")
			c.s3cmd(t, "get", "--force", "s3://cli/clients/"+k.key, out)
			want := []byte("client " + k.key)
			if strings.HasSuffix(k.key, "/") {
				want = nil
			}
			sameSHA(t, out, want)
		}
	})
	t.Run("s3cmd get", func(t *testing.T) {
		out := filepath.Join(c.dir, "s3cmd.bin")
		c.s3cmd(t, "get", "--force", "s3://cli/clients/big.bin", out)
		sameSHA(t, out, big)
	})
	t.Run("s3cmd ls", func(t *testing.T) {
		out := c.s3cmd(t, "ls", "s3://cli/clients/")
		if !strings.Contains(string(out), "s3://cli/clients/big.bin") {
			t.Fatalf("s3cmd ls: %s", out)
		}
	})
	t.Run("minio-go", func(t *testing.T) {
		mc, err := minio.New(strings.TrimPrefix(p.url, "http://"), &minio.Options{
			Creds: credentials.NewStaticV4("dummy", "dummy", ""), Secure: false, Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		info, err := mc.StatObject(ctx, "cli", "clients/big.bin", minio.StatObjectOptions{})
		if err != nil || info.Size != int64(len(big)) {
			t.Fatalf("StatObject = %+v, %v", info, err)
		}
		opts := minio.GetObjectOptions{}
		_ = opts.SetRange(100, 199)
		obj, err := mc.GetObject(ctx, "cli", "clients/big.bin", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, big[100:200]) {
			t.Fatalf("GetObject with SetRange: %d bytes, %v", len(got), err)
		}
		var keys []string
		for o := range mc.ListObjects(ctx, "cli", minio.ListObjectsOptions{Prefix: "clients/key table/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, strings.TrimPrefix(o.Key, "clients/"))
		}
		sort.Strings(keys)
		if len(keys) < 10 {
			t.Fatalf("ListObjects: %v", keys)
		}
		for _, k := range keyTable {
			obj, err := mc.GetObject(ctx, "cli", "clients/"+k.key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			want := "client " + k.key
			if strings.HasSuffix(k.key, "/") {
				want = ""
			}
			if err != nil || string(got) != want {
				t.Fatalf("minio-go GetObject %q = %q, %v", k.key, got, err)
			}
		}
	})
}
