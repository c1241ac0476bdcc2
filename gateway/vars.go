package gateway

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/valyala/fasthttp"

	"portico/uwsgiproto"
)

// buildVars encodes the uwsgi vars for one request: the CGI variables exactly as nginx builds
// them from Debian's /etc/nginx/uwsgi_params, then SCRIPT_NAME for the mount (as Crossbar's
// WSGI host gives it), then one HTTP_* variable per request header.
//
// Differences from nginx, on purpose:
//   - header names containing "_" are dropped (nginx's underscores_in_headers off does the
//     same) and Proxy never becomes HTTP_PROXY (httpoxy, CVE-2016-5385);
//   - X-Forwarded-For/-Proto/-Host from a client that is not a trusted proxy are replaced by
//     what Portico saw; from a trusted proxy, the peer is appended to X-Forwarded-For; the
//     other headers through which a proxy tells the app about the client (forwardingHeader)
//     are dropped unless the peer is a trusted proxy;
//   - repeated headers are joined into one variable with ", " ("; " for Cookie), as RFC 3875
//     section 4.1.18 asks, where nginx sends several variables of the same name;
//   - SERVER_NAME is the request's host (Portico has no server_name directive), and HTTP_HOST
//     keeps the port (Debian's uwsgi_params send $host, without it).
func (s *wsgiService) buildVars(ctx *fasthttp.RequestCtx, rq *request, ps *proxyState, bodyLen int64) ([]byte, error) {
	h := &ctx.Request.Header
	e := &ps.enc
	e.Reset(0, 0)

	addB(e, "QUERY_STRING", ctx.URI().QueryString())
	addB(e, "REQUEST_METHOD", h.Method())
	addB(e, "CONTENT_TYPE", h.ContentType())
	sc := ps.scratch[:0]
	noCL := false
	if bodyLen > 0 || h.ContentLength() == -1 {
		// A chunked body was counted before sending: uwsgi gets its real length.
		sc = strconv.AppendInt(sc, bodyLen, 10)
		addB(e, "CONTENT_LENGTH", sc)
	} else if clSent := bodyLen > 0 || h.ContentLength() != 0 || h.IsGet() || h.IsHead() || sentHeader(h, "Content-Length"); clSent {
		addB(e, "CONTENT_LENGTH", h.Peek(fasthttp.HeaderContentLength))
	} else {
		// fasthttp reports "Content-Length: 0" for a DELETE or OPTIONS without one; nginx
		// sends an empty CONTENT_LENGTH and no HTTP_CONTENT_LENGTH.
		e.Add("CONTENT_LENGTH", "")
		noCL = true
	}
	addB(e, "REQUEST_URI", rq.requestURI)
	addB(e, "PATH_INFO", rq.path[rq.mount:])
	addB(e, "SCRIPT_NAME", rq.path[:rq.mount])
	e.Add("DOCUMENT_ROOT", s.env.documentRoot)
	addB(e, "SERVER_PROTOCOL", h.Protocol())
	// The client: the peer, or behind trusted_proxies the forwarded address (realIP.client).
	// From a trusted peer, X-Forwarded-Proto: https makes the request an HTTPS one for the
	// app, as nginx's uwsgi_params say for a TLS listener (HTTPS on, REQUEST_SCHEME https;
	// uwsgi derives wsgi.url_scheme from HTTPS).
	remote := addrPort(ctx.RemoteAddr())
	trusted := s.env.ip.trustedPeer(remote.Addr())
	if s.env.tls || trusted && forwardedHTTPS(h) {
		e.Add("REQUEST_SCHEME", "https")
		e.Add("HTTPS", "on")
	} else {
		e.Add("REQUEST_SCHEME", "http")
	}
	client, cport, _ := s.env.ip.client(remote, h)
	sc = client.AppendTo(sc[:0])
	addB(e, "REMOTE_ADDR", sc)
	sc = sc[:0]
	if cport != 0 {
		// A forwarded address without a port leaves REMOTE_PORT empty, as nginx's
		// $remote_port is after realip.
		sc = strconv.AppendUint(sc, uint64(cport), 10)
	}
	addB(e, "REMOTE_PORT", sc)
	sc = strconv.AppendUint(sc[:0], uint64(addrPort(ctx.LocalAddr()).Port()), 10)
	addB(e, "SERVER_PORT", sc)
	addB(e, "SERVER_NAME", rq.host)
	// HTTP_HOST keeps the port, as WSGI apps need it to build absolute URLs (Django's
	// build_absolute_uri, Flask's url_for(_external=True)) and as Crossbar passes it. For an
	// absolute-form request line it is that line's authority, not a Host header that
	// disagrees with it (the concern behind Debian's HTTP_HOST $host in uwsgi_params).
	overrides := len(s.varsHTTP) > 0
	if !overrides || !s.varOverrides([]byte("HTTP_HOST")) {
		addB(e, "HTTP_HOST", rq.authority)
	}

	// Collect headers once so that repeated names can be joined.
	hs := ps.hdrs[:0]
	for k, v := range h.All() {
		hs = append(hs, hdr{k, v})
	}
	ps.hdrs = hs
	xff := ps.xff[:0]
	for i, hv := range hs {
		k := hv.k
		if bytes.IndexByte(k, '_') >= 0 || asciiEqualFold(k, "Host") || asciiEqualFold(k, "Proxy") ||
			asciiEqualFold(k, "Transfer-Encoding") || ((noCL || h.ContentLength() == -1) && asciiEqualFold(k, "Content-Length")) {
			continue
		}
		if !trusted && forwardingHeader(k) {
			continue
		}
		if seenBefore(hs[:i], k) {
			continue
		}
		if asciiEqualFold(k, "Connection") && !sentHeader(h, "Connection") {
			continue // fasthttp reports "Connection: close" for HTTP/1.0 requests without one
		}
		sep := ", "
		if asciiEqualFold(k, "Cookie") {
			sep = "; "
		}
		// Join this header's values (later duplicates included).
		sc = append(sc[:0], hv.v...)
		for _, later := range hs[i+1:] {
			if len(later.k) == len(k) && asciiEqualFold(later.k, string(k)) {
				sc = append(sc, sep...)
				sc = append(sc, later.v...)
			}
		}
		if asciiEqualFold(k, "X-Forwarded-For") {
			if trusted {
				xff = append(xff[:0], sc...) // appended below
			}
			continue
		}
		name := appendCGIName(ps.nameBuf[:0], k)
		ps.nameBuf = name
		if overrides && s.varOverrides(name) {
			continue // a configured var of this name replaces the header (uwsgi_param HTTP_*)
		}
		e.AddBytes(name, sc)
	}
	// X-Forwarded-*: what the client sent is trusted only from a configured proxy.
	sc = sc[:0]
	if len(xff) > 0 {
		sc = append(append(sc, xff...), ", "...)
	}
	sc = remote.Addr().AppendTo(sc)
	if !overrides || !s.varOverrides([]byte("HTTP_X_FORWARDED_FOR")) {
		addB(e, "HTTP_X_FORWARDED_FOR", sc)
	}
	ps.xff = xff
	if !trusted {
		if !overrides || !s.varOverrides([]byte("HTTP_X_FORWARDED_PROTO")) {
			if s.env.tls {
				e.Add("HTTP_X_FORWARDED_PROTO", "https")
			} else {
				e.Add("HTTP_X_FORWARDED_PROTO", "http")
			}
		}
		if len(rq.host) > 0 && (!overrides || !s.varOverrides([]byte("HTTP_X_FORWARDED_HOST"))) {
			addB(e, "HTTP_X_FORWARDED_HOST", rq.host)
		}
	}
	if len(s.vars) > 0 {
		sc = s.addConfiguredVars(e, ctx, rq, remote.Addr(), sc)
	}
	if ps.chunkedVar {
		e.Add("PORTICO_CHUNKED", "1")
	}
	ps.scratch = sc
	return e.Packet()
}

// forwardedHeaders are the request headers through which a reverse proxy tells the app who
// the client is and how it connected. From a peer that is not in trusted_proxies they are
// forgeries: an app behind werkzeug's ProxyFix, Django's USE_X_FORWARDED_HOST/_PORT or a
// framework reading RFC 7239 Forwarded would believe them. X-Forwarded-For, -Proto and -Host
// are then replaced by what Portico saw (buildVars); the rest are dropped.
var forwardedHeaders = [...]string{
	"Forwarded",          // RFC 7239
	"X-Forwarded-Proto",  // replaced
	"X-Forwarded-Host",   // replaced
	"X-Forwarded-Port",   // werkzeug ProxyFix x_port, Django USE_X_FORWARDED_PORT
	"X-Forwarded-Prefix", // werkzeug ProxyFix x_prefix (becomes SCRIPT_NAME)
	"X-Forwarded-Server",
	"X-Forwarded-Scheme", // paste's PrefixMiddleware
	"X-Forwarded-Ssl",
	"X-Url-Scheme",
	"Front-End-Https",
	"X-Real-IP", // nginx's realip convention
}

// forwardingHeader reports whether k is one of forwardedHeaders (X-Forwarded-For is handled
// on its own: from a trusted proxy it is kept and extended).
func forwardingHeader(k []byte) bool {
	if len(k) < 9 {
		return false
	}
	for _, name := range forwardedHeaders {
		if asciiEqualFold(k, name) {
			return true
		}
	}
	return false
}

// sentHeader reports whether the client itself sent the header (fasthttp synthesizes some).
// It scans the raw head, so it is only called on the rare paths that need it.
func sentHeader(h *fasthttp.RequestHeader, name string) bool {
	for line := range bytes.SplitSeq(h.RawHeaders(), []byte("\n")) {
		if k, _, ok := bytes.Cut(line, []byte(":")); ok && asciiEqualFold(bytes.TrimSpace(k), name) {
			return true
		}
	}
	return false
}

func seenBefore(hs []hdr, k []byte) bool {
	for _, p := range hs {
		if len(p.k) == len(k) && asciiEqualFold(p.k, string(k)) {
			return true
		}
	}
	return false
}

// appendCGIName turns "Content-Type" into "HTTP_CONTENT_TYPE" (RFC 3875 section 4.1.18).
func appendCGIName(dst, k []byte) []byte {
	dst = append(dst, "HTTP_"...)
	for _, c := range k {
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// addB adds a variable whose value is a byte slice without copying it to a string first (the
// encoder copies it into the packet at once).
func addB(e *uwsgiproto.Encoder, key string, v []byte) {
	e.Add(key, unsafe.String(unsafe.SliceData(v), len(v)))
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
