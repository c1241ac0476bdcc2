package cluster

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// startDynamic runs nodes a, b, c with no configured realms (realms made on HELLO), b and c
// on a's embedded NATS server, and waits until they see each other.
func startDynamic(t *testing.T) (rs []*router.Router, ns []*Node) {
	t.Helper()
	ra, na := startNodeRealms(t, "a", "", nil)
	rb, nb := startNodeRealms(t, "b", na.ClientURL(), nil)
	rc, nc := startNodeRealms(t, "c", na.ClientURL(), nil)
	ns = []*Node{na, nb, nc}
	for _, n := range ns {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}
	return []*router.Router{ra, rb, rc}, ns
}

// answerCalls makes c a callee that yields [the caller's ID as disclosed, the first argument].
func answerCalls(c *client) {
	go func() {
		for m := range c.in {
			if inv, ok := m.(*wamp.Invocation); ok {
				var arg any
				if len(inv.Arguments) > 0 {
					arg = inv.Arguments[0]
				}
				b, _ := c.codec.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{inv.Details["caller"], arg}})
				_ = c.end.WriteMessage(b)
			}
		}
	}()
}

// callOnce calls proc from c and returns the RESULT's arguments, or the ERROR's URI as error.
func callOnce(t *testing.T, c *client, proc wamp.URI, arg any) (wamp.List, error) {
	t.Helper()
	req := c.next()
	c.send(&wamp.Call{Request: req, Options: wamp.Dict{"disclose_me": true}, Procedure: proc, Arguments: wamp.List{arg}})
	switch m := c.expectAny().(type) {
	case *wamp.Result:
		if m.Request != req {
			t.Fatalf("RESULT for request %d, want %d", m.Request, req)
		}
		return m.Arguments, nil
	case *wamp.Error:
		return nil, errors.New(string(m.Error))
	default:
		t.Fatalf("got %s %+v, want RESULT or ERROR", m.Type(), m)
	}
	return nil, nil
}

func hasRealm(r *router.Router, realm wamp.URI) bool { return slices.Contains(r.Realms(), realm) }

// TestClusterDynamicRealmCalls: with realms made on HELLO, a call on A reaches a callee of
// the same realm on B; a node that does not have the realm gets neither the realm nor a link
// session; a realm used on one node alone stays there; a realm whose last session leaves is
// freed though the cluster's link session is in it (the link closes with it), and made again,
// with a new link, when a callee joins again.
func TestClusterDynamicRealmCalls(t *testing.T) {
	rs, ns := startDynamic(t)
	ra, rb, rc := rs[0], rs[1], rs[2]
	na, nb, nc := ns[0], ns[1], ns[2]

	callee := joinRealm(t, rb, "dyn1")
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.echo"})
	callee.expect("REGISTERED")
	answerCalls(callee)
	caller := joinRealm(t, ra, "dyn1")
	testkit.CheckFor(t, guard, func() error {
		args, err := callOnce(t, caller, "com.ex.echo", "hi")
		if err != nil {
			return fmt.Errorf("the call from A: %w", err)
		}
		if len(args) != 2 || !same(args[0], caller.id) || args[1] != "hi" {
			t.Fatalf("RESULT %v, want [%d hi] (the caller on A disclosed)", args, caller.id)
		}
		return nil
	})

	// C has no session on dyn1: no realm, no link. A realm of C alone works there and does
	// not reach A and B.
	if hasRealm(rc, "dyn1") || nc.linkCount() != 0 {
		t.Errorf("C has realms %v and %d links, want none", rc.Realms(), nc.linkCount())
	}
	soloCallee, soloCaller := joinRealm(t, rc, "solo"), joinRealm(t, rc, "solo")
	soloCallee.send(&wamp.Register{Request: soloCallee.next(), Options: wamp.Dict{}, Procedure: "com.ex.echo"})
	soloCallee.expect("REGISTERED")
	answerCalls(soloCallee)
	if args, err := callOnce(t, soloCaller, "com.ex.echo", "solo"); err != nil || args[1] != "solo" {
		t.Fatalf("the call on C's own realm: %v %v", args, err)
	}
	if args, err := callOnce(t, caller, "com.ex.echo", "still"); err != nil || args[1] != "still" {
		t.Fatalf("the call on dyn1 beside C's realm: %v %v", args, err)
	}
	for i, r := range []*router.Router{ra, rb} {
		if hasRealm(r, "solo") {
			t.Errorf("node %d has C's realm solo: %v", i, r.Realms())
		}
	}
	if na.linkCount() != 1 || nb.linkCount() != 1 {
		t.Errorf("A has %d links, B %d; want 1 each (dyn1)", na.linkCount(), nb.linkCount())
	}

	// The callee leaves: B frees dyn1 and closes its link; A's calls find no procedure.
	_ = callee.end.Close()
	testkit.WaitFor(t, guard, "B frees dyn1 and its link", func() bool { return !hasRealm(rb, "dyn1") && nb.linkCount() == 0 })
	testkit.CheckFor(t, guard, func() error {
		_, err := callOnce(t, caller, "com.ex.echo", "gone")
		if err == nil || err.Error() != "wamp.error.no_such_procedure" {
			return fmt.Errorf("a call after the callee left: %v", err)
		}
		return nil
	})

	// A callee joins dyn1 on B again: a new realm, a new link, calls from A work again.
	again := joinRealm(t, rb, "dyn1")
	again.send(&wamp.Register{Request: again.next(), Options: wamp.Dict{}, Procedure: "com.ex.echo"})
	again.expect("REGISTERED")
	answerCalls(again)
	testkit.CheckFor(t, guard, func() error {
		args, err := callOnce(t, caller, "com.ex.echo", "back")
		if err != nil {
			return fmt.Errorf("the call to the new callee: %w", err)
		}
		if args[1] != "back" {
			t.Fatalf("RESULT %v", args)
		}
		return nil
	})

	// Everyone leaves: every realm and link goes.
	for _, c := range []*client{again, caller, soloCallee, soloCaller} {
		_ = c.end.Close()
	}
	for i, n := range ns {
		r := rs[i]
		testkit.WaitFor(t, guard, "the node frees its realms and links", func() bool { return len(r.Realms()) == 0 && n.linkCount() == 0 })
	}
}

// TestClusterDynamicRealmMetaRetainedTestaments: on a realm made on HELLO, an event retained
// on B reaches a subscriber with get_retained on A whose realm did not exist when it was
// published; the meta API counts the sessions of every node; a testament of a session on B
// fires on A when B dies.
func TestClusterDynamicRealmMetaRetainedTestaments(t *testing.T) {
	ra, na := startNodeRealms(t, "a", "", nil)
	rb, nb := startNodeRealms(t, "b", na.ClientURL(), nil)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	testkit.WaitFor(t, guard, "the bucket is there", func() bool { return na.ret.active() && nb.ret.active() })

	pub := joinRealm(t, rb, "dyn2")
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"retain": true, "acknowledge": true}, Topic: "com.ex.kept", Arguments: wamp.List{"k1"}})
	pub.expect("PUBLISHED")
	testkit.WaitFor(t, guard, "A keeps the retained event of a realm it does not have", func() bool { return len(na.ret.retainedOf("dyn2")) == 1 })
	if hasRealm(ra, "dyn2") {
		t.Fatalf("A has dyn2 before any session joined it there")
	}
	sub := joinRealm(t, ra, "dyn2")
	if got := retainedOn(t, sub, "com.ex.kept", "exact"); got["k1"] == nil {
		t.Errorf("A's subscriber got retained %v, want k1 (retained on B before A had the realm)", keys(got))
	}

	// The meta API: two sessions in dyn2, one per node.
	sub.send(&wamp.Call{Request: sub.next(), Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	if r := sub.expect("RESULT").(*wamp.Result); !same(r.Arguments, wamp.List{2}) {
		t.Errorf("wamp.session.count on A: %v, want [2]", r.Arguments)
	}

	// B's session leaves a testament; B dies; A publishes it to its subscriber.
	sub.send(&wamp.Subscribe{Request: sub.next(), Options: wamp.Dict{}, Topic: "com.ex.will"})
	sub.expect("SUBSCRIBED")
	pub.send(&wamp.Call{Request: pub.next(), Options: wamp.Dict{}, Procedure: "wamp.session.add_testament",
		Arguments: wamp.List{"com.ex.will", wamp.List{"bye"}, wamp.Dict{}}})
	pub.expect("RESULT")
	testkit.CheckFor(t, guard, func() error { return replicated(na, "b", 1) })
	nb.Close()
	if ev := sub.expect("EVENT").(*wamp.Event); !same(ev.Arguments, wamp.List{"bye"}) {
		t.Errorf("EVENT %+v, want the testament of B's session", ev)
	}
}

// TestClusterDynamicRealmChurn: realms made and freed in quick succession on two nodes, with
// calls across, leave no realm and no link behind (the link sessions neither keep a realm
// alive nor outlive it).
func TestClusterDynamicRealmChurn(t *testing.T) {
	ra, na := startNodeRealms(t, "a", "", nil)
	rb, nb := startNodeRealms(t, "b", na.ClientURL(), nil)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	base := runtime.NumGoroutine()
	for i := range 20 {
		realm := wamp.URI(fmt.Sprintf("churn%d", i%4))
		callee := joinRealm(t, rb, realm)
		callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.echo"})
		callee.expect("REGISTERED")
		answerCalls(callee)
		caller := joinRealm(t, ra, realm)
		testkit.CheckFor(t, guard, func() error {
			_, err := callOnce(t, caller, "com.ex.echo", i)
			return err
		})
		_ = callee.end.Close()
		_ = caller.end.Close()
	}
	deadline := time.Now().Add(guard)
	for _, x := range []struct {
		r *router.Router
		n *Node
	}{{ra, na}, {rb, nb}} {
		testkit.WaitFor(t, time.Until(deadline), "no realm and no link left", func() bool { return len(x.r.Realms()) == 0 && x.n.linkCount() == 0 })
	}
	// Each link that outlived its realm would keep a few goroutines (its reader, the router's
	// session of it): 40 links made, a handful of goroutines of slack for NATS's own.
	testkit.CheckFor(t, guard, func() error {
		if n := runtime.NumGoroutine(); n > base+8 {
			return fmt.Errorf("%d goroutines, %d before the realms came and went", n, base)
		}
		return nil
	})
}
