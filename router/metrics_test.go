package router

import (
	"fmt"
	"sync"
	"testing"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// countingMetrics records what the router reports through its Metrics hooks.
type countingMetrics struct {
	mu       sync.Mutex
	sessions map[wamp.URI]int
	received map[wamp.MessageType]int
	sent     map[wamp.MessageType]int
	authFail map[string]int
	slow     int
}

func (m *countingMetrics) hooks() *Metrics {
	m.sessions, m.received, m.authFail = map[wamp.URI]int{}, map[wamp.MessageType]int{}, map[string]int{}
	m.sent = map[wamp.MessageType]int{}
	locked := func(f func()) { m.mu.Lock(); f(); m.mu.Unlock() }
	return &Metrics{
		Joined:       func(r wamp.URI) { locked(func() { m.sessions[r]++ }) },
		Left:         func(r wamp.URI) { locked(func() { m.sessions[r]-- }) },
		Received:     func(t wamp.MessageType) { locked(func() { m.received[t]++ }) },
		Sent:         func(t wamp.MessageType) { locked(func() { m.sent[t]++ }) },
		SlowConsumer: func() { locked(func() { m.slow++ }) },
		AuthFailed:   func(method string) { locked(func() { m.authFail[method]++ }) },
	}
}

func (m *countingMetrics) get(f func() int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f()
}

// TestMetricsHooks: sessions per realm, received and sent messages by type and refused
// authentications reach the hooks.
func TestMetricsHooks(t *testing.T) {
	c := wamp.JSON
	var m countingMetrics
	r := newTestRouter(t, Options{Realms: append(authRealms(), everythingRealm("open")), Metrics: m.hooks()})

	a := join(t, r, c, "open")
	b := join(t, r, c, "open")
	if n := m.get(func() int { return m.sessions["open"] }); n != 2 {
		t.Errorf("sessions in open: %d, want 2", n)
	}
	b.register("com.example.echo", nil)
	b.quiet()
	a.publishAck("com.example.topic", nil)
	a.goodbye()
	testkit.WaitFor(t, guard, "the session to leave", func() bool {
		return m.get(func() int { return m.sessions["open"] }) == 1
	})
	for typ, want := range map[wamp.MessageType]int{wamp.HELLO: 2, wamp.REGISTER: 1, wamp.CALL: 1, wamp.PUBLISH: 1, wamp.GOODBYE: 1} {
		if n := m.get(func() int { return m.received[typ] }); n != want {
			t.Errorf("%v received: %d, want %d", typ, n, want)
		}
	}

	bad := hello(t, r, c, testAuth(t), "realm1", []any{"ticket"}, "backend1")
	expect[*wamp.Challenge](bad)
	bad.send(&wamp.Authenticate{Signature: "wrong", Extra: wamp.Dict{}})
	aborted(t, bad, errNotAuthorized)
	none := hello(t, r, c, testAuth(t), "realm1", []any{"cryptosign"}, "backend1")
	aborted(t, none, errNoAuthMethod)
	if n := m.get(func() int { return m.authFail["ticket"] }); n != 1 {
		t.Errorf("ticket failures: %d, want 1", n)
	}
	junk := hello(t, r, c, testAuth(t), "realm1", []any{"made-up"}, "backend1")
	aborted(t, junk, errNotAuthorized)
	if n := m.get(func() int { return m.authFail["none"] }); n != 2 {
		t.Errorf("failures without a known method: %d, want 2", n)
	}
	if n := m.get(func() int { return len(m.authFail) }); n != 2 {
		t.Errorf("failures by method: %v", m.authFail)
	}
	// A message is counted once written, which may come after the client read it.
	sent := map[wamp.MessageType]int{wamp.WELCOME: 2, wamp.REGISTERED: 1, wamp.PUBLISHED: 1,
		wamp.GOODBYE: 1, wamp.CHALLENGE: 1, wamp.ABORT: 3}
	testkit.CheckFor(t, guard, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for typ, want := range sent {
			if m.sent[typ] != want {
				return fmt.Errorf("%v sent: %d, want %d (all: %v)", typ, m.sent[typ], want, m.sent)
			}
		}
		return nil
	})
}
