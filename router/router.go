package router

import (
	"errors"
	"log/slog"
	"time"

	"portico/config"
)

// Options configure a Router. Zero values mean the documented defaults.
type Options struct {
	// Realms are the configured realms with their roles and static permissions. When empty, a
	// realm is created on a client's first HELLO, and its anonymous role may do everything.
	Realms []config.Realm
	// OutQueueLimit bounds each session's outbound queue, in messages. A session whose queue is
	// full is disconnected (logged), never silently dropped and never waited on. Default 1024.
	OutQueueLimit int
	// Log receives the router's structured log lines. Default slog.Default().
	Log *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// PeerInfo describes the client of one session, as the transport saw it.
type PeerInfo struct {
	// Transport names the transport kind ("websocket", "rawsocket", "inprocess").
	Transport string
	// RemoteAddr is the client's address ("127.0.0.1:53211"), "" for in-process peers.
	RemoteAddr string
	// Protocol is the negotiated subprotocol ("wamp.2.json", "wamp.2.cbor.batched", ...).
	Protocol string
}

// Router routes WAMP messages between the sessions of its realms: broker (pub/sub) and dealer
// (RPC), with the meta API. One Router serves one router worker of the config.
type Router struct {
	opts Options
}

// New returns a router for the given options.
func New(o Options) *Router {
	return &Router{opts: o}
}

// Serve runs one WAMP session over t: the opening handshake, then messages until the client
// says GOODBYE, the transport fails or the router closes. It blocks until the session is over
// and always closes t. The error says why the session ended (nil for a clean GOODBYE).
func (r *Router) Serve(t Transport, info PeerInfo) error {
	_ = t.Close()
	return errors.New("router: sessions are not served yet")
}

// Close ends every session (GOODBYE wamp.close.system_shutdown) and waits, up to the given
// bound, for them to go; new sessions are refused.
func (r *Router) Close(wait time.Duration) {}
