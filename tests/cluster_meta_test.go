package tests

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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
