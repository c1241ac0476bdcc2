package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/config"
	"portico/internal/testkit"
)

// wsEchoGateway runs uwsgi with testdata/wsapp.py (a uwsgi.websocket_handshake echo) and a
// gateway with it on the wsgi path /app, one upstream slot at a time.
func wsEchoGateway(t *testing.T) (base string) {
	return wsEchoGatewayRead(t, 0)
}

// wsEchoGatewayRead is wsEchoGateway with the path's read_timeout (0: the tests' default).
func wsEchoGatewayRead(t *testing.T, readTimeout time.Duration) (base string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ws.sock")
	runUWSGI(t, sock, "testdata/wsapp.py")
	svc := wsgiUpstream(sock)
	svc.WSGI.MaxConcurrency = 1
	svc.WSGI.ReadTimeout = readTimeout
	node := testNode(t, map[string]*config.Service{"app": svc})
	svc.WSGI.QueueTimeout = 2 * time.Second // long enough for a slot given back as the client sees the close
	return startGateway(t, node)
}

// TestWSGIWebSocket: a WebSocket upgrade on a wsgi path goes to the app, which answers it
// with uwsgi.websocket_handshake; messages then go both ways through Portico, as through
// nginx's uwsgi_pass. The connection holds its upstream slot until either side closes.
func TestWSGIWebSocket(t *testing.T) {
	t.Parallel()
	base := wsEchoGateway(t)
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/app/echo"

	// One frame per message, whatever its size: uWSGI's websocket_recv does not join a
	// fragmented message (RFC 6455 section 5.4), which the client's default 4 KiB write
	// buffer would make of the large ones.
	d := websocket.Dialer{WriteBufferSize: 256 << 10}
	c, resp, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, body(resp))
	}
	defer c.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB: many reads each way
	for i := range 50 {
		// uwsgi.websocket_send answers with text frames.
		msg := fmt.Appendf(nil, "hello %d", i)
		if i%10 == 9 {
			msg = fmt.Appendf(big, "%d", i)
		}
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gotTyp, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if gotTyp != websocket.TextMessage || !bytes.Equal(got, msg) {
			t.Fatalf("echo %d: type %d, %d bytes %q, want %d bytes", i, gotTyp, len(got), got[:min(len(got), 80)], len(msg))
		}
	}

	// The one upstream slot is the WebSocket's while it lives (each proxied WebSocket holds
	// a uwsgi worker thread): a plain request waits its queue_timeout and is refused.
	if r, err := http.Get(base + "/app/plain"); err != nil {
		t.Fatal(err)
	} else {
		_ = r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("plain request while the WebSocket holds the only slot: %d, want 503", r.StatusCode)
		}
	}

	// The app ends the connection: the client sees it closed, and the slot is free again.
	if err := c.WriteMessage(websocket.TextMessage, []byte("close")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("read after the app returned: no error")
	}
	plainServed(t, base)

	// The client ends it: uwsgi's websocket_recv fails, the app ends, the slot is free.
	c2, resp, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, body(resp))
	}
	if err := c2.WriteMessage(websocket.TextMessage, []byte("once")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c2.ReadMessage(); err != nil || string(got) != "once" {
		t.Fatalf("echo: %q %v", got, err)
	}
	c2.Close()
	plainServed(t, base)
}

// plainServed waits until a plain request on /app is answered by the app.
func plainServed(t *testing.T, base string) {
	t.Helper()
	testkit.CheckFor(t, 0, func() error {
		r, err := http.Get(base + "/app/plain")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || !strings.HasPrefix(string(b), "plain:") {
			return fmt.Errorf("status %d: %s", r.StatusCode, b)
		}
		return nil
	})
}

// TestWSGIWebSocketRefused: an app that answers an upgrade with anything but 101 has its
// answer relayed as any response, and the connection stays HTTP.
func TestWSGIWebSocketRefused(t *testing.T) {
	t.Parallel()
	base := wsEchoGateway(t)
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/app/refuse", nil)
	if err == nil {
		t.Fatal("upgrade the app refused: dialed")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden || body(resp) != "no websocket here" {
		t.Fatalf("refused upgrade: %v %+v", err, resp)
	}
	plainServed(t, base)
}

// TestWSGIWebSocketEarlyFrame: a frame the client sends together with its upgrade request,
// before it has seen the 101, reaches the app (it sat in the server's read buffer when the
// connection was taken over).
func TestWSGIWebSocketEarlyFrame(t *testing.T) {
	t.Parallel()
	base := wsEchoGateway(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A masked text frame "early" (RFC 6455 section 5.2), key 1 2 3 4.
	payload, key := []byte("early"), [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	req := "GET /app/echo HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a hang, not a measure
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("101 head: %d %v", resp.StatusCode, resp.Header)
	}
	// The echo: an unmasked text frame from the server.
	got := make([]byte, 2+len(payload))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0x81 || int(got[1]) != len(payload) || string(got[2:]) != "early" {
		t.Fatalf("echo frame % x", got)
	}
}

// TestWSGIWebSocketReadTimeout: an app silent for longer than the path's read_timeout has its
// WebSocket closed (nginx's uwsgi_read_timeout on an upgraded connection), and its slot is
// free again for the next request.
func TestWSGIWebSocketReadTimeout(t *testing.T) {
	t.Parallel()
	base := wsEchoGatewayRead(t, 200*time.Millisecond)
	// read_timeout bounds the wait for the app's 101 as well: on a busy machine the app may
	// take longer than 200 ms to answer (504), so the upgrade is tried until it gets through.
	var c *websocket.Conn
	testkit.CheckFor(t, 0, func() error {
		var resp *http.Response
		var err error
		if c, resp, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/app/echo", nil); err != nil {
			return fmt.Errorf("dial: %v (%s)", err, body(resp))
		}
		return nil
	})
	defer c.Close()
	// The app waits for a message that never comes (uWSGI pings only every 30 s).
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("read: no error, want the connection closed")
	}
	r, err := http.Get(base + "/app/plain")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.HasPrefix(string(b), "plain:") {
		t.Fatalf("plain request after the timeout: %d %s", r.StatusCode, b)
	}
}

// TestWSGIWebSocketMaxConnections: WebSockets relayed to a uwsgi app count against the
// transport's max_connections together with its WAMP WebSockets (fasthttp stops counting a
// connection once it is taken over): past it an upgrade on either path is refused with 503
// before the app is asked, plain requests are still served, and a closed relay gives its slot
// back. The same bound applies to the transport's HTTP connections, counted until fasthttp
// reports them closed or hijacked, which it does just after the client has seen the 101 or
// the refusal: the test waits for that count to settle before each dial that must reach a
// handler, or the listener itself would refuse it (a plain 503 before the request is read).
func TestWSGIWebSocketMaxConnections(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "ws.sock")
	runUWSGI(t, sock, "testdata/wsapp.py")
	node := testNode(t, map[string]*config.Service{"app": wsgiUpstream(sock), "ws": wsPath(nil, wsOptions())})
	node.Workers[0].Transports[0].Options.MaxConnections = 2
	g, base := startGatewayG(t, node)
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	slots := g.upgraded.of(transport0)
	httpConns := &g.servers[0].conns
	settled := func(atMost int64) {
		t.Helper()
		testkit.WaitFor(t, 0, fmt.Sprintf("at most %d HTTP connections counted", atMost),
			func() bool { return httpConns.Load() <= atMost })
	}

	var open []*websocket.Conn
	for range 2 {
		settled(0)
		c, resp, err := websocket.DefaultDialer.Dial(wsBase+"/app/echo", nil)
		if err != nil {
			t.Fatalf("dial: %v (%s)", err, body(resp))
		}
		open = append(open, c)
	}
	if n := slots.Load(); n != 2 {
		t.Fatalf("%d upgraded connections counted, want 2", n)
	}
	refused := func(url string, hdr http.Header) {
		t.Helper()
		settled(0)
		_, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body(resp), "too many WebSocket connections") {
			t.Fatalf("upgrade past max_connections on %s: %v %+v", url, err, resp)
		}
	}
	refused(wsBase+"/app/echo", nil)
	refused(wsBase+"/ws", http.Header{"Sec-WebSocket-Protocol": {"wamp.2.json"}})
	plainServed(t, base)

	open[0].Close()
	testkit.WaitFor(t, 0, "the closed relay's slot given back", func() bool { return slots.Load() == 1 })
	settled(1) // plainServed's client may keep its connection open
	c, resp, err := websocket.DefaultDialer.Dial(wsBase+"/app/echo", nil)
	if err != nil {
		t.Fatalf("dial after a close: %v (%s)", err, body(resp))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	c.Close()
	open[1].Close()
	testkit.WaitFor(t, 0, "every slot given back", func() bool { return slots.Load() == 0 })
}
