// Package router is Portico's WAMP router: realms, sessions, broker, dealer, meta API and
// authorization. It never imports an HTTP or WebSocket package: a session is served over the
// small Transport interface below, so the same router runs over WebSocket, RawSocket and
// in-process peers.
package router

import "portico/router/wamp"

// Transport carries whole WAMP messages between the router and one client. The transport does
// the framing (WebSocket frames, `.batched` splitting, RawSocket length prefixes); the router
// sees one encoded message per ReadMessage and hands one per WriteMessage.
type Transport interface {
	// Codec is the serializer the client negotiated.
	Codec() wamp.Codec
	// ReadMessage blocks until the next encoded message arrives. It returns an error once the
	// client is gone or the transport was closed.
	ReadMessage() ([]byte, error)
	// WriteMessage sends one encoded message. The router calls it from a single goroutine per
	// session; the transport applies its own write deadline.
	WriteMessage(b []byte) error
	// Close ends the transport; a blocked ReadMessage returns.
	Close() error
}

// CorkTransport is a Transport that can hold several messages and send them with one write
// (one system call instead of one per message). Between Cork and Uncork, WriteMessage may
// buffer what it is given; Uncork sends what was held and reports the first write error. The
// session's writer corks only while it has more than one message to write, so a lone
// message goes out at once.
type CorkTransport interface {
	Transport
	Cork()
	Uncork() error
}
