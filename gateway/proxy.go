package gateway

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
)

// exchange is one proxied request from Fetch until its response body is
// written: it is the body stream fasthttp writes to the client, and it does
// the accounting when fasthttp closes it. Pooled; one goroutine at a time.
type exchange struct {
	g      *Gateway
	b      *buckets.Bucket
	resp   *fasthttp.Response // the upstream response; lives with the exchange
	body   buckets.Body
	client net.Conn
	method buckets.Method
	status int
	start  time.Time
	// writeDeadline is when the client connection's write deadline expires.
	writeDeadline time.Time
}

var exchangePool = sync.Pool{New: func() any { return &exchange{resp: new(fasthttp.Response)} }}

// copyBufSize is the chunk size of a streamed body: one upstream read and one
// client write per chunk.
const copyBufSize = 64 << 10

var copyBufPool = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// skipResponseHeaders are upstream headers not passed to the client:
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

// proxy fetches key from b and streams S3's answer back unchanged: status,
// headers that matter to clients, and the body without buffering it.
func (g *Gateway) proxy(ctx *fasthttp.RequestCtx, b *buckets.Bucket, in *buckets.Inbound, m buckets.Method, rid []byte) {
	x := exchangePool.Get().(*exchange)
	x.g, x.b, x.method, x.start = g, b, m, ctx.Time()
	in.StreamIdle = g.opts.StreamIdleTimeout
	if g.opts.RequestTimeout > 0 {
		in.Deadline = x.start.Add(g.opts.RequestTimeout)
	}
	if err := b.Fetch(in, x.resp, &x.body, x.start); err != nil {
		x.status = writeError(ctx, err, rid)
		g.logUpstreamError(b, err, rid)
		x.finish(nil)
		return
	}
	x.status = x.resp.StatusCode()
	out := &ctx.Response
	out.SetStatusCode(x.status)
	for k, v := range x.resp.Header.All() {
		if !skipResponseHeader(k) {
			out.Header.AddBytesKV(k, v)
		}
	}
	if !x.body.Active() {
		// No body on the wire (HEAD, 304, 204): keep S3's Content-Length, which
		// for HEAD is the object's size.
		if cl := x.resp.Header.ContentLength(); cl >= 0 {
			out.Header.SetContentLength(cl)
		}
		x.finish(nil)
		return
	}
	x.client = ctx.Conn()
	cl := x.resp.Header.ContentLength()
	if cl < 0 {
		cl = -1 // chunked or read-until-close upstream: chunked to the client
	} else {
		// The headers go out at once, so WriteTo can write the body straight
		// to the connection (see WriteTo).
		out.ImmediateHeaderFlush = true
	}
	// fasthttp writes the body after the handler returns and then calls
	// CloseWithError, which finishes the exchange.
	out.SetBodyStream(x, cl)
}

// Read feeds fasthttp's response writer. Before handing out each chunk it
// moves the client connection's write deadline forward, so a client that
// stops reading is cut after the idle timeout rather than held forever.
func (x *exchange) Read(p []byte) (int, error) {
	if idle := x.g.opts.StreamIdleTimeout; x.client != nil {
		if now := time.Now(); x.writeDeadline.Sub(now) < idle/2 {
			x.writeDeadline = now.Add(idle)
			_ = x.client.SetWriteDeadline(x.writeDeadline)
		}
	}
	return x.body.Read(p)
}

// WriteTo copies the body straight from the upstream connection to the
// client's, in copyBufSize chunks. fasthttp calls it for a known-length body
// after flushing the headers (ImmediateHeaderFlush) and counts what it
// returns against Content-Length. Writing to the connection rather than to w
// (fasthttp's buffered writer over that same connection) saves a copy per
// chunk and, above all, puts every byte that arrived on the wire before an
// upstream cut: bytes left in w's buffer would be dropped when fasthttp
// closes the connection on the error.
func (x *exchange) WriteTo(w io.Writer) (int64, error) {
	if x.client == nil {
		return io.Copy(w, struct{ io.Reader }{x})
	}
	buf := copyBufPool.Get().(*[copyBufSize]byte)
	defer copyBufPool.Put(buf)
	var written int64
	for {
		n, rerr := x.Read(buf[:])
		if n > 0 {
			m, werr := x.client.Write(buf[:n])
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
func (x *exchange) CloseWithError(err error) error {
	x.finish(err)
	return nil
}

// finish records the request's metrics, hands the upstream connection back
// and returns the exchange to the pool.
func (x *exchange) finish(writeErr error) {
	m := x.b.Metrics()
	if x.body.Err() != nil {
		m.StreamsCutUpstream.Inc()
	} else if writeErr != nil {
		m.StreamsCutClient.Inc()
	}
	m.BytesOut.Add(int(x.body.Len()))
	x.body.Finish()
	x.b.Release()
	x.g.recordRequest(m, x.method, x.status, x.start)
	if x.client != nil {
		_ = x.client.SetWriteDeadline(time.Time{})
	}
	x.resp.Reset()
	*x = exchange{resp: x.resp}
	exchangePool.Put(x)
}

// logUpstreamError logs a failed fetch; pool exhaustion and not-ready are
// counted, not logged, so an overload does not flood the log.
func (g *Gateway) logUpstreamError(b *buckets.Bucket, err error, rid []byte) {
	switch classify(err).status {
	case fasthttp.StatusBadGateway, fasthttp.StatusGatewayTimeout, fasthttp.StatusInternalServerError:
		g.log.Warn("upstream request failed", "bucket", b.Name(), "request_id", string(rid), "err", err)
	}
}
