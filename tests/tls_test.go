package tests

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pki is a certificate with its key, and the PEM of the certificate.
type pki struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// serial numbers the certificates of this process (tests issue them in parallel).
var serial atomic.Int64

// issue makes a certificate for name signed by parent (self-signed when parent is nil).
func issue(t *testing.T, name string, parent *pki, ca bool, key crypto.Signer, usage x509.ExtKeyUsage) *pki {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		if net.ParseIP(name) == nil {
			tmpl.DNSNames = []string{name} // what SNI picks the certificate by
		}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func writePEM(t *testing.T, file string, b []byte) {
	t.Helper()
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCrossbarTLSEndpoint: a Crossbar tls endpoint with `chain_certificates` (an intermediate
// CA that signs the server certificate), `ca_certificates` (the CA of client certificates),
// `ciphers` (an OpenSSL string with DHE parts) and `dhparam` (a file that does not exist).
// Go's TLS client, trusting only the root, verifies the server (so the intermediate was sent);
// a client without a certificate, or with one of another CA, is refused; a TLS 1.2 client gets
// a suite of the string and none outside it. The warnings name dhparam and the DHE parts.
func TestCrossbarTLSEndpoint(t *testing.T) {
	t.Parallel()
	root := issue(t, "root", nil, true, nil, 0)
	inter := issue(t, "intermediate", root, true, nil, 0)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	server := issue(t, "127.0.0.1", inter, false, rsaKey, x509.ExtKeyUsageServerAuth)
	clientCA := issue(t, "client ca", nil, true, nil, 0)
	client := issue(t, "client", clientCA, false, nil, x509.ExtKeyUsageClientAuth)
	stranger := issue(t, "stranger", issue(t, "other ca", nil, true, nil, 0), false, nil, x509.ExtKeyUsageClientAuth)

	port := freePort(t)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "transports": [{
  "type": "web",
  "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {
    "key": "server.key", "certificate": "server.crt",
    "chain_certificates": ["intermediate.crt"],
    "ca_certificates": ["client-ca.crt"],
    "dhparam": "dhparam.pem",
    "ciphers": "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA"
  }},
  "paths": {"/": {"type": "json", "value": {"tls": true}}}
}]}]}`, port))
	cb := filepath.Join(dir, ".crossbar")
	keyDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(cb, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writePEM(t, filepath.Join(cb, "server.crt"), server.pem)
	writePEM(t, filepath.Join(cb, "intermediate.crt"), inter.pem)
	writePEM(t, filepath.Join(cb, "client-ca.crt"), clientCA.pem)
	n := start(t, dir)
	for _, want := range []string{"tls.dhparam", "DHE-RSA-AES128-GCM-SHA256 select only suites Go's crypto/tls does not implement"} {
		if !strings.Contains(n.logs.String(), want) {
			t.Errorf("no warning with %q in the log", want)
		}
	}

	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	pair := func(p *pki) []tls.Certificate {
		return []tls.Certificate{{Certificate: [][]byte{p.cert.Raw}, PrivateKey: p.key, Leaf: p.cert}}
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	fetch := func(cfg *tls.Config) (*http.Response, string, error) {
		cfg.RootCAs = roots
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(url)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	resp, body, err := fetch(&tls.Config{Certificates: pair(client)})
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"tls":true`) {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if chain := resp.TLS.VerifiedChains; len(chain) != 1 || len(chain[0]) != 3 {
		t.Errorf("verified chain: %v, want server, intermediate, root", chain)
	}
	if _, _, err := fetch(&tls.Config{}); err == nil {
		t.Error("a client without a certificate was served")
	}
	if _, _, err := fetch(&tls.Config{Certificates: pair(stranger)}); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	resp, _, err = fetch(&tls.Config{Certificates: pair(client), MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}})
	if err != nil {
		t.Fatalf("TLS 1.2 with a suite of the string: %v", err)
	}
	if resp.TLS.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA {
		t.Errorf("suite %s, want TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
	if _, _, err := fetch(&tls.Config{Certificates: pair(client), MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}); err == nil {
		t.Error("TLS 1.2 with a suite outside the string was served")
	}
}
