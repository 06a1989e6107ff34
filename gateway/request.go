package gateway

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
	"yatagarasu/resources"
)

// request is one client request's state from the moment it is counted until
// its response is done: for a streamed response that is after the handler
// returns, when fasthttp closes the body (the request is that body's
// stream). It carries what the metrics and the access log need, copied out
// of fasthttp's buffers. Pooled; used by one goroutine at a time.
type request struct {
	g      *Gateway
	t      *Table
	rid    [requestIDLen]byte
	start  time.Time
	method buckets.Method
	client netip.Addr

	b        *buckets.Bucket // nil until routed
	slot     bool            // holds b's concurrency slot
	key      []byte          // the object key, copied for the log
	status   int
	reason   string // why the request was refused, for the log
	subject  string // the verified token's sub
	attempts int

	// A proxied response.
	resp          *fasthttp.Response // the upstream response; lives with the request
	body          buckets.Body
	conn          net.Conn // the client's, while streaming
	writeDeadline time.Time
}

var requestPool = sync.Pool{New: func() any { return &request{resp: new(fasthttp.Response)} }}

func (g *Gateway) newRequest(ctx *fasthttp.RequestCtx, t *Table) *request {
	r := requestPool.Get().(*request)
	r.g, r.t, r.rid, r.start = g, t, newRequestID(), ctx.Time()
	ctx.Response.Header.SetBytesV("X-Request-Id", r.rid[:])
	return r
}

// fail answers the request with err and completes it.
func (r *request) fail(ctx *fasthttp.RequestCtx, err error) {
	r.status = writeError(ctx, err, r.rid[:])
	r.complete(nil)
}

// complete records the request (metrics, access log), gives back its upstream
// connection and concurrency slots, and returns it to the pool. writeErr is
// the error that ended a streamed body, if any.
func (r *request) complete(writeErr error) {
	g := r.g
	m := g.unrouted
	if r.b != nil {
		m = r.b.Metrics()
		if r.body.Active() {
			if r.body.Err() != nil {
				m.StreamsCutUpstream.Inc()
			} else if writeErr != nil {
				m.StreamsCutClient.Inc()
			}
			m.BytesOut.Add(int(r.body.Len()))
		}
		if r.slot {
			r.b.Release()
		}
	}
	bytes := r.body.Len()
	r.body.Finish()
	m.Request(r.method, r.status).Inc()
	if g.opts.Pressure.Level() < resources.Critical {
		// Histograms and access-log lines stop under pressure; counters stay.
		now := time.Now() // one clock read for the histogram and the line
		m.Duration.Update(now.Sub(r.start).Seconds())
		if a := g.opts.AccessLog; a != nil {
			a.log(r, bytes, now)
		}
	}
	g.inFlight.Add(-1)
	if r.conn != nil {
		_ = r.conn.SetWriteDeadline(time.Time{})
	}
	r.resp.Reset()
	*r = request{resp: r.resp, key: r.key[:0]}
	requestPool.Put(r)
}

// release returns a request that was never counted (a built-in endpoint).
func (r *request) release() {
	*r = request{resp: r.resp, key: r.key[:0]}
	requestPool.Put(r)
}
