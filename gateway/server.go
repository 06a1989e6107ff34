package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"yatagarasu/buckets"
)

// Server limits fixed at listen time.
const (
	// requestLineSlack is room in the read buffer for the method, version
	// and line ends around the request target.
	requestLineSlack = 64
	// writeBufferSize is the response writer's buffer: headers and small
	// bodies. Streamed bodies bypass it (exchange.WriteTo).
	writeBufferSize = 16 << 10
	// headerReadTimeout: a client must send a whole request (line and
	// headers; request bodies are not read) within this long.
	headerReadTimeout = 30 * time.Second
	// keepAliveIdleTimeout closes a keep-alive connection idle this long.
	keepAliveIdleTimeout = 90 * time.Second
)

// NewServer returns a fasthttp server for handler with the gateway's limits
// and an ErrorHandler that answers unparsable requests in S3 XML.
//
// The read buffer holds the request line and headers: it is sized so that a
// target up to max_uri_length and headers up to max_header_size fit, and the
// handler tells 414 from 431 exactly; anything larger is refused by fasthttp
// (431).
//
// Request bodies are never read: no request here may carry one. When the
// headers declare one, HeaderReceived tells fasthttp there is none and marks
// the connection to close after the answer; the handler still sees the
// declared body in the raw headers and answers 413 over max_request_size,
// else 400 on a read method and 405 on others, at once, without waiting for
// a byte of it.
//
// Unless Options.KeepIdleBuffers, idle keep-alive connections hold no buffers
// (ReduceMemoryUsage: the read and write buffers and the request context go
// back to their pools between requests), so 10,000 idle clients cost little
// more than their goroutines.
func (g *Gateway) NewServer(name string, handler fasthttp.RequestHandler) *fasthttp.Server {
	l := g.opts.Limits
	return &fasthttp.Server{
		Handler:      handler,
		ErrorHandler: g.parseError,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if cl := h.ContentLength(); cl != 0 && cl != -2 {
				// A declared body is never read: the handler judges it from
				// the raw headers, which keep it (413, 400 or 405), and the
				// connection closes after the answer, so the unread body is
				// never parsed as a request.
				h.SetContentLength(0)
				h.Del("Expect") // no "100 Continue" to a body we refuse
				h.SetConnectionClose()
			}
			return fasthttp.RequestConfig{}
		},
		Name:                          name,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadBufferSize:                l.MaxURILength + l.MaxHeaderSize + requestLineSlack,
		WriteBufferSize:               writeBufferSize,
		ReadTimeout:                   headerReadTimeout,
		IdleTimeout:                   keepAliveIdleTimeout,
		MaxRequestBodySize:            1,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		ReduceMemoryUsage:             !g.opts.KeepIdleBuffers,
		Logger:                        fasthttpLogger{g.log},
	}
}

// parseError answers a request fasthttp could not parse: 431 for a header
// section over the read buffer, 413 for a body over the limit, 400 otherwise.
// fasthttp closes the connection afterwards.
func (g *Gateway) parseError(ctx *fasthttp.RequestCtx, err error) {
	rid := newRequestID()
	ctx.Response.Reset()
	ctx.Response.Header.SetBytesV("X-Request-Id", rid[:])
	ctx.SetConnectionClose()
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		g.rejections[reasonHeaderTooLarge].Inc()
		writeError(ctx, ErrHeaderTooLarge, rid[:])
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		g.rejections[reasonBodyTooLarge].Inc()
		writeError(ctx, ErrBodyTooLarge, rid[:])
	case isTimeout(err):
		g.rejections[reasonSlowRequest].Inc()
		writeError(ctx, ErrSlowRequest, rid[:])
	default:
		g.rejections[reasonUnparsable].Inc()
		writeError(ctx, fmt.Errorf("%w: %w", ErrBadRequest, err), rid[:])
	}
	g.unrouted.Request(buckets.MethodOther, ctx.Response.StatusCode()).Inc()
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to the
// debug level: they are per-connection noise, counted elsewhere.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
