package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portico/internal/testkit"
)

// retainedEvent runs the cluster client's "retained" mode on n: the first event a subscriber
// with get_retained gets on com.ex.retained ("end" when n has none retained).
func retainedEvent(t *testing.T, n *node) map[string]any {
	t.Helper()
	return clusterPy(t, "retained", wsURL(n))
}

// waitRetained waits until a subscriber on n gets want as the retained event (the
// publisher's node puts it into JetStream from a goroutine of its own, and n follows the
// bucket), and checks that it came as retained, from publisher.
func waitRetained(t *testing.T, n *node, want string, publisher any) {
	t.Helper()
	var got map[string]any
	testkit.WaitFor(t, 2*testkit.Patience, "the retained event "+want, func() bool {
		got = retainedEvent(t, n)
		return got["event"] == want
	})
	expect(t, got, true, "retained")
	expect(t, got, publisher, "publisher")
}

// TestClusterRetainedEmbedded: an event retained on A, whose embedded NATS server keeps
// the cluster's retained events (JetStream, in A's .crossbar/nats), reaches a subscriber with
// get_retained on C, started afterwards.
func TestClusterRetainedEmbedded(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startConfig(t, clusterConfig(t, "a", map[string]any{"embedded": map[string]any{"listen": natsAddr}}))
	pub := clusterPy(t, "retain", wsURL(a), "early")
	c := startConfig(t, clusterConfig(t, "c", map[string]any{"url": "nats://" + natsAddr}))
	waitRetained(t, c, "early", pub["session"])
	if _, err := os.Stat(filepath.Join(a.cmd.Dir, ".crossbar", "nats", "jetstream")); err != nil {
		t.Errorf("the embedded server's JetStream store is not in the node directory: %v", err)
	}
}

// TestClusterRetainedExternalJetStream: the same on an external nats-server with JetStream
// (-js -sd DIR); a newer retained event replaces the older on every node, those that run and
// one started afterwards.
func TestClusterRetainedExternalJetStream(t *testing.T) {
	bin := natsServer(t)
	port := freePort(t)
	srv := startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	url := map[string]any{"url": "nats://" + addr}
	a := startConfig(t, clusterConfig(t, "a", url))
	first := clusterPy(t, "retain", wsURL(a), "first")
	c := startConfig(t, clusterConfig(t, "c", url))
	waitRetained(t, c, "first", first["session"])

	second := clusterPy(t, "retain", wsURL(c), "second")
	b := startConfig(t, clusterConfig(t, "b", url))
	for _, n := range []*node{a, b, c} {
		waitRetained(t, n, "second", second["session"])
	}
	if l := a.logs.String(); strings.Contains(l, "has no JetStream") {
		t.Errorf("a node warned of no JetStream on nats-server -js:\n%s", l)
	}
}

// TestClusterRetainedNoJetStream: on an external nats-server without JetStream each node
// warns once at start and keeps retention per node: the publisher's node and a node alive at
// publication have the event, a node started afterwards does not.
func TestClusterRetainedNoJetStream(t *testing.T) {
	bin := natsServer(t)
	port := freePort(t)
	srv := startProc(t, t.TempDir(), bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.WaitDial(t, "tcp", addr, srv.logs.String)
	url := map[string]any{"url": "nats://" + addr}
	a := startConfig(t, clusterConfig(t, "a", url))
	b := startConfig(t, clusterConfig(t, "b", url))
	for _, n := range []*node{a, b} {
		testkit.WaitFor(t, 2*testkit.Patience, "the warning", func() bool {
			return strings.Contains(n.logs.String(), "the NATS server has no JetStream")
		})
	}
	testkit.WaitFor(t, 2*testkit.Patience, "a and b hear of each other", func() bool {
		return strings.Contains(a.logs.String(), "peer=b") && strings.Contains(b.logs.String(), "peer=a")
	})
	pub := clusterPy(t, "retain", wsURL(a), "local")
	waitRetained(t, a, "local", pub["session"])
	waitRetained(t, b, "local", pub["session"])
	c := startConfig(t, clusterConfig(t, "c", url))
	testkit.WaitFor(t, 2*testkit.Patience, "the warning on c", func() bool {
		return strings.Contains(c.logs.String(), "the NATS server has no JetStream")
	})
	expect(t, retainedEvent(t, c), "end", "event")
	for _, n := range []*node{a, b, c} {
		if k := strings.Count(n.logs.String(), "has no JetStream"); k != 1 {
			t.Errorf("the warning came %d times, want once:\n%s", k, n.logs.String())
		}
	}
}
