package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

// Request framing is checked as nginx checks it (ngx_http_process_request_header), because a
// proxy that frames a request differently from the server behind it is a smuggling vector
// (RFC 9112 section 6.3):
//
//	duplicate Content-Length                         400 (fasthttp's parser)
//	Transfer-Encoding on HTTP/1.0                    400
//	Content-Length together with Transfer-Encoding   400
//	a transfer coding other than chunked             501
//
// fasthttp rejects the first, second and fourth while reading the head and reports them to
// errorHandler; the third it accepts (chunked wins), so framingError checks it per request.

var errFraming = errors.New("request has both Content-Length and Transfer-Encoding")

// framingError runs only for chunked requests, which are rare, so the raw head scan is cheap
// overall.
func framingError(h *fasthttp.RequestHeader) error {
	if h.ContentLength() != -1 {
		return nil
	}
	for line := range bytes.SplitSeq(h.RawHeaders(), []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && asciiEqualFold(bytes.TrimSpace(name), "Content-Length") {
			return errFraming
		}
	}
	return nil
}

// headError checks what nginx checks in a request head before any location runs, and fasthttp
// lets through:
//
//	HTTP major version other than 1 ("HTTP/2.0", "HTTP/9.9")   505
//	a header name that is not a token ("X Y: 1", "X : 1")      400
//
// A version is refused before any upstream is contacted: uWSGI echoes SERVER_PROTOCOL in its
// status line, so "HTTP/2.0" would run the app and then fail as a malformed response (502).
// HTTP/1.x with x > 1 is served as HTTP/1.1, as nginx does and RFC 9110 section 2.5 asks.
// fasthttp's header scanner refuses every non-token byte in a name except the space, which
// RFC 9112 section 5.1 says a server MUST refuse with 400 (nginx since 1.21.1 does); other
// bytes are checked too so that the rule does not rest on the scanner's.
func headError(h *fasthttp.RequestHeader) error {
	if p := h.Protocol(); len(p) != 8 || string(p[:7]) != "HTTP/1." {
		return errVersion
	}
	raw := h.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' || line[0] == '\r' {
			continue // an obs-fold continuation (fasthttp joins it) or the end of the head
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		if !isToken(name) {
			return errHeaderName
		}
	}
	return nil
}

// isToken reports whether b is an RFC 9110 section 5.6.2 token:
// 1*( "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA ).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if tokenByte[c] == 0 {
			return false
		}
	}
	return true
}

var tokenByte = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 1
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = 1
	}
	return t
}()

// errorHandler answers requests fasthttp could not parse.
func errorHandler(log *slog.Logger) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		status := fasthttp.StatusBadRequest
		var ne net.Error
		switch {
		case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
			// HTTP/1.0 with Transfer-Encoding, or repeated Transfer-Encoding headers.
		case strings.Contains(err.Error(), "unsupported transfer-encoding: \""):
			// An unknown coding; fasthttp names it only with SecureErrorLogMessage off.
			status = fasthttp.StatusNotImplemented
		case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
			status = fasthttp.StatusRequestHeaderFieldsTooLarge
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			status = fasthttp.StatusRequestEntityTooLarge
		case errors.As(err, &ne) && ne.Timeout():
			status = fasthttp.StatusRequestTimeout
		}
		log.Debug("bad request", "status", status, "remote", ctx.RemoteAddr().String(), "error", err.Error())
		ctx.SetConnectionClose()
		writeStatus(ctx, status)
	}
}

// expect answers "Expect: 100-continue" before the body is read: a body announced larger than
// the path's max_body_size is refused with 413 there and then, as nginx does, instead of
// inviting the client to send it. fasthttp then sends ctx.Response with the status returned
// and runs no handler, so the refusal is written here in full, as handle writes one: the
// error page and the `headers` of the path.
func (s *server) expect(ctx *fasthttp.RequestCtx) int {
	tab := s.table.Load()
	var svc service
	err := s.expectError(ctx, tab, &svc)
	if err == nil {
		return fasthttp.StatusContinue
	}
	place := s.where
	if svc != nil {
		place = svc.place()
	}
	fail(ctx, s.g.log, place, err)
	tab.finish(ctx, svc, true)
	return ctx.Response.StatusCode()
}

// expectError is why a request that expects 100-continue is refused before its body, or nil;
// *svc is the path's service when it was found.
func (s *server) expectError(ctx *fasthttp.RequestCtx, tab *pathTable, svc *service) error {
	if err := headError(&ctx.Request.Header); err != nil {
		return err
	}
	target, _, err := splitAbsolute(ctx.Request.Header.RequestURI())
	if err != nil {
		return err
	}
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	rq := requestPool.Get().(*request)
	defer requestPool.Put(rq)
	if rq.path, err = normalizePath(rq.path, target); err != nil {
		return err
	}
	*svc, _ = tab.root.lookup(rq.path)
	if w, ok := (*svc).(*wsgiService); ok && w.maxBody > 0 && int64(ctx.Request.Header.ContentLength()) > w.maxBody {
		return errBodyTooLarge
	}
	return nil
}
