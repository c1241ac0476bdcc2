package router

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// joinInfo connects with info and completes the anonymous handshake on realm.
func joinInfo(t testing.TB, r *Router, c wamp.Codec, realm string, info PeerInfo) *client {
	t.Helper()
	cl := connectInfo(t, r, c, info)
	cl.send(&wamp.Hello{Realm: wamp.URI(realm), Details: wamp.Dict{"roles": clientRoles()}})
	w := expect[*wamp.Welcome](cl)
	cl.id = w.Session
	cl.authid, _ = w.Details["authid"].(string)
	cl.authrole, _ = w.Details["authrole"].(string)
	return cl
}

func peerAt(addr string) PeerInfo {
	return PeerInfo{Transport: "websocket", RemoteAddr: addr, Protocol: "wamp.2.json"}
}

// callErr calls proc and expects an ERROR, which it returns.
func (c *client) callErr(proc string, args wamp.List, kw wamp.Dict) *wamp.Error {
	c.t.Helper()
	c.send(&wamp.Call{Request: c.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(proc), Arguments: args, ArgumentsKw: kw})
	e := expect[*wamp.Error](c)
	if e.RequestType != wamp.CALL {
		c.t.Fatalf("ERROR for %s, want for CALL", e.RequestType)
	}
	return e
}

// TestDynamicRealmKeepsKillAndPeersFromAnonymous: on a realm made on HELLO (no realms
// configured, as in Crossbar's WSGI example), an anonymous client may not end other sessions
// nor learn their addresses; authenticated clients of the same realm may.
func TestDynamicRealmKeepsKillAndPeersFromAnonymous(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		watcher := joinInfo(t, r, c, "realm1", peerAt("192.0.2.1:1000"))
		watcher.subscribe("wamp.session.on_join", nil)
		victim := joinInfo(t, r, c, "realm1", peerAt("192.0.2.2:2000"))
		ev := expect[*wamp.Event](watcher)
		if tr := ev.Arguments[0].(map[string]any)["transport"].(map[string]any); tr["peer"] != nil || tr["type"] != "websocket" {
			t.Fatalf("on_join transport %v: want the type and no peer", tr)
		}

		attacker := joinInfo(t, r, c, "realm1", peerAt("192.0.2.3:3000"))
		expect[*wamp.Event](watcher) // its on_join
		for _, call := range []struct {
			proc string
			args wamp.List
		}{
			{"wamp.session.kill", wamp.List{uint64(victim.id)}},
			{"wamp.session.kill_by_authid", wamp.List{victim.authid}},
			{"wamp.session.kill_by_authrole", wamp.List{"anonymous"}},
		} {
			attacker.send(&wamp.Call{Request: attacker.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(call.proc), Arguments: call.args})
			e := attacker.expectError(wamp.CALL, errNotAuthorized)
			if msg, _ := e.Arguments[0].(string); !strings.Contains(msg, "configure the realm") {
				t.Errorf("%s refused with %q: want the way to grant it", call.proc, msg)
			}
		}
		got := attacker.call("wamp.session.get", wamp.List{uint64(victim.id)}, nil).Arguments[0].(map[string]any)
		if tr := got["transport"].(map[string]any); tr["peer"] != nil {
			t.Fatalf("wamp.session.get gave an anonymous client the peer: %v", tr)
		}
		if n := asInt(t, attacker.call("wamp.session.count", nil, nil).Arguments[0]); n != 3 {
			t.Fatalf("wamp.session.count = %d, want 3", n)
		}
		victim.quiet() // still served
		watcher.quiet()

		// An authenticated client of a realm made on HELLO is trusted with both.
		auth := &config.Auth{Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
			"admin": {Ticket: "s3cret", Role: "admin"}}}}
		info := peerAt("192.0.2.4:4000")
		info.Auth = auth
		admin := connectInfo(t, r, c, info)
		admin.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"ticket"}, "authid": "admin"}})
		expect[*wamp.Challenge](admin)
		admin.send(&wamp.Authenticate{Signature: "s3cret", Extra: wamp.Dict{}})
		admin.id = expect[*wamp.Welcome](admin).Session
		expect[*wamp.Event](watcher) // its on_join
		got = admin.call("wamp.session.get", wamp.List{uint64(victim.id)}, nil).Arguments[0].(map[string]any)
		if tr := got["transport"].(map[string]any); tr["peer"] != "192.0.2.2:2000" {
			t.Fatalf("wamp.session.get for an authenticated client: transport %v, want the peer", tr)
		}
		admin.call("wamp.session.kill", wamp.List{uint64(victim.id)}, nil)
		expect[*wamp.Goodbye](victim)
	})
}

// TestConfiguredRealmGivesPeers: a configured realm leaves the meta API to its permissions, as
// Crossbar does: the peer is in on_join and wamp.session.get (kill: TestSessionKill).
func TestConfiguredRealmGivesPeers(t *testing.T) {
	r := newTestRouter(t, Options{Realms: []config.Realm{everythingRealm("realm1")}})
	watcher := joinInfo(t, r, wamp.JSON, "realm1", peerAt("192.0.2.1:1000"))
	watcher.subscribe("wamp.session.on_join", nil)
	a := joinInfo(t, r, wamp.JSON, "realm1", peerAt("192.0.2.2:2000"))
	ev := expect[*wamp.Event](watcher)
	if tr := ev.Arguments[0].(map[string]any)["transport"].(map[string]any); tr["peer"] != "192.0.2.2:2000" {
		t.Fatalf("on_join transport %v, want the peer", tr)
	}
	got := watcher.call("wamp.session.get", wamp.List{uint64(a.id)}, nil).Arguments[0].(map[string]any)
	if tr := got["transport"].(map[string]any); tr["peer"] != "192.0.2.2:2000" {
		t.Fatalf("wamp.session.get transport %v, want the peer", tr)
	}
}

// TestDynamicRealmsAreBounded: realms made on HELLO are freed when their last session leaves,
// so made-up names cannot lock out the others; the bound counts realms with sessions.
func TestDynamicRealmsAreBounded(t *testing.T) {
	r := newTestRouter(t, Options{})
	for i := 0; i < maxDynamicRealms+10; i++ {
		join(t, r, wamp.CBOR, fmt.Sprintf("junk%d", i)).goodbye()
	}
	join(t, r, wamp.CBOR, "realm1").goodbye()
	r.mu.Lock()
	n := len(r.realms)
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d realms left after their sessions, want 0", n)
	}

	live := make([]*client, 0, maxDynamicRealms)
	for i := 0; i < maxDynamicRealms; i++ {
		live = append(live, join(t, r, wamp.CBOR, fmt.Sprintf("live%d", i)))
	}
	cl := connect(t, r, wamp.CBOR)
	cl.send(&wamp.Hello{Realm: "one.too.many", Details: wamp.Dict{"roles": clientRoles()}})
	a := expect[*wamp.Abort](cl)
	if msg, _ := a.Details["message"].(string); a.Reason != errNoSuchRealm || !strings.Contains(msg, "configure the worker's realms") {
		t.Fatalf("ABORT %s %v, want %s naming the bound", a.Reason, a.Details, errNoSuchRealm)
	}
	join(t, r, wamp.CBOR, "live0").goodbye() // a realm with sessions still takes more
	live[0].goodbye()
	join(t, r, wamp.CBOR, "realm1").goodbye() // a slot is free again
	for _, l := range live[1:] {
		l.goodbye()
	}
}

// TestDynamicRealmKeepsRetainedEvents: a realm made on HELLO whose sessions left keeps its
// retained events for the next subscriber, among a bounded number of idle realms.
func TestDynamicRealmKeepsRetainedEvents(t *testing.T) {
	r := newTestRouter(t, Options{})
	pub := join(t, r, wamp.JSON, "keep")
	pub.publishAck("com.app.state", wamp.Dict{"retain": true}, "on")
	pub.goodbye()
	sub := join(t, r, wamp.JSON, "keep")
	sub.subscribe("com.app.state", wamp.Dict{"get_retained": true})
	if ev := expect[*wamp.Event](sub); ev.Arguments[0] != "on" {
		t.Fatalf("retained event %v", ev.Arguments)
	}
	sub.goodbye()

	// More idle realms with retained events than the bound: the oldest goes.
	for i := 0; i < maxIdleDynamicRealms; i++ {
		p := join(t, r, wamp.JSON, fmt.Sprintf("idle%d", i))
		p.publishAck("com.app.state", wamp.Dict{"retain": true}, "x")
		p.goodbye()
	}
	r.mu.Lock()
	_, kept := r.realms["keep"]
	idle := len(r.idle)
	r.mu.Unlock()
	if kept || idle != maxIdleDynamicRealms {
		t.Fatalf("realm kept: %v, %d idle realms; want the oldest dropped and %d idle", kept, idle, maxIdleDynamicRealms)
	}
}

// TestAuthTimeout: a session that has not joined within auth_timeout gets ABORT
// wamp.error.timeout and is closed, whether it sent nothing or never answered the CHALLENGE.
func TestAuthTimeout(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	info := PeerInfo{Transport: "inprocess", Auth: testAuth(t), Limits: config.SessionLimits{AuthTimeout: 20 * time.Millisecond}}
	for _, tc := range []struct {
		name  string
		hello bool
	}{{"silent", false}, {"challenged", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cl := connectInfo(t, r, wamp.JSON, info)
			if tc.hello {
				b, err := wamp.JSON.Encode(nil, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"ticket"}, "authid": "backend1"}})
				if err != nil {
					t.Fatal(err)
				}
				_ = cl.end.WriteMessage(b) // the bound may have closed the session already
			}
			m := cl.recv()
			if _, ok := m.(*wamp.Challenge); ok {
				m = cl.recv()
			} else if tc.hello {
				// The bound struck before the router read HELLO (a loaded machine): the
				// session must end the same way.
				t.Logf("no CHALLENGE before the bound: got %s", describe(m))
			}
			a, ok := m.(*wamp.Abort)
			if !ok {
				t.Fatalf("got %s, want ABORT", describe(m))
			}
			if a.Reason != errTimeout {
				t.Fatalf("ABORT %s %v, want %s", a.Reason, a.Details, errTimeout)
			}
			if err := cl.expectEnd(); !errors.Is(err, ErrAuthTimeout) {
				t.Fatalf("Serve = %v, want ErrAuthTimeout", err)
			}
		})
	}
	// A client that answers in time joins and stays.
	info.Limits.AuthTimeout = time.Minute
	cl := connectInfo(t, r, wamp.JSON, info)
	cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"ticket"}, "authid": "backend1"}})
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	cl.id = expect[*wamp.Welcome](cl).Session
	cl.goodbye()
}

// TestSessionLimits: over max_subscriptions, max_registrations, max_testaments,
// max_testament_bytes and max_uri_length a request is refused with an ERROR naming the bound;
// the session stays.
func TestSessionLimits(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		info := PeerInfo{Transport: "inprocess", Limits: config.SessionLimits{
			MaxSubscriptions: 3, MaxRegistrations: 2, MaxTestaments: 2, MaxTestamentBytes: 300, MaxURILength: 64}}
		cl := joinInfo(t, r, c, "realm1", info)
		other := join(t, r, c, "realm1") // default bounds: unaffected by cl's
		limited := func(e *wamp.Error, key string, value int64) {
			t.Helper()
			if e.Error != errLimitExceeded || e.ArgumentsKw["limit"] != key || asInt(t, e.ArgumentsKw["value"]) != value {
				t.Fatalf("got %s %v %v, want %s naming %s = %d", e.Error, e.Arguments, e.ArgumentsKw, errLimitExceeded, key, value)
			}
		}

		first := cl.subscribe("com.app.a", nil)
		cl.subscribe("com.app.b", nil)
		cl.subscribe("com.app.", wamp.Dict{"match": "prefix"})
		cl.send(&wamp.Subscribe{Request: cl.nextReq(), Options: wamp.Dict{}, Topic: "com.app.c"})
		limited(cl.expectError(wamp.SUBSCRIBE, errLimitExceeded), "max_subscriptions", 3)
		if again := cl.subscribe("com.app.a", nil); again != first { // already held: fine
			t.Fatalf("subscribing again gave %d, want %d", again, first)
		}
		cl.send(&wamp.Unsubscribe{Request: cl.nextReq(), Subscription: first})
		expect[*wamp.Unsubscribed](cl)
		cl.subscribe("com.app.c", nil)
		other.subscribe("com.app.d", nil)

		cl.register("com.app.p1", nil)
		cl.register("com.app.p2", nil)
		cl.send(&wamp.Register{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: "com.app.p3"})
		limited(cl.expectError(wamp.REGISTER, errLimitExceeded), "max_registrations", 2)

		cl.call("wamp.session.add_testament", wamp.List{"com.app.gone", wamp.List{1}}, nil)
		cl.call("wamp.session.add_testament", wamp.List{"com.app.gone", wamp.List{2}}, wamp.Dict{"scope": "detached"})
		limited(cl.callErr("wamp.session.add_testament", wamp.List{"com.app.gone", wamp.List{3}}, nil), "max_testaments", 2)
		if n := asInt(t, cl.call("wamp.session.flush_testaments", nil, nil).Arguments[0]); n != 1 {
			t.Fatalf("flushed %d testaments, want 1", n)
		}
		limited(cl.callErr("wamp.session.add_testament", wamp.List{"com.app.gone", wamp.List{strings.Repeat("x", 300)}}, nil), "max_testament_bytes", 300)
		cl.call("wamp.session.add_testament", wamp.List{"com.app.gone", wamp.List{3}}, nil)

		long := "com.app." + strings.Repeat("x", 57) // 65 bytes
		for _, m := range []wamp.Message{
			&wamp.Subscribe{Request: cl.nextReq(), Options: wamp.Dict{}, Topic: wamp.URI(long)},
			&wamp.Register{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(long)},
			&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(long)},
			&wamp.Publish{Request: cl.nextReq(), Options: wamp.Dict{"acknowledge": true}, Topic: wamp.URI(long)},
			&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: "wamp.session.add_testament", Arguments: wamp.List{long}},
		} {
			cl.send(m)
			e := expect[*wamp.Error](cl)
			if msg, _ := e.Arguments[0].(string); e.Error != errInvalidURI || !strings.Contains(msg, "max_uri_length (64)") || strings.Contains(msg, long) {
				t.Fatalf("%s: got %s %q, want %s naming max_uri_length without the URI", m.Type(), e.Error, msg, errInvalidURI)
			}
		}
		other.subscribe(long, nil) // the default bound is 4096
		cl.quiet()

		h := connectInfo(t, r, c, info)
		h.send(&wamp.Hello{Realm: wamp.URI("realm." + strings.Repeat("r", 64)), Details: wamp.Dict{"roles": clientRoles()}})
		if a := expect[*wamp.Abort](h); a.Reason != errProtocolViolation || !strings.Contains(fmt.Sprint(a.Details["message"]), "max_uri_length") {
			t.Fatalf("HELLO with a long realm: ABORT %s %v", a.Reason, a.Details)
		}
	})
}

// TestSubscriptionFlood: many more SUBSCRIBEs than max_subscriptions from one session hold
// max_subscriptions subscriptions, each refusal an ERROR, and the session stays.
func TestSubscriptionFlood(t *testing.T) {
	r := newTestRouter(t, Options{})
	const bound, attempts = 1000, 5000
	cl := joinInfo(t, r, wamp.MsgPack, "realm1", PeerInfo{Transport: "inprocess", Limits: config.SessionLimits{MaxSubscriptions: bound}})
	subscribed, refused := 0, 0
	for i := 0; i < attempts; i++ {
		cl.send(&wamp.Subscribe{Request: cl.nextReq(), Options: wamp.Dict{}, Topic: wamp.URI(fmt.Sprintf("com.flood.t%d", i))})
		switch m := cl.recv().(type) {
		case *wamp.Subscribed:
			subscribed++
		case *wamp.Error:
			if m.Error != errLimitExceeded {
				t.Fatalf("ERROR %s, want %s", m.Error, errLimitExceeded)
			}
			refused++
		default:
			t.Fatalf("got %s", describe(m))
		}
	}
	if subscribed != bound || refused != attempts-bound {
		t.Fatalf("%d subscribed, %d refused; want %d and %d", subscribed, refused, bound, attempts-bound)
	}
	r.mu.Lock()
	rl := r.realms["realm1"]
	r.mu.Unlock()
	rl.mu.Lock()
	held := len(rl.broker.byID)
	rl.mu.Unlock()
	if held != bound {
		t.Fatalf("the realm holds %d subscriptions, want %d", held, bound)
	}
	cl.goodbye()
}

// TestTestamentsDoNotOverflowSubscribers: a session's testaments are published together when
// it leaves; bounded by max_testaments (below the subscriber's out_queue_limit), they reach a
// subscriber that is not reading at that moment without disconnecting it.
func TestTestamentsDoNotOverflowSubscribers(t *testing.T) {
	r := newTestRouter(t, Options{OutQueueLimit: 150})
	c := wamp.JSON
	// The subscriber, over a pipe of depth 1 that nobody reads while the testaments go out:
	// everything waits in its outbound queue.
	srv, end := Pipe(c, 1)
	t.Cleanup(func() { _ = end.Close() })
	served := make(chan error, 1)
	go func() { served <- r.Serve(srv, PeerInfo{Transport: "inprocess"}) }()
	write := func(m wamp.Message) {
		t.Helper()
		b, err := c.Encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := end.WriteMessage(b); err != nil {
			t.Fatal(err)
		}
	}
	read := func() wamp.Message {
		t.Helper()
		b, err := end.ReadMessage()
		if err != nil {
			t.Fatalf("the subscriber's session ended: %v", err)
		}
		m, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	write(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
	if _, ok := read().(*wamp.Welcome); !ok {
		t.Fatal("no WELCOME")
	}
	write(&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "com.app.gone"})
	if _, ok := read().(*wamp.Subscribed); !ok {
		t.Fatal("no SUBSCRIBED")
	}

	pub := join(t, r, c, "realm1")
	accepted := 0
	for i := 0; i < 200; i++ {
		pub.send(&wamp.Call{Request: pub.nextReq(), Options: wamp.Dict{}, Procedure: "wamp.session.add_testament",
			Arguments: wamp.List{"com.app.gone", wamp.List{i}}})
		if _, ok := pub.recv().(*wamp.Result); ok {
			accepted++
		}
	}
	if accepted != 100 {
		t.Fatalf("%d testaments accepted, want max_testaments' default 100", accepted)
	}
	pub.goodbye() // Serve returned: the testaments are queued for the subscriber

	for i := 0; i < accepted; i++ {
		ev, ok := read().(*wamp.Event)
		if !ok || asInt(t, ev.Arguments[0]) != int64(i) {
			t.Fatalf("message %d: got %v, want the testament's EVENT", i, ev)
		}
	}
	write(&wamp.Call{Request: 2, Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	if res, ok := read().(*wamp.Result); !ok || asInt(t, res.Arguments[0]) != 1 {
		t.Fatalf("got %v, want the subscriber still served", res)
	}
	_ = end.Close()
	select {
	case <-served:
	case <-time.After(guard):
		t.Fatal("Serve did not return")
	}
}
