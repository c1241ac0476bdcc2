package tests

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// clusterJS starts tests/js/cluster.mjs: lib (autobahn or wampy) in mode on n's realm1, its
// URIs under ns.
func clusterJS(t *testing.T, lib, mode string, n *node, ns string, args ...string) *proc {
	t.Helper()
	return startProc(t, jsDir(t), "node", append([]string{"cluster.mjs", lib, mode, wsURL(n), ns}, args...)...)
}

// clusterJSRun runs tests/js/cluster.mjs's one-shot mode to its end and returns its last JSON
// line.
func clusterJSRun(t *testing.T, lib, mode string, n *node, ns string, args ...string) map[string]any {
	t.Helper()
	return runScript(t, 2*time.Minute, jsDir(t), "node", "cluster.mjs", append([]string{lib, mode, wsURL(n), ns}, args...)...)
}

// event waits for p's next event line and returns it decoded.
func event(t *testing.T, p *proc) map[string]any {
	t.Helper()
	var ev map[string]any
	p.line(t, "an event", func(l string) bool { return strings.Contains(l, `"event"`) && jsonInto(l, &ev) })
	return ev
}

// streamAfter waits for cluster.mjs stream's line after the call's end: {"after": true,
// "late": K}, K the progressive results that came after it.
func streamAfter(t *testing.T, p *proc) map[string]any {
	t.Helper()
	var m map[string]any
	p.line(t, "the check after the end", func(l string) bool { return jsonInto(l, &m) && m["after"] != nil })
	return m
}

// TestClusterJSClients: AutobahnJS and wampy (and autobahn-python) spread over three nodes,
// once with each JavaScript library on each side: a callee on B called from A, a prefix
// registration on B called from C, a roundrobin shared registration on B and C called from
// A, progressive results from B to a caller on C, and an acknowledged publication from C that
// each subscriber on A and B gets once. The nodes share an embedded NATS server, then an
// external nats-server.
func TestClusterJSClients(t *testing.T) {
	for _, nats := range []struct {
		name  string
		start func(*testing.T, ...string) []*node
	}{{"embedded", embeddedCluster}, {"external", externalCluster}} {
		t.Run(nats.name, func(t *testing.T) {
			nodes := nats.start(t, "a", "b", "c")
			waitJoined(t, nodes, "a", "b", "c")
			jsScenario(t, nodes[0], nodes[1], nodes[2])
		})
	}
}

// jsScenario is TestClusterJSClients on nodes a, b and c, once with AutobahnJS callees and
// publishers and wampy callers (and subscribers on A), once the other way round; each round
// has its own URIs, so that what the first left behind on the nodes cannot answer the second.
func jsScenario(t *testing.T, a, b, c *node) {
	for _, libs := range [][2]string{{"autobahn", "wampy"}, {"wampy", "autobahn"}} {
		x, y := libs[0], libs[1]
		ns := "com." + x
		t.Run(x+"_callees_"+y+"_callers", func(t *testing.T) {
			// A callee on B, called from A.
			clusterJS(t, x, "callee", b, ns).jsonLine(t, "ready")
			expect(t, clusterJSRun(t, y, "call", a, ns, "add"), 5, "result")

			// A prefix registration on B, called from C (registered after the callee: once C
			// can call it, C knows the callee's procedures too).
			clusterJS(t, x, "pattern", b, ns).jsonLine(t, "ready")
			expect(t, clusterJSRun(t, y, "call", c, ns, "pfx.deep.name"), ns+".pfx.deep.name", "result")

			// Progressive results from the callee on B to a caller on C.
			stream := clusterJS(t, y, "stream", c, ns, "3")
			var progress []any
			var end map[string]any
			stream.line(t, "the final result", func(l string) bool {
				var m map[string]any
				if !jsonInto(l, &m) {
					return false
				}
				if m["progress"] != nil {
					progress = append(progress, m["progress"])
				}
				end = m
				return m["result"] != nil || m["error"] != nil
			})
			expect(t, map[string]any{"progress": progress}, []int{1, 2, 3}, "progress")
			expect(t, end, "done", "result")
			expect(t, streamAfter(t, stream), 0, "late")

			// A shared registration, roundrobin, on B and C, called from A: each node's marker,
			// registered after it, tells A has both.
			clusterJS(t, x, "shared", b, ns, "b").jsonLine(t, "ready")
			clusterJS(t, y, "shared", c, ns, "c").jsonLine(t, "ready")
			for _, m := range []string{"b", "c"} {
				expect(t, clusterJSRun(t, x, "call", a, ns, "marker."+m), m, "result")
			}
			res := clusterJSRun(t, x, "calls", a, ns, "4")["results"]
			seq, _ := res.([]any)
			if len(seq) != 4 || seq[0] == seq[1] || seq[1] == seq[2] || seq[2] == seq[3] || seq[0] != seq[2] {
				t.Errorf("roundrobin over B and C from A: %v, want b and c in turn", res)
			}

			// Pub/sub: one acknowledged publication from C reaches each subscriber on A and B
			// once, the publisher disclosed; autobahn-python subscribes on B beside them.
			subs := []*proc{clusterJS(t, y, "subscribe", a, ns), clusterJS(t, x, "subscribe", b, ns),
				startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(b), ns+".topic")}
			for _, s := range subs {
				s.jsonLine(t, "ready")
			}
			session := clusterJSRun(t, x, "publish", c, ns, "hello")["session"]
			for _, s := range subs {
				ev := event(t, s)
				expect(t, ev, "hello", "event")
				expect(t, ev, session, "publisher")
			}
			expect(t, clusterJSRun(t, y, "publish", c, ns, "again"), true, "published")
			for _, s := range subs {
				expect(t, event(t, s), "again", "event") // not "hello" a second time
			}
		})
	}
}

// TestClusterKillMidCall: node B is killed (SIGKILL) while a caller on A waits for a callee
// on B that never answers, two more (AutobahnJS, wampy) receive progressive results from B,
// and a caller on B waits for a callee on D. The calls from A end with wamp.error.canceled
// once A drops B (node_timeout 1s; bounded here with generous slack), with no progressive
// result after the error, and the callee on D is interrupted once D drops B; meanwhile
// subscribers on A and D go on getting, without a gap, the events a publisher on C sends
// every 0.1 s.
func TestClusterKillMidCall(t *testing.T) {
	const nodeTimeout, slack = time.Second, 30 * time.Second
	nodes := embeddedCluster(t, "a", "b", "c", "d")
	waitJoined(t, nodes, "a", "b", "c", "d")
	a, b, c, d := nodes[0], nodes[1], nodes[2], nodes[3]
	const ns, py = "com.js", "com.ex" // the JavaScript callee's URIs; cluster_client.py's

	subs := []*proc{clusterJS(t, "wampy", "subscribe", a, py), clusterJS(t, "autobahn", "subscribe", d, py)}
	for _, s := range subs {
		s.jsonLine(t, "ready")
	}
	startProc(t, ".", python, "testdata/wamp/cluster_client.py", "publish_every", wsURL(c), "tick")
	last := make([]int, len(subs)) // the last tick each subscriber got
	// tick reads subscriber i's next event: a tick, which must follow the last one, or the
	// marker (true).
	tick := func(i int, marker string) bool {
		t.Helper()
		ev := event(t, subs[i])
		x, _ := ev["event"].(string)
		if x == marker {
			return true
		}
		k, err := strconv.Atoi(strings.TrimPrefix(x, "tick-"))
		if err != nil {
			t.Fatalf("subscriber %d got %v", i, ev)
		}
		if last[i] != 0 && k != last[i]+1 {
			t.Errorf("subscriber %d got tick %d after tick %d: events lost", i, k, last[i])
		}
		last[i] = k
		return false
	}
	for i := range subs {
		tick(i, "")
	}

	callee := clusterJS(t, "autobahn", "callee", b, ns)
	callee.jsonLine(t, "ready")
	expect(t, clusterJSRun(t, "wampy", "call", a, ns, "add"), 5, "result")
	hang := clusterJS(t, "wampy", "hang", a, ns)
	hang.jsonLine(t, "calling")
	callee.jsonLine(t, "hanging")
	streams := []*proc{clusterJS(t, "autobahn", "stream", a, ns, "0"), clusterJS(t, "wampy", "stream", a, ns, "0")}
	for _, stream := range streams {
		for k := 1; k <= 2; k++ {
			expect(t, map[string]any{"progress": stream.jsonLine(t, "progress")}, k, "progress")
		}
	}
	calleeD := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(d))
	calleeD.jsonLine(t, "ready")
	expect(t, clusterJSRun(t, "autobahn", "call", b, py, "add"), 5, "result")
	clusterJS(t, "autobahn", "hang", b, py).jsonLine(t, "calling")
	calleeD.jsonLine(t, "hanging")

	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	<-b.done

	var end map[string]any
	hang.line(t, "the hanging call's end", func(l string) bool {
		return (strings.Contains(l, `"error"`) || strings.Contains(l, `"result"`)) && jsonInto(l, &end)
	})
	if e := time.Since(killed); e > nodeTimeout+slack {
		t.Errorf("the hanging call ended %v after the kill, over node_timeout %v + %v", e, nodeTimeout, slack)
	} else {
		t.Logf("the hanging call ended %v after the kill", e.Round(time.Millisecond))
	}
	expect(t, end, "wamp.error.canceled", "error")

	for _, stream := range streams {
		end = nil
		stream.line(t, "the stream's end", func(l string) bool {
			var m map[string]any
			return jsonInto(l, &m) && m["progress"] == nil && jsonInto(l, &end)
		})
		if e := time.Since(killed); e > nodeTimeout+slack {
			t.Errorf("the stream ended %v after the kill, over node_timeout %v + %v", e, nodeTimeout, slack)
		}
		expect(t, end, "wamp.error.canceled", "error")
		expect(t, streamAfter(t, stream), 0, "late")
	}

	calleeD.jsonLine(t, "interrupted")
	if e := time.Since(killed); e > nodeTimeout+slack {
		t.Errorf("the callee on D was interrupted %v after the kill, over node_timeout %v + %v", e, nodeTimeout, slack)
	}

	// The survivors' events went on through the kill and B's drop, tick after tick.
	for _, n := range []*node{a, c, d} {
		testkit.WaitFor(t, 2*testkit.Patience, "B dropped", func() bool { return logged(n, "cluster: node left", "b") })
	}
	// Every tick up to a marker published after that, then ten more.
	clusterPy(t, "publish", wsURL(c), "dropped")
	for i := range subs {
		for !tick(i, "dropped") {
		}
		for mark := last[i]; last[i] < mark+10; {
			tick(i, "")
		}
	}
	t.Logf("last ticks seen: %v", last)
}

// TestClusterPausedCalleeNode: node B is stopped (SIGSTOP) while a caller on A waits for a
// callee on B; A drops B after node_timeout and the caller gets wamp.error.canceled. When B
// goes on (SIGCONT), the callee on B is interrupted (the call it serves has no caller any
// more), calls from A reach B again, and B does not drop A for the heartbeats it could not
// read while stopped.
func TestClusterPausedCalleeNode(t *testing.T) {
	nodes := embeddedCluster(t, "a", "b")
	waitJoined(t, nodes, "a", "b")
	a, b := nodes[0], nodes[1]
	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(b))
	callee.jsonLine(t, "ready")
	expect(t, clusterPy(t, "call", wsURL(a)), 5, "result")
	caller := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "hang", wsURL(a))
	caller.jsonLine(t, "calling")
	callee.jsonLine(t, "hanging")

	_ = b.cmd.Process.Signal(syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			_ = b.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	testkit.WaitFor(t, 2*testkit.Patience, "A drops B", func() bool { return logged(a, "cluster: node left", "b") })
	var end map[string]any
	caller.line(t, "the call's end", func(l string) bool {
		return (strings.Contains(l, `"error"`) || strings.Contains(l, `"result"`)) && jsonInto(l, &end)
	})
	expect(t, end, "wamp.error.canceled", "error")

	_ = b.cmd.Process.Signal(syscall.SIGCONT)
	resumed = true
	callee.jsonLine(t, "interrupted")
	expect(t, clusterPy(t, "call", wsURL(a)), 5, "result")
	// B knows it was the one stopped: it gave A node_timeout again rather than dropping it.
	testkit.WaitFor(t, 2*testkit.Patience, "B's note of its stall", func() bool {
		return strings.Contains(b.logs.String(), "cluster: this node did not run for longer than node_timeout")
	})
	if logged(b, "cluster: node left", "a") {
		t.Errorf("B, stopped, dropped A:\n%s", b.logs.String())
	}
}
