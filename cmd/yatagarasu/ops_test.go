package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestValidateFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte(bucketTOML("media", "/media", mediaBucket, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("[server]\nport = 8080\n"+bucketTOML("media", "/media", mediaBucket, `timeout = 20`)), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantErrOut string
	}{
		{"valid", []string{"-validate", "-config", good}, 0, "valid (1 buckets)", ""},
		{"invalid names file, line, key and reason", []string{"-validate", "-config", bad}, 1, "", bad + ":14: buckets.s3.timeout: durations are strings"},
		{"missing file", []string{"-validate", "-config", filepath.Join(dir, "nope.toml")}, 1, "", "nope.toml: no such file"},
		{"bad flag", []string{"-nonsense"}, 2, "", "flag provided but not defined"},
		{"version", []string{"-version"}, 0, "dev", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.wantOut) || !strings.Contains(errOut.String(), tc.wantErrOut) {
				t.Fatalf("run(%v) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.wantOut, tc.wantErrOut)
			}
		})
	}
}

// flakyProvider hands out short-lived credentials and panics on the calls
// listed in panicOn: a credential provider with a bug.
type flakyProvider struct {
	calls   atomic.Int64
	panicOn map[int64]bool
}

func (p *flakyProvider) Retrieve(context.Context) (aws.Credentials, error) {
	n := p.calls.Add(1)
	if p.panicOn[n] {
		panic("credential provider bug on call " + string(rune('0'+n)))
	}
	return aws.Credentials{
		AccessKeyID: "YTGTESTACCESSKEY", SecretAccessKey: "ytg-test-secret-key-0123456789",
		CanExpire: true, Expires: time.Now().Add(3 * time.Second),
	}, nil
}

// TestChildPanicRestartsWhileServing panics the media bucket's credential
// refresher while requests flow to it and to another bucket: the child is
// restarted, no request fails, the other bucket never notices.
func TestChildPanicRestartsWhileServing(t *testing.T) {
	prov := &flakyProvider{panicOn: map[int64]bool{2: true}}
	toml := bucketTOML("media", "/media", mediaBucket, "") + bucketTOML("data", "/data", dataBucket, "")
	p := startProxy(t, toml, nodeOptions{credentials: map[string]aws.CredentialsProvider{"media": prov}})
	origin.Put(t, mediaBucket, "flow.txt", []byte("flowing"), "text/plain", nil)
	origin.Put(t, dataBucket, "flow.txt", []byte("flowing"), "text/plain", nil)

	// Credentials valid for 3s are refreshed after 1.5s: that second call
	// panics, and the restarted refresher's first call succeeds.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, prefix := range []string{"/media", "/data"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(p.url + prefix + "/flow.txt")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for prov.calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if prov.calls.Load() < 3 {
		t.Fatalf("the provider was called %d times; want the panicking call and the restarted one", prov.calls.Load())
	}
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed, %d succeeded while the child restarted; want none failed", failed.Load(), ok.Load())
	}
	_, body := do(t, "GET", p.url+"/metrics")
	if !strings.Contains(string(body), `actor_restarts_total{bucket="media",child="credentials"} 1`) {
		t.Errorf("metrics lack the restart:\n%s", grepLines(string(body), "actor_restarts"))
	}
	if strings.Contains(string(body), `actor_restarts_total{bucket="data"`) {
		t.Error("the data bucket's children restarted too")
	}
	if s := p.buckets()[0].Snapshot(); s.State.String() != "ready" {
		t.Errorf("media after the restart: %v (%s)", s.State, s.Reason)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRealClientsDownloadThroughProxy(t *testing.T) {
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	body := bytes.Repeat([]byte("yatagarasu "), 100_000)
	origin.Put(t, mediaBucket, "clients/big.txt", body, "text/plain", nil)
	dir := t.TempDir()

	t.Run("aws cli", func(t *testing.T) {
		aws := requireClient(t, "aws")
		cfg := filepath.Join(dir, "aws-config")
		if err := os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "aws.out")
		cmd := exec.Command(aws, "s3api", "get-object", "--endpoint-url", p.url, "--no-sign-request", "--bucket", "media", "--key", "clients/big.txt", out)
		cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aws s3api get-object: %v\n%s", err, msg)
		}
		sameFile(t, out, body)
	})
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the object's %d", path, len(got), len(want))
	}
}
