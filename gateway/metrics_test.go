package gateway

import (
	"testing"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// TestWAMPMessageCountAllocs: counting a WAMP message received or sent, once per message on
// every session, allocates nothing and lands in its type's series.
func TestWAMPMessageCountAllocs(t *testing.T) {
	m := newMetrics()
	h := m.routerHooks()
	if !raceEnabled {
		testkit.Budget(t, "counting a sent EVENT", 0, 1000, func() { h.Sent(wamp.EVENT) })
		testkit.Budget(t, "counting a received PUBLISH", 0, 1000, func() { h.Received(wamp.PUBLISH) })
	}
	h.Sent(wamp.RESULT)
	h.Sent(wamp.EVENT_RECEIVED) // never sent by a router: "other"
	if got := m.sent[wamp.RESULT].Get(); got != 1 {
		t.Errorf("RESULT sent: %d, want 1", got)
	}
	if got := m.otherSent.Get(); got != 1 {
		t.Errorf("other sent: %d, want 1", got)
	}
}
