package cluster

import (
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// hasEverywhere says whether n knows that every node in names registered uri on realm1.
func hasEverywhere(n *Node, uri wamp.URI, names ...string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range names {
		p := n.nodes[name]
		if p == nil {
			return false
		}
		found := false
		for _, x := range p.procs["realm1"] {
			found = found || x.URI == uri
		}
		if !found {
			return false
		}
	}
	return true
}

// Calls from node a to a shared registration on nodes b and c follow its invocation policy
// across the nodes.
func TestClusterCallsSpreadByPolicy(t *testing.T) {
	_, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	rc, nc := startNode(t, "c", na.ClientURL())
	ra := na.r
	for _, n := range []*Node{na, nb, nc} {
		testkit.WaitFor(t, guard, "every node sees the two others", func() bool { return n.Peers() == 2 })
	}
	callees := map[string]*client{"b": join(t, rb), "c": join(t, rc)}
	policies := []string{"roundrobin", "first", "last", "single", "random"}
	for _, name := range []string{"b", "c"} {
		c := callees[name]
		for _, p := range policies {
			c.send(&wamp.Register{Request: c.next(), Options: wamp.Dict{"invoke": p}, Procedure: wamp.URI("com.ex." + p)})
			c.expect("REGISTERED")
		}
	}
	for _, p := range policies {
		testkit.WaitFor(t, guard, "node a knows b and c have com.ex."+p, func() bool { return hasEverywhere(na, wamp.URI("com.ex."+p), "b", "c") })
	}
	caller := join(t, ra)
	// call makes one call from a and returns the node whose callee got it.
	call := func(proc string) string {
		t.Helper()
		caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
		var name string
		var m wamp.Message
		select {
		case m = <-callees["b"].in:
			name = "b"
		case m = <-callees["c"].in:
			name = "c"
		case m = <-caller.in:
			t.Fatalf("%s: the caller got %+v before any callee an invocation", proc, m)
		case <-time.After(guard):
			t.Fatalf("%s: no invocation within %s", proc, guard)
		}
		inv, ok := m.(*wamp.Invocation)
		if !ok {
			t.Fatalf("%s: callee %s got %+v, want an INVOCATION", proc, name, m)
		}
		callees[name].send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{name}})
		res := caller.expect("RESULT").(*wamp.Result)
		if len(res.Arguments) != 1 || res.Arguments[0] != name {
			t.Fatalf("%s: result %v, want from %s", proc, res.Arguments, name)
		}
		return name
	}
	seq := func(proc string, k int) []string {
		var out []string
		for range k {
			out = append(out, call(proc))
		}
		return out
	}
	check := func(proc string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", proc, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: went to %v, want %v", proc, got, want)
			}
		}
	}
	check("roundrobin", seq("com.ex.roundrobin", 4), "b", "c", "b", "c")
	check("first", seq("com.ex.first", 3), "b", "b", "b")
	check("single", seq("com.ex.single", 3), "b", "b", "b")
	check("last", seq("com.ex.last", 3), "c", "c", "c")
	seen := map[string]int{}
	for range 40 { // both nodes, but for a chance of 2^-39
		seen[call("com.ex.random")]++
	}
	if seen["b"] == 0 || seen["c"] == 0 {
		t.Errorf("random: went to %v, want both nodes", seen)
	}
}
