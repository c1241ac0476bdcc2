package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/certmagic"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"portico/config"
)

// ACME (tls.acme): certificates obtained and renewed by caddyserver/certmagic. One certmagic
// Config per TLS transport with `acme`, all sharing one certificate cache whose maintenance
// goroutine renews certificates and refreshes OCSP staples. TLS-ALPN-01 (RFC 8737) is
// answered on the transport's own listener; HTTP-01 (RFC 8555 section 8.3) by every
// plain-HTTP transport of the node, before its paths.

// acmeALPN is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737 section 6.2).
const acmeALPN = "acme-tls/1"

// acmeChallengePrefix is where HTTP-01 challenges are asked (RFC 8555 section 8.3).
var acmeChallengePrefix = []byte("/.well-known/acme-challenge/")

// acmeSet is the node's ACME state.
type acmeSet struct {
	log   *slog.Logger
	cache *certmagic.Cache
	sites map[string]*acmeSite // by transport place
	order []*acmeSite          // config order
	// ctx ends when the gateway stops: obtaining and renewing give up then.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// acmeSite is one TLS transport's `acme`.
type acmeSite struct {
	place   string
	c       *config.ACME
	domains map[string]bool
	storage string
	cfg     *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	// alpn answers TLS-ALPN-01 handshakes: only acme-tls/1, the challenge certificate.
	alpn *tls.Config
}

// newACME prepares the ACME part of node: nothing runs until start. nil when no transport
// has `acme`.
func newACME(node *config.Node, log *slog.Logger) (*acmeSet, error) {
	a := &acmeSet{log: log, sites: map[string]*acmeSite{}}
	for i := range node.Workers {
		for j := range node.Workers[i].Transports {
			t := &node.Workers[i].Transports[j]
			if t.Endpoint.TLS == nil || t.Endpoint.TLS.ACME == nil {
				continue
			}
			c := t.Endpoint.TLS.ACME
			if len(c.Domains) == 0 {
				return nil, fmt.Errorf("%s.endpoint.tls.acme.domains: none given", t.Place)
			}
			site := &acmeSite{place: t.Place, c: c, domains: map[string]bool{}}
			for _, d := range c.Domains {
				site.domains[strings.ToLower(d)] = true
			}
			a.sites[t.Place] = site
			a.order = append(a.order, site)
		}
	}
	if len(a.order) == 0 {
		return nil, nil
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	logger := zap.New(slogCore{log: log.With("component", "acme"), ended: a.ctx.Done()})
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(cert certmagic.Certificate) (*certmagic.Config, error) {
			for _, s := range a.order {
				for _, n := range cert.Names {
					if s.domains[n] {
						return s.cfg, nil
					}
				}
			}
			return nil, fmt.Errorf("no tls.acme lists %v", cert.Names)
		},
		Logger: logger,
	})
	for _, s := range a.order {
		if err := s.prepare(a, node.Dir, logger); err != nil {
			a.stop()
			return nil, err
		}
	}
	return a, nil
}

func (s *acmeSite) prepare(a *acmeSet, nodeDir string, logger *zap.Logger) error {
	c := s.c
	storage := c.Storage
	if storage == "" {
		if nodeDir == "" {
			return fmt.Errorf("%s.endpoint.tls.acme.storage: not set and no node directory to default to", s.place)
		}
		storage = filepath.Join(nodeDir, "acme")
	}
	var roots *x509.CertPool
	if c.CARoot != "" {
		ders, err := pemCertificates(c.CARoot)
		if err != nil {
			return fmt.Errorf("%s.endpoint.tls.acme.ca_root: %w", s.place, err)
		}
		roots = x509.NewCertPool()
		for _, der := range ders {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("%s.endpoint.tls.acme.ca_root: %s: %w", s.place, c.CARoot, err)
			}
			roots.AddCert(cert)
		}
	}
	ca := c.CA
	if ca == "" {
		ca = config.LetsEncrypt
	}
	s.storage = storage
	s.cfg = certmagic.New(a.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: storage},
		Logger:  logger,
		// OCSP stapling is certmagic's default (OCSP.DisableStapling false): the staple is
		// fetched with the certificate and refreshed by the cache's maintenance.
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			switch event {
			case "cert_obtaining", "cert_obtained", "cert_failed", "cert_ocsp_revoked":
				a.log.Info("acme "+strings.TrimPrefix(event, "cert_"), "transport", s.place, "identifier", data["identifier"], "renewal", data["renewal"], "error", data["error"])
			}
			return nil
		},
	})
	challenges := c.Challenges
	if challenges == nil {
		challenges = []string{config.ChallengeHTTP01, config.ChallengeTLSALPN01}
	}
	s.issuer = certmagic.NewACMEIssuer(s.cfg, certmagic.ACMEIssuer{
		CA:     ca,
		Email:  c.Email,
		Agreed: true, // configuring a CA is agreeing to its terms (docs/configuration.md)
		// DisableHTTPChallenge is decided in start, once the plain-HTTP listeners are known.
		DisableTLSALPNChallenge: !slices.Contains(challenges, config.ChallengeTLSALPN01),
		TrustedRoots:            roots,
		Logger:                  logger,
	})
	s.cfg.Issuers = []certmagic.Issuer{s.issuer}
	s.alpn = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{acmeALPN}, GetCertificate: s.cfg.GetCertificate}
	return nil
}

// start points the challenges at the listeners that answer them and begins to manage the
// certificates in the background: those in storage are served at once, missing ones are
// ordered. servers are the gateway's open transports.
func (a *acmeSet) start(servers []*server) {
	if a == nil {
		return
	}
	// The plain-HTTP transport that answers HTTP-01: certmagic must not open port 80 itself;
	// told of a port that is in use, it leaves the answer to the request handler.
	var plain *net.TCPAddr
	for _, srv := range servers {
		if addr, ok := srv.ln.Addr().(*net.TCPAddr); ok && srv.srv != nil && srv.ep.TLS == nil && plain == nil {
			plain = addr
		}
	}
	for _, s := range a.order {
		wantHTTP := s.c.Challenges == nil || slices.Contains(s.c.Challenges, config.ChallengeHTTP01)
		switch {
		case !wantHTTP:
			s.issuer.DisableHTTPChallenge = true
		case plain == nil:
			s.issuer.DisableHTTPChallenge = true
			a.log.Warn("acme: http-01 is off: the node has no plain-HTTP tcp transport to answer it", "transport", s.place)
		default:
			s.issuer.AltHTTPPort = plain.Port
		}
		var own *net.TCPAddr
		for _, srv := range servers {
			if addr, ok := srv.ln.Addr().(*net.TCPAddr); ok && srv.where == s.place {
				own = addr
				s.issuer.AltTLSALPNPort = addr.Port
			}
		}
		// certmagic tries to listen on ListenHost at those ports, finds them taken (by
		// Portico) and leaves the answers to the listeners. The host is the transports' own
		// when they share it; else the wildcard, which conflicts with any of them.
		switch {
		case own != nil && (plain == nil || s.issuer.DisableHTTPChallenge || plain.IP.Equal(own.IP)):
			s.issuer.ListenHost = own.IP.String()
		case own == nil && plain != nil:
			s.issuer.ListenHost = plain.IP.String()
		}
		if s.issuer.DisableHTTPChallenge && s.issuer.DisableTLSALPNChallenge {
			a.log.Error("acme: no challenge can be answered; no certificate will be obtained", "transport", s.place)
		}
		a.log.Info("acme managing certificates", "transport", s.place, "domains", s.c.Domains, "ca", s.issuer.CA,
			"http-01", !s.issuer.DisableHTTPChallenge, "tls-alpn-01", !s.issuer.DisableTLSALPNChallenge, "storage", s.storage)
		if err := s.cfg.ManageAsync(a.ctx, s.c.Domains); err != nil {
			a.log.Error("acme", "transport", s.place, "error", err)
		}
	}
}

// stop ends obtaining and renewing, and the cache's maintenance goroutine.
func (a *acmeSet) stop() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		a.cancel()
		a.cache.Stop()
	})
}

// site is the ACME of transport place, or nil.
func (a *acmeSet) site(place string) *acmeSite {
	if a == nil {
		return nil
	}
	return a.sites[place]
}

// hook makes cfg, a TLS transport's configuration of the moment, serve the ACME
// certificates: a name a static certificate covers gets it; another name of the domains,
// or any name when there is no static certificate, gets the ACME one; the rest fall back
// to crypto/tls's choice among the static ones.
func (s *acmeSite) hook(cfg *tls.Config) {
	if s == nil {
		return
	}
	static := cfg.Certificates
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
		for i := range static {
			if l := static[i].Leaf; l != nil && name != "" && l.VerifyHostname(name) == nil {
				return &static[i], nil
			}
		}
		if len(static) == 0 || s.domains[name] {
			if name == "" {
				// A client without SNI gets the first domain's certificate.
				h := *hello
				h.ServerName = s.c.Domains[0]
				hello = &h
			}
			return s.cfg.GetCertificate(hello)
		}
		return nil, nil
	}
}

// configFor is the configuration of one handshake: the challenge one when the client asks
// for acme-tls/1 (the CA validating TLS-ALPN-01), else cfg.
func (s *acmeSite) configFor(hello *tls.ClientHelloInfo, cfg *tls.Config) *tls.Config {
	if s != nil && !s.issuer.DisableTLSALPNChallenge && slices.Contains(hello.SupportedProtos, acmeALPN) {
		return s.alpn
	}
	return cfg
}

// isACMEChallenge says whether a plain-HTTP request asks for an HTTP-01 answer.
func (a *acmeSet) isChallenge(path []byte) bool {
	return a != nil && bytes.HasPrefix(path, acmeChallengePrefix)
}

// serveChallenge answers an HTTP-01 request with the key authorization of a challenge in
// progress (certmagic checks the token and the host). false: no challenge matches; the
// request goes on to the paths.
func (a *acmeSet) serveChallenge(ctx *fasthttp.RequestCtx, rq *request) bool {
	r := &http.Request{
		Method:     string(ctx.Method()),
		URL:        &url.URL{Path: string(rq.path)},
		RequestURI: string(rq.requestURI),
		Host:       string(rq.authority),
		RemoteAddr: ctx.RemoteAddr().String(),
		Header:     http.Header{"User-Agent": {string(ctx.UserAgent())}},
	}
	r = r.WithContext(a.ctx)
	for _, s := range a.order {
		if s.issuer.DisableHTTPChallenge {
			continue
		}
		w := &challengeWriter{header: http.Header{}, status: http.StatusOK}
		if s.issuer.HandleHTTPChallenge(w, r) {
			ctx.SetStatusCode(w.status)
			ctx.SetContentType(w.header.Get("Content-Type"))
			ctx.SetBody(w.body.Bytes())
			ctx.SetConnectionClose()
			return true
		}
	}
	return false
}

// challengeWriter takes certmagic's HTTP-01 answer (a few bytes of text).
type challengeWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *challengeWriter) Header() http.Header         { return w.header }
func (w *challengeWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *challengeWriter) WriteHeader(status int)      { w.status = status }

// slogCore hands certmagic's zap log to the gateway's slog logger, at one level lower for
// its info lines (certmagic is talkative); Portico's own lines (OnEvent) say what matters.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
	// ended closes when the gateway stops; the errors of work cut short then are logged at
	// debug level ("obtaining certificate: context canceled").
	ended <-chan struct{}
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...), ended: c.ended}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields)+2)
	if e.LoggerName != "" {
		attrs = append(attrs, "logger", e.LoggerName)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		attrs = append(attrs, k, enc.Fields[k])
	}
	level := slogLevel(e.Level)
	select {
	case <-c.ended:
		level = slog.LevelDebug
	default:
	}
	c.log.Log(context.Background(), level, e.Message, attrs...)
	return nil
}

func (slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}
