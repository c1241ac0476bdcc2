package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
)

// wsOptions are the websocket options with the defaults config applies.
// wsOptions are a websocket path's options as a test starts them: none set, so that config's
// defaults apply where the transport is built (testNode, config.TransportWithDefaults).
func wsOptions() config.WebSocketOptions { return config.WebSocketOptions{} }

func wsPath(serializers []string, o config.WebSocketOptions) *config.Service {
	if serializers == nil {
		serializers = []string{"json", "msgpack", "cbor"}
	}
	return &config.Service{Type: "websocket", WebSocket: &config.WebSocket{Serializers: serializers, Options: o}}
}

// wsGateway runs a whole gateway with a websocket path at /ws and returns ws://host:port/ws.
func wsGateway(t *testing.T, svc *config.Service) string {
	t.Helper()
	base := startGateway(t, testNode(t, map[string]*config.Service{"ws": svc}))
	return "ws" + strings.TrimPrefix(base, "http") + "/ws"
}

// echoSession stands in for the router where a test checks the transport alone: every message
// read is written back.
func echoSession(t router.Transport, _ router.PeerInfo) error {
	for {
		b, err := t.ReadMessage()
		if err != nil {
			return err
		}
		if err := t.WriteMessage(b); err != nil {
			return err
		}
	}
}

// echoServer serves one websocket service whose sessions echo, and returns its ws:// URL.
func echoServer(t *testing.T, serializers []string, o config.WebSocketOptions) string {
	t.Helper()
	return sessionServer(t, serializers, o, echoSession)
}

// sessionServer serves one websocket service whose sessions run session.
func sessionServer(t testing.TB, serializers []string, o config.WebSocketOptions, session func(router.Transport, router.PeerInfo) error) string {
	t.Helper()
	var w io.Writer = io.Discard
	if tt, ok := t.(*testing.T); ok {
		w = testWriter{tt}
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ref := &routerRef{r: router.New(router.Options{Log: log}), conns: map[cutter]struct{}{}}
	svc := wsPath(serializers, o)
	svc.Place = "ws"
	tr := config.TransportWithDefaults(&config.Transport{Options: config.WebOptions{WriteTimeout: 5 * time.Second},
		Paths: map[string]*config.Service{"ws": svc}})
	s, err := newWebSocketService(svc, tr, ref, &pendingUpgrades{}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.serveSession = session
	srv := &fasthttp.Server{KeepHijackedConns: true, Handler: func(ctx *fasthttp.RequestCtx) {
		if err := s.serve(ctx, nil); err != nil {
			fail(ctx, log, s.place(), err)
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
		ref.close()
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

func dial(t testing.TB, url string, protos []string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, hdr)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func body(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWebSocketNegotiation: the subprotocol is the first of the client's offers the path
// serves (client order, not the server's); no offer is wamp.2.json without naming it, as with
// Crossbar; an offer of only unknown subprotocols is refused with 400 and the list served.
func TestWebSocketNegotiation(t *testing.T) {
	t.Parallel()
	all := wsGateway(t, wsPath(nil, wsOptions()))
	cborOnly := func() string { return wsGateway(t, wsPath([]string{"cbor"}, wsOptions())) }()
	for _, tc := range []struct {
		name   string
		url    string
		offer  []string
		status int
		proto  string
	}{
		{"client order", all, []string{"wamp.2.cbor", "wamp.2.json"}, 101, "wamp.2.cbor"},
		{"client order 2", all, []string{"wamp.2.json", "wamp.2.cbor"}, 101, "wamp.2.json"},
		{"batched", all, []string{"wamp.2.msgpack.batched", "wamp.2.json"}, 101, "wamp.2.msgpack.batched"},
		{"skips unknown", all, []string{"wamp.2.flatbuffers", "mqtt", "wamp.2.msgpack"}, 101, "wamp.2.msgpack"},
		{"no offer", all, nil, 101, ""},
		{"only unknown", all, []string{"wamp.2.flatbuffers", "wamp.1.json"}, 400, ""},
		{"path restricts", cborOnly, []string{"wamp.2.json", "wamp.2.msgpack"}, 400, ""},
		{"path restricts, no offer", cborOnly, nil, 400, ""},
		{"path restricts, batched", cborOnly, []string{"wamp.2.json", "wamp.2.cbor.batched"}, 101, "wamp.2.cbor.batched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := dial(t, tc.url, tc.offer, nil)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%v): %s", resp.StatusCode, tc.status, err, body(resp))
			}
			if tc.status != 101 {
				if b := body(resp); !strings.Contains(b, "only speaks WebSocket subprotocols wamp.2.") {
					t.Errorf("refusal body %q does not name the subprotocols served", b)
				}
				return
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.proto {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tc.proto)
			}
			if c.Subprotocol() != tc.proto {
				t.Errorf("client sees %q", c.Subprotocol())
			}
		})
	}
}

// TestWebSocketOrigin: allowed_origins patterns are matched against scheme://host:port as in
// autobahn; the null origin needs allow_null_origin; a refusal is 403.
func TestWebSocketOrigin(t *testing.T) {
	t.Parallel()
	o := wsOptions()
	o.AllowedOrigins = []string{"https://*.example.com:*", "http://localhost:8080"}
	strict := wsGateway(t, wsPath(nil, o))
	o.AllowNullOrigin = true
	nullOK := wsGateway(t, wsPath(nil, o))
	open := wsGateway(t, wsPath(nil, wsOptions()))
	for _, tc := range []struct {
		url, origin string
		status      int
	}{
		{strict, "", 101},
		{strict, "https://app.example.com", 101},
		{strict, "https://a.b.example.com:8443", 101},
		{strict, "http://localhost:8080", 101},
		{strict, "http://localhost", 403}, // port 80 is not 8080
		{strict, "http://app.example.com", 403},
		{strict, "https://example.com.evil.org", 403},
		{strict, "null", 403},
		{strict, "file:///home/me/page.html", 403},
		{nullOK, "null", 101},
		{nullOK, "file:///home/me/page.html", 101},
		{open, "https://anything.example.org", 101},
		{open, "null", 403}, // autobahn: nothing matches the null origin, "*" neither
	} {
		t.Run(tc.origin, func(t *testing.T) {
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			_, resp, err := dial(t, tc.url, []string{"wamp.2.json"}, hdr)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("origin %q: status %d, want %d: %s", tc.origin, resp.StatusCode, tc.status, body(resp))
			}
		})
	}
}

// TestWebSocketStatusPage: a plain GET answers the status page (or 426 when it is off);
// other methods are 405.
func TestWebSocketStatusPage(t *testing.T) {
	t.Parallel()
	on := wsGateway(t, wsPath([]string{"json", "cbor"}, wsOptions()))
	offSvc := wsPath(nil, wsOptions())
	offNode := testNode(t, map[string]*config.Service{"ws": offSvc})
	offSvc.WebSocket.Options.EnableWebStatus = false // after the defaults: false is one
	off := "ws" + strings.TrimPrefix(startGateway(t, offNode), "http") + "/ws"
	httpURL := func(ws string) string { return "http" + strings.TrimPrefix(ws, "ws") }

	resp, err := http.Get(httpURL(on))
	if err != nil {
		t.Fatal(err)
	}
	b := body(resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(b, "wamp.2.json, wamp.2.cbor, wamp.2.json.batched, wamp.2.cbor.batched") || strings.Contains(b, "msgpack") {
		t.Errorf("status page: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	resp, err = http.Get(httpURL(off))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 426 || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("status page off: %d, Upgrade %q: %s", resp.StatusCode, resp.Header.Get("Upgrade"), body(resp))
	}
	resp, err = http.Post(httpURL(on), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 405 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	// A handshake with a version other than 13 is refused (RFC 6455 section 4.4).
	req, _ := http.NewRequest("GET", httpURL(on), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "8")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(resp); resp.StatusCode != 400 || !strings.Contains(b, "speaks 13") {
		t.Errorf("version 8: %d %q", resp.StatusCode, b)
	}
}

// TestWebSocketFrames: json travels in text frames, msgpack and cbor in binary ones; batched
// frames are split into messages, and each message goes back in a batch of its own.
func TestWebSocketFrames(t *testing.T) {
	t.Parallel()
	url := echoServer(t, nil, wsOptions())
	for _, tc := range []struct {
		proto    string
		kind     int
		send     []byte
		want     [][]byte
		wantKind int
	}{
		{"wamp.2.json", websocket.TextMessage, []byte(`[1,"realm1",{}]`), [][]byte{[]byte(`[1,"realm1",{}]`)}, websocket.TextMessage},
		{"wamp.2.msgpack", websocket.BinaryMessage, []byte{0x93, 1, 0xa1, 'r', 0x80}, [][]byte{{0x93, 1, 0xa1, 'r', 0x80}}, websocket.BinaryMessage},
		{"wamp.2.cbor", websocket.BinaryMessage, []byte{0x83, 1, 0x61, 'r', 0xa0}, [][]byte{{0x83, 1, 0x61, 'r', 0xa0}}, websocket.BinaryMessage},
		{"wamp.2.json.batched", websocket.TextMessage, []byte("[1]\x1e[2,3]\x18"), [][]byte{[]byte("[1]\x18"), []byte("[2,3]\x18")}, websocket.TextMessage}, // 0x1e and 0x18 read, 0x18 (autobahn-python's) written
		{"wamp.2.cbor.batched", websocket.BinaryMessage, []byte{0, 0, 0, 1, 0x80, 0, 0, 0, 2, 0x81, 1},
			[][]byte{{0, 0, 0, 1, 0x80}, {0, 0, 0, 2, 0x81, 1}}, websocket.BinaryMessage},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			c, _, err := dial(t, url, []string{tc.proto}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WriteMessage(tc.kind, tc.send); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				kind, b, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if kind != tc.wantKind || !bytes.Equal(b, w) {
					t.Fatalf("got frame %d %q, want %d %q", kind, b, tc.wantKind, w)
				}
			}
		})
	}
}

// TestWebSocketEarlyFrames: a client that sends its first frames in the same packet as its
// upgrade request, before the 101 (RFC 6455 section 4.1 says it must wait, some do not),
// still has them read: the upgrade takes them out of fasthttp's request buffer first.
func TestWebSocketEarlyFrames(t *testing.T) {
	t.Parallel()
	url := echoServer(t, nil, wsOptions())
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := func(p string) string { // a masked text frame with a zero key (RFC 6455 section 5.2)
		return string([]byte{0x81, 0x80 | byte(len(p)), 0, 0, 0, 0}) + p
	}
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req+frame(`[1,"a",{}]`)+frame(`[1,"b",{}]`)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	want := "\x81\x0a[1,\"a\",{}]\x81\x0a[1,\"b\",{}]"
	buf := make([]byte, 1024)
	for !strings.HasSuffix(got.String(), want) {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read %q: %v", got.String(), err)
		}
	}
	if !strings.HasPrefix(got.String(), "HTTP/1.1 101 ") {
		t.Fatalf("response %q", got.String())
	}
}

// unevenReader returns at most n bytes per Read, as a network connection may.
type unevenReader struct {
	r io.Reader
	n int
}

func (u *unevenReader) Read(p []byte) (int, error) { return u.r.Read(p[:min(len(p), u.n)]) }

// TestReadMessage: a message is read whole up to the limit, and one byte more is the read
// limit error, around every size where the buffer changes shape (512 bytes, 1 MiB chunks).
func TestReadMessage(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 511, 512, 513, 1 << 20, 1<<20 + 1, 3<<20 + 5} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		for _, limit := range []int{0, size, size + 1, size - 1} {
			if limit < 0 || (limit == 0 && size == 0) {
				continue
			}
			for _, step := range []int{1 << 30, 7001} {
				b, err := readMessage(&unevenReader{bytes.NewReader(msg), step}, limit)
				switch {
				case limit > 0 && size > limit:
					if !errors.Is(err, websocket.ErrReadLimit) {
						t.Errorf("size %d, limit %d, step %d: %v, want the read limit", size, limit, step, err)
					}
				case err != nil || !bytes.Equal(b, msg):
					t.Errorf("size %d, limit %d, step %d: %d bytes, %v", size, limit, step, len(b), err)
				}
			}
		}
	}
}

// TestWebSocketMaxMessageSize: a message over max_message_size closes the connection with
// 1009 (RFC 6455 section 7.4.1); one at the limit passes.
func TestWebSocketMaxMessageSize(t *testing.T) {
	t.Parallel()
	o := wsOptions()
	o.MaxMessageSize = 1024
	c, _, err := dial(t, echoServer(t, nil, o), []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := bytes.Repeat([]byte("a"), 1024)
	if err := c.WriteMessage(websocket.TextMessage, ok); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := c.ReadMessage(); err != nil || !bytes.Equal(b, ok) {
		t.Fatalf("message at the limit: %v (%d bytes back)", err, len(b))
	}
	if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("b"), 1025)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after an oversized message: %v, want close 1009", err)
	}
}

// TestWebSocketAutoPing: a client that answers pings stays; one that does not is cut after
// auto_ping_timeout, without a closing handshake. The answering client gets a timeout it
// meets however busy the machine; the silent one a short one.
func TestWebSocketAutoPing(t *testing.T) {
	t.Parallel()
	o := wsOptions()
	o.AutoPingInterval = 20 * time.Millisecond
	o.AutoPingTimeout = 40 * time.Millisecond
	url := echoServer(t, nil, o)
	o.AutoPingTimeout = testkit.Patience / 2
	patient := echoServer(t, nil, o)

	t.Run("answers", func(t *testing.T) {
		c, _, err := dial(t, patient, []string{"wamp.2.json"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var pings atomic.Int32
		c.SetPingHandler(func(data string) error {
			pings.Add(1)
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		})
		// Keep reading (pings are handled inside reads); after enough pings the session is
		// still there and echoes.
		for deadline := time.Now().Add(testkit.Patience); pings.Load() < 10; {
			if err := c.WriteMessage(websocket.TextMessage, []byte("[9]")); err != nil {
				t.Fatalf("after %d pings: %v", pings.Load(), err)
			}
			_ = c.SetReadDeadline(time.Now().Add(testkit.Patience))
			if _, _, err := c.ReadMessage(); err != nil {
				t.Fatalf("after %d pings: %v", pings.Load(), err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d pings in %v", pings.Load(), testkit.Patience)
			}
		}
	})
	t.Run("silent", func(t *testing.T) {
		c, _, err := dial(t, url, []string{"wamp.2.json"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var pings atomic.Int32
		c.SetPingHandler(func(string) error { pings.Add(1); return nil })
		if err := c.WriteMessage(websocket.TextMessage, []byte("[1]")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("got close %d, want the connection dropped", ce.Code)
		}
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("silent client not cut: %v", err)
		}
		if pings.Load() == 0 {
			t.Fatal("cut without a ping")
		}
	})
}

// TestWebSocketOpenHandshakeTimeout: a client that upgrades and then says nothing is cut after
// open_handshake_timeout.
func TestWebSocketOpenHandshakeTimeout(t *testing.T) {
	t.Parallel()
	o := wsOptions()
	o.OpenHandshakeTimeout = 50 * time.Millisecond
	c, _, err := dial(t, echoServer(t, nil, o), []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, _, err = c.ReadMessage()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle client not cut: %v", err)
	}
}

// TestWebSocketCompression: permessage-deflate is negotiated when the path enables it, and
// messages pass through it.
func TestWebSocketCompression(t *testing.T) {
	t.Parallel()
	o := wsOptions()
	o.Compression = true
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, EnableCompression: true, HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(echoServer(t, nil, o), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	msg := []byte(`[16,1,{},"com.example.topic",["` + strings.Repeat("compressible ", 1000) + `"]]`)
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := c.ReadMessage(); err != nil || !bytes.Equal(b, msg) {
		t.Fatalf("echo through deflate: %v", err)
	}

	// max_message_size holds for the inflated message, not only for the bytes on the wire.
	o.MaxMessageSize = 4096
	c, _, err = d.Dial(echoServer(t, nil, o), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil { // ~13 kB, deflates to ~100 bytes
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("inflated message over max_message_size: %v, want close 1009", err)
	}
}

// TestWebSocketShutdownCutsSessions: closing the router's reference ends the sessions it
// serves, also those the router did not end itself.
func TestWebSocketShutdownCutsSessions(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ref := &routerRef{r: router.New(router.Options{Log: log}), conns: map[cutter]struct{}{}}
	svc := wsPath(nil, wsOptions())
	tr := config.TransportWithDefaults(&config.Transport{Paths: map[string]*config.Service{"ws": svc}})
	s, err := newWebSocketService(svc, tr, ref, &pendingUpgrades{}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.serveSession = echoSession
	srv := &fasthttp.Server{KeepHijackedConns: true, Handler: func(ctx *fasthttp.RequestCtx) { _ = s.serve(ctx, nil) }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	c, _, err := dial(t, "ws://"+ln.Addr().String()+"/", []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("[1]")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	ref.close() // returns once every session is over
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("session still open after close")
	}
}

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "https://x:1", true},
		{"https://*.example.com:*", "https://a.example.com:443", true},
		{"https://*.example.com:*", "https://example.com:443", false},
		{"https://*.example.com:*", "https://a.example.com.evil:443", false},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://localhost:8080", "http://localhost:80800", false},
		{"a*b*c", "aXXbYYbZZc", true},
		{"a*b*c", "aXXbYYbZZ", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := wildcardMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// FuzzNegotiate: whatever Sec-WebSocket-Protocol says, the answer is one the path serves, or
// nothing with a refusal.
func FuzzNegotiate(f *testing.F) {
	allowed := []string{"wamp.2.json", "wamp.2.cbor", "wamp.2.json.batched"}
	for _, s := range []string{"", "wamp.2.json", "wamp.2.cbor, wamp.2.json", " ,,wamp.2.ubjson ,", "\x00,wamp.2.json.batched"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, offered := negotiate([][]byte{[]byte(h)}, allowed)
		if p != "" && !slices.Contains(allowed, p) {
			t.Fatalf("negotiated %q", p)
		}
		if p != "" && offered && !strings.Contains(h, p) {
			t.Fatalf("negotiated %q, not offered in %q", p, h)
		}
	})
}

// FuzzOriginAllowed: the origin check never panics and the null origin needs allow_null_origin.
func FuzzOriginAllowed(f *testing.F) {
	for _, s := range []string{"null", "https://a.example.com", "http://[::1]:8080", "file:///x", "http://", "%zz", "https://a.example.com:99999"} {
		f.Add(s, "https://*.example.com:*")
	}
	f.Fuzz(func(t *testing.T, origin, pattern string) {
		_ = originAllowed(origin, []string{pattern}, true)
		if strings.EqualFold(strings.TrimSpace(origin), "null") && originAllowed(origin, nil, false) {
			t.Fatal("null origin allowed without allow_null_origin")
		}
	})
}

// TestWebSocketReloadAndShutdown: a reload that keeps the realms keeps the router and its
// sessions; one that changes them is refused; Shutdown says GOODBYE to the sessions.
func TestWebSocketReloadAndShutdown(t *testing.T) {
	t.Parallel()
	node := func() *config.Node { return testNode(t, map[string]*config.Service{"ws": wsPath(nil, wsOptions())}) }
	g, base := startGatewayG(t, node())
	c, _, err := dial(t, "ws"+strings.TrimPrefix(base, "http")+"/ws", []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(send, wantPrefix string) {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(b), wantPrefix) {
			t.Fatalf("sent %s: got %q, %v; want %s...", send, b, err, wantPrefix)
		}
	}
	roundTrip(`[1,"realm1",{"roles":{"subscriber":{}}}]`, "[2,")

	if err := g.Reload(node()); err != nil {
		t.Fatalf("reload with the same realms: %v", err)
	}
	roundTrip(`[32,1,{},"com.example.topic"]`, "[33,1,")

	changed := node()
	changed.Workers[0].Realms = []config.Realm{{Place: "workers[0].realms[0]", Name: "realm1", Roles: []config.Role{{
		Name: "anonymous", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: config.Allow{Subscribe: true}}},
	}}}}
	if err := g.Reload(changed); err == nil || !strings.Contains(err.Error(), "realms") {
		t.Fatalf("reload with other realms: %v, want a refusal naming the realms", err)
	}
	roundTrip(`[32,2,{},"com.example.other"]`, "[33,2,")

	ctxShutdown(t, g)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil || !strings.HasPrefix(string(b), "[6,") || !strings.Contains(string(b), "wamp.close.system_shutdown") {
		t.Fatalf("at shutdown: %q, %v; want GOODBYE wamp.close.system_shutdown", b, err)
	}
}

// TestWebSocketMaxConnections: fasthttp stops counting a connection once it is upgraded, so
// the transport's max_connections bounds upgraded connections itself, across all websocket
// paths of the transport: over it an upgrade is refused with 503, plain HTTP is still
// served, and a session that ends gives its slot back to exactly one new client.
func TestWebSocketMaxConnections(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"ws": wsPath(nil, wsOptions()), "ws2": wsPath(nil, wsOptions())})
	node.Workers[0].Transports[0].Options.MaxConnections = 2
	base := startGateway(t, node)
	wsBase := "ws" + strings.TrimPrefix(base, "http")

	// open dials path and completes a WAMP session opening, so the connection is a live session.
	open := func(path string) (*websocket.Conn, *http.Response, error) {
		c, resp, err := dial(t, wsBase+path, []string{"wamp.2.json"}, nil)
		if err != nil {
			return nil, resp, err
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(`[1, "realm1", {"roles": {"caller": {}}}]`)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil || !bytes.HasPrefix(msg, []byte("[2,")) {
			t.Fatalf("%s: no WELCOME: %q %v", path, msg, err)
		}
		return c, resp, nil
	}
	refused := func(path string) {
		t.Helper()
		var c *websocket.Conn
		var resp *http.Response
		var err error
		var b string
		// max_connections also bounds plain HTTP connections (fasthttp's Concurrency), and the
		// previous refused client's connection may hold that slot for a moment after its 503:
		// fasthttp's own refusal of the TCP connection is not the one under test, so try again.
		_ = testkit.Poll(0, func() error {
			c, resp, err = dial(t, wsBase+path, []string{"wamp.2.json"}, nil)
			if b = body(resp); err != nil && strings.Contains(b, "Server.Concurrency") {
				return errors.New(b)
			}
			return nil
		})
		if err == nil {
			c.Close()
			t.Fatalf("%s: upgrade accepted over max_connections", path)
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "too many WebSocket connections") {
			t.Fatalf("%s: want 503, got %v %q %v", path, resp, b, err)
		}
	}

	first, _, err := open("/ws")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := open("/ws2"); err != nil {
		t.Fatal(err)
	}
	refused("/ws")
	refused("/ws2") // the bound is the transport's, not the path's

	// HTTP keeps its own count (fasthttp's Concurrency), which the refused clients' connections
	// may still hold for a moment: fasthttp's refusal is retried, as above.
	once := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	testkit.CheckFor(t, 0, func() error {
		resp, err := once.Get(base + "/ws")
		if err != nil {
			return err
		}
		b := body(resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(b, "WAMP") {
			return fmt.Errorf("status page: %d %q", resp.StatusCode, b)
		}
		return nil
	})

	// The slot of a session that ends comes back (once the router has let go of it).
	_ = first.WriteMessage(websocket.TextMessage, []byte(`[6, {}, "wamp.close.close_realm"]`))
	first.Close()
	testkit.CheckFor(t, 0, func() error {
		c, resp, err := dial(t, wsBase+"/ws", []string{"wamp.2.json"}, nil)
		if err == nil {
			c.Close()
			return nil
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("after a session ended: %v %v", resp, err)
		}
		return fmt.Errorf("the ended session's slot is not back: %v", err)
	})
	// That probe's own slot comes back too; then one client gets in and the next is refused.
	testkit.CheckFor(t, 0, func() error {
		_, resp, err := open("/ws")
		if err == nil {
			return nil
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("after the probe closed: %v %v", resp, err)
		}
		return fmt.Errorf("the probe's slot is not back: %v", err)
	})
	refused("/ws")
}

// TestUpgradeConnState: a connection that fasthttp closes before its hijack (the 101 could not
// be written) gives back what its upgrade held, once; other state changes and connections
// leave it alone, and a connection claimed by its hijack handler is no longer pending.
func TestUpgradeConnState(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var released atomic.Int32
	var u pendingUpgrades
	u.hold(a, func() { released.Add(1) })

	u.connState(b, fasthttp.StateClosed)
	for _, st := range []fasthttp.ConnState{fasthttp.StateNew, fasthttp.StateActive, fasthttp.StateIdle, fasthttp.StateHijacked} {
		u.connState(a, st)
	}
	if released.Load() != 0 {
		t.Fatal("released by another connection or state")
	}
	u.connState(a, fasthttp.StateClosed)
	u.connState(a, fasthttp.StateClosed)
	if released.Load() != 1 {
		t.Fatalf("released %d times, want 1", released.Load())
	}
	if u.claim(a) {
		t.Fatal("claimed after the close released it")
	}

	u.hold(b, func() { released.Add(1) })
	if !u.claim(b) {
		t.Fatal("hijack could not claim its connection")
	}
	u.connState(b, fasthttp.StateClosed)
	if released.Load() != 1 || u.n.Load() != 0 {
		t.Fatalf("released %d, pending %d after the claim", released.Load(), u.n.Load())
	}
}

// TestWebSocketShutdownCutsStalledWriter: a client that stopped reading leaves the session's
// writer blocked until write_timeout. Shutdown still ends within routerCloseBound plus the
// close handshake, not after write_timeout: the connections the router has not ended by the
// bound are cut.
func TestWebSocketShutdownCutsStalledWriter(t *testing.T) {
	node := testNode(t, map[string]*config.Service{"ws": wsPath(nil, wsOptions())})
	node.Workers[0].Transports[0].Options.WriteTimeout = 90 * time.Second
	g, base := startGatewayG(t, node)
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	send := func(c *websocket.Conn, msg string) {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(c *websocket.Conn, prefix string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			t.Fatalf("got %.80q, %v; want %s...", b, err, prefix)
		}
	}
	sub, _, err := dial(t, url, []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	send(sub, `[1,"realm1",{"roles":{"subscriber":{}}}]`)
	expect(sub, "[2,")
	send(sub, `[32,1,{},"com.example.flood"]`)
	expect(sub, "[33,1,")
	// sub reads nothing from here on.

	pub, _, err := dial(t, url, []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	send(pub, `[1,"realm1",{"roles":{"publisher":{}}}]`)
	expect(pub, "[2,")
	// 600 events of 64 KiB (under the queue limit of 1024) are far more than the socket
	// buffers of both ends hold, so the subscriber's writer blocks.
	event := `[16,%d,{},"com.example.flood",["` + strings.Repeat("x", 64<<10) + `"]]`
	for i := range 600 {
		send(pub, strings.Replace(event, "%d", strconv.Itoa(i+2), 1))
	}
	send(pub, `[16,1000,{"acknowledge":true},"com.example.flood",[]]`)
	expect(pub, "[17,1000,") // the router has taken every event

	done := make(chan struct{})
	go func() { ctxShutdown(t, g); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("shutdown still waiting after 45 s for a writer blocked on a client that does not read (write_timeout 90 s)")
	}
}
