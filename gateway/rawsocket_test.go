package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/rawsocket"
)

// rawNode is a node with one rawsocket transport on 127.0.0.1:0.
func rawNode(t *testing.T, maxSize int, writeTO time.Duration) *config.Node {
	n := testNode(t, map[string]*config.Service{})
	tr := &n.Workers[0].Transports[0]
	tr.Type, tr.Paths = "rawsocket", nil
	tr.RawSocket = &config.RawSocket{Place: tr.Place, MaxMessageSize: maxSize,
		Options: config.RawSocketOptions{MaxConnections: 16, WriteTimeout: writeTO}}
	config.TransportWithDefaults(tr)
	return n
}

type rawClient struct {
	t *testing.T
	c net.Conn
	r rawsocket.Reader
}

// rawJoin connects to addr with the JSON serializer, checks the announced LENGTH and joins
// realm1.
func rawJoin(t *testing.T, addr string, wantExp uint8, roles string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: rawsocket.Reader{R: c}}
	if _, err := c.Write([]byte{0x7F, 0xF1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	var reply [4]byte
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		t.Fatal(err)
	}
	if want := rawsocket.Reply(wantExp, rawsocket.SerializerJSON); reply != want {
		t.Fatalf("handshake reply % x, want % x", reply, want)
	}
	rc.send(`[1,"realm1",{"roles":{` + roles + `}}]`)
	rc.expect("[2,")
	return rc
}

func (r *rawClient) send(msg string) {
	r.t.Helper()
	if _, err := r.c.Write(append(rawsocket.AppendHeader(nil, rawsocket.Message, len(msg)), msg...)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) expect(prefix string) []byte {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	typ, b, err := r.r.Next()
	if err != nil || typ != rawsocket.Message || !bytes.HasPrefix(b, []byte(prefix)) {
		r.t.Fatalf("got %v %.80q, %v; want %s...", typ, b, err, prefix)
	}
	return b
}

// TestRawSocketReloadAndShutdown: a reload keeps RawSocket sessions and applies a new
// max_message_size to new connections (the handshake announces it); one that changes the
// transport's type is refused (a restart applies it); stopping Portico ends a session with
// GOODBYE wamp.close.system_shutdown, then closes the connection.
func TestRawSocketReloadAndShutdown(t *testing.T) {
	t.Parallel()
	g, _ := startGatewayG(t, rawNode(t, 128<<10, 5*time.Second))
	addr := g.Addrs()[0].String()
	a := rawJoin(t, addr, 8, `"subscriber":{}`) // 128 KiB: 2^(9+8)
	a.send(`[32,1,{},"com.example.topic"]`)
	a.expect("[33,1,")

	if err := g.Reload(rawNode(t, 1<<20, 5*time.Second)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	a.send(`[32,2,{},"com.example.other"]`)
	a.expect("[33,2,")
	b := rawJoin(t, addr, 11, `"publisher":{}`) // 1 MiB after the reload
	b.send(`[16,3,{"acknowledge":true},"com.example.topic",["hi"]]`)
	b.expect("[17,3,")
	if ev := a.expect("[36,"); !bytes.Contains(ev, []byte(`["hi"]`)) {
		t.Fatalf("event %s", ev)
	}

	web := testNode(t, map[string]*config.Service{"/": {Type: "json", JSON: &config.JSON{Value: 1}}})
	if err := g.Reload(web); err == nil || !strings.Contains(err.Error(), "type changed") {
		t.Fatalf("reload to a web transport on the same endpoint: %v, want a refusal naming the type", err)
	}
	a.send(`[32,4,{},"com.example.third"]`)
	a.expect("[33,4,")

	ctxShutdown(t, g)
	for _, c := range []*rawClient{a, b} {
		if gb := c.expect("[6,"); !bytes.Contains(gb, []byte("wamp.close.system_shutdown")) {
			t.Fatalf("at shutdown: %s, want GOODBYE wamp.close.system_shutdown", gb)
		}
		c.send(`[6,{},"wamp.close.goodbye_and_out"]`)
		if rest, err := io.ReadAll(c.c); err != nil || len(rest) != 0 {
			t.Fatalf("after GOODBYE: %q, %v; want the connection closed", rest, err)
		}
	}
}

// TestRawSocketShutdownCutsStalledWriter: a subscriber that stops reading while events pile
// up holds its session's writer in a write (write_timeout 90 s); shutdown cuts it at its bound
// rather than waiting for the write.
func TestRawSocketShutdownCutsStalledWriter(t *testing.T) {
	g, _ := startGatewayG(t, rawNode(t, 1<<20, 90*time.Second))
	addr := g.Addrs()[0].String()
	sub := rawJoin(t, addr, 11, `"subscriber":{}`)
	sub.send(`[32,1,{},"com.example.flood"]`)
	sub.expect("[33,1,")
	// sub reads nothing from here on.
	pub := rawJoin(t, addr, 11, `"publisher":{}`)
	// 600 events of 64 KiB (under the queue limit of 1024) are far more than the socket
	// buffers of both ends hold, so the subscriber's writer blocks.
	event := `[16,%d,{},"com.example.flood",["` + strings.Repeat("x", 64<<10) + `"]]`
	for i := range 600 {
		pub.send(strings.Replace(event, "%d", strconv.Itoa(i+2), 1))
	}
	pub.send(`[16,1000,{"acknowledge":true},"com.example.flood",[]]`)
	pub.expect("[17,1000,")

	done := make(chan struct{})
	go func() { ctxShutdown(t, g); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("shutdown still waiting after 45 s for a writer blocked on a client that does not read (write_timeout 90 s)")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) *config.TLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := &config.TLS{Certificate: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(tc.Certificate, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestUniversalTLS: a universal transport on a TLS endpoint tells RawSocket from HTTP by the
// first octet inside TLS: HTTPS requests and WAMP over RawSocket over TLS on one port.
func TestUniversalTLS(t *testing.T) {
	t.Parallel()
	n := rawNode(t, 1<<20, 5*time.Second)
	tr := &n.Workers[0].Transports[0]
	tr.Type = "universal"
	tr.Endpoint.TLS = selfSigned(t, t.TempDir())
	tr.Paths = map[string]*config.Service{"/": {Place: tr.Place + ".web.paths./", Type: "json", JSON: &config.JSON{Value: "secure"}}}
	g, _ := startGatewayG(t, n)
	addr := g.Addrs()[0].String()
	tlsConf := &tls.Config{InsecureSkipVerify: true} // the certificate made above

	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `"secure"` {
		t.Fatalf("GET /: %d %q", resp.StatusCode, b)
	}

	c, err := tls.Dial("tcp", addr, tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &rawClient{t: t, c: c, r: rawsocket.Reader{R: c}}
	if _, err := c.Write([]byte{0x7F, 0xF3, 0, 0}); err != nil {
		t.Fatal(err)
	}
	var reply [4]byte
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, reply[:]); err != nil || reply != rawsocket.Reply(11, rawsocket.SerializerCBOR) {
		t.Fatalf("handshake reply % x, %v", reply, err)
	}
	// HELLO in CBOR: [1, "realm1", {"roles": {"caller": {}}}]
	hello := []byte{0x83, 0x01, 0x66, 'r', 'e', 'a', 'l', 'm', '1', 0xA1, 0x65, 'r', 'o', 'l', 'e', 's', 0xA1, 0x66, 'c', 'a', 'l', 'l', 'e', 'r', 0xA0}
	if _, err := c.Write(append(rawsocket.AppendHeader(nil, rawsocket.Message, len(hello)), hello...)); err != nil {
		t.Fatal(err)
	}
	typ, m, err := rc.r.Next()
	if err != nil || typ != rawsocket.Message || len(m) < 2 || m[0] != 0x83 || m[1] != 0x02 {
		t.Fatalf("want a CBOR WELCOME, got %v % x, %v", typ, m, err)
	}
}

// discardConn is a connection whose writes go nowhere and whose reads come from r.
type discardConn struct {
	net.Conn
	r io.Reader
}

func (c discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c discardConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c discardConn) SetWriteDeadline(time.Time) error { return nil }
func (c discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c discardConn) SetDeadline(time.Time) error      { return nil }

// TestRawSocketWriteAllocs: writing a message, small (copied behind its header into the
// transport's buffer) or large (header and payload written apart), allocates nothing; nor
// does a corked batch of them (its buffer is pooled).
func TestRawSocketWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tr := newRawTransport(discardConn{}, nil, 0, 1<<24, time.Minute)
	small, large := bytes.Repeat([]byte("s"), 200), bytes.Repeat([]byte("l"), 64<<10)
	for _, m := range [][]byte{small, large} {
		testkit.Budget(t, "rawsocket write of "+strconv.Itoa(len(m))+" bytes", 0, 200, func() {
			if err := tr.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		})
	}
	testkit.Budget(t, "rawsocket corked write of three messages", 0, 200, func() {
		tr.Cork()
		for _, m := range [][]byte{small, large, small} {
			if err := tr.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Uncork(); err != nil {
			t.Fatal(err)
		}
	})
}

// cycleReader reads b over and over.
type cycleReader struct {
	b []byte
	i int
}

func (r *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.i:])
	r.i = (r.i + n) % len(r.b)
	return n, nil
}

// TestRawSocketReadAllocs: reading a message allocates only the message, which the router
// keeps, and a PING on the way only its payload, which the PONG sends back.
func TestRawSocketReadAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	msg := []byte(`[16,1,{},"com.example.topic",["hello"]]`)
	stream := append(rawsocket.AppendHeader(nil, rawsocket.Ping, 4), "ping"...)
	stream = append(rawsocket.AppendHeader(stream, rawsocket.Message, len(msg)), msg...)
	c := discardConn{r: &cycleReader{b: stream}}
	tr := newRawTransport(c, nil, 1<<20, 1<<24, time.Minute)
	testkit.Budget(t, "rawsocket read after a ping", 2, 200, func() {
		b, err := tr.ReadMessage()
		if err != nil || !bytes.Equal(b, msg) {
			t.Fatalf("%q, %v", b, err)
		}
	})
}

// TestRawSocketSlowConsumer: a subscriber that stops reading while its queue
// (out_queue_limit) overflows is disconnected, though its write is stalled with a long
// write_timeout; the publisher is served throughout.
func TestRawSocketSlowConsumer(t *testing.T) {
	n := rawNode(t, 1<<20, 90*time.Second)
	n.Workers[0].Transports[0].RawSocket.Options.OutQueueLimit = 16
	g, _ := startGatewayG(t, n)
	addr := g.Addrs()[0].String()
	sub := rawJoin(t, addr, 11, `"subscriber":{}`)
	sub.send(`[32,1,{},"com.example.flood"]`)
	sub.expect("[33,1,")
	// sub reads nothing from here on.
	pub := rawJoin(t, addr, 11, `"publisher":{}`)
	event := `[16,%d,{},"com.example.flood",["` + strings.Repeat("x", 64<<10) + `"]]`
	for i := range 200 {
		pub.send(strings.Replace(event, "%d", strconv.Itoa(i+2), 1))
	}
	pub.send(`[16,1000,{"acknowledge":true},"com.example.flood",[]]`)
	pub.expect("[17,1000,")
	// The subscriber gets what was written before the overflow, then the end: after an ABORT
	// portico.error.slow_consumer when the writer could still write it, else cut within a
	// frame (the writer was stalled in a write when the transport closed).
	_ = sub.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var last []byte
	for {
		_, b, err := sub.r.Next()
		if err == io.EOF {
			if !bytes.HasPrefix(last, []byte("[3,")) || !bytes.Contains(last, []byte("slow_consumer")) {
				t.Fatalf("closed after %.100q, want ABORT portico.error.slow_consumer", last)
			}
			break
		}
		if err != nil {
			if err != io.ErrUnexpectedEOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("%v, want the connection closed", err)
			}
			break
		}
		last = b
	}
	pub.send(`[16,1001,{"acknowledge":true},"com.example.flood",[]]`)
	pub.expect("[17,1001,")
}

// TestRawSocketRefusalLog: a flood of refused handshakes is not a flood of log lines: a line
// stands for the refusals since the one before (refused=N).
func TestRawSocketRefusalLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := &rawService{where: "workers[0].transports[0]", log: slog.New(slog.NewTextHandler(&buf, nil))}
	const n = 1000
	for range n {
		s.warnRefused("rawsocket handshake refused: maximum connection count reached", "remote", "127.0.0.1:1")
	}
	lines := strings.Count(buf.String(), "\n")
	if lines < 1 || lines > n/10 {
		t.Fatalf("%d log lines for %d refusals:\n%s", lines, n, buf.String())
	}
	if !strings.Contains(buf.String(), "refused=1 ") && !strings.HasSuffix(strings.TrimSpace(buf.String()), "refused=1") {
		t.Fatalf("the first line does not count its refusal:\n%s", buf.String())
	}
}

// TestRawSocketShutdownCutsHandshake: a client that connected and sent no handshake does not
// hold shutdown for its auth_timeout (here 10 minutes).
func TestRawSocketShutdownCutsHandshake(t *testing.T) {
	n := rawNode(t, 1<<20, 5*time.Second)
	n.Workers[0].Transports[0].RawSocket.Options.AuthTimeout = 10 * time.Minute
	g, _ := startGatewayG(t, n)
	c, err := net.Dial("tcp", g.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rawJoin(t, g.Addrs()[0].String(), 11, `"caller":{}`)
	slots := g.routers["workers[0]"].slotsOf("workers[0].transports[0]")
	testkit.WaitFor(t, 0, "both connections counted", func() bool { return slots.Load() == 2 })
	done := make(chan struct{})
	go func() { ctxShutdown(t, g); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("shutdown still waiting after 45 s for a connection in its handshake (auth_timeout 10 min)")
	}
}

// gatedConn counts the writes that reach it; once hold is set, the next write waits for it
// to close.
type gatedConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
	hold   chan struct{}
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	h := c.hold
	c.hold = nil
	c.mu.Unlock()
	if h != nil {
		<-h
	}
	return c.Conn.Write(p)
}

func (c *gatedConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// TestRawSocketBurstCorked: EVENTs queued for a RawSocket subscriber go out in far fewer
// writes to its socket than there are EVENTs, whole and in order, large ones (written apart
// from their header) among them.
func TestRawSocketBurstCorked(t *testing.T) {
	t.Parallel()
	g, _ := startGatewayG(t, rawNode(t, 1<<20, 10*time.Second))
	raw := g.servers[0].table.Load().raw
	// The subscriber's connection is served from a listener of the test's, so that the
	// writes to it can be counted and held.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan *gatedConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(served)
			return
		}
		gc := &gatedConn{Conn: c}
		served <- gc
		raw.ref.wg.Add(1)
		raw.serveConn(gc)
	}()
	sub := rawJoin(t, ln.Addr().String(), 11, `"subscriber":{}`)
	gc := <-served
	if gc == nil {
		t.Fatal("the subscriber's connection was not accepted")
	}
	sub.send(`[32,1,{},"com.example.burst"]`)
	sub.expect("[33,1,")
	pub := rawJoin(t, g.Addrs()[0].String(), 11, `"publisher":{}`)

	// The subscriber's writer waits in its first write until every EVENT is queued (the
	// acknowledged PUBLISH after the burst is routed after it).
	const n = 100
	release := make(chan struct{})
	gc.mu.Lock()
	gc.hold, gc.writes = release, 0
	gc.mu.Unlock()
	payload := func(i int) string {
		if i%10 == 0 {
			return strings.Repeat("L", 10<<10) // over smallWrite
		}
		return strconv.Itoa(i)
	}
	var burst []byte
	for i := range n {
		m := `[16,` + strconv.Itoa(i+2) + `,{},"com.example.burst",[` + strconv.Itoa(i) + `,"` + payload(i) + `"]]`
		burst = append(rawsocket.AppendHeader(burst, rawsocket.Message, len(m)), m...)
	}
	if _, err := pub.c.Write(burst); err != nil {
		t.Fatal(err)
	}
	pub.send(`[16,1000,{"acknowledge":true},"com.example.burst",[]]`)
	pub.expect("[17,1000,")
	close(release)
	for i := range n {
		b := sub.expect("[36,")
		want := `[` + strconv.Itoa(i) + `,"` + payload(i) + `"]]`
		if !bytes.HasSuffix(b, []byte(want)) {
			t.Fatalf("EVENT %d: %.80q..., want it to end in %.80q", i, b, want)
		}
	}
	// One write held while the burst was queued, then the rest corked: about 110 KiB in
	// writes of at most 64 KiB. One write per EVENT would be 100.
	if w := gc.count(); w > 10 {
		t.Fatalf("%d EVENTs went out in %d writes, want them corked (at most 10)", n, w)
	}
}
