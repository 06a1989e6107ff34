package gateway

import (
	"encoding/json"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
)

// Built-in endpoint paths.
const (
	pathHealth  = "/health"
	pathReady   = "/ready"
	pathMetrics = "/metrics"
	adminPrefix = "/admin/"
)

// isBuiltin reports whether path (without query) is a built-in endpoint.
func isBuiltin(path []byte) bool {
	switch string(path) {
	case pathHealth, pathReady, pathMetrics, "/admin":
		return true
	}
	return len(path) >= len(adminPrefix) && string(path[:len(adminPrefix)]) == adminPrefix
}

// serveBuiltin answers a built-in endpoint. Built-ins are exempt from every
// limit and never touch S3.
func (g *Gateway) serveBuiltin(ctx *fasthttp.RequestCtx, t *Table, path []byte, rid []byte) int {
	if len(path) >= len(adminPrefix) && string(path[:len(adminPrefix)]) == adminPrefix {
		return g.serveAdmin(ctx, t, path, rid)
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return writeError(ctx, ErrMethodNotAllowed, rid)
	}
	switch string(path) {
	case pathHealth:
		return g.health(ctx)
	case pathReady:
		return g.ready(ctx)
	case pathMetrics:
		ctx.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		g.WriteMetrics(ctx)
		return fasthttp.StatusOK
	}
	return writeError(ctx, ErrNotFound, rid)
}

// healthReport is /health's JSON.
type healthReport struct {
	Status        string  `json:"status"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Generation    uint64  `json:"generation"`
}

// health answers liveness: the process is up and serving HTTP.
func (g *Gateway) health(ctx *fasthttp.RequestCtx) int {
	writeJSON(ctx, fasthttp.StatusOK, healthReport{
		Status:        "ok",
		Version:       g.opts.Version,
		UptimeSeconds: time.Since(g.started).Round(time.Millisecond).Seconds(),
		Generation:    g.table.Load().Generation,
	})
	return fasthttp.StatusOK
}

// readyReport is /ready's JSON.
type readyReport struct {
	Status     string                 `json:"status"`
	Draining   bool                   `json:"draining"`
	Generation uint64                 `json:"generation"`
	Buckets    map[string]bucketReady `json:"buckets"`
}

type bucketReady struct {
	State            string `json:"state"`
	Reason           string `json:"reason,omitempty"`
	Prefix           string `json:"path_prefix"`
	RecentAttempts   uint64 `json:"recent_attempts"`
	RecentFailures   uint64 `json:"recent_failures"`
	PoolOpen         int64  `json:"pool_open"`
	PoolBusy         int64  `json:"pool_busy"`
	CredentialsUntil string `json:"credentials_expire,omitempty"`
}

// ready answers 200 while the node accepts traffic and at least one bucket can
// serve, 503 while draining or when no bucket can. One bad bucket shows in the
// JSON but never takes the node out of its load balancer.
func (g *Gateway) ready(ctx *fasthttp.RequestCtx) int {
	t := g.table.Load()
	rep := readyReport{Generation: t.Generation, Draining: g.draining.Load(), Buckets: map[string]bucketReady{}}
	serving := 0
	for _, b := range t.Router.Buckets() {
		if b.PassThrough() {
			rep.Buckets[b.Name()] = bucketReady{State: "pass-through", Prefix: b.Prefix()}
			serving++
			continue
		}
		s := b.Snapshot()
		open, busy := b.PoolStats()
		br := bucketReady{State: s.State.String(), Reason: s.Reason, Prefix: b.Prefix(),
			RecentAttempts: s.Recent.Attempts, RecentFailures: s.Recent.Failures, PoolOpen: open, PoolBusy: busy}
		if s.HasCredentials && s.Credentials.CanExpire {
			br.CredentialsUntil = s.Credentials.Expires.UTC().Format(time.RFC3339)
		}
		rep.Buckets[b.Name()] = br
		if s.State != buckets.NotReady {
			serving++
		}
	}
	status := fasthttp.StatusOK
	switch {
	case rep.Draining:
		rep.Status, status = "draining", fasthttp.StatusServiceUnavailable
	case serving == 0:
		rep.Status, status = "not ready", fasthttp.StatusServiceUnavailable
	case serving < len(t.Router.Buckets()):
		rep.Status = "degraded"
	default:
		rep.Status = "ready"
	}
	writeJSON(ctx, status, rep)
	return status
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	enc := json.NewEncoder(ctx.Response.BodyWriter())
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the types above always encode
}

// WriteMetrics writes every series in the Prometheus text format: process and
// Go runtime metrics, node-wide series, then each routed bucket's set.
func (g *Gateway) WriteMetrics(w interface{ Write([]byte) (int, error) }) {
	metrics.WriteProcessMetrics(w)
	g.server.WritePrometheus(w)
	g.unrouted.Set().WritePrometheus(w)
	for _, b := range g.table.Load().Router.Buckets() {
		if !b.PassThrough() {
			b.Metrics().Set().WritePrometheus(w)
		}
	}
	if d := g.opts.Dynamic; d != nil {
		d.Each(func(b *buckets.Bucket) { b.Metrics().Set().WritePrometheus(w) })
	}
}
