package cluster

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// A node whose publication handler is held up falls behind its tiny pending limit: NATS drops
// publications, the node logs the slow consumer (subject, pending counts) and counts the
// dropped messages, and its local sessions go on as before.
func TestClusterSlowConsumerLogged(t *testing.T) {
	ra, na := startNode(t, "a", "")
	var buf logBuf
	c := config.Cluster{Name: "c1", Node: "b", SubjectPrefix: "portico", NodeTimeout: time.Second}
	c.NATS.URLs = []string{na.ClientURL()}
	nb := New(c, slog.New(slog.NewTextHandler(&buf, nil)))
	nb.pendingMsgs, nb.pendingBytes = 4, 1<<20
	release := make(chan struct{})
	nb.onMsg = func(string) { <-release }
	rb := router.New(router.Options{Realms: allowAll, Log: quiet(), Cluster: nb})
	if err := nb.Start(rb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close(); rb.Close(guard) })
	released := false
	free := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(free) // before the node closes
	testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return na.Peers() == 1 && nb.Peers() == 1 })

	pub := join(t, ra)
	err := testkit.Poll(guard, func() error {
		for range 20 { // bounded; published without acknowledge
			pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.flood", Arguments: wamp.List{"x"}})
		}
		if !strings.Contains(buf.String(), "slow consumer") {
			return errors.New("no slow-consumer log line yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, buf.String())
	}
	logs := buf.String()
	for _, want := range []string{"subject=portico.c1.*.pub", "pending_msgs=", "limit_msgs=4"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the slow-consumer line lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "slow consumer"); n != 1 {
		t.Errorf("slow consumer logged %d times, want once per subject per %s:\n%s", n, slowLogEvery, logs)
	}

	// While the handler is still held up, node b's own sessions work: a local call and event.
	callee, caller, sub := join(t, rb), join(t, rb), join(t, rb)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.local"})
	callee.expect("REGISTERED")
	sub.send(&wamp.Subscribe{Request: sub.next(), Options: wamp.Dict{}, Topic: "com.ex.local.topic"})
	sub.expect("SUBSCRIBED")
	caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.local", Arguments: wamp.List{1}})
	inv := callee.expect("INVOCATION").(*wamp.Invocation)
	callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{2}})
	caller.expect("RESULT")
	caller.send(&wamp.Publish{Request: caller.next(), Options: wamp.Dict{}, Topic: "com.ex.local.topic"})
	sub.expect("EVENT")

	free()
	testkit.WaitFor(t, guard, "the dropped publications counted", func() bool { return nb.Dropped() > 0 })
}
