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
// inviting the client to send it.
func (s *server) expect(ctx *fasthttp.RequestCtx) int {
	tab := s.table.Load()
	target, _ := splitAbsolute(ctx.Request.Header.RequestURI())
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	rq := requestPool.Get().(*request)
	defer requestPool.Put(rq)
	var err error
	if rq.path, err = normalizePath(rq.path, target); err != nil {
		return fasthttp.StatusBadRequest
	}
	svc, _ := tab.root.lookup(rq.path)
	if w, ok := svc.(*wsgiService); ok && w.maxBody > 0 && int64(ctx.Request.Header.ContentLength()) > w.maxBody {
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}
