package tests

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"portico/internal/testkit"
)

// tlsFiles writes ca.crt, server.crt and server.key into dir: a CA and a server certificate
// it signs for "localhost" and 127.0.0.1. It returns the PEM of another CA, which did not.
func tlsFiles(t *testing.T, dir string) (otherCA []byte) {
	t.Helper()
	ca := issue(t, "test ca", nil, true, nil, 0)
	server := issue(t, "localhost", ca, false, nil, x509.ExtKeyUsageServerAuth)
	// issue names 127.0.0.1 only; add the DNS name the components check.
	server = reissueWithDNS(t, server, ca, "localhost")
	keyDER, err := x509.MarshalPKCS8PrivateKey(server.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ca.crt"), ca.pem)
	writePEM(t, filepath.Join(dir, "server.crt"), server.pem)
	writePEM(t, filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return issue(t, "other ca", nil, true, nil, 0).pem
}

// reissueWithDNS signs p's certificate again with dns among its names.
func reissueWithDNS(t *testing.T, p, parent *pki, dns string) *pki {
	t.Helper()
	tmpl := *p.cert
	tmpl.DNSNames = []string{dns}
	tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent.cert, p.key.Public(), parent.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{cert: c, key: p.key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// componentsNode is a router with a websocket path on a free port, a RawSocket transport on
// the unix socket crossbar.sock in the node directory and a TLS websocket transport on
// tlsPort (its files made by tlsFiles).
func componentsNode(t *testing.T) (dir string, port, tlsPort int) {
	dir, port = workersNode(t, "")
	tlsPort = freePort(t)
	var cfg strings.Builder
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The router worker gets the two more transports.
	s := strings.Replace(string(b), `"paths": {"/": {"type": "json", "value": "ok"}, "ws": {"type": "websocket"}}}]`,
		fmt.Sprintf(`"paths": {"/": {"type": "json", "value": "ok"}, "ws": {"type": "websocket"}}},
		  {"type": "rawsocket", "endpoint": {"type": "unix", "path": "crossbar.sock"}, "serializers": ["cbor", "msgpack", "json"]},
		  {"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {"key": "server.key", "certificate": "server.crt"}},
		   "paths": {"ws": {"type": "websocket"}}}]`, tlsPort), 1)
	if s == string(b) {
		t.Fatal("workersNode's transport changed")
	}
	cfg.WriteString(s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, port, tlsPort
}

// TestComponentTransports: container components reach the router the ways Crossbar's
// examples connect them: over RawSocket on a unix socket named by a relative path with the
// "rs://unix:crossbar.sock" URL (authentication/wampcra/static), Twisted and asyncio; and over
// a TLS websocket checked against the node's own CA for "localhost" (wss/python), Twisted and
// asyncio. A separate client calls what each registered. A component that trusts another CA
// is refused the connection, and the start fails naming it and the certificate check.
func TestComponentTransports(t *testing.T) {
	t.Parallel()
	rawsocket := func(class, proc, ser string) string {
		return fmt.Sprintf(`{"type": "class", "classname": %q, "realm": "realm1", "extra": {"proc": %q, "bias": 10},
		  "transport": {"type": "rawsocket", "endpoint": {"type": "unix", "path": "crossbar.sock"}, "serializer": %q,
		                "url": "rs://unix:crossbar.sock", "options": {"max_message_size": 1048576}}}`, class, proc, ser)
	}
	wss := func(class, proc, ca string, tlsPort int) string {
		return fmt.Sprintf(`{"type": "class", "classname": %q, "realm": "realm1", "extra": {"proc": %q, "bias": 20},
		  "transport": {"type": "websocket", "url": "wss://localhost:%d/ws",
		                "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": %d, "tls": {"hostname": "localhost", "ca_certificates": [%q]}}}}`,
			class, proc, tlsPort, tlsPort, ca)
	}
	dir, port, tlsPort := componentsNode(t)
	otherCA := tlsFiles(t, dir)
	for _, c := range []string{
		rawsocket("txcomp.Adder", "com.rs.tx", "cbor"),
		rawsocket("aiocomp.Doubler", "com.rs.aio", "msgpack"),
		wss("txcomp.Adder", "com.tls.tx", "ca.crt", tlsPort),
		wss("aiocomp.Doubler", "com.tls.aio", "ca.crt", tlsPort),
	} {
		addWorker(t, dir, `{"type": "container", "options": {"pythonpath": ["."]}, "components": [`+c+`]}`)
	}
	n := start(t, dir)
	res := call(t, port, "com.rs.tx", "[1, 2]", "com.rs.aio", "[21]", "com.tls.tx", "[1, 2]", "com.tls.aio", "[4]")
	expect(t, res, 13, "com.rs.tx")
	expect(t, res, 42, "com.rs.aio")
	expect(t, res, 23, "com.tls.tx")
	expect(t, res, 8, "com.tls.aio")
	n.stop(t, syscall.SIGTERM)

	for _, flavor := range []string{"txcomp.Adder", "aiocomp.Doubler"} {
		t.Run("untrusted "+flavor, func(t *testing.T) {
			dir, _, tlsPort := componentsNode(t)
			tlsFiles(t, dir)
			writePEM(t, filepath.Join(dir, "other-ca.crt"), otherCA)
			addWorker(t, dir, `{"type": "container", "options": {"pythonpath": ["."]}, "components": [`+wss(flavor, "com.x", "other-ca.crt", tlsPort)+`]}`)
			out := runFailing(t, dir)
			if !strings.Contains(out, "workers[1].components[0]") || !strings.Contains(strings.ToLower(out), "certificate verify failed") {
				t.Errorf("output lacks the component's place and the certificate check:\n%s", out)
			}
		})
	}
}

// TestComponentMaxMessageSize: a container component's transport options.max_message_size
// reaches autobahn's RawSocket client factory, as in Crossbar (set_rawsocket_options): a
// component that announced 1024 bytes (the router's WELCOME is some 750) answers small calls,
// and a call whose INVOCATION is larger ends its connection, so the caller gets an error; the
// same component with 64 KiB answers the large call. Twisted and asyncio.
func TestComponentMaxMessageSize(t *testing.T) {
	t.Parallel()
	comp := func(class, proc string, max int) string {
		return fmt.Sprintf(`{"type": "class", "classname": %q, "realm": "realm1", "extra": {"proc": %q, "bias": ""},
		  "transport": {"type": "rawsocket", "endpoint": {"type": "unix", "path": "crossbar.sock"}, "serializer": "json",
		                "options": {"max_message_size": %d}}}`, class, proc, max)
	}
	dir, port, _ := componentsNode(t)
	tlsFiles(t, dir)
	for _, c := range []string{
		comp("txcomp.Adder", "com.tx.small", 1024),
		comp("aiocomp.Doubler", "com.aio.small", 1024),
		comp("txcomp.Adder", "com.tx.roomy", 65536),
		comp("aiocomp.Doubler", "com.aio.roomy", 65536),
	} {
		addWorker(t, dir, `{"type": "container", "options": {"pythonpath": ["."]}, "components": [`+c+`]}`)
	}
	n := start(t, dir)
	defer n.stop(t, syscall.SIGTERM)
	big := strings.Repeat("x", 2000)
	bigJSON := fmt.Sprintf("%q", big)
	res := call(t, port, "com.tx.small", `["a", "b"]`, "com.aio.small", `["ab"]`,
		"com.tx.roomy", "["+bigJSON+`, "y"]`, "com.aio.roomy", "["+bigJSON+"]")
	expect(t, res, "ab", "com.tx.small")
	expect(t, res, "abab", "com.aio.small")
	expect(t, res, big+"y", "com.tx.roomy")
	expect(t, res, big+big, "com.aio.roomy")
	res = call(t, port, "com.tx.small", "["+bigJSON+`, "y"]`, "com.aio.small", "["+bigJSON+"]")
	for _, proc := range []string{"com.tx.small", "com.aio.small"} {
		if s, _ := res[proc].(string); !strings.HasPrefix(s, "error: ") {
			t.Errorf("%s with a %d-byte argument: got %.80q, want an error (over the component's max_message_size)", proc, len(big), s)
		}
	}
	testkit.CheckFor(t, 0, func() error {
		if !strings.Contains(n.logs.String(), "client_max=1024") && !strings.Contains(n.logs.String(), `"client_max":1024`) {
			return fmt.Errorf("no warning naming the component's maximum (1024) in the log:\n%s", n.logs.String())
		}
		return nil
	})
}
