package gateway

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// pprofHandler serves net/http/pprof under /admin/pprof/.
var pprofHandler = fasthttpadaptor.NewFastHTTPHandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = strings.Replace(r.URL.Path, "/admin/pprof/", "/debug/pprof/", 1)
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
})

// serveAdmin answers /admin/: POST /admin/reload and GET /admin/pprof/…, for
// requests with "Authorization: Bearer <[admin] token>" (compared in constant
// time). Without a configured token the admin endpoints do not exist (404);
// a missing token is 401, a wrong one 403.
func (g *Gateway) serveAdmin(ctx *fasthttp.RequestCtx, t *Table, path []byte, rid []byte) int {
	token := t.Settings.AdminToken
	if token == "" {
		return writeError(ctx, ErrNotFound, rid)
	}
	h := ctx.Request.Header.Peek("Authorization")
	if len(h) < 7 || !strings.EqualFold(string(h[:7]), "bearer ") {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="admin"`)
		return writeError(ctx, ErrAdminUnauthorized, rid)
	}
	if subtle.ConstantTimeCompare(h[7:], []byte(token)) != 1 {
		return writeError(ctx, ErrAdminForbidden, rid)
	}
	switch {
	case string(path) == "/admin/reload":
		if !ctx.IsPost() {
			ctx.Response.Header.Set("Allow", "POST")
			return writeError(ctx, ErrMethodNotAllowed, rid)
		}
		if g.opts.Reload == nil {
			return writeError(ctx, ErrNotFound, rid)
		}
		gen, err := g.opts.Reload()
		if err != nil {
			writeJSON(ctx, fasthttp.StatusBadRequest, map[string]any{"status": "refused", "error": err.Error(), "generation": g.table.Load().Generation})
			return fasthttp.StatusBadRequest
		}
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"status": "reloaded", "generation": gen})
		return fasthttp.StatusOK
	case strings.HasPrefix(string(path), "/admin/pprof/"):
		pprofHandler(ctx)
		return ctx.Response.StatusCode()
	}
	return writeError(ctx, ErrNotFound, rid)
}
