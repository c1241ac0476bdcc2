package gateway

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/router"
	"portico/router/cluster"
	"portico/router/wamp"
)

// Errors of the WebSocket opening handshake (RFC 6455 section 4.2). They reach the client
// through statusOf and fail, with the reason in the body as autobahn's failHandshake does.
var (
	errNoSubprotocol   = errors.New("no WAMP subprotocol in common")
	errOrigin          = fmt.Errorf("origin not allowed: %w", errForbidden)
	errBadHandshake    = errors.New("bad WebSocket handshake")
	errUpgradeRequired = errors.New("WebSocket upgrade required")
	errWSLimit         = errors.New("max_connections WebSocket connections open on this transport")
)

// Buffer sizes of an upgraded connection, see newWebSocketService.
const (
	wsReadBufferSize    = 512
	wsWriteBufferSize   = 512
	wsDeflateBufferSize = 4 << 10 // the websocket package's default
)

// routerCloseBound is how long Shutdown lets the router say GOODBYE to its sessions before the
// remaining connections are cut.
const routerCloseBound = 5 * time.Second

// routerRef is the WAMP router of one router worker, shared by all websocket paths of the
// worker's transports, with the connections it serves (so that a shutdown can cut those the
// router did not end in time).
type routerRef struct {
	r       *router.Router
	cluster *cluster.Node // nil without a cluster section (cluster.go)
	realms  []config.Realm
	flow    routerFlow

	mu    sync.Mutex
	conns map[cutter]struct{}
	slots *connSlots          // the gateway's; a router made alone (tests) makes its own
	lp    map[string]*lpTable // open long-poll transports per longpoll path (Place)
	wg    sync.WaitGroup
}

// routerFor returns the router of worker w, creating it on first use.
//
// Reload keeps the router: sessions survive a SIGHUP that changes HTTP paths. A router's
// realms, roles and permissions are fixed when it is made (router.New), so a reload that
// changes them, or the worker's flow bounds (out_queue_*, max_retained_*), is refused like a
// change of endpoints: live sessions would otherwise keep the permissions of the old
// configuration. A restart applies it.
func (g *Gateway) routerFor(w *config.Worker) (*routerRef, error) {
	flow := flowOf(w)
	if ref := g.routers[w.Place]; ref != nil {
		if !reflect.DeepEqual(ref.realms, w.Realms) || ref.flow != flow {
			return nil, fmt.Errorf("reload: %s.realms, out_queue_limit, out_queue_bytes, out_queue_timeout, max_retained_events or max_retained_bytes changed; restart Portico to apply it", w.Place)
		}
		return ref, nil
	}
	log := g.log.With("worker", w.Place)
	if len(w.Realms) == 0 {
		log.Warn("no realms configured: a realm is created on a client's first HELLO, and its anonymous role may call, register, publish and subscribe anything (but not kill sessions or read their peers' addresses)")
	}
	cl := g.clusterFor(w)
	opts := router.Options{Realms: w.Realms, Log: log,
		OutQueueLimit: flow.limit, OutQueueBytes: flow.bytes, OutQueueTimeout: flow.timeout,
		MaxRetainedEvents: flow.events, MaxRetainedBytes: flow.stored, AuthorizerTimeout: flow.authz,
		Metrics: g.metrics.routerHooks()}
	if cl != nil {
		opts.Cluster = cl // a nil *cluster.Node in the interface would not be nil
	}
	r := router.New(opts)
	if cl != nil {
		if err := cl.Start(r); err != nil {
			r.Close(0)
			return nil, err
		}
	}
	ref := &routerRef{
		r:       r,
		cluster: cl,
		realms:  w.Realms,
		flow:    flow,
		conns:   map[cutter]struct{}{},
		slots:   &g.upgraded,
	}
	g.routers[w.Place] = ref
	return ref, nil
}

// routerFlow are the flow bounds of a worker's router.
type routerFlow struct {
	limit, bytes   int
	timeout        time.Duration
	events, stored int           // max_retained_events, max_retained_bytes
	authz          time.Duration // authorizer_timeout
}

// flowOf takes the largest out_queue_limit, out_queue_bytes and out_queue_timeout of the
// worker's websocket paths (and out_queue_limit of its RawSocket transports): the router, and
// so its queue bounds, is per worker while Crossbar writes the options per path. Zero values
// (no websocket path) mean the router's defaults.
func flowOf(w *config.Worker) routerFlow {
	f := routerFlow{events: w.Options.MaxRetainedEvents, stored: w.Options.MaxRetainedBytes, authz: w.Options.AuthorizerTimeout}
	var walk func(map[string]*config.Service)
	walk = func(paths map[string]*config.Service) {
		for _, svc := range paths {
			if svc.Type == "path" {
				walk(svc.Paths)
			}
			if svc.Type != "websocket" || svc.WebSocket == nil {
				continue
			}
			o := &svc.WebSocket.Options
			f.limit = max(f.limit, o.OutQueueLimit)
			f.bytes = max(f.bytes, o.OutQueueBytes)
			f.timeout = max(f.timeout, o.OutQueueTimeout)
		}
	}
	for i := range w.Transports {
		walk(w.Transports[i].Paths)
		if rs := w.Transports[i].RawSocket; rs != nil {
			f.limit = max(f.limit, rs.Options.OutQueueLimit)
		}
	}
	return f
}

// close ends the router's sessions (GOODBYE), waits up to routerCloseBound, then cuts the
// connections still open. The cut runs at the bound, not after router.Close returns: past
// its bound the router closes the transports and then waits for its sessions without limit,
// and a session whose writer is blocked on a client that stopped reading would end only at
// write_timeout.
func (r *routerRef) close() {
	if r.cluster != nil {
		r.cluster.Close()
	}
	timer := time.AfterFunc(routerCloseBound, r.cutAll)
	r.r.Close(routerCloseBound)
	timer.Stop()
	r.cutAll()
	r.wg.Wait()
}

func (r *routerRef) cutAll() {
	r.mu.Lock()
	for t := range r.conns {
		t.cut()
	}
	r.mu.Unlock()
}

// cutter is a connection the router serves (WebSocket or RawSocket) that shutdown can end at
// once.
type cutter interface{ cut() }

func (r *routerRef) add(t cutter) {
	r.mu.Lock()
	r.conns[t] = struct{}{}
	r.mu.Unlock()
}

func (r *routerRef) remove(t cutter) {
	r.mu.Lock()
	delete(r.conns, t)
	r.mu.Unlock()
}

// slotsOf returns the count of live upgraded connections of transport place (connSlots).
func (r *routerRef) slotsOf(place string) *atomic.Int64 {
	r.mu.Lock()
	if r.slots == nil {
		r.slots = &connSlots{}
	}
	c := r.slots
	r.mu.Unlock()
	return c.of(place)
}

// connSlots counts the live upgraded connections of each transport, WAMP WebSockets and
// WebSockets relayed to uwsgi apps together: fasthttp's Concurrency (max_connections) stops
// counting a connection once it is hijacked, so they are bounded by this count instead. It
// lives with the gateway, which a reload keeps, as the connections live on, so that a reload
// does not forget the connections it counted.
type connSlots struct {
	mu sync.Mutex
	m  map[string]*atomic.Int64 // by transport Place
}

func (c *connSlots) of(place string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*atomic.Int64{}
	}
	n := c.m[place]
	if n == nil {
		n = new(atomic.Int64)
		c.m[place] = n
	}
	return n
}

// pendingUpgrades holds, for each connection whose upgrade was answered with 101 but not yet
// hijacked, the function that gives back its slot. fasthttp runs the hijack handler only after
// it flushed the 101; when that write fails it closes the connection without running it
// (fasthttp server.go serveConn), and only its ConnState hook, with StateClosed, tells. Each
// gateway has one (Gateway.upgrades), shared by its transports and the services they serve.
type pendingUpgrades struct {
	n atomic.Int64 // entries in m: the ConnState hook of every HTTP connection reads only this
	m sync.Map     // net.Conn -> func()
}

// hold keeps release for c until its hijack handler claims it or c is closed first.
func (u *pendingUpgrades) hold(c net.Conn, release func()) {
	u.n.Add(1)
	u.m.Store(c, release)
}

// connState is the transports' fasthttp ConnState hook: a connection closed before its
// hijack gives back the WebSocket slot and the shutdown wait it was holding.
func (u *pendingUpgrades) connState(c net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateClosed || u.n.Load() == 0 {
		return
	}
	if release, ok := u.m.LoadAndDelete(c); ok {
		u.n.Add(-1)
		release.(func())()
	}
}

// claim takes c out of the gate when its hijack handler starts; false when the connection
// was closed (and its slot released) first.
func (u *pendingUpgrades) claim(c net.Conn) bool {
	if _, ok := u.m.LoadAndDelete(c); ok {
		u.n.Add(-1)
		return true
	}
	return false
}

// wsService is Crossbar's `websocket` path service: WAMP over WebSocket (WAMP spec section
// "WebSocket Transport"), served by the worker's router.
type wsService struct {
	where   string
	log     *slog.Logger
	ref     *routerRef
	opts    config.WebSocketOptions
	allowed []string // subprotocols this path serves, in Portico's order
	writeTO time.Duration
	auth    *config.Auth // the path's `auth`, checked by the router at HELLO
	// trustedRole, on a router component's private listener, joins every session with this
	// authrole and no authentication (router.PeerInfo.TrustedRole).
	trustedRole string
	// cookies is the path's cookie store (`cookie`, gateway/cookie.go); nil without one.
	cookies *router.CookieStore
	// ip finds the client behind the transport's trusted_proxies (the session's peer).
	ip realIP
	// slots counts the transport's live upgraded connections, maxConns bounds them: fasthttp's
	// Concurrency (max_connections) stops counting a connection once it is hijacked.
	slots    *atomic.Int64
	maxConns int64
	// upgrades holds an answered upgrade until its hijack (the gateway's pendingUpgrades).
	upgrades *pendingUpgrades
	up       websocket.Upgrader
	// serveSession runs one session; the router's Serve (tests put an echo here to check the
	// transport alone).
	serveSession func(router.Transport, router.PeerInfo) error
	debug        bool // Crossbar's `debug`: log each connection and its messages (debugTransport)
}

func newWebSocketService(svc *config.Service, t *config.Transport, ref *routerRef, upgrades *pendingUpgrades, log *slog.Logger) (*wsService, error) {
	ws := svc.WebSocket
	if ws == nil {
		return nil, fmt.Errorf("%s: a websocket service without its configuration", svc.Place)
	}
	s := &wsService{where: svc.Place, log: log, ref: ref, opts: ws.Options, writeTO: t.Options.WriteTimeout, auth: ws.Auth,
		slots: ref.slotsOf(t.Place), maxConns: int64(t.Options.MaxConnections), upgrades: upgrades, serveSession: ref.r.Serve,
		debug: ws.Debug}
	if s.maxConns <= 0 {
		s.maxConns = fasthttp.DefaultConcurrency // what max_connections 0 means for HTTP too
	}
	trusted, err := parseTrusted(t.Options.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%s.options.trusted_proxies: %w", t.Place, err)
	}
	s.ip = realIP{trusted: trusted, header: t.Options.RealIPHeader}
	for _, p := range wamp.Subprotocols {
		c, _, ok := wamp.LookupSubprotocol(p)
		if ok && slices.Contains(ws.Serializers, c.Name()) {
			s.allowed = append(s.allowed, p)
		}
	}
	if len(s.allowed) == 0 {
		return nil, fmt.Errorf("%s.serializers: none of %v is available", svc.Place, ws.Serializers)
	}
	// The upgrade runs on the hijacked network connection itself (see upgrade), with the
	// websocket package's net/http Upgrader: its checks are all made in serve first, so that
	// it only writes the 101.
	s.up = websocket.Upgrader{
		HandshakeTimeout: ws.Options.OpenHandshakeTimeout,
		// A session is idle most of its life, and what it holds while idle is paid per
		// connection. The reader needs room for a frame head and a control frame (125
		// bytes, RFC 6455 section 5.5); bigger payloads are read straight into the message.
		// An uncompressed message is written as one frame whatever the buffer's size (the
		// head and first bytes from the buffer, the rest straight from the message, in one
		// write); a compressed one goes in frames of the buffer's size. A pool of write
		// buffers (WriteBufferPool) would hold none while idle, but costs an allocation per
		// message written.
		ReadBufferSize:    wsReadBufferSize,
		WriteBufferSize:   wsWriteBufferSize,
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: ws.Options.Compression,
	}
	if ws.Options.Compression {
		s.up.WriteBufferSize = wsDeflateBufferSize
	}
	if ws.Cookie != nil { // last: the store holds a file the service's close releases
		if s.cookies, err = router.NewCookieStore(*ws.Cookie, nil, log); err != nil {
			return nil, fmt.Errorf("%s.cookie: %w", svc.Place, err)
		}
	}
	return s, nil
}

func (s *wsService) place() string { return s.where }

// close leaves live sessions alone: they belong to the router, which a reload keeps and
// Shutdown closes (routerRef.close).
func (s *wsService) close() {
	if s.cookies != nil {
		_ = s.cookies.Close()
	}
}

func (s *wsService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	h := &ctx.Request.Header
	if upgrade, err := upgradeGate(ctx, &s.opts, s.statusPage, "this path speaks WAMP over WebSocket only"); !upgrade {
		return err
	}
	proto, offered := negotiate(h.PeekAll("Sec-WebSocket-Protocol"), s.allowed)
	if proto == "" {
		return &clientReason{err: errNoSubprotocol, reason: "This server only speaks WebSocket subprotocols " + strings.Join(s.allowed, ", ")}
	}
	codec, batched, _ := wamp.LookupSubprotocol(proto)
	// The subprotocol is named only to a client that offered some: RFC 6455 section 4.2.2
	// forbids answering one the client did not offer, and a client that offered none speaks
	// wamp.2.json unnamed (autobahn's WampWebSocketServerProtocol.onConnect).
	respHeader := http.Header{}
	if offered {
		respHeader.Set("Sec-WebSocket-Protocol", proto)
	}
	req := upgradeRequest(h)
	// The session's peer is the client: behind trusted_proxies the forwarded address, as for
	// a wsgi path's REMOTE_ADDR (Crossbar's trust_x_forwarded_for does the same for autobahn).
	remote := ctx.RemoteAddr().String()
	if a, p, fwd := s.ip.client(addrPort(ctx.RemoteAddr()), h); fwd {
		remote = hostPort(a, p)
	}
	info := router.PeerInfo{Transport: "websocket", RemoteAddr: remote, Protocol: proto, Auth: s.auth,
		Limits: s.opts.SessionLimits, TrustedRole: s.trustedRole}
	if s.cookies != nil {
		info.Cookie = s.trackCookie(ctx, respHeader)
	}
	info.Secure, info.ChannelID = channelBinding(ctx.TLSConnectionState())
	info.PeerCert = peerCert(ctx.TLSConnectionState())
	return hijackUpgrade(ctx, upgradeSlots{s.slots, s.maxConns, &s.ref.wg, s.upgrades}, s.log, info.RemoteAddr,
		func(hc net.Conn) (*websocket.Conn, error) { return s.upgrade(hc, req, respHeader) },
		func(c *websocket.Conn) { s.session(c, codec, batched, info) })
}

// aLongTimeAgo is a read deadline that makes a read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// upgrade answers 101 on the hijacked connection hc and returns the WebSocket connection
// over the network connection under it. fasthttp reads the request through a buffer that
// may already hold bytes the client sent after its request (RFC 6455 section 4.1 says it
// must wait for the 101, but a client may not); detachHijacked puts them in front of it.
// The WAMP session's writes go through a corkConn (corkconn.go).
func (s *wsService) upgrade(hc net.Conn, req *http.Request, respHeader http.Header) (*websocket.Conn, error) {
	return upgradeHijacked(&s.up, hc, req, respHeader, true)
}

func upgradeHijacked(up *websocket.Upgrader, hc net.Conn, req *http.Request, respHeader http.Header, cork bool) (*websocket.Conn, error) {
	nc, err := detachHijacked(hc)
	if err != nil {
		return nil, err
	}
	if cork {
		nc = &corkConn{Conn: nc}
	}
	w := &hijackWriter{conn: nc}
	c, err := up.Upgrade(w, req, respHeader)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// checkUpgrade makes the checks of an opening handshake that do not depend on what is spoken
// over the connection (RFC 6455 section 4.2.1): version 13, a key of 16 bytes, at most one
// Origin, and that one allowed by the options (autobahn's allowed_origins).
// upgradeGate is what a WebSocket path does before its upgrade: GET and HEAD only; a
// request that is no upgrade gets the status page (enable_webstatus) or, as from autobahn
// when it is off, 426 with reason; an upgrade must be a GET that checkUpgrade accepts. It
// says whether the upgrade may go on; when not, err is the answer (nil: the page was written).
func upgradeGate(ctx *fasthttp.RequestCtx, o *config.WebSocketOptions, statusPage func(*fasthttp.RequestCtx), reason string) (upgrade bool, err error) {
	if !ctx.IsGet() && !ctx.IsHead() {
		return false, errMethod
	}
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		if !o.EnableWebStatus {
			return false, &clientReason{err: errUpgradeRequired, reason: reason}
		}
		statusPage(ctx)
		return false, nil
	}
	if !ctx.IsGet() {
		return false, errMethod
	}
	if err := checkUpgrade(&ctx.Request.Header, o); err != nil {
		return false, err
	}
	return true, nil
}

func checkUpgrade(h *fasthttp.RequestHeader, o *config.WebSocketOptions) error {
	if v := h.Peek("Sec-WebSocket-Version"); string(v) != "13" {
		// RFC 6455 section 4.4: name the versions this server speaks.
		return &clientReason{err: errBadHandshake, reason: "unsupported Sec-WebSocket-Version " + strconv.Quote(string(v)) + ", this server speaks 13"}
	}
	key := h.Peek("Sec-WebSocket-Key")
	if len(key) == 0 {
		return &clientReason{err: errBadHandshake, reason: "Sec-WebSocket-Key missing"}
	}
	if k, err := base64.StdEncoding.DecodeString(string(key)); err != nil || len(k) != 16 {
		// RFC 6455 section 4.2.1, item 5.
		return &clientReason{err: errBadHandshake, reason: "Sec-WebSocket-Key is not the base64 of 16 bytes"}
	}
	if origins := h.PeekAll("Origin"); len(origins) > 0 {
		if len(origins) > 1 {
			return &clientReason{err: errBadHandshake, reason: "Origin header appears more than once"}
		}
		if !originAllowed(string(origins[0]), o.AllowedOrigins, o.AllowNullOrigin) {
			return &clientReason{err: errOrigin, reason: "WebSocket connection denied: origin " + strconv.Quote(string(origins[0])) + " not allowed"}
		}
	}
	return nil
}

// upgradeRequest is the request the websocket package's Upgrader checks and answers: the
// headers of the handshake, from the fasthttp request.
func upgradeRequest(h *fasthttp.RequestHeader) *http.Request {
	req := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	for _, k := range []string{"Connection", "Upgrade", "Sec-WebSocket-Version", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions"} {
		for _, v := range h.PeekAll(k) {
			req.Header.Add(k, string(v))
		}
	}
	return req
}

// upgradeSlots bound the live upgraded connections of a transport (slots, max_connections)
// and count them for a shutdown's wait (wg).
type upgradeSlots struct {
	n       *atomic.Int64
	max     int64
	wg      *sync.WaitGroup
	pending *pendingUpgrades // the gateway's, until the hijack
}

// hijackUpgrade takes a slot, has fasthttp hand over the connection after this handler,
// upgrades it there and runs run on it in a goroutine of its own. The slot is given back when
// run returns, or when the connection never gets to it (the upgrade refuses, or the 101
// cannot be written).
func hijackUpgrade(ctx *fasthttp.RequestCtx, slots upgradeSlots, log *slog.Logger, remote string,
	upgrade func(net.Conn) (*websocket.Conn, error), run func(*websocket.Conn)) error {
	if slots.n.Add(1) > slots.max {
		slots.n.Add(-1)
		// A refused client should not keep an HTTP connection (and its max_connections slot).
		ctx.SetConnectionClose()
		return &clientReason{err: errWSLimit, reason: "too many WebSocket connections, try again later"}
	}
	slots.wg.Add(1)
	release := func() {
		slots.n.Add(-1)
		slots.wg.Done()
	}
	conn := ctx.Conn()
	ctx.HijackSetNoResponse(true) // the Upgrader writes the 101 on the hijacked connection
	ctx.Hijack(func(hc net.Conn) {
		if !slots.pending.claim(conn) {
			return // closed first: pendingUpgrades.connState released the slot
		}
		c, err := upgrade(hc)
		if err != nil {
			release()
			log.Debug("websocket upgrade failed", "remote", remote, "error", err)
			return
		}
		// The session runs on past this handler: fasthttp then drops what it kept for the
		// connection (its request context and its read buffer of max_header_size bytes,
		// which a hijacked connection otherwise holds for its whole life); the server keeps
		// hijacked connections open (KeepHijackedConns), run closes it.
		go func() {
			defer release()
			run(c)
		}()
	})
	slots.pending.hold(conn, release)
	return nil
}

// earlyConn reads bytes the client sent before the 101, then the connection.
type earlyConn struct {
	net.Conn
	r io.Reader
}

func (c *earlyConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// hijackWriter hands the websocket package's Upgrader a connection that fasthttp already
// hijacked (http.Hijacker). The Upgrader writes only the 101: every check that would make it
// answer an error was made by serve.
type hijackWriter struct {
	conn net.Conn
	hdr  http.Header
}

func (w *hijackWriter) Header() http.Header {
	if w.hdr == nil {
		w.hdr = http.Header{}
	}
	return w.hdr
}
func (w *hijackWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *hijackWriter) WriteHeader(int)             {}
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	// Nothing is buffered in these: the Upgrader reads through its own reader
	// (ReadBufferSize) and writes the 101 from the writer's (small) buffer.
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, 16), bufio.NewWriterSize(w.conn, 512)), nil
}

// session serves one upgraded connection until the router is done with it.
func (s *wsService) session(c *websocket.Conn, codec wamp.Codec, batched bool, info router.PeerInfo) {
	t := newWSTransport(c, codec, batched, s.opts, s.writeTO)
	t.log, t.place, t.remote = s.log, s.where, info.RemoteAddr
	s.ref.add(t)
	defer s.ref.remove(t)
	pinging := make(chan struct{})
	if s.opts.AutoPingInterval > 0 {
		go func() { defer close(pinging); t.pingLoop(s.opts.AutoPingInterval) }()
	} else {
		close(pinging)
	}
	err := serveDebug(s.serveSession, t, info, s.debug, s.log, "websocket")
	_ = t.Close()
	<-pinging
	t.drain()
	// The server keeps hijacked connections (KeepHijackedConns): closing is the session's.
	_ = c.Close()
	s.log.Debug("wamp session ended", "remote", info.RemoteAddr, "protocol", info.Protocol, "error", err)
}

// negotiate picks the subprotocol: the first of the client's offers, in the client's order of
// preference (WAMP spec, "WebSocket Transport"), that the path serves. A client that offers
// none gets wamp.2.json, as from Crossbar; offered says whether the client named any.
func negotiate(values [][]byte, allowed []string) (proto string, offered bool) {
	for _, v := range values {
		for p := range strings.SplitSeq(string(v), ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			offered = true
			if slices.Contains(allowed, p) {
				return p, true
			}
		}
	}
	if !offered && slices.Contains(allowed, "wamp.2.json") {
		return "wamp.2.json", false
	}
	return "", offered
}

// originAllowed applies autobahn's origin rule (websocket/protocol.py _is_same_origin): the
// "null" origin (and file: pages) only with allow_null_origin; any other is reduced to
// scheme://host:port (80/443 by default) and matched against the patterns, where "*" matches
// anything. No patterns means all origins.
func originAllowed(origin string, patterns []string, allowNull bool) bool {
	o := strings.TrimSpace(origin)
	if strings.EqualFold(o, "null") {
		return allowNull
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" {
		return allowNull
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return false
	}
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			port = "None" // what autobahn's template prints for an unknown scheme
		}
	}
	if len(patterns) == 0 {
		return true
	}
	canon := scheme + "://" + host + ":" + port
	for _, p := range patterns {
		if wildcardMatch(p, canon) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern as a whole, where '*' matches any run of
// characters (autobahn's wildcards2patterns).
func wildcardMatch(pattern, s string) bool {
	// Iterative glob with one backtrack point: linear in practice, no regexp per request.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// statusPage answers a plain GET on the path, as Crossbar's (autobahn's sendServerStatus).
func (s *wsService) statusPage(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	fmt.Fprintf(ctx, `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Portico WAMP endpoint</title></head>
<body>
<h1>Portico</h1>
<p>This is not a web page but a <b>WAMP</b> endpoint: connect to it with a
<a href="https://www.rfc-editor.org/rfc/rfc6455">WebSocket</a> client speaking one of the
subprotocols %s.</p>
</body>
</html>
`, html.EscapeString(strings.Join(s.allowed, ", ")))
}

// wsTransport is router.Transport over one WebSocket connection. Reads happen in the router's
// reader and, after the session, in drain; writes in the router's writer and, for control
// frames (which the websocket package allows concurrently), in pingLoop and Close.
type wsTransport struct {
	conn    *websocket.Conn
	codec   wamp.Codec
	batched bool
	frame   int // websocket.TextMessage or BinaryMessage
	writeTO time.Duration
	helloTO time.Duration
	idleTO  time.Duration // with auto ping: interval + timeout; 0 means no read deadline
	closeTO time.Duration
	maxSize int // max_message_size, 0 for none
	// log, place and remote are for the one warning at max_message_size.
	log    *slog.Logger
	place  string
	remote string

	readMu  sync.Mutex
	opened  bool      // the first message arrived
	pending [][]byte  // messages of a batched frame not yet read
	readErr error     // the first read error; the websocket package panics on reads after one
	wbuf    []byte    // batched frame being written
	cc      *corkConn // the connection under conn, when it can cork
	corked  bool      // between Cork and Uncork (the writer's own)

	closeBy   atomic.Int64 // unix nanoseconds: the read deadline once closing
	silent    atomic.Bool  // the client stopped answering: no closing handshake, as autobahn drops it
	isCut     atomic.Bool  // cut: deadlines are in the past for good
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
}

func newWSTransport(c *websocket.Conn, codec wamp.Codec, batched bool, o config.WebSocketOptions, writeTO time.Duration) *wsTransport {
	t := &wsTransport{conn: c, codec: codec, batched: batched, frame: websocket.TextMessage,
		writeTO: writeTO, helloTO: o.OpenHandshakeTimeout, closeTO: o.CloseHandshakeTimeout,
		done: make(chan struct{})}
	if codec.Binary() {
		t.frame = websocket.BinaryMessage
	}
	t.cc, _ = c.NetConn().(*corkConn)
	if t.closeTO <= 0 {
		t.closeTO = time.Second
	}
	t.maxSize = o.MaxMessageSize
	if o.MaxMessageSize > 0 {
		// The websocket package sums the payload lengths of a message's frames as their
		// headers arrive and fails before reading a payload that would pass the limit, with
		// a 1009 close (RFC 6455 section 7.4.1): a long run of continuation frames is cut at
		// the limit, not buffered.
		c.SetReadLimit(int64(o.MaxMessageSize))
	}
	if o.AutoPingInterval > 0 {
		to := o.AutoPingTimeout
		if to <= 0 {
			to = o.AutoPingInterval
		}
		t.idleTO = o.AutoPingInterval + to
		// Any frame from the client proves it alive; a pong answers our ping.
		c.SetPongHandler(func(string) error { t.extendRead(); return nil })
	}
	return t
}

func (t *wsTransport) Codec() wamp.Codec { return t.codec }

// ReadMessage returns the next WAMP message. The first must come within
// open_handshake_timeout; later reads are bounded by the auto ping rule: with auto pings, a
// client silent for interval + timeout (no message, no pong) is gone. Without them a session
// may be idle for as long as it likes (WAMP sessions are long-lived); TCP keepalive finds dead
// peers.
func (t *wsTransport) ReadMessage() ([]byte, error) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	for {
		if len(t.pending) > 0 {
			m := t.pending[0]
			t.pending[0] = nil
			t.pending = t.pending[1:]
			return m, nil
		}
		if t.readErr != nil {
			return nil, t.readErr
		}
		if t.closed.Load() {
			return nil, net.ErrClosed
		}
		if !t.opened && t.helloTO > 0 {
			t.setReadDeadline(time.Now().Add(t.helloTO))
		} else {
			t.extendRead()
		}
		// A fresh slice per message: the router may keep parts of it.
		b, err := t.readFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.silent.Store(true)
			}
			if errors.Is(err, websocket.ErrReadLimit) && t.log != nil {
				t.log.Warn("websocket message over max_message_size: connection closed with 1009; raise options.max_message_size of the path to accept it",
					"path", t.place, "remote", t.remote, "max_message_size", t.maxSize)
			}
			t.readErr = fmt.Errorf("websocket read: %w", err)
			return nil, t.readErr
		}
		t.opened = true
		if !t.batched {
			return b, nil
		}
		t.pending = t.pending[:0]
		if err := wamp.SplitBatched(t.codec, b, func(m []byte) error {
			t.pending = append(t.pending, m)
			return nil
		}); err != nil {
			t.readErr = fmt.Errorf("batched frame: %w", err)
			return nil, t.readErr
		}
	}
}

// readFrame reads one WebSocket message. The websocket package's read limit counts bytes on
// the wire; with permessage-deflate a small frame can inflate to far more (DEFLATE reaches
// about 1032:1, so 1 MiB on the wire is 1 GiB inflated), and the package's inflating reader
// has no bound of its own. So the inflated size is held to max_message_size here, while it
// is read: at most max_message_size+1 bytes are inflated, then the connection is closed
// with the same 1009.
func (t *wsTransport) readFrame() ([]byte, error) {
	_, r, err := t.conn.NextReader()
	if err != nil {
		return nil, err
	}
	b, err := readMessage(r, t.maxSize)
	if errors.Is(err, websocket.ErrReadLimit) {
		_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), time.Now().Add(t.closeTO))
	}
	return b, err
}

// readMessage reads r to its end, never more than limit+1 bytes (limit 0: no limit); more
// than limit bytes is websocket.ErrReadLimit. Up to 1 MiB the buffer doubles as it fills;
// past that the message is read in 1 MiB chunks and joined once at the end, so that a large
// message costs about twice its size at the peak (io.ReadAll grows by a quarter at a time,
// copying a large message some four times over and leaving the copies to the collector).
func readMessage(r io.Reader, limit int) ([]byte, error) {
	const chunk = 1 << 20
	over := func(n int) bool { return limit > 0 && n > limit }
	b := make([]byte, 0, 512)
	var chunks [][]byte // full chunks before b
	total := 0          // bytes in chunks
	for {
		if len(b) == cap(b) {
			if over(total + len(b)) {
				return nil, websocket.ErrReadLimit
			}
			switch n := 2 * cap(b); {
			case n <= chunk:
				if limit > 0 && n > limit+1 {
					n = limit + 1
				}
				nb := make([]byte, len(b), n)
				copy(nb, b)
				b = nb
			default:
				chunks = append(chunks, b)
				total += len(b)
				n = chunk
				if limit > 0 {
					n = min(n, limit+1-total) // total <= limit: checked above
				}
				b = make([]byte, 0, n)
			}
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if over(total + len(b)) {
		return nil, websocket.ErrReadLimit
	}
	if chunks == nil {
		return b, nil
	}
	out := make([]byte, 0, total+len(b))
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, b...), nil
}

// extendRead moves the read deadline to idleTO from now (none without auto ping), unless the
// transport is closing: then the closing deadline stays.
func (t *wsTransport) extendRead() {
	var d time.Time
	if t.idleTO > 0 {
		d = time.Now().Add(t.idleTO)
	}
	t.setReadDeadline(d)
}

func (t *wsTransport) setReadDeadline(d time.Time) {
	_ = t.conn.SetReadDeadline(d)
	// Close stores closeBy before closed: seeing closed here means closeBy is set, and a
	// deadline Close set before ours is put back.
	if t.closed.Load() {
		_ = t.conn.SetReadDeadline(time.Unix(0, t.closeBy.Load()))
	}
}

// WriteMessage sends one message in its own frame (batched subprotocols too: a batch of one is
// valid, and it keeps latency and memory per message flat). Every write has a deadline.
func (t *wsTransport) WriteMessage(b []byte) error {
	if t.batched {
		t.wbuf = wamp.AppendBatched(t.wbuf[:0], t.codec, b)
		b = t.wbuf
	}
	if t.corked {
		// Held until Uncork, which applies the deadline Cork set and checks for a cut.
		return t.conn.WriteMessage(t.frame, b)
	}
	if t.writeTO > 0 {
		_ = t.conn.SetWriteDeadline(time.Now().Add(t.writeTO))
	}
	// Checked after the deadline is set: a cut that came first must not be undone by it.
	if t.isCut.Load() {
		return net.ErrClosed
	}
	if err := t.conn.WriteMessage(t.frame, b); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// Cork holds the next messages' frames until Uncork (router.CorkTransport); without a
// corkConn under the connection, messages go out one by one as ever. The held frames share
// one write deadline, write_timeout from now.
func (t *wsTransport) Cork() {
	if t.cc == nil {
		return
	}
	t.cc.cork()
	t.corked = true
	var d time.Time
	if t.writeTO > 0 {
		d = time.Now().Add(t.writeTO)
	}
	_ = t.conn.SetWriteDeadline(d)
}

// Uncork sends the frames held since Cork with one write.
func (t *wsTransport) Uncork() error {
	if t.cc == nil {
		return nil
	}
	t.corked = false
	if err := t.cc.uncork(t.isCut.Load); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// Close starts the closing handshake (RFC 6455 section 7.1.2, status 1000) and bounds the
// remaining reads by close_handshake_timeout, so a blocked ReadMessage returns by then.
func (t *wsTransport) Close() error {
	t.closeOnce.Do(func() {
		now := time.Now()
		t.closeBy.Store(now.Add(t.closeTO).UnixNano())
		t.closed.Store(true)
		close(t.done)
		wd := now.Add(t.closeTO)
		if t.writeTO > 0 && t.writeTO < t.closeTO {
			wd = now.Add(t.writeTO)
		}
		if t.silent.Load() {
			// No HELLO in time or no pong: the client is not listening, cut it (autobahn's
			// dropConnection(abort=True) on an auto-ping timeout).
			t.cut()
			return
		}
		if t.isCut.Load() {
			return // cut already: a close frame and fresh deadlines would undo it
		}
		_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), wd)
		_ = t.conn.SetReadDeadline(now.Add(t.closeTO))
	})
	return nil
}

// cut ends the connection at once: every read and write fails from now on. It puts the
// deadlines in the past rather than closing: the session's reader and writer may still be in
// the websocket package, and session closes the connection once they are out.
func (t *wsTransport) cut() {
	t.isCut.Store(true)
	t.closeBy.Store(1)
	t.closed.Store(true)
	past := time.Unix(0, 1)
	_ = t.conn.NetConn().SetDeadline(past)
}

// drain waits, up to close_handshake_timeout, for the client's close frame after Close, so
// that the TCP connection is not reset under data the client has still to read.
func (t *wsTransport) drain() {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	if t.readErr != nil {
		return
	}
	for {
		if _, _, err := t.conn.NextReader(); err != nil {
			t.readErr = err
			return
		}
	}
}

// pingLoop sends a ping every interval until the transport closes or a ping cannot be
// written; the read deadline (extendRead) ends a session whose client stops answering.
func (t *wsTransport) pingLoop(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
			wd := time.Now().Add(interval)
			if t.writeTO > 0 {
				wd = time.Now().Add(t.writeTO)
			}
			if err := t.conn.WriteControl(websocket.PingMessage, nil, wd); err != nil {
				t.cut()
				return
			}
		}
	}
}

var (
	_ service          = (*wsService)(nil)
	_ router.Transport = (*wsTransport)(nil)
)

// serveDebug runs serve over t; with debug (Crossbar's `debug` on a websocket path or a
// rawsocket transport) the connection's opening, messages and end are logged at info level
// as kind+" debug: ...".
func serveDebug(serve func(router.Transport, router.PeerInfo) error, t router.Transport, info router.PeerInfo, debug bool, log *slog.Logger, kind string) error {
	if !debug {
		return serve(t, info)
	}
	d := &debugTransport{Transport: t, log: log.With("remote", info.RemoteAddr, "protocol", info.Protocol), kind: kind}
	d.log.Info(kind + " debug: connection open")
	err := serve(d, info)
	d.log.Info(kind+" debug: connection closed", "error", err)
	return err
}

// debugTransport logs every message of one connection with Crossbar's `debug`: the
// direction, the WAMP message type and the size. The content is not logged: AUTHENTICATE
// carries tickets in clear, and events and calls carry the application's data.
type debugTransport struct {
	router.Transport
	log  *slog.Logger
	kind string
}

func (t *debugTransport) ReadMessage() ([]byte, error) {
	b, err := t.Transport.ReadMessage()
	if err == nil {
		t.log.Info(t.kind+" debug: message in", "type", t.messageType(b), "bytes", len(b))
	}
	return b, err
}

func (t *debugTransport) WriteMessage(b []byte) error {
	t.log.Info(t.kind+" debug: message out", "type", t.messageType(b), "bytes", len(b))
	return t.Transport.WriteMessage(b)
}

// messageType names the WAMP message in b, decoding it again (debug only).
func (t *debugTransport) messageType(b []byte) string {
	m, err := t.Codec().Decode(b)
	if err != nil {
		return "undecodable"
	}
	return m.Type().String()
}

var _ router.Transport = (*debugTransport)(nil)
