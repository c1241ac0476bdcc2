package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestWSGIWebSocketNginxParity: a uwsgi app that serves WebSockets with
// uwsgi.websocket_handshake/websocket_recv/websocket_send works the same behind Portico's
// wsgi path as behind nginx's uwsgi_pass (Debian's uwsgi_params, no other directive): the
// same 101 head, the same echoes, and the connection ends when the app returns.
func TestWSGIWebSocketNginxParity(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	sock := startAppUWSGI(t, dir, "../gateway/testdata/wsapp.py")
	nginx := startNginx(t, dir, sock)
	node := filepath.Join(dir, "node")
	if err := os.MkdirAll(node, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("version = 2\n\n[[transport]]\nendpoint = { type = \"tcp\", port = %d, interface = \"127.0.0.1\" }\n\n  [transport.paths.\"/\"]\n  type = \"wsgi\"\n  upstream = \"unix:%s\"\n", freePort(t), sock)
	if err := os.WriteFile(filepath.Join(node, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	portico := strings.TrimPrefix(start(t, node, "--cbdir", node).base, "http://")

	type result struct {
		head   http.Header
		echoes []string
	}
	run := func(t *testing.T, addr string) result {
		// One frame per message: uWSGI's websocket_recv does not join fragments.
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, WriteBufferSize: 128 << 10}
		c, resp, err := d.Dial("ws://"+addr+"/chat", http.Header{"Origin": {"http://example.org"}})
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer c.Close()
		var r result
		r.head = http.Header{}
		// Sec-WebSocket-Accept differs with the key; the Dialer checked it.
		for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Origin"} {
			r.head[k] = resp.Header.Values(k)
		}
		for _, msg := range [][]byte{[]byte("hello"), []byte("ünïcode"), bytes.Repeat([]byte("x"), 100<<10)} {
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: read: %v", addr, err)
			}
			r.echoes = append(r.echoes, fmt.Sprintf("%d:%.10s", len(got), got))
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte("close")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err == nil {
			t.Fatalf("%s: the app returned, the connection is still open", addr)
		}
		return r
	}
	want := run(t, nginx)
	got := run(t, portico)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("through nginx:\n%v\nthrough Portico:\n%v", want, got)
	}
	t.Logf("both: %v", got)
}
