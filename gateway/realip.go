package gateway

import (
	"bytes"
	"net/netip"
	"strconv"

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
// per-client spool bound use: the peer, or, when the peer is in trusted_proxies, the address nginx's realip module gives
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
	a, err := netip.ParseAddr(string(host))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	var port uint16
	if portB != nil {
		n, err := strconv.ParseUint(string(portB), 10, 16)
		if err != nil || n == 0 {
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
