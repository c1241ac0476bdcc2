package tests

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// clusterMeta calls a meta procedure on n through testdata/wamp/cluster_client.py.
func clusterMeta(t *testing.T, n *node, proc string, args ...any) map[string]any {
	t.Helper()
	b, err := json.Marshal(append([]any{}, args...))
	if err != nil {
		t.Fatal(err)
	}
	return pyScript(t, 2*time.Minute, "testdata/wamp/cluster_client.py", "meta", wsURL(n), proc, string(b))
}

// TestClusterMetaAPI: three `portico start` processes; the meta API on node A answers for the
// sessions and registrations of B and C, a kill on A ends a session on C as on a single node,
// and the on_join of a session on B reaches a meta subscriber on A (autobahn-python clients).
func TestClusterMetaAPI(t *testing.T) {
	nodes := embeddedCluster(t, "a", "b", "c")
	waitJoined(t, nodes, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]

	mon := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "meta_subscribe", wsURL(a), "wamp.session.on_join")
	mon.jsonLine(t, "ready")
	onB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "stay", wsURL(b))
	sB := onB.jsonLine(t, "session")
	onC := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "stay", wsURL(c))
	sC := onC.jsonLine(t, "session")
	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(c))
	sCallee := callee.jsonLine(t, "session")

	// on_join of B's session, from B, reaches the meta subscriber on A.
	mon.line(t, "on_join of B's session", func(l string) bool {
		var ev struct{ Meta []map[string]any }
		return json.Unmarshal([]byte(l), &ev) == nil && len(ev.Meta) == 1 && fmt.Sprint(ev.Meta[0]["session"]) == fmt.Sprint(sB)
	})

	// count and list on A: the monitor, the caller itself (both on A), B's and C's sessions.
	expect(t, clusterMeta(t, a, "wamp.session.count"), 5, "result")
	list, _ := clusterMeta(t, a, "wamp.session.list")["result"].([]any)
	for _, id := range []any{sB, sC, sCallee} {
		if !slices.Contains(list, id) {
			t.Errorf("wamp.session.list on A: %v lacks %v", list, id)
		}
	}
	if len(list) != 5 {
		t.Errorf("wamp.session.list on A: %v, want 5 sessions", list)
	}
	got := clusterMeta(t, a, "wamp.session.get", sC)
	expect(t, got, sC, "result", "session")

	// registration.lookup on A finds the procedure registered on C (A has no callee of it).
	reg := clusterMeta(t, a, "wamp.registration.lookup", "com.ex.add")["result"]
	if reg == nil {
		t.Fatalf("wamp.registration.lookup on A found no registration of com.ex.add (C has it)")
	}
	expect(t, clusterMeta(t, a, "wamp.registration.get", reg), "com.ex.add", "result", "uri")
	expect(t, clusterMeta(t, a, "wamp.registration.list_callees", reg), []any{sCallee}, "result")

	// A kill on A of C's session: the client on C is told wamp.close.killed, as on one node.
	expect(t, clusterMeta(t, a, "wamp.session.kill", sC), nil, "result")
	var left map[string]any
	onC.line(t, "the session's end", func(l string) bool { return strings.Contains(l, `"left"`) && jsonInto(l, &left) })
	expect(t, left, "wamp.close.killed", "left")
	expect(t, clusterMeta(t, a, "wamp.session.kill", sC), "wamp.error.no_such_session", "error")
}

// TestClusterMetaRemoveAndHistory: three `portico start` processes whose realm keeps an event
// history of com.ex.topic. wamp.registration.remove_callee on A of a callee on C: the callee
// gets UNREGISTERED with the reason, a call from A then fails with no_such_procedure, and a
// second removal fails as on one node. wamp.subscription.get_events on A returns the
// publications of B, C and A, newest first, with B's disclosed publisher (every node keeps
// the publications of the others), and C's history has them too (autobahn-python clients).
func TestClusterMetaRemoveAndHistory(t *testing.T) {
	nodes := embeddedClusterWith(t, func(cfg map[string]any) {
		realm := cfg["workers"].([]any)[0].(map[string]any)["realms"].([]any)[0].(map[string]any)
		realm["store"] = map[string]any{"type": "memory", "event-history": []any{map[string]any{"uri": "com.ex.topic", "limit": 10}}}
	}, "a", "b", "c")
	waitJoined(t, nodes, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]

	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "revocable", wsURL(c), "com.ex.rm")
	var ready map[string]any
	callee.line(t, "the callee ready", func(l string) bool { return strings.Contains(l, `"ready"`) && jsonInto(l, &ready) })
	sCallee, reg := ready["session"], ready["registration"]
	expect(t, clusterPy(t, "call", wsURL(a), "com.ex.rm"), 5, "result") // A knows C's procedure

	expect(t, clusterMeta(t, a, "wamp.registration.remove_callee", reg, 1), "wamp.error.no_such_session", "error")
	expect(t, clusterMeta(t, a, "wamp.registration.remove_callee", 1, sCallee), "wamp.error.no_such_registration", "error")
	expect(t, clusterMeta(t, a, "wamp.registration.remove_callee", reg, sCallee, "com.ex.removed"), nil, "result")
	var gone map[string]any
	callee.line(t, "the callee's UNREGISTERED", func(l string) bool { return strings.Contains(l, `"unregistered"`) && jsonInto(l, &gone) })
	expect(t, gone, reg, "unregistered")
	expect(t, gone, "com.ex.removed", "reason")
	// A learns it with C's next heartbeat: a call from A fails with no_such_procedure then.
	testkit.WaitFor(t, 2*testkit.Patience, "a call from A without the procedure", func() bool {
		return clusterMeta(t, a, "com.ex.rm", 2, 3)["error"] == "wamp.error.no_such_procedure"
	})
	expect(t, clusterMeta(t, a, "wamp.registration.remove_callee", reg, sCallee), "wamp.error.no_such_registration", "error")

	// Event history: A's store subscription, then one publication per node, each once A has
	// the one before (so that A's order is the publications').
	sub := clusterMeta(t, a, "wamp.subscription.lookup", "com.ex.topic")["result"]
	if sub == nil {
		t.Fatal("wamp.subscription.lookup on A: no subscription of the store for com.ex.topic")
	}
	history := func(n *node, s any) []any {
		evs, _ := clusterMeta(t, n, "wamp.subscription.get_events", s, 10)["result"].([]any)
		return evs
	}
	pubs := map[string]any{}
	for i, x := range []struct {
		n    *node
		name string
	}{{b, "from-b"}, {c, "from-c"}, {a, "from-a"}} {
		pubs[x.name] = clusterPy(t, "publish", wsURL(x.n), x.name)["session"]
		testkit.WaitFor(t, 2*testkit.Patience, x.name+" in A's history", func() bool { return len(history(a, sub)) == i+1 })
	}
	evs := history(a, sub)
	for i, want := range []string{"from-a", "from-c", "from-b"} {
		e, _ := evs[i].(map[string]any)
		if fmt.Sprint(e["args"]) != "["+want+"]" || fmt.Sprint(e["session_id"]) != fmt.Sprint(pubs[want]) || e["topic"] != "com.ex.topic" {
			t.Errorf("get_events on A, event %d: %v, want %s published by session %v", i, e, want, pubs[want])
		}
	}
	subC := clusterMeta(t, c, "wamp.subscription.lookup", "com.ex.topic")["result"]
	testkit.WaitFor(t, 2*testkit.Patience, "every publication in C's history", func() bool { return len(history(c, subC)) == 3 })
}
