package tests

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/internal/testkit"
)

// writePair writes p's certificate and key as PEM files.
func writePair(t *testing.T, p *pki, certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as certbot and other renewers do: a reader never sees half a file.
	for f, b := range map[string][]byte{certFile: p.pem, keyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})} {
		writePEM(t, f+".tmp", b)
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSLifecycle: a TLS web transport end to end with real clients. The handshake verifies
// against the test CA; responses carry HSTS; HTTP/1.1 keep-alive reuses one TLS connection;
// a WAMP session runs over wss; the name a client asks for (SNI) picks among `key`/
// `certificate` and `certificates`. On SIGHUP a renewed certificate is served to new
// connections while the open HTTP connection and the wss session go on; a bad new pair
// (a certificate with another key) is refused, naming the file, and the last good one is
// still served. curl and openssl s_client, when installed, see the same.
func TestTLSLifecycle(t *testing.T) {
	t.Parallel()
	ca := issue(t, "test ca", nil, true, nil, 0)
	first := issue(t, "127.0.0.1", ca, false, nil, x509.ExtKeyUsageServerAuth)
	other := issue(t, "b.example", ca, false, nil, x509.ExtKeyUsageServerAuth)

	port := freePort(t)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
    {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [{
  "type": "web",
  "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {
    "key": "server.key", "certificate": "server.crt",
    "certificates": [{"key": "b.key", "certificate": "b.crt"}]
  }},
  "options": {"hsts": true, "hsts_max_age": 600},
  "paths": {"/": {"type": "json", "value": {"tls": true}}, "ws": {"type": "websocket"}}
}]}]}`, port))
	cb := filepath.Join(dir, ".crossbar")
	certFile, keyFile := filepath.Join(cb, "server.crt"), filepath.Join(cb, "server.key")
	writePair(t, first, certFile, keyFile)
	writePair(t, other, filepath.Join(cb, "b.crt"), filepath.Join(cb, "b.key"))
	n := start(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	// served returns the certificate a new connection asking for name gets, verified.
	served := func(name string) *x509.Certificate {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("handshake for %q: %v", name, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	if got := served("127.0.0.1"); got.SerialNumber.Cmp(first.cert.SerialNumber) != 0 {
		t.Fatalf("127.0.0.1 got certificate %v, want %v", got.Subject, first.cert.Subject)
	}
	if got := served("b.example"); got.SerialNumber.Cmp(other.cert.SerialNumber) != 0 {
		t.Fatalf("SNI b.example got certificate %v, want %v", got.Subject, other.cert.Subject)
	}

	// HTTP/1.1 keep-alive over TLS: one handshake, several requests, HSTS on each.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	request := func(when string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(testkit.Patience))
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"tls":true`) {
			t.Fatalf("%s: %d %q", when, resp.StatusCode, b)
		}
		if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=600" {
			t.Errorf("%s: Strict-Transport-Security %q, want max-age=600", when, h)
		}
	}
	request("first request")
	request("second request on the same connection")

	// WAMP over wss.
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	wamp := func(send, want string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(testkit.Patience))
		_, b, err := ws.ReadMessage()
		if err != nil || !strings.HasPrefix(string(b), want) {
			t.Fatalf("wss: sent %s, got %s (%v), want %s...", send, b, err, want)
		}
	}
	wamp(`[1,"realm1",{"roles":{"subscriber":{}}}]`, "[2,")
	wamp(`[32,1,{},"com.example.before"]`, "[33,1,")

	// Renewal: new files, SIGHUP, new handshakes get the new certificate.
	renewed := issue(t, "127.0.0.1", ca, false, nil, x509.ExtKeyUsageServerAuth)
	writePair(t, renewed, certFile, keyFile)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the renewed certificate is served", func() bool {
		return served("127.0.0.1").SerialNumber.Cmp(renewed.cert.SerialNumber) == 0
	})
	request("a request on the connection opened before the reload")
	if st := conn.ConnectionState(); st.PeerCertificates[0].SerialNumber.Cmp(first.cert.SerialNumber) != 0 {
		t.Error("the open connection's certificate changed")
	}
	wamp(`[32,2,{},"com.example.after"]`, "[33,2,")

	// A bad pair: the certificate of one key with another key.
	stray := issue(t, "127.0.0.1", ca, false, nil, x509.ExtKeyUsageServerAuth)
	writePEM(t, certFile, stray.pem)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the bad pair is refused", func() bool {
		return strings.Contains(n.logs.String(), "reload refused")
	})
	if logs := n.logs.String(); !strings.Contains(logs, certFile) {
		t.Errorf("the refusal does not name %s:\n%s", certFile, logs)
	}
	if got := served("127.0.0.1"); got.SerialNumber.Cmp(renewed.cert.SerialNumber) != 0 {
		t.Errorf("after the refused reload %v is served, want the renewed certificate", got.SerialNumber)
	}
	request("a request after the refused reload")
	wamp(`[32,3,{},"com.example.refused"]`, "[33,3,")

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, caFile, ca.pem)
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--http1.1", "--cacert", caFile, "-D", "-", "-o", os.DevNull,
			"https://"+addr+"/", "https://"+addr+"/").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		if s := string(out); strings.Count(s, "HTTP/1.1 200") != 2 || strings.Count(strings.ToLower(s), "strict-transport-security: max-age=600") != 2 {
			t.Errorf("curl, two requests:\n%s", s)
		}
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(openssl, "s_client", "-connect", addr, "-servername", "b.example", "-CAfile", caFile, "-verify_return_error")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl s_client: %v\n%s", err, out)
		}
		if s := string(out); !strings.Contains(s, "CN = b.example") && !strings.Contains(s, "CN=b.example") || !strings.Contains(s, "Verify return code: 0 (ok)") {
			t.Errorf("openssl s_client -servername b.example:\n%s", s)
		}
	}
}
