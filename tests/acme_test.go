package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"portico/internal/testkit"
)

// acmeDomain is the name certificates are ordered for: pebble's validation authority looks it
// up with the system resolver, which maps it to 127.0.0.1 (/etc/hosts).
const acmeDomain = "localhost"

// pebbleCA is Let's Encrypt's test ACME server, run in this process as its cmd/pebble
// does, with real validation: its VA connects to httpPort for HTTP-01 and to tlsPort for
// TLS-ALPN-01 on the address acmeDomain resolves to.
type pebbleCA struct {
	dir    string         // the ACME directory URL
	caRoot string         // PEM file of the root that verifies pebble's HTTPS (tls.acme.ca_root)
	roots  *x509.CertPool // pebble's issuing root: verifies the certificates it issues
	orders atomic.Int32   // new-order requests seen
	logs   *syncBuffer
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	// No random sleeps before validating, no injected bad-nonce errors.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &pebbleCA{logs: &syncBuffer{}}
	logger := log.New(p.logs, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "rsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	h := front.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.logs.String())
		}
	})
	p.dir = srv.URL + wfe.DirectoryPath
	p.caRoot = filepath.Join(t.TempDir(), "pebble-https.pem")
	writePEM(t, p.caRoot, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	p.roots = x509.NewCertPool()
	p.roots.AddCert(authority.GetRootCert(0).Cert)
	return p
}

// acmeGet fetches https://addr/ asking for acmeDomain and verifying the certificate against
// pebble's issuing root; it returns the body and the certificate served.
func (p *pebbleCA) get(addr string) (string, *x509.Certificate, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.roots, ServerName: acmeDomain},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	return string(b), resp.TLS.PeerCertificates[0], nil
}

// waitIssued polls until https://addr/ answers with a certificate pebble issued.
func (p *pebbleCA) waitIssued(t *testing.T, addr string, n *node) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	if err := testkit.Poll(90*time.Second, func() error {
		body, cert, err := p.get(addr)
		if err != nil {
			return err
		}
		if !strings.Contains(body, "secure") {
			return fmt.Errorf("body %q", body)
		}
		leaf = cert
		return nil
	}); err != nil {
		t.Fatalf("no certificate from pebble served: %v\nportico output:\n%s", err, n.logs.String())
	}
	return leaf
}

// TestACMEHTTP01: a TLS transport with tls.acme (http-01 only) and a plain HTTP transport
// that redirects everything to HTTPS. Portico starts serving at once; certmagic orders a
// certificate for localhost from pebble, whose VA fetches the key authorization from the
// plain transport (answered before redirect_https); the HTTPS transport then serves it,
// verified against pebble's root. Stopped and started again with the same node directory,
// Portico serves the stored certificate without a new order.
func TestACMEHTTP01(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, tlsPort)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "transports": [
  {"type": "web",
   "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {"acme": {
     "domains": [%q], "email": "ops@example.com", "ca": %q, "ca_root": %q, "challenges": ["http-01"]}}},
   "paths": {"/": {"type": "json", "value": "secure"}}},
  {"type": "web",
   "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
   "options": {"redirect_https": %d},
   "paths": {"/": {"type": "json", "value": "plain"}}}
]}]}`, tlsPort, acmeDomain, p.dir, p.caRoot, httpPort, tlsPort))
	n := start(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	leaf := p.waitIssued(t, addr, n)
	if err := leaf.VerifyHostname(acmeDomain); err != nil {
		t.Errorf("served certificate: %v", err)
	}
	if !strings.Contains(n.logs.String(), "served key authentication") && !strings.Contains(n.logs.String(), "acme obtained") {
		t.Errorf("the log says nothing of the certificate obtained:\n%s", n.logs.String())
	}
	if got := p.orders.Load(); got != 1 {
		t.Errorf("pebble saw %d orders, want 1", got)
	}
	if !strings.Contains(p.logs.String(), "validate w/ HTTP") {
		t.Errorf("pebble did not validate over HTTP")
	}
	// The plain transport still redirects what is not a challenge.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(fmt.Sprintf("http://127.0.0.1:%d/x", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("plain GET /x: %d, want 301", resp.StatusCode)
	}
	// The certificate and key are kept under the node directory.
	var stored []string
	_ = filepath.WalkDir(filepath.Join(dir, ".crossbar", "acme"), func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, acmeDomain+".crt") {
			stored = append(stored, path)
		}
		return nil
	})
	if len(stored) != 1 {
		t.Errorf("stored certificates under .crossbar/acme: %v, want one %s.crt", stored, acmeDomain)
	}

	// A reload (SIGHUP) builds the transport's TLS configuration anew: the ACME certificate
	// is still served.
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the reload", func() bool { return strings.Contains(n.logs.String(), "msg=reloaded") })
	if _, cert, err := p.get(addr); err != nil || !cert.Equal(leaf) {
		t.Errorf("after a reload: %v (same certificate: %v)", err, cert != nil && cert.Equal(leaf))
	}

	// A restart serves the stored certificate: no new order.
	n.stop(t, syscall.SIGTERM)
	n = start(t, dir)
	again := p.waitIssued(t, addr, n)
	if !again.Equal(leaf) {
		t.Errorf("after a restart another certificate is served (serial %v, was %v)", again.SerialNumber, leaf.SerialNumber)
	}
	if got := p.orders.Load(); got != 1 {
		t.Errorf("after a restart pebble saw %d orders, want still 1", got)
	}
}

// TestACMETLSALPN01: a node with only a TLS transport and tls.acme (tls-alpn-01): pebble's VA
// validates by a handshake that asks for acme-tls/1 on the transport's own port, and the
// transport then serves the certificate to ordinary clients, also over HTTP/2-offering ones
// (the challenge's ALPN is answered only to the CA).
func TestACMETLSALPN01(t *testing.T) {
	tlsPort := freePort(t)
	p := startPebble(t, freePort(t), tlsPort)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "transports": [
  {"type": "web",
   "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {"acme": {
     "domains": [%q], "ca": %q, "ca_root": %q, "challenges": "tls-alpn-01"}}},
   "paths": {"/": {"type": "json", "value": "secure"}}}
]}]}`, tlsPort, acmeDomain, p.dir, p.caRoot))
	n := start(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	p.waitIssued(t, addr, n)
	if got := p.orders.Load(); got != 1 {
		t.Errorf("pebble saw %d orders, want 1", got)
	}
	// Nothing listens on pebble's HTTP-01 port: the handshake validated.
	if strings.Contains(p.logs.String(), "validate w/ HTTP") {
		t.Errorf("pebble validated over HTTP, want TLS-ALPN-01 only")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.roots, ServerName: acmeDomain, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("a handshake offering h2 and http/1.1: %v", err)
	}
	if proto := c.ConnectionState().NegotiatedProtocol; proto == acmeALPNProto {
		t.Errorf("an ordinary client negotiated %q", proto)
	}
	c.Close()
}

const acmeALPNProto = "acme-tls/1"

// TestACMEConfigErrors: `portico check` and `portico start` refuse a tls.acme without domains
// or with a CA that is not an https URL, naming the key and the line.
func TestACMEConfigErrors(t *testing.T) {
	dir := writeJSONNode(t, `{"version": 2, "workers": [{"type": "router", "transports": [
  {"type": "web",
   "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": 8443, "tls": {"acme": {"email": "ops@example.com"}}},
   "paths": {"/": {"type": "json", "value": 1}}},
  {"type": "web",
   "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": 9443, "tls": {"acme": {
     "domains": ["example.com"], "ca": "acme.example.org/directory"}}},
   "paths": {"/": {"type": "json", "value": 2}}}
]}]}`)
	for _, args := range [][]string{{"check"}, {"start"}} {
		cmd := exec.Command(portico, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PORTICO_DIR=")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("portico %s accepted the config:\n%s", args[0], out)
		}
		for _, want := range []string{
			`config.json:3: workers[0].transports[0].endpoint.tls.acme: missing "domains"`,
			`config.json:7: workers[0].transports[1].endpoint.tls.acme.ca: "acme.example.org/directory" is not a URL`,
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("portico %s output lacks %q:\n%s", args[0], want, out)
			}
		}
	}
}
