package gateway

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

// TestRealIPClient: the client address behind trusted proxies follows nginx's realip module
// with real_ip_recursive on (tests/parity_test.go compares with nginx itself).
func TestRealIPClient(t *testing.T) {
	t.Parallel()
	trusted, err := parseTrusted([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	r := &realIP{trusted: trusted}
	for _, tt := range []struct {
		peer  string
		xff   []string
		want  string
		port  uint16
		fwded bool
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1", 5000, false},
		{"192.0.2.1:5000", []string{"203.0.113.9"}, "192.0.2.1", 5000, false}, // untrusted peer
		{"10.0.0.1:5000", nil, "10.0.0.1", 5000, false},
		{"10.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9", 0, true},
		{"10.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9", 0, true},           // spoofed left part
		{"10.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9, 10.1.1.1"}, "203.0.113.9", 0, true}, // trusted hop skipped
		{"10.0.0.1:5000", []string{"10.2.2.2, 10.1.1.1"}, "10.2.2.2", 0, true},                // all trusted: leftmost
		{"10.0.0.1:5000", []string{"junk"}, "10.0.0.1", 5000, false},
		{"10.0.0.1:5000", []string{"203.0.113.9, junk, 10.1.1.1"}, "10.1.1.1", 0, true}, // garbage ends the walk
		{"10.0.0.1:5000", []string{"203.0.113.9:4711"}, "203.0.113.9", 4711, true},
		{"10.0.0.1:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1", 4711, true},
		{"10.0.0.1:5000", []string{"2001:db8::1"}, "2001:db8::1", 0, true},
		{"10.0.0.1:5000", []string{"203.0.113.9 ,,  10.1.1.1 ,"}, "203.0.113.9", 0, true},
		{"10.0.0.1:5000", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9", 0, true}, // lines joined
		{"10.0.0.1:5000", []string{"203.0.113.9", "10.1.1.1"}, "203.0.113.9", 0, true},
		{"[::ffff:10.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9", 0, true},      // mapped peer
		{"10.0.0.1:5000", []string{"::ffff:203.0.113.9"}, "::ffff:203.0.113.9", 0, true}, // as written, as nginx
		{"10.0.0.1:5000", []string{"fe80::1%eth0"}, "10.0.0.1", 5000, false},
		{"10.0.0.1:5000", []string{"203.0.113.9:0"}, "10.0.0.1", 5000, false},
	} {
		var h fasthttp.RequestHeader
		for _, v := range tt.xff {
			h.Add("X-Forwarded-For", v)
		}
		a, p, f := r.client(netip.MustParseAddrPort(tt.peer), &h)
		if a.String() != tt.want || p != tt.port || f != tt.fwded {
			t.Errorf("peer %s, X-Forwarded-For %q: %s port %d forwarded %v, want %s port %d forwarded %v",
				tt.peer, tt.xff, a, p, f, tt.want, tt.port, tt.fwded)
		}
	}

	// real_ip_header X-Real-IP: its first line only.
	r.header = "X-Real-IP"
	var h fasthttp.RequestHeader
	h.Add("X-Forwarded-For", "198.51.100.7")
	h.Add("X-Real-IP", "203.0.113.9")
	h.Add("X-Real-IP", "198.51.100.8")
	if a, _, _ := r.client(netip.MustParseAddrPort("10.0.0.1:1"), &h); a.String() != "203.0.113.9" {
		t.Errorf("X-Real-IP: %s, want 203.0.113.9", a)
	}
}

func TestForwardedHTTPS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		lines []string
		want  bool
	}{
		{nil, false}, {[]string{"https"}, true}, {[]string{"HTTPS"}, true}, {[]string{"http"}, false},
		{[]string{"http, https"}, true}, {[]string{"https, http"}, false}, {[]string{"https", "http"}, false},
		{[]string{"https "}, true}, {[]string{"httpsx"}, false},
	} {
		var h fasthttp.RequestHeader
		for _, v := range tt.lines {
			h.Add("X-Forwarded-Proto", v)
		}
		if got := forwardedHTTPS(&h); got != tt.want {
			t.Errorf("X-Forwarded-Proto %q: %v, want %v", tt.lines, got, tt.want)
		}
	}
}

// FuzzRealIPClient: any header gives the peer or an address that was in it, never panics,
// and parseHop agrees with netip on what it accepts.
func FuzzRealIPClient(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "a, b", "[::1]:80", "1.2.3.4:65536", "10.1.1.1, 10.2.2.2", " , ,", "[", "[::1", "[::1]x", "1.2.3.4:"} {
		f.Add(s)
	}
	trusted, _ := parseTrusted([]string{"10.0.0.0/8"})
	r := &realIP{trusted: trusted}
	peer := netip.MustParseAddrPort("10.0.0.1:5000")
	f.Fuzz(func(t *testing.T, v string) {
		var h fasthttp.RequestHeader
		h.Set("X-Forwarded-For", v)
		got := h.Peek("X-Forwarded-For")
		a, p, fwd := r.client(peer, &h)
		if !fwd {
			if a != peer.Addr() || p != peer.Port() {
				t.Fatalf("%q: not forwarded but %s:%d", v, a, p)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" {
			t.Fatalf("%q: bad address %v", v, a)
		}
		if p != 0 && !strings.Contains(string(got), ":") {
			t.Fatalf("%q: port %d from a header without one", v, p)
		}
		if a, _, ok := parseHop([]byte(v)); ok && strings.ContainsAny(v, ", ") {
			t.Fatalf("%q: parseHop took separators into %s", v, a)
		}
	})
}

// TestBuildVarsTrustedAllocs: the client address walk behind trusted proxies (X-Forwarded-For
// with IPv4, IPv6 and port hops, X-Forwarded-Proto) adds no allocation to the vars encode path.
func TestBuildVarsTrustedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, filepath.Join(t.TempDir(), "unused.sock"))
	svc, _ := s.table.Load().root.lookup([]byte("/"))
	ws := svc.(*wsgiService)
	trusted, err := parseTrusted([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	ws.env.ip = realIP{trusted: trusted}
	// (ctx.Init copies the request: reading it into ctx.Request first would lose it.)
	var ctx fasthttp.RequestCtx
	var r fasthttp.Request
	req := "GET /hello/world HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 6.6.6.6, [2001:db8::1]:4711, 10.1.1.1\r\nX-Forwarded-For: 10.2.2.2\r\nX-Forwarded-Proto: https\r\n\r\n"
	if err := r.ReadLimitBody(bufioReader([]byte(req)), 0); err != nil {
		t.Fatal(err)
	}
	ctx.Init(&r, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 40000}, nil)
	rq := &request{}
	rq.path, _ = normalizePath(nil, []byte("/hello/world"))
	rq.requestURI = ctx.Request.Header.RequestURI()
	rq.host = []byte("example.com")
	ps := &proxyState{}
	pkt, err := ws.buildVars(&ctx, rq, ps, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REMOTE_ADDR\x0b\x002001:db8::1", "REMOTE_PORT\x04\x004711", "HTTPS\x02\x00on"} {
		if !bytes.Contains(pkt, []byte(want)) {
			t.Errorf("vars lack %q: %q", want, pkt)
		}
	}
	allocs := testkit.Allocs(200, func() {
		if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("buildVars behind trusted proxies: %v allocations per request, want 0", allocs)
	}
}

// TestProxyProtocolTLS: on a TLS endpoint the PROXY header comes before the handshake, and
// its source is the client's address for the request (the nodeinfo page shows it).
func TestProxyProtocolTLS(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"info": {Type: "nodeinfo"}})
	tr := &node.Workers[0].Transports[0]
	tr.Endpoint.TLS = selfSigned(t, t.TempDir())
	tr.Endpoint.ProxyProtocol = true
	tr.Options.TrustedProxies = []string{"127.0.0.1"}
	g, _ := startGatewayG(t, node)
	addr := g.Addrs()[0].String()
	for _, tc := range []struct{ name, header, want string }{
		{"v1", "PROXY TCP4 203.0.113.9 127.0.0.1 4711 443\r\n", "203.0.113.9:4711"},
		{"v2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x0a\x7f\x00\x00\x01\x12\x68\x01\xbb", "203.0.113.10:4712"},
		{"none", "", "127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(testkit.Patience))
			if _, err := io.WriteString(raw, tc.header); err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) // the certificate made above
			if _, err := io.WriteString(c, "GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) || !bytes.Contains(b, []byte(tc.want)) {
				t.Fatalf("want 200 naming %s, got %q", tc.want, b)
			}
		})
	}
}

// TestAccessLogClient: behind trusted_proxies the access log names the forwarded client
// beside the peer, as nginx logs $remote_addr after realip.
func TestAccessLogClient(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"/": {Type: "json", JSON: &config.JSON{Value: 1}}})
	tr := &node.Workers[0].Transports[0]
	tr.Options.AccessLog = true
	tr.Options.TrustedProxies = []string{"127.0.0.1"}
	_, base, logs := startGatewayInfo(t, node)
	for _, xff := range []string{"6.6.6.6, 203.0.113.9", ""} {
		c := dialFrom(t, base, "127.0.0.1")
		req := "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
		if xff != "" {
			req += "X-Forwarded-For: " + xff + "\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, 0, "two access lines", func() bool {
		return strings.Count(logs.String(), "msg=access") == 2
	})
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var access []string
	for _, l := range lines {
		if strings.Contains(l, "msg=access") {
			access = append(access, l)
		}
	}
	if !strings.Contains(access[0], "client=203.0.113.9") || strings.Contains(access[1], "client=") {
		t.Errorf("access lines:\n%s", strings.Join(access, "\n"))
	}
}
