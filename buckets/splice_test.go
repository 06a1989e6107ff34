package buckets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/internal/tcppair"
)

// randomBody is n reproducible bytes.
func randomBody(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fetchArmed starts a GET of key through b, with a stream idle time of 300ms,
// and returns the armed body.
func fetchArmed(t *testing.T, b *Bucket, key string) (*Body, *fasthttp.Response) {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseResponse(resp) })
	body := new(Body)
	in := inbound(t, "GET", key, "")
	in.StreamIdle = 300 * time.Millisecond
	if err := b.Fetch(in, resp, body, t0); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !body.Active() {
		t.Fatal("no body armed")
	}
	return body, resp
}

// readerIdle is the client-side idle time of splices whose reader keeps
// reading: generous, since a machine busy with other test packages (and
// the race detector) can starve the reading goroutine for a second; a
// stalled client is TestSpliceToClientStops's case.
const readerIdle = 10 * time.Second

// TestSpliceToMovesExactBytes: bodies of several sizes reach the client byte
// for byte through the kernel, Len counts them, and the upstream connection
// goes back to the pool for the next request.
func TestSpliceToMovesExactBytes(t *testing.T) {
	sizes := []int{spliceMin, 1 << 20, 3<<20 + 12345, 17 << 20}
	objects := map[string][]byte{}
	for _, n := range sizes {
		objects[fmt.Sprint(n)] = randomBody(n)
	}
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBody(objects[string(ctx.Path()[len("/bkt/"):])])
	})
	b := newUpstreamBucket(t, o.addr, "")
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			body, _ := fetchArmed(t, b, fmt.Sprint(n))
			client, proxySide := tcppair.New(t)
			got := make(chan []byte, 1)
			go func() {
				data, _ := io.ReadAll(client)
				got <- data
			}()
			written, werr, handled := body.SpliceTo(proxySide, readerIdle)
			if !handled || werr != nil || body.Err() != nil {
				t.Fatalf("SpliceTo = %d, %v, handled %v; body err %v", written, werr, handled, body.Err())
			}
			proxySide.Close()
			data := <-got
			if written != int64(n) || body.Len() != int64(n) || sha256.Sum256(data) != sha256.Sum256(objects[fmt.Sprint(n)]) {
				t.Fatalf("written %d, Len %d, client got %d bytes (same: %v); want %d", written, body.Len(), len(data),
					bytes.Equal(data, objects[fmt.Sprint(n)]), n)
			}
			body.Finish()
			if open, busy := b.PoolStats(); open != 1 || busy != 0 {
				t.Errorf("pool after a clean splice: %d open, %d busy; want the one connection idle", open, busy)
			}
		})
	}
	if got := o.accepted.Load(); got != 1 {
		t.Errorf("origin accepted %d connections for %d requests, want 1 (reused)", got, len(sizes))
	}
}

// TestSpliceToDeclines: what splice cannot serve is left to the copy loop,
// untouched.
func TestSpliceToDeclines(t *testing.T) {
	small := randomBody(spliceMin - 1)
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/bkt/chunked" {
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				w.Write(randomBody(1 << 20))
			})
			return
		}
		ctx.SetBody(small)
	})
	b := newUpstreamBucket(t, o.addr, "")
	for _, key := range []string{"small", "chunked"} {
		t.Run(key, func(t *testing.T) {
			body, _ := fetchArmed(t, b, key)
			defer body.Finish()
			_, proxySide := tcppair.New(t)
			if n, err, handled := body.SpliceTo(proxySide, time.Second); handled || n != 0 || err != nil || body.Len() != 0 {
				t.Fatalf("SpliceTo = %d, %v, handled %v, Len %d; want declined, nothing moved", n, err, handled, body.Len())
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				t.Fatalf("the copy after a declined splice: %v", err)
			}
		})
	}
}

// TestSpliceToUpstreamFailures: a body cut short or stalled by S3 is the
// body's error (the upstream side), with every byte that arrived delivered,
// and the connection is not reused.
func TestSpliceToUpstreamFailures(t *testing.T) {
	const declared, sent = 4 << 20, 1<<20 + 100
	data := randomBody(sent)
	for _, tc := range []struct {
		name    string
		stall   bool
		wantErr func(error) bool
	}{
		{"cut", false, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		// One *net.OpError naming the upstream connection, as Read's.
		{"stalled", true, func(err error) bool {
			op := (*net.OpError)(nil)
			return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &op) && op.Op == "splice" &&
				op.Source != nil && op.Addr != nil && !errors.As(op.Err, new(*net.OpError))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			addr, _ := scriptedOrigin(t, func(i int, c net.Conn) {
				if readRequest(c) != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", declared)
				c.Write(data)
				if tc.stall {
					<-release
				}
			})
			defer close(release)
			b := newUpstreamBucket(t, addr, "")
			body, _ := fetchArmed(t, b, "k")
			client, proxySide := tcppair.New(t)
			got := make(chan int, 1)
			go func() {
				n, _ := io.Copy(io.Discard, client)
				got <- int(n)
			}()
			written, werr, handled := body.SpliceTo(proxySide, readerIdle)
			proxySide.Close()
			if !handled || werr != nil || !tc.wantErr(body.Err()) {
				t.Fatalf("SpliceTo = %d, %v, handled %v; body err %v", written, werr, handled, body.Err())
			}
			if n := <-got; n != sent || written != sent || body.Len() != sent {
				t.Errorf("client got %d, written %d, Len %d; want every byte sent (%d)", n, written, body.Len(), sent)
			}
			body.Finish()
			if open, _ := b.PoolStats(); open != 0 {
				t.Errorf("%d connections still open after a failed body, want it closed", open)
			}
		})
	}
}

// TestSpliceToClientStops: a client that stops reading is cut after the idle
// time as a write error (the client side); the body itself has no error.
func TestSpliceToClientStops(t *testing.T) {
	const size = 256 << 20 // far more than the sockets buffer
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStream(io.LimitReader(zeros{}, size), size)
	})
	b := newUpstreamBucket(t, o.addr, "")
	body, _ := fetchArmed(t, b, "big")
	_, proxySide := tcppair.New(t) // the client never reads
	written, werr, handled := body.SpliceTo(proxySide, 300*time.Millisecond)
	if !handled || !errors.Is(werr, os.ErrDeadlineExceeded) || body.Err() != nil {
		t.Fatalf("SpliceTo = %d, %v, handled %v; body err %v; want a write timeout", written, werr, handled, body.Err())
	}
	if op := (*net.OpError)(nil); !errors.As(werr, &op) || op.Op != "splice" || errors.As(op.Err, new(*net.OpError)) {
		t.Errorf("write error %v: want one splice *net.OpError around the timeout", werr)
	}
	if written >= size || body.Len() < written {
		t.Errorf("written %d, Len %d of %d", written, body.Len(), size)
	}
	body.Finish()
	if open, _ := b.PoolStats(); open != 0 {
		t.Errorf("%d connections open after an unfinished body, want it closed", open)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSpliceError: the poller's error is unwrapped from the RawConn's
// *net.OpError, a system call's errno becomes an *os.SyscallError, and the
// poller's wins when both are set (the last attempt's EAGAIN before a
// deadline).
func TestSpliceError(t *testing.T) {
	raw := &net.OpError{Op: "raw-read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	if err := spliceError(raw, syscall.EAGAIN); err != os.ErrDeadlineExceeded {
		t.Errorf("deadline: %#v, want os.ErrDeadlineExceeded itself", err)
	}
	err := spliceError(nil, syscall.ECONNRESET)
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "splice" || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset: %#v, want *os.SyscallError splice around ECONNRESET", err)
	}
	if err := spliceError(nil, nil); err != nil {
		t.Errorf("no failure: %v", err)
	}
}

// TestSplicePipeDiscardClosesOnce: a discarded pipe's descriptors are closed
// once. The kernel hands the freed numbers to the next pipe or socket the
// process opens; a cleanup closing them again when the discarded pipe is
// collected would cut that connection (client streams ending early, an
// upstream connection closed under a request).
func TestSplicePipeDiscardClosesOnce(t *testing.T) {
	p := newSplicePipe()
	if p == nil {
		t.Fatal("no pipe")
	}
	freed := map[uintptr]bool{uintptr(p.r): true, uintptr(p.w): true}
	p.discard()
	p = nil

	// Take the freed numbers: the lowest free descriptor is the next one
	// handed out, so a few pipes reach them.
	var reused []*os.File
	for i := 0; i < 64 && len(reused) < 2; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		for _, f := range []*os.File{r, w} {
			if freed[f.Fd()] {
				reused = append(reused, f)
			}
		}
	}
	if len(reused) == 0 {
		// (One may have gone to a socket some other goroutine opened
		// meanwhile; both is a machine that hands out numbers otherwise.)
		t.Fatalf("neither of the discarded pipe's descriptors %v was handed out again", freed)
	}

	// Collect the discarded pipe: a canary made now is unreachable in the
	// same cycles, so once its cleanup has run, a cleanup of the pipe's has
	// been queued too; a few more cycles let it run.
	ran := make(chan struct{})
	canary := new([16]byte)
	runtime.AddCleanup(canary, func(ch chan struct{}) { close(ch) }, ran)
	canary = nil
	for i := 0; ; i++ {
		runtime.GC()
		select {
		case <-ran:
		default:
			if i == 1000 {
				t.Fatal("the canary was never collected")
			}
			runtime.Gosched()
			continue
		}
		break
	}
	for range 10 {
		runtime.GC()
		runtime.Gosched()
	}
	for _, f := range reused {
		if _, err := fcntl(int(f.Fd()), syscall.F_GETFD, 0); err != nil {
			t.Errorf("descriptor %d, reused after the discard, was closed behind its owner's back: %v", f.Fd(), err)
		}
	}
}
