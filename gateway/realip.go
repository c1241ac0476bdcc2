package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pires/go-proxyproto"
	"github.com/valyala/fasthttp"
)

// realIP holds what decides a request's client address: the transport's trusted_proxies and
// real_ip_header (nginx's set_real_ip_from and real_ip_header, with real_ip_recursive on).
type realIP struct {
	trusted []netip.Prefix
	header  string // "X-Forwarded-For" (default) or "X-Real-IP"
}

func (r *realIP) trustedPeer(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client is the request's client address, the one REMOTE_ADDR, REMOTE_PORT and the
// per-client spool bound use: the peer (the PROXY protocol source when the listener takes
// one), or, when the peer is in trusted_proxies, the address nginx's realip module gives
// with real_ip_recursive on (ngx_http_get_forwarded_addr_internal): walk the real_ip_header
// from the right, skipping trusted addresses, and take the first untrusted one, or the
// leftmost when every one is trusted. A hop that is not an address ends the walk: the last
// good one stands, or the peer when there was none. port is the hop's port when it carried
// one ("192.0.2.1:4711", "[2001:db8::1]:4711"), else 0, as in nginx, whose $remote_port is
// then empty. Multiple header lines count as one list, joined in order (nginx 1.23+).
func (r *realIP) client(peer netip.AddrPort, h *fasthttp.RequestHeader) (addr netip.Addr, port uint16, forwarded bool) {
	addr, port = peer.Addr(), peer.Port()
	if len(r.trusted) == 0 || !r.trustedPeer(addr) {
		return addr, port, false
	}
	name := r.header
	if name == "" {
		name = "X-Forwarded-For"
	}
	// Header lines from the last to the first, hops in each from the right.
	vals := h.PeekAll(name)
	if name != "X-Forwarded-For" && len(vals) > 1 {
		vals = vals[:1] // nginx reads the first X-Real-IP line only
	}
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		for {
			// Separators are commas and spaces, as in nginx.
			end := len(v)
			for end > 0 && (v[end-1] == ',' || v[end-1] == ' ') {
				end--
			}
			if end == 0 {
				break
			}
			start := end
			for start > 0 && v[start-1] != ',' && v[start-1] != ' ' {
				start--
			}
			a, p, ok := parseHop(v[start:end])
			if !ok {
				return addr, port, forwarded
			}
			addr, port, forwarded = a, p, true
			if !r.trustedPeer(a) {
				return addr, port, true
			}
			v = v[:start]
		}
	}
	return addr, port, forwarded
}

// hostPort writes a client address for logs and the WAMP session's peer: "a:port", or the
// address alone when a forwarded hop carried no port.
func hostPort(a netip.Addr, port uint16) string {
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// parseHop parses one forwarded address as nginx's ngx_parse_addr_port does: an IPv4 or IPv6
// address, "a.b.c.d:port" or "[v6]:port", a port in 1..65535. Zones are refused.
func parseHop(b []byte) (netip.Addr, uint16, bool) {
	host, portB := b, []byte(nil)
	if len(b) > 0 && b[0] == '[' {
		i := bytes.IndexByte(b, ']')
		if i < 0 {
			return netip.Addr{}, 0, false
		}
		host = b[1:i]
		rest := b[i+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return netip.Addr{}, 0, false
			}
			portB = rest[1:]
			if len(portB) == 0 {
				return netip.Addr{}, 0, false
			}
		}
	} else if i := bytes.IndexByte(b, ':'); i >= 0 && bytes.IndexByte(b[i+1:], ':') < 0 {
		host, portB = b[:i], b[i+1:]
		if len(portB) == 0 {
			return netip.Addr{}, 0, false
		}
	}
	// The header bytes are read in place: the Addr keeps no reference to its input (a zone
	// would be interned, and is refused anyway) and errors are dropped at once, so that the
	// walk allocates nothing.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(host), len(host)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	var port uint16
	if portB != nil {
		if len(portB) > 5 {
			return netip.Addr{}, 0, false
		}
		n := 0
		for _, c := range portB {
			if c < '0' || c > '9' {
				return netip.Addr{}, 0, false
			}
			n = n*10 + int(c-'0')
		}
		if n == 0 || n > 65535 {
			return netip.Addr{}, 0, false
		}
		port = uint16(n)
	}
	return a, port, true // "::ffff:192.0.2.1" stays as written, as in nginx
}

// forwardedHTTPS reports whether the last X-Forwarded-Proto hop is "https": the scheme the
// nearest proxy saw (werkzeug's ProxyFix x_proto=1 reads the same hop). Only asked for a
// trusted peer.
func forwardedHTTPS(h *fasthttp.RequestHeader) bool {
	var last []byte
	if all := h.PeekAll("X-Forwarded-Proto"); len(all) > 0 {
		last = all[len(all)-1]
	}
	if i := bytes.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return asciiEqualFold(trimOWS(last), "https")
}

// proxyListener takes the PROXY protocol (HAProxy's proxy-protocol.txt, v1 and v2) on a tcp
// endpoint with proxy_protocol: a peer in proxy_protocol_from (default trusted_proxies) may
// open with a PROXY header, whose source address then is the connection's RemoteAddr, so
// that REMOTE_ADDR, logs, per-client bounds and the WAMP session's peer all see the client
// (nginx `listen ... proxy_protocol` with `set_real_ip_from` and `real_ip_header
// proxy_protocol`). Such a peer may also connect without one (a health check); a LOCAL
// command keeps the peer's address. Any other peer is refused a header, and a malformed
// header closes the connection, with a log line either way. The header is read by the
// connection's first read, in its own goroutine, bounded by header_read_timeout.
// github.com/pires/go-proxyproto does the parsing.
type proxyListener struct {
	net.Listener
	log   *slog.Logger
	where string
}

func newProxyListener(ln net.Listener, from []string, timeout time.Duration, log *slog.Logger, where string) (net.Listener, error) {
	trusted, err := parseTrusted(from)
	if err != nil {
		return nil, err
	}
	r := &realIP{trusted: trusted}
	pl := &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if r.trustedPeer(addrPort(o.Upstream).Addr()) {
				return proxyproto.USE, nil
			}
			return proxyproto.REJECT, nil
		},
	}
	if timeout <= 0 {
		pl.ReadHeaderTimeout = -1 // no bound, as header_read_timeout 0
	}
	return &proxyListener{Listener: pl, log: log, where: where}, nil
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc, ok := c.(*proxyproto.Conn)
	if !ok {
		return c, nil
	}
	return &proxyConn{Conn: pc, l: l}, nil
}

// proxyConn logs why a connection's PROXY header was refused, once.
type proxyConn struct {
	*proxyproto.Conn
	l      *proxyListener
	logged atomic.Bool
}

func (c *proxyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && strings.HasPrefix(err.Error(), "proxyproto:") && c.logged.CompareAndSwap(false, true) {
		msg := "malformed PROXY protocol header: connection closed"
		if errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) {
			msg = "PROXY protocol header from a peer not allowed to send one: connection closed; list the load balancers in the endpoint's proxy_protocol_from or the transport's trusted_proxies"
		}
		c.l.log.Warn(msg, "transport", c.l.where, "peer", c.Conn.Raw().RemoteAddr().String(), "error", err.Error())
		_ = c.Conn.Close()
	}
	return n, err
}

// CloseWrite half-closes the connection under it (RawSocket and WebSocket closes use it).
func (c *proxyConn) CloseWrite() error {
	if cw, ok := c.Conn.Raw().(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
