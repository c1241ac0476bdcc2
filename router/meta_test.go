package router

import (
	"slices"
	"testing"

	"portico/config"
	"portico/router/wamp"
)

func TestSessionMeta(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		watcher := join(t, r, c, "realm1")
		watcher.subscribe("wamp.session.on_join", nil)
		watcher.subscribe("wamp.session.on_leave", nil)
		a := join(t, r, c, "realm1")
		join(t, r, c, "other") // another realm is not counted

		ev := expect[*wamp.Event](watcher)
		d := ev.Arguments[0].(map[string]any)
		if wamp.ID(asInt(t, d["session"])) != a.id || d["authid"] != a.authid || d["authrole"] != "anonymous" {
			t.Fatalf("on_join %v", d)
		}

		if n := asInt(t, watcher.call("wamp.session.count", nil, nil).Arguments[0]); n != 2 {
			t.Fatalf("wamp.session.count = %d, want 2", n)
		}
		if n := asInt(t, watcher.call("wamp.session.count", wamp.List{[]any{"admin"}}, nil).Arguments[0]); n != 0 {
			t.Fatalf("wamp.session.count([admin]) = %d, want 0", n)
		}
		list := ids(t, watcher.call("wamp.session.list", nil, nil).Arguments[0])
		if len(list) != 2 || !slices.Contains(list, a.id) || !slices.Contains(list, watcher.id) {
			t.Fatalf("wamp.session.list = %v", list)
		}
		got := watcher.call("wamp.session.get", wamp.List{uint64(a.id)}, nil).Arguments[0].(map[string]any)
		if got["authid"] != a.authid || got["authmethod"] != "anonymous" {
			t.Fatalf("wamp.session.get = %v", got)
		}
		watcher.send(&wamp.Call{Request: 99, Options: wamp.Dict{}, Procedure: "wamp.session.get", Arguments: wamp.List{int64(12345)}})
		watcher.expectError(wamp.CALL, errNoSuchSession)

		a.goodbye()
		ev = expect[*wamp.Event](watcher)
		if len(ev.Arguments) != 1 || wamp.ID(asInt(t, ev.Arguments[0])) != a.id { // Crossbar's: the ID alone
			t.Fatalf("on_leave %v", ev.Arguments)
		}
	})
}

func TestSessionKill(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: []config.Realm{everythingRealm("realm1")}})
		admin := join(t, r, c, "realm1")
		a, b, d := join(t, r, c, "realm1"), join(t, r, c, "realm1"), join(t, r, c, "realm1")

		admin.call("wamp.session.kill", wamp.List{uint64(a.id)}, wamp.Dict{"reason": "com.app.kicked", "message": "bye"})
		g := expect[*wamp.Goodbye](a)
		if g.Reason != "com.app.kicked" || g.Details["message"] != "bye" {
			t.Fatalf("GOODBYE %+v", g)
		}
		a.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: closeGoodbyeReply})
		if err := a.expectEnd(); err != nil {
			t.Fatalf("killed session ended with %v", err)
		}

		admin.send(&wamp.Call{Request: 50, Options: wamp.Dict{}, Procedure: "wamp.session.kill", Arguments: wamp.List{uint64(admin.id)}})
		admin.expectError(wamp.CALL, errInvalidArgument)

		killed := ids(t, admin.call("wamp.session.kill_by_authid", wamp.List{b.authid}, nil).Arguments[0])
		if len(killed) != 1 || killed[0] != b.id {
			t.Fatalf("kill_by_authid killed %v, want [%d]", killed, b.id)
		}
		if g := expect[*wamp.Goodbye](b); g.Reason != closeKilled {
			t.Fatalf("GOODBYE %s, want %s", g.Reason, closeKilled)
		}
		b.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: closeGoodbyeReply})
		b.expectEnd()

		killed = ids(t, admin.call("wamp.session.kill_by_authrole", wamp.List{"anonymous"}, nil).Arguments[0])
		if len(killed) != 1 || killed[0] != d.id {
			t.Fatalf("kill_by_authrole killed %v, want [%d] (never the caller)", killed, d.id)
		}
		expect[*wamp.Goodbye](d)
		admin.quiet()
	})
}

func TestTestaments(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		watcher := join(t, r, c, "realm1")
		watcher.subscribe("com.app.gone", nil)
		a := join(t, r, c, "realm1")
		a.call("wamp.session.add_testament", wamp.List{"com.app.gone", []any{"a left"}, map[string]any{"k": int64(1)}}, nil)
		a.call("wamp.session.add_testament", wamp.List{"com.app.gone", []any{"detached"}, nil}, wamp.Dict{"scope": "detached"})
		a.call("wamp.session.add_testament", wamp.List{"com.app.gone", []any{"flushed"}, nil}, wamp.Dict{"scope": "detached"})
		if n := asInt(t, a.call("wamp.session.flush_testaments", nil, wamp.Dict{"scope": "detached"}).Arguments[0]); n != 2 {
			t.Fatalf("flush_testaments = %d, want 2", n)
		}
		a.call("wamp.session.add_testament", wamp.List{"com.app.gone", []any{"detached"}, nil},
			wamp.Dict{"scope": "detached", "publish_options": wamp.Dict{"disclose_me": true}})
		a.send(&wamp.Call{Request: 90, Options: wamp.Dict{}, Procedure: "wamp.session.add_testament", Arguments: wamp.List{"bad topic"}})
		a.expectError(wamp.CALL, errInvalidURI)
		watcher.quiet()

		_ = a.end.Close() // transport lost: testaments still go out
		a.expectEnd()
		first := expect[*wamp.Event](watcher)
		if first.Arguments[0] != "detached" || wamp.ID(asInt(t, first.Details["publisher"])) != a.id {
			t.Fatalf("detached testament %+v", first)
		}
		second := expect[*wamp.Event](watcher)
		if second.Arguments[0] != "a left" || asInt(t, second.ArgumentsKw["k"]) != 1 {
			t.Fatalf("destroyed testament %+v", second)
		}
		watcher.quiet()
	})
}

func TestRegistrationMeta(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		w := join(t, r, c, "realm1")
		for _, topic := range []string{"on_create", "on_register", "on_unregister", "on_delete"} {
			w.subscribe("wamp.registration."+topic, nil)
		}
		a, b := join(t, r, c, "realm1"), join(t, r, c, "realm1")
		id := a.register("com.app.", wamp.Dict{"match": "prefix", "invoke": "roundrobin"})
		ev := expect[*wamp.Event](w)
		if wamp.ID(asInt(t, ev.Arguments[0])) != a.id {
			t.Fatalf("on_create %v", ev.Arguments)
		}
		det := ev.Arguments[1].(map[string]any)
		if wamp.ID(asInt(t, det["id"])) != id || det["uri"] != "com.app." || det["match"] != "prefix" || det["invoke"] != "roundrobin" {
			t.Fatalf("on_create details %v", det)
		}
		ev = expect[*wamp.Event](w)
		if wamp.ID(asInt(t, ev.Arguments[1])) != id {
			t.Fatalf("on_register %v", ev.Arguments)
		}
		b.register("com.app.", wamp.Dict{"match": "prefix", "invoke": "roundrobin"})
		expect[*wamp.Event](w) // on_register only
		exact := b.register("com.app.exact", nil)
		expect[*wamp.Event](w)
		expect[*wamp.Event](w)

		l := w.call("wamp.registration.list", nil, nil).Arguments[0].(map[string]any)
		if got := ids(t, l["prefix"]); len(got) != 1 || got[0] != id {
			t.Fatalf("list prefix = %v", got)
		}
		if got := ids(t, l["exact"]); len(got) != 1 || got[0] != exact {
			t.Fatalf("list exact = %v", got)
		}
		if got := ids(t, l["wildcard"]); len(got) != 0 {
			t.Fatalf("list wildcard = %v", got)
		}
		if got := w.call("wamp.registration.lookup", wamp.List{"com.app.", map[string]any{"match": "prefix"}}, nil).Arguments[0]; wamp.ID(asInt(t, got)) != id {
			t.Fatalf("lookup = %v", got)
		}
		if got := w.call("wamp.registration.lookup", wamp.List{"com.app."}, nil).Arguments[0]; got != nil {
			t.Fatalf("lookup exact com.app. = %v, want null", got)
		}
		if got := w.call("wamp.registration.match", wamp.List{"com.app.exact"}, nil).Arguments[0]; wamp.ID(asInt(t, got)) != exact {
			t.Fatalf("match com.app.exact = %v", got)
		}
		if got := w.call("wamp.registration.match", wamp.List{"com.app.other"}, nil).Arguments[0]; wamp.ID(asInt(t, got)) != id {
			t.Fatalf("match com.app.other = %v", got)
		}
		if got := w.call("wamp.registration.match", wamp.List{"org.x"}, nil).Arguments[0]; got != nil {
			t.Fatalf("match org.x = %v", got)
		}
		if got := w.call("wamp.registration.get", wamp.List{uint64(id)}, nil).Arguments[0].(map[string]any); got["uri"] != "com.app." {
			t.Fatalf("get = %v", got)
		}
		callees := ids(t, w.call("wamp.registration.list_callees", wamp.List{uint64(id)}, nil).Arguments[0])
		if !slices.Equal(callees, []wamp.ID{a.id, b.id}) {
			t.Fatalf("list_callees = %v", callees)
		}
		if n := asInt(t, w.call("wamp.registration.count_callees", wamp.List{uint64(id)}, nil).Arguments[0]); n != 2 {
			t.Fatalf("count_callees = %d", n)
		}
		w.send(&wamp.Call{Request: 77, Options: wamp.Dict{}, Procedure: "wamp.registration.get", Arguments: wamp.List{int64(1)}})
		w.expectError(wamp.CALL, errNoSuchRegistration)

		a.goodbye()
		ev = expect[*wamp.Event](w) // on_unregister
		if wamp.ID(asInt(t, ev.Arguments[0])) != a.id || wamp.ID(asInt(t, ev.Arguments[1])) != id {
			t.Fatalf("on_unregister %v", ev.Arguments)
		}
		b.goodbye()
		seen := map[wamp.ID]int{}
		for i := 0; i < 4; i++ { // b: on_unregister + on_delete for both registrations
			ev := expect[*wamp.Event](w)
			seen[wamp.ID(asInt(t, ev.Arguments[1]))]++
		}
		if seen[id] != 2 || seen[exact] != 2 {
			t.Fatalf("meta events on b leaving: %v", seen)
		}
		w.quiet()
	})
}

func TestSubscriptionMeta(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		w := join(t, r, c, "realm1")
		for _, topic := range []string{"on_create", "on_subscribe", "on_unsubscribe", "on_delete"} {
			w.subscribe("wamp.subscription."+topic, nil)
		}
		w.quiet() // subscriptions to meta topics raise no meta events
		a, b := join(t, r, c, "realm1"), join(t, r, c, "realm1")
		wild := a.subscribe("com..x", wamp.Dict{"match": "wildcard"})
		ev := expect[*wamp.Event](w)
		if det := ev.Arguments[1].(map[string]any); wamp.ID(asInt(t, det["id"])) != wild || det["match"] != "wildcard" {
			t.Fatalf("on_create %v", det)
		}
		expect[*wamp.Event](w) // on_subscribe
		b.subscribe("com..x", wamp.Dict{"match": "wildcard"})
		expect[*wamp.Event](w)
		exact := b.subscribe("com.app.x", nil)
		expect[*wamp.Event](w)
		expect[*wamp.Event](w)

		l := w.call("wamp.subscription.list", nil, nil).Arguments[0].(map[string]any)
		if got := ids(t, l["wildcard"]); len(got) != 1 || got[0] != wild {
			t.Fatalf("list wildcard = %v (meta topics are not listed)", got)
		}
		if got := ids(t, l["exact"]); len(got) != 1 || got[0] != exact {
			t.Fatalf("list exact = %v (meta topics are not listed)", got)
		}
		if got := w.call("wamp.subscription.lookup", wamp.List{"com..x", map[string]any{"match": "wildcard"}}, nil).Arguments[0]; wamp.ID(asInt(t, got)) != wild {
			t.Fatalf("lookup = %v", got)
		}
		m := ids(t, w.call("wamp.subscription.match", wamp.List{"com.app.x"}, nil).Arguments[0])
		if len(m) != 2 || !slices.Contains(m, wild) || !slices.Contains(m, exact) {
			t.Fatalf("match = %v", m)
		}
		if got := w.call("wamp.subscription.match", wamp.List{"org.none"}, nil).Arguments[0]; got != nil {
			t.Fatalf("match org.none = %v", got)
		}
		if got := w.call("wamp.subscription.get", wamp.List{uint64(exact)}, nil).Arguments[0].(map[string]any); got["uri"] != "com.app.x" {
			t.Fatalf("get = %v", got)
		}
		subs := ids(t, w.call("wamp.subscription.list_subscribers", wamp.List{uint64(wild)}, nil).Arguments[0])
		if !slices.Equal(subs, []wamp.ID{a.id, b.id}) {
			t.Fatalf("list_subscribers = %v", subs)
		}
		if n := asInt(t, w.call("wamp.subscription.count_subscribers", wamp.List{uint64(wild)}, nil).Arguments[0]); n != 2 {
			t.Fatalf("count_subscribers = %d", n)
		}
		w.send(&wamp.Call{Request: 77, Options: wamp.Dict{}, Procedure: "wamp.subscription.get", Arguments: wamp.List{int64(1)}})
		w.expectError(wamp.CALL, errNoSuchSubscription)

		b.send(&wamp.Unsubscribe{Request: 1, Subscription: exact})
		expect[*wamp.Unsubscribed](b)
		evs := []*wamp.Event{expect[*wamp.Event](w), expect[*wamp.Event](w)}
		for i, want := range []string{"wamp.subscription.on_unsubscribe", "wamp.subscription.on_delete"} {
			ev := evs[i]
			if sub := w.subscriptionTopic(ev); sub != want || wamp.ID(asInt(t, ev.Arguments[1])) != exact {
				t.Fatalf("got %s %v, want %s", sub, ev.Arguments, want)
			}
		}
	})
}

// subscriptionTopic names the meta topic an event came from, by asking the router.
func (c *client) subscriptionTopic(ev *wamp.Event) string {
	c.t.Helper()
	d := c.call("wamp.subscription.get", wamp.List{uint64(ev.Subscription)}, nil).Arguments[0].(map[string]any)
	return d["uri"].(string)
}

// A testament is a publication by the client, so it may not use the "wamp." topics either:
// else any client could forge meta events (wamp.session.on_leave ...) that others trust.
func TestTestamentRestrictedTopic(t *testing.T) {
	r := newTestRouter(t, Options{})
	watcher := join(t, r, wamp.JSON, "realm1")
	watcher.subscribe("wamp.session.on_leave", nil)
	a := join(t, r, wamp.JSON, "realm1")
	a.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "wamp.session.add_testament",
		Arguments: wamp.List{"wamp.session.on_leave", []any{uint64(12345), "forged", "forged"}}})
	a.expectError(wamp.CALL, errInvalidURI)
	a.goodbye()
	ev := expect[*wamp.Event](watcher)
	if wamp.ID(asInt(t, ev.Arguments[0])) != a.id {
		t.Fatalf("on_leave %v, want the leaving session's", ev.Arguments)
	}
	watcher.quiet()
}
