package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portico/internal/testkit"
)

// startDynamicNode starts a node of cluster c1 from a TOML file with no [[realm]] (realms are
// made on HELLO), WAMP on /ws; nats is its [cluster.nats] table's body.
func startDynamicNode(t *testing.T, name, nats string) *node {
	t.Helper()
	cfg := fmt.Sprintf(`[cluster]
name = "c1"
node = %q
node_timeout = "1s"

  [cluster.nats]
  %s

[[transport]]
endpoint = { type = "tcp", interface = "127.0.0.1", port = %d }

  [transport.paths."/"]
  type = "json"
  value = {}

  [transport.paths.ws]
  type = "websocket"
`, name, nats, freePort(t))
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir)
}

// TestClusterDynamicRealms: three `portico start` processes whose TOML configures no realm;
// autobahn-python clients in realm dyn1: a caller on A calls a callee on B, a publication on
// A reaches subscribers on B and C, the meta API counts dyn1's sessions on every node; a
// realm used on C alone (solo) neither gets dyn1's events nor lends its own, nor counts; an
// event retained in dyn2 on A reaches a subscriber with get_retained on B, which had no dyn2
// when it was published.
func TestClusterDynamicRealms(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startDynamicNode(t, "a", fmt.Sprintf("embedded = { listen = %q }", natsAddr))
	url := fmt.Sprintf("url = %q", "nats://"+natsAddr)
	b := startDynamicNode(t, "b", url)
	c := startDynamicNode(t, "c", url)
	waitJoined(t, []*node{a, b, c}, "a", "b", "c")
	if !strings.Contains(a.logs.String(), "no realms configured") {
		t.Fatalf("node a runs configured realms; this test is about realms made on HELLO:\n%s", a.logs.String())
	}
	py := func(realm string, args ...string) *proc {
		t.Setenv("WAMP_REALM", realm) // the client inherits it when started
		return startProc(t, ".", python, append([]string{"testdata/wamp/cluster_client.py"}, args...)...)
	}
	pyRun := func(realm string, args ...string) map[string]any {
		t.Setenv("WAMP_REALM", realm)
		return clusterPy(t, args...)
	}

	// RPC: a callee on B, a caller on A.
	callee := py("dyn1", "callee", wsURL(b))
	callee.jsonLine(t, "ready")
	expect(t, pyRun("dyn1", "call", wsURL(a)), 5, "result")

	// Pub/sub across: subscribers on B and C, a publisher on A; a subscriber of the same
	// topic in solo, a realm of C alone, gets nothing of it.
	subB, subC, solo := py("dyn1", "subscribe", wsURL(b)), py("dyn1", "subscribe", wsURL(c)), py("solo", "subscribe", wsURL(c))
	for _, s := range []*proc{subB, subC, solo} {
		s.jsonLine(t, "ready")
	}
	event := func(s *proc) map[string]any {
		t.Helper()
		var ev map[string]any
		s.line(t, "an event", func(l string) bool { return strings.Contains(l, `"event"`) && jsonInto(l, &ev) })
		return ev
	}
	pyRun("dyn1", "publish", wsURL(a), "hello")
	for _, s := range []*proc{subB, subC} {
		expect(t, event(s), "hello", "event")
	}
	// C has delivered dyn1's event; had it reached solo, it would come before solo's own.
	pyRun("solo", "publish", wsURL(c), "solo-only")
	expect(t, event(solo), "solo-only", "event")
	pyRun("dyn1", "publish", wsURL(a), "hello2")
	for _, s := range []*proc{subB, subC} {
		expect(t, event(s), "hello2", "event") // not solo-only
	}

	// The meta API: dyn1's sessions on every node (the callee and the subscriber on B, the
	// subscriber on C, the caller on A), not solo's.
	expect(t, pyRun("dyn1", "meta", wsURL(a), "wamp.session.count", "[]"), 4, "result")
	expect(t, pyRun("solo", "meta", wsURL(c), "wamp.session.count", "[]"), 2, "result")

	// A retained event of dyn2, published on A while B has no dyn2, is B's when a subscriber
	// joins dyn2 there (the put to JetStream comes in the background: poll).
	expect(t, pyRun("dyn2", "retain", wsURL(a), "kept"), true, "published")
	var got map[string]any
	testkit.WaitFor(t, 2*testkit.Patience, "B gives dyn2's retained event", func() bool {
		got = pyRun("dyn2", "retained", wsURL(b))
		return got["event"] == "kept"
	})
	expect(t, got, true, "retained")
}
