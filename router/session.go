package router

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// Close and error reasons the router sends (WAMP spec, "Predefined URIs"; Crossbar's where the
// spec has none).
const (
	errProtocolViolation  = wamp.URI("wamp.error.protocol_violation")
	errNoSuchRealm        = wamp.URI("wamp.error.no_such_realm")
	errNotAuthorized      = wamp.URI("wamp.error.not_authorized")
	errInvalidURI         = wamp.URI("wamp.error.invalid_uri")
	errInvalidArgument    = wamp.URI("wamp.error.invalid_argument")
	errNoSuchProcedure    = wamp.URI("wamp.error.no_such_procedure")
	errProcedureExists    = wamp.URI("wamp.error.procedure_already_exists")
	errNoSuchRegistration = wamp.URI("wamp.error.no_such_registration")
	errNoSuchSubscription = wamp.URI("wamp.error.no_such_subscription")
	errNoSuchSession      = wamp.URI("wamp.error.no_such_session")
	errCanceled           = wamp.URI("wamp.error.canceled")
	errInvalidPayload     = wamp.URI("wamp.error.invalid_payload")
	errSystemShutdown     = wamp.URI("wamp.close.system_shutdown")
	// closeGoodbyeReply is the reason of the GOODBYE that answers a client's GOODBYE. The
	// spec suggests wamp.close.goodbye_and_out; Crossbar answers with autobahn's default,
	// wamp.close.normal, and clients written against it test for that (crossbar-examples'
	// authentication clients exit 1 on any other reason of onLeave). Portico follows Crossbar.
	closeGoodbyeReply = wamp.URI("wamp.close.normal")
	// closeGoodbyeAndOut is the spec's reply reason, which Portico's own client sessions
	// (the auth service) send.
	closeGoodbyeAndOut = wamp.URI("wamp.close.goodbye_and_out")
	closeKilled        = wamp.URI("wamp.close.killed")
	errSlowConsumer    = wamp.URI("portico.error.slow_consumer")
	// errTimeout ends a session that did not finish its opening handshake in time (the
	// reason autobahn and other clients know for a peer's timeout; Crossbar has no such bound).
	errTimeout = wamp.URI("wamp.error.timeout")
	// errLimitExceeded answers a request over one of the session's bounds (config
	// SessionLimits); its kwargs name the bound's key and value.
	errLimitExceeded = wamp.URI("portico.error.limit_exceeded")
	// errHistoryUnavailable answers wamp.subscription.get_events where no event history is
	// kept (Crossbar's URI).
	errHistoryUnavailable  = wamp.URI("wamp.error.history_unavailable")
	errFeatureNotSupported = wamp.URI("wamp.error.feature_not_supported")
	// errMaxConcurrency answers a call when every callee it could go to is at the
	// `concurrency` it registered with (Crossbar's URI).
	errMaxConcurrency = wamp.URI("crossbar.error.max_concurrency_reached")
)

// ErrAuthTimeout is returned by Serve when the session had not joined its realm within the
// transport's auth_timeout.
var ErrAuthTimeout = errors.New("router: the WAMP opening handshake did not finish within auth_timeout")

// errSessionAborted is returned by Serve when the router aborted the session.
var errSessionAborted = errors.New("router: session aborted")

// ErrSlowConsumer is returned by Serve when the session was disconnected because its outbound
// queue hit a bound (outQueue).
var ErrSlowConsumer = errors.New("router: slow consumer disconnected: outbound queue over its bounds")

// session is one client's WAMP session. Its reader goroutine (the caller of Serve) handles the
// client's messages one at a time; its writer goroutine drains the outbound queue.
type session struct {
	r     *Router
	t     Transport
	codec wamp.Codec
	info  PeerInfo
	log   *slog.Logger

	// Set at HELLO by the reader, read-only afterwards.
	id         wamp.ID
	realm      *realm
	role       *role
	authid     string
	authrole   string
	authmethod string
	// authTry is the authmethod of HELLO being tried, for the metrics of refusals.
	authTry      string
	authprovider string
	calleeCancel bool // the client announced callee call_canceling
	// calleeRevoke and subscriberRevoke: the client announced registration_revocation
	// (callee) and subscription_revocation (subscriber), so the router may tell it that it
	// lost a registration or subscription (UNREGISTERED/UNSUBSCRIBED with request 0).
	calleeRevoke, subscriberRevoke bool
	// calleeProgressive: the client announced callee progressive_call_invocations and
	// call_canceling, which the spec requires of a callee of progressive call invocations.
	calleeProgressive bool
	pending           *pendingAuth // between CHALLENGE and AUTHENTICATE (auth.go)
	authextra         wamp.Dict    // WELCOME.Details.authextra, from a dynamic authenticator
	// authWait names the dynamic authenticator the reader waits for (authdynamic.go), so
	// that auth_timeout says who did not answer.
	authWait atomic.Pointer[string]
	// untrusted: the session joined a realm created on HELLO without authenticating. It may
	// not call the kill procedures of the meta API, and the meta API does not tell it the
	// transport peers' addresses: on such a realm, anyone on the internet is anonymous.
	untrusted bool

	// authzCache holds the dynamic authorizer's cached decisions (authorizer.go); owned by
	// the reader.
	authzCache map[authzKey]authzEntry

	lim       config.SessionLimits // read-only; defaults filled in
	authTimer *time.Timer          // auth_timeout; stopped when the session joins or ends
	// expired is set, under joinMu, when auth_timeout struck before WELCOME.
	expired   atomic.Bool
	helloSeen atomic.Bool // for authExpired's log line

	// Guarded by realm.mu.
	subs  map[wamp.ID]*subscription
	regs  map[wamp.ID]*registration
	calls map[wamp.ID]*invocation // as caller, by CALL request ID
	invs  map[wamp.ID]*invocation // as callee, by INVOCATION request ID
	// closedStreams are the request IDs of this caller's progressive call invocations that
	// ended (answered, canceled) before the caller sent their final CALL: later CALLs with
	// these IDs are continuations to discard (spec, "Continuations on Completed Calls"), not
	// new calls. The newest maxClosedStreams are kept.
	closedStreams []wamp.ID
	nextInv       wamp.ID
	testaments    map[string][]testament // by scope
	// testamentCount and testamentBytes total the testaments of every scope (their bounds).
	testamentCount, testamentBytes int
	left                           bool // detached from the realm
	// clusterMeta counts this session's meta calls waiting for the other nodes' answers
	// (cluster_meta.go), bounded by max_calls_in_flight.
	clusterMeta int

	// goodbyeSent is set once the router has sent GOODBYE (Router.Close, wamp.session.kill):
	// from then on only the client's GOODBYE counts (spec, "Session Closing").
	goodbyeSent atomic.Bool
	established atomic.Bool // WELCOME queued
	// joinMu makes queuing WELCOME and setting established one step for Router.Close,
	// which sends GOODBYE to an established session and closes the others: else a client
	// could read WELCOME and then find its transport closed without GOODBYE.
	joinMu sync.Mutex

	out        outQueue
	graceTimer atomic.Pointer[time.Timer] // set when the queue overflows
	closeOnce  sync.Once
	closing    chan struct{} // closed with the transport
	writerDone chan struct{}

	// Flow control, owned by the reader goroutine (written under realm.mu by the code that
	// handles the reader's message). inLen is the size of the message being handled; waitOn
	// lists the sessions whose queues it took over their high-water mark; backlog holds the
	// retained events of a get_retained subscription still to be sent (flowWait).
	inLen       int
	waiting     atomic.Bool // in flowWait: read by the senders that wait for this session
	waitOn      []*session
	backlog     []retainedItem
	backlogNext int
}

func newSession(r *Router, t Transport, info PeerInfo) *session {
	s := &session{r: r, t: t, codec: t.Codec(), info: info, log: r.log,
		closing: make(chan struct{}), writerDone: make(chan struct{})}
	writeLoop := s.writeLoop
	s.out.init(r.opts.OutQueueLimit, r.opts.OutQueueBytes, r.opts.OutQueueTimeout, func() { r.writers.run(writeLoop) })
	s.lim = withDefaults(info.Limits)
	return s
}

// withDefaults fills the zero fields of l with config's defaults (DefaultSessionLimits), for
// sessions served without a configuration (in-process peers).
func withDefaults(l config.SessionLimits) config.SessionLimits { return l.WithDefaults() }

// authExpired ends a session that has not joined within auth_timeout (config SessionLimits):
// ABORT wamp.error.timeout, then the writer closes the transport. Without the bound, a client
// that sends HELLO and never AUTHENTICATE, or nothing at all, would hold its connection and
// session for ever.
func (s *session) authExpired() {
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if s.established.Load() {
		return
	}
	s.expired.Store(true)
	if p := s.authWait.Load(); p != nil {
		// The client waits for its authenticator, not the other way round. The reader, whose
		// wait ends with the session, writes the log line.
		s.send(&wamp.Abort{Reason: errAuthenticationFailed, Details: wamp.Dict{
			"message": fmt.Sprintf("dynamic authenticator %q did not answer within auth_timeout (%v)", *p, s.lim.AuthTimeout)}})
		s.out.close()
		return
	}
	s.log.Info("router: closing a session that did not join within auth_timeout", "peer", s.info.RemoteAddr,
		"hello", s.helloSeen.Load(), "auth_timeout", s.lim.AuthTimeout)
	s.send(&wamp.Abort{Reason: errTimeout, Details: wamp.Dict{
		"message": fmt.Sprintf("the opening handshake did not finish within %v (auth_timeout)", s.lim.AuthTimeout)}})
	s.out.close()
}

func (s *session) closeTransport() {
	s.closeOnce.Do(func() {
		if s.closing != nil {
			close(s.closing)
		}
		_ = s.t.Close()
	})
}

// send queues m, a message the router makes, for the writer. See push for the bounds.
func (s *session) send(m wamp.Message) { s.push(outItem{msg: m, size: msgSizeHint}) }

// sendBytes queues an already encoded message of type t. It reports that the queue is over
// its high-water mark: the sender should wait (noteCongested).
func (s *session) sendBytes(t wamp.MessageType, b []byte) bool {
	return s.push(outItem{b: b, size: len(b), typ: t})
}

// noteCongested records, in the session whose message is being handled, that it took t's
// queue over the high-water mark: the session waits for t to drain before reading on.
func (s *session) noteCongested(t *session) {
	if t != s {
		s.waitOn = append(s.waitOn, t)
	}
}

// slowConsumerGrace bounds how long the writer of a slow consumer may take to finish its write
// and send ABORT before the transport is closed under it. Transports bound every write with
// their own deadline; this bound holds for those that do not.
const slowConsumerGrace = 5 * time.Second

// push queues it and reports whether the queue is over its high-water mark. The disconnect
// policy: a session whose queue hits a bound (outQueue: messages, bytes, or not drained in
// time) is disconnected at once with one log line, its queued messages are released, its
// writer sends ABORT portico.error.slow_consumer and the transport is closed within
// slowConsumerGrace. Push never waits; the sender waits later, outside every lock (flowWait).
func (s *session) push(it outItem) bool {
	res, congested := s.out.push(it)
	if res == pushOverflow {
		s.slowConsumer()
	}
	return congested
}

// slowConsumer logs the disconnection (once: only the call that overflowed the queue gets
// here) and bounds the writer's last write.
func (s *session) slowConsumer() {
	if mt := s.r.opts.Metrics; mt != nil && mt.SlowConsumer != nil {
		mt.SlowConsumer()
	}
	s.log.Warn("router: disconnecting slow consumer", "session", s.id, "realm", s.realmName(),
		"reason", s.out.overflowReason(), "peer", s.info.RemoteAddr)
	s.graceTimer.Store(time.AfterFunc(slowConsumerGrace, s.closeTransport))
}

// cycleWait bounds a sender's wait for a receiver whose own reader is waiting too. Each
// queue is drained by its own writer, so the router holds no cycle of waits; but a client
// that stops reading while one of its writes is held back (a read loop that answers each
// INVOCATION with a blocking write) closes one through the clients: A waits for B to drain, B
// for its client to read, B's client for the router to read its write, and B's reader for
// A's client, likewise stuck. The sender that sees the receiver waiting goes on after
// cycleWait, reads the next message of its own client, and so unblocks the cycle.
const cycleWait = 10 * time.Millisecond

// waitDrained blocks the calling reader (of session waiter) until s's queue is back at its
// low-water mark. The wait is bounded: when s's queue is not back there within
// out_queue_timeout of passing the high-water mark, s is a slow consumer and is disconnected,
// and the wait ends; when s's reader is waiting too, the wait ends after cycleWait (above).
// It ends early when s or the waiter goes away.
func (s *session) waitDrained(waiter *session) {
	for {
		ch, deadline := s.out.congestion()
		if ch == nil {
			return
		}
		var d time.Duration = -1
		if !deadline.IsZero() {
			d = time.Until(deadline)
		}
		cycle := s.waiting.Load()
		if cycle && (d < 0 || d > cycleWait) {
			d = cycleWait
		}
		if d == 0 || d < 0 && !deadline.IsZero() {
			if s.out.checkStall() {
				s.slowConsumer()
			}
			return
		}
		var timer *time.Timer
		var expired <-chan time.Time
		if d > 0 {
			timer = time.NewTimer(d)
			expired = timer.C
		}
		end := false
		select {
		case <-ch:
		case <-expired:
			if s.out.checkStall() {
				s.slowConsumer()
			}
			end = cycle
		case <-waiter.closing:
			end = true
		}
		if timer != nil {
			timer.Stop()
		}
		if end {
			return
		}
	}
}

// flowWait runs after each message the reader handled: the reader waits for the queues its
// message took over their high-water mark, its own included (push-back on publishers and
// callers: their transport is not read meanwhile, so TCP slows them down), then sends the next
// part of a get_retained backlog. Waits happen outside every lock and each is bounded
// (waitDrained): a wait for another session by out_queue_timeout, after which that session is
// disconnected, and a wait for oneself, or for a session that waits too, by cycleWait. So a
// session that publishes to itself, a callee that calls itself, or two sessions sending to
// each other never wait on each other for long: each queue is drained by its own writer,
// never by a reader.
func (s *session) flowWait() {
	s.waiting.Store(true)
	defer s.waiting.Store(false)
	for i, t := range s.waitOn {
		t.waitDrained(s)
		s.waitOn[i] = nil
	}
	s.waitOn = s.waitOn[:0]
	// The session's own replies (PUBLISHED, RESULT, events and INVOCATIONs to itself) pace it
	// too, for cycleWait at most each time: its reader is waiting, so waitDrained takes the wait
	// for a possible cycle (a client that reads only between its writes).
	if s.out.aboveFlag.Load() {
		s.waitDrained(s)
	}
	for s.backlogNext < len(s.backlog) {
		s.waitDrained(s)
		if s.out.overflowed() {
			s.dropBacklog()
			return
		}
		rl := s.realm
		rl.mu.Lock()
		rl.broker.sendBacklog(s)
		rl.mu.Unlock()
	}
}

func (s *session) realmName() wamp.URI {
	if s.realm == nil {
		return ""
	}
	return s.realm.name
}

// writeLoop is the session's one writer: it writes queued messages in order until the queue
// is empty, then ends (the next push starts it again, see outQueue), and closes the transport
// when the queue closes or a write fails. The transport bounds each write with its own
// deadline, so the loop never waits on a client forever. When more than one message is queued
// and the transport can cork (CorkTransport), up to maxCorkBytes of them go out in one write;
// their items count against the queue's bounds until that write is done.
func (s *session) writeLoop() {
	bp := encodeBufs.Get().(*[]byte)
	done := s.write(bp)
	if cap(*bp) <= maxPooledEncodeBuf {
		encodeBufs.Put(bp)
	}
	if done {
		s.closeTransport()
		close(s.writerDone)
	}
}

// encodeBufs are the writers' buffers for encoding messages, shared: a writer holds one only
// while it runs. One that grew past maxPooledEncodeBuf (a large result) is left to the GC.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledEncodeBuf = 64 << 10

// write writes what is queued until the queue is empty (false) or the session's writing is
// over (true): the queue closed, overflowed or a write failed.
func (s *session) write(bp *[]byte) (done bool) {
	ct, _ := s.t.(CorkTransport)
	var spare []outItem
	buf := (*bp)[:0]
	defer func() { *bp = buf[:0] }()
	var sent func(wamp.MessageType)
	if mt := s.r.opts.Metrics; mt != nil {
		sent = mt.Sent
	}
	for {
		items, closed, overflow, idle := s.out.take(spare)
		if idle {
			return false
		}
		if overflow {
			// The queue was released when it overflowed; say why, then go.
			buf, _ = s.codec.Encode(buf[:0], &wamp.Abort{
				Details: wamp.Dict{"message": "the client did not read its messages fast enough"},
				Reason:  errSlowConsumer,
			})
			if s.t.WriteMessage(buf) == nil && sent != nil {
				sent(wamp.ABORT)
			}
			return true
		}
		var failed bool
		buf, failed = s.writeItems(items, ct, buf, sent)
		if failed {
			s.out.close()
			return true
		}
		clear(items) // drop references to sent messages
		spare = items
		if closed {
			return true
		}
	}
}

// maxCorkBytes bounds what one corked write holds.
const maxCorkBytes = 64 << 10

// writeItems writes items in order, corked when ct is not nil and there is more than one, and
// counts each written message with sent (when not nil). It stops early when the queue
// overflowed meanwhile (the next take aborts), and reports failed when the transport could not
// write. buf is the encoding buffer, returned for reuse.
func (s *session) writeItems(items []outItem, ct CorkTransport, buf []byte, sent func(wamp.MessageType)) (_ []byte, failed bool) {
	if len(items) < 2 {
		ct = nil
	}
	// Items written corked and not yet released: from first, held of them (some may have
	// failed to encode, typ 0), their sizes.
	var first, held, heldSize, heldBytes int
	uncork := func(upto int) (ok, failed bool) {
		if held == 0 {
			return true, false
		}
		if err := ct.Uncork(); err != nil {
			return false, true
		}
		if sent != nil {
			for j := first; j < upto; j++ {
				if items[j].typ != 0 {
					sent(items[j].typ)
				}
			}
		}
		ok = s.out.release(held, heldSize)
		held, heldSize, heldBytes = 0, 0, 0
		return ok, false
	}
	for i := range items {
		b := items[i].b
		if b == nil {
			items[i].typ = items[i].msg.Type()
			var err error
			buf, err = s.codec.Encode(buf[:0], items[i].msg)
			if err != nil {
				s.log.Error("router: cannot encode a message", "session", s.id,
					"type", items[i].msg.Type(), "err", err)
				items[i].typ = 0
				if held > 0 {
					held++
					heldSize += items[i].size
					continue
				}
				if !s.out.release(1, items[i].size) {
					break
				}
				continue
			}
			b = buf
		}
		if ct != nil && held == 0 {
			ct.Cork()
			first = i
		}
		if err := s.t.WriteMessage(b); err != nil {
			if held > 0 {
				_ = ct.Uncork()
			}
			return buf, true
		}
		if ct == nil {
			if sent != nil {
				sent(items[i].typ)
			}
			if !s.out.release(1, items[i].size) {
				break // overflowed meanwhile: the next take aborts
			}
			continue
		}
		held++
		heldSize += items[i].size
		heldBytes += len(b)
		if heldBytes >= maxCorkBytes || i == len(items)-1 {
			ok, failed := uncork(i + 1)
			if failed {
				return buf, true
			}
			if !ok {
				break
			}
		}
	}
	// An encoding error on the last items leaves held ones.
	if _, failed := uncork(len(items)); failed {
		return buf, true
	}
	return buf, false
}

// abort sends ABORT with reason and a message in details, then closes (spec: "ABORT ... then
// close").
func (s *session) abort(reason wamp.URI, format string, args ...any) error {
	if mt := s.r.opts.Metrics; mt != nil && mt.AuthFailed != nil && !s.established.Load() &&
		(reason == errNotAuthorized || reason == errNoAuthMethod) {
		method := s.authTry
		if method == "" || reason == errNoAuthMethod {
			method = "none"
		}
		mt.AuthFailed(method)
	}
	msg := fmt.Sprintf(format, args...)
	s.send(&wamp.Abort{Details: wamp.Dict{"message": msg}, Reason: reason})
	s.out.close() // ABORT is the last message (events may be on their way until detach)
	return fmt.Errorf("%w: %s: %s", errSessionAborted, reason, msg)
}

// readLoop runs the session until it ends; the error says why (nil for a clean GOODBYE).
func (s *session) readLoop() error {
	established := false
	for {
		b, err := s.t.ReadMessage()
		s.inLen = len(b)
		if err != nil {
			if s.out.overflowed() {
				return ErrSlowConsumer
			}
			if s.expired.Load() {
				return ErrAuthTimeout
			}
			if s.goodbyeSent.Load() {
				return nil
			}
			return fmt.Errorf("router: reading from the client: %w", err)
		}
		m, err := s.codec.Decode(b)
		if err != nil {
			return s.abort(errProtocolViolation, "cannot decode the message: %v", err)
		}
		if mt := s.r.opts.Metrics; mt != nil && mt.Received != nil {
			mt.Received(m.Type())
		}
		if !established {
			switch m := m.(type) {
			case *wamp.Hello:
				s.helloSeen.Store(true)
				if s.pending != nil {
					return s.abort(errProtocolViolation, "HELLO received while authenticating")
				}
				joined, err := s.hello(m)
				if err != nil {
					return err
				}
				established = joined
			case *wamp.Authenticate:
				if s.pending == nil {
					return s.abort(errProtocolViolation, "AUTHENTICATE without a CHALLENGE")
				}
				if err := s.authenticate(m); err != nil {
					return err
				}
				established = true
			case *wamp.Abort:
				return nil
			default:
				return s.abort(errProtocolViolation, "expected HELLO, got %v", m.Type())
			}
			continue
		}
		done, err := s.handle(m)
		if done || err != nil {
			return err
		}
		if len(s.waitOn) > 0 || s.backlogNext < len(s.backlog) || s.out.aboveFlag.Load() {
			s.flowWait()
		}
	}
}

// handle dispatches one message of an established session. done ends the session.
func (s *session) handle(m wamp.Message) (done bool, err error) {
	if s.goodbyeSent.Load() {
		// Spec, "Session Closing": after sending GOODBYE, a peer ignores everything but the
		// GOODBYE reply.
		_, bye := m.(*wamp.Goodbye)
		_, abort := m.(*wamp.Abort)
		return bye || abort, nil
	}
	switch m := m.(type) {
	case *wamp.Goodbye:
		s.cookieLogout(m.Reason)
		s.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: closeGoodbyeReply})
		s.out.close() // the reply is the last message
		return true, nil
	case *wamp.Abort:
		return true, nil
	case *wamp.Publish:
		s.publish(m)
	case *wamp.Subscribe:
		s.subscribe(m)
	case *wamp.Unsubscribe:
		s.unsubscribe(m)
	case *wamp.Call:
		return false, s.call(m)
	case *wamp.Cancel:
		return false, s.cancel(m)
	case *wamp.Register:
		s.register(m)
	case *wamp.Unregister:
		s.unregister(m)
	case *wamp.Yield:
		s.yield(m)
	case *wamp.Error:
		if m.RequestType != wamp.INVOCATION {
			return true, s.abort(errProtocolViolation, "ERROR for %v: a client answers only INVOCATION", m.RequestType)
		}
		s.invocationError(m)
	case *wamp.Hello:
		return true, s.abort(errProtocolViolation, "HELLO received on an established session")
	default:
		return true, s.abort(errProtocolViolation, "%v is not sent by a client", m.Type())
	}
	return false, nil
}

// routerRoles is the router's WELCOME.Details.roles (spec, "Feature Announcement").
func routerRoles() wamp.Dict {
	features := func(names ...string) wamp.Dict {
		f := wamp.Dict{}
		for _, n := range names {
			f[n] = true
		}
		return wamp.Dict{"features": f}
	}
	return wamp.Dict{
		"broker": features("publisher_identification", "pattern_based_subscription",
			"subscriber_blackwhite_listing", "publisher_exclusion", "event_retention",
			"session_meta_api", "subscription_meta_api", "payload_passthru_mode"),
		"dealer": features("caller_identification", "pattern_based_registration",
			"shared_registration", "progressive_call_results", "call_canceling", "call_timeout",
			"session_meta_api", "registration_meta_api", "testament_meta_api", "payload_passthru_mode",
			"progressive_call_invocations"),
	}
}

// hello handles the opening HELLO. Without an `auth` config on the transport the client joins
// anonymously with role "anonymous"; with one, helloAuth authenticates it. joined is false
// while a CHALLENGE awaits the client's AUTHENTICATE.
func (s *session) hello(m *wamp.Hello) (joined bool, err error) {
	if len(m.Realm) > s.lim.MaxURILength {
		return false, s.abort(errProtocolViolation, "invalid realm in HELLO: %d bytes, longer than max_uri_length (%d)", len(m.Realm), s.lim.MaxURILength)
	}
	if err := checkURI(m.Realm, false, matchExact); err != nil {
		return false, s.abort(errProtocolViolation, "invalid realm in HELLO: %v", err)
	}
	roles, ok := m.Details["roles"].(map[string]any)
	if !ok || len(roles) == 0 {
		return false, s.abort(errProtocolViolation, "HELLO announces no roles")
	}
	if callee, ok := roles["callee"].(map[string]any); ok {
		if f, ok := callee["features"].(map[string]any); ok {
			s.calleeCancel, _ = f["call_canceling"].(bool)
			s.calleeRevoke, _ = f["registration_revocation"].(bool)
			pci, _ := f["progressive_call_invocations"].(bool)
			s.calleeProgressive = pci && s.calleeCancel
		}
	}
	if sub, ok := roles["subscriber"].(map[string]any); ok {
		if f, ok := sub["features"].(map[string]any); ok {
			s.subscriberRevoke, _ = f["subscription_revocation"].(bool)
		}
	}
	if s.info.TrustedRole != "" {
		return true, s.join(m.Realm, s.info.TrustedRole, anonymousAuthID(), "trusted", "static")
	}
	if a := s.info.Auth; a != nil {
		return s.helloAuth(m, a)
	}
	return true, s.join(m.Realm, "anonymous", anonymousAuthID(), "anonymous", "static")
}

// join admits the authenticated session to realm under authrole: the session ID, then
// WELCOME and the on_join meta event.
func (s *session) join(realm wamp.URI, authrole, authid, authmethod, authprovider string) error {
	rl, err := s.r.realm(realm)
	if err != nil {
		return s.abort(errNoSuchRealm, "no realm %q on this router (%v)", realm, err)
	}
	refuse := func(reason wamp.URI, format string, args ...any) error {
		rl.mu.Lock()
		s.r.leaveRealm(rl)
		rl.mu.Unlock()
		return s.abort(reason, format, args...)
	}
	ro := rl.roles[authrole]
	switch {
	case ro != nil:
	case s.r.dynamic:
		// No realms are configured, so none names roles: an authenticated role may do
		// everything, as the anonymous role of such a realm does. Authentication still
		// decides who joins.
		ro = allowAll()
		ro.name = authrole
	case authmethod == "trusted" && authrole == "trusted":
		// Crossbar's built-in "trusted" role, which router components may name.
		ro = allowAll()
		ro.name = authrole
	case s.info.Auth == nil && authmethod != "trusted":
		return refuse(errNotAuthorized, "realm %q admits no anonymous clients and this transport has no authentication", realm)
	default:
		// Crossbar's PendingAuth._assign_principal.
		return refuse(errNoSuchRole, "realm %q has no role %q", realm, authrole)
	}
	s.untrusted = rl.dynamic && authmethod == "anonymous"
	s.role, s.authrole = ro, authrole
	s.authid, s.authmethod, s.authprovider = authid, authmethod, authprovider
	s.subs = make(map[wamp.ID]*subscription)
	s.regs = make(map[wamp.ID]*registration)
	s.calls = make(map[wamp.ID]*invocation)
	s.invs = make(map[wamp.ID]*invocation)

	rl.mu.Lock()
	s.joinMu.Lock()
	if s.expired.Load() {
		// auth_timeout struck meanwhile: ABORT is sent, the transport is closing.
		s.joinMu.Unlock()
		s.r.leaveRealm(rl)
		rl.mu.Unlock()
		return ErrAuthTimeout
	}
	// A WAMP-CRA challenge named the session ID already (s.id set); keep it unless taken.
	for {
		if _, dup := rl.sessions[s.id]; s.id != 0 && !dup {
			break
		}
		s.id = globalID()
	}
	s.realm = rl
	rl.sessions[s.id] = s
	welcome := wamp.Dict{
		"realm":        string(rl.name),
		"authid":       s.authid,
		"authrole":     s.authrole,
		"authmethod":   s.authmethod,
		"authprovider": s.authprovider,
		"roles":        routerRoles(),
	}
	if s.authextra != nil {
		welcome["authextra"] = s.authextra
	}
	s.send(&wamp.Welcome{Session: s.id, Details: welcome})
	s.established.Store(true)
	s.joinMu.Unlock()
	if s.authTimer != nil {
		s.authTimer.Stop()
	}
	rl.metaSessionJoin(s)
	rl.mu.Unlock()
	if mt := s.r.opts.Metrics; mt != nil && mt.Joined != nil {
		mt.Joined(rl.name)
	}
	s.cookieJoined()
	s.log.Debug("router: session joined", "session", s.id, "realm", rl.name, "authid", s.authid, "peer", s.info.RemoteAddr)
	return nil
}

// detach takes the session out of its realm: testaments are published, subscriptions and
// registrations dropped (with meta events), pending calls answered or interrupted, and on_leave
// published.
func (s *session) detach() {
	rl := s.realm
	if rl == nil {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if s.left {
		return
	}
	s.left = true
	rl.dealer.sessionLeft(rl, s)
	rl.broker.sessionLeft(rl, s)
	// Crossbar publishes the "detached" testaments when a session detaches and the "destroyed"
	// ones when it is destroyed; without session resumption both happen now, once the session's
	// own subscriptions are gone.
	for _, scope := range []string{"detached", "destroyed"} {
		for _, t := range s.testaments[scope] {
			id := rl.publishLocked(s, t.topic, t.args, t.kwargs, nil, &t.opts)
			rl.clusterTestament(s, &t, id)
		}
	}
	if len(s.testaments) > 0 && rl.cluster != nil {
		rl.cluster.TestamentsChanged(rl.name, s.id, nil)
	}
	s.testaments = nil
	delete(rl.sessions, s.id)
	rl.metaSessionLeave(s)
	s.r.leaveRealm(rl)
	if mt := s.r.opts.Metrics; mt != nil && mt.Left != nil {
		mt.Left(rl.name)
	}
	s.log.Debug("router: session left", "session", s.id, "realm", rl.name)
}

// sendGoodbye starts the router side of the closing handshake (spec, "Session Closing"); the
// reader ends when the client's GOODBYE arrives.
func (s *session) sendGoodbye(reason wamp.URI, message string) {
	if s.goodbyeSent.Swap(true) {
		return
	}
	d := wamp.Dict{}
	if message != "" {
		d["message"] = message
	}
	s.send(&wamp.Goodbye{Details: d, Reason: reason})
}

// sendError answers request req of type typ with an ERROR carrying a message as Crossbar does.
func (s *session) sendError(typ wamp.MessageType, req wamp.ID, uri wamp.URI, format string, args ...any) {
	s.send(&wamp.Error{RequestType: typ, Request: req, Details: wamp.Dict{}, Error: uri,
		Arguments: wamp.List{fmt.Sprintf(format, args...)}})
}

// sessionDetails is the session's description in the session meta API (wamp.session.get,
// on_join), with Crossbar's keys. The transport's peer address is left out when peer is false.
func (s *session) sessionDetails(peer bool) wamp.Dict {
	t := wamp.Dict{"type": s.info.Transport, "protocol": s.info.Protocol}
	if peer {
		t["peer"] = s.info.RemoteAddr
	}
	return wamp.Dict{
		"session":      uint64(s.id),
		"authid":       s.authid,
		"authrole":     s.authrole,
		"authmethod":   s.authmethod,
		"authprovider": s.authprovider,
		"transport":    t,
	}
}

// uriTooLong reports a URI longer than the session's max_uri_length.
func (s *session) uriTooLong(u wamp.URI) bool { return len(u) > s.lim.MaxURILength }

// sendTooLong answers a request whose URI is longer than max_uri_length: the URI is not
// echoed.
func (s *session) sendTooLong(typ wamp.MessageType, req wamp.ID, what string, u wamp.URI) {
	s.sendError(typ, req, errInvalidURI, "invalid %s URI: %d bytes, longer than max_uri_length (%d)", what, len(u), s.lim.MaxURILength)
}

// sendLimitError answers a request over one of the session's bounds: ERROR
// portico.error.limit_exceeded, with the bound's key and value in kwargs.
func (s *session) sendLimitError(typ wamp.MessageType, req wamp.ID, key string, limit int, format string, args ...any) {
	s.send(&wamp.Error{RequestType: typ, Request: req, Details: wamp.Dict{}, Error: errLimitExceeded,
		Arguments:   wamp.List{fmt.Sprintf(format, args...)},
		ArgumentsKw: wamp.Dict{"limit": key, "value": int64(limit)}})
}
