package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/rawsocket"
)

// transportNode writes a Crossbar node whose one router worker has the given transports (no
// realms: realm1 is made on first HELLO), starts portico on it, and returns the node and the
// address each transport listens on, by its place ("workers[0].transports[1]").
func transportNode(t *testing.T, transports ...map[string]any) (*node, map[string]string, string) {
	t.Helper()
	cfg := map[string]any{
		"version":    2,
		"controller": map[string]any{},
		"workers":    []any{map[string]any{"type": "router", "transports": transports}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cb := filepath.Join(dir, ".crossbar")
	if err := os.MkdirAll(cb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cb, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	addrs := map[string]string{}
	for _, m := range listenAllRE.FindAllStringSubmatch(n.logs.String(), -1) {
		addrs[m[2]] = m[1]
	}
	return n, addrs, cb
}

var listenAllRE = regexp.MustCompile(`msg=listening addr=(\S+) transport=(\S+)`)

func tcpEndpoint() map[string]any {
	return map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": 0}
}

// rsClient runs testdata/wamp/rawsocket_client.py (autobahn-python's Twisted RawSocket
// client) against addr ("tcp:HOST:PORT" or "unix:PATH").
func rsClient(t *testing.T, addr, ser string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/wamp/rawsocket_client.py", addr, "realm1", ser)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rawsocket_client.py %s %s: %v\nstdout:\n%s\nstderr:\n%s", addr, ser, err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

func expectRawSocketSession(t *testing.T, res map[string]any) {
	t.Helper()
	expect(t, res, 42, "add2")
	expect(t, res, []int{0, 1, 254, 255}, "echo_bytes")
	expect(t, res, 60000, "echo_big")
	expect(t, res, "wamp.error.no_such_procedure", "no_such_procedure")
	expect(t, res, []any{
		map[string]any{"args": []any{"hello", 1}, "kwargs": map[string]any{}},
		map[string]any{"args": []any{}, "kwargs": map[string]any{"key": "v"}},
	}, "events")
	expect(t, res, "rawsocket", "transport")
	expect(t, res, map[string]any{"count": 300, "in_order": true, "intact": true}, "burst")
}

// TestRawSocketAutobahn: autobahn-python's RawSocket client, over TCP and a unix socket, in
// each serializer (ubjson included: handshake serializer ID 4), registers, calls, subscribes and publishes through rawsocket transports.
func TestRawSocketAutobahn(t *testing.T) {
	t.Parallel()
	n, addrs, cb := transportNode(t,
		map[string]any{"type": "rawsocket", "endpoint": tcpEndpoint()},
		map[string]any{"type": "rawsocket", "endpoint": map[string]any{"type": "unix", "path": "router.sock"}},
	)
	tcp := addrs["workers[0].transports[0]"]
	if tcp == "" {
		t.Fatalf("no listening line for the tcp transport:\n%s", n.logs.String())
	}
	unix := filepath.Join(cb, "router.sock")
	for _, ser := range pySerializers {
		t.Run("tcp/"+ser, func(t *testing.T) { expectRawSocketSession(t, rsClient(t, "tcp:"+tcp, ser)) })
		t.Run("unix/"+ser, func(t *testing.T) { expectRawSocketSession(t, rsClient(t, "unix:"+unix, ser)) })
	}
}

// rsConn is a raw RawSocket connection for the protocol cases autobahn cannot make.
type rsConn struct {
	t *testing.T
	c net.Conn
	r rawsocket.Reader
}

func rsDial(t *testing.T, network, addr string) *rsConn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(testkit.Patience))
	return &rsConn{t: t, c: c, r: rawsocket.Reader{R: c}}
}

// handshake sends b and returns the router's 4-octet reply.
func (r *rsConn) handshake(b [4]byte) [4]byte {
	r.t.Helper()
	if _, err := r.c.Write(b[:]); err != nil {
		r.t.Fatal(err)
	}
	var reply [4]byte
	if _, err := io.ReadFull(r.c, reply[:]); err != nil {
		r.t.Fatalf("handshake % x: no reply: %v", b, err)
	}
	return reply
}

func (r *rsConn) send(typ rawsocket.MessageType, payload []byte) {
	r.t.Helper()
	if _, err := r.c.Write(append(rawsocket.AppendHeader(nil, typ, len(payload)), payload...)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rsConn) next() (rawsocket.MessageType, []byte) {
	r.t.Helper()
	typ, b, err := r.r.Next()
	if err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	return typ, b
}

// closed asserts that the router closes the connection, with no more bytes: a FIN, or a
// reset when the router closed with the client's bytes unread.
func (r *rsConn) closed() {
	r.t.Helper()
	b, err := io.ReadAll(r.c)
	if len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		r.t.Fatalf("connection not closed by the router: %v (read %q)", err, b)
	}
}

// join completes the handshake for JSON and joins realm1.
func (r *rsConn) join() {
	r.t.Helper()
	if got := r.handshake([4]byte{0x7F, 0xF1, 0, 0}); got[0] != 0x7F || got[1]&0x0F != 1 {
		r.t.Fatalf("handshake reply % x", got)
	}
	r.hello()
}

// hello joins realm1 after a JSON handshake.
func (r *rsConn) hello() {
	r.t.Helper()
	r.send(rawsocket.Message, []byte(`[1,"realm1",{"roles":{"caller":{},"subscriber":{}}}]`))
	if _, b := r.next(); !bytes.HasPrefix(b, []byte("[2,")) {
		r.t.Fatalf("want WELCOME, got %s", b)
	}
}

// TestRawSocketProtocol: a Go client checks the handshake's replies and errors (spec,
// "RawSocket Transport": 1 serializer unsupported, 3 use of reserved bits, 4 maximum
// connection count reached; no reply to a client that does not start with 0x7F), PING/PONG,
// and that a frame over max_message_size or of a reserved type closes the connection with
// one log line.
func TestRawSocketProtocol(t *testing.T) {
	t.Parallel()
	n, addrs, _ := transportNode(t, map[string]any{
		"type": "rawsocket", "endpoint": tcpEndpoint(), "serializers": []string{"json"},
		"max_message_size": 1500, "options": map[string]any{"max_connections": 1},
	})
	addr := addrs["workers[0].transports[0]"]
	for _, tc := range []struct {
		name string
		hs   [4]byte
		want [4]byte
	}{
		{"serializer msgpack not served", [4]byte{0x7F, 0xF2, 0, 0}, [4]byte{0x7F, 0x10, 0, 0}},
		{"serializer 0", [4]byte{0x7F, 0xF0, 0, 0}, [4]byte{0x7F, 0x10, 0, 0}},
		{"serializer 9", [4]byte{0x7F, 0xF9, 0, 0}, [4]byte{0x7F, 0x10, 0, 0}},
		{"reserved octets", [4]byte{0x7F, 0xF1, 0, 1}, [4]byte{0x7F, 0x30, 0, 0}},
		// max_message_size 1500: the largest power of two not above it, 1024 (LENGTH 1).
		{"json", [4]byte{0x7F, 0xF1, 0, 0}, [4]byte{0x7F, 0x11, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *rsConn
			testkit.CheckFor(t, 0, func() error {
				c = rsDial(t, "tcp", addr)
				got := c.handshake(tc.hs)
				if got == [4]byte{0x7F, 0x40, 0, 0} { // the last case's slot is not back yet
					c.c.Close()
					return fmt.Errorf("reply % x: maximum connection count reached", got)
				}
				if got != tc.want {
					t.Fatalf("reply % x, want % x", got, tc.want)
				}
				return nil
			})
			if tc.want[1]&0x0F == 0 {
				c.closed()
			}
		})
	}

	t.Run("not RawSocket", func(t *testing.T) {
		c := rsDial(t, "tcp", addr)
		if _, err := c.c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		c.closed()
	})

	t.Run("ping, max connections, oversize", func(t *testing.T) {
		// The connections of the subtests above hold the one slot until the router has seen
		// them close: a is refused (maximum connection count) until then.
		var a *rsConn
		testkit.CheckFor(t, 0, func() error {
			a = rsDial(t, "tcp", addr)
			if got := a.handshake([4]byte{0x7F, 0xF1, 0, 0}); got != [4]byte{0x7F, 0x11, 0, 0} {
				a.c.Close()
				return fmt.Errorf("handshake reply % x while the earlier connections' slot is not back", got)
			}
			return nil
		})
		a.hello()
		a.send(rawsocket.Ping, []byte("abc"))
		if typ, b := a.next(); typ != rawsocket.Pong || string(b) != "abc" {
			t.Fatalf("got %v %q, want PONG \"abc\"", typ, b)
		}
		// max_connections 1: a second client is refused while a holds the slot.
		b := rsDial(t, "tcp", addr)
		if got := b.handshake([4]byte{0x7F, 0xF1, 0, 0}); got != [4]byte{0x7F, 0x40, 0, 0} {
			t.Fatalf("second connection: reply % x, want maximum connection count reached", got)
		}
		b.closed()
		// A message at the bound passes (an ERROR comes back for the unknown procedure)...
		call := func(size int) []byte {
			prefix := `[48,1,{},"com.example.nothing",["`
			return []byte(prefix + strings.Repeat("x", size-len(prefix)-3) + `"]]`)
		}
		a.send(rawsocket.Message, call(1500))
		if _, b := a.next(); !bytes.HasPrefix(b, []byte("[8,48,1,")) {
			t.Fatalf("want ERROR for the call, got %.100s", b)
		}
		// ...one octet more closes the connection before its payload is read.
		a.send(rawsocket.Message, call(1501))
		a.closed()
		// The slot is free again.
		testkit.CheckFor(t, 0, func() error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(testkit.Patience))
			if _, err := c.Write([]byte{0x7F, 0xF1, 0, 0}); err != nil {
				return err
			}
			var reply [4]byte
			if _, err := io.ReadFull(c, reply[:]); err != nil {
				return err
			}
			if reply != [4]byte{0x7F, 0x11, 0, 0} {
				return fmt.Errorf("reply % x", reply)
			}
			return nil
		})
		if got := strings.Count(n.logs.String(), "rawsocket message over max_message_size"); got != 1 {
			t.Errorf("%d log lines about max_message_size, want 1:\n%s", got, n.logs.String())
		}
		if !strings.Contains(n.logs.String(), "max_message_size=1500") {
			t.Errorf("the log line does not name the bound:\n%s", n.logs.String())
		}
	})

	t.Run("a silent client holds a slot", func(t *testing.T) {
		// Connections count from accept, not from the end of their handshake: a client that
		// has sent nothing yet holds its slot (up to auth_timeout), the next one is refused,
		// and the first is then served.
		testkit.CheckFor(t, 0, func() error { // until the slot of the last subtest is back
			silent := rsDial(t, "tcp", addr)
			defer silent.c.Close()
			c := rsDial(t, "tcp", addr)
			defer c.c.Close()
			if got := c.handshake([4]byte{0x7F, 0xF1, 0, 0}); got != [4]byte{0x7F, 0x40, 0, 0} {
				return fmt.Errorf("second client: reply % x, want maximum connection count reached", got)
			}
			if got := silent.handshake([4]byte{0x7F, 0xF1, 0, 0}); got != [4]byte{0x7F, 0x11, 0, 0} {
				return fmt.Errorf("the silent client: reply % x, want it served", got)
			}
			return nil
		})
	})

	t.Run("reserved frame type", func(t *testing.T) {
		var c *rsConn
		testkit.CheckFor(t, 0, func() error { // the slot of the last subtest comes back
			c = rsDial(t, "tcp", addr)
			if got := c.handshake([4]byte{0x7F, 0xF1, 0, 0}); got != [4]byte{0x7F, 0x11, 0, 0} {
				return fmt.Errorf("reply % x", got)
			}
			return nil
		})
		c.send(rawsocket.MessageType(3), []byte("x"))
		c.closed()
		testkit.WaitFor(t, 0, "the reserved type logged", func() bool {
			return strings.Contains(n.logs.String(), "reserved message type")
		})
	})
}

// TestUniversalTransport: one port serves plain HTTP from `web`, WAMP over WebSocket at a
// `websocket` path (autobahn-python) and WAMP over RawSocket (autobahn-python, Twisted),
// Crossbar's universal transport.
func TestUniversalTransport(t *testing.T) {
	t.Parallel()
	n, addrs, _ := transportNode(t,
		map[string]any{
			"type": "universal", "endpoint": tcpEndpoint(),
			"rawsocket": map[string]any{"serializers": []string{"json", "msgpack", "cbor"}},
			"websocket": map[string]any{"ws": map[string]any{"type": "websocket"}},
			"web": map[string]any{"paths": map[string]any{
				"/":    map[string]any{"type": "json", "value": map[string]any{"universal": true}},
				"info": map[string]any{"type": "json", "value": "info"},
			}},
		},
		map[string]any{
			"type": "universal", "endpoint": tcpEndpoint(),
			"web": map[string]any{"paths": map[string]any{"/": map[string]any{"type": "json", "value": 1}}},
		},
	)
	addr := addrs["workers[0].transports[0]"]
	base := "http://" + addr
	if status, body := get(t, base+"/"); status != 200 || strings.TrimSpace(body) != `{"universal":true}` {
		t.Fatalf("GET /: %d %q", status, body)
	}
	if status, body := get(t, base+"/info"); status != 200 || strings.TrimSpace(body) != `"info"` {
		t.Fatalf("GET /info: %d %q", status, body)
	}
	if status, body := get(t, base+"/ws"); status != 200 || !strings.Contains(body, "WAMP") {
		t.Fatalf("GET /ws (no upgrade): %d %q, want the websocket status page", status, body)
	}
	for _, ser := range serializers {
		t.Run("websocket/"+ser, func(t *testing.T) {
			res := pyClient(t, "basic", "ws://"+addr+"/ws", "realm1", ser)
			expect(t, res, 42, "call")
			expect(t, res, "hi "+ser, "event")
		})
		t.Run("rawsocket/"+ser, func(t *testing.T) { expectRawSocketSession(t, rsClient(t, "tcp:"+addr, ser)) })
	}
	t.Run("no rawsocket configured", func(t *testing.T) {
		c := rsDial(t, "tcp", addrs["workers[0].transports[1]"])
		if _, err := c.c.Write([]byte{0x7F, 0xF1, 0, 0}); err != nil {
			t.Fatal(err)
		}
		c.closed()
		testkit.WaitFor(t, 0, "the refusal logged", func() bool {
			return strings.Contains(n.logs.String(), "universal transport without rawsocket")
		})
		// HTTP on it is served.
		if status, body := get(t, "http://"+addrs["workers[0].transports[1]"]+"/"); status != 200 || strings.TrimSpace(body) != "1" {
			t.Fatalf("GET /: %d %q", status, body)
		}
	})
}

// TestWebSocketTransport: a stand-alone websocket transport serves WAMP at every path of its
// endpoint, as Crossbar does, to autobahn-python, and its status page to a plain GET.
func TestWebSocketTransport(t *testing.T) {
	t.Parallel()
	_, addrs, _ := transportNode(t, map[string]any{
		"type": "websocket", "endpoint": tcpEndpoint(), "url": "ws://localhost:8080",
		"serializers": []string{"json", "msgpack", "cbor"},
		"options":     map[string]any{"max_message_size": 65536},
	})
	addr := addrs["workers[0].transports[0]"]
	for _, ser := range serializers {
		for _, path := range []string{"", "/ws", "/any/path"} {
			t.Run(ser+path, func(t *testing.T) {
				res := pyClient(t, "basic", "ws://"+addr+path, "realm1", ser)
				expect(t, res, 42, "call")
				expect(t, res, "hi "+ser, "event")
			})
		}
	}
	if status, body := get(t, "http://"+addr+"/"); status != 200 || !strings.Contains(body, "WAMP") {
		t.Fatalf("GET /: %d %q, want the status page", status, body)
	}
}
