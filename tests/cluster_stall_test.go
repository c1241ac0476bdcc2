package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"portico/internal/testkit"
)

// TestClusterStalledNATS: the external nats-server under two nodes stops (SIGSTOP) with its
// TCP connections open, as a stalled or partitioned server: it reads nothing more. On node A
// a publisher floods a topic that has subscribers on A and on B with large events (more
// than the loopback socket buffers and A's send queue hold), each with acknowledge, while a
// caller on A calls a callee on A. Every acknowledgement and every call comes back, and A's
// subscriber gets every event, while NATS is stopped: A's sends to NATS are dropped past its
// queue, never waited for. Once nats-server runs again (SIGCONT), A's events reach B again.
func TestClusterStalledNATS(t *testing.T) {
	bin := natsServer(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv := startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	// Runs before startProc's cleanup kills it: a stopped process would not see a SIGTERM.
	t.Cleanup(func() { _ = srv.cmd.Process.Signal(syscall.SIGCONT) })
	url := map[string]any{"url": "nats://" + addr}
	cfg := func(name string) map[string]any {
		c := clusterConfig(t, name, url)
		// The nodes still count each other as alive while the flood starts (a node sends
		// nothing to NATS with no other node alive).
		c["cluster"].(map[string]any)["node_timeout"] = "3s"
		return c
	}
	a := startConfig(t, cfg("a"))
	b := startConfig(t, cfg("b"))
	testkit.WaitFor(t, 2*testkit.Patience, "a and b hear of each other", func() bool {
		return strings.Contains(a.logs.String(), "peer=b") && strings.Contains(b.logs.String(), "peer=a")
	})
	countA := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "count", wsURL(a))
	countB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "count", wsURL(b))
	subB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(b))
	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(a), "com.ex.local")
	for _, p := range []*proc{countA, countB, subB, callee} {
		p.jsonLine(t, "ready")
	}
	// B's subscription is known on A before the flood: an event from A reaches B.
	expect(t, clusterPy(t, "publish", wsURL(a), "before"), true, "published")
	subB.line(t, "the event before the stall", func(l string) bool { return strings.Contains(l, `"before"`) })

	// The flood: 300 events of 64 KiB (19 MiB), with NATS stopped by the client once it has
	// joined. The client gives up after 20 s (on a node whose sends wait for NATS, the first
	// write that fills the socket buffers holds the publisher for nats.go's write timeout).
	const events = 300
	res := clusterPy(t, "flood", wsURL(a), fmt.Sprint(events), fmt.Sprint(64<<10), "20", fmt.Sprint(srv.cmd.Process.Pid))
	if res["error"] != nil {
		t.Fatalf("with NATS stopped, the publisher and caller on A did not get their answers within 20 s: %v\nnode a:\n%s", res, tail(a.logs.String()))
	}
	expect(t, res, events, "acked")
	if calls, _ := res["calls"].(float64); calls < 1 {
		t.Fatalf("no local call answered: %v", res)
	}
	for i := range events {
		var ev map[string]any
		countA.line(t, fmt.Sprintf("event %d on A", i), func(l string) bool { return json.Unmarshal([]byte(l), &ev) == nil && ev["n"] != nil })
		expect(t, ev, i, "n")
	}

	// NATS runs again: the nodes reconnect or carry on, and A's events reach B again.
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	startProc(t, ".", python, "testdata/wamp/cluster_client.py", "publish_every", wsURL(a), "fromA")
	subB.line(t, "an event from A after NATS ran again", func(l string) bool { return strings.Contains(l, `"fromA-`) })
}
