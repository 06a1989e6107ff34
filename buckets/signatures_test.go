package buckets

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"
)

// signGET signs a GET of path with an optional Range and returns its
// Authorization.
func signGET(s *sigV4, path, rng string, creds aws.Credentials, at time.Time) (string, error) {
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if err := s.sign(&req, "s3.eu-west-1.amazonaws.com", []byte(path), nil, creds, at); err != nil {
		return "", err
	}
	return string(req.Header.Peek("Authorization")), nil
}

func signOnce(t testing.TB, s *sigV4, path, rng string, creds aws.Credentials, at time.Time) string {
	t.Helper()
	auth, err := signGET(s, path, rng, creds, at)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return auth
}

// TestSignaturesAnswerOnlyTheSameInput plants a marked entry in the slot of
// a signing, so that a signing answered from the table shows, and checks
// that only the same canonical request under the same derived key gets it.
func TestSignaturesAnswerOnlyTheSameInput(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	at := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	s := newSigV4("eu-west-1")
	s.recent = newSignatures() // a table of its own, to find its entry in
	want := signOnce(t, s, "/bkt/a", "bytes=0-9", creds, at)
	if got := signOnce(t, newSigV4("eu-west-1"), "/bkt/a", "bytes=0-9", creds, at); got != want {
		t.Fatalf("a fresh signer signs %q, want %q", got, want)
	}

	// Mark the remembered entry: same key, canonical request and second,
	// another Authorization.
	var marked *signature
	for i := range s.recent.slots {
		if e := s.recent.slots[i].Load(); e != nil {
			if marked != nil {
				t.Fatal("one signing remembered twice")
			}
			const mark = "MARKED"
			buf := append(append([]byte(nil), e.canon()...), mark...)
			marked = &signature{keyID: e.keyID, stamp: e.stamp, split: e.split, buf: buf}
			s.recent.slots[i].Store(marked)
		}
	}
	if marked == nil {
		t.Fatal("the signing was not remembered")
	}
	if got := signOnce(t, s, "/bkt/a", "bytes=0-9", creds, at); got != "MARKED" {
		t.Fatalf("the same request again: %q, want the remembered MARKED", got)
	}

	other := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK2"}
	for _, tt := range []struct {
		name, path, rng string
		creds           aws.Credentials
		at              time.Time
	}{
		{"another range", "/bkt/a", "bytes=0-10", creds, at},
		{"no range", "/bkt/a", "", creds, at},
		{"another key", "/bkt/b", "bytes=0-9", creds, at},
		{"another secret, same second", "/bkt/a", "bytes=0-9", other, at},
		{"another second", "/bkt/a", "bytes=0-9", creds, at.Add(time.Second)},
		{"another day, same clock", "/bkt/a", "bytes=0-9", creds, at.Add(24 * time.Hour)},
	} {
		got := signOnce(t, s, tt.path, tt.rng, tt.creds, tt.at)
		if got == "MARKED" {
			t.Errorf("%s: answered with the remembered signature of another input", tt.name)
		}
		if fresh := signOnce(t, newSigV4("eu-west-1"), tt.path, tt.rng, tt.creds, tt.at); got != fresh {
			t.Errorf("%s: %q, a fresh signer signs %q", tt.name, got, fresh)
		}
	}
}

// TestSignaturesSlotTakenOverNextSecond: an entry keeps its slot for its
// second and gives it up to the first signing of a later second.
func TestSignaturesSlotTakenOverNextSecond(t *testing.T) {
	s := newSignatures()
	const k = 1
	slot := &s.slots[0]
	at := func(sec byte) [16]byte { return [16]byte{15: sec} }
	s.remember(slot, k, at(1), []byte("canon-a"), []byte("auth-a"))
	s.remember(slot, k, at(1), []byte("canon-b"), []byte("auth-b"))
	if e := slot.Load(); string(e.canon()) != "canon-a" || string(e.auth()) != "auth-a" {
		t.Fatalf("within its second the entry is %q/%q, want canon-a/auth-a", e.canon(), e.auth())
	}
	s.remember(slot, k, at(2), []byte("canon-b"), []byte("auth-b"))
	if e := slot.Load(); string(e.canon()) != "canon-b" || string(e.auth()) != "auth-b" {
		t.Fatalf("a second later the entry is %q/%q, want canon-b/auth-b", e.canon(), e.auth())
	}
	long := []byte(strings.Repeat("x", maxRememberedCanon+1))
	s.remember(slot, k, at(3), long, []byte("auth-long"))
	if e := slot.Load(); string(e.auth()) != "auth-b" {
		t.Fatalf("a canonical request over %d bytes was remembered", maxRememberedCanon)
	}
}

// TestSignaturesConcurrent signs a few requests from many goroutines across
// a change of second and of credentials, each result checked against a
// fresh signer's (run with -race).
func TestSignaturesConcurrent(t *testing.T) {
	base := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	credsList := []aws.Credentials{
		{AccessKeyID: "AK", SecretAccessKey: "SK"},
		{AccessKeyID: "AK", SecretAccessKey: "SK-rotated"},
	}
	type input struct {
		path, rng string
		creds     int
		sec       int
	}
	var inputs []input
	want := map[input]string{}
	for i := range 4 {
		for sec := range 3 {
			for c := range credsList {
				in := input{path: fmt.Sprintf("/bkt/obj-%d", i), rng: fmt.Sprintf("bytes=0-%d", i), creds: c, sec: sec}
				inputs = append(inputs, in)
				want[in] = signOnce(t, newSigV4("eu-west-1"), in.path, in.rng, credsList[c], base.Add(time.Duration(sec)*time.Second))
			}
		}
	}
	s := newSigV4("eu-west-1")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 2000 {
				in := inputs[(n*7+g)%len(inputs)]
				got, err := signGET(s, in.path, in.rng, credsList[in.creds], base.Add(time.Duration(in.sec)*time.Second))
				if err != nil || got != want[in] {
					select {
					case errs <- fmt.Sprintf("%+v: %q (%v), want %q", in, got, err, want[in]):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestSignaturesSharedAcrossSigners: every bucket's signer uses the one
// table, and two signers whose requests have the same canonical request but
// different derived keys (here: regions) never answer for each other.
func TestSignaturesSharedAcrossSigners(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	at := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	isolated := func(region string) *sigV4 {
		s := newSigV4(region)
		s.recent = newSignatures()
		return s
	}
	wantEU := signOnce(t, isolated("eu-west-1"), "/bkt/shared", "", creds, at)
	wantUS := signOnce(t, isolated("us-east-1"), "/bkt/shared", "", creds, at)
	if wantEU == wantUS {
		t.Fatal("the two regions sign alike: the test would prove nothing")
	}
	eu, us := newSigV4("eu-west-1"), newSigV4("us-east-1")
	if eu.recent != us.recent || eu.recent != sharedSignatures {
		t.Fatal("the signers do not share the process's table")
	}
	for round := range 3 {
		if got := signOnce(t, eu, "/bkt/shared", "", creds, at); got != wantEU {
			t.Fatalf("round %d, eu-west-1: %q, want %q", round, got, wantEU)
		}
		if got := signOnce(t, us, "/bkt/shared", "", creds, at); got != wantUS {
			t.Fatalf("round %d, us-east-1: %q, want %q", round, got, wantUS)
		}
	}
}
