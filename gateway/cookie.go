package gateway

import (
	"net/http"

	"github.com/valyala/fasthttp"

	"portico/router"
)

// WebSocket cookie tracking (a websocket path's `cookie`, Crossbar's "Cookie Tracking"): the
// opening handshake reads the path's cookie from the request and, when it brings none the
// path's store knows, sets a new one on the 101 response. The router remembers on it who
// authenticated (router/cookie.go).

// trackCookie returns the connection's tracking cookie, adding Set-Cookie to respHeader for a
// new one.
func (s *wsService) trackCookie(ctx *fasthttp.RequestCtx, respHeader http.Header) *router.CookieTrack {
	id, set := s.cookies.Track(string(ctx.Request.Header.Cookie(s.cookies.Name())))
	if set != "" {
		respHeader.Add("Set-Cookie", set)
	}
	return &router.CookieTrack{Store: s.cookies, ID: id}
}
