package cluster

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// meta calls proc on c (which has no subscription, so that its next message is the answer)
// and returns the RESULT or ERROR.
func meta(c *client, proc wamp.URI, args wamp.List, kw wamp.Dict) wamp.Message {
	c.t.Helper()
	req := c.next()
	c.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: proc, Arguments: args, ArgumentsKw: kw})
	m := c.expectAny()
	switch a := m.(type) {
	case *wamp.Result:
		if a.Request == req {
			return a
		}
	case *wamp.Error:
		if a.Request == req {
			return a
		}
	}
	c.t.Fatalf("%s: want its RESULT or ERROR, got %s %+v", proc, m.Type(), m)
	return nil
}

// result is meta's RESULT's first argument; an ERROR fails the test.
func result(c *client, proc wamp.URI, args ...any) any {
	c.t.Helper()
	m := meta(c, proc, args, nil)
	r, ok := m.(*wamp.Result)
	if !ok {
		c.t.Fatalf("%s%v: %+v", proc, args, m)
	}
	if len(r.Arguments) == 0 {
		return nil
	}
	return r.Arguments[0]
}

// idSet is a decoded list of IDs as strings.
func idSet(x any) []string {
	l, _ := x.([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, fmt.Sprint(v))
	}
	slices.Sort(out)
	return out
}

func ids(xs ...wamp.ID) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, fmt.Sprint(x))
	}
	slices.Sort(out)
	return out
}

// event waits for c's next EVENT on subscription sub whose first argument satisfies ok.
func event(c *client, what string, ok func(args wamp.List) bool) wamp.List {
	c.t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case m := <-c.in:
			if ev, is := m.(*wamp.Event); is && ok(ev.Arguments) {
				return ev.Arguments
			}
		case <-deadline:
			c.t.Fatalf("session %d: no %s within %s", c.id, what, guard)
		}
	}
}

// TestClusterMetaAcrossNodes: the meta API on node A answers for sessions, registrations and
// subscriptions of B and C; a kill on A ends a session on C; the meta events of B and C reach
// a meta subscriber on A once each.
func TestClusterMetaAcrossNodes(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	rc, nc := startNode(t, "c", na.ClientURL())
	for _, n := range []*Node{na, nb, nc} {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}
	mon, asker := join(t, ra), join(t, ra)
	for _, topic := range []wamp.URI{"wamp.session.on_join", "wamp.session.on_leave", "wamp.registration.on_create", "wamp.subscription.on_subscribe"} {
		mon.send(&wamp.Subscribe{Request: mon.next(), Options: wamp.Dict{}, Topic: topic})
		mon.expect("SUBSCRIBED")
	}

	// on_join of a session on B reaches A's monitor, with its details.
	sb := join(t, rb)
	args := event(mon, "on_join of B's session", func(a wamp.List) bool {
		d, _ := a[0].(map[string]any)
		return d != nil && same(d["session"], sb.id)
	})
	if d := args[0].(map[string]any); d["authrole"] != "anonymous" {
		t.Errorf("on_join details %v", d)
	}
	sc, callee := join(t, rc), join(t, rc)

	// Counts and lists: every node's sessions, the cluster links left out.
	if n := result(asker, "wamp.session.count"); !same(n, 5) {
		t.Errorf("wamp.session.count on A: %v, want 5 (2 on A, 1 on B, 2 on C)", n)
	}
	if got, want := idSet(result(asker, "wamp.session.list")), ids(mon.id, asker.id, sb.id, sc.id, callee.id); !slices.Equal(got, want) {
		t.Errorf("wamp.session.list on A: %v, want %v", got, want)
	}
	if n := result(asker, "wamp.session.count", wamp.List{"nobody"}); !same(n, 0) {
		t.Errorf("wamp.session.count filtered: %v", n)
	}
	if d, _ := result(asker, "wamp.session.get", uint64(sc.id)).(map[string]any); d == nil || !same(d["session"], sc.id) {
		t.Errorf("wamp.session.get of C's session on A: %v", d)
	}
	if e, ok := meta(asker, "wamp.session.get", wamp.List{uint64(1)}, nil).(*wamp.Error); !ok || e.Error != "wamp.error.no_such_session" {
		t.Errorf("wamp.session.get of no session: %+v", e)
	}

	// A registration on C: on_create reaches A; lookup, match, get and the callees on A.
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.proc"})
	reg := callee.expect("REGISTERED").(*wamp.Registered).Registration
	event(mon, "on_create of C's registration", func(a wamp.List) bool {
		if len(a) != 2 {
			return false
		}
		d, _ := a[1].(map[string]any)
		return same(a[0], callee.id) && d != nil && same(d["id"], reg) && d["uri"] == "com.ex.proc"
	})
	if id := result(asker, "wamp.registration.lookup", "com.ex.proc"); !same(id, reg) {
		t.Errorf("wamp.registration.lookup on A: %v, want C's %d", id, reg)
	}
	if id := result(asker, "wamp.registration.match", "com.ex.proc"); !same(id, reg) {
		t.Errorf("wamp.registration.match on A: %v, want C's %d", id, reg)
	}
	if d, _ := result(asker, "wamp.registration.get", uint64(reg)).(map[string]any); d == nil || d["uri"] != "com.ex.proc" {
		t.Errorf("wamp.registration.get on A: %v", d)
	}
	if got := idSet(result(asker, "wamp.registration.list_callees", uint64(reg))); !slices.Equal(got, ids(callee.id)) {
		t.Errorf("wamp.registration.list_callees on A: %v", got)
	}
	if l, _ := result(asker, "wamp.registration.list").(map[string]any); !slices.Equal(idSet(l["exact"]), ids(reg)) {
		t.Errorf("wamp.registration.list on A: %v, want C's %d (the links' own are not listed)", l, reg)
	}
	// A registration on A for the same procedure: lookup answers with A's own first.
	local := join(t, ra)
	local.send(&wamp.Register{Request: local.next(), Options: wamp.Dict{}, Procedure: "com.ex.proc"})
	regA := local.expect("REGISTERED").(*wamp.Registered).Registration
	if id := result(asker, "wamp.registration.lookup", "com.ex.proc"); !same(id, regA) {
		t.Errorf("wamp.registration.lookup with a local one: %v, want A's %d", id, regA)
	}
	if l, _ := result(asker, "wamp.registration.list").(map[string]any); !slices.Equal(idSet(l["exact"]), ids(reg, regA)) {
		t.Errorf("wamp.registration.list: %v, want both nodes' %d and %d", l, reg, regA)
	}

	// Subscriptions on B and C to one topic: two subscriptions, one per node.
	sb.send(&wamp.Subscribe{Request: sb.next(), Options: wamp.Dict{}, Topic: "com.ex.t"})
	subB := sb.expect("SUBSCRIBED").(*wamp.Subscribed).Subscription
	sc.send(&wamp.Subscribe{Request: sc.next(), Options: wamp.Dict{"match": "prefix"}, Topic: "com.ex."})
	subC := sc.expect("SUBSCRIBED").(*wamp.Subscribed).Subscription
	seen := map[string]bool{}
	event(mon, "on_subscribe of B's and C's sessions", func(a wamp.List) bool {
		if len(a) == 2 {
			seen[fmt.Sprint(a[0])] = true
		}
		return seen[fmt.Sprint(sb.id)] && seen[fmt.Sprint(sc.id)]
	})
	if got := idSet(result(asker, "wamp.subscription.match", "com.ex.t")); !slices.Equal(got, ids(subB, subC)) {
		t.Errorf("wamp.subscription.match on A: %v, want %d and %d", got, subB, subC)
	}
	if id := result(asker, "wamp.subscription.lookup", "com.ex.", map[string]any{"match": "prefix"}); !same(id, subC) {
		t.Errorf("wamp.subscription.lookup on A: %v, want C's %d", id, subC)
	}
	if n := result(asker, "wamp.subscription.count_subscribers", uint64(subB)); !same(n, 1) {
		t.Errorf("wamp.subscription.count_subscribers of B's: %v", n)
	}
	if d, _ := result(asker, "wamp.subscription.get", uint64(subC)).(map[string]any); d == nil || d["match"] != "prefix" {
		t.Errorf("wamp.subscription.get of C's: %v", d)
	}
	if l, _ := result(asker, "wamp.subscription.list").(map[string]any); !slices.Contains(idSet(l["exact"]), fmt.Sprint(subB)) || !slices.Equal(idSet(l["prefix"]), ids(subC)) {
		t.Errorf("wamp.subscription.list on A: %v", l)
	}

	// Kill on A of a session on C: it gets GOODBYE wamp.close.killed; on_leave reaches A.
	if r, ok := meta(asker, "wamp.session.kill", wamp.List{uint64(sc.id)}, wamp.Dict{"message": "bye"}).(*wamp.Result); !ok || len(r.Arguments) != 0 {
		t.Errorf("wamp.session.kill: %+v", r)
	}
	if g := sc.expect("GOODBYE").(*wamp.Goodbye); g.Reason != "wamp.close.killed" || g.Details["message"] != "bye" {
		t.Errorf("GOODBYE %+v", g)
	}
	sc.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.goodbye_and_out"})
	event(mon, "on_leave of C's session", func(a wamp.List) bool { return len(a) == 1 && same(a[0], sc.id) })
	if e, ok := meta(asker, "wamp.session.kill", wamp.List{uint64(sc.id)}, nil).(*wamp.Error); !ok || e.Error != "wamp.error.no_such_session" {
		t.Errorf("a second kill: %+v", e)
	}

	// kill_by_authrole on A ends the sessions of every node but the caller, and names them.
	if got, want := idSet(result(asker, "wamp.session.kill_by_authrole", "anonymous")), ids(mon.id, local.id, sb.id, callee.id); !slices.Equal(got, want) {
		t.Errorf("kill_by_authrole: %v, want %v", got, want)
	}
	for _, s := range []*client{mon, local, sb, callee} {
		testkit.WaitFor(t, guard, "the GOODBYE", func() bool { return s.expectAny().Type() == wamp.GOODBYE })
		s.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.goodbye_and_out"})
	}
	// The cluster links are not sessions of the meta API (nor killed by it).
	testkit.WaitFor(t, guard, "the killed sessions gone", func() bool { return same(result(asker, "wamp.session.count"), 1) })
}

// TestClusterMetaEventsOnce: each meta event of a node reaches each meta subscriber of every
// node once; a publication after them is the next thing each subscriber gets.
func TestClusterMetaEventsOnce(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	monA, monB := join(t, ra), join(t, rb)
	for _, m := range []*client{monA, monB} {
		m.send(&wamp.Subscribe{Request: m.next(), Options: wamp.Dict{"match": "prefix"}, Topic: "wamp.registration."})
		m.expect("SUBSCRIBED")
		m.send(&wamp.Subscribe{Request: m.next(), Options: wamp.Dict{}, Topic: "com.ex.end"})
		m.expect("SUBSCRIBED")
	}
	callee := join(t, rb)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.once"})
	callee.expect("REGISTERED")
	end := join(t, rb)
	end.send(&wamp.Publish{Request: end.next(), Options: wamp.Dict{"acknowledge": true}, Topic: "com.ex.end"})
	end.expect("PUBLISHED")
	for _, m := range []*client{monA, monB} {
		var got []string
		for {
			ev := m.expect("EVENT").(*wamp.Event)
			if ev.Details["topic"] == nil && len(ev.Arguments) == 0 {
				break // com.ex.end: every meta event before it on B reached A before it
			}
			got = append(got, fmt.Sprint(ev.Details["topic"]))
		}
		if want := []string{"wamp.registration.on_create", "wamp.registration.on_register"}; !slices.Equal(got, want) {
			t.Errorf("session %d got %v, want %v once each", m.id, got, want)
		}
	}
}

// TestClusterMetaSilentNode: a node that does not answer a meta call is left out once
// node_timeout is over, and logged; the caller gets the others' answer, not a hang.
func TestClusterMetaSilentNode(t *testing.T) {
	var buf logBuf
	c := config.Cluster{Name: "c1", Node: "a", SubjectPrefix: "portico", NodeTimeout: time.Second}
	c.NATS.Embedded = &config.ClusterEmbedded{Listen: "127.0.0.1:0"}
	c.NATS.URLs = []string{"nats://127.0.0.1:0"}
	na := New(c, slog.New(slog.NewTextHandler(&buf, nil)))
	ra := router.New(router.Options{Realms: allowAll, Log: quiet(), Cluster: na})
	if err := na.Start(ra); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { na.Close(); ra.Close(guard) })

	c.Node, c.NATS.Embedded, c.NATS.URLs = "b", nil, []string{na.ClientURL()}
	nb := New(c, quiet())
	release := make(chan struct{})
	nb.onMsg = func(subject string) {
		if strings.HasSuffix(subject, ".meta") {
			<-release
		}
	}
	rb := router.New(router.Options{Realms: allowAll, Log: quiet(), Cluster: nb})
	if err := nb.Start(rb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close(); rb.Close(guard) })
	t.Cleanup(func() { close(release) })
	testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return na.Peers() == 1 && nb.Peers() == 1 })
	join(t, rb)
	asker := join(t, ra)
	if n := result(asker, "wamp.session.count"); !same(n, 1) {
		t.Errorf("wamp.session.count: %v, want 1 (A's only: B is silent)", n)
	}
	testkit.WaitFor(t, guard, "the silent node logged", func() bool {
		return strings.Contains(buf.String(), "did not answer a meta call") && strings.Contains(buf.String(), "missing=[b]")
	})
}

// TestClusterMetaMatch: wamp.registration.match on a node without a matching registration
// names the one a call would go to among the other nodes' (exact, then the longest prefix,
// then a wildcard), and its own when it has one (a call takes a local callee first).
func TestClusterMetaMatch(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	rc, nc := startNode(t, "c", na.ClientURL())
	for _, n := range []*Node{na, nb, nc} {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}
	register := func(c *client, uri wamp.URI, match string) wamp.ID {
		c.send(&wamp.Register{Request: c.next(), Options: wamp.Dict{"match": match}, Procedure: uri})
		return c.expect("REGISTERED").(*wamp.Registered).Registration
	}
	cb, cc, asker := join(t, rb), join(t, rc), join(t, ra)
	prefixB := register(cb, "com.ex.", "prefix")
	wildC := register(cc, "com..x", "wildcard")
	exactC := register(cc, "com.ex.y", "exact")
	for _, x := range []struct {
		uri  string
		want any
	}{{"com.ex.x", prefixB}, {"com.ex.y", exactC}, {"com.other.x", wildC}, {"org.none", nil}} {
		if got := result(asker, "wamp.registration.match", x.uri); !same(got, x.want) {
			t.Errorf("wamp.registration.match(%s) on A: %v, want %v", x.uri, got, x.want)
		}
	}
	prefixA := register(join(t, ra), "com.", "prefix")
	if got := result(asker, "wamp.registration.match", "com.ex.y"); !same(got, prefixA) {
		t.Errorf("wamp.registration.match(com.ex.y) with A's own prefix: %v, want A's %d", got, prefixA)
	}
}

// TestClusterMetaRemove: wamp.registration.remove_callee and wamp.subscription.remove_subscriber
// on A of a session on C act on C: the session gets UNREGISTERED / UNSUBSCRIBED (it announced
// revocation), a call on A then fails with no_such_procedure; the errors are single-node's,
// from the node that got furthest (no such session anywhere; the session but no such
// registration or subscription on its node).
func TestClusterMetaRemove(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	rc, nc := startNode(t, "c", na.ClientURL())
	for _, n := range []*Node{na, nb, nc} {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}
	revoke := wamp.Dict{"registration_revocation": true, "subscription_revocation": true}
	callee, other, caller := joinWith(t, rc, revoke), join(t, rb), join(t, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.rm"})
	reg := callee.expect("REGISTERED").(*wamp.Registered).Registration
	callee.send(&wamp.Subscribe{Request: callee.next(), Options: wamp.Dict{}, Topic: "com.ex.rmt"})
	sub := callee.expect("SUBSCRIBED").(*wamp.Subscribed).Subscription

	// A knows the procedure on C: a call from A reaches the callee.
	call := func() wamp.ID {
		req := caller.next()
		caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.rm"})
		return req
	}
	testkit.WaitFor(t, guard, "a call from A served on C", func() bool {
		req := call()
		select {
		case m := <-caller.in:
			e, ok := m.(*wamp.Error)
			if !ok || e.Request != req || e.Error != "wamp.error.no_such_procedure" {
				t.Fatalf("call before the removal: %+v", m)
			}
			return false
		case m := <-callee.in:
			inv := m.(*wamp.Invocation)
			callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
			caller.expect("RESULT")
			return true
		case <-time.After(guard):
			t.Fatal("no answer to the call")
			return false
		}
	})

	wantErr := func(proc wamp.URI, args wamp.List, want string) {
		t.Helper()
		if e, ok := meta(caller, proc, args, nil).(*wamp.Error); !ok || e.Error != wamp.URI(want) {
			t.Errorf("%s%v on A: %+v, want ERROR %s", proc, args, e, want)
		}
	}
	wantErr("wamp.registration.remove_callee", wamp.List{uint64(reg), uint64(1)}, "wamp.error.no_such_session")
	wantErr("wamp.registration.remove_callee", wamp.List{uint64(1), uint64(callee.id)}, "wamp.error.no_such_registration")
	wantErr("wamp.registration.remove_callee", wamp.List{uint64(reg), uint64(other.id)}, "wamp.error.no_such_registration")
	wantErr("wamp.registration.remove_callee", wamp.List{uint64(reg), uint64(callee.id), "not a uri!"}, "wamp.error.invalid_uri")
	wantErr("wamp.subscription.remove_subscriber", wamp.List{uint64(sub), uint64(1)}, "wamp.error.no_such_session")
	wantErr("wamp.subscription.remove_subscriber", wamp.List{uint64(1), uint64(callee.id)}, "wamp.error.no_such_subscription")

	// The removal: C's callee learns it, with the reason; A's calls find no procedure.
	if r, ok := meta(caller, "wamp.registration.remove_callee", wamp.List{uint64(reg), uint64(callee.id)}, wamp.Dict{"reason": "com.ex.removed"}).(*wamp.Result); !ok || len(r.Arguments) != 0 {
		t.Fatalf("wamp.registration.remove_callee on A: %+v", r)
	}
	if u := callee.expect("UNREGISTERED").(*wamp.Unregistered); u.Request != 0 || !same(u.Details["registration"], reg) || u.Details["reason"] != "com.ex.removed" {
		t.Errorf("UNREGISTERED %+v", u)
	}
	testkit.WaitFor(t, guard, "A's call without a procedure", func() bool {
		req := call()
		e, ok := caller.expect("ERROR").(*wamp.Error)
		return ok && e.Request == req && e.Error == "wamp.error.no_such_procedure"
	})
	wantErr("wamp.registration.remove_callee", wamp.List{uint64(reg), uint64(callee.id)}, "wamp.error.no_such_registration")

	if r, ok := meta(caller, "wamp.subscription.remove_subscriber", wamp.List{uint64(sub), uint64(callee.id)}, nil).(*wamp.Result); !ok || len(r.Arguments) != 0 {
		t.Fatalf("wamp.subscription.remove_subscriber on A: %+v", r)
	}
	if u := callee.expect("UNSUBSCRIBED").(*wamp.Unsubscribed); u.Request != 0 || !same(u.Details["subscription"], sub) || u.Details["reason"] != nil {
		t.Errorf("UNSUBSCRIBED %+v", u)
	}
	wantErr("wamp.subscription.get", wamp.List{uint64(sub)}, "wamp.error.no_such_subscription")
}

// TestClusterMetaGetEvents: each node keeps the publications of the other nodes in its event
// history as it keeps its own sessions', so wamp.subscription.get_events on A answers from
// A's store with B's publications (same publication IDs, the disclosed publisher) next to
// A's, newest first; what a history never keeps (events for chosen receivers) stays out.
func TestClusterMetaGetEvents(t *testing.T) {
	realms := []config.Realm{allowAll[0]}
	realms[0].Store = &config.RealmStore{Type: "memory", EventHistory: []config.StoreEntry{{URI: "com.ex.h", Match: "exact", Limit: 10}}}
	ra, na := startNodeRealms(t, "a", "", realms)
	rb, nb := startNodeRealms(t, "b", na.ClientURL(), realms)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	pubB, pubA, asker := join(t, rb), join(t, ra), join(t, ra)
	publish := func(c *client, opts wamp.Dict, arg int) wamp.ID {
		opts["acknowledge"] = true
		c.send(&wamp.Publish{Request: c.next(), Options: opts, Topic: "com.ex.h", Arguments: wamp.List{arg}})
		return c.expect("PUBLISHED").(*wamp.Published).Publication
	}
	p1 := publish(pubB, wamp.Dict{"disclose_me": true}, 1)
	publish(pubB, wamp.Dict{"eligible": wamp.List{uint64(asker.id)}}, 2)
	p3 := publish(pubB, wamp.Dict{}, 3)

	sub := result(asker, "wamp.subscription.lookup", "com.ex.h")
	if sub == nil {
		t.Fatal("wamp.subscription.lookup on A: no store subscription")
	}
	var evs []any
	testkit.WaitFor(t, guard, "B's publications in A's history", func() bool {
		evs, _ = result(asker, "wamp.subscription.get_events", sub).([]any)
		return len(evs) >= 2
	})
	p4 := publish(pubA, wamp.Dict{}, 4)
	evs, _ = result(asker, "wamp.subscription.get_events", sub, 10).([]any)
	type want struct {
		pub     wamp.ID
		arg     int
		session any
	}
	wants := []want{{p4, 4, nil}, {p3, 3, nil}, {p1, 1, pubB.id}}
	if len(evs) != len(wants) {
		t.Fatalf("get_events on A: %d events %v, want %d (B's 1 and 3, A's 4; not the one for chosen receivers)", len(evs), evs, len(wants))
	}
	for i, w := range wants {
		e, _ := evs[i].(map[string]any)
		args, _ := e["args"].([]any)
		if !same(e["publication"], w.pub) || len(args) != 1 || !same(args[0], w.arg) || !same(e["session_id"], w.session) || e["topic"] != "com.ex.h" || e["realm"] != "realm1" {
			t.Errorf("event %d: %v, want publication %d, args [%d], session_id %v", i, e, w.pub, w.arg, w.session)
		}
	}
	if e, _ := evs[2].(map[string]any); e["authrole"] != "anonymous" {
		t.Errorf("the disclosed publisher's authrole in %v", e)
	}
}
