package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serializers are the WAMP serializers every interop test runs over.
var serializers = []string{"json", "msgpack", "cbor"}

// pySerializers adds ubjson, which autobahn-python speaks with python3-ubjson (py-ubjson) and
// the JavaScript clients do not.
var pySerializers = append(serializers[:len(serializers):len(serializers)], "ubjson")

// wampNode writes a Crossbar node whose one web transport, on a free port, has a websocket
// path at /ws (no realms: they are created on first HELLO) and the root service given as JSON
// (a small json service when ""), and starts portico on it.
func wampNode(t *testing.T, root string) *node {
	t.Helper()
	dir := t.TempDir()
	if root == "" {
		root = `{"type": "json", "value": {"wamp": "/ws"}}`
	}
	cfg := fmt.Sprintf(`{
  "version": 2,
  "controller": {},
  "workers": [{
    "type": "router",
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
      "paths": {
        "/": %s,
        "ws": {"type": "websocket"}
      }
    }]
  }]
}`, freePort(t), root)
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir)
}

func wsURL(n *node) string { return "ws" + strings.TrimPrefix(n.base, "http") + "/ws" }

// pyClient runs testdata/wamp/client.py (autobahn-python, asyncio) and decodes the JSON object
// it prints last.
func pyClient(t *testing.T, args ...string) map[string]any {
	t.Helper()
	return pyScript(t, 4*time.Minute, "testdata/wamp/client.py", args...)
}

// pyScript runs a Python client script to its end (within bounds it: a hang guard, not a
// timing) and decodes the JSON object it prints last.
func pyScript(t *testing.T, within time.Duration, script string, args ...string) map[string]any {
	t.Helper()
	return runScript(t, within, ".", python, script, args...)
}

// runScript runs interpreter script args in dir to its end (within bounds it) and decodes the
// JSON object it prints last.
func runScript(t *testing.T, within time.Duration, dir, interpreter, script string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, interpreter, append([]string{script}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(script), args, err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

// lastJSON decodes the last line of out that is a JSON object (clients may log other lines).
func lastJSON(t *testing.T, out, logs string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if strings.HasPrefix(lines[i], "{") && json.Unmarshal([]byte(lines[i]), &m) == nil {
			return m
		}
	}
	t.Fatalf("no JSON result in output:\n%s\nlogs:\n%s", out, logs)
	return nil
}

// at walks a decoded JSON value along keys.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// expect compares one observation with its expected value, JSON-wise (numbers are float64).
func expect(t *testing.T, res map[string]any, want any, keys ...string) {
	t.Helper()
	got := at(res, keys...)
	wb, _ := json.Marshal(want)
	var w any
	_ = json.Unmarshal(wb, &w)
	if !reflect.DeepEqual(got, w) {
		gb, _ := json.Marshal(got)
		scenario, _ := json.Marshal(res[keys[0]])
		t.Errorf("%s: got %s, want %s\n(scenario: %s)", strings.Join(keys, "."), gb, wb, scenario)
	}
}

// TestWAMPAutobahnPython: autobahn-python from Debian over each serializer through the whole
// basic and advanced profile the router offers: RPC, pub/sub, prefix and wildcard
// subscriptions, black and white lists, shared registrations, progressive results, cancel,
// timeout and the meta API.
func TestWAMPAutobahnPython(t *testing.T) {
	t.Parallel()
	n := wampNode(t, "")
	for _, ser := range pySerializers {
		t.Run(ser, func(t *testing.T) {
			res := pyClient(t, "interop", wsURL(n), "interop."+ser, ser)

			expect(t, res, 5, "rpc", "add2")
			expect(t, res, []int{0, 1, 254, 255}, "rpc", "echo_bytes")
			expect(t, res, map[string]any{"nested": []any{1, "two", nil, true, 2.5}}, "rpc", "echo_kw")
			expect(t, res, 1<<53, "rpc", "echo_bigint")
			expect(t, res, map[string]any{"error": "com.example.oops", "args": []any{"bad thing", 7}}, "rpc", "oops")
			expect(t, res, "wamp.error.no_such_procedure", "rpc", "no_such_procedure")
			expect(t, res, "wamp.error.no_such_procedure", "rpc", "after_unregister")

			expect(t, res, []any{
				map[string]any{"args": []any{"hello", 1}, "kwargs": map[string]any{}},
				map[string]any{"args": []any{}, "kwargs": map[string]any{"key": "v"}},
			}, "pubsub", "events")
			expect(t, res, true, "pubsub", "acknowledged")
			expect(t, res, 1, "pubsub", "publisher_got") // exclude_me defaults to true

			expect(t, res, []any{
				map[string]any{"topic": "com.example.pfx.a", "args": []any{1}},
				map[string]any{"topic": "com.example.pfx.a.b", "args": []any{2}},
			}, "patterns", "prefix")
			expect(t, res, []any{map[string]any{"topic": "com.example.room1.temp", "args": []any{3}}}, "patterns", "wildcard")
			expect(t, res, "com.example.rpcpfx.deep.name", "patterns", "procedure")

			expect(t, res, []string{"eligible_b", "all"}, "lists", "b")
			expect(t, res, []string{"exclude_b", "all"}, "lists", "c")

			expect(t, res, []string{"a", "b", "a", "b"}, "shared", "sequence")
			expect(t, res, "wamp.error.procedure_already_exists", "shared", "mismatched_policy")

			expect(t, res, []int{1, 2, 3}, "progressive", "progress")
			expect(t, res, 4, "progressive", "result")

			expect(t, res, "cancelled", "cancel", "caller")
			expect(t, res, true, "cancel", "callee_interrupted")

			expect(t, res, "wamp.error.canceled", "timeout", "error")

			m := res["meta"]
			expect(t, res, 2, "meta", "session_count")
			expect(t, res, at(m, "sessions"), "meta", "session_list")
			expect(t, res, true, "meta", "registration_lookup_matches")
			expect(t, res, nil, "meta", "registration_lookup_missing")
			expect(t, res, []any{at(m, "callee")}, "meta", "callees")
			expect(t, res, true, "meta", "subscription_lookup_matches")
			expect(t, res, []any{at(m, "subscriber")}, "meta", "subscribers")
			expect(t, res, true, "meta", "session_get_id_matches")
		})
	}
}

// TestWAMPSeedExample: the seed's example directory, as shipped (realm1, path ws, no realms
// configured), accepts autobahn-python sessions with each serializer; a call and a publish
// go through, and the start-up log says realms are made on first HELLO.
func TestWAMPSeedExample(t *testing.T) {
	t.Parallel()
	n := start(t, seedNode(t))
	if !strings.Contains(n.logs.String(), "no realms configured") {
		t.Errorf("no warning about realms created on first HELLO:\n%s", n.logs.String())
	}
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			res := pyClient(t, "basic", wsURL(n), "realm1", ser)
			expect(t, res, 42, "call")
			expect(t, res, "hi "+ser, "event")
		})
	}
	// The Flask app is still served beside the router.
	if status, body := get(t, n.base+"/"); status != 200 || !strings.Contains(body, "Hello from Crossbar.io") {
		t.Fatalf("GET /: %d %q", status, body)
	}
}

// jsDir is where tests/js's pinned npm packages live (`make test-js` runs `npm ci` there).
func jsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"autobahn", "wampy", "ws", "autobahn-browser"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			t.Fatalf("tests/js/node_modules/%s is missing: run `make test-js` (npm ci in tests/js) first", p)
		}
	}
	return dir
}

// TestWAMPJavaScriptClients: AutobahnJS and wampy, in Node, call each other's procedures and
// receive each other's events through Portico, each client over each serializer. wampy's
// msgpack (msgpackr) and cbor (cbor-x) encoders send JavaScript's undefined for options it
// leaves unset (SUBSCRIBE {"match": undefined, "get_retained": undefined}), which the router
// must take as absent, as Crossbar does.
func TestWAMPJavaScriptClients(t *testing.T) {
	t.Parallel()
	dir := jsDir(t)
	n := wampNode(t, "")
	for _, wp := range serializers {
		for _, ab := range serializers {
			t.Run("autobahn-"+ab+"_wampy-"+wp, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, "node", "interop.mjs", wsURL(n), "js."+ab+"."+wp, ab, wp)
				cmd.Dir = dir
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("node interop.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
				}
				res := lastJSON(t, stdout.String(), stderr.String())
				expect(t, res, 5, "add2_called_by_wampy")
				expect(t, res, 42, "mul_called_by_autobahn")
				expect(t, res, "hello wampy", "wampy_got")
				expect(t, res, "com.example.js.pfx.deep", "wampy_prefix_topic")
				expect(t, res, "hello autobahn", "autobahn_got")
			})
		}
	}
}

// chromium finds Debian's chromium (Makefile APT_PKGS installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install the Debian package chromium (make deps does)")
	return ""
}

// proc is a helper process whose stdout lines the test reads as they come.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	logs  *syncBuffer
}

// startProc runs name with args in dir (its stderr kept for failure messages); it is killed,
// with its process group, when the test ends.
func startProc(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), lines: make(chan string, 16), logs: &syncBuffer{}}
	p.cmd.Dir = dir
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
	return p
}

// line waits for the next stdout line that satisfies ok.
func (p *proc) line(t *testing.T, what string, ok func(string) bool) string {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, open := <-p.lines:
			if !open {
				t.Fatalf("%s exited before %s:\n%s", p.cmd.Path, what, tail(p.logs.String()))
			}
			if ok(l) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %s from %s within 2 minutes:\n%s", what, p.cmd.Path, tail(p.logs.String()))
		}
	}
}

// jsonLine waits for the next stdout line that is a JSON object with key.
func (p *proc) jsonLine(t *testing.T, key string) any {
	t.Helper()
	var m map[string]any
	p.line(t, key, func(l string) bool {
		m = nil
		return json.Unmarshal([]byte(l), &m) == nil && m[key] != nil
	})
	return m[key]
}

// TestWAMPBrowser: contrib/examples/wamp-browser as shipped (with AutobahnJS's browser bundle
// put in web/): Portico serves the page with its static service, headless Chromium runs it,
// and the page calls the example's Python backend and exchanges events with it through the
// router. The page publishes what it saw; a Python subscriber reports it here.
func TestWAMPBrowser(t *testing.T) {
	t.Parallel()
	js := jsDir(t)
	browser := chromium(t)
	dir := t.TempDir()
	copyTree(t, "../contrib/examples/wamp-browser", dir)
	setPort(t, filepath.Join(dir, ".crossbar", "config.json"), freePort(t))
	bundle, err := os.ReadFile(filepath.Join(js, "node_modules", "autobahn-browser", "autobahn.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", "autobahn.min.js"), bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	if status, body := get(t, n.base+"/ws"); status != 200 || !strings.Contains(body, "wamp.2.json") {
		t.Fatalf("GET /ws (status page): %d %q", status, body)
	}

	backend := startProc(t, dir, python, "backend.py", wsURL(n))
	backend.line(t, "backend ready", func(l string) bool { return l == "backend ready" })
	abs, err := filepath.Abs("testdata/wamp/client.py")
	if err != nil {
		t.Fatal(err)
	}
	watcher := startProc(t, dir, python, abs, "await", wsURL(n), "realm1", "cbor", "com.example.browser.done")
	watcher.jsonLine(t, "ready")

	startProc(t, dir, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--no-first-run", "--disable-component-update",
		"--disable-sync", "--user-data-dir="+t.TempDir(), n.base+"/")

	got := watcher.jsonLine(t, "event")
	want := map[string]any{"add2": 42.0, "whoami": "python", "echoed": "hello from the browser", "protocol": "wamp.2.json"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the page saw %v, want %v", got, want)
	}
}

// TestWAMPShutdownSaysGoodbye: stopping portico ends live sessions with GOODBYE
// wamp.close.system_shutdown, which autobahn-python reports as the reason it left.
func TestWAMPShutdownSaysGoodbye(t *testing.T) {
	t.Parallel()
	n := wampNode(t, "")
	abs, err := filepath.Abs("testdata/wamp/client.py")
	if err != nil {
		t.Fatal(err)
	}
	s := startProc(t, ".", python, abs, "stay", wsURL(n), "realm1", "msgpack")
	s.jsonLine(t, "ready")
	n.stop(t, syscall.SIGTERM)
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("portico exit code %d", code)
	}
	if left := s.jsonLine(t, "left"); left != "wamp.close.system_shutdown" {
		t.Fatalf("session left with %v", left)
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
