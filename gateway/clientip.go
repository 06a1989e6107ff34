package gateway

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"yatagarasu/ratelimit"
)

// trustedProxies decides whose forwarding headers are believed.
type trustedProxies []netip.Prefix

// clientIP returns the request's client address: the socket's peer, or, when
// the peer is a trusted proxy, the right-most address in X-Forwarded-For (or
// Forwarded: for=) that is not itself a trusted proxy. Right-most, because
// every address left of the first untrusted one was written by the client.
func (t trustedProxies) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	peer := addrOf(ctx.RemoteAddr())
	if len(t) == 0 || !t.contains(peer) {
		return peer
	}
	h := ctx.Request.Header.Peek("X-Forwarded-For")
	forwarded := false
	if len(h) == 0 {
		h, forwarded = ctx.Request.Header.Peek("Forwarded"), true
	}
	for len(h) > 0 {
		var part []byte
		if i := bytes.LastIndexByte(h, ','); i >= 0 {
			part, h = h[i+1:], h[:i]
		} else {
			part, h = h, nil
		}
		a, ok := parseForwardedAddr(trimOWS(part), forwarded)
		if !ok {
			return peer // a malformed hop: trust nothing further
		}
		if !t.contains(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (t trustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseForwardedAddr reads one X-Forwarded-For element, or one Forwarded
// element's for= parameter ("for=192.0.2.1", `for="[2001:db8::1]:80"`).
func parseForwardedAddr(b []byte, forwarded bool) (netip.Addr, bool) {
	if forwarded {
		i := bytes.Index(bytes.ToLower(b), []byte("for="))
		if i < 0 {
			return netip.Addr{}, false
		}
		b = b[i+4:]
		if j := bytes.IndexByte(b, ';'); j >= 0 {
			b = b[:j]
		}
		b = bytes.Trim(b, `"`)
		if len(b) > 0 && b[0] == '[' {
			if j := bytes.IndexByte(b, ']'); j > 0 {
				b = b[1:j]
			}
		} else if j := bytes.LastIndexByte(b, ':'); j > 0 && bytes.Count(b, []byte{':'}) == 1 {
			b = b[:j]
		}
	}
	a, err := netip.ParseAddr(string(b))
	return a.Unmap(), err == nil
}

// addrOf returns a net.Addr's IP, or the zero Addr (in-memory listeners).
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// rateKey is an address as a ratelimit.Key.
func rateKey(a netip.Addr) ratelimit.Key {
	return ratelimit.Key(a.As16())
}
