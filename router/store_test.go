package router

import (
	"fmt"
	"strings"
	"testing"

	"portico/config"
	"portico/router/wamp"
)

// storeRealm is everythingRealm with a memory store.
func storeRealm(name string, st config.RealmStore) config.Realm {
	r := everythingRealm(name)
	st.Type = "memory"
	r.Store = &st
	// The store's zero fields take config's defaults, as a configured realm's do.
	n := config.WithDefaults(&config.Node{Workers: []config.Worker{{Type: "router", Realms: []config.Realm{r}}}})
	return n.Workers[0].Realms[0]
}

// getEvents calls wamp.subscription.get_events and returns the events' first arguments.
func (c *client) getEvents(sub wamp.ID, limit any) []any {
	c.t.Helper()
	args := wamp.List{uint64(sub)}
	if limit != nil {
		args = append(args, limit)
	}
	res := c.call("wamp.subscription.get_events", args, nil)
	evs, ok := res.Arguments[0].([]any)
	if !ok {
		c.t.Fatalf("get_events answered %v", res.Arguments)
	}
	out := make([]any, len(evs))
	for i, e := range evs {
		ev := e.(map[string]any)
		if a, ok := ev["args"].([]any); ok && len(a) > 0 {
			out[i] = a[0]
		}
	}
	return out
}

// TestEventHistory: a realm store of type memory keeps the events of its event-history topics
// (Crossbar's realm store), bounded per topic, and wamp.subscription.get_events returns the
// newest first, in Crossbar's shape; subscribers come and go, the history stays.
func TestEventHistory(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: []config.Realm{storeRealm("realm1", config.RealmStore{Limit: 100,
			EventHistory: []config.StoreEntry{
				{URI: "com.hist.counter", Match: "exact", Limit: 3},
				{URI: "com.hist.feed.", Match: "prefix", Limit: 100},
			}})}})
		pub := join(t, r, c, "realm1")
		// Published before anyone subscribed: kept all the same.
		for i := range 5 {
			pub.publishAck("com.hist.counter", nil, int64(i))
		}
		pub.publishAck("com.hist.feed.a", wamp.Dict{"disclose_me": true}, "a")
		pub.publishAck("com.hist.feed.b", wamp.Dict{"eligible": wamp.List{uint64(pub.id)}}, "for pub only")
		pub.publishAck("com.hist.other", nil, "not kept")

		reader := join(t, r, c, "realm1")
		sub := reader.subscribe("com.hist.counter", nil)
		got := reader.getEvents(sub, nil)
		if fmt.Sprint(got) != "[4 3 2]" {
			t.Fatalf("get_events: %v, want the 3 newest, newest first", got)
		}
		if got := reader.getEvents(sub, int64(1)); fmt.Sprint(got) != "[4]" {
			t.Fatalf("get_events limit 1: %v", got)
		}
		res := reader.call("wamp.subscription.get_events", wamp.List{uint64(sub)}, nil)
		ev := res.Arguments[0].([]any)[0].(map[string]any)
		if ev["topic"] != "com.hist.counter" || ev["realm"] != "realm1" || ev["session_id"] != nil || ev["authid"] != nil {
			t.Errorf("stored event %v (an undisclosed publisher stays undisclosed)", ev)
		}
		for _, k := range []string{"time_ns", "publication", "kwargs"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("stored event lacks %q: %v", k, ev)
			}
		}

		// The store's subscription is the one clients get for the same pattern.
		feed := reader.subscribe("com.hist.feed.", wamp.Dict{"match": "prefix"})
		res = reader.call("wamp.subscription.get_events", wamp.List{uint64(feed)}, nil)
		evs := res.Arguments[0].([]any)
		if len(evs) != 1 {
			t.Fatalf("feed history %v: want the one event for everyone", evs)
		}
		if e := evs[0].(map[string]any); e["topic"] != "com.hist.feed.a" || wamp.ID(asInt(t, e["session_id"])) != pub.id {
			t.Errorf("disclosed event %v", e)
		}

		// Subscribers leave; the history stays and grows.
		reader.send(&wamp.Unsubscribe{Request: reader.nextReq(), Subscription: sub})
		expect[*wamp.Unsubscribed](reader)
		pub.publishAck("com.hist.counter", nil, int64(5))
		if got := reader.getEvents(sub, int64(10)); fmt.Sprint(got) != "[5 4 3]" {
			t.Fatalf("after unsubscribing: %v", got)
		}

		// A subscription without history, and none at all.
		other := reader.subscribe("com.hist.other", nil)
		if e := reader.callErr("wamp.subscription.get_events", wamp.List{uint64(other)}, nil); e.Error != errHistoryUnavailable {
			t.Errorf("get_events without history: %s", e.Error)
		}
		if e := reader.callErr("wamp.subscription.get_events", wamp.List{int64(424242)}, nil); e.Error != errNoSuchSubscription {
			t.Errorf("get_events of no subscription: %s", e.Error)
		}
		if e := reader.callErr("wamp.subscription.get_events", wamp.List{uint64(sub), int64(-1)}, nil); e.Error != errInvalidArgument {
			t.Errorf("get_events with limit -1: %s", e.Error)
		}
	})
}

// TestEventHistoryWithoutStore: a realm without a store has no history (Crossbar's error).
func TestEventHistoryWithoutStore(t *testing.T) {
	r := newTestRouter(t, Options{})
	cl := join(t, r, wamp.JSON, "realm1")
	sub := cl.subscribe("com.hist.x", nil)
	if e := cl.callErr("wamp.subscription.get_events", wamp.List{uint64(sub)}, nil); e.Error != errHistoryUnavailable {
		t.Fatalf("got %s", e.Error)
	}
}

// TestEventHistoryBytes: the realm's histories together keep at most max_bytes (an estimate);
// the oldest events go first, whichever topic they belong to.
func TestEventHistoryBytes(t *testing.T) {
	r := newTestRouter(t, Options{Realms: []config.Realm{storeRealm("realm1", config.RealmStore{Limit: 1000, MaxBytes: 64 << 10,
		EventHistory: []config.StoreEntry{{URI: "com.big.", Match: "prefix", Limit: 1000}, {URI: "com.small", Match: "exact", Limit: 1000}}})}})
	pub := join(t, r, wamp.MsgPack, "realm1")
	pub.publishAck("com.small", nil, "first")
	big := strings.Repeat("x", 4<<10)
	for i := range 100 {
		pub.publishAck("com.big.t", nil, fmt.Sprint(i), big)
	}
	rl := r.realms["realm1"]
	rl.mu.Lock()
	bytes, maxBytes := rl.store.bytes, rl.store.maxBytes
	rl.mu.Unlock()
	if bytes > maxBytes {
		t.Fatalf("history holds %d bytes, over max_bytes %d", bytes, maxBytes)
	}
	small := pub.subscribe("com.small", nil)
	if got := pub.getEvents(small, nil); len(got) != 0 {
		t.Errorf("the oldest event (com.small) is still kept: %v", got)
	}
	bigSub := pub.subscribe("com.big.", wamp.Dict{"match": "prefix"})
	got := pub.getEvents(bigSub, int64(1000))
	if len(got) == 0 || len(got) >= 100 || got[0] != "99" {
		t.Errorf("big history: %d events, newest %v", len(got), got[:min(1, len(got))])
	}
}

// TestCallQueue: with a store call-queue for the procedure, a call over every callee's
// concurrency waits (bounded by the queue's limit) and goes, oldest first, when a slot frees;
// a queued call can be canceled, and fails when the last callee leaves.
func TestCallQueue(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: []config.Realm{storeRealm("realm1", config.RealmStore{Limit: 100,
			CallQueue: []config.StoreEntry{{URI: "com.q.compute", Match: "exact", Limit: 2}}})}})
		callee := join(t, r, c, "realm1")
		caller := join(t, r, wamp.JSON, "realm1")
		callee.register("com.q.compute", wamp.Dict{"concurrency": int64(1)})
		callee.register("com.q.unqueued", wamp.Dict{"concurrency": int64(1)})

		for i := 1; i <= 3; i++ {
			caller.send(&wamp.Call{Request: wamp.ID(100 + i), Options: wamp.Dict{}, Procedure: "com.q.compute", Arguments: wamp.List{int64(i)}})
		}
		inv := expect[*wamp.Invocation](callee)
		if asInt(t, inv.Arguments[0]) != 1 {
			t.Fatalf("first INVOCATION %+v", inv)
		}
		caller.send(&wamp.Call{Request: 104, Options: wamp.Dict{}, Procedure: "com.q.compute"})
		if e := caller.expectError(wamp.CALL, errMaxConcurrency); e.Request != 104 {
			t.Fatalf("over the queue's limit: ERROR for %d", e.Request)
		}
		callee.quiet()
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{"one"}})
		if res := expect[*wamp.Result](caller); res.Request != 101 {
			t.Fatalf("RESULT %+v", res)
		}
		inv = expect[*wamp.Invocation](callee)
		if asInt(t, inv.Arguments[0]) != 2 {
			t.Fatalf("queued calls go oldest first: got %v", inv.Arguments)
		}
		// Cancel the queued third call: it never reaches the callee.
		caller.send(&wamp.Cancel{Request: 103, Options: wamp.Dict{"mode": "kill"}})
		if e := caller.expectError(wamp.CALL, errCanceled); e.Request != 103 {
			t.Fatalf("cancel: ERROR for %d", e.Request)
		}
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
		expect[*wamp.Result](caller)
		callee.quiet()

		// Without a call-queue entry a call over the bound fails at once.
		caller.send(&wamp.Call{Request: 110, Options: wamp.Dict{}, Procedure: "com.q.unqueued"})
		expect[*wamp.Invocation](callee)
		caller.send(&wamp.Call{Request: 111, Options: wamp.Dict{}, Procedure: "com.q.unqueued"})
		caller.expectError(wamp.CALL, errMaxConcurrency)

		// Queued calls fail when the last callee leaves; a timeout ends a queued call too.
		caller.send(&wamp.Call{Request: 120, Options: wamp.Dict{}, Procedure: "com.q.compute"})
		expect[*wamp.Invocation](callee)
		caller.send(&wamp.Call{Request: 121, Options: wamp.Dict{"timeout": int64(1)}, Procedure: "com.q.compute"})
		if e := caller.expectError(wamp.CALL, errCanceled); e.Request != 121 {
			t.Fatalf("timed-out queued call: ERROR for %d", e.Request)
		}
		caller.send(&wamp.Call{Request: 122, Options: wamp.Dict{}, Procedure: "com.q.compute"})
		caller.call("wamp.session.count", nil, nil) // 122 is queued once this is answered
		callee.goodbye()
		got := map[wamp.ID]bool{}
		for range 3 { // 110 and 120 were in flight, 122 queued
			got[caller.expectError(wamp.CALL, errCanceled).Request] = true
		}
		if !got[110] || !got[120] || !got[122] {
			t.Fatalf("after the callee left: errors for %v", got)
		}
	})
}

// TestEventHistoryRemote: a publication of another node (DeliverRemote) enters the event
// history as a local one does, with its publication ID and its disclosed publisher; another
// node's meta events (remote publications on "wamp." topics) and events for chosen receivers
// do not, as this node's own do not.
func TestEventHistoryRemote(t *testing.T) {
	r := newTestRouter(t, Options{Realms: []config.Realm{storeRealm("realm1", config.RealmStore{Limit: 100,
		EventHistory: []config.StoreEntry{{URI: ".session.on_join", Match: "wildcard", Limit: 100}}})}})
	c := join(t, r, codecs[0], "realm1")
	remote := func(topic wamp.URI, id wamp.ID, opts wamp.Dict, arg any) {
		r.DeliverRemote("realm1", &wamp.Publish{Request: id, Options: opts, Topic: topic, Arguments: wamp.List{arg}})
	}
	remote("com.session.on_join", 11, wamp.Dict{}, "remote")
	remote("wamp.session.on_join", 12, wamp.Dict{}, "remote meta event")
	remote("org.session.on_join", 13, wamp.Dict{"disclose_me": true, ClusterPublisher: wamp.List{uint64(77), "alice", "user"}}, "disclosed")
	remote("net.session.on_join", 14, wamp.Dict{"eligible": wamp.List{uint64(c.id)}}, "for one")
	c.publishAck("com.session.on_join", nil, "local")
	sub := c.subscribe(".session.on_join", wamp.Dict{"match": "wildcard"})
	if got := c.getEvents(sub, nil); fmt.Sprint(got) != "[local disclosed remote]" {
		t.Fatalf("get_events: %v, want [local disclosed remote]", got)
	}
	res := c.call("wamp.subscription.get_events", wamp.List{uint64(sub)}, nil)
	evs := res.Arguments[0].([]any)
	d, r0 := evs[1].(map[string]any), evs[2].(map[string]any)
	if fmt.Sprint(d["publication"]) != "13" || fmt.Sprint(d["session_id"]) != "77" || d["authid"] != "alice" || d["authrole"] != "user" {
		t.Errorf("the disclosed remote publication: %v", d)
	}
	if fmt.Sprint(r0["publication"]) != "11" || r0["session_id"] != nil || r0["authid"] != nil {
		t.Errorf("the undisclosed remote publication: %v", r0)
	}
}
