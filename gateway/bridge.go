package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // GitHub signs webhooks with HMAC-SHA1 (X-Hub-Signature)
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/router/wamp"
)

// bridgeService is an HTTP bridge path service, Crossbar's REST bridge
// (crossbar/bridge/rest/common.py, publisher.py, caller.py, webhook.py):
//
//	publisher  POST {"topic", "args", "kwargs", "options"}  -> 200 {"id": publication}
//	caller     POST {"procedure", "args", "kwargs"}         -> 200 {"args": [...], "kwargs": {...}}
//	webhook    POST anything -> publishes {"headers", "body"} to options.topic -> 202 "OK"
//
// Requests are checked in Crossbar's order, and every refusal has Crossbar's status and body
// (bridgeDeny, mapped in errors.go). A WAMP error (not authorized, no such procedure, an
// error the callee raised) is an answer, not a failure: 200 with {"error", "args", "kwargs"},
// as in Crossbar.
type bridgeService struct {
	where  string
	kind   string // "publisher", "caller", "webhook"
	cfg    *config.Bridge
	limit  int // body bound, bytes
	sess   *bridgeSession
	nonces *nonceMemory // nil without a secret
	log    *slog.Logger
	now    func() time.Time
	// inflight counts the requests being served: a reload retires the service once they
	// are done (or at its drain bound).
	inflight atomic.Int64
}

// bridgeBodyCeiling bounds a body when neither post_body_limit nor the transport's
// max_body_size does: Crossbar's largest post_body_limit.
const bridgeBodyCeiling = 1 << 20

func newBridgeService(svc *config.Service, t *config.Transport, ref *routerRef, log *slog.Logger) (*bridgeService, error) {
	b := svc.Bridge
	s := &bridgeService{where: svc.Place, kind: svc.Type, cfg: b, log: log, now: time.Now}
	s.limit = b.PostBodyLimit
	if s.limit == 0 {
		s.limit = bridgeBodyCeiling
		if m := t.Options.MaxBodySize; m > 0 && m < int64(s.limit) {
			s.limit = int(m)
		}
	}
	if b.Secret != "" {
		window := time.Duration(b.TimestampDeltaLimit) * time.Second
		if window == 0 {
			window = config.DefaultTimestampDeltaLimit * time.Second
		}
		s.nonces = newNonceMemory(2*window, maxNonces)
	}
	sess, err := newBridgeSession(ref, b.Realm, b.Role, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc.Place, err)
	}
	s.sess = sess
	return s, nil
}

func (s *bridgeService) place() string { return s.where }
func (s *bridgeService) close()        { s.sess.close() }

// setBridgeHeaders sets the headers of every bridge answer (common.py _set_common_headers).
func setBridgeHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || string(origin) == "null" {
		origin = []byte("*")
	}
	h.SetBytesV("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Cache-Control", "no-store,no-cache,must-revalidate,max-age=0")
	h.SetContentType("application/json; charset=UTF-8")
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); rh != nil {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
}

func (s *bridgeService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	setBridgeHeaders(ctx)
	switch {
	case ctx.IsPost(), ctx.IsPut():
	case ctx.IsOptions():
		ctx.Response.Header.Set("Allow", "POST,PUT,OPTIONS")
		ctx.Response.Header.Set("Access-Control-Allow-Methods", "POST,PUT,OPTIONS")
		ctx.SetStatusCode(fasthttp.StatusOK)
		return nil
	default:
		// Crossbar formats the method as Python bytes: "(b'GET' not allowed, only POST, PUT)".
		return bridgeDeny(405, fmt.Sprintf("Method not accepted by the REST bridge. (%s not allowed, only POST, PUT)", pyBytes(ctx.Method())))
	}
	s.inflight.Add(1)
	err := s.handle(ctx)
	s.inflight.Add(-1)
	if s.cfg.Debug {
		s.log.Info("bridge request", "method", string(ctx.Method()), "uri", string(ctx.RequestURI()),
			"remote", ctx.RemoteAddr().String(), "error", err)
	}
	return err
}

// handle runs the checks of common.py _render_request, in its order, then the service.
func (s *bridgeService) handle(ctx *fasthttp.RequestCtx) error {
	h := &ctx.Request.Header
	// Content type: application/json for publisher and caller (AR452); a charset, if any,
	// must be UTF-8 (AR450).
	var ctParts []string
	if ct := h.ContentType(); len(ct) > 0 {
		for _, p := range strings.Split(string(ct), ";") {
			ctParts = append(ctParts, strings.ToLower(strings.TrimSpace(p)))
		}
	}
	if s.kind != "webhook" && len(ctParts) > 0 && ctParts[0] != "application/json" {
		return bridgeDeny(400, fmt.Sprintf("Non-accepted content type. (must be one of '[b'application/json']', not '%s')", pyBytes([]byte(ctParts[0]))))
	}
	if len(ctParts) > 1 {
		params := map[string]string{}
		for _, p := range ctParts {
			if !strings.Contains(p, "=") {
				continue
			}
			kv := strings.Split(p, "=")
			k := strings.TrimSpace(kv[0])
			if _, dup := params[k]; len(kv) != 2 || dup {
				return bridgeDeny(400, "Non-accepted request encoding, must be UTF-8.")
			}
			params[k] = strings.TrimSpace(kv[1])
		}
		if cs, ok := params["charset"]; ok && cs != "utf-8" && cs != "utf8" {
			return bridgeDeny(400, "Non-accepted request encoding, must be UTF-8.")
		}
	}
	// post_body_limit (AR413): by Content-Length first, then by what arrives.
	if cl := h.ContentLength(); cl > s.limit {
		return bridgeDeny(413, fmt.Sprintf("Request too long. (%d is longer than accepted %d)", cl, s.limit))
	}
	body, err := readBounded(ctx, s.limit)
	if err != nil {
		var tl *tooLong
		if errors.As(err, &tl) {
			return bridgeDeny(413, fmt.Sprintf("Request too long. (%d is longer than accepted %d)", tl.n, s.limit))
		}
		return &clientError{err: err}
	}
	if s.cfg.GitHubSecret != "" && !githubSignatureOK(h.Peek("X-Hub-Signature"), s.cfg.GitHubSecret, body) {
		// common.py misspells the log category here, so the answer is the generic AR400.
		return bridgeDeny(400, "Malformed request to the REST bridge.")
	}
	if err := s.checkSigned(ctx.QueryArgs(), body); err != nil {
		return err
	}
	if len(s.cfg.RequireIP) > 0 && !ipAllowed(ctx.RemoteAddr(), s.cfg.RequireIP) {
		return bridgeDeny(400, "Request denied based on IP address.")
	}
	if s.cfg.RequireTLS && !ctx.IsTLS() {
		return bridgeDeny(400, "Malformed request to the REST bridge.")
	}
	if !utf8.Valid(body) {
		return bridgeDeny(400, "Non-decodable request body, was not UTF-8.")
	}
	if s.kind == "webhook" {
		return s.webhook(ctx, body)
	}
	v, err := decodeBridgeJSON(body)
	if err != nil {
		return bridgeDeny(400, "Request body was invalid JSON.")
	}
	event, ok := v.(map[string]any)
	if !ok {
		return bridgeDeny(400, "Request body was valid JSON, but not well formed (must be a dict).")
	}
	if s.kind == "publisher" {
		return s.publish(ctx, event)
	}
	return s.call(ctx, event)
}

// checkSigned checks the query parameters key, timestamp, seq, nonce and signature: each
// must be well formed when present, and with a secret all must be present and the signature
// right (common.py). Beyond Crossbar, a nonce is accepted once: replays are refused.
func (s *bridgeService) checkSigned(q *fasthttp.Args, body []byte) error {
	secret := s.cfg.Secret != ""
	missing := func(what string) error {
		return bridgeDeny(400, "REST bridge signature was invalid (missing mandatory field - "+what+").")
	}
	key, hasKey := peekArg(q, "key")
	if !hasKey && secret {
		return missing("'key' field missing")
	}
	ts, hasTS := peekArg(q, "timestamp")
	if hasTS {
		t, ok := parseBridgeTimestamp(ts)
		if !ok {
			return bridgeDeny(400, "REST bridge signature was invalid (invalid timestamp '"+string(ts)+"' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).")
		}
		if lim := s.cfg.TimestampDeltaLimit; lim > 0 {
			if d := s.now().Sub(t).Abs(); d > time.Duration(lim)*time.Second {
				return bridgeDeny(400, "Request expired, too old timestamp.")
			}
		}
	} else if secret {
		return missing("signed request required, but mandatory 'timestamp' field missing")
	}
	seq, hasSeq := peekArg(q, "seq")
	if hasSeq && !pyInt(seq) {
		return bridgeDeny(400, "REST bridge signature was invalid (invalid sequence number '"+string(seq)+"' (must be an integer)).")
	} else if !hasSeq && secret {
		return missing("'seq' field missing")
	}
	nonce, hasNonce := peekArg(q, "nonce")
	if hasNonce && !pyInt(nonce) {
		return bridgeDeny(400, "REST bridge signature was invalid (invalid nonce '"+string(nonce)+"' (must be an integer)).")
	} else if !hasNonce && secret {
		return missing("'nonce' field missing")
	}
	sig, hasSig := peekArg(q, "signature")
	if !hasSig && secret {
		return missing("'signature' field missing")
	}
	if !secret {
		return nil
	}
	if !hmac.Equal(key, []byte(s.cfg.Key)) {
		return bridgeDeny(401, "REST bridge signature key not valid.")
	}
	m := hmac.New(sha256.New, []byte(s.cfg.Secret))
	m.Write(key)
	m.Write(ts)
	m.Write(seq)
	m.Write(nonce)
	m.Write(body)
	want := make([]byte, base64.URLEncoding.EncodedLen(sha256.Size))
	base64.URLEncoding.Encode(want, m.Sum(nil))
	if !hmac.Equal(sig, want) {
		return bridgeDeny(401, "REST bridge signature secret not valid.")
	}
	switch s.nonces.add(nonce, s.now()) {
	case nonceSeen:
		return bridgeDeny(401, "REST bridge request replayed (nonce already used within the timestamp window).")
	case nonceFull:
		return bridgeDeny(503, "REST bridge is remembering too many nonces; retry later.")
	}
	return nil
}

// peekArg returns the first value of a query parameter, as Twisted's request.args gives it.
func peekArg(q *fasthttp.Args, name string) ([]byte, bool) {
	if !q.Has(name) {
		return nil, false
	}
	return q.Peek(name), true
}

// pyInt reports whether Python's int() reads b: optional spaces and sign, then decimal
// digits, with single underscores between digits.
func pyInt(b []byte) bool {
	s := strings.TrimSpace(string(b))
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// parseBridgeTimestamp reads Python's strptime format "%Y-%m-%dT%H:%M:%S.%fZ", in UTC.
func parseBridgeTimestamp(b []byte) (time.Time, bool) {
	s := string(b)
	num := func(max int) (int, bool) {
		n, i := 0, 0
		for i < len(s) && i < max && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int(s[i]-'0')
			i++
		}
		if i == 0 {
			return 0, false
		}
		s = s[i:]
		return n, true
	}
	sep := func(c byte) bool {
		if len(s) == 0 || s[0] != c {
			return false
		}
		s = s[1:]
		return true
	}
	yl := len(s)
	y, ok1 := num(4)
	ok1 = ok1 && yl-len(s) == 4
	mo, ok2 := 0, sep('-')
	if ok2 {
		mo, ok2 = num(2)
	}
	d, ok3 := 0, sep('-')
	if ok3 {
		d, ok3 = num(2)
	}
	hh, ok4 := 0, sep('T')
	if ok4 {
		hh, ok4 = num(2)
	}
	mi, ok5 := 0, sep(':')
	if ok5 {
		mi, ok5 = num(2)
	}
	ss, ok6 := 0, sep(':')
	if ok6 {
		ss, ok6 = num(2)
	}
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && sep('.')) {
		return time.Time{}, false
	}
	fs := len(s)
	us, ok7 := num(6)
	if !ok7 {
		return time.Time{}, false
	}
	for n := fs - len(s); n < 6; n++ {
		us *= 10
	}
	if s != "Z" || mo < 1 || mo > 12 || d < 1 || hh > 23 || mi > 59 || ss > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, hh, mi, ss, us*1000, time.UTC)
	if t.Day() != d { // Feb 30 and the like: strptime refuses them
		return time.Time{}, false
	}
	return t, true
}

func githubSignatureOK(header []byte, secret string, body []byte) bool {
	if len(header) == 0 {
		return false
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	want := "sha1=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), bytes.ToLower(header))
}

func ipAllowed(a net.Addr, nets []netip.Prefix) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false // a unix socket peer has no address to allow
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// tooLong is a body that grew past the bound while it was read.
type tooLong struct{ n int }

func (e *tooLong) Error() string { return "body over post_body_limit" }

// readBounded reads the request body, refusing more than limit bytes.
func readBounded(ctx *fasthttp.RequestCtx, limit int) ([]byte, error) {
	r := ctx.RequestBodyStream()
	if r == nil {
		b := ctx.Request.Body()
		if len(b) > limit {
			return nil, &tooLong{len(b)}
		}
		return b, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, &tooLong{int(n)}
	}
	return buf.Bytes(), nil
}

// listOrEmpty reads "args": a list, or anything Python takes as false (null, [], {}, "",
// 0, false) for none. ok is false for other values: Crossbar would unpack a string or a dict
// into arguments (or fail on a number); Portico refuses them.
func listOrEmpty(v any) (l []any, ok bool) {
	if x, isList := v.([]any); isList {
		return x, true
	}
	return nil, pyFalse(v)
}

func dictOrEmpty(v any) (d map[string]any, ok bool) {
	if x, isDict := v.(map[string]any); isDict {
		return x, true
	}
	return nil, pyFalse(v)
}

// pyFalse reports whether Python's bool() of a JSON value is False.
func pyFalse(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case int64:
		return x == 0
	case uint64:
		return x == 0
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// errBridgeInternal is Crossbar's answer to an exception in the request's own processing
// (common.py render: CB500).
func errBridgeInternal(cause string) error {
	e := bridgeDeny(500, "Unhandled exception in Crossbar.")
	e.(*bridgeError).cause = cause
	return e
}

// publish is publisher.py _process.
func (s *bridgeService) publish(ctx *fasthttp.RequestCtx, event map[string]any) error {
	tv, ok := event["topic"]
	if !ok {
		return bridgeDeny(400, "Request body was valid JSON, but not well formed (missing key 'topic').")
	}
	topic, isStr := tv.(string)
	args, okA := listOrEmpty(event["args"])
	kwargs, okK := dictOrEmpty(event["kwargs"])
	options, okO := dictOrEmpty(event["options"])
	if !isStr || !okA || !okK || !okO {
		return errBridgeInternal("topic not a string, or args, kwargs or options of the wrong type")
	}
	// Only exclude and eligible are taken from options (PublishOptions); publisher.py puts
	// its PublishOptions under kwargs' "options", so a kwarg of that name never arrives.
	opts := wamp.Dict{"acknowledge": true}
	for _, k := range []string{"exclude", "eligible"} {
		if v := options[k]; v != nil {
			l, ok := sessionIDs(v)
			if !ok {
				return errBridgeInternal("options." + k + " is not a session ID or a list of them")
			}
			opts[k] = l
		}
	}
	if _, has := kwargs["options"]; has {
		delete(kwargs, "options")
	}
	c, err := s.sess.get()
	if err != nil {
		return errBridgeInternal(err.Error())
	}
	a, err := c.request(&wamp.Publish{Options: opts, Topic: wamp.URI(topic), Arguments: args, ArgumentsKw: kwargs})
	if err != nil {
		return errBridgeInternal(err.Error())
	}
	switch m := a.(type) {
	case *wamp.Published:
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetBodyString(`{"id":` + strconv.FormatUint(uint64(m.Publication), 10) + `}`)
		return nil
	case *wamp.Error:
		return writeWAMPError(ctx, m)
	}
	return errBridgeInternal(fmt.Sprintf("unexpected answer %T", a))
}

// sessionIDs reads exclude/eligible: an ID or a list of IDs (autobahn's PublishOptions
// asserts as much).
func sessionIDs(v any) ([]any, bool) {
	one := func(x any) bool {
		switch n := x.(type) {
		case int64:
			return n > 0
		case uint64:
			return true
		}
		return false
	}
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if !one(x) {
				return nil, false
			}
		}
		return l, true
	}
	if one(v) {
		return []any{v}, true
	}
	return nil, false
}

// call is caller.py _process.
func (s *bridgeService) call(ctx *fasthttp.RequestCtx, event map[string]any) error {
	pv, ok := event["procedure"]
	if !ok {
		return bridgeDeny(400, "Request body was valid JSON, but not well formed (missing key 'procedure').")
	}
	proc, isStr := pv.(string)
	args, okA := listOrEmpty(event["args"])
	kwargs, okK := dictOrEmpty(event["kwargs"])
	if !isStr || !okA || !okK {
		return runtimeError("procedure not a string, or args or kwargs of the wrong type")
	}
	// autobahn's call() takes kwargs["options"] as its CallOptions: a false value is
	// dropped, anything else fails the call.
	if o, has := kwargs["options"]; has {
		if !pyFalse(o) {
			return runtimeError("kwargs.options is not a CallOptions")
		}
		delete(kwargs, "options")
	}
	c, err := s.sess.get()
	if err != nil {
		return runtimeError(err.Error())
	}
	a, err := c.request(&wamp.Call{Options: wamp.Dict{}, Procedure: wamp.URI(proc), Arguments: args, ArgumentsKw: kwargs})
	if err != nil {
		return runtimeError(err.Error())
	}
	switch m := a.(type) {
	case *wamp.Result:
		// autobahn's call() result, as caller.py turns it into JSON: one positional value
		// alone is {"args": [v]}, nothing is {"args": [null]}, else a CallResult with
		// "args" and "kwargs" where not empty.
		res := map[string]any{}
		switch {
		case len(m.ArgumentsKw) == 0 && len(m.Arguments) <= 1:
			var v any
			if len(m.Arguments) == 1 {
				v = m.Arguments[0]
			}
			res["args"] = []any{v}
		default:
			if len(m.Arguments) > 0 {
				res["args"] = m.Arguments
			}
			if len(m.ArgumentsKw) > 0 {
				res["kwargs"] = m.ArgumentsKw
			}
		}
		b, err := appendPy(nil, res, dumpJSON, 0)
		if err != nil {
			return runtimeError("result: " + err.Error())
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetBody(b)
		return nil
	case *wamp.Error:
		return writeWAMPError(ctx, m)
	}
	return runtimeError(fmt.Sprintf("unexpected answer %T", a))
}

// writeWAMPError answers a WAMP error as common.py _fail_request does for an
// ApplicationError: 200, {"error": uri, "args": [...], "kwargs": {...}} in json.dumps' style.
func writeWAMPError(ctx *fasthttp.RequestCtx, m *wamp.Error) error {
	args, kwargs := m.Arguments, m.ArgumentsKw
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	b := append([]byte(`{"error": `), appendPyString(nil, string(m.Error), true)...)
	b = append(b, `, "args": `...)
	b, err := appendPy(b, args, pythonJSON, 1)
	if err == nil {
		b = append(b, `, "kwargs": `...)
		b, err = appendPy(b, kwargs, pythonJSON, 1)
	}
	if err != nil {
		return runtimeError("error payload: " + err.Error())
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(append(b, '}'))
	return nil
}

// webhook is webhook.py _process: the request's headers and body, published as one
// positional argument to the configured topic.
func (s *bridgeService) webhook(ctx *fasthttp.RequestCtx, body []byte) error {
	headers := map[string]any{}
	for k, v := range ctx.Request.Header.All() {
		name := string(k)
		l, _ := headers[name].([]any)
		headers[name] = append(l, string(v))
	}
	msg := map[string]any{"headers": headers, "body": string(body)}
	c, err := s.sess.get()
	if err == nil {
		var a wamp.Message
		a, err = c.request(&wamp.Publish{Options: wamp.Dict{"acknowledge": true}, Topic: wamp.URI(s.cfg.Topic), Arguments: []any{msg}})
		if err == nil {
			switch m := a.(type) {
			case *wamp.Published:
				ctx.SetStatusCode(fasthttp.StatusAccepted)
				ctx.SetBodyString(s.cfg.SuccessResponse)
				return nil
			case *wamp.Error:
				err = fmt.Errorf("%s %v", m.Error, m.Arguments)
			}
		}
	}
	s.log.Error("unable to send webhook", "topic", s.cfg.Topic, "remote", ctx.RemoteAddr().String(), "error", err)
	return &bridgeError{status: 500, body: []byte(s.cfg.ErrorResponse), cause: err.Error()}
}

// pyBytes formats b as Python's repr of a bytes object, as Crossbar's messages show it.
func pyBytes(b []byte) string {
	q := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		q = '"'
	}
	out := []byte{'b', q}
	for _, c := range b {
		switch {
		case c == '\\' || c == q:
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			out = append(out, fmt.Sprintf("\\x%02x", c)...)
		default:
			out = append(out, c)
		}
	}
	return string(append(out, q))
}

// nonceMemory remembers the nonces of signed requests for window after they were seen, so
// that a signed request cannot be replayed while its timestamp is still accepted (Crossbar
// leaves "FIXME: check nonce"). window is twice the timestamp limit: a timestamp may lie
// that far ahead of the clock and still pass. It holds at most max nonces: when they are all
// younger than window, new signed requests are refused (503) rather than an old nonce
// forgotten. Keys are SHA-256 prefixes of the nonce as sent, so memory per nonce is fixed.
type nonceMemory struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[[16]byte]struct{}
	order  []nonceEntry // oldest first; a ring would save the copy, not worth it here
	head   int
}

type nonceEntry struct {
	key [16]byte
	at  time.Time
}

// maxNonces bounds one service's nonce memory (about 64 bytes each): 1000 signed requests a
// second for the default 300 s window, twice over.
const maxNonces = 600_000

type nonceResult int

const (
	nonceNew nonceResult = iota
	nonceSeen
	nonceFull
)

func newNonceMemory(window time.Duration, max int) *nonceMemory {
	return &nonceMemory{window: window, max: max, seen: map[[16]byte]struct{}{}}
}

func (m *nonceMemory) add(nonce []byte, now time.Time) nonceResult {
	sum := sha256.Sum256(nonce)
	var k [16]byte
	copy(k[:], sum[:16])
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head < len(m.order) && now.Sub(m.order[m.head].at) > m.window {
		delete(m.seen, m.order[m.head].key)
		m.head++
	}
	if m.head > len(m.order)/2 && m.head > 1024 {
		m.order = append(m.order[:0], m.order[m.head:]...)
		m.head = 0
	}
	if _, ok := m.seen[k]; ok {
		return nonceSeen
	}
	if len(m.seen) >= m.max {
		return nonceFull
	}
	m.seen[k] = struct{}{}
	m.order = append(m.order, nonceEntry{k, now})
	return nonceNew
}

var _ service = (*bridgeService)(nil)
