// Package gateway is Portico's HTTP front: one fasthttp server per configured transport, a
// path table per transport (swapped atomically on reload), and the path services: wsgi
// (uwsgi protocol to upstreams Portico launches or is pointed at), websocket (WAMP via the
// router), static, redirect and json. It is the only package that imports fasthttp.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/gateway/launch"
)

// Gateway serves one node configuration.
type Gateway struct {
	log        *slog.Logger
	runtimeDir string
	metrics    *gwMetrics          // served by `metrics` paths (metrics.go)
	counting   bool                // the configuration has a `metrics` path: requests are counted
	sinkMu     sync.Mutex          // guards sinks; never held with g.mu taken after it
	sinks      map[string]*logSink // access log destinations, by name (accesslog.go)

	// life ends when Shutdown begins: a uwsgi that Start or Reload is still waiting for is
	// abandoned then, so that shutdown never waits behind a launch (up to
	// launchTiming's StartTimeout).
	life    context.Context
	endLife context.CancelFunc
	// building serialises Start and Reload. Lock order: building, then mu. A build gives mu
	// up while it waits for a launched uwsgi to answer (ensureLaunched), so that Shutdown
	// and Addrs do not wait behind it.
	building sync.Mutex
	// bg counts the goroutines the gateway owns (retire); Shutdown waits for them.
	bg    sync.WaitGroup
	pprof *pprofServer
	// acme obtains and renews the certificates of tls.acme (acme.go); nil without. Set by
	// Start before any transport serves.
	acme *acmeSet
	// stopTimeout is how long a stopped process may take to exit after its stop signal
	// before its process group is killed (defaultStopTimeout).
	stopTimeout time.Duration
	// launchTiming bounds the launches and restarts of every process the gateway launches
	// (zero fields: launch's defaults).
	launchTiming launch.Timing
	// upgrades holds the upgrades its transports answered until their hijack (websocket.go).
	upgrades pendingUpgrades

	mu         sync.Mutex
	node       *config.Node
	servers    []*server
	launched   map[string]*launched // by launch key, see launchKey
	launchSeq  int
	retiring   map[*launched]bool    // replaced by a reload, draining
	routers    map[string]*routerRef // by worker place
	echoes     map[string]*echoGroup // websocket-testee workers' connections, by worker place
	workers    []*workerProc         // guest and container workers, router components
	natives    []*nativeComponent    // router components run in Go (RESTCallee, MessageForwarder)
	private    []*server             // router components' private listeners
	shutdowned bool

	// Request body spools, see buffering.go.
	spools     map[string]*spoolQuota // by transport place
	spoolPlans map[string]*spoolPlan  // those of the configuration being built (buffering.go)
	// upgraded counts each transport's live upgraded connections (websocket.go connSlots).
	upgraded connSlots
	spoolDir string // the default spool directory, made when first needed

	// inherited are the sockets the service manager passed (activation.go); adopted those
	// of them Start assigned to a transport, by place, until its listener takes them.
	inherited []Inherited
	adopted   map[string]net.Listener
}

// server is one listening transport: HTTP (web, websocket), RawSocket, or both (universal).
type server struct {
	g     *Gateway
	where string
	ep    config.Endpoint
	kind  string           // the transport type
	srv   *fasthttp.Server // nil for a rawsocket transport
	ln    net.Listener
	table atomic.Pointer[pathTable]
	done  chan error
	// tls is what a TLS transport serves to the next handshake: certificates and client
	// CAs read from their files at start and again by every reload.
	tls atomic.Pointer[tls.Config]
	// maxConns is max_connections of an HTTP transport, enforced by limit (connlimit.go).
	maxConns int64
	// conns counts the connections limit has handed fasthttp and fasthttp has not yet
	// reported closed or hijacked. fasthttp reports that after the client may have seen the
	// end of the exchange (the 101 of an upgrade, a response with Connection: close), so
	// the count lags what a client observes by a moment.
	conns atomic.Int64
}

// limit wraps ln so that past maxConns connections a new one is answered 503 with the
// transport's page and headers (connlimit.go).
func (s *server) limit(ln net.Listener) net.Listener {
	l := &limitListener{Listener: ln, s: s, max: s.maxConns, n: &s.conns}
	s.srv.ConnState = l.connState
	return l
}

// pathTable is what a transport serves; a reload builds a new one and swaps it in.
type pathTable struct {
	root      *pathNode
	services  []service
	access    *accessLog    // nil: no access log
	requestID string        // the request ID header (request_id), "" off
	ip        realIP        // the access log's client address (trusted_proxies, real_ip_header)
	hsts      string        // Strict-Transport-Security value on TLS transports, or ""
	details   bool          // display_tracebacks: error causes in 5xx bodies
	writeTO   time.Duration // write_timeout, per write to the client

	compress *compression // the `compression` option, nil when off
	// headers are the transport's `headers`; pathHeaders those of each service with its own
	// (merged with the transport's), see headers.go.
	headers     *headerRules
	pathHeaders map[service]*headerRules
	// pages are the transport's `error_pages`, by status (errorpages.go).
	pages map[int]*errorPage
	// redirectHTTPS is `redirect_https`: the HTTPS port every request is sent to, 0 off.
	redirectHTTPS int
	// raw serves the transport's RawSocket connections (rawsocket and universal transports).
	raw *rawService
	// sniffTO bounds the wait for a universal transport's first octet (header_read_timeout),
	// maxConns the connections waiting for it (max_connections, 0: fasthttp's bound).
	sniffTO  time.Duration
	maxConns int
	// stats are the metrics series of each service, unrouted those of requests answered
	// before a service was found (metrics.go).
	stats    map[service]*svcStats
	unrouted *svcStats
}

// request is the gateway's per-request view shared by services.
type request struct {
	path       []byte // percent-decoded, normalised
	mount      int    // len of the mount prefix in path (SCRIPT_NAME)
	requestURI []byte // raw path and query as sent (REQUEST_URI)
	host       []byte // nginx's $host: lower-case, without port (SERVER_NAME)
	authority  []byte // the request line's authority, else the Host header as sent (HTTP_HOST)

	compress  *compression // the transport's compression, nil when off
	redirects int          // internal redirects so far (X-Accel-Redirect)
	// upstreamTime is the time a wsgi upstream took from the connection to the response
	// head (nginx $upstream_header_time), 0 when no upstream answered.
	upstreamTime time.Duration
	// requestID is the request's ID (request_id), empty when off or not yet read.
	requestID []byte
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

// New prepares a gateway for node; nothing listens or runs until Start.
func New(node *config.Node, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.Default()
	}
	dir, err := runtimeDir()
	if err != nil {
		return nil, err
	}
	life, endLife := context.WithCancel(context.Background())
	return &Gateway{log: log, node: node, runtimeDir: dir, life: life, endLife: endLife, metrics: newMetrics(),
		launched: map[string]*launched{}, retiring: map[*launched]bool{}, routers: map[string]*routerRef{},
		stopTimeout: defaultStopTimeout}, nil
}

// runtimeDir is where launched uwsgi sockets live: private to this process (0700).
func runtimeDir() (string, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = os.TempDir()
	}
	d, err := os.MkdirTemp(base, "portico-")
	if err != nil {
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	return d, nil
}

// Start launches what the node needs (uwsgi for wsgi paths without upstream), opens every
// transport and serves. It returns once all listeners are open; serving errors are logged.
func (g *Gateway) Start(ctx context.Context) error {
	g.building.Lock()
	defer g.building.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.life, cancel)()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdowned {
		return errShuttingDown
	}
	adopted, err := matchInherited(g.node, g.inherited)
	if err != nil {
		return err
	}
	g.adopted = adopted
	tables, err := g.build(ctx, g.node)
	if err != nil {
		g.stopUnused(nil)
		return err
	}
	g.commitSpools()
	if g.acme, err = newACME(g.node, g.log); err != nil {
		closeTables(tables)
		g.closeAll(g.stopTimeout)
		return err
	}
	for i := range g.node.Workers {
		w := &g.node.Workers[i]
		for j := range w.Transports {
			t := &w.Transports[j]
			s, err := g.listen(t)
			if err != nil {
				for _, s := range g.servers {
					delete(tables, s.where) // closed with their server
				}
				closeTables(tables)
				g.closeAll(g.stopTimeout)
				return err
			}
			s.table.Store(tables[t.Place])
			g.servers = append(g.servers, s)
		}
	}
	g.acme.start(g.servers)
	for _, s := range g.servers {
		go s.serve()
	}
	if err := g.startWorkers(ctx, g.node); err != nil {
		g.closeAll(g.stopTimeout)
		return err
	}
	g.pprof = startPprof(g.log)
	return nil
}

// Addrs lists the listening addresses in config order.
func (g *Gateway) Addrs() []net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]net.Addr, 0, len(g.servers))
	for _, s := range g.servers {
		out = append(out, s.ln.Addr())
	}
	return out
}

// maxUnixPath is the longest path a unix socket can be bound to on Linux (sun_path is 108
// bytes with the terminating NUL).
const maxUnixPath = 107

func (g *Gateway) listen(t *config.Transport) (*server, error) {
	ep := t.Endpoint
	var ln net.Listener
	var err error
	inherited, ok := g.adopted[t.Place]
	switch {
	case ok:
		// systemd opened it (activation.go); a reload keeps it like any other listener.
		ln = inherited
		delete(g.adopted, t.Place)
		g.log.Info("serving an inherited socket instead of binding", "transport", t.Place, "addr", ln.Addr().String())
	case ep.Type == "unix":
		if fi, serr := os.Lstat(ep.Path); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(ep.Path) // a stale socket from an earlier run
		}
		ln, err = net.Listen("unix", ep.Path)
		if err != nil && len(ep.Path) > maxUnixPath {
			// The kernel's EINVAL says nothing of the cause: sun_path holds 108 bytes.
			err = fmt.Errorf("%w: the socket path %s is %d bytes long, the system allows at most %d (use a shorter node directory or path)", err, ep.Path, len(ep.Path), maxUnixPath)
		}
	default:
		network := "tcp4"
		host := ep.Interface
		if ep.Version == 6 {
			network = "tcp6"
		}
		if host == "" && ep.Version == 6 {
			host = "::"
		}
		if ep.PortRange[0] > 0 {
			// Crossbar's portrange: the first port of the range that is free.
			for p := ep.PortRange[0]; p <= ep.PortRange[1]; p++ {
				if ln, err = net.Listen(network, net.JoinHostPort(host, fmt.Sprint(p))); err == nil {
					break
				}
			}
			if err != nil {
				err = fmt.Errorf("no free port in portrange [%d, %d]: %w", ep.PortRange[0], ep.PortRange[1], err)
			}
		} else {
			ln, err = net.Listen(network, net.JoinHostPort(host, fmt.Sprint(ep.Port)))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s.endpoint: %w", t.Place, err)
	}
	if ep.ProxyProtocol {
		// The PROXY header comes before the TLS handshake.
		from := ep.ProxyProtocolFrom
		if len(from) == 0 {
			from = t.Options.TrustedProxies
		}
		pl, err := newProxyListener(ln, from, t.Options.HeaderReadTimeout, g.log, t.Place)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("%s.endpoint.proxy_protocol_from: %w", t.Place, err)
		}
		ln = pl
	}
	s := &server{g: g, where: t.Place, ep: ep, kind: t.Type, done: make(chan error, 1)}
	if ep.TLS != nil {
		cfg, err := tlsConfig(ep.TLS)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("%s.endpoint.tls: %w", t.Place, err)
		}
		site := g.acme.site(t.Place)
		site.hook(cfg)
		s.tls.Store(cfg)
		logCertificates(g.log, t.Place, cfg)
		// Every handshake takes the configuration of the moment, so that a reload changes
		// the certificates of new connections and leaves open ones as they are.
		ln = tls.NewListener(ln, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return site.configFor(hello, s.tls.Load()), nil
		}})
	}
	s.ln = ln
	if t.Type != "rawsocket" {
		s.srv = newServer(t, s.handle, g.log)
		s.srv.ConnState = g.upgrades.connState
		s.maxConns = int64(s.srv.Concurrency)
		if s.maxConns <= 0 {
			s.maxConns = fasthttp.DefaultConcurrency
		}
		s.srv.Concurrency = int(s.maxConns) + connLimitSlack // limitListener decides first
		s.srv.ExpectHandler = s.expect
		// Requests fasthttp cannot parse (431 for a head over max_header_size, 400, 413) get
		// the transport's error pages and headers too.
		plain := s.srv.ErrorHandler
		s.srv.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
			plain(ctx, err)
			tab := s.table.Load()
			tab.finish(ctx, nil, true)
			tab.observe(ctx, nil)
		}
		g.metrics.connections(t.Place, s.srv)
	}
	g.log.Info("listening", "addr", ln.Addr().String(), "transport", t.Place, "type", t.Type, "tls", ep.TLS != nil, "proxy_protocol", ep.ProxyProtocol)
	if t.Origin != nil && len(t.Origin.SharedWith) > 0 {
		// Crossbar runs one process per router worker on a "shared" port; this one process
		// already uses every core, so the copies are served here (config.Endpoint.Shared).
		g.log.Info("shared port served once: this one process uses every core", "transport", t.Place, "copies", t.Origin.SharedWith, "cores", runtime.GOMAXPROCS(0))
	}
	if t.Origin != nil && t.Origin.Proxy != "" {
		// Crossbar's proxy worker forwards its sessions to a router worker over a backend
		// connection; here both are this one process, so the router serves them directly.
		g.log.Info("proxy worker's transport served by this process's router: Portico is one process, no backend connection", "transport", t.Place, "proxy", t.Origin.Proxy, "router", t.Origin.Router)
	}
	return s, nil
}

// tlsConfig is the server side of a tcp endpoint's tls (config.TLS): the key pairs with their
// chain certificates after them (the first served when the client's SNI names none of the
// others; crypto/tls picks among them by SNI, see tls.Config.Certificates), client
// certificates required and verified when CAs are given, the TLS 1.2 suites of `ciphers`.
// Errors name the file at fault.
func tlsConfig(c *config.TLS) (*tls.Config, error) {
	pairs := c.Certificates
	if c.Key != "" {
		pairs = append([]config.TLSCertificate{{Key: c.Key, Certificate: c.Certificate, ChainCertificates: c.ChainCertificates}}, pairs...)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, p := range pairs {
		cert, err := tls.LoadX509KeyPair(p.Certificate, p.Key)
		if err != nil {
			return nil, fmt.Errorf("certificate %s with key %s: %w", p.Certificate, p.Key, err)
		}
		for _, f := range p.ChainCertificates {
			ders, err := pemCertificates(f)
			if err != nil {
				return nil, fmt.Errorf("chain_certificates: %w", err)
			}
			cert.Certificate = append(cert.Certificate, ders...)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	if len(c.CACertificates) > 0 {
		pool := x509.NewCertPool()
		for _, f := range c.CACertificates {
			ders, err := pemCertificates(f)
			if err != nil {
				return nil, fmt.Errorf("ca_certificates: %w", err)
			}
			for _, der := range ders {
				ca, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("ca_certificates: %s: %w", f, err)
				}
				pool.AddCert(ca)
			}
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	for _, name := range c.CipherSuites {
		for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			if s.Name == name {
				cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
			}
		}
	}
	return cfg, nil
}

// logCertificates logs the names and expiry of each certificate a TLS transport serves, so
// that the log shows which certificate a start or reload put in place.
func logCertificates(log *slog.Logger, place string, cfg *tls.Config) {
	for _, c := range cfg.Certificates {
		if c.Leaf == nil {
			continue
		}
		names := c.Leaf.DNSNames
		for _, ip := range c.Leaf.IPAddresses {
			names = append(names, ip.String())
		}
		if len(names) == 0 {
			names = []string{c.Leaf.Subject.CommonName}
		}
		log.Info("tls certificate", "transport", place, "names", names, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// pemCertificates reads the DER of every CERTIFICATE block of a PEM file.
func pemCertificates(file string) ([][]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			ders = append(ders, blk.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return ders, nil
}

func newServer(t *config.Transport, h fasthttp.RequestHandler, log *slog.Logger) *fasthttp.Server {
	o := t.Options
	return &fasthttp.Server{
		Handler: h,
		// Server is set in applyHeaders, so that `headers.remove` can take it out.
		NoDefaultServerHeader: true,
		ReadBufferSize:        o.MaxHeaderSize, // bounds the request head: larger is 431
		ReadTimeout:           o.HeaderReadTimeout,
		IdleTimeout:           o.IdleTimeout,
		// No WriteTimeout here: fasthttp would set one deadline for the whole response, which
		// cuts long downloads and event streams. write_timeout bounds each write instead
		// (nginx send_timeout), see writeDeadline.
		Concurrency: o.MaxConnections,
		// Gives back the WebSocket slot of a connection closed before its upgrade completed.
		// A WebSocket session outlives its hijack handler, so that fasthttp frees the
		// request context and read buffer it keeps for the handler; the session closes its
		// connection (wsService.serve).
		KeepHijackedConns: true,
		// Bodies stream to the upstream; fasthttp pre-reads at most 8 KiB of them.
		StreamRequestBody:            true,
		MaxRequestBodySize:           1 << 62,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		TCPKeepalive:                 true,
		// An idle keep-alive connection gives its write buffer and body buffers back to
		// their pools between requests (the read buffer stays: fasthttp keeps it while
		// StreamRequestBody is on). nginx likewise frees a connection's buffers when it goes
		// idle (ngx_http_set_keepalive).
		ReduceMemoryUsage: true,
		Logger:            fasthttpLogger{log},
		ErrorHandler:      errorHandler(log),
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "http")
}

func (s *server) serve() {
	var err error
	switch s.kind {
	case "rawsocket":
		err = s.acceptRaw()
	case "universal":
		m := newMuxListener(s.ln)
		go s.sortConns(m)
		err = s.srv.Serve(s.limit(m))
	default:
		err = s.srv.Serve(s.limit(s.ln))
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.g.log.Error("transport stopped", "transport", s.where, "error", err)
	}
	s.done <- err
}

// handle resolves the path and hands the request to its service; errors from services are
// mapped to statuses here, in one place.
func (s *server) handle(ctx *fasthttp.RequestCtx) {
	tab := s.table.Load()
	rq := requestPool.Get().(*request)
	defer requestPool.Put(rq)
	rq.upstreamTime, rq.requestID = 0, rq.requestID[:0]

	if err := headError(&ctx.Request.Header); err != nil {
		ctx.SetConnectionClose()
		fail(ctx, s.g.log, s.where, err)
		tab.finish(ctx, nil, true)
		s.finished(ctx, tab, rq, nil)
		return
	}
	if err := framingError(&ctx.Request.Header); err != nil {
		ctx.SetConnectionClose()
		fail(ctx, s.g.log, s.where, err)
		tab.finish(ctx, nil, true)
		s.finished(ctx, tab, rq, nil)
		return
	}
	target, authority, err := splitAbsolute(ctx.Request.Header.RequestURI())
	if err != nil {
		fail(ctx, s.g.log, s.where, err)
		tab.finish(ctx, nil, true)
		s.finished(ctx, tab, rq, nil)
		return
	}
	rq.requestURI = target
	rq.redirects = 0
	p := target
	for i, c := range p {
		if c == '?' || c == '#' {
			p = p[:i]
			break
		}
	}
	rq.path, err = normalizePath(rq.path, p)
	if err != nil {
		fail(ctx, s.g.log, s.where, err)
		tab.finish(ctx, nil, true)
		s.finished(ctx, tab, rq, nil)
		return
	}
	if authority == nil {
		authority = ctx.Request.Header.Host()
	}
	rq.authority = authority
	rq.host = appendHost(rq.host[:0], authority)
	if tab != nil && tab.requestID != "" {
		requestID(&ctx.Request.Header, tab.requestID, rq)
	}

	if s.ep.TLS == nil && s.g.acme.isChallenge(rq.path) && s.g.acme.serveChallenge(ctx, rq) {
		// An ACME HTTP-01 validation (acme.go): answered before paths and redirect_https.
		tab.finish(ctx, nil, false)
		tab.observe(ctx, nil)
		s.logAccess(ctx, tab, rq, s.where+".acme")
		return
	}
	if tab.redirectHTTPS != 0 {
		if err := redirectHTTPS(ctx, rq, tab.redirectHTTPS); err != nil {
			fail(ctx, s.g.log, s.where, err)
			tab.finish(ctx, nil, true)
			s.finished(ctx, tab, rq, nil)
			return
		}
		tab.finish(ctx, nil, false)
		tab.observe(ctx, nil)
		s.logAccess(ctx, tab, rq, s.where+".options.redirect_https")
		return
	}

	svc, mount := tab.root.lookup(rq.path)
	if svc == nil {
		fail(ctx, s.g.log, s.where, errNotFound)
		tab.finish(ctx, nil, true)
		s.finished(ctx, tab, rq, nil)
		return
	}
	rq.mount = mount
	rq.compress = tab.compress
	err = svc.serve(ctx, rq)
	if err != nil {
		fail(ctx, s.g.log, svc.place(), err)
		// The HTTP bridge's error bodies are its API (Crossbar's JSON): no page replaces them.
		if !errors.As(err, new(*bridgeError)) {
			if tab.details && ctx.Response.StatusCode() >= 500 && tab.pages[ctx.Response.StatusCode()] == nil {
				ctx.Response.AppendBodyString(err.Error() + "\n")
			}
			tab.errorPage(ctx)
		}
	}
	compressBody(ctx, rq)
	if tab.hsts != "" {
		ctx.Response.Header.Set("Strict-Transport-Security", tab.hsts)
	}
	tab.finish(ctx, svc, false)
	writeDeadline(ctx, tab.writeTO)
	s.finished(ctx, tab, rq, svc)
}

// finished counts a finished request in the metrics and writes its access log entry; svc is
// nil when none was found.
func (s *server) finished(ctx *fasthttp.RequestCtx, tab *pathTable, rq *request, svc service) {
	if tab == nil {
		return
	}
	tab.observe(ctx, svc)
	if tab.access != nil {
		place := ""
		if svc != nil {
			place = svc.place()
		}
		s.logAccess(ctx, tab, rq, place)
	}
}

// writeDeadline bounds the next write to the client; streaming bodies call it again before
// each chunk, so write_timeout is the longest a client may stall, not the longest response.
func writeDeadline(ctx *fasthttp.RequestCtx, d time.Duration) {
	if d > 0 {
		if c := ctx.Conn(); c != nil {
			_ = c.SetWriteDeadline(time.Now().Add(d))
		}
	}
}

// splitAbsolute splits an absolute-form request target ("http://host/p?q", RFC 9112 section
// 3.2.2) into the origin-form part and the authority. REQUEST_URI is then the origin form, as
// nginx's $request_uri is. An authority with userinfo ("http://user:pw@host/") is an error:
// RFC 9110 section 4.2.4 forbids sending it and asks recipients to treat it as one, and nginx
// refuses it with 400; passed on, it would reach the app as HTTP_HOST "user:pw@host".
func splitAbsolute(t []byte) (origin, authority []byte, err error) {
	if len(t) == 0 || t[0] == '/' {
		return t, nil, nil
	}
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(t) >= len(scheme) && asciiEqualFold(t[:len(scheme)], scheme) {
			rest := t[len(scheme):]
			origin = []byte("/")
			authority = rest
			for i, c := range rest {
				if c == '/' || c == '?' {
					authority = rest[:i]
					if c == '?' {
						origin = append(origin, rest[i:]...)
					} else {
						origin = rest[i:]
					}
					break
				}
			}
			if indexByte(authority, '@') >= 0 {
				return nil, nil, errUserinfo
			}
			return origin, authority, nil
		}
	}
	return t, nil, nil
}

// appendHost appends nginx's $host for authority: lower-case, port and userinfo removed.
func appendHost(dst, authority []byte) []byte {
	if i := lastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	end := len(authority)
	if len(authority) > 0 && authority[0] == '[' {
		if i := indexByte(authority, ']'); i >= 0 {
			end = i + 1
		}
	} else if i := indexByte(authority, ':'); i >= 0 {
		end = i
	}
	for _, c := range authority[:end] {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// errShuttingDown refuses a start or reload that Shutdown overtook.
var errShuttingDown = errors.New("shutting down")

// Shutdown stops accepting, lets in-flight requests finish until ctx ends, then stops
// launched uwsgi servers and worker processes, all at once and within what is left of ctx
// (stopTimeout at most), and removes the runtime directory. A start or reload still waiting
// for a uwsgi is abandoned first. When Shutdown returns, no goroutine of the gateway runs.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.endLife()
	g.mu.Lock()
	if g.shutdowned {
		g.mu.Unlock()
		return nil
	}
	g.shutdowned = true
	errs := make([]error, len(g.servers))
	var wg sync.WaitGroup
	for i, s := range g.servers {
		wg.Go(func() {
			if s.srv == nil {
				_ = s.ln.Close()
				<-s.done // accepts no more: every connection it took is counted in its router
				return
			}
			// net.ErrClosed: the listener was closed already (fasthttp closes it too); that
			// is the end sought, not a failure worth a warning at every stop.
			if err := s.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	g.closeAll(g.stopBound(ctx))
	g.mu.Unlock()
	g.bg.Wait() // retire: it sees g.life end and stops waiting for the drain
	g.pprof.close()
	return errors.Join(errs...)
}

// stopBound is how long a process stopped at shutdown may take to exit after its stop
// signal: g.stopTimeout, or less when ctx ends sooner (then SIGKILL at once once it has).
func (g *Gateway) stopBound(ctx context.Context) time.Duration {
	d := g.stopTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(0, time.Until(dl)))
	}
	return d
}

// closeAll closes listeners, services and routers, and stops launched uwsgi servers and
// worker processes, all at once, each given timeout after its stop signal.
func (g *Gateway) closeAll(timeout time.Duration) {
	var wg sync.WaitGroup
	routers := make([]*routerRef, 0, len(g.routers))
	for _, r := range g.routers {
		routers = append(routers, r)
	}
	wg.Go(func() {
		// Components are stopped before their router closes, so that they do not see it go
		// first and try to reconnect.
		g.stopWorkers(timeout)
		var rw sync.WaitGroup
		for _, r := range routers {
			rw.Go(r.close)
		}
		rw.Wait()
	})
	for _, s := range g.private {
		_ = s.ln.Close()
	}
	g.private = nil
	for _, s := range g.servers {
		_ = s.ln.Close()
		if tab := s.table.Load(); tab != nil {
			for _, svc := range tab.services {
				svc.close()
			}
		}
	}
	var stop []*launched
	for key, l := range g.launched {
		stop = append(stop, l)
		delete(g.launched, key)
	}
	for _, e := range g.echoes {
		wg.Go(e.close) // websocket-testee connections: goodbye, then closed
	}
	g.closeSinks()
	for l := range g.retiring {
		stop = append(stop, l)
		delete(g.retiring, l)
	}
	for _, l := range stop {
		wg.Go(func() {
			if err := l.sup.Stop(timeout); err != nil {
				g.log.Warn("stopping uwsgi", "uwsgi", l.sup.Upstream(), "error", err)
			}
		})
	}
	wg.Go(g.acme.stop)
	wg.Wait()
	_ = os.RemoveAll(g.runtimeDir)
	if g.spoolDir != "" {
		_ = os.RemoveAll(g.spoolDir)
	}
}

// defaultStopTimeout is how long a stopped process may take to exit after its stop signal
// before its process group is killed (Gateway.stopTimeout).
const defaultStopTimeout = 10 * time.Second
