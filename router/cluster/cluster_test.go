package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// guard bounds the waits for what should come; a hang guard, not a timing assertion.
const guard = 20 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var allowAll = []config.Realm{{Name: "realm1", Roles: []config.Role{{Name: "anonymous", Permissions: []config.Permission{{
	URI: "", Match: "prefix", Allow: config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}}}}}}}

// startNode runs a router with a cluster node; url "" runs an embedded NATS server.
func startNode(t testing.TB, name, url string) (*router.Router, *Node) {
	return startNodeRealms(t, name, url, allowAll)
}

// startNodeRealms is startNode with the given realms (none: made on HELLO).
func startNodeRealms(t testing.TB, name, url string, realms []config.Realm) (*router.Router, *Node) {
	t.Helper()
	return startNodeLog(t, name, url, realms, quiet())
}

// startNodeLog is startNodeRealms with the node logging to log.
func startNodeLog(t testing.TB, name, url string, realms []config.Realm, log *slog.Logger) (*router.Router, *Node) {
	t.Helper()
	return startNodeTimeout(t, name, url, realms, log, time.Second)
}

// startNodeTimeout is startNodeLog with the given node_timeout. The tests' one second makes
// their nodes find a peer gone quickly; on a busy machine a heartbeat may be late by that
// much, so what must not see a peer dropped (the benchmarks) asks for far more.
func startNodeTimeout(t testing.TB, name, url string, realms []config.Realm, log *slog.Logger, nodeTimeout time.Duration) (*router.Router, *Node) {
	t.Helper()
	c := config.Cluster{Name: "c1", Node: name, SubjectPrefix: "portico", NodeTimeout: nodeTimeout}
	if url == "" {
		c.NATS.Embedded = &config.ClusterEmbedded{Listen: "127.0.0.1:0"}
		c.NATS.URLs = []string{"nats://127.0.0.1:0"}
	} else {
		c.NATS.URLs = []string{url}
	}
	n := New(c, log)
	r := router.New(router.Options{Realms: realms, Log: quiet(), Cluster: n})
	if err := n.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); r.Close(guard) })
	return r, n
}

// client is a WAMP peer over an in-process pipe.
type client struct {
	t     testing.TB
	end   router.Transport
	codec wamp.Codec
	in    chan wamp.Message
	id    wamp.ID
	req   wamp.ID
}

func join(t testing.TB, r *router.Router) *client {
	t.Helper()
	return joinWith(t, r, nil)
}

// joinWith is join announcing the extra features too (in every role).
func joinWith(t testing.TB, r *router.Router, extra wamp.Dict) *client {
	t.Helper()
	return joinRealmWith(t, r, "realm1", extra)
}

// joinRealm is join on realm.
func joinRealm(t testing.TB, r *router.Router, realm wamp.URI) *client {
	t.Helper()
	return joinRealmWith(t, r, realm, nil)
}

func joinRealmWith(t testing.TB, r *router.Router, realm wamp.URI, extra wamp.Dict) *client {
	t.Helper()
	codec, _ := wamp.CodecByName("json")
	srv, end := router.Pipe(codec, 64)
	c := &client{t: t, end: end, codec: codec, in: make(chan wamp.Message, 256)}
	go func() { _ = r.Serve(srv, router.PeerInfo{Transport: "inprocess", Protocol: "wamp.2.json"}) }()
	go func() {
		defer close(c.in)
		for {
			b, err := end.ReadMessage()
			if err != nil {
				return
			}
			m, err := codec.Decode(b)
			if err != nil {
				panic(err)
			}
			c.in <- m
		}
	}()
	t.Cleanup(func() { _ = end.Close() })
	f := wamp.Dict{"call_canceling": true, "progressive_call_results": true, "publisher_identification": true, "caller_identification": true}
	for k, v := range extra {
		f[k] = v
	}
	feat := wamp.Dict{"features": f}
	c.send(&wamp.Hello{Realm: realm, Details: wamp.Dict{"roles": wamp.Dict{"caller": feat, "callee": feat, "publisher": feat, "subscriber": feat}}})
	c.id = c.expect("WELCOME").(*wamp.Welcome).Session
	return c
}

func (c *client) send(m wamp.Message) {
	b, err := c.codec.Encode(nil, m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.end.WriteMessage(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() wamp.ID { c.req++; return c.req }

// expectAny returns the next message.
func (c *client) expectAny() wamp.Message {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-time.After(guard):
		c.t.Fatalf("session %d: no message within %s", c.id, guard)
	}
	return nil
}

// expect returns the next message, which must be of type name.
func (c *client) expect(name string) wamp.Message {
	c.t.Helper()
	select {
	case m := <-c.in:
		if m.Type().String() != name {
			c.t.Fatalf("session %d: want %s, got %s %+v", c.id, name, m.Type(), m)
		}
		return m
	case <-time.After(guard):
		c.t.Fatalf("session %d: no %s within %s", c.id, name, guard)
	}
	return nil
}

func TestClusterPubSubAndRPCAcrossNodes(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	rc, nc := startNode(t, "c", na.ClientURL())

	subB, subC, pub := join(t, rb), join(t, rc), join(t, ra)
	subB.send(&wamp.Subscribe{Request: subB.next(), Options: wamp.Dict{}, Topic: "com.ex.topic"})
	subB.expect("SUBSCRIBED")
	subC.send(&wamp.Subscribe{Request: subC.next(), Options: wamp.Dict{"match": "prefix"}, Topic: "com.ex."})
	subC.expect("SUBSCRIBED")
	for _, n := range []*Node{na, nb, nc} {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}

	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"acknowledge": true, "disclose_me": true}, Topic: "com.ex.topic", Arguments: wamp.List{"hi"}})
	pub.expect("PUBLISHED")
	for _, s := range []*client{subB, subC} {
		ev := s.expect("EVENT").(*wamp.Event)
		if len(ev.Arguments) != 1 || ev.Arguments[0] != "hi" {
			t.Errorf("session %d got %v", s.id, ev.Arguments)
		}
		if !same(ev.Details["publisher"], pub.id) {
			t.Errorf("session %d: publisher %v, want %d", s.id, ev.Details["publisher"], pub.id)
		}
	}

	// Exclusion by session ID reaches across nodes: B is excluded, C is not; the next event,
	// for everyone, is B's next.
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"exclude": wamp.List{uint64(subB.id)}}, Topic: "com.ex.topic", Arguments: wamp.List{1}})
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"eligible": wamp.List{uint64(subB.id)}}, Topic: "com.ex.topic", Arguments: wamp.List{2}})
	if ev := subC.expect("EVENT").(*wamp.Event); len(ev.Arguments) != 1 || !same(ev.Arguments[0], 1) {
		t.Errorf("C got %v, want [1]", ev.Arguments)
	}
	if ev := subB.expect("EVENT").(*wamp.Event); len(ev.Arguments) != 1 || !same(ev.Arguments[0], 2) {
		t.Errorf("B got %v, want [2] (the excluding publication must not reach it)", ev.Arguments)
	}

	// RPC: a procedure registered on C, called on A, with caller disclosure and progressive
	// results.
	callee, caller := join(t, rc), join(t, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.add"})
	callee.expect("REGISTERED")
	call := func(opts wamp.Dict, args wamp.List) wamp.ID {
		req := caller.next()
		caller.send(&wamp.Call{Request: req, Options: opts, Procedure: "com.ex.add", Arguments: args})
		return req
	}
	err := testkit.Poll(guard, func() error {
		call(wamp.Dict{}, wamp.List{0, 0})
		select {
		case m := <-caller.in:
			if e, ok := m.(*wamp.Error); ok && e.Error == "wamp.error.no_such_procedure" {
				return errors.New("A does not know the procedure on C yet")
			}
			if _, ok := m.(*wamp.Result); ok {
				return nil
			}
			return fmt.Errorf("unexpected %+v", m)
		case inv := <-callee.in:
			i := inv.(*wamp.Invocation)
			callee.send(&wamp.Yield{Request: i.Request, Options: wamp.Dict{}, Arguments: wamp.List{0}})
			if r := caller.expect("RESULT").(*wamp.Result); !same(r.Arguments[0], 0) {
				return fmt.Errorf("result %v", r.Arguments)
			}
			return nil
		case <-time.After(guard):
			return errors.New("no answer")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	req := call(wamp.Dict{"disclose_me": true, "receive_progress": true}, wamp.List{2, 3})
	inv := callee.expect("INVOCATION").(*wamp.Invocation)
	if !same(inv.Details["caller"], caller.id) {
		t.Errorf("INVOCATION.Details.caller %v, want %d (the caller on A)", inv.Details["caller"], caller.id)
	}
	if p, _ := inv.Details["receive_progress"].(bool); !p {
		t.Errorf("INVOCATION.Details %v lacks receive_progress", inv.Details)
	}
	callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"progress": true}, Arguments: wamp.List{"half"}})
	callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{5}})
	if r := caller.expect("RESULT").(*wamp.Result); r.Request != req || r.Details["progress"] != true || r.Arguments[0] != "half" {
		t.Errorf("first RESULT %+v, want the progressive one", r)
	}
	if r := caller.expect("RESULT").(*wamp.Result); r.Request != req || r.Details["progress"] == true || !same(r.Arguments[0], 5) {
		t.Errorf("final RESULT %+v", r)
	}

	// An error of the callee comes back as it is.
	req = call(wamp.Dict{}, wamp.List{})
	inv = callee.expect("INVOCATION").(*wamp.Invocation)
	callee.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "com.ex.oops", Arguments: wamp.List{"no"}})
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "com.ex.oops" {
		t.Errorf("ERROR %+v", e)
	}

	// The callee's node goes away mid-call: the caller gets wamp.error.canceled once A stops
	// hearing from C (node_timeout).
	req = call(wamp.Dict{}, wamp.List{})
	callee.expect("INVOCATION")
	nc.Close()
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "wamp.error.canceled" {
		t.Errorf("ERROR %+v, want wamp.error.canceled", e)
	}
	// And C's procedure is gone from A.
	testkit.WaitFor(t, guard, "A drops C's procedure", func() bool {
		req := call(wamp.Dict{}, wamp.List{})
		e, ok := caller.expect("ERROR").(*wamp.Error)
		return ok && e.Request == req && e.Error == "wamp.error.no_such_procedure"
	})
}

// TestClusterLocalFirst: a call with a local callee stays on the node, and a publication
// with no other node alive is not sent (nothing to assert on NATS but that it works alone).
func TestClusterLocalFirst(t *testing.T) {
	ra, _ := startNode(t, "solo", "")
	callee, caller := join(t, ra), join(t, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.local"})
	callee.expect("REGISTERED")
	caller.send(&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: "com.ex.local"})
	inv := callee.expect("INVOCATION").(*wamp.Invocation)
	callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
	caller.expect("RESULT")
	caller.send(&wamp.Publish{Request: 8, Options: wamp.Dict{"acknowledge": true}, Topic: "com.ex.t"})
	caller.expect("PUBLISHED")
}

// same compares decoded numbers with what was sent, whatever integer type the codec chose.
func same(got any, want any) bool { return fmt.Sprint(got) == fmt.Sprint(want) }

// TestClusterPatternTimeoutCancel: a prefix registration on B serves a call made on A; a call
// timeout set on A interrupts the callee on B; a caller's cancel (kill) reaches the callee on
// B and the callee's answer comes back.
func TestClusterPatternTimeoutCancel(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	callee, caller := join(t, rb), join(t, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{"match": "prefix"}, Procedure: "com.ex.p."})
	callee.expect("REGISTERED")
	testkit.WaitFor(t, guard, "A knows B's prefix registration", func() bool {
		caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.p.one"})
		select {
		case m := <-callee.in:
			inv := m.(*wamp.Invocation)
			if inv.Details["procedure"] != "com.ex.p.one" {
				t.Errorf("INVOCATION.Details %v: want procedure com.ex.p.one", inv.Details)
			}
			callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
			caller.expect("RESULT")
			return true
		case m := <-caller.in:
			if e, ok := m.(*wamp.Error); !ok || e.Error != "wamp.error.no_such_procedure" {
				t.Fatalf("unexpected %+v", m)
			}
			return false
		case <-time.After(guard):
			t.Fatal("no answer")
		}
		return false
	})

	// Timeout: the dealer on A ends the call; the callee on B is interrupted.
	req := caller.next()
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"timeout": 100}, Procedure: "com.ex.p.slow"})
	inv := callee.expect("INVOCATION").(*wamp.Invocation)
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "wamp.error.canceled" {
		t.Errorf("ERROR %+v, want wamp.error.canceled", e)
	}
	if i := callee.expect("INTERRUPT").(*wamp.Interrupt); i.Request != inv.Request {
		t.Errorf("INTERRUPT %+v for INVOCATION %d", i, inv.Request)
	}

	// Cancel with kill: the callee's answer to the INTERRUPT is the caller's.
	req = caller.next()
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.p.slow"})
	inv = callee.expect("INVOCATION").(*wamp.Invocation)
	caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
	callee.expect("INTERRUPT")
	callee.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "wamp.error.canceled", Arguments: wamp.List{"stopped"}})
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "wamp.error.canceled" || !same(e.Arguments, wamp.List{"stopped"}) {
		t.Errorf("ERROR %+v, want the callee's", e)
	}
}

// TestClusterEmbeddedRoutes: two nodes each running an embedded NATS server, the second
// routed to the first (cluster_listen, routes), share publications and calls.
func TestClusterEmbeddedRoutes(t *testing.T) {
	mk := func(name string, e *config.ClusterEmbedded) (*router.Router, *Node) {
		c := config.Cluster{Name: "c1", Node: name, SubjectPrefix: "portico", NodeTimeout: time.Second}
		c.NATS.Embedded = e
		c.NATS.URLs = []string{"nats://" + e.Listen}
		n := New(c, quiet())
		r := router.New(router.Options{Realms: allowAll, Log: quiet(), Cluster: n})
		if err := n.Start(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(); r.Close(guard) })
		return r, n
	}
	ra, na := mk("a", &config.ClusterEmbedded{Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:" + fmt.Sprint(freePort(t))})
	routeTo := "nats://" + na.cfg.NATS.Embedded.ClusterListen
	rb, nb := mk("b", &config.ClusterEmbedded{Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:" + fmt.Sprint(freePort(t)), Routes: []string{routeTo}})
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other through the NATS route", func() bool { return n.Peers() == 1 })
	}
	sub, pub := join(t, rb), join(t, ra)
	sub.send(&wamp.Subscribe{Request: sub.next(), Options: wamp.Dict{"match": "wildcard"}, Topic: "com..topic"})
	sub.expect("SUBSCRIBED")
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"acknowledge": true}, Topic: "com.ex.topic", Arguments: wamp.List{"routed"}})
	pub.expect("PUBLISHED")
	if ev := sub.expect("EVENT").(*wamp.Event); !same(ev.Arguments, wamp.List{"routed"}) || ev.Details["topic"] != "com.ex.topic" {
		t.Errorf("EVENT %+v", ev)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	return testkit.FreePort(t)
}

// TestClusterLinkRestarts: when the router ends a node's link session (it would cut a slow
// one), the link starts again and calls across nodes work again.
func TestClusterLinkRestarts(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	callee, caller := join(t, rb), join(t, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.r"})
	callee.expect("REGISTERED")
	go func() {
		for m := range callee.in {
			if inv, ok := m.(*wamp.Invocation); ok {
				b, _ := callee.codec.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
				_ = callee.end.WriteMessage(b)
			}
		}
	}()
	works := func() bool {
		caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.r"})
		return caller.expectAny().Type() == wamp.RESULT
	}
	testkit.WaitFor(t, guard, "a call from A reaches B", works)
	for _, n := range []*Node{na, nb} {
		_ = n.linkOf("realm1").transport().Close()
	}
	testkit.WaitFor(t, guard, "a call from A reaches B again", works)
}

// TestClusterRealmsMadeOnHello: without configured realms, publications cross to the nodes
// where the realm exists (calls do not: README).
func TestClusterRealmsMadeOnHello(t *testing.T) {
	ra, na := startNodeRealms(t, "a", "", nil)
	rb, nb := startNodeRealms(t, "b", na.ClientURL(), nil)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	sub, pub := join(t, rb), join(t, ra)
	sub.send(&wamp.Subscribe{Request: sub.next(), Options: wamp.Dict{}, Topic: "com.ex.dyn"})
	sub.expect("SUBSCRIBED")
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.dyn", Arguments: wamp.List{"x"}})
	if ev := sub.expect("EVENT").(*wamp.Event); !same(ev.Arguments, wamp.List{"x"}) {
		t.Errorf("EVENT %+v", ev)
	}
}

// TestClusterDroppedNodeStillConnected: A drops B (no heartbeat within node_timeout: B was
// stopped or slow) while B is still on NATS, with a call from A to a callee on B and one from
// B to a callee on A in flight. The caller on A gets wamp.error.canceled and the callee on B
// is interrupted; the callee on A is interrupted and the caller on B gets
// wamp.error.canceled: neither node keeps a call the other has forgotten.
func TestClusterDroppedNodeStillConnected(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	calleeA, callerA, calleeB, callerB := join(t, ra), join(t, ra), join(t, rb), join(t, rb)
	calleeA.send(&wamp.Register{Request: calleeA.next(), Options: wamp.Dict{}, Procedure: "com.ex.on_a"})
	calleeA.expect("REGISTERED")
	calleeB.send(&wamp.Register{Request: calleeB.next(), Options: wamp.Dict{}, Procedure: "com.ex.on_b"})
	calleeB.expect("REGISTERED")
	// invoked calls proc from caller until callee gets the INVOCATION (the other node may not
	// know the procedure yet), and returns the call's request ID.
	invoked := func(caller, callee *client, proc wamp.URI) wamp.ID {
		var req wamp.ID
		testkit.WaitFor(t, guard, "the call reaches the other node", func() bool {
			req = caller.next()
			caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: proc})
			select {
			case m := <-callee.in:
				if _, ok := m.(*wamp.Invocation); !ok {
					t.Fatalf("callee got %+v", m)
				}
				return true
			case m := <-caller.in:
				if e, ok := m.(*wamp.Error); !ok || e.Error != "wamp.error.no_such_procedure" {
					t.Fatalf("caller got %+v", m)
				}
				return false
			case <-time.After(guard):
				t.Fatal("no answer")
			}
			return false
		})
		return req
	}
	reqA := invoked(callerA, calleeB, "com.ex.on_b")
	reqB := invoked(callerB, calleeA, "com.ex.on_a")

	// A drops B as if B's heartbeats had stopped, B's keep coming (it rejoins after).
	testkit.WaitFor(t, guard, "A drops B", func() bool {
		na.mu.Lock()
		p := na.nodes["b"]
		if p != nil {
			p.last = time.Time{}
		}
		na.mu.Unlock()
		na.sweep()
		na.mu.Lock()
		defer na.mu.Unlock()
		return p != nil && na.nodes["b"] != p
	})
	if e := callerA.expect("ERROR").(*wamp.Error); e.Request != reqA || e.Error != "wamp.error.canceled" {
		t.Errorf("caller on A: ERROR %+v, want wamp.error.canceled", e)
	}
	calleeB.expect("INTERRUPT")
	calleeA.expect("INTERRUPT")
	if e := callerB.expect("ERROR").(*wamp.Error); e.Request != reqB || e.Error != "wamp.error.canceled" {
		t.Errorf("caller on B: ERROR %+v, want wamp.error.canceled", e)
	}
}

// TestClusterStalledNodeKeepsPeers: a node whose own sweep did not run for node_timeout (it
// was stopped, say) does not drop the others for the heartbeats it could not read meanwhile;
// they get node_timeout again.
func TestClusterStalledNodeKeepsPeers(t *testing.T) {
	_, na := startNode(t, "a", "")
	_, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	long := time.Now().Add(-time.Hour)
	na.mu.Lock()
	p := na.nodes["b"]
	p.last, na.swept = long, long
	na.mu.Unlock()
	na.sweep()
	na.mu.Lock()
	kept := na.nodes["b"] == p
	na.mu.Unlock()
	if !kept || na.Peers() != 1 {
		t.Errorf("A, stalled for an hour, dropped B (peers %d)", na.Peers())
	}
}

// TestClusterForMe: what a node sends a node it dropped names that node's incarnation; a
// node of the same name started since ignores it (its own request IDs start again from 1),
// and the key does not go further.
func TestClusterForMe(t *testing.T) {
	n := New(config.Cluster{Name: "c1", Node: "b", NodeTimeout: time.Second}, quiet())
	mine, other := strconv.FormatUint(n.inc, 10), strconv.FormatUint(n.inc+2, 10)
	c := &wamp.Cancel{Request: 1, Options: wamp.Dict{"mode": "killnowait", toIncarnation: mine}}
	if !n.forMe(c) || c.Options[toIncarnation] != nil || c.Options["mode"] != "killnowait" {
		t.Errorf("a CANCEL for this incarnation: options %v", c.Options)
	}
	e := &wamp.Error{RequestType: wamp.CALL, Request: 1, Details: wamp.Dict{toIncarnation: other}, Error: errCanceled}
	if n.forMe(e) {
		t.Error("an ERROR for another incarnation was taken")
	}
	if !n.forMe(&wamp.Error{RequestType: wamp.CALL, Request: 1, Error: "com.ex.oops"}) || !n.forMe(&wamp.Call{Request: 1, Procedure: "com.ex.p"}) {
		t.Error("a message naming no incarnation was not taken")
	}
}
