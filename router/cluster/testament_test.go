package cluster

import (
	"errors"
	"testing"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// TestClusterTestaments: a session's testaments reach the other nodes' subscribers once when
// it leaves normally, and once, from one node, when its node dies without a word (its NATS
// connection and heartbeats end; its sessions never leave).
func TestClusterTestaments(t *testing.T) {
	ra, a := startNode(t, "a", "")
	rb, b := startNode(t, "b", a.ClientURL())
	rc, c := startNode(t, "c", a.ClientURL())
	testkit.CheckFor(t, guard, func() error {
		if a.Peers() != 2 || b.Peers() != 2 || c.Peers() != 2 {
			return errors.New("the nodes do not see each other yet")
		}
		return nil
	})
	subA, subB := join(t, ra), join(t, rb)
	for _, s := range []*client{subA, subB} {
		s.send(&wamp.Subscribe{Request: s.next(), Options: wamp.Dict{}, Topic: "com.ex.will"})
		s.expect("SUBSCRIBED")
	}
	testament := func(w *client, arg string) {
		w.send(&wamp.Call{Request: w.next(), Options: wamp.Dict{}, Procedure: "wamp.session.add_testament",
			Arguments: wamp.List{"com.ex.will", wamp.List{arg}, wamp.Dict{}}})
		w.expect("RESULT")
	}
	event := func(s *client) string {
		t.Helper()
		ev := s.expect("EVENT").(*wamp.Event)
		return ev.Arguments[0].(string)
	}

	// A normal leave: c publishes the testament, to every node, and takes it back from the
	// others.
	left := join(t, rc)
	testament(left, "left")
	testkit.CheckFor(t, guard, func() error { return replicated(a, "c", 1) })
	left.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.close_realm"})
	left.expect("GOODBYE")
	for _, s := range []*client{subA, subB} {
		if got := event(s); got != "left" {
			t.Fatalf("session %d got %q, want the testament of the session that left", s.id, got)
		}
	}
	testkit.CheckFor(t, guard, func() error { return replicated(a, "c", 0) })

	// c dies: a (the lowest live name) publishes the testament of c's session, b does not.
	w := join(t, rc)
	testament(w, "bye")
	testkit.CheckFor(t, guard, func() error {
		if err := replicated(a, "c", 1); err != nil {
			return err
		}
		return replicated(b, "c", 1)
	})
	c.Close()
	for _, s := range []*client{subA, subB} {
		if got := event(s); got != "bye" {
			t.Fatalf("session %d got %q, want the testament of c's session", s.id, got)
		}
	}
	// Exactly once: both nodes have dropped c (and so decided), then a publication from each
	// node is the next event everywhere.
	testkit.CheckFor(t, guard, func() error {
		if a.Peers() != 1 || b.Peers() != 1 {
			return errors.New("c not dropped yet")
		}
		return nil
	})
	pubA, pubB := join(t, ra), join(t, rb)
	pubA.send(&wamp.Publish{Request: 1, Options: wamp.Dict{}, Topic: "com.ex.will", Arguments: wamp.List{"fromA"}})
	pubB.send(&wamp.Publish{Request: 1, Options: wamp.Dict{}, Topic: "com.ex.will", Arguments: wamp.List{"fromB"}})
	for _, s := range []*client{subA, subB} {
		seen := map[string]bool{}
		for len(seen) < 2 {
			got := event(s)
			if got != "fromA" && got != "fromB" {
				t.Fatalf("session %d got %q again", s.id, got)
			}
			seen[got] = true
		}
	}
}

// replicated says whether node n holds want testaments of node peer's sessions.
func replicated(n *Node, peer string, want int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.nodes[peer]
	if p == nil {
		return errors.New(peer + " unknown")
	}
	got := 0
	for _, s := range p.testaments {
		for _, ts := range s {
			got += len(ts)
		}
	}
	if got != want {
		return errors.New("not replicated yet")
	}
	return nil
}
