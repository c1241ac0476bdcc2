package cluster

import (
	"log/slog"
	"testing"

	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// benchNodeTimeout is the benchmarks' node_timeout. The tests' one second lets a heartbeat
// that a busy machine delays by a second drop the peer mid-benchmark, and its calls end with
// wamp.error.canceled; no heartbeat is that late. node_timeout also sets the NATS client's
// flush timeout and ping interval (sender.go), which a busy machine must not hit either.
const benchNodeTimeout = guard

// startBenchNodes runs nodes a (with the embedded NATS server) and b, waits until each sees
// the other, and logs what the nodes logged when the benchmark fails.
func startBenchNodes(b *testing.B) (ra, rb *router.Router) {
	b.Helper()
	var la, lb logBuf
	ra, na := startNodeTimeout(b, "a", "", allowAll, slog.New(slog.NewTextHandler(&la, nil)), benchNodeTimeout)
	rb, nb := startNodeTimeout(b, "b", na.ClientURL(), allowAll, slog.New(slog.NewTextHandler(&lb, nil)), benchNodeTimeout)
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("node a logged:\n%s\nnode b logged:\n%s", la.String(), lb.String())
		}
	})
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(b, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	return ra, rb
}

// BenchmarkClusterCall: a caller on node A, its callee on node B, one call at a time through
// an embedded NATS server (the round trip: A's dealer, NATS, B's dealer, the callee, back).
func BenchmarkClusterCall(b *testing.B) {
	ra, rb := startBenchNodes(b)
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
	// Each try reads up to the answer to its own CALL, so that nothing of the warm-up is left
	// for the loop below to take for its RESULT.
	testkit.WaitFor(b, guard, "A knows B's procedure", func() bool {
		req := caller.next()
		caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.bench"})
		for {
			switch m := caller.expectAny().(type) {
			case *wamp.Result:
				if m.Request == req {
					return true
				}
			case *wamp.Error:
				if m.Request == req {
					return false
				}
			}
		}
	})
	args := wamp.List{1, "two"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := caller.next()
		caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.ex.bench", Arguments: args})
		if r := caller.expect("RESULT").(*wamp.Result); r.Request != req {
			b.Fatalf("RESULT for request %d, want %d", r.Request, req)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkClusterPublish: a publisher on node A, a subscriber on node B, one acknowledged
// publication at a time, each waited for at B.
func BenchmarkClusterPublish(b *testing.B) {
	ra, rb := startBenchNodes(b)
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
