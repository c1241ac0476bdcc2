package router

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// Options configure a Router. Zero values mean the documented defaults.
type Options struct {
	// Realms are the configured realms with their roles and static permissions. When empty, a
	// realm is created on a client's first HELLO, and its anonymous role may do everything but
	// kill sessions and learn their peers' addresses (see realm.go); it is freed when its last
	// session leaves.
	Realms []config.Realm
	// OutQueueLimit bounds each session's outbound queue, in messages. Default 1024.
	OutQueueLimit int
	// OutQueueBytes bounds each session's outbound queue, in bytes. Default 4 MiB.
	OutQueueBytes int
	// OutQueueTimeout bounds how long a queue over its high-water mark (half of either bound)
	// may take to drain to its low-water mark (a quarter of both). Default 10s.
	//
	// A session over a bound is disconnected (ABORT portico.error.slow_consumer, one log line),
	// never silently dropped. A session whose message (PUBLISH, CALL, YIELD, ERROR) took
	// another's queue over its high-water mark is not read until that queue drains, or is cut:
	// senders are paced by their receivers, and a prompt reader is never cut by a burst.
	OutQueueTimeout time.Duration
	// MaxRetainedEvents and MaxRetainedBytes bound each realm's retained events (count, and an
	// estimate of their memory). Past either, the events retained longest ago are dropped.
	// Defaults 10000 and 16 MiB.
	MaxRetainedEvents int
	MaxRetainedBytes  int
	// AuthorizerTimeout bounds one call to a role's dynamic authorizer, including the wait
	// for the procedure to be registered; past it the action is denied
	// (wamp.error.authorization_failed). Default 10s.
	AuthorizerTimeout time.Duration
	// Log receives the router's structured log lines. Default slog.Default().
	Log *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	// Metrics receives the router's counts (the gateway exports them to Prometheus); nil:
	// none. The router imports no metrics library (deps_test.go).
	Metrics *Metrics
	// Cluster spreads the configured realms over other nodes (router/cluster); nil: this
	// node alone.
	Cluster Cluster
}

// Metrics are the hooks through which the router reports what it counts. Each field may be
// nil. They are called on the session's own goroutine, some of them (Received) once per
// message: they must be cheap and must not block.
type Metrics struct {
	// Joined and Left are called when a session joins a realm and when it leaves it.
	Joined, Left func(realm wamp.URI)
	// Received is called for every message decoded from a client.
	Received func(t wamp.MessageType)
	// Sent is called for every message written to a client (after the write), on the
	// session's writer goroutine.
	Sent func(t wamp.MessageType)
	// SlowConsumer is called when a session is disconnected because its outbound queue went
	// over a bound.
	SlowConsumer func()
	// AuthFailed is called when a client's authentication is refused before it joined
	// (ABORT wamp.error.not_authorized or wamp.error.no_auth_method: a wrong ticket or
	// signature, an unknown authid or certificate, a dynamic authenticator's denial, a realm
	// that admits no anonymous clients), with the method tried: one of the known authmethods,
	// or "none" when no offered method is accepted or the offered one is not a WAMP method.
	AuthFailed func(authmethod string)
}

// PeerInfo describes the client of one session, as the transport saw it.
type PeerInfo struct {
	// Transport names the transport kind ("websocket", "rawsocket", "inprocess").
	Transport string
	// RemoteAddr is the client's address ("127.0.0.1:53211"), "" for in-process peers.
	RemoteAddr string
	// Protocol is the negotiated subprotocol ("wamp.2.json", "wamp.2.cbor.batched", ...).
	Protocol string
	// Auth is the authentication the transport requires (a websocket path's `auth`). Nil
	// admits every client anonymously with role "anonymous".
	Auth *config.Auth
	// Limits bound the session (a websocket path's `options`); a zero field means its
	// default, config.DefaultSessionLimits.
	Limits config.SessionLimits
	// Secure is set when the client's connection is TLS; ChannelID is then the tls-unique
	// channel binding of it, as autobahn computes it: SHA-256 of the TLS handshake's first
	// Finished message (RFC 5929), nil under TLS 1.3, which has no tls-unique.
	Secure    bool
	ChannelID []byte
	// PeerCert is the certificate the client presented in the TLS handshake (verified by the
	// endpoint's ca_certificates), for the `tls` authentication method; nil without one.
	PeerCert *x509.Certificate
	// TrustedRole, when set, joins the session with this authrole (authmethod "trusted")
	// without authentication, whatever Auth says: for connections only Portico can make,
	// such as a router component's private socket (Crossbar's router components join the
	// same way, crossbar/worker/router.py).
	TrustedRole string
	// Cookie is the connection's tracking cookie (a websocket path's `cookie`), nil when
	// the path has none: sessions that authenticate are remembered on it, and the `cookie`
	// authmethod joins by it (cookie.go).
	Cookie *CookieTrack
	// ClusterLink marks the cluster link's own session on a realm (router/cluster): its
	// REGISTERs name other nodes' procedures (the realm's remote table), and its CALLs may
	// carry the remote caller to disclose (ClusterCaller).
	ClusterLink bool
}

// The defaults of Options; config sets the same (config.WebSocketOptions, config.WorkerOptions).
const (
	DefaultOutQueueLimit     = 1024
	DefaultOutQueueBytes     = 4 << 20
	DefaultOutQueueTimeout   = 10 * time.Second // nats-server's write_deadline
	DefaultMaxRetainedEvents = 10000
	DefaultMaxRetainedBytes  = 16 << 20
)

// ErrClosed is returned by Serve once the router is closed.
var ErrClosed = errors.New("router: closed")

// maxDynamicRealms bounds the realms created on first HELLO (when none are configured) that
// have sessions; a HELLO for a new realm above it is refused. Such a realm is freed when its
// last session leaves, so names that clients make up cannot lock the others out once they are
// gone.
const maxDynamicRealms = 256

// maxIdleDynamicRealms bounds the realms created on HELLO that have no session left but keep
// retained events (spec, "Event Retention") for the next subscriber; above it the one idle the
// longest is dropped with its events.
const maxIdleDynamicRealms = 256

// errNoSuchRealmConfigured is realm's answer for a realm the configuration does not name.
var errNoSuchRealmConfigured = errors.New("the configuration names no such realm")

// errTooManyRealms is realm's answer for a new realm over maxDynamicRealms.
var errTooManyRealms = fmt.Errorf("%d realms created on HELLO have sessions, the most this router makes without configuration; configure the worker's realms", maxDynamicRealms)

// Router routes WAMP messages between the sessions of its realms: broker (pub/sub) and dealer
// (RPC), with the meta API. One Router serves one router worker of the config.
type Router struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // see realm.go for the lock order
	realms  map[wamp.URI]*realm
	dynamic bool // realms are created on first HELLO
	// Realms created on HELLO: how many have sessions, which have none but keep retained
	// events (oldest first), and whether the refusal at maxDynamicRealms was logged since the
	// count last fell below it.
	liveDynamic int
	idle        []*realm
	fullLogged  bool
	live        map[*session]struct{}
	closed      bool
	writers     writerPool     // runs the sessions' writers (writers.go)
	wg          sync.WaitGroup // one per running Serve
	auth        authServices   // sessions that call dynamic authenticators (authservice.go)
}

// New returns a router for the given options.
func New(o Options) *Router {
	if o.OutQueueLimit <= 0 {
		o.OutQueueLimit = DefaultOutQueueLimit
	}
	if o.OutQueueBytes <= 0 {
		o.OutQueueBytes = DefaultOutQueueBytes
	}
	if o.OutQueueTimeout <= 0 {
		o.OutQueueTimeout = DefaultOutQueueTimeout
	}
	if o.MaxRetainedEvents <= 0 {
		o.MaxRetainedEvents = DefaultMaxRetainedEvents
	}
	if o.MaxRetainedBytes <= 0 {
		o.MaxRetainedBytes = DefaultMaxRetainedBytes
	}
	if o.AuthorizerTimeout <= 0 {
		o.AuthorizerTimeout = DefaultAuthorizerTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Router{opts: o, log: o.Log, realms: make(map[wamp.URI]*realm), live: make(map[*session]struct{})}
	r.dynamic = len(o.Realms) == 0
	for _, c := range o.Realms {
		roles := make(map[string]*role, len(c.Roles))
		authorizers := map[wamp.URI]*authorizer{}
		for _, ro := range c.Roles {
			nr := newRole(ro)
			if u := wamp.URI(ro.Authorizer); u != "" {
				if authorizers[u] == nil {
					authorizers[u] = &authorizer{uri: u}
				}
				nr.authz = authorizers[u]
			}
			roles[ro.Name] = nr
		}
		rl := newRealm(wamp.URI(c.Name), roles, o.Now)
		rl.authorizers = authorizers
		rl.cluster = o.Cluster
		rl.broker.bound(o.MaxRetainedEvents, o.MaxRetainedBytes, o.Log)
		rl.initStore(c.Store)
		r.realms[wamp.URI(c.Name)] = rl
	}
	return r
}

// realm returns the named realm, creating it (allow-all anonymous role) when no realms are
// configured. A realm created on HELLO counts the caller as one of its members from here on:
// the caller joins it or calls leaveRealm.
func (r *Router) realm(name wamp.URI) (*realm, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rl := r.realms[name]; rl != nil {
		if rl.dynamic {
			r.enterLocked(rl)
		}
		return rl, nil
	}
	if !r.dynamic {
		return nil, errNoSuchRealmConfigured
	}
	if r.liveDynamic >= maxDynamicRealms {
		if !r.fullLogged {
			r.fullLogged = true
			r.log.Warn("router: refusing to create realms on HELLO: too many have sessions (ABORT wamp.error.no_such_realm until some are left); configure the worker's realms",
				"realm", name, "realms", r.liveDynamic, "bound", maxDynamicRealms)
		}
		return nil, errTooManyRealms
	}
	rl := newRealm(name, map[string]*role{"anonymous": allowAll()}, r.opts.Now)
	rl.dynamic = true
	rl.cluster = r.opts.Cluster
	rl.broker.bound(r.opts.MaxRetainedEvents, r.opts.MaxRetainedBytes, r.log)
	r.realms[name] = rl
	r.enterLocked(rl)
	r.log.Info("router: realm created on first HELLO", "realm", name)
	return rl, nil
}

// enterLocked counts one more member of a realm created on HELLO. Router.mu is held.
func (r *Router) enterLocked(rl *realm) {
	if rl.members == 0 {
		r.liveDynamic++
		if i := slices.Index(r.idle, rl); i >= 0 {
			r.idle = slices.Delete(r.idle, i, i+1)
		}
	}
	rl.members++
}

// leaveRealm counts one member less of a realm created on HELLO: a session that left, or one
// that got the realm and then did not join. The last member's leaving frees the realm, unless
// it keeps retained events; then it waits for its next session among the idle ones. realm.mu
// is held, so that no event is retained meanwhile.
func (r *Router) leaveRealm(rl *realm) {
	if !rl.dynamic {
		return
	}
	retains := len(rl.broker.retained) > 0
	r.mu.Lock()
	defer r.mu.Unlock()
	rl.members--
	if rl.members > 0 {
		return
	}
	r.liveDynamic--
	r.fullLogged = r.fullLogged && r.liveDynamic >= maxDynamicRealms
	if !retains {
		delete(r.realms, rl.name)
		r.log.Debug("router: realm created on HELLO freed: its last session left", "realm", rl.name)
		return
	}
	r.idle = append(r.idle, rl)
	if len(r.idle) > maxIdleDynamicRealms {
		old := r.idle[0]
		r.idle = slices.Delete(r.idle, 0, 1)
		delete(r.realms, old.name)
		r.log.Info("router: realm created on HELLO dropped with its retained events: it had no session and the idle ones were too many",
			"realm", old.name, "bound", maxIdleDynamicRealms)
	}
}

// Serve runs one WAMP session over t: the opening handshake, then messages until the client
// says GOODBYE, the transport fails or the router closes. It blocks until the session is over
// and always closes t. The error says why the session ended: nil for a clean GOODBYE (either
// side's), ErrClosed when the router was closed before, ErrSlowConsumer when the session was
// disconnected for not reading, an ABORT's reason, or the transport's read error.
func (r *Router) Serve(t Transport, info PeerInfo) error {
	s := newSession(r, t, info)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = t.Close()
		return ErrClosed
	}
	r.live[s] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()

	s.authTimer = time.AfterFunc(s.lim.AuthTimeout, s.authExpired)
	err := s.readLoop()
	s.authTimer.Stop()
	s.detach()
	s.out.close()
	<-s.writerDone
	if t := s.graceTimer.Load(); t != nil {
		t.Stop()
	}

	r.mu.Lock()
	delete(r.live, s)
	r.mu.Unlock()
	return err
}

// Close ends every session (GOODBYE wamp.close.system_shutdown) and waits, up to the given
// bound, for them to go; new sessions are refused. Sessions still there after the bound have
// their transports closed, and Close returns once they are gone.
func (r *Router) Close(wait time.Duration) {
	r.mu.Lock()
	r.closed = true
	live := make([]*session, 0, len(r.live))
	for s := range r.live {
		live = append(live, s)
	}
	r.mu.Unlock()
	for _, s := range live {
		s.joinMu.Lock()
		established := s.established.Load()
		if established {
			s.sendGoodbye(errSystemShutdown, "the router is shutting down")
		}
		s.joinMu.Unlock()
		if !established {
			s.closeTransport()
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	defer r.writers.close()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	for _, s := range live {
		s.closeTransport()
	}
	<-done
}
