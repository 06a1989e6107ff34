package gateway

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
)

// copyBufSize is the chunk size of a streamed body: one upstream read and one
// client write per chunk.
const copyBufSize = 64 << 10

var copyBufPool = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// smallBodyMax is the largest body read whole before the answer starts: it
// then leaves with its headers in one write, and the upstream connection goes
// back to the pool before the client has read a byte. Larger bodies stream.
const smallBodyMax = 8 << 10

var smallBodyPool = sync.Pool{New: func() any { return new([smallBodyMax]byte) }}

// skipResponseHeader says which upstream headers are not passed to the client:
// hop-by-hop headers, framing (fasthttp writes its own Content-Length and
// Date), and headers the gateway sets itself.
func skipResponseHeader(k []byte) bool {
	switch string(k) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Date", "Server", "X-Request-Id":
		return true
	}
	return false
}

// proxy fetches in's key from r's bucket and streams S3's answer back
// unchanged: status, the headers that matter to clients, and the body
// without buffering it. The request completes when the body is written.
func (r *request) proxy(ctx *fasthttp.RequestCtx, in *buckets.Inbound) {
	s := &r.t.Settings
	in.StreamIdle = s.StreamIdleTimeout
	if s.RequestTimeout > 0 {
		in.Deadline = r.start.Add(s.RequestTimeout)
	}
	err := r.b.Fetch(in, r.resp, &r.body, r.start)
	r.attempts = in.Attempts
	if err != nil {
		r.g.logUpstreamError(r.b, err, r.rid[:])
		r.fail(ctx, err)
		return
	}
	var small *[smallBodyMax]byte
	cl := r.resp.Header.ContentLength()
	if r.body.Active() && cl >= 0 && cl <= smallBodyMax {
		// Read it before answering: a body S3 cuts short is then a clean
		// 502 (or 504), not a truncated 200.
		small = smallBodyPool.Get().(*[smallBodyMax]byte)
		defer smallBodyPool.Put(small)
		if err := r.body.ReadFull(small[:cl]); err != nil {
			r.g.logUpstreamError(r.b, err, r.rid[:])
			r.fail(ctx, err)
			return
		}
	}
	r.status = r.resp.StatusCode()
	out := &ctx.Response
	out.SetStatusCode(r.status)
	for k, v := range r.resp.Header.All() {
		if !skipResponseHeader(k) {
			out.Header.AddBytesKV(k, v)
		}
	}
	if small != nil {
		out.SetBody(small[:cl]) // copied into the response's pooled buffer
		r.complete(nil)
		return
	}
	if !r.body.Active() {
		// No body on the wire (HEAD, 304, 204): keep S3's Content-Length, which
		// for HEAD is the object's size.
		if cl >= 0 {
			out.Header.SetContentLength(cl)
		}
		r.complete(nil)
		return
	}
	r.conn = ctx.Conn()
	if cl < 0 {
		cl = -1 // chunked or read-until-close upstream: chunked to the client
	} else {
		// The headers go out at once, so WriteTo can write the body straight
		// to the connection (see WriteTo).
		out.ImmediateHeaderFlush = true
	}
	// fasthttp writes the body after the handler returns and then calls
	// CloseWithError, which completes the request.
	out.SetBodyStream(r, cl)
}

// Read feeds fasthttp's response writer. Before handing out each chunk it
// moves the client connection's write deadline forward, so a client that
// stops reading is cut after the idle timeout rather than held forever.
func (r *request) Read(p []byte) (int, error) {
	if idle := r.t.Settings.StreamIdleTimeout; r.conn != nil {
		if now := time.Now(); r.writeDeadline.Sub(now) < idle/2 {
			r.writeDeadline = now.Add(idle)
			_ = r.conn.SetWriteDeadline(r.writeDeadline)
		}
	}
	return r.body.Read(p)
}

// WriteTo copies the body straight from the upstream connection to the
// client's, in copyBufSize chunks. fasthttp calls it for a known-length body
// after flushing the headers (ImmediateHeaderFlush) and counts what it
// returns against Content-Length. Writing to the connection rather than to w
// (fasthttp's buffered writer over that same connection) saves a copy per
// chunk and, above all, puts every byte that arrived on the wire before an
// upstream cut: bytes left in w's buffer would be dropped when fasthttp
// closes the connection on the error.
//
// Between two plain TCP connections the body does not pass through user space
// at all (buckets.Body.SpliceTo): the kernel moves it from one socket to the
// other through a pipe, which halves the CPU a large object costs.
func (r *request) WriteTo(w io.Writer) (int64, error) {
	if r.conn == nil {
		return io.Copy(w, struct{ io.Reader }{r})
	}
	if tc := tcpConn(r.conn); tc != nil {
		if n, werr, handled := r.body.SpliceTo(tc, r.t.Settings.StreamIdleTimeout); handled {
			if werr != nil {
				return n, werr
			}
			return n, r.body.Err()
		}
	}
	buf := copyBufPool.Get().(*[copyBufSize]byte)
	defer copyBufPool.Put(buf)
	var written int64
	for {
		n, rerr := r.Read(buf[:])
		if n > 0 {
			m, werr := r.conn.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// CloseWithError implements fasthttp.ReadCloserWithError: fasthttp calls it
// once the body is written (err nil) or writing failed (err is the client's
// write error or the stream's read error).
func (r *request) CloseWithError(err error) error {
	r.complete(err)
	return nil
}

// logUpstreamError logs a failed fetch; pool exhaustion and not-ready are
// counted, not logged, so an overload does not flood the log.
func (g *Gateway) logUpstreamError(b *buckets.Bucket, err error, rid []byte) {
	switch classify(err).status {
	case fasthttp.StatusBadGateway, fasthttp.StatusGatewayTimeout, fasthttp.StatusInternalServerError:
		g.log.Warn("upstream request failed", "bucket", b.Name(), "request_id", string(rid), "err", err)
	}
}
