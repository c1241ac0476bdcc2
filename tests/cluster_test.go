package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// clusterConfig is a node of cluster c1 with realm1 (anonymous may do anything) on a websocket
// path /ws; nats is its `cluster.nats` section.
func clusterConfig(t *testing.T, name string, nats any) map[string]any {
	return map[string]any{
		"version": 2,
		"cluster": map[string]any{"name": "c1", "node": name, "node_timeout": "1s", "nats": nats},
		"workers": []any{map[string]any{
			"type": "router",
			"realms": []any{map[string]any{"name": "realm1", "roles": []any{map[string]any{"name": "anonymous",
				"permissions": []any{map[string]any{"uri": "", "match": "prefix",
					"allow":    map[string]any{"call": true, "register": true, "publish": true, "subscribe": true},
					"disclose": map[string]any{"publisher": true, "caller": true}}}}}}},
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": freePort(t)},
				"paths": map[string]any{
					"/":  map[string]any{"type": "json", "value": map[string]any{}},
					"ws": map[string]any{"type": "websocket"},
				},
			}},
		}},
	}
}

// clusterPy runs testdata/wamp/cluster_client.py to its end and returns its last JSON line.
func clusterPy(t *testing.T, args ...string) map[string]any {
	t.Helper()
	return pyScript(t, 2*time.Minute, "testdata/wamp/cluster_client.py", args...)
}

// TestClusterThreeNodes: three `portico start` processes, one running the embedded NATS
// server, with autobahn-python clients spread over them.
func TestClusterThreeNodes(t *testing.T) {
	n := embeddedCluster(t, "a", "b", "c")
	clusterScenario(t, n[0], n[1], n[2])
}

// embeddedCluster starts one node per name, the first running the embedded NATS server the
// others connect to.
func embeddedCluster(t *testing.T, names ...string) []*node {
	t.Helper()
	return embeddedClusterWith(t, nil, names...)
}

// embeddedClusterWith is embeddedCluster with each node's clusterConfig changed by edit (nil:
// none).
func embeddedClusterWith(t *testing.T, edit func(cfg map[string]any), names ...string) []*node {
	t.Helper()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var nodes []*node
	for i, name := range names {
		nats := map[string]any{"url": "nats://" + natsAddr}
		if i == 0 {
			nats = map[string]any{"embedded": map[string]any{"listen": natsAddr}}
		}
		cfg := clusterConfig(t, name, nats)
		if edit != nil {
			edit(cfg)
		}
		nodes = append(nodes, startConfig(t, cfg))
	}
	return nodes
}

// waitJoined waits until each node has logged every other one (nodes[i] is names[i]) joining.
func waitJoined(t *testing.T, nodes []*node, names ...string) {
	t.Helper()
	for i, n := range nodes {
		for j, peer := range names {
			if i != j {
				testkit.WaitFor(t, 2*testkit.Patience, names[i]+" hears of "+peer, func() bool { return logged(n, "cluster: node joined", peer) })
			}
		}
	}
}

// logged reports whether a line of n's log has msg and the attribute peer=peer.
func logged(n *node, msg, peer string) bool {
	for _, l := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(l, msg) && slices.Contains(strings.Fields(l), "peer="+peer) {
			return true
		}
	}
	return false
}

// TestClusterExternalNATS: the same with a separate nats-server process (the Debian package's
// when installed, else built from the Go module Portico embeds).
func TestClusterExternalNATS(t *testing.T) {
	n := externalCluster(t, "a", "b", "c")
	clusterScenario(t, n[0], n[1], n[2])
}

// externalCluster starts a nats-server process and one node per name connected to it.
func externalCluster(t *testing.T, names ...string) []*node {
	t.Helper()
	bin := natsServer(t)
	port := freePort(t)
	srv := startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	var nodes []*node
	for _, name := range names {
		nodes = append(nodes, startConfig(t, clusterConfig(t, name, map[string]any{"url": "nats://" + addr})))
	}
	return nodes
}

// natsServer returns a nats-server binary: the Debian package's when installed, else one built
// from the Go module Portico embeds.
func natsServer(t *testing.T) string {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = filepath.Join(t.TempDir(), "nats-server")
		build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building nats-server: %v\n%s", err, out)
		}
	}
	return bin
}

// TestClusterNATSRestart: the external nats-server is killed (SIGKILL) under two nodes; each
// node's local routing goes on through the outage, and once nats-server is back on the same
// port the nodes find each other again: calls and events cross in both directions.
func TestClusterNATSRestart(t *testing.T) {
	bin := natsServer(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv := startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	url := map[string]any{"url": "nats://" + addr}
	a := startConfig(t, clusterConfig(t, "a", url))
	b := startConfig(t, clusterConfig(t, "b", url))
	testkit.WaitFor(t, 2*testkit.Patience, "a and b hear of each other", func() bool {
		return strings.Contains(a.logs.String(), "peer=b") && strings.Contains(b.logs.String(), "peer=a")
	})
	calleeA := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(a), "com.ex.local")
	calleeB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(b))
	subA := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(a))
	subB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(b))
	for _, p := range []*proc{calleeA, calleeB, subA, subB} {
		p.jsonLine(t, "ready")
	}
	expect(t, clusterPy(t, "call", wsURL(a)), 5, "result") // across, before the outage

	// The outage: both nodes lose NATS, then drop each other (node_timeout 1s).
	_ = srv.cmd.Process.Signal(syscall.SIGKILL)
	_ = srv.cmd.Wait()
	for _, x := range []struct {
		n    *node
		peer string
	}{{a, "peer=b"}, {b, "peer=a"}} {
		testkit.WaitFor(t, 2*testkit.Patience, "the outage seen", func() bool {
			l := x.n.logs.String()
			return strings.Contains(l, "cluster: disconnected from NATS") && strings.Contains(l, "cluster: node left") && strings.Contains(l, x.peer)
		})
	}
	// Local routing goes on: a call and an event on A, a call on B.
	expect(t, clusterPy(t, "call", wsURL(a), "com.ex.local"), 5, "result")
	expect(t, clusterPy(t, "call", wsURL(b)), 5, "result")
	clusterPy(t, "publish", wsURL(a), "during")
	var ev map[string]any
	subA.line(t, "the local event", func(l string) bool { return strings.Contains(l, `"during"`) && jsonInto(l, &ev) })
	expect(t, ev, "during", "event")

	// nats-server back on the same port: the nodes reconnect and rejoin.
	srv = startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	for _, n := range []*node{a, b} {
		testkit.WaitFor(t, 2*testkit.Patience, "the reconnection", func() bool {
			return strings.Contains(n.logs.String(), "cluster: reconnected to NATS")
		})
	}
	// Calls across, both ways (the client retries while the procedure is unknown, at most 60s).
	expect(t, clusterPy(t, "call", wsURL(a)), 5, "result")
	expect(t, clusterPy(t, "call", wsURL(b), "com.ex.local"), 5, "result")
	// Events across, both ways: a steady stream until the other node's subscriber has one.
	startProc(t, ".", python, "testdata/wamp/cluster_client.py", "publish_every", wsURL(a), "fromA")
	startProc(t, ".", python, "testdata/wamp/cluster_client.py", "publish_every", wsURL(b), "fromB")
	subB.line(t, "an event from A after the restart", func(l string) bool { return strings.Contains(l, `"fromA-`) })
	subA.line(t, "an event from B after the restart", func(l string) bool { return strings.Contains(l, `"fromB-`) })
}

// TestClusterTestamentOnSIGKILL: a session on node C adds a testament, C is killed with
// SIGKILL; the subscribers on A and B get the testament once (A, the lowest live name,
// publishes it; B does not).
func TestClusterTestamentOnSIGKILL(t *testing.T) {
	n := embeddedCluster(t, "a", "b", "c")
	a, b, c := n[0], n[1], n[2]
	subA := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(a))
	subB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(b))
	subA.jsonLine(t, "ready")
	subB.jsonLine(t, "ready")
	will := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "testament", wsURL(c), "will")
	session := will.jsonLine(t, "session")
	// A callee on C, registered after the testament: once A can call it, A has had the
	// heartbeat that carries the testament too.
	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(c))
	callee.jsonLine(t, "ready")
	expect(t, clusterPy(t, "call", wsURL(a)), 5, "result")
	expect(t, clusterPy(t, "call", wsURL(b)), 5, "result")

	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	for _, s := range []*proc{subA, subB} {
		var ev map[string]any
		s.line(t, "the testament", func(l string) bool { return strings.Contains(l, `"will"`) && jsonInto(l, &ev) })
		expect(t, ev, session, "publisher")
	}
	// Once: when A and B have both dropped C (and so decided whether to publish it), one
	// publication from each is the next thing each subscriber gets.
	for _, n := range []*node{a, b} {
		testkit.WaitFor(t, 2*testkit.Patience, "C dropped", func() bool { return logged(n, "cluster: node left", "c") })
	}
	clusterPy(t, "publish", wsURL(a), "afterA")
	clusterPy(t, "publish", wsURL(b), "afterB")
	for _, s := range []*proc{subA, subB} {
		seen := map[string]bool{}
		for len(seen) < 2 {
			var ev map[string]any
			s.line(t, "an event", func(l string) bool { return strings.Contains(l, `"event"`) && jsonInto(l, &ev) })
			x, _ := ev["event"].(string)
			if x != "afterA" && x != "afterB" {
				t.Fatalf("a subscriber got %v again", ev)
			}
			seen[x] = true
		}
	}
}

// TestClusterConfigMismatch: two nodes whose roles differ log it, naming each other and both
// hashes; a third with the same config as the first does not.
func TestClusterConfigMismatch(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startConfig(t, clusterConfig(t, "a", map[string]any{"embedded": map[string]any{"listen": natsAddr}}))
	url := map[string]any{"url": "nats://" + natsAddr}
	cfgB := clusterConfig(t, "b", url)
	realm := cfgB["workers"].([]any)[0].(map[string]any)["realms"].([]any)[0].(map[string]any)
	realm["roles"] = append(realm["roles"].([]any), map[string]any{"name": "backend", "permissions": []any{}})
	b := startConfig(t, cfgB)
	c := startConfig(t, clusterConfig(t, "c", url))
	mismatch := func(n *node, peer string) string {
		for _, l := range strings.Split(n.logs.String(), "\n") {
			if strings.Contains(l, "another realm and role configuration") && strings.Contains(l, "peer="+peer+" ") {
				return l
			}
		}
		return ""
	}
	var la, lb string
	testkit.WaitFor(t, 2*testkit.Patience, "the mismatch logged on a and b", func() bool {
		la, lb = mismatch(a, "b"), mismatch(b, "a")
		return la != "" && lb != ""
	})
	for _, x := range []struct{ line, node string }{{la, "a"}, {lb, "b"}} {
		if !strings.Contains(x.line, "level=ERROR") || !strings.Contains(x.line, "node="+x.node+" ") ||
			!strings.Contains(x.line, "peer_config_hash=") || !strings.Contains(x.line, " config_hash=") {
			t.Errorf("the line does not name both nodes and both hashes: %s", x.line)
		}
	}
	testkit.WaitFor(t, 2*testkit.Patience, "c hears of a", func() bool { return strings.Contains(c.logs.String(), "peer=a") })
	if l := mismatch(c, "a"); l != "" {
		t.Errorf("c, with a's config, logged a mismatch: %s", l)
	}
}

func clusterScenario(t *testing.T, a, b, c *node) {
	waitJoined(t, []*node{a, b, c}, "a", "b", "c")

	// Pub/sub: subscribers on B and C get what a session on A publishes, publisher disclosed.
	subB := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(b))
	subC := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "subscribe", wsURL(c))
	subB.jsonLine(t, "ready")
	subC.jsonLine(t, "ready")
	pub := clusterPy(t, "publish", wsURL(a), "hello")
	for _, s := range []*proc{subB, subC} {
		var ev map[string]any
		s.line(t, "event", func(l string) bool { return strings.Contains(l, `"event"`) && jsonInto(l, &ev) })
		expect(t, ev, "hello", "event")
		expect(t, ev, pub["session"], "publisher")
	}

	// RPC: a caller on A calls a procedure registered on C.
	callee := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "callee", wsURL(c))
	callee.jsonLine(t, "ready")
	res := clusterPy(t, "call", wsURL(a))
	expect(t, res, 5, "result")

	// C killed (SIGKILL) while it serves a call from A: the caller gets wamp.error.canceled once
	// A stops hearing C's heartbeats (node_timeout 1s), not never.
	caller := startProc(t, ".", python, "testdata/wamp/cluster_client.py", "hang", wsURL(a))
	caller.jsonLine(t, "calling")
	callee.jsonLine(t, "hanging")
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	var end map[string]any
	caller.line(t, "the call's end", func(l string) bool {
		return (strings.Contains(l, `"error"`) || strings.Contains(l, `"result"`)) && jsonInto(l, &end)
	})
	expect(t, end, "wamp.error.canceled", "error")

	// A reload that changes the cluster section is refused (the node keeps running as it is).
	cfg := filepath.Join(a.cmd.Dir, ".crossbar", "config.json")
	old, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, bytes.Replace(old, []byte(`"node_timeout": "1s"`), []byte(`"node_timeout": "2s"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitFor(t, 2*testkit.Patience, "the refusal", func() bool {
		return strings.Contains(a.logs.String(), "reload: cluster changed; restart Portico to apply it")
	})
}

// jsonInto decodes line into *m and reports whether it was a JSON object.
func jsonInto(line string, m *map[string]any) bool { return json.Unmarshal([]byte(line), m) == nil }
