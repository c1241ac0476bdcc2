package gateway

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"

	"portico/uwsgiproto"
)

// Errors a service handler returns. They are mapped to HTTP statuses in one place, statusOf,
// so that no handler writes its own error page (the shape of Caddy's reverseproxy statusError).
var (
	errQueueTimeout   = errors.New("no upstream slot free within queue_timeout")
	errQueueFull      = errors.New("upstream wait queue is full")
	errBodyTooLarge   = errors.New("request body larger than max_body_size")
	errBadPath        = errors.New("malformed request path")
	errNotFound       = errors.New("no service at this path")
	errNotImplemented = errors.New("service not implemented")
	errMethod         = errors.New("method not allowed")
	errForbidden      = errors.New("forbidden")
	errVersion        = errors.New("HTTP version not supported")
	errHeaderName     = errors.New("header name is not a token")
	errUserinfo       = errors.New("request target has userinfo")
	errBadHost        = errors.New("host is not an RFC 3986 host")
	errPrecondition   = errors.New("If-Match or If-Unmodified-Since does not hold")
)

// clientReason is a refusal whose reason is meant for the client, such as why a WebSocket
// handshake cannot be served (autobahn's failHandshake puts it in the body too). err decides
// the status; fail appends reason to the body.
type clientReason struct {
	err    error
	reason string
}

func (e *clientReason) Error() string { return e.err.Error() + ": " + e.reason }
func (e *clientReason) Unwrap() error { return e.err }

// bridgeError is a refusal or failure of an HTTP bridge service (publisher, caller, webhook)
// in Crossbar's shape: its status, and its body, Crossbar's
// {"error": "...", "args": [], "kwargs": {}} (crossbar/bridge/rest/common.py _deny_request,
// _fail_request), or the webhook's error_response.
type bridgeError struct {
	status int
	body   []byte
	cause  string // for the log line; never sent
}

func (e *bridgeError) Error() string {
	if e.cause != "" {
		return "http bridge: " + e.cause
	}
	return "http bridge: " + string(e.body)
}

// bridgeDeny is common.py _deny_request: status, and msg (Crossbar's log category text) as
// the error of a dump_json body.
func bridgeDeny(status int, msg string) error {
	b := append([]byte(`{"error":`), appendPyString(nil, msg, false)...)
	return &bridgeError{status: status, body: append(b, `,"args":[],"kwargs":{}}`...)}
}

// runtimeError is _fail_request for a failure that is no WAMP error (the session is gone, the
// request cannot become a CALL): 500 and Crossbar's generic wamp.error.runtime_error.
func runtimeError(cause string) error {
	return &bridgeError{status: 500, cause: cause,
		body: []byte(`{"error": "wamp.error.runtime_error", "args": ["Sorry, Crossbar.io has encountered a problem."], "kwargs": {}}`)}
}

// upstreamError carries which upstream failed and at which step, for the log line.
type upstreamError struct {
	upstream string // "unix:/run/app.sock"
	op       string // "dial", "send", "read head", "read body"
	err      error
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("upstream %s: %s: %v", e.upstream, e.op, e.err)
}

func (e *upstreamError) Unwrap() error { return e.err }

// interceptedError is an upstream response of an error status that a wsgi path with
// intercept_errors answers with the transport's error page instead (nginx
// uwsgi_intercept_errors).
type interceptedError struct{ status int }

func (e *interceptedError) Error() string {
	return fmt.Sprintf("upstream answered %d, intercepted", e.status)
}

// statusOf maps an error from any service to the status the client sees.
//
//	timeout (dial, send, read)          504
//	queue timeout / queue full          503
//	archive downloading or not got      503 (archive path; the log says why)
//	archive member corrupt/unsupported  500
//	WebSocket over max_connections      503 (upgraded connections fasthttp no longer counts)
//	vars block over 65535 bytes         431 (the request's headers are what made it large)
//	body over max_body_size             413
//	spool full (max_spool_size)         507 (RFC 4918 section 11.5: the server cannot store
//	                                    what the request needs; not 503, which is the queue)
//	client's spool full                 429 (max_spool_per_client: this client holds too much
//	                                    at once; it may retry once its other uploads end)
//	HTTP major version other than 1     505 (before any service runs)
//	malformed path, CL with TE          400
//	header name not a token, userinfo   400
//	Host not a host (redirect_https)    400
//	WebSocket handshake we cannot serve 400 (no common subprotocol, bad version or key)
//	long-poll open or send body refused 400 (Crossbar's reason in the body)
//	long-poll transports over max_conn. 503; a send the session does not take in 10s: 503
//	plain GET where only WebSocket is   426 (Upgrade: websocket)
//	If-Match, If-Unmodified-Since fail  412 (static files)
//	client body too slow / broken       408 / 400
//	request body temporary file failed  500
//	X-Sendfile outside sendfile_roots,  500 (the app asked for what the proxy must not or
//	X-Accel-Redirect unservable         cannot serve: a fault of the app or the config)
//	upstream status intercepted         that status (intercept_errors, error_pages)
//	HTTP bridge refusal or failure      Crossbar's status for it (bridgeError, bridge.go)
//	anything else from an upstream      502 (refused, reset, malformed response)
func statusOf(err error) int {
	var ne net.Error
	var ce *clientError
	var ue *upstreamError
	var ie *interceptedError
	var be *bridgeError
	switch {
	case errors.As(err, &ie):
		return ie.status
	case errors.As(err, &be):
		return be.status
	case errors.As(err, &ue):
		switch {
		case errors.Is(err, errQueueTimeout), errors.Is(err, errQueueFull):
			return fasthttp.StatusServiceUnavailable
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
			errors.As(err, &ne) && ne.Timeout():
			return fasthttp.StatusGatewayTimeout
		}
		return fasthttp.StatusBadGateway
	case errors.As(err, &ce):
		if errors.As(ce.err, &ne) && ne.Timeout() {
			return fasthttp.StatusRequestTimeout
		}
		return fasthttp.StatusBadRequest
	case errors.Is(err, errQueueTimeout), errors.Is(err, errQueueFull), errors.Is(err, errWSLimit),
		errors.Is(err, errArchiveUnavailable), errors.Is(err, errLongPollLimit), errors.Is(err, errLongPollTimeout):
		return fasthttp.StatusServiceUnavailable
	case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrAlgorithm):
		return fasthttp.StatusInternalServerError
	case errors.Is(err, errBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, errSpoolFull):
		return fasthttp.StatusInsufficientStorage
	case errors.Is(err, errClientSpoolFull):
		return fasthttp.StatusTooManyRequests
	case errors.Is(err, errSpool), errors.Is(err, errAccelRedirect), errors.Is(err, errSendfile):
		return fasthttp.StatusInternalServerError
	case errors.Is(err, uwsgiproto.ErrVarsTooLarge):
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, errVersion):
		return fasthttp.StatusHTTPVersionNotSupported
	case errors.Is(err, errBadPath), errors.Is(err, errFraming),
		errors.Is(err, errHeaderName), errors.Is(err, errUserinfo), errors.Is(err, errBadHost),
		errors.Is(err, errNoSubprotocol), errors.Is(err, errBadHandshake), errors.Is(err, errLongPoll):
		return fasthttp.StatusBadRequest
	case errors.Is(err, errNotFound), errors.Is(err, os.ErrNotExist):
		return fasthttp.StatusNotFound
	case errors.Is(err, errForbidden), errors.Is(err, os.ErrPermission):
		return fasthttp.StatusForbidden
	case errors.Is(err, errMethod):
		return fasthttp.StatusMethodNotAllowed
	case errors.Is(err, errPrecondition):
		return fasthttp.StatusPreconditionFailed
	case errors.Is(err, errUpgradeRequired):
		return fasthttp.StatusUpgradeRequired
	case errors.Is(err, errNotImplemented):
		return fasthttp.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return fasthttp.StatusGatewayTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// causeOf names the failure in words an operator greps for.
func causeOf(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.ENOENT):
		return "socket missing"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The upstream hung up early: its worker died (segfault, harakiri, kill) or it
		// closed on purpose. Not a malformed response, which is a protocol fault.
		return "closed"
	case errors.Is(err, uwsgiproto.ErrBadResponse):
		return "malformed response"
	case errors.Is(err, errQueueTimeout):
		return "queue timeout"
	case errors.Is(err, errQueueFull):
		return "queue full"
	case errors.Is(err, errWSLimit):
		return "max_connections"
	case errors.Is(err, errBodyTooLarge):
		return "max_body_size"
	case errors.Is(err, errSpoolFull):
		return "max_spool_size"
	case errors.Is(err, errClientSpoolFull):
		return "max_spool_per_client"
	case errors.Is(err, errSendfile):
		return "sendfile_roots"
	case errors.Is(err, errArchiveUnavailable):
		return "archive unavailable"
	case errors.Is(err, errAccelRedirect):
		return "x-accel-redirect"
	case errors.As(err, new(*interceptedError)):
		return "intercepted"
	case errors.As(err, new(*bridgeError)):
		return "http bridge"
	}
	if statusOf(err) == fasthttp.StatusGatewayTimeout {
		return "timeout"
	}
	return "error"
}

// fail writes the error response for err and logs it once. Internal error text never reaches
// the client: the body is the status text only.
func fail(ctx *fasthttp.RequestCtx, log *slog.Logger, place string, err error) {
	status := statusOf(err)
	level := slog.LevelWarn
	if status < 500 {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.Int("status", status),
		slog.String("method", string(ctx.Method())),
		slog.String("uri", string(ctx.RequestURI())),
		slog.String("service", place),
		slog.String("remote", ctx.RemoteAddr().String()),
		slog.String("cause", causeOf(err)),
		slog.String("error", err.Error()),
	}
	var ue *upstreamError
	if errors.As(err, &ue) {
		attrs = append(attrs, slog.String("upstream", ue.upstream), slog.String("op", ue.op))
	}
	log.LogAttrs(context.Background(), level, "request failed", attrs...)
	writeStatus(ctx, status)
	var be *bridgeError
	if errors.As(err, &be) {
		setBridgeHeaders(ctx)
		ctx.SetBody(be.body)
		return
	}
	var cr *clientReason
	if errors.As(err, &cr) {
		ctx.Response.AppendBodyString(cr.reason + "\n")
	}
	switch status {
	case fasthttp.StatusUpgradeRequired:
		ctx.Response.Header.Set("Upgrade", "websocket") // RFC 9110 section 15.5.22
	case fasthttp.StatusMethodNotAllowed:
		// RFC 9110 section 15.5.6: a 405 names the methods the resource has. The services
		// that refuse methods (static, archive, json, nodeinfo) have GET and HEAD; the
		// long-poll operations have POST.
		if errors.Is(err, errLongPollMethod) {
			ctx.Response.Header.Set("Allow", "POST, OPTIONS")
		} else {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
		}
	}
}

func writeStatus(ctx *fasthttp.RequestCtx, status int) {
	ctx.Response.Reset()
	ctx.Response.Header.SetServer(serverName) // also for fasthttp's parse errors (errorHandler)
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fmt.Sprintf("%d %s\n", status, fasthttp.StatusMessage(status)))
}
