package tests

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/internal/testkit"
	"portico/rawsocket"
)

// proxyV1 is HAProxy's PROXY protocol version 1 line (proxy-protocol.txt section 2.1).
func proxyV1(src, dst string) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	fam := "TCP4"
	if s.Addr().Is6() {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, s.Addr(), d.Addr(), s.Port(), d.Port())
}

// proxyV2 is the version 2 binary header (section 2.2), command PROXY over TCP.
func proxyV2(src, dst string) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21) // version 2, PROXY
	if s.Addr().Is4() {
		b = append(b, 0x11) // TCP over IPv4
		b = binary.BigEndian.AppendUint16(b, 12)
	} else {
		b = append(b, 0x21) // TCP over IPv6
		b = binary.BigEndian.AppendUint16(b, 36)
	}
	b = append(b, s.Addr().AsSlice()...)
	b = append(b, d.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port())
}

// envVia sends prefix (a PROXY header or nothing) and one request on a new connection from
// local (nil: any), and decodes the environ the env app answers with.
func envVia(t *testing.T, local net.Addr, addr string, prefix []byte, req string) map[string]string {
	t.Helper()
	d := net.Dialer{LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testkit.Patience))
	if _, err := c.Write(append(prefix, req...)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
		t.Fatalf("%s: %q", addr, b)
	}
	env := map[string]string{}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return env
}

// TestRealIPNginxParity: behind trusted proxies, REMOTE_ADDR and REMOTE_PORT are what nginx's
// realip module gives (set_real_ip_from, real_ip_header X-Forwarded-For, real_ip_recursive
// on) for varied X-Forwarded-For chains, and what nginx gives from a PROXY protocol header
// (listen ... proxy_protocol, real_ip_header proxy_protocol), v1 and v2, written here as
// HAProxy writes them and sent by curl --haproxy-protocol.
func TestRealIPNginxParity(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	sock := startEnvUWSGI(t, dir)
	nxXFF, nxPP := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	nxXRI := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startNginxConf(t, dir, nxPP, fmt.Sprintf(`  server {
    listen %s;
    set_real_ip_from 127.0.0.0/8;
    real_ip_header X-Real-IP;
    real_ip_recursive on;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:%s; }
  }
  server {
    listen %s;
    set_real_ip_from 127.0.0.0/8;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:%s; }
  }
  server {
    listen %s proxy_protocol;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:%s; }
  }
`, nxXRI, sock, nxXFF, sock, nxPP, sock))
	pXFF, pPP, pXRI := freePort(t), freePort(t), freePort(t)
	node := filepath.Join(dir, "node")
	if err := os.MkdirAll(node, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version = 2

[[transport]]
endpoint = { type = "tcp", port = %[1]d, interface = "127.0.0.1" }
  [transport.options]
  trusted_proxies = ["127.0.0.0/8"]
  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%[3]s"

[[transport]]
endpoint = { type = "tcp", port = %[2]d, interface = "127.0.0.1", proxy_protocol = true }
  [transport.options]
  trusted_proxies = ["127.0.0.1"]
  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%[3]s"

[[transport]]
endpoint = { type = "tcp", port = %[4]d, interface = "127.0.0.1" }
  [transport.options]
  trusted_proxies = ["127.0.0.0/8"]
  real_ip_header = "X-Real-IP"
  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%[3]s"
`, pXFF, pPP, sock, pXRI)
	if err := os.WriteFile(filepath.Join(node, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, node, "--cbdir", node)
	portXFF, portPP := fmt.Sprintf("127.0.0.1:%d", pXFF), fmt.Sprintf("127.0.0.1:%d", pPP)
	portXRI := fmt.Sprintf("127.0.0.1:%d", pXRI)

	// compare checks REMOTE_ADDR, and REMOTE_PORT where it does not come from each server's
	// own connection.
	compare := func(t *testing.T, want, got map[string]string, fixedPort bool) {
		t.Helper()
		if got["REMOTE_ADDR"] != want["REMOTE_ADDR"] {
			t.Errorf("REMOTE_ADDR: nginx %q, Portico %q", want["REMOTE_ADDR"], got["REMOTE_ADDR"])
		}
		if fixedPort && got["REMOTE_PORT"] != want["REMOTE_PORT"] {
			t.Errorf("REMOTE_PORT: nginx %q, Portico %q", want["REMOTE_PORT"], got["REMOTE_PORT"])
		}
	}

	t.Run("X-Forwarded-For", func(t *testing.T) {
		for _, tc := range []struct {
			xff       []string
			fixedPort bool
		}{
			{nil, false},
			{[]string{"203.0.113.9"}, true},
			{[]string{"6.6.6.6, 203.0.113.9"}, true}, // spoofed left part
			{[]string{"6.6.6.6, 203.0.113.9, 127.0.0.2, 127.0.0.3"}, true}, // trusted hops
			{[]string{"127.0.0.2, 127.0.0.3"}, true},                       // all trusted: leftmost
			{[]string{"junk"}, false},
			{[]string{"203.0.113.9, junk, 127.0.0.2"}, true},
			{[]string{"203.0.113.9 , ,127.0.0.2,"}, true},
			{[]string{""}, false},
			{[]string{"203.0.113.9:4711"}, true},
			{[]string{"[2001:db8::1]:4711"}, true},
			{[]string{"2001:db8::1, 127.0.0.2"}, true},
			{[]string{"::ffff:203.0.113.9"}, true},
			{[]string{"6.6.6.6", "203.0.113.9"}, true},
			{[]string{"203.0.113.9", "127.0.0.2"}, true},
			{[]string{"203.0.113.9:99999"}, false},
		} {
			t.Run(strings.Join(tc.xff, "|"), func(t *testing.T) {
				req := "GET /r HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"
				for _, v := range tc.xff {
					req += "X-Forwarded-For: " + v + "\r\n"
				}
				req += "\r\n"
				compare(t, envVia(t, nil, nxXFF, nil, req), envVia(t, nil, portXFF, nil, req), tc.fixedPort)
			})
		}
	})

	t.Run("X-Real-IP", func(t *testing.T) {
		for _, xri := range [][]string{
			{"203.0.113.9"}, {"203.0.113.9, 127.0.0.2"}, {"6.6.6.6 203.0.113.9"}, {"junk"},
			{"203.0.113.9", "198.51.100.1"}, {"[2001:db8::1]:4711"},
		} {
			t.Run(strings.Join(xri, "|"), func(t *testing.T) {
				req := "GET /r HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nX-Forwarded-For: 198.51.100.99\r\n"
				for _, v := range xri {
					req += "X-Real-IP: " + v + "\r\n"
				}
				req += "\r\n"
				compare(t, envVia(t, nil, nxXRI, nil, req), envVia(t, nil, portXRI, nil, req), xri[0] != "junk")
			})
		}
	})

	req := "GET /p HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
	t.Run("PROXY", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			header []byte
		}{
			{"v1 TCP4", proxyV1("203.0.113.9:4711", "127.0.0.1:80")},
			{"v1 TCP6", proxyV1("[2001:db8::1]:4712", "[2001:db8::2]:443")},
			{"v2 IPv4", proxyV2("203.0.113.9:4713", "127.0.0.1:80")},
			{"v2 IPv6", proxyV2("[2001:db8::1]:4714", "[2001:db8::2]:443")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want, got := envVia(t, nil, nxPP, tc.header, req), envVia(t, nil, portPP, tc.header, req)
				compare(t, want, got, true)
				// The PROXY source is the client, not trusted: its X-Forwarded-For is replaced.
				if got["HTTP_X_FORWARDED_FOR"] != got["REMOTE_ADDR"] {
					t.Errorf("X-Forwarded-For %q, want the PROXY source %q", got["HTTP_X_FORWARDED_FOR"], got["REMOTE_ADDR"])
				}
			})
		}
	})

	t.Run("curl --haproxy-protocol", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl is not installed")
		}
		for _, addr := range []string{nxPP, portPP} {
			out, err := exec.Command("curl", "-sS", "--max-time", "60", "--haproxy-protocol", "http://"+addr+"/c").Output()
			if err != nil {
				t.Fatalf("curl %s: %v", addr, err)
			}
			env := map[string]string{}
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if env["REMOTE_ADDR"] != "127.0.0.1" || env["REMOTE_PORT"] == "" {
				t.Errorf("%s: REMOTE_ADDR %q REMOTE_PORT %q, want curl's own address", addr, env["REMOTE_ADDR"], env["REMOTE_PORT"])
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		// 127.0.0.2 is not in trusted_proxies: served without a header, closed with one.
		other := &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
		if env := envVia(t, other, portPP, nil, req); env["REMOTE_ADDR"] != "127.0.0.2" {
			t.Errorf("REMOTE_ADDR %q, want 127.0.0.2", env["REMOTE_ADDR"])
		}
		for _, tc := range []struct {
			name  string
			local net.Addr
			pre   []byte
		}{
			{"untrusted peer v1", other, proxyV1("203.0.113.9:4711", "127.0.0.1:80")},
			{"untrusted peer v2", other, proxyV2("203.0.113.9:4711", "127.0.0.1:80")},
			{"malformed v1", nil, []byte("PROXY TCP4 203.0.113.9 nonsense\r\n")},
			{"malformed v2", nil, append(proxyV2("203.0.113.9:4711", "127.0.0.1:80")[:12], 0x21, 0x11, 0, 3, 1, 2, 3)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := strings.Count(n.logs.String(), "PROXY protocol header")
				d := net.Dialer{LocalAddr: tc.local}
				c, err := d.Dial("tcp", portPP)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(testkit.Patience))
				if _, err := c.Write(append(tc.pre, req...)); err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(c)
				if len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("connection not closed: %v (read %q)", err, b)
				}
				testkit.WaitFor(t, 0, "a log line for the refused header", func() bool {
					return strings.Count(n.logs.String(), "PROXY protocol header") > before
				})
			})
		}
	})

	t.Run("X-Forwarded-Proto", func(t *testing.T) {
		r := "GET /s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nX-Forwarded-Proto: https\r\n\r\n"
		env := envVia(t, nil, portXFF, nil, r)
		if env["HTTPS"] != "on" || env["REQUEST_SCHEME"] != "https" || env["wsgi.url_scheme"] != "https" {
			t.Errorf("from a trusted proxy: HTTPS %q REQUEST_SCHEME %q wsgi.url_scheme %q, want on, https, https",
				env["HTTPS"], env["REQUEST_SCHEME"], env["wsgi.url_scheme"])
		}
		// Through the PROXY header the peer is the client, which is not trusted.
		env = envVia(t, nil, portPP, proxyV2("203.0.113.9:4711", "127.0.0.1:80"), r)
		if env["HTTPS"] != "" || env["REQUEST_SCHEME"] != "http" || env["wsgi.url_scheme"] != "http" {
			t.Errorf("from a client: HTTPS %q REQUEST_SCHEME %q wsgi.url_scheme %q, want unset, http, http",
				env["HTTPS"], env["REQUEST_SCHEME"], env["wsgi.url_scheme"])
		}
	})
}

// TestProxyProtocolWAMPPeer: over websocket, rawsocket and universal transports with
// proxy_protocol, the PROXY source (v1 and v2) is the WAMP session's peer (wamp.session.get,
// transport.peer), and a header from a peer not in proxy_protocol_from closes the connection.
func TestProxyProtocolWAMPPeer(t *testing.T) {
	t.Parallel()
	ep := func() map[string]any {
		return map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": 0,
			"proxy_protocol": true, "proxy_protocol_from": []string{"127.0.0.1"}}
	}
	cfg := map[string]any{
		"version":    2,
		"controller": map[string]any{},
		"workers": []any{map[string]any{
			"type": "router",
			"realms": []any{map[string]any{"name": "realm1", "roles": []any{map[string]any{
				"name": "anonymous", "permissions": []any{map[string]any{
					"uri": "", "match": "prefix", "allow": map[string]any{"call": true}}}}}}},
			"transports": []any{
				map[string]any{"type": "websocket", "endpoint": ep(), "serializers": []string{"json"}},
				map[string]any{"type": "rawsocket", "endpoint": ep(), "serializers": []string{"json"}},
				map[string]any{"type": "universal", "endpoint": ep(),
					"rawsocket": map[string]any{"serializers": []string{"json"}},
					"websocket": map[string]any{"ws": map[string]any{"type": "websocket"}}},
				map[string]any{"type": "web", "endpoint": tcpEndpoint(),
					"options": map[string]any{"trusted_proxies": []string{"127.0.0.1"}},
					"paths":   map[string]any{"ws": map[string]any{"type": "websocket"}}},
			},
		}},
	}
	b, err := json.Marshal(cfg)
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
	ws, raw, uni := addrs["workers[0].transports[0]"], addrs["workers[0].transports[1]"], addrs["workers[0].transports[2]"]
	web := addrs["workers[0].transports[3]"]

	// peerOf joins realm1 over c, asks the router for its own session and returns its peer.
	sessionGet := func(id any) string {
		return fmt.Sprintf(`[48, 1, {}, "wamp.session.get", [%v]]`, id)
	}
	peerOf := func(t *testing.T, result []any) string {
		t.Helper()
		if len(result) < 4 || result[0] != float64(50) {
			t.Fatalf("want RESULT, got %v", result)
		}
		det, _ := result[3].([]any)[0].(map[string]any)
		tr, _ := det["transport"].(map[string]any)
		p, _ := tr["peer"].(string)
		return p
	}
	overWS := func(t *testing.T, addr, path string, pre []byte, hdr ...string) string {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: testkit.Patience,
			NetDial: func(network, a string) (net.Conn, error) {
				c, err := net.Dial(network, a)
				if err == nil {
					_, err = c.Write(pre)
				}
				return c, err
			}}
		rh := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			rh.Add(hdr[i], hdr[i+1])
		}
		c, _, err := d.Dial("ws://"+addr+path, rh)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w := &wampCaller{c: c}
		if err := w.send(`[1, "realm1", {"roles": {"caller": {}}}]`); err != nil {
			t.Fatal(err)
		}
		m, err := w.recv()
		if err != nil || len(m) < 2 || m[0] != float64(2) {
			t.Fatalf("join: %v %v", m, err)
		}
		if err := w.send(sessionGet(int64(m[1].(float64)))); err != nil {
			t.Fatal(err)
		}
		m, err = w.recv()
		if err != nil {
			t.Fatal(err)
		}
		return peerOf(t, m)
	}
	overRaw := func(t *testing.T, addr string, pre []byte) string {
		t.Helper()
		r := rsDial(t, "tcp", addr)
		if _, err := r.c.Write(pre); err != nil {
			t.Fatal(err)
		}
		if got := r.handshake([4]byte{0x7F, 0xF1, 0, 0}); got[0] != 0x7F || got[1]&0x0F != 1 {
			t.Fatalf("handshake reply % x", got)
		}
		r.send(rawsocket.Message, []byte(`[1,"realm1",{"roles":{"caller":{}}}]`))
		_, b := r.next()
		var m []any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || len(m) < 2 {
			t.Fatalf("want WELCOME, got %s", b)
		}
		r.send(rawsocket.Message, []byte(sessionGet(m[1])))
		_, b = r.next()
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return peerOf(t, m)
	}
	for _, h := range []struct {
		name string
		pre  []byte
		want string
	}{
		{"v1", proxyV1("203.0.113.9:4711", "127.0.0.1:80"), "203.0.113.9:4711"},
		{"v2", proxyV2("[2001:db8::1]:4712", "[2001:db8::2]:443"), "[2001:db8::1]:4712"},
	} {
		t.Run("websocket "+h.name, func(t *testing.T) {
			if got := overWS(t, ws, "/", h.pre); got != h.want {
				t.Errorf("peer %q, want %q", got, h.want)
			}
		})
		t.Run("rawsocket "+h.name, func(t *testing.T) {
			if got := overRaw(t, raw, h.pre); got != h.want {
				t.Errorf("peer %q, want %q", got, h.want)
			}
		})
		t.Run("universal websocket "+h.name, func(t *testing.T) {
			if got := overWS(t, uni, "/ws", h.pre); got != h.want {
				t.Errorf("peer %q, want %q", got, h.want)
			}
		})
		t.Run("universal rawsocket "+h.name, func(t *testing.T) {
			if got := overRaw(t, uni, h.pre); got != h.want {
				t.Errorf("peer %q, want %q", got, h.want)
			}
		})
	}
	// Behind trusted_proxies, the session's peer is the forwarded client, as REMOTE_ADDR.
	t.Run("X-Forwarded-For", func(t *testing.T) {
		if got := overWS(t, web, "/ws", nil, "X-Forwarded-For", "6.6.6.6, 203.0.113.9"); got != "203.0.113.9" {
			t.Errorf("peer %q, want 203.0.113.9", got)
		}
		if got := overWS(t, web, "/ws", nil, "X-Forwarded-For", "[2001:db8::1]:4711"); got != "[2001:db8::1]:4711" {
			t.Errorf("peer %q, want [2001:db8::1]:4711", got)
		}
		if got := overWS(t, web, "/ws", nil); !strings.HasPrefix(got, "127.0.0.1:") {
			t.Errorf("peer %q, want 127.0.0.1:port", got)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		for _, addr := range []string{raw, uni} {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			r := &rsConn{t: t, c: c, r: rawsocket.Reader{R: c}}
			_ = c.SetDeadline(time.Now().Add(testkit.Patience))
			if _, err := c.Write(append(proxyV2("203.0.113.9:4711", "127.0.0.1:80"), 0x7F, 0xF1, 0, 0)); err != nil {
				t.Fatal(err)
			}
			r.closed()
			c.Close()
		}
	})
}
