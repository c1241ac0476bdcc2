package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// testeeClient runs testdata/testee/client.py (autobahn-python) against url.
func testeeClient(t *testing.T, url, scenario string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/testee/client.py", url, scenario)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client.py %s: %v\nstdout:\n%s\nstderr:\n%s", scenario, err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

// TestCrossbarWebSocketTestee runs crossbar-examples' benchmark/websocket node: four
// websocket-testee workers sharing one port with permessage-deflate, served once. An
// autobahn-python client negotiates permessage-deflate and gets back every message as it sent
// it (text, binary, 2 MiB, fragmented across characters, empty), and a text message that is
// not UTF-8 fails the connection with 1007; a plain GET gets the status page.
func TestCrossbarWebSocketTestee(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(corpus, "crossbar-examples", "benchmark_websocket_.crossbar_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := strings.ReplaceAll(string(b), `"port": 8080,`, fmt.Sprintf(`"port": %d, "interface": "127.0.0.1",`, port))
	if cfg == string(b) {
		t.Fatal("the example no longer listens on port 8080")
	}
	n := startJSON(t, cfg)
	url := fmt.Sprintf("ws://127.0.0.1:%d/", port)

	res := testeeClient(t, url, "echo")
	expect(t, res, []string{"permessage-deflate"}, "extensions")
	expect(t, res, []bool{true, true, true, true, true}, "echoed")
	expect(t, res, 1000, "close")

	res = testeeClient(t, url+"any/path", "invalid_utf8")
	expect(t, res, 1, "messages")
	expect(t, res, 1007, "close")

	code, body := get(t, n.base+"/")
	if code != 200 || !strings.Contains(body, "echo server") {
		t.Errorf("GET / = %d %q", code, body)
	}
	testkit.WaitFor(t, 0, "the log line about the shared port", func() bool {
		return strings.Contains(n.logs.String(), "shared port served once")
	})
}

// TestWebSocketTesteeOptions: a testee's websocket options apply: a message over
// max_message_size closes the connection with 1009 after the smaller one was echoed, the
// server pings a silent client (auto_ping_interval), and enable_webstatus false answers a
// plain GET with 426.
func TestWebSocketTesteeOptions(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	n := startJSON(t, fmt.Sprintf(`{
  "version": 2,
  "workers": [{
    "type": "websocket-testee",
    "options": {"title": "testee"},
    "transport": {
      "type": "websocket",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
      "options": {"max_message_size": 4096, "enable_webstatus": false, "auto_ping_interval": 200}
    }
  }]
}`, port))
	res := testeeClient(t, fmt.Sprintf("ws://127.0.0.1:%d/", port), "too_big")
	expect(t, res, 1, "messages")
	expect(t, res, 1009, "close")
	res = testeeClient(t, fmt.Sprintf("ws://127.0.0.1:%d/", port), "ping")
	expect(t, res, true, "pinged")
	expect(t, res, 1000, "close")
	if code, _ := get(t, n.base+"/"); code != 426 {
		t.Errorf("GET / = %d, want 426", code)
	}
}
