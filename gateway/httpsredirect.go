package gateway

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// redirectHTTPS answers a request of a transport with `redirect_https` by sending the client to
// the same host, path and query over HTTPS: nginx's `return 301 https://$host$request_uri`.
// The host is nginx's $host (lower-case, without the port of the request); port is left out
// when it is 443. GET and HEAD get 301, as nginx; any other method gets 308 (RFC 9110 section
// 15.4.9), as a 301 lets clients turn a POST into a GET and lose its body.
func redirectHTTPS(ctx *fasthttp.RequestCtx, rq *request, port int) {
	host := rq.host
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
}
