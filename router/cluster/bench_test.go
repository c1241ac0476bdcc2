package cluster

import (
	"testing"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// BenchmarkClusterCall: a caller on node A, its callee on node B, one call at a time through
// an embedded NATS server (the round trip: A's dealer, NATS, B's dealer, the callee, back).
func BenchmarkClusterCall(b *testing.B) {
	ra, na := startNode(b, "a", "")
	rb, nb := startNode(b, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(b, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	callee, caller := join(b, rb), join(b, ra)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.bench"})
	callee.expect("REGISTERED")
	go func() {
		for m := range callee.in {
			if inv, ok := m.(*wamp.Invocation); ok {
				b, _ := callee.codec.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments})
				_ = callee.end.WriteMessage(b)
			}
		}
	}()
	testkit.WaitFor(b, guard, "A knows B's procedure", func() bool {
		caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.bench"})
		return caller.expectAny().Type() == wamp.RESULT
	})
	args := wamp.List{1, "two"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.bench", Arguments: args})
		caller.expect("RESULT")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkClusterPublish: a publisher on node A, a subscriber on node B, one acknowledged
// publication at a time, each waited for at B.
func BenchmarkClusterPublish(b *testing.B) {
	ra, na := startNode(b, "a", "")
	rb, nb := startNode(b, "b", na.ClientURL())
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(b, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	sub, pub := join(b, rb), join(b, ra)
	sub.send(&wamp.Subscribe{Request: sub.next(), Options: wamp.Dict{}, Topic: "com.ex.bench"})
	sub.expect("SUBSCRIBED")
	args := wamp.List{1, "two"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.bench", Arguments: args})
		sub.expect("EVENT")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
