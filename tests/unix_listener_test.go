package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/internal/testkit"
)

// TestUnixListener: a web transport on a unix socket (as behind nginx's `proxy_pass
// http://unix:...`) serves a launched uwsgi's Flask page with HTTP/1.1 keep-alive, JSON, and
// WAMP over WebSocket; a client on the unix socket and one on the TCP transport share the
// router (an event published on one reaches the other). curl --unix-socket, when installed,
// gets the page too. The socket file is removed at stop.
func TestUnixListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, "../contrib/examples/flask", dir)
	sock := filepath.Join(dir, ".crossbar", "web.sock")
	port := freePort(t)
	cfg := fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "options": {"pythonpath": [".."]},
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
    {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [
    {"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
     "paths": {"/": {"type": "json", "value": "tcp"}, "ws": {"type": "websocket"}}},
    {"type": "web", "endpoint": {"type": "unix", "path": "web.sock"},
     "paths": {"/": {"type": "wsgi", "module": "myapp", "object": "app"},
               "info": {"type": "json", "value": {"over": "unix"}},
               "ws": {"type": "websocket"}}}
  ]}]}`, port)
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	if !strings.Contains(n.logs.String(), "addr="+sock) {
		t.Fatalf("no listener on %s:\n%s", sock, n.logs.String())
	}

	// HTTP: several requests over one unix connection.
	var dials atomic.Int32
	client := &http.Client{Timeout: testkit.Patience, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxConnsPerHost: 1,
	}}
	defer client.CloseIdleConnections()
	for _, tc := range []struct{ path, want string }{
		{"/", "<h1>Hello from Crossbar.io</h1>"},
		{"/info", `{"over":"unix"}`},
		{"/", "<h1>Hello from Crossbar.io</h1>"},
	} {
		resp, err := client.Get("http://portico" + tc.path)
		if err != nil {
			t.Fatalf("GET %s over the unix socket: %v", tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
			t.Fatalf("GET %s over the unix socket: %d %.200q", tc.path, resp.StatusCode, b)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests: keep-alive over the unix socket failed", n)
	}

	// WebSocket: a subscriber on the unix socket, a publisher on TCP.
	wampConn := func(d websocket.Dialer, url string) func(send, want string) {
		d.Subprotocols, d.HandshakeTimeout = []string{"wamp.2.json"}, 10*time.Second
		c, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		t.Cleanup(func() { c.Close() })
		return func(send, want string) {
			t.Helper()
			if send != "" {
				if err := c.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(testkit.Patience))
			_, b, err := c.ReadMessage()
			if err != nil || !strings.HasPrefix(string(b), want) {
				t.Fatalf("%s: sent %s, got %s (%v), want %s...", url, send, b, err, want)
			}
		}
	}
	sub := wampConn(websocket.Dialer{NetDial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", sock) }}, "ws://portico/ws")
	sub(`[1,"realm1",{"roles":{"subscriber":{}}}]`, "[2,")
	sub(`[32,1,{},"com.example.unix"]`, "[33,1,")
	pub := wampConn(websocket.Dialer{}, fmt.Sprintf("ws://127.0.0.1:%d/ws", port))
	pub(`[1,"realm1",{"roles":{"publisher":{}}}]`, "[2,")
	pub(`[16,1,{"acknowledge":true},"com.example.unix",["hello over unix"]]`, "[17,1,")
	sub("", "[36,")

	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--unix-socket", sock, "http://portico/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello from Crossbar.io") {
			t.Errorf("curl --unix-socket: %v\n%.300s", err, out)
		}
	}

	n.stop(t, syscall.SIGTERM)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the unix socket is left after stop: %v", err)
	}
}
