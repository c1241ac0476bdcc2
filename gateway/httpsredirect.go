package gateway

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// redirectHTTPS answers a request of a transport with `redirect_https` by sending the client to
// the same host, path and query over HTTPS: nginx's `return 301 https://$host$request_uri`.
// The host is nginx's $host (lower-case, without the port of the request); port is left out
// when it is 443. GET and HEAD get 301, as nginx; any other method gets 308 (RFC 9110 section
// 15.4.9), as a 301 lets clients turn a POST into a GET and lose its body. A host that is not
// an RFC 3986 host (a "/" or a quote in Host) is refused with 400, as nginx refuses a Host
// with "/" (ngx_http_validate_host): it would end up in the Location.
func redirectHTTPS(ctx *fasthttp.RequestCtx, rq *request, port int) error {
	host := rq.host
	if !validHost(host) {
		return errBadHost
	}
	if len(host) == 0 {
		// HTTP/1.0 without Host: the address the client reached (nginx would use its
		// server_name).
		host = addrPort(ctx.LocalAddr()).Addr().AppendTo(rq.host[:0])
		if a := addrPort(ctx.LocalAddr()).Addr(); a.Is6() && !a.Is4In6() {
			host = append(append([]byte{'['}, host...), ']')
		}
	}
	status := fasthttp.StatusMovedPermanently
	if m := ctx.Method(); string(m) != fasthttp.MethodGet && string(m) != fasthttp.MethodHead {
		status = fasthttp.StatusPermanentRedirect
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	rh := &ctx.Response.Header
	loc := append(append(make([]byte, 0, 64), "https://"...), host...)
	if port != 443 {
		loc = append(loc, ':')
		loc = strconv.AppendInt(loc, int64(port), 10)
	}
	loc = append(loc, rq.requestURI...)
	rh.SetBytesV(fasthttp.HeaderLocation, loc)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(strconv.Itoa(status) + " " + fasthttp.StatusMessage(status) + "\n")
	return nil
}

// validHost: an IP literal in brackets, or an RFC 3986 section 3.2.2 reg-name (unreserved,
// pct-encoded and sub-delims characters), or nothing (HTTP/1.0 without Host).
func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == '[' {
		if len(h) < 3 || h[len(h)-1] != ']' {
			return false
		}
		for _, c := range h[1 : len(h)-1] {
			if !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', 'A' <= c && c <= 'Z':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '%':
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=':
		default:
			return false
		}
	}
	return true
}
