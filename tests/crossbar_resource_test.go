package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// resourceNode writes a project directory: the resource modules of testdata/resource beside
// .crossbar/config.json (cfg).
func resourceNode(t *testing.T, cfg string) string {
	t.Helper()
	dir := writeJSONNode(t, cfg)
	for _, f := range []string{"myresource.py", "probe.py"} {
		b, err := os.ReadFile(filepath.Join("testdata", "resource", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCrossbarResource runs crossbar-examples' benchmark/web node with two workers sharing its
// port: its resource path (myresource.MyResource, from the same example) answers as in
// Crossbar, beside the json path.
func TestCrossbarResource(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(corpus, "crossbar-examples", "benchmark_web_.crossbar_config_w2.json"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := strings.ReplaceAll(string(b), `"port": 8080,`, fmt.Sprintf(`"port": %d, "interface": "127.0.0.1",`, port))
	n := start(t, resourceNode(t, cfg))
	for path, want := range map[string]string{"/resource": "**********", "/resource?count=3": "***"} {
		if code, body := get(t, n.base+path); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want %q", path, code, body, want)
		}
	}
	if code, body := get(t, n.base+"/json"); code != 200 || !strings.Contains(body, `"nifty":"yes"`) {
		t.Errorf("GET /json = %d %q", code, body)
	}
}

// TestResourcePath: a resource on a nested path gets the request as Crossbar hands it over
// (prepath the mount, postpath the rest, the query, the body, the client's address, extra)
// and its answer's status, headers and body reach the client. The class runs in one Python
// process, which goes with Portico; a class that cannot be made stops the start with the
// path's place and the cause.
func TestResourcePath(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cfg := func(class string) string {
		return fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "options": {"pythonpath": [".."]},
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
    "paths": {"/": {"type": "json", "value": "root"},
              "api": {"type": "path", "paths": {"v1": {"type": "resource", "classname": %q, "extra": {"db": "x"}}}}}}]}]}`, port, class)
	}
	n := start(t, resourceNode(t, cfg("probe.Probe")))
	pids := pythonPIDs(n.cmd.Process.Pid)
	if len(pids) != 1 {
		t.Fatalf("python processes under portico: %v, want 1", pids)
	}
	resp, err := http.Post(n.base+"/api/v1/items/7?x=1&x=2", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Probe") != "yes" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST = %d %v %s", resp.StatusCode, resp.Header, b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for k, want := range map[string]any{
		"method": "POST", "uri": "/api/v1/items/7?x=1&x=2", "prepath": []any{"api", "v1"}, "postpath": []any{"items", "7"},
		"args": map[string]any{"x": []any{"1", "2"}}, "body": "hello", "client": "127.0.0.1", "extra": map[string]any{"db": "x"},
	} {
		if gb, wb := fmt.Sprint(got[k]), fmt.Sprint(want); gb != wb {
			t.Errorf("%s: got %s, want %s", k, gb, wb)
		}
	}
	if code, body := get(t, n.base+"/"); code != 200 || !strings.Contains(body, "root") {
		t.Errorf("GET / = %d %q", code, body)
	}
	n.stop(t, syscall.SIGTERM)
	waitGone(t, pids, 0)

	for class, want := range map[string]string{
		"nosuch.Thing":  "module 'nosuch' not found",
		"probe.Missing": "module probe has no 'Missing'",
		"probe.Broken":  "no database for the resource",
	} {
		out := runFailing(t, resourceNode(t, cfg(class)))
		if !strings.Contains(out, "workers[0].transports[0].paths.api.paths.v1") || !strings.Contains(out, want) {
			t.Errorf("%s: output lacks the place and %q:\n%s", class, want, out)
		}
	}
}
