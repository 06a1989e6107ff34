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
)

// pathBufPool holds buffers for the once-decoded request path.
var pathBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

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

// serve is the main handler: built-ins first (when they are on this
// listener), then method, path and route checks, then the bucket.
func (g *Gateway) serve(ctx *fasthttp.RequestCtx) {
	rid := newRequestID()
	ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
	uri := ctx.Request.Header.RequestURI()
	path, query := splitURI(uri)
	if g.opts.BuiltinsOnMain && isBuiltin(path) {
		g.serveBuiltin(ctx, path, rid[:])
		return
	}

	g.inFlight.Add(1)
	var routed *buckets.Bucket
	defer func() {
		if r := recover(); r != nil {
			g.recovered(ctx, routed, r, rid[:])
		}
	}()

	m := buckets.MethodOf(ctx.Method())
	switch m {
	case buckets.MethodOPTIONS:
		ctx.Response.Header.Set("Allow", allowedMethods)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		g.recordRequest(g.unrouted, m, fasthttp.StatusNoContent, ctx.Time())
		return
	case buckets.MethodOther:
		g.reject(ctx, m, ErrMethodNotAllowed, rid[:])
		return
	}
	if len(path) == 0 || path[0] != '/' {
		g.reject(ctx, m, ErrBadPath, rid[:])
		return
	}
	bp := pathBufPool.Get().(*[]byte)
	defer pathBufPool.Put(bp)
	decoded, ok := buckets.AppendUnescapedPath((*bp)[:0], path)
	*bp = decoded
	if !ok {
		g.reject(ctx, m, ErrBadPath, rid[:])
		return
	}
	t := g.table.Load()
	b, key, found := t.Router.Route(decoded)
	if !found {
		g.reject(ctx, m, ErrNoRoute, rid[:])
		return
	}
	routed = b
	if gd := t.guards[b]; gd != nil {
		if _, err := gd.v.Verify(auth.Request{Header: &ctx.Request.Header, RawQuery: query, Key: key}, ctx.Time()); err != nil {
			gd.failures[auth.ReasonOf(err)].Inc()
			if auth.IsMissing(err) {
				ctx.Response.Header.Set("WWW-Authenticate", gd.realm)
			}
			status := writeError(ctx, err, rid[:])
			g.recordRequest(b.Metrics(), m, status, ctx.Time())
			return
		}
	}
	if len(key) == 0 {
		status := writeError(ctx, ErrListingDisabled, rid[:])
		g.recordRequest(b.Metrics(), m, status, ctx.Time())
		return
	}
	in := buckets.Inbound{Method: ctx.Method(), Key: key, RawQuery: query, Header: &ctx.Request.Header}
	g.proxy(ctx, b, &in, m, rid[:])
}

// reject answers a request that reaches no bucket.
func (g *Gateway) reject(ctx *fasthttp.RequestCtx, m buckets.Method, err error, rid []byte) {
	status := writeError(ctx, err, rid)
	g.recordRequest(g.unrouted, m, status, ctx.Time())
}

// recordRequest counts a finished request and ends its in-flight span.
func (g *Gateway) recordRequest(m *buckets.Metrics, method buckets.Method, status int, start time.Time) {
	m.Request(method, status).Inc()
	m.Duration.UpdateDuration(start)
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
