package tests

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/internal/testkit"
)

// wsOptionsNode starts a node whose websocket path /ws has the given `options` object (JSON).
func wsOptionsNode(t *testing.T, options string) *node {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{
  "version": 2,
  "controller": {},
  "workers": [{
    "type": "router",
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
      "paths": {
        "/": {"type": "json", "value": {"wamp": "/ws"}},
        "ws": {"type": "websocket", "options": %s}
      }
    }]
  }]
}`, freePort(t), options)
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir)
}

// rawWS is a client that writes WebSocket frames by hand (RFC 6455 section 5.2), so that a
// test can send what a well-behaved library would not: compressed frames it did not deflate
// itself, a message of a gigabyte streamed from one block, thousands of continuation frames.
type rawWS struct {
	c  net.Conn
	br *bufio.Reader
}

// dialRaw opens a WebSocket to url with subprotocol proto, offering permessage-deflate
// (RFC 7692) when deflate is set; the server must accept it then.
func dialRaw(t *testing.T, url, proto string, deflate bool) *rawWS {
	t.Helper()
	host := strings.TrimPrefix(url, "ws://")
	host, path, _ := strings.Cut(host, "/")
	c, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\n" +
		"Sec-WebSocket-Protocol: " + proto + "\r\n"
	if deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	if deflate && !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("permessage-deflate not accepted: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	_ = c.SetDeadline(time.Time{})
	return &rawWS{c: c, br: br}
}

// frame writes a frame head for a payload of n bytes with a zero masking key (so the payload
// goes as it is), then the payload from src.
func (w *rawWS) frame(fin, rsv1 bool, op byte, n int64, src io.Reader) error {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	head := []byte{b0}
	switch {
	case n < 126:
		head = append(head, 0x80|byte(n))
	case n <= 0xffff:
		head = binary.BigEndian.AppendUint16(append(head, 0x80|126), uint16(n))
	default:
		head = binary.BigEndian.AppendUint64(append(head, 0x80|127), uint64(n))
	}
	head = append(head, 0, 0, 0, 0)
	if _, err := w.c.Write(head); err != nil {
		return err
	}
	_, err := io.CopyN(w.c, src, n)
	return err
}

// closeCode reads frames until a close frame and returns its status code, or the read error.
func (w *rawWS) closeCode() (int, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return 0, err
		}
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return 0, err
			}
			n = int64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return 0, err
			}
			n = int64(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, min(n, 1<<20))
		if _, err := io.ReadFull(w.br, p); err != nil {
			return 0, err
		}
		if h[0]&0x0f == 8 {
			if len(p) < 2 {
				return 0, errors.New("close frame without a status")
			}
			return int(binary.BigEndian.Uint16(p)), nil
		}
	}
}

// repeat reads block over and over.
type repeat struct {
	block []byte
	off   int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

// deflatedZeros returns a raw DEFLATE stream (RFC 1951, sync-flushed, no final block, as
// permessage-deflate carries it: RFC 7692 section 7.2.1) that inflates to mib MiB of zeros. One
// flushed chunk of a MiB of zeros only refers back to zeros, so the chunk repeated is valid.
func deflatedZeros(t *testing.T, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := fw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	chunk = append(chunk, 0, 0, 0xff, 0xff) // keep each chunk's sync marker but the last
	out := bytes.Repeat(chunk, mib)
	return bytes.TrimSuffix(out, []byte{0, 0, 0xff, 0xff})
}

// wampCaller is a second, well-behaved client: it joins realm1 and calls the meta procedure
// wamp.session.count, the proof that the router still serves others.
type wampCaller struct {
	c   *websocket.Conn
	req int
}

func joinCaller(t *testing.T, url string) *wampCaller {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wampCaller{c: c}
	if err := w.send(`[1, "realm1", {"roles": {"caller": {}}}]`); err != nil {
		t.Fatal(err)
	}
	m, err := w.recv()
	if err != nil || len(m) == 0 || m[0] != float64(2) {
		t.Fatalf("join: %v %v", m, err)
	}
	return w
}

func (w *wampCaller) send(s string) error {
	_ = w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return w.c.WriteMessage(websocket.TextMessage, []byte(s))
}

func (w *wampCaller) recv() ([]any, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, b, err := w.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m []any
	return m, json.Unmarshal(b, &m)
}

// call calls wamp.session.count and checks the RESULT.
func (w *wampCaller) call() error {
	w.req++
	if err := w.send(fmt.Sprintf(`[48, %d, {}, "wamp.session.count"]`, w.req)); err != nil {
		return err
	}
	m, err := w.recv()
	if err != nil {
		return err
	}
	if len(m) < 3 || m[0] != float64(50) || m[1] != float64(w.req) {
		return fmt.Errorf("want RESULT for request %d, got %v", w.req, m)
	}
	return nil
}

// cpuTime is the user and system CPU time pid has used (proc(5), /proc/PID/stat fields 14
// and 15, in clock ticks of 1/100 s on Linux).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// resetPeak resets the peak RSS mark of pid (proc(5), clear_refs "5").
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocketMessageBounds is finding F1: one message, sent by a client that has not even
// said HELLO, must not take the router's memory. Each attack runs against a node with the
// default max_message_size (or a raised one for the decoding cases) while a second client
// keeps calling; the attacker is closed (1009 when the close frame reaches it), the log names
// max_message_size, and Portico's peak RSS stays bounded.
func TestWebSocketMessageBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("sends gigabyte messages")
	}
	zeros := make([]byte, 1<<20)
	bomb := deflatedZeros(t, 1024)  // 1 GiB inflated, about 1 MiB on the wire
	bomb2 := deflatedZeros(t, 2048) // 2 GiB inflated, about 2 MiB on the wire
	t.Logf("deflate bomb: %d bytes on the wire, 1 GiB inflated", len(bomb))

	type attack struct {
		name  string
		proto string
		send  func(w *rawWS) error
	}
	bounded := []attack{
		{"deflate bomb before HELLO", "wamp.2.json", func(w *rawWS) error {
			return w.frame(true, true, 1, int64(len(bomb)), bytes.NewReader(bomb))
		}},
		{"deflate bomb of 2 GiB after HELLO", "wamp.2.json", func(w *rawWS) error {
			hello := []byte(`[1, "realm1", {"roles": {"caller": {}}}]`)
			if err := w.frame(true, false, 1, int64(len(hello)), bytes.NewReader(hello)); err != nil {
				return err
			}
			return w.frame(true, true, 1, int64(len(bomb2)), bytes.NewReader(bomb2))
		}},
		{"512 MiB message", "wamp.2.json", func(w *rawWS) error {
			return w.frame(true, false, 1, 512<<20, &repeat{block: zeros})
		}},
		{"1 GiB of continuation frames", "wamp.2.json", func(w *rawWS) error {
			op := byte(1)
			for i := range 1 << 14 { // 16384 frames of 64 KiB
				if err := w.frame(i == 1<<14-1, false, op, 64<<10, &repeat{block: zeros}); err != nil {
					return err
				}
				op = 0
			}
			return nil
		}},
	}
	// Within a raised max_message_size the decoders bound what they build.
	braces := []byte("[" + strings.Repeat("{},", (32<<20)/3) + "{}]")
	mpClaim := binary.BigEndian.AppendUint32([]byte{0x91, 0xdf}, 1<<24)
	mpClaim = append(mpClaim, bytes.Repeat([]byte{0xa0, 0xc0}, (32<<20)/2)...)
	cborMany := binary.BigEndian.AppendUint32([]byte{0x9a}, 32<<20)
	cborMany = append(cborMany, bytes.Repeat([]byte{0xf6}, 32<<20)...)
	msg := func(op byte, b []byte) func(w *rawWS) error {
		return func(w *rawWS) error { return w.frame(true, false, op, int64(len(b)), bytes.NewReader(b)) }
	}
	decoding := []attack{
		{"32 MiB of {} in JSON", "wamp.2.json", msg(1, braces)},
		{"msgpack map32 claiming 16Mi pairs", "wamp.2.msgpack", msg(2, mpClaim)},
		{"cbor array of 32Mi nulls", "wamp.2.cbor", msg(2, cborMany)},
	}

	run := func(t *testing.T, n *node, a attack, limit int64, wantClose bool) {
		pid := n.cmd.Process.Pid
		caller := joinCaller(t, wsURL(n))
		if err := caller.call(); err != nil {
			t.Fatal(err)
		}
		resetPeak(t, pid)
		cpu := cpuTime(t, pid)
		w := dialRaw(t, wsURL(n), a.proto, strings.Contains(a.name, "deflate"))
		sent := make(chan error, 1)
		go func() { sent <- a.send(w) }()
		// Served while the attack is under way, and after it. The round trip is logged,
		// not asserted.
		began := time.Now()
		if err := caller.call(); err != nil {
			t.Errorf("another client's call during the attack: %v", err)
		}
		t.Logf("another client's call during the attack: %v", time.Since(began))
		code, err := w.closeCode()
		t.Logf("attacker: close %d, %v; write: %v", code, err, <-sent)
		if err == nil && wantClose && code != websocket.CloseMessageTooBig {
			t.Errorf("attacker closed with %d, want 1009", code)
		}
		if err := caller.call(); err != nil {
			t.Errorf("another client's call after the attack: %v", err)
		}
		peak := procStatusBytes(t, pid, "VmHWM")
		t.Logf("peak RSS %.1f MiB, CPU %v", float64(peak)/(1<<20), cpuTime(t, pid)-cpu)
		if peak > limit {
			t.Errorf("peak RSS %.1f MiB, over %d MiB", float64(peak)/(1<<20), limit>>20)
		}
	}

	t.Run("default max_message_size", func(t *testing.T) {
		n := wsOptionsNode(t, `{"compression": {"deflate": {}}}`)
		for i, a := range bounded {
			t.Run(a.name, func(t *testing.T) {
				run(t, n, a, 64<<20, true)
				testkit.WaitFor(t, 0, "a warning naming max_message_size", func() bool {
					return strings.Count(n.logs.String(), "over max_message_size") >= i+1
				})
			})
		}
		if !strings.Contains(n.logs.String(), "max_message_size=1048576") {
			t.Errorf("the warning does not name the limit:\n%s", tail(n.logs.String()))
		}
	})
	t.Run("raised max_message_size", func(t *testing.T) {
		for _, a := range decoding {
			t.Run(a.name, func(t *testing.T) {
				// A node of its own: the Go runtime gives freed memory back to the system
				// slowly, and the peak of one case would count in the next.
				n := wsOptionsNode(t, `{"max_message_size": 67108864}`)
				// The message itself is read whole (32 MiB, in a buffer that doubles up to
				// it); what is decoded from it must not be many times that.
				run(t, n, a, 160<<20, false)
			})
		}
	})
}

// TestWebSocketIdleSessionMemory is finding F11 for WebSocket: an idle WAMP session (joined,
// nothing in flight) holds only the buffers it needs. 2000 sessions join a realm; Portico's
// resident memory grows by at most idleSessionBound per session.
func TestWebSocketIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 sessions")
	}
	// Measured on the 2-core machine: 16.4-17 KiB per session, of which 8 KiB is the stack
	// of the reader goroutine (25 KiB while each session also kept a writer goroutine parked,
	// before the writer ran only while there is something to send); a busy machine adds up
	// to 3 KiB of garbage not yet collected. The bound catches a session that holds a buffer
	// it does not need (a 64 KiB read buffer would be 90 KiB) or a goroutine more (8 KiB).
	// contrib/bench/idle measures the same with 10,000 sessions (17-18 KiB).
	const sessions, idleSessionBound = 2000, 22 << 10
	n := wsOptionsNode(t, `{}`)
	pid := n.cmd.Process.Pid
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 256, WriteBufferSize: 256}
	join := func() {
		c, _, err := d.Dial(wsURL(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(`[1, "realm1", {"roles": {"subscriber": {}}}]`)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, b, err := c.ReadMessage(); err != nil || !bytes.HasPrefix(b, []byte("[2,")) {
			t.Fatalf("join: %q %v", b, err)
		}
	}
	// Warm up: the realm, the pools and the runtime's first arenas are not per session.
	for range 200 {
		join()
	}
	before := procStatusBytes(t, pid, "VmRSS")
	for range sessions {
		join()
	}
	// What the joins left behind (handshake buffers) is garbage the runtime gives back to the
	// system in the background; on a busy machine it may still be counted when the last join
	// returns, so the figure is the lowest one seen until it is under the bound.
	var after, per int64
	err := testkit.Poll(0, func() error {
		after = procStatusBytes(t, pid, "VmRSS")
		per = (after - before) / sessions
		if per > idleSessionBound {
			return fmt.Errorf("%.1f KiB per idle session, over %d KiB", float64(per)/1024, idleSessionBound>>10)
		}
		return nil
	})
	t.Logf("RSS %.1f MiB -> %.1f MiB: %.1f KiB per idle session", float64(before)/(1<<20), float64(after)/(1<<20), float64(per)/1024)
	if err != nil {
		t.Error(err)
	}
}
