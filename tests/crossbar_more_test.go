package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portico/internal/testkit"
)

// TestCrossbarSharedPort: two router workers that repeat one web transport on one port with
// "shared": true (Crossbar's way to use two cores) and the same realms start; the port answers
// HTTP and WAMP with the realms of the workers, the second worker's own transport on another
// port is served by the same router, and the log says the port is served once.
func TestCrossbarSharedPort(t *testing.T) {
	t.Parallel()
	port, other := freePort(t), freePort(t)
	worker := func(cpu int, extra string) string {
		return fmt.Sprintf(`{
      "type": "router",
      "options": {"cpu_affinity": [%d]},
      "realms": [{"name": "shared.realm", "roles": [{"name": "anonymous", "allow-by-default": true}]}],
      "transports": [{
        "type": "web",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "shared": true, "backlog": 1024},
        "paths": {"/": {"type": "json", "value": {"hello": "shared"}}, "ws": {"type": "websocket"}}
      }%s]
    }`, cpu, port, extra)
	}
	cfg := fmt.Sprintf(`{"version": 2, "workers": [%s, %s]}`, worker(0, ""), worker(1, fmt.Sprintf(`, {
        "type": "websocket",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d}
      }`, other)))
	n := startJSON(t, cfg)
	code, body := get(t, n.base+"/")
	if code != 200 || !strings.Contains(body, `"hello":"shared"`) {
		t.Fatalf("GET / = %d %q", code, body)
	}
	res := pyClient(t, "basic", wsURL(n), "shared.realm", "json")
	expect(t, res, 42, "call")
	expect(t, res, "hi json", "event")
	res = pyClient(t, "basic", fmt.Sprintf("ws://127.0.0.1:%d/", other), "shared.realm", "cbor")
	expect(t, res, 42, "call")
	testkit.WaitFor(t, 0, "the log line about the shared port", func() bool {
		return strings.Contains(n.logs.String(), "shared port served once") && strings.Contains(n.logs.String(), "copies=[workers[1].transports[0]]")
	})
}

// startJSON writes cfg as the node's .crossbar/config.json in a temporary node directory and
// starts portico there.
func startJSON(t *testing.T, cfg string) *node {
	t.Helper()
	return start(t, writeJSONNode(t, cfg))
}

func writeJSONNode(t *testing.T, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCrossbarProxyWorker: a Crossbar proxy worker whose connection leads to the router
// worker's unix socket, routing realm proxied.realm: its web transport's websocket path serves
// an autobahn-python client with the router worker's realm (the proxy worker has none), the
// log says the router of this process serves it, and the warnings name the realm no route
// names and the router transport's anonymous-proxy method, which no client is offered.
func TestCrossbarProxyWorker(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	n := startJSON(t, fmt.Sprintf(`{"version": 2, "workers": [
  {
    "type": "router",
    "realms": [
      {"name": "proxied.realm", "roles": [{"name": "anonymous", "allow-by-default": true}]},
      {"name": "unrouted.realm", "roles": [{"name": "anonymous", "allow-by-default": true}]}
    ],
    "transports": [{"type": "rawsocket", "endpoint": {"type": "unix", "path": "router.sock"}, "auth": {"anonymous-proxy": {"type": "static"}}}]
  },
  {
    "type": "proxy",
    "connections": {"conn1": {"transport": {"type": "rawsocket", "endpoint": {"type": "unix", "path": "router.sock"}, "url": "ws://localhost", "serializer": "cbor"}, "auth": {"anonymous-proxy": {"type": "static"}}}},
    "routes": {"proxied.realm": {"anonymous": "conn1"}},
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
      "paths": {"/": {"type": "json", "value": {"proxy": true}}, "ws": {"type": "websocket"}}
    }]
  }
]}`, port))
	res := pyClient(t, "basic", fmt.Sprintf("ws://127.0.0.1:%d/ws", port), "proxied.realm", "msgpack")
	expect(t, res, 42, "call")
	expect(t, res, "hi msgpack", "event")
	logs := n.logs.String()
	for _, want := range []string{
		"proxy worker's transport served by this process's router",
		"proxy=workers[1] router=workers[0]",
		"no route for realm unrouted.realm",
		"auth.anonymous-proxy: offered to no client",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the log", want)
		}
	}
}
