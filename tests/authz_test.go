package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// authzClient runs testdata/authz/client.py (autobahn-python) as authid with ticket against
// the websocket URL, calling proc when given, and returns what it observed.
func authzClient(t *testing.T, url, authid, ticket, proc string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"testdata/authz/client.py", url, authid, ticket}
	if proc != "" {
		args = append(args, proc)
	}
	cmd := exec.CommandContext(ctx, python, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

// crossbarExampleNode copies a node of testdata/authz-dynamic (crossbar-examples
// authorization/dynamic, unchanged) to a temporary directory, moves its port 8080 to a free
// one and starts it; it returns the node and its WebSocket URL.
func crossbarExampleNode(t *testing.T, variant string) (*node, string) {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata/authz-dynamic", variant), dir)
	cfg := filepath.Join(dir, ".crossbar", "config.json")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t))
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), "8080", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir), "ws://127.0.0.1:" + port + "/ws"
}

// TestAuthorizerCrossbarExampleContainer: crossbar-examples authorization/dynamic/container
// as it is. Its authorizer component registers com.example.auth; the app component's role is
// decided by it, so its REGISTER of com.example.test succeeds only through the authorizer; an
// autobahn-python client of that role calls it; the authorizer's own role is static and may
// not.
func TestAuthorizerCrossbarExampleContainer(t *testing.T) {
	t.Parallel()
	n, url := crossbarExampleNode(t, "container")
	testkit.WaitFor(t, 0, "both components joined", func() bool {
		l := n.logs.String()
		return strings.Contains(l, "(authorizer.Authorizer) joined realm") && strings.Contains(l, "(app.App) joined realm")
	})
	res := authzClient(t, url, "app", "secret456", "com.example.test")
	expect(t, res, "app", "authrole")
	expect(t, res, nil, "result")
	expect(t, res, nil, "error")
	res = authzClient(t, url, "authorizer", "secret123", "com.example.test")
	expect(t, res, "wamp.error.not_authorized", "error")
}

// TestAuthorizerCrossbarExampleEmbedded: crossbar-examples authorization/dynamic/embedded as
// it is: both are router components, started together, and the authorizer takes Crossbar's
// older three arguments (session, uri, action). The app's REGISTER waits for the authorizer
// to register, is retried with three arguments, and succeeds: the app joins (its onJoin
// would raise otherwise) and the node is ready.
func TestAuthorizerCrossbarExampleEmbedded(t *testing.T) {
	t.Parallel()
	n, _ := crossbarExampleNode(t, "embedded")
	testkit.WaitFor(t, 0, "both components joined", func() bool {
		l := n.logs.String()
		return strings.Contains(l, "(authorizer.Authorizer) joined realm") && strings.Contains(l, "(app.App) joined realm")
	})
	if l := n.logs.String(); !strings.Contains(l, "legacy authorizer takes (session, uri, action)") {
		t.Errorf("no log line about the three-argument authorizer:\n%s", l)
	}
}

// TestAuthorizerAutobahnPython: a dynamic authorizer (router component, testdata/authz) and
// an autobahn-python client of its role: allowed and not cached (asked for each call),
// allowed and cached (asked once for two calls), denied (not_authorized), and an authorizer
// that raises (authorization_failed, with its error in the message, and one log line).
func TestAuthorizerAutobahnPython(t *testing.T) {
	t.Parallel()
	here, err := filepath.Abs("testdata/authz")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := map[string]any{
		"version": 2,
		"workers": []any{map[string]any{
			"type":    "router",
			"options": map[string]any{"pythonpath": []string{here}},
			"realms": []any{map[string]any{"name": "realm1", "roles": []any{
				map[string]any{"name": "authorizer", "permissions": []any{map[string]any{
					"uri": "test.authz.", "match": "prefix", "allow": map[string]any{"register": true}}}},
				map[string]any{"name": "app", "authorizer": "test.authz.authorize"},
			}}},
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": port},
				"paths": map[string]any{
					"/": map[string]any{"type": "json", "value": map[string]any{}},
					"ws": map[string]any{"type": "websocket", "auth": map[string]any{"ticket": map[string]any{
						"type": "static", "principals": map[string]any{"alice": map[string]any{"ticket": "s3cret", "role": "app"}}}}},
				},
			}},
			"components": []any{map[string]any{"type": "class", "classname": "authorizer.Authorizer",
				"realm": "realm1", "role": "authorizer"}},
		}},
	}
	n := startConfig(t, cfg)
	res := authzClient(t, "ws://127.0.0.1:"+strconv.Itoa(port)+"/ws", "alice", "s3cret", "")
	expect(t, res, "app", "authrole")
	expect(t, res, nil, "error")
	expect(t, res, []int{0, 1}, "test.ok.echo")
	expect(t, res, []int{0, 1}, "test.cached.echo")
	expect(t, res, 2, "asked", "test.ok.echo")
	expect(t, res, 1, "asked", "test.cached.echo")
	expect(t, res, "wamp.error.not_authorized", "test.denied.x", "error")
	expect(t, res, "wamp.error.authorization_failed", "test.raise.x", "error")
	if msg, _ := at(res, "test.raise.x", "message").(string); !strings.Contains(msg, "database down") {
		t.Errorf("authorization_failed message %q does not carry the authorizer's error", msg)
	}
	testkit.WaitFor(t, 0, "the failure logged", func() bool {
		for _, l := range strings.Split(n.logs.String(), "\n") {
			if strings.Contains(l, `msg="router: dynamic authorization failed"`) && strings.Contains(l, "uri=test.raise.x") &&
				strings.Contains(l, "database down") {
				return true
			}
		}
		return false
	})
}
