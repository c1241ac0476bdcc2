package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"portico/internal/testkit"
)

// TestCrossbarWSGIStarredPermission: the crossbar-examples wsgi node, as it is in the corpus,
// grants its anonymous role `"uri": "*"` without `match`: Crossbar reads it as the prefix ""
// (autobahn's convert_starred_uri), everything. An autobahn-python client registers, calls,
// subscribes and publishes there, and the WSGI app at "/" answers.
func TestCrossbarWSGIStarredPermission(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cbdir := filepath.Join(dir, ".crossbar")
	if err := os.MkdirAll(cbdir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(cbdir, "config.json")
	b, err := os.ReadFile(filepath.Join(corpus, "crossbar-examples", "wsgi_.crossbar_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	setPort(t, cfg, freePort(t))
	// The example's myapp.py is a Flask page; any WSGI callable named app in myapp will do.
	app := "def app(environ, start_response):\n" +
		"    start_response('200 OK', [('Content-Type', 'text/plain')])\n" +
		"    return [b'hello from myapp']\n"
	if err := os.WriteFile(filepath.Join(dir, "myapp.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	testkit.WaitFor(t, 0, "the WSGI app at /", func() bool {
		code, body := get(t, n.base+"/")
		return code == 200 && body == "hello from myapp"
	})
	res := pyClient(t, "basic", wsURL(n), "realm1", "json")
	expect(t, res, 42, "call")
	expect(t, res, "hi json", "event")
}

// TestCrossbarCorners: a node with what Crossbar accepts and Portico used to refuse. No "/"
// service (404 there), a static directory that does not exist yet (a warning; 404 until it
// appears, then served), the port from "$PORT", a second transport on the first free port of a
// `portrange`, keys Portico ignores (worker manhole, realm trace, service id, websocket
// validate_utf8), and no `version`.
func TestCrossbarCorners(t *testing.T) {
	dir := t.TempDir()
	cbdir := filepath.Join(dir, ".crossbar")
	if err := os.MkdirAll(cbdir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first port of the range is taken, so the transport must take a later one.
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	first := busy.Addr().(*net.TCPAddr).Port
	last := min(first+50, 65535)
	cfg := fmt.Sprintf(`{
  "controller": {},
  "workers": [{
    "type": "router",
    "manhole": {"endpoint": {"type": "tcp", "port": 6022}, "users": []},
    "realms": [{"name": "realm1", "trace": true, "roles": [{"name": "anonymous", "allow-by-default": true}]}],
    "transports": [
      {
        "type": "web",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": "$PORTICO_TEST_PORT"},
        "paths": {
          "info": {"type": "json", "id": "info", "value": {"ok": true}},
          "app": {"type": "static", "directory": "../web"},
          "ws": {"type": "websocket", "options": {"validate_utf8": true, "enable_hybi10": false}}
        }
      },
      {
        "type": "web",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "portrange": [%d, %d]},
        "paths": {"info": {"type": "json", "value": "second"}}
      }
    ]
  }]
}`, first, last)
	if err := os.WriteFile(filepath.Join(cbdir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	t.Setenv("PORTICO_TEST_PORT", strconv.Itoa(port))

	out, err := exec.Command(portico, "check", "--cbdir", cbdir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok (2 transport(s), 4 path service(s))") {
		t.Fatalf("portico check: %v\n%s", err, out)
	}
	want := "warning: config.json:13: workers[0].transports[0].paths.app.directory: " + filepath.Join(dir, "web") + " does not exist: the path answers 404 until it does"
	if !strings.Contains(string(out), want) {
		t.Errorf("portico check does not warn %q:\n%s", want, out)
	}

	n := start(t, dir)
	if !strings.Contains(n.base, ":"+strconv.Itoa(port)) {
		t.Fatalf("listening at %s, want port %d from $PORTICO_TEST_PORT", n.base, port)
	}
	if !strings.Contains(n.logs.String(), "does not exist: the path answers 404 until it does") {
		t.Errorf("no warning logged for the missing directory:\n%s", n.logs.String())
	}
	if code, body := get(t, n.base+"/info"); code != 200 || strings.TrimSpace(body) != `{"ok":true}` {
		t.Errorf("/info: %d %q", code, body)
	}
	if code, _ := get(t, n.base+"/"); code != 404 {
		t.Errorf("/ without a root service: %d, want 404", code)
	}
	if code, _ := get(t, n.base+"/app/index.html"); code != 404 {
		t.Errorf("/app/index.html before the directory exists: %d, want 404", code)
	}
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", "index.html"), []byte("built"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, n.base+"/app/index.html"); code != 200 || body != "built" {
		t.Errorf("/app/index.html once built: %d %q", code, body)
	}

	// The second transport: the first free port of the range, not the busy first one.
	var second int
	for _, m := range listenRE.FindAllStringSubmatch(n.logs.String(), -1) {
		_, p, _ := net.SplitHostPort(m[1])
		if pn, _ := strconv.Atoi(p); pn != port {
			second = pn
		}
	}
	if second <= first || second > last {
		t.Fatalf("portrange transport listens on %d, want in (%d, %d]:\n%s", second, first, last, n.logs.String())
	}
	if code, body := get(t, "http://127.0.0.1:"+strconv.Itoa(second)+"/info"); code != 200 || strings.TrimSpace(body) != `"second"` {
		t.Errorf("portrange transport /info: %d %q", code, body)
	}

	// allow-by-default: the anonymous role may do everything.
	res := pyClient(t, "basic", wsURL(n), "realm1", "msgpack")
	expect(t, res, 42, "call")
	expect(t, res, "hi msgpack", "event")
}
