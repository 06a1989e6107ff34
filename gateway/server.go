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
	// readBufferSize bounds the request line plus headers; larger → 431.
	readBufferSize = 8 << 10
	// writeBufferSize is the response writer's buffer: headers and small
	// bodies. Streamed bodies bypass it (exchange.WriteTo).
	writeBufferSize = 16 << 10
	// headerReadTimeout: a client must send a whole request (line and
	// headers; request bodies are not read) within this long.
	headerReadTimeout = 30 * time.Second
	// keepAliveIdleTimeout closes a keep-alive connection idle this long.
	keepAliveIdleTimeout = 90 * time.Second
	// maxRequestBodySize: a read path needs no request bodies.
	maxRequestBodySize = 64 << 10
)

// NewServer returns a fasthttp server for handler with the gateway's limits
// and an ErrorHandler that answers unparsable requests in S3 XML.
func (g *Gateway) NewServer(name string, handler fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       handler,
		ErrorHandler:                  g.parseError,
		Name:                          name,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		ReadBufferSize:                readBufferSize,
		WriteBufferSize:               writeBufferSize,
		ReadTimeout:                   headerReadTimeout,
		IdleTimeout:                   keepAliveIdleTimeout,
		MaxRequestBodySize:            maxRequestBodySize,
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
		writeError(ctx, ErrHeaderTooLarge, rid[:])
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, ErrBodyTooLarge, rid[:])
	default:
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
