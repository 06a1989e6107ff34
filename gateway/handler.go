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
		t := g.table.Load()
		rid := newRequestID()
		ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
		path, _ := splitURI(ctx.Request.Header.RequestURI())
		if !isBuiltin(path) {
			writeError(ctx, ErrNotFound, rid[:])
			return
		}
		g.serveBuiltin(ctx, t, path, rid[:])
	}
}

// serve is the main handler. It answers the cheap refusals first: built-ins
// (exempt from every limit and not logged), the node's concurrency limit and
// resource pressure, request hygiene, path safety, the route; then the rate
// limits (before authentication, so a flood of bad tokens costs no signature
// checks), the bucket's concurrency limit, authentication, and S3. The
// routing table and its settings are loaded once: a reload never changes a
// request's rules halfway.
func (g *Gateway) serve(ctx *fasthttp.RequestCtx) {
	t := g.table.Load()
	uri := ctx.Request.Header.RequestURI()
	path, query := splitURI(uri)
	if g.opts.BuiltinsOnMain && isBuiltin(path) {
		rid := newRequestID()
		ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
		g.serveBuiltin(ctx, t, path, rid[:])
		return
	}

	r := g.newRequest(ctx, t)
	n := g.inFlight.Add(1)
	// Every branch below ends by completing r or handing it to fasthttp (a
	// streamed body), and nothing runs after that: a panic that gets here
	// found r not yet completed.
	defer func() {
		if p := recover(); p != nil {
			r.recovered(ctx, p)
		}
	}()
	r.method = buckets.MethodOf(ctx.Method())
	s := &t.Settings
	r.client = s.trusted.clientIP(ctx)
	if n > int64(s.MaxConcurrentRequests) {
		g.concurrencyGlobal.Inc()
		r.fail(ctx, ErrTooManyInFlight)
		return
	}
	if g.opts.Pressure.Level() >= resources.Exhausted {
		g.pressureShed.Inc()
		r.fail(ctx, ErrOverloaded)
		return
	}
	if err, reason := checkRequest(ctx, &s.Limits, r.method, uri); err != nil {
		r.refuse(ctx, err, reason)
		return
	}
	switch r.method {
	case buckets.MethodOPTIONS:
		ctx.Response.Header.Set("Allow", allowedMethods)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		r.status = fasthttp.StatusNoContent
		r.complete(nil)
		return
	case buckets.MethodOther:
		// The body, if any, is never read: close rather than drain it.
		ctx.SetConnectionClose()
		r.fail(ctx, ErrMethodNotAllowed)
		return
	}
	bp := pathBufPool.Get().(*pathBufs)
	defer pathBufPool.Put(bp)
	decoded, ok := buckets.AppendUnescapedPath(bp.decoded[:0], path)
	bp.decoded = decoded
	if !ok {
		r.refuse(ctx, ErrBadPath, reasonBadEscape)
		return
	}
	b, key, found := t.Router.Route(decoded)
	pol := t.policies[b]
	if reason := checkPath(decoded, !found || pol.blockInjection, &bp.twice); reason != "" {
		r.refuse(ctx, ErrUnsafePath, reason)
		return
	}
	if !found {
		r.fail(ctx, ErrNoRoute)
		return
	}
	if b.PassThrough() {
		// "/<bucket>/<key>": the first segment names the real bucket.
		name, rest, _ := bytes.Cut(key, []byte{'/'})
		real, err := g.passThrough(b, name)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		pol, b, key = t.dynamicPolicy(real, b), real, rest
	}
	r.b = b
	r.key = append(r.key[:0], key...)
	if err := r.limitRate(pol); err != nil {
		r.fail(ctx, err)
		return
	}
	if !b.Acquire() {
		pol.concurrency.Inc()
		r.fail(ctx, ErrTooManyInFlight)
		return
	}
	r.slot = true
	if gd := pol.guard; gd != nil {
		res, err := gd.v.Verify(auth.Request{Header: &ctx.Request.Header, RawQuery: query, Key: key}, r.start)
		if err != nil {
			reason := auth.ReasonOf(err)
			gd.failures[reason].Inc()
			r.reason = reason
			if auth.IsMissing(err) {
				ctx.Response.Header.Set("WWW-Authenticate", gd.realm)
			}
			r.fail(ctx, err)
			return
		}
		r.subject = res.Subject
	}
	in := buckets.Inbound{Method: ctx.Method(), Key: key, RawQuery: query, Header: &ctx.Request.Header}
	if len(key) == 0 {
		filter, err := bucketOperation(r.method, query, pol.allowList)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		in.Query = filter
		in.Query.Drop = pol.tokenParams
	} else if name, ok := subresource(query, objectSubresources); ok {
		r.fail(ctx, &SubresourceError{Name: name})
		return
	}
	r.proxy(ctx, &in) // completes r now, or when its body is written
}

// passThrough resolves a pass-through rule's real bucket.
func (g *Gateway) passThrough(rule *buckets.Bucket, name []byte) (*buckets.Bucket, error) {
	if len(name) == 0 {
		return nil, ErrNoRoute // "/": ListBuckets is not offered
	}
	if g.opts.Dynamic == nil {
		return nil, ErrBucketNotAllowed
	}
	b, err := g.opts.Dynamic.Bucket(rule, string(name))
	if err != nil {
		return nil, err
	}
	b.Touch(time.Now().UnixNano())
	return b, nil
}

// limitRate applies the global, per-IP and bucket rate limits.
func (r *request) limitRate(pol *policy) error {
	s := &r.t.Settings
	if l := s.GlobalRate; l != nil {
		if ok, wait := l.Allow(r.start); !ok {
			pol.globalLimited.Inc()
			return &RateLimitedError{Wait: wait}
		}
	}
	if tb := s.PerIPRate; tb != nil {
		if ok, wait := tb.Allow(rateKey(r.client), r.start); !ok {
			pol.perIPLimited.Inc()
			return &RateLimitedError{Wait: wait}
		}
	}
	if ok, wait := r.b.AllowRate(r.start); !ok {
		pol.rateLimited.Inc()
		return &RateLimitedError{Wait: wait}
	}
	return nil
}

// refuse answers a request that failed screening: counted by reason, and the
// connection closed (a client that sends such requests gets no second try on
// the same connection, and a body is never drained).
func (r *request) refuse(ctx *fasthttp.RequestCtx, err error, reason string) {
	r.g.rejections[reason].Inc()
	r.reason = reason
	ctx.SetConnectionClose()
	r.fail(ctx, err)
}

// recovered turns a panic in request handling into a 500 on a closed
// connection. It restarts nothing: a request that panics on every try must not
// take its bucket down, so it is counted and logged with its stack.
func (r *request) recovered(ctx *fasthttp.RequestCtx, p any) {
	m, name := r.g.unrouted, unroutedLabel
	if r.b != nil {
		m, name = r.b.Metrics(), r.b.Name()
	}
	m.Panics.Inc()
	r.g.log.Error("panic while serving a request", "bucket", name, "request_id", string(r.rid[:]), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	ctx.Response.Reset()
	ctx.Response.Header.SetBytesV("X-Request-Id", r.rid[:])
	ctx.SetConnectionClose()
	r.reason = "panic"
	r.fail(ctx, ErrPanic)
}

// splitURI splits a raw request-target into its path and query (without '?').
func splitURI(uri []byte) (path, query []byte) {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, nil
}
