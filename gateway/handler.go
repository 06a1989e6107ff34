package gateway

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/auth"
	"yatagarasu/buckets"
	"yatagarasu/resources"
)

// pathBufs are a request's path buffers: the path decoded once, and the
// scratch for the second decode that path safety tries.
type pathBufs struct{ decoded, twice []byte }

var pathBufPool = sync.Pool{New: func() any { return &pathBufs{decoded: make([]byte, 0, 256), twice: make([]byte, 0, 256)} }}

// Handler returns the main listener's request handler.
func (g *Gateway) Handler() fasthttp.RequestHandler { return g.serve }

// AdminHandler returns the handler of the separate admin listener: built-in
// endpoints only.
func (g *Gateway) AdminHandler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		rid := newRequestID()
		ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
		path, _ := splitURI(ctx.Request.Header.RequestURI())
		if !isBuiltin(path) {
			writeError(ctx, ErrNotFound, rid[:])
			return
		}
		g.serveBuiltin(ctx, path, rid[:])
	}
}

// serve is the main handler. It answers the cheap refusals first: built-ins
// (exempt from every limit), the node's concurrency limit and resource
// pressure, request hygiene, path safety, the route; then the rate limits
// (before authentication, so a flood of bad tokens costs no signature
// checks), the bucket's concurrency limit, authentication, and S3.
func (g *Gateway) serve(ctx *fasthttp.RequestCtx) {
	rid := newRequestID()
	ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
	uri := ctx.Request.Header.RequestURI()
	path, query := splitURI(uri)
	if g.opts.BuiltinsOnMain && isBuiltin(path) {
		g.serveBuiltin(ctx, path, rid[:])
		return
	}

	n := g.inFlight.Add(1)
	var routed *buckets.Bucket
	defer func() {
		if r := recover(); r != nil {
			g.recovered(ctx, routed, r, rid[:])
		}
	}()
	m := buckets.MethodOf(ctx.Method())
	if n > int64(g.opts.MaxConcurrentRequests) {
		g.concurrencyGlobal.Inc()
		g.reject(ctx, m, ErrTooManyInFlight, rid[:])
		return
	}
	if g.opts.Pressure.Level() >= resources.Exhausted {
		g.pressureShed.Inc()
		g.reject(ctx, m, ErrOverloaded, rid[:])
		return
	}
	if err, reason := g.checkRequest(ctx, m, uri); err != nil {
		g.refuse(ctx, m, err, reason, rid[:])
		return
	}
	switch m {
	case buckets.MethodOPTIONS:
		ctx.Response.Header.Set("Allow", allowedMethods)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		g.recordRequest(g.unrouted, m, fasthttp.StatusNoContent, ctx.Time())
		return
	case buckets.MethodOther:
		// The body, if any, is never read: close rather than drain it.
		ctx.SetConnectionClose()
		g.reject(ctx, m, ErrMethodNotAllowed, rid[:])
		return
	}
	bp := pathBufPool.Get().(*pathBufs)
	defer pathBufPool.Put(bp)
	decoded, ok := buckets.AppendUnescapedPath(bp.decoded[:0], path)
	bp.decoded = decoded
	if !ok {
		g.refuse(ctx, m, ErrBadPath, reasonBadEscape, rid[:])
		return
	}
	t := g.table.Load()
	b, key, found := t.Router.Route(decoded)
	pol := t.policies[b]
	if reason := checkPath(decoded, !found || pol.blockInjection, &bp.twice); reason != "" {
		g.refuse(ctx, m, ErrUnsafePath, reason, rid[:])
		return
	}
	if !found {
		g.reject(ctx, m, ErrNoRoute, rid[:])
		return
	}
	routed = b
	now := ctx.Time()
	if err := g.limitRate(ctx, b, pol, now); err != nil {
		g.finishEarly(ctx, b, m, err, rid[:])
		return
	}
	if !b.Acquire() {
		pol.concurrency.Inc()
		g.finishEarly(ctx, b, m, ErrTooManyInFlight, rid[:])
		return
	}
	if gd := pol.guard; gd != nil {
		if _, err := gd.v.Verify(auth.Request{Header: &ctx.Request.Header, RawQuery: query, Key: key}, now); err != nil {
			b.Release()
			gd.failures[auth.ReasonOf(err)].Inc()
			if auth.IsMissing(err) {
				ctx.Response.Header.Set("WWW-Authenticate", gd.realm)
			}
			g.finishEarly(ctx, b, m, err, rid[:])
			return
		}
	}
	if len(key) == 0 {
		b.Release()
		g.finishEarly(ctx, b, m, ErrListingDisabled, rid[:])
		return
	}
	in := buckets.Inbound{Method: ctx.Method(), Key: key, RawQuery: query, Header: &ctx.Request.Header}
	g.proxy(ctx, b, &in, m, rid[:]) // releases b's slot when the response is done
}

// limitRate applies the global, per-IP and bucket rate limits.
func (g *Gateway) limitRate(ctx *fasthttp.RequestCtx, b *buckets.Bucket, pol *policy, now time.Time) error {
	if l := g.opts.GlobalRate; l != nil {
		if ok, wait := l.Allow(now); !ok {
			pol.globalLimited.Inc()
			return &RateLimitedError{Wait: wait}
		}
	}
	if tb := g.opts.PerIPRate; tb != nil {
		if ok, wait := tb.Allow(rateKey(g.trusted.clientIP(ctx)), now); !ok {
			pol.perIPLimited.Inc()
			return &RateLimitedError{Wait: wait}
		}
	}
	if ok, wait := b.AllowRate(now); !ok {
		pol.rateLimited.Inc()
		return &RateLimitedError{Wait: wait}
	}
	return nil
}

// finishEarly answers a routed request that never reaches S3.
func (g *Gateway) finishEarly(ctx *fasthttp.RequestCtx, b *buckets.Bucket, m buckets.Method, err error, rid []byte) {
	status := writeError(ctx, err, rid)
	g.recordRequest(b.Metrics(), m, status, ctx.Time())
}

// refuse answers a request that failed screening: counted by reason, and the
// connection closed (a client that sends such requests gets no second try on
// the same connection, and a body is never drained).
func (g *Gateway) refuse(ctx *fasthttp.RequestCtx, m buckets.Method, err error, reason string, rid []byte) {
	g.rejections[reason].Inc()
	ctx.SetConnectionClose()
	g.reject(ctx, m, err, rid)
}

// reject answers a request that reaches no bucket.
func (g *Gateway) reject(ctx *fasthttp.RequestCtx, m buckets.Method, err error, rid []byte) {
	status := writeError(ctx, err, rid)
	g.recordRequest(g.unrouted, m, status, ctx.Time())
}

// recordRequest counts a finished request and ends its in-flight span.
func (g *Gateway) recordRequest(m *buckets.Metrics, method buckets.Method, status int, start time.Time) {
	m.Request(method, status).Inc()
	if g.opts.Pressure.Level() < resources.Critical {
		m.Duration.UpdateDuration(start) // histograms stop under pressure; counters stay
	}
	g.inFlight.Add(-1)
}

// recovered turns a panic in request handling into a 500 on a closed
// connection. It restarts nothing: a request that panics on every try must not
// take its bucket down, so it is counted and logged with its stack.
func (g *Gateway) recovered(ctx *fasthttp.RequestCtx, b *buckets.Bucket, r any, rid []byte) {
	m := g.unrouted
	name := unroutedLabel
	if b != nil {
		m, name = b.Metrics(), b.Name()
	}
	m.Panics.Inc()
	g.log.Error("panic while serving a request", "bucket", name, "request_id", string(rid), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	ctx.Response.Reset()
	ctx.Response.Header.SetBytesV("X-Request-Id", rid)
	ctx.SetConnectionClose()
	status := writeError(ctx, ErrPanic, rid)
	g.recordRequest(m, buckets.MethodOf(ctx.Method()), status, ctx.Time())
}

// splitURI splits a raw request-target into its path and query (without '?').
func splitURI(uri []byte) (path, query []byte) {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, nil
}
