package cluster

import (
	"errors"
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// TestClusterProgressiveCallInvocations: a caller on A streams a call (progressive call
// invocations) to a callee on B: every CALL reaches the same INVOCATION; cancel and timeouts
// reach the callee; a callee that does not support them makes the call fail as on one node.
func TestClusterProgressiveCallInvocations(t *testing.T) {
	ra, na := startNode(t, "a", "")
	rb, nb := startNode(t, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "each node sees the other", func() bool { return n.Peers() == 1 })
	}
	pci := wamp.Dict{"progressive_call_invocations": true}
	callee, plain, caller := joinWith(t, rb, pci), join(t, rb), joinWith(t, ra, pci)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.stream"})
	callee.expect("REGISTERED")
	plain.send(&wamp.Register{Request: plain.next(), Options: wamp.Dict{}, Procedure: "com.ex.plain"})
	plain.expect("REGISTERED")

	// start sends the first CALL of a progressive call invocation to proc, once A knows it,
	// and returns its request ID with what came first: the callee's INVOCATION, or an answer
	// to the caller.
	start := func(proc wamp.URI, opts wamp.Dict) (wamp.ID, wamp.Message) {
		t.Helper()
		var req wamp.ID
		var got wamp.Message
		err := testkit.Poll(guard, func() error {
			req = caller.next()
			o := wamp.Dict{"progress": true}
			for k, v := range opts {
				o[k] = v
			}
			caller.send(&wamp.Call{Request: req, Options: o, Procedure: proc, Arguments: wamp.List{1}})
			select {
			case got = <-caller.in:
				if e, ok := got.(*wamp.Error); ok && e.Error == "wamp.error.no_such_procedure" {
					return errors.New("A does not know the procedure on B yet")
				}
			case got = <-callee.in:
			case got = <-plain.in:
			case <-time.After(guard):
				t.Fatalf("no answer to CALL %d within %s", req, guard)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return req, got
	}
	invocation := func(m wamp.Message) *wamp.Invocation {
		t.Helper()
		inv, ok := m.(*wamp.Invocation)
		if !ok {
			t.Fatalf("got %s %+v, want the callee's INVOCATION", m.Type(), m)
		}
		return inv
	}

	// The stream: three CALLs, one INVOCATION request, progress on all but the last.
	req, m := start("com.ex.stream", nil)
	first := invocation(m)
	if p, _ := first.Details["progress"].(bool); !p || !same(first.Arguments, wamp.List{1}) {
		t.Fatalf("first INVOCATION %+v, want progress and [1]", first)
	}
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"progress": true}, Procedure: "com.ex.stream", Arguments: wamp.List{2}})
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.stream", Arguments: wamp.List{3}})
	for i, want := range []struct {
		progress bool
		arg      int
	}{{true, 2}, {false, 3}} {
		inv := callee.expect("INVOCATION").(*wamp.Invocation)
		p, _ := inv.Details["progress"].(bool)
		if inv.Request != first.Request || p != want.progress || !same(inv.Arguments, wamp.List{want.arg}) {
			t.Errorf("INVOCATION %d: %+v, want request %d, progress %v, [%d]", i+2, inv, first.Request, want.progress, want.arg)
		}
	}
	callee.send(&wamp.Yield{Request: first.Request, Options: wamp.Dict{}, Arguments: wamp.List{6}})
	if r := caller.expect("RESULT").(*wamp.Result); r.Request != req || !same(r.Arguments, wamp.List{6}) {
		t.Errorf("RESULT %+v, want request %d, [6]", r, req)
	}

	// Cancel mid-stream: the callee gets INTERRUPT, the caller wamp.error.canceled; a later
	// CALL of the stream reaches neither the callee nor a new call.
	req, m = start("com.ex.stream", nil)
	inv := invocation(m)
	caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "killnowait"}})
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "wamp.error.canceled" {
		t.Errorf("ERROR %+v, want wamp.error.canceled for %d", e, req)
	}
	if i := callee.expect("INTERRUPT").(*wamp.Interrupt); i.Request != inv.Request {
		t.Errorf("INTERRUPT %+v, want request %d", i, inv.Request)
	}
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.stream", Arguments: wamp.List{9}})

	// A timeout mid-stream: the same, from the dealer. (The callee's next message must be
	// this call's INVOCATION, not the canceled stream's final CALL.)
	req, m = start("com.ex.stream", wamp.Dict{"timeout": 300})
	inv = invocation(m)
	if !same(inv.Arguments, wamp.List{1}) {
		t.Errorf("INVOCATION %+v, want the new call's first, [1]", inv)
	}
	if e := caller.expect("ERROR").(*wamp.Error); e.Request != req || e.Error != "wamp.error.canceled" {
		t.Errorf("ERROR %+v, want wamp.error.canceled (timeout) for %d", e, req)
	}
	if i := callee.expect("INTERRUPT").(*wamp.Interrupt); i.Request != inv.Request {
		t.Errorf("INTERRUPT %+v, want request %d", i, inv.Request)
	}

	// A callee without progressive call invocations: refused, as on one node.
	req, m = start("com.ex.plain", nil)
	if e, ok := m.(*wamp.Error); !ok || e.Request != req || e.Error != "wamp.error.feature_not_supported" {
		t.Errorf("%s %+v, want ERROR wamp.error.feature_not_supported for %d", m.Type(), m, req)
	}
	select {
	case m := <-plain.in:
		t.Errorf("the callee without the feature got %s %+v", m.Type(), m)
	default:
	}
}
