package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// The WAMP long-poll transport (WAMP spec, advanced profile, "Long-Poll Transport"), as
// Crossbar serves it (crossbar/router/longpoll.py, which autobahn-js's longpoll transport
// talks to). Under the service's path:
//
//	POST <path>/open                 {"protocols": [...]} -> {"transport": ID, "protocol": P}
//	POST <path>/<ID>/send            one message (a batch with a .batched protocol) -> 204
//	POST <path>/<ID>/receive         waits for what the router sends -> 200 with it, or 204
//	                                 (nothing within request_timeout)
//	POST <path>/<ID>/close           ends the transport and its session -> 204
//	GET  <path>/<ID>                 {"transport": ID, "protocol": P}
//	GET  <path>                      a notice page
//
// Each transport is one router session over lpTransport. Refusals are Crossbar's: 400 with
// its reason for a bad open or send body, 404 for an unknown transport ID or operation.

// Errors of the long-poll requests; statusOf maps them.
var (
	errLongPoll        = errors.New("bad long-poll request")
	errLongPollMethod  = fmt.Errorf("%w: long-poll operations are POST", errMethod)
	errLongPollLimit   = errors.New("max_connections long-poll transports open on this transport")
	errLongPollClosed  = errors.New("long-poll transport closed")
	errLongPollQueue   = errors.New("long-poll queue limit reached")
	errLongPollTimeout = errors.New("long-poll send: the session did not take the message in time")
)

// Bounds of the request bodies: an open request is a small JSON object, a send carries what a
// WebSocket message may (max_message_size's default).
const (
	lpMaxOpenBody = 64 << 10
	lpMaxSendBody = config.DefaultMaxMessageSize
	// lpInbox is how many sent messages wait for the session's reader; a send beyond it waits
	// (up to lpSendWait) for the router to take them.
	lpInbox    = 16
	lpSendWait = 10 * time.Second
	// lpDrainGrace is how long a closed transport with messages still queued stays to deliver
	// them.
	lpDrainGrace = 10 * time.Second
)

// lpMIME is the Content-Type of a receive answer per serializer (autobahn's MIME_TYPE).
var lpMIME = map[string]string{
	"json": "application/json", "msgpack": "application/x-msgpack",
	"cbor": "application/cbor", "ubjson": "application/ubjson",
}

// lpService is Crossbar's `longpoll` path service.
type lpService struct {
	where  string
	log    *slog.Logger
	ref    *routerRef
	opts   config.LongPoll
	bodyTO time.Duration // the transport's body_read_timeout
	ip     realIP
	// table holds the open transports of this path; it lives with the router (which a
	// reload keeps), so that a reload does not forget live sessions.
	table    *lpTable
	slots    *atomic.Int64 // the transport's live sessions (WebSocket and long-poll)
	maxConns int64
	// serveSession runs one session; the router's Serve.
	serveSession func(router.Transport, router.PeerInfo) error
}

// lpTable is the open transports of one longpoll path, by ID.
type lpTable struct {
	mu sync.Mutex
	m  map[string]*lpTransport
}

func (r *routerRef) lpTableOf(place string) *lpTable {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lp == nil {
		r.lp = map[string]*lpTable{}
	}
	t := r.lp[place]
	if t == nil {
		t = &lpTable{m: map[string]*lpTransport{}}
		r.lp[place] = t
	}
	return t
}

func (t *lpTable) get(id string) *lpTransport {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

func newLongPollService(svc *config.Service, t *config.Transport, ref *routerRef, log *slog.Logger) (*lpService, error) {
	lp := svc.LongPoll
	if lp == nil {
		return nil, fmt.Errorf("%s: a longpoll service without its configuration", svc.Place)
	}
	trusted, err := parseTrusted(t.Options.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%s.options.trusted_proxies: %w", t.Place, err)
	}
	s := &lpService{where: svc.Place, log: log, ref: ref, opts: *lp, bodyTO: t.Options.BodyReadTimeout,
		ip: realIP{trusted: trusted, header: t.Options.RealIPHeader}, table: ref.lpTableOf(svc.Place),
		slots: ref.slotsOf(t.Place), maxConns: int64(t.Options.MaxConnections), serveSession: ref.r.Serve}
	if s.maxConns <= 0 {
		s.maxConns = fasthttp.DefaultConcurrency
	}
	return s, nil
}

func (s *lpService) place() string { return s.where }

// close leaves live transports alone: their sessions belong to the router, which a reload
// keeps and Shutdown closes.
func (s *lpService) close() {}

func (s *lpService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	id, op, ok := splitLongPollPath(string(rq.path[rq.mount:]))
	if !ok {
		return &clientReason{err: errNotFound, reason: "invalid WAMP transport operation"}
	}
	if ctx.IsOptions() {
		// A CORS preflight (autobahn-js sends its POSTs with Content-Type application/json).
		lpHeaders(ctx)
		ctx.Response.Header.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	if id == "" {
		if op == "open" {
			if !ctx.IsPost() {
				return errLongPollMethod
			}
			return s.open(ctx)
		}
		if !ctx.IsGet() && !ctx.IsHead() {
			return errMethod
		}
		s.notice(ctx)
		return nil
	}
	t := s.table.get(id)
	if t == nil {
		return &clientReason{err: errNotFound, reason: fmt.Sprintf("no WAMP transport '%s'", id)}
	}
	if op == "" {
		if !ctx.IsGet() && !ctx.IsHead() {
			return errMethod
		}
		lpHeaders(ctx)
		ctx.SetContentType("application/json; charset=utf-8")
		b, _ := json.Marshal(map[string]string{"transport": t.id, "protocol": t.protocol})
		ctx.SetBody(b)
		return nil
	}
	if !ctx.IsPost() {
		return errLongPollMethod
	}
	switch op {
	case "send":
		return s.send(ctx, t)
	case "receive":
		return s.receive(ctx, t)
	}
	// close
	_ = t.Close()
	t.forget()
	lpHeaders(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// splitLongPollPath splits the path under the service: "" or "/" (the notice), "/open",
// "/ID" and "/ID/send|receive|close". ok is false for anything else.
func splitLongPollPath(rest string) (id, op string, ok bool) {
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return "", "", true
	}
	if rest == "open" {
		return "", "open", true
	}
	id, op, slash := strings.Cut(rest, "/")
	if id == "" || id == "open" || (slash && op == "") {
		return "", "", false
	}
	switch op {
	case "", "send", "receive", "close":
		return id, op, true
	}
	return "", "", false
}

// lpHeaders sets Crossbar's standard headers of every long-poll answer (longpoll.py
// _set_standard_headers): the Origin echoed with credentials allowed, so that a page on
// another origin can run the transport with autobahn-js (which sends withCredentials); no
// caching. Sessions over long-poll authenticate as anonymous, whatever cookies come along.
func lpHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || string(origin) == "null" {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.SetBytesV("Access-Control-Allow-Origin", origin)
		h.Set("Vary", "Origin")
	}
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
}

// readBody reads the request body, at most limit bytes, each read bounded by
// body_read_timeout.
func (s *lpService) readBody(ctx *fasthttp.RequestCtx, limit int) ([]byte, error) {
	var r io.Reader = ctx.RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(ctx.Request.Body())
	} else if s.bodyTO > 0 {
		r = &deadlineReader{r: r, c: ctx.Conn(), d: s.bodyTO}
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, &clientError{err: err}
	}
	if len(b) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// parseOpen reads an open request's body and picks the protocol: the first of the client's
// protocols that the router speaks (longpoll.py WampLongPollResourceOpen). reason is
// Crossbar's answer to a body it refuses.
func parseOpen(body []byte) (protocol, reason string) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		var v any
		if json.Unmarshal(body, &v) == nil {
			return "", "invalid type for WAMP session open request"
		}
		return "", "could not parse WAMP session open request body"
	}
	if req == nil {
		return "", "invalid type for WAMP session open request"
	}
	ps, ok := req["protocols"]
	if !ok {
		return "", "missing attribute 'protocols' in WAMP session open request"
	}
	list, ok := ps.([]any)
	if !ok {
		return "", "invalid type for attribute 'protocols' in WAMP session open request"
	}
	for _, p := range list {
		name, ok := p.(string)
		if !ok {
			return "", "invalid type for attribute 'protocols' in WAMP session open request"
		}
		if _, _, ok := wamp.LookupSubprotocol(name); ok {
			return name, ""
		}
	}
	return "", "no common protocol to speak (I speak: " + strings.Join(wamp.Subprotocols, ", ") + ")"
}

func (s *lpService) open(ctx *fasthttp.RequestCtx) error {
	body, err := s.readBody(ctx, lpMaxOpenBody)
	if err != nil {
		return err
	}
	proto, reason := parseOpen(body)
	if reason != "" {
		return &clientReason{err: errLongPoll, reason: reason}
	}
	codec, batched, _ := wamp.LookupSubprotocol(proto)
	if s.slots.Add(1) > s.maxConns {
		s.slots.Add(-1)
		return &clientReason{err: errLongPollLimit, reason: "too many WAMP transports, try again later"}
	}
	id := s.opts.DebugTransportID
	if id == "" {
		id = newTransportID()
	}
	remote := ctx.RemoteAddr().String()
	if a, p, fwd := s.ip.client(addrPort(ctx.RemoteAddr()), &ctx.Request.Header); fwd {
		remote = hostPort(a, p)
	}
	t := newLPTransport(id, proto, codec, batched, s.opts)
	s.table.mu.Lock()
	old := s.table.m[id] // only with debug_transport_id
	s.table.m[id] = t
	s.table.mu.Unlock()
	if old != nil {
		_ = old.Close()
		old.forget()
	}
	t.onClose = func() {
		s.table.mu.Lock()
		if s.table.m[id] == t {
			delete(s.table.m, id)
		}
		s.table.mu.Unlock()
	}
	t.expired = func() {
		s.log.Info("long-poll transport expired", "transport", id, "remote", remote, "session_timeout", s.opts.SessionTimeout)
	}
	t.overflow = func() {
		s.log.Warn("long-poll transport closed: the client does not receive what is sent to it", "transport", id,
			"remote", remote, "queue_limit_messages", s.opts.QueueLimitMessages, "queue_limit_bytes", s.opts.QueueLimitBytes)
	}
	info := router.PeerInfo{Transport: "longpoll", RemoteAddr: remote, Protocol: proto}
	s.ref.wg.Add(1)
	s.ref.add(t)
	go func() {
		defer s.ref.wg.Done()
		defer s.slots.Add(-1)
		defer s.ref.remove(t)
		err := s.serveSession(t, info)
		_ = t.Close()
		s.log.Debug("wamp session ended", "remote", remote, "protocol", proto, "transport", id, "error", err)
	}()
	lpHeaders(ctx)
	ctx.SetContentType("application/json; charset=utf-8")
	b, _ := json.Marshal(map[string]string{"transport": id, "protocol": proto})
	ctx.SetBody(b)
	return nil
}

// newTransportID makes a transport ID: 16 URL-safe characters from 96 random bits.
func newTransportID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// send hands the body's message (or batch) to the session. A body that does not decode is
// refused with Crossbar's 400 and nothing of it reaches the session.
func (s *lpService) send(ctx *fasthttp.RequestCtx, t *lpTransport) error {
	t.touch()
	body, err := s.readBody(ctx, lpMaxSendBody)
	if err != nil {
		return err
	}
	var msgs [][]byte
	check := func(m []byte) error {
		if _, err := t.codec.Decode(m); err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}
	if t.batched {
		err = wamp.SplitBatched(t.codec, body, check)
	} else {
		err = check(body)
	}
	if err != nil {
		s.log.Info("long-poll send refused", "transport", t.id, "error", err)
		return &clientReason{err: errLongPoll, reason: "could not unserialize WAMP message."}
	}
	select {
	case <-t.done:
		return &clientReason{err: errNotFound, reason: fmt.Sprintf("no WAMP transport '%s'", t.id)}
	default:
	}
	timer := time.NewTimer(lpSendWait)
	defer timer.Stop()
	for _, m := range msgs {
		select {
		case t.in <- m:
		case <-t.done:
			return &clientReason{err: errNotFound, reason: fmt.Sprintf("no WAMP transport '%s'", t.id)}
		case <-timer.C:
			return errLongPollTimeout
		}
	}
	t.touch()
	lpHeaders(ctx)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// receive answers with what waits for the client: all of it on a batched protocol, else one
// message. With nothing waiting it waits for the next message, up to request_timeout (then
// 204). A newer receive on the same transport takes over: the older is answered 204; so is
// one waiting when the transport goes.
func (s *lpService) receive(ctx *fasthttp.RequestCtx, t *lpTransport) error {
	mine := t.startPoll()
	defer t.endPoll(mine)
	var timeout <-chan time.Time
	if s.opts.RequestTimeout > 0 {
		timer := time.NewTimer(s.opts.RequestTimeout)
		defer timer.Stop()
		timeout = timer.C
	}
	for {
		select {
		case <-mine: // a newer receive took over
			lpHeaders(ctx)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return nil
		default:
		}
		body, _ := t.take()
		if body != nil {
			lpHeaders(ctx)
			ctx.SetContentType(lpMIME[t.codec.Name()])
			ctx.SetBody(body)
			return nil
		}
		select {
		case <-t.wake:
			continue
		case <-t.gone:
		case <-mine:
		case <-timeout:
		case <-ctx.Done(): // the server is shutting down
		}
		lpHeaders(ctx)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
}

// notice answers a GET on the service's path (Crossbar's notice page).
func (s *lpService) notice(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBodyString(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Portico WAMP long-poll endpoint</title></head>
<body>
<h1>Portico</h1>
<p>This is not a web page but a <b>WAMP-over-Longpoll</b> transport endpoint: open a transport
with a POST to <code>open</code>.</p>
</body>
</html>
`)
}

// lpTransport is router.Transport over the requests of one long-poll transport. The router's
// reader takes what send requests put in `in`; its writer queues what receive requests take.
type lpTransport struct {
	id       string
	protocol string
	codec    wamp.Codec
	batched  bool
	opts     config.LongPoll

	in   chan []byte   // sent messages, for ReadMessage
	wake chan struct{} // a message was queued (cap 1: one waiting receive at a time)
	done chan struct{} // closed by Close

	mu      sync.Mutex
	queue   [][]byte // encoded messages waiting for a receive
	queued  int      // bytes in queue
	closed  bool
	active  bool          // a request came since the last session check
	polling chan struct{} // the waiting receive's takeover signal, nil when none waits
	timer   *time.Timer   // the session_timeout check
	wbuf    []byte        // a receive's answer being built

	// onClose removes the transport from its table; expired and overflow log why it closed.
	onClose, expired, overflow func()
	closeOnce, forgetOnce      sync.Once
	gone                       chan struct{} // closed by forget
}

func newLPTransport(id, protocol string, codec wamp.Codec, batched bool, opts config.LongPoll) *lpTransport {
	t := &lpTransport{id: id, protocol: protocol, codec: codec, batched: batched, opts: opts,
		in: make(chan []byte, lpInbox), wake: make(chan struct{}, 1), done: make(chan struct{}),
		gone: make(chan struct{}), active: true}
	if opts.SessionTimeout > 0 {
		t.timer = time.AfterFunc(opts.SessionTimeout, t.check)
	}
	return t
}

// check runs every session_timeout: a transport with no request since the last check, and
// none waiting, is closed (Crossbar's killIfDead).
func (t *lpTransport) check() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if t.active || t.polling != nil {
		t.active = false
		t.timer.Reset(t.opts.SessionTimeout)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	if t.expired != nil {
		t.expired()
	}
	_ = t.Close()
	t.forget()
}

func (t *lpTransport) touch() {
	t.mu.Lock()
	t.active = true
	t.mu.Unlock()
}

// startPoll registers a receive; the one it replaces is told to answer.
func (t *lpTransport) startPoll() chan struct{} {
	mine := make(chan struct{})
	t.mu.Lock()
	t.active = true
	if t.polling != nil {
		close(t.polling)
	}
	t.polling = mine
	t.mu.Unlock()
	return mine
}

func (t *lpTransport) endPoll(mine chan struct{}) {
	t.mu.Lock()
	t.active = true
	if t.polling == mine {
		t.polling = nil
	}
	t.mu.Unlock()
}

// take returns the answer for a receive (nil when nothing waits) and whether the transport
// is closed.
func (t *lpTransport) take() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return nil, t.closed
	}
	n := 1
	if t.batched {
		n = len(t.queue)
	}
	var body []byte
	if t.batched {
		t.wbuf = t.wbuf[:0]
		for _, m := range t.queue[:n] {
			t.wbuf = wamp.AppendBatched(t.wbuf, t.codec, m)
		}
		body = t.wbuf // fasthttp copies it (SetBody)
	} else {
		body = t.queue[0]
	}
	for i := range n {
		t.queued -= len(t.queue[i])
		t.queue[i] = nil
	}
	t.queue = t.queue[n:]
	if len(t.queue) > 0 {
		t.signal() // more for the next receive
	}
	return body, t.closed
}

func (t *lpTransport) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *lpTransport) Codec() wamp.Codec { return t.codec }

// ReadMessage returns the next message a send request brought.
func (t *lpTransport) ReadMessage() ([]byte, error) {
	select {
	case m := <-t.in:
		return m, nil
	case <-t.done:
		return nil, net.ErrClosed
	}
}

// WriteMessage queues b for the client's next receive. A queue that would pass
// queue_limit_messages or queue_limit_bytes closes the transport: its client does not
// receive (a message alone in the queue is taken whatever its size).
func (t *lpTransport) WriteMessage(b []byte) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return net.ErrClosed
	}
	if len(t.queue) > 0 && (len(t.queue)+1 > t.opts.QueueLimitMessages || t.queued+len(b) > t.opts.QueueLimitBytes) {
		t.mu.Unlock()
		if t.overflow != nil {
			t.overflow()
		}
		_ = t.Close()
		return errLongPollQueue
	}
	t.queue = append(t.queue, slices.Clone(b))
	t.queued += len(b)
	t.signal()
	t.mu.Unlock()
	return nil
}

// Close ends the transport's session: the session's reader returns. The transport stays for
// lpDrainGrace so that the client still receives what is queued (the router's last GOODBYE
// or ABORT) and its close request finds it (autobahn-js sends one after the GOODBYE
// exchange), then it is forgotten.
func (t *lpTransport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		if t.timer != nil {
			t.timer.Stop()
		}
		t.mu.Unlock()
		close(t.done)
		time.AfterFunc(lpDrainGrace, t.forget)
	})
	return nil
}

// forget removes the transport: a waiting receive answers 204 (as Crossbar finishes it), and
// any later request for its ID is answered 404.
func (t *lpTransport) forget() {
	t.forgetOnce.Do(func() {
		close(t.gone)
		if t.onClose != nil {
			t.onClose()
		}
	})
}

// cut is Close: there is no connection of its own to end (shutdown, routerRef.cutAll).
func (t *lpTransport) cut() { _ = t.Close() }

var (
	_ service          = (*lpService)(nil)
	_ router.Transport = (*lpTransport)(nil)
	_ cutter           = (*lpTransport)(nil)
)
