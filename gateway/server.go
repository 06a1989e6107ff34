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
	// bodyReadTimeout bounds fasthttp's read of the first bytes of a
	// declared request body (see NewServer): no request here may have one.
	bodyReadTimeout = 2 * time.Second
)

// NewServer returns a fasthttp server for handler with the gateway's limits
// and an ErrorHandler that answers unparsable requests in S3 XML.
//
// The read buffer holds the request line and headers: it is sized so that a
// target up to max_uri_length and headers up to max_header_size fit, and the
// handler tells 414 from 431 exactly; anything larger is refused by fasthttp
// (431). Request bodies are streamed, never buffered: the handler judges a
// body by its Content-Length and closes the connection rather than read it.
// fasthttp still reads the first min(limit, 8 KiB) bytes of a declared body
// before the handler runs; HeaderReceived gives such requests a short read
// timeout, so a client that declares a body and sends none waits 2s for a
// 408, and one that declares more than max_request_size gets 413 after at
// most that much is read.
func (g *Gateway) NewServer(name string, handler fasthttp.RequestHandler) *fasthttp.Server {
	l := g.opts.Limits
	return &fasthttp.Server{
		Handler:      handler,
		ErrorHandler: g.parseError,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if h.ContentLength() == 0 {
				return fasthttp.RequestConfig{}
			}
			limit := g.table.Load().Settings.Limits.MaxRequestSize // a reload may change it
			return fasthttp.RequestConfig{ReadTimeout: bodyReadTimeout, MaxRequestBodySize: int(min(limit, 1<<40))}
		},
		Name:                          name,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadBufferSize:                l.MaxURILength + l.MaxHeaderSize + requestLineSlack,
		WriteBufferSize:               writeBufferSize,
		ReadTimeout:                   headerReadTimeout,
		IdleTimeout:                   keepAliveIdleTimeout,
		StreamRequestBody:             true,
		MaxRequestBodySize:            int(min(l.MaxRequestSize, 1<<40)),
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
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
