package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"portico/config"
	"portico/internal/testkit"
)

// acmeTestNode is testNode with a second, TLS, transport whose certificates come from an
// ACME CA at ca (nothing answers there in these tests).
func acmeTestNode(t *testing.T, ca string, static *config.TLS) *config.Node {
	t.Helper()
	n := testNode(t, map[string]*config.Service{"/": {Type: "json", JSON: &config.JSON{Value: "plain"}}})
	tr := n.Workers[0].Transports[0]
	tr.Place = "workers[0].transports[1]"
	tr.Paths = map[string]*config.Service{"/": {Place: tr.Place + ".paths./", Type: "json", JSON: &config.JSON{Value: "secure"}}}
	if static == nil {
		static = &config.TLS{}
	}
	static.ACME = &config.ACME{Domains: []string{"localhost"}, CA: ca}
	tr.Endpoint.TLS = static
	n.Workers[0].Transports = append(n.Workers[0].Transports, *config.TransportWithDefaults(&tr))
	return n
}

// closedURL is an https URL on a port where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprintf("https://%s/dir", ln.Addr())
}

// TestACMEShutdownStopsMaintenance: a node with tls.acme whose CA cannot be reached starts
// and serves anyway (obtaining runs in the background); a handshake for the domain fails
// while it has no certificate; a plain-HTTP request under /.well-known/acme-challenge/ that
// matches no challenge goes on to the paths; and Shutdown ends every goroutine certmagic
// started (the cache's maintenance, the obtain job and its retries).
func TestACMEShutdownStopsMaintenance(t *testing.T) {
	before := goleak.IgnoreCurrent()
	n := acmeTestNode(t, closedURL(t), nil)
	n.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage = t.TempDir()
	// A service that answers every path below it (a json service answers its own path only).
	n.Workers[0].Transports[0].Paths[".well-known"] = &config.Service{Place: "workers[0].transports[0].paths..well-known", Type: "nodeinfo"}
	g, err := New(n, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addrs := g.Addrs()
	resp, err := http.Get("http://" + addrs[0].String() + "/.well-known/acme-challenge/abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("an unknown challenge token: status %d, want 200 from the path .well-known", resp.StatusCode)
	}
	c, err := tls.Dial("tcp", addrs[1].String(), &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err == nil {
		c.Close()
		t.Error("a handshake for localhost succeeded before any certificate was obtained")
	}
	ctxShutdown(t, g)
	// certmagic's lock file refresher notices its lock is gone after up to 5 s of sleep:
	// waited for. fasthttp's date updater lives for the process, its worker pools end on their
	// own schedule; neither is certmagic's.
	testkit.CheckFor(t, 30*time.Second, func() error {
		return goleak.Find(before,
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	})
}

// TestACMEStaticCertificatesWin: on a transport with both, a name a static certificate covers
// is served that certificate, an ACME domain the ACME one (none yet here: an error), any other
// name falls back to crypto/tls's choice among the static ones.
func TestACMEStaticCertificatesWin(t *testing.T) {
	n := acmeTestNode(t, closedURL(t), selfSigned(t, t.TempDir()))
	n.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage = t.TempDir()
	a, err := newACME(n, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	site := a.site("workers[0].transports[1]")
	cfg, err := tlsConfig(n.Workers[0].Transports[1].Endpoint.TLS)
	if err != nil {
		t.Fatal(err)
	}
	site.hook(cfg)
	conn, peer := net.Pipe() // certmagic logs the remote address of a hello
	defer conn.Close()
	defer peer.Close()
	if c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "127.0.0.1"}); err != nil || c != &cfg.Certificates[0] {
		t.Errorf("127.0.0.1 (the static certificate's): %v, %v; want the static certificate", c, err)
	}
	if c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost", Conn: conn}); err == nil {
		t.Errorf("localhost (the ACME domain, no certificate yet): %v, want an error from certmagic", c)
	}
	if c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example"}); c != nil || err != nil {
		t.Errorf("other.example: %v, %v; want nil, nil (crypto/tls then serves the first static one)", c, err)
	}
	if got := site.configFor(&tls.ClientHelloInfo{SupportedProtos: []string{acmeALPN}}, cfg); got != site.alpn {
		t.Error("a hello offering acme-tls/1 did not get the challenge configuration")
	}
	if got := site.configFor(&tls.ClientHelloInfo{SupportedProtos: []string{"h2", "http/1.1"}}, cfg); got != cfg {
		t.Error("an ordinary hello did not get the transport's configuration")
	}
}

// TestACMEReloadRefusesChange: tls.acme is set up at start; a reload that changes it is
// refused, naming the key, and one that keeps it is taken.
func TestACMEReloadRefusesChange(t *testing.T) {
	ca := closedURL(t)
	n := acmeTestNode(t, ca, nil)
	n.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage = t.TempDir()
	g, _ := startGatewayG(t, n)
	same := acmeTestNode(t, ca, nil)
	same.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage = n.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage
	if err := g.Reload(same); err != nil {
		t.Fatalf("a reload with the same acme: %v", err)
	}
	changed := acmeTestNode(t, ca, nil)
	changed.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage = n.Workers[0].Transports[1].Endpoint.TLS.ACME.Storage
	changed.Workers[0].Transports[1].Endpoint.TLS.ACME.Domains = []string{"localhost", "www.localhost"}
	err := g.Reload(changed)
	if err == nil || !strings.Contains(err.Error(), "workers[0].transports[1].endpoint.tls.acme changed") {
		t.Fatalf("a reload that changes acme: %v, want it refused naming the key", err)
	}
}
