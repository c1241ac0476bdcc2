package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httputil"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/uwsgiproto"
)

// wsgiService proxies one `wsgi` path to its uwsgi upstreams over the uwsgi protocol.
type wsgiService struct {
	where   string
	log     *slog.Logger
	bal     balancer
	env     *envConfig
	maxBody int64 // 0: unlimited
	// buffering reads bodies whole before uwsgi is contacted (request_buffering, see
	// buffering.go); quota bounds what the transport holds meanwhile.
	buffering bool
	quota     *spoolQuota
	// respBuffering reads responses from uwsgi as fast as it writes them (buffering, see
	// respbuffer.go), keeping up to maxTempFile bytes of each in a spool file.
	respBuffering bool
	maxTempFile   int64
	// table is the path table this service is part of, where X-Accel-Redirect targets are
	// looked up; sendfileRoots serve X-Sendfile (see xaccel.go).
	table         *pathNode
	sendfileRoots []*staticService

	queueTimeout   time.Duration
	connectTimeout time.Duration
	sendTimeout    time.Duration
	readTimeout    time.Duration
	bodyTimeout    time.Duration // client body read, per read
	writeTO        time.Duration // client write, per write
	spoolDir       string
	maxHeadBytes   int

	// vars are the path's `vars` (uwsgi_param), varsHTTP their HTTP_* names, which replace
	// the request headers of those names (uwsgivars.go).
	vars     []config.Var
	varsHTTP []string
	// intercept is the transport's error pages when the path has intercept_errors: an
	// upstream status with a page is answered with the page (errorpages.go).
	intercept map[int]*errorPage
	// upgraded counts the transport's live upgraded connections (shared with its WAMP
	// websocket paths, connSlots), maxUpgraded bounds them: max_connections, which fasthttp
	// stops counting for a connection once it is hijacked. nil in tests that build the
	// service alone.
	upgraded    *atomic.Int64
	upgrades    *pendingUpgrades // the gateway's: holds a relayed upgrade until its hijack
	maxUpgraded int64

	stop func() // stops a launched uwsgi; nil for external upstreams

	// persist is the launched uwsgi's persistent socket (uwsgi_persistent, persist.go):
	// bodyless GET and HEAD requests go there; nil without one.
	persist *persistPool
}

// connKind tells how a request reached uwsgi, and so how its connection ends.
type connKind uint8

const (
	connPlain         connKind = iota // a new connection on the uwsgi socket
	connDirect                        // the same, counted against a persistent pool's workers
	connPersistNew                    // a new connection on the persistent socket
	connPersistReused                 // an idle one from the persistent pool
)

// dropConn closes a connection that is not kept (and frees its place in the persistent pool).
func (s *wsgiService) dropConn(conn upstreamConn, kind connKind) {
	switch kind {
	case connPersistNew, connPersistReused:
		s.persist.put(conn, false, time.Time{})
	case connDirect:
		conn.Close()
		s.persist.endDirect()
	default:
		conn.Close()
	}
}

// envConfig holds what the CGI vars need beyond the request itself.
type envConfig struct {
	documentRoot string
	ip           realIP
	tls          bool
}

// chunkedMemLimit is how much of a request body read whole before uwsgi is contacted (every
// body with request_buffering, and every chunked one: uwsgi needs CONTENT_LENGTH up front and
// cannot take chunked input from a proxy) is held in memory before it goes to a file in
// spool_dir (nginx does the same with client_body_buffer_size and client_body_temp_path).
// 64 KiB (nginx: 16 KiB) keeps many concurrent uploads cheap: at 1 MiB, eight of them took
// Portico from 17 to 36 MiB (contrib/bench/memory), as each buffer grows by doubling past the
// threshold.
const chunkedMemLimit = 64 << 10

// Response head limit from uwsgi: as nginx's uwsgi_buffer_size it bounds the status line and
// headers of one response; a larger head is a malformed response (502).
const defaultMaxHeadBytes = 64 << 10

func newWSGIService(svc *config.Service, to *config.Transport, node *config.Node, log *slog.Logger, ups []string, waitReady func(context.Context) error) (*wsgiService, error) {
	w := svc.WSGI
	s := &wsgiService{
		where:          svc.Place,
		log:            log,
		env:            &envConfig{documentRoot: node.Dir, tls: to.Endpoint.TLS != nil},
		maxBody:        w.MaxBodySize,
		buffering:      w.RequestBuffering,
		respBuffering:  w.Buffering,
		maxTempFile:    w.MaxTempFileSize,
		quota:          &spoolQuota{},
		queueTimeout:   w.QueueTimeout,
		connectTimeout: w.ConnectTimeout,
		sendTimeout:    w.SendTimeout,
		readTimeout:    w.ReadTimeout,
		bodyTimeout:    to.Options.BodyReadTimeout,
		writeTO:        to.Options.WriteTimeout,
		spoolDir:       os.TempDir(),
		maxHeadBytes:   defaultMaxHeadBytes,
	}
	trusted, err := parseTrusted(to.Options.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%s.options.trusted_proxies: %w", to.Place, err)
	}
	s.env.ip = realIP{trusted: trusted, header: to.Options.RealIPHeader}
	for _, dir := range w.SendfileRoots {
		root, err := os.OpenRoot(dir)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("%s.sendfile_roots: %w", svc.Place, err)
		}
		st := &staticService{where: svc.Place, dir: dir, mimes: map[string]string{}, writeTO: to.Options.WriteTimeout}
		st.root.Store(root)
		s.sendfileRoots = append(s.sendfileRoots, st)
	}
	s.vars, s.varsHTTP = w.Vars, httpVarNames(w.Vars)
	s.bal.leastConn = w.Balance == "least_conn"
	limit := w.MaxConcurrency
	if limit <= 0 {
		limit = 64
	}
	for _, spec := range ups {
		network, addr, err := parseUpstream(spec)
		if err != nil {
			return nil, fmt.Errorf("%s.upstream: %w", svc.Place, err)
		}
		u := &upstream{
			label: spec, network: network, addr: addr, max: limit,
			maxFails: w.MaxFails, failTimeout: w.FailTimeout, waitReady: waitReady,
			netpoll: upstreamNetpoll,
		}
		if network == "unix" {
			var ok bool
			if u.sa, ok = newRawSockaddrUnix(addr); !ok {
				return nil, fmt.Errorf("%s.upstream: unix socket path %q is empty or longer than 107 bytes", svc.Place, addr)
			}
		}
		s.bal.ups = append(s.bal.ups, u)
	}
	if len(s.bal.ups) == 0 {
		return nil, fmt.Errorf("%s: no upstream", svc.Place)
	}
	return s, nil
}

func parseTrusted(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (s *wsgiService) place() string { return s.where }

func (s *wsgiService) close() {
	for _, u := range s.bal.ups {
		if u.stats != nil {
			u.stats.drop(u)
		}
	}
	if s.stop != nil {
		s.stop()
	}
	for _, st := range s.sendfileRoots {
		st.close()
	}
}

// proxyState is the per-request scratch of the wsgi path, pooled so that the hot path does
// not allocate.
type proxyState struct {
	enc     uwsgiproto.Encoder
	scratch []byte
	nameBuf []byte
	xff     []byte // a trusted proxy's X-Forwarded-For, extended in buildVars
	hdrs    []hdr
	spool   spool
	// chunkedVar adds PORTICO_CHUNKED to the vars (see serve).
	chunkedVar bool
	// upgradeSlot: the request holds one of the transport's upgraded-connection slots
	// (wsgiService.upgraded) until serve returns or a relay takes it over.
	upgradeSlot bool
}

type hdr struct{ k, v []byte }

var proxyStatePool = sync.Pool{New: func() any { return new(proxyState) }}

func (s *wsgiService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	err := s.proxy(ctx, rq)
	if err != nil {
		s.countFailure(err)
	}
	return err
}

// countFailure counts an upstream's failure in its metrics series.
func (s *wsgiService) countFailure(err error) {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return
	}
	for _, u := range s.bal.ups {
		if u.label == ue.upstream && u.stats != nil {
			u.stats.failure(ue.op, ue.err)
			return
		}
	}
}

func (s *wsgiService) proxy(ctx *fasthttp.RequestCtx, rq *request) error {
	ps := proxyStatePool.Get().(*proxyState)
	defer proxyStatePool.Put(ps)

	h := &ctx.Request.Header
	cl := int64(h.ContentLength())
	if s.maxBody > 0 && cl > s.maxBody {
		ctx.SetConnectionClose() // the unread body cannot be skipped cheaply
		return errBodyTooLarge
	}

	if upgradeRequested(ctx) && s.upgraded != nil {
		// A WebSocket the app may accept: it counts against max_connections from here, as
		// the transport's WAMP WebSockets do; over it, 503 before the app is asked.
		if s.upgraded.Add(1) > s.maxUpgraded {
			s.upgraded.Add(-1)
			ctx.SetConnectionClose()
			return &clientReason{err: errWSLimit, reason: "too many WebSocket connections, try again later"}
		}
		ps.upgradeSlot = true
		defer func() {
			if ps.upgradeSlot { // not handed to a relay
				ps.upgradeSlot = false
				s.upgraded.Add(-1)
			}
		}()
	}

	// The request body is read whole before an upstream slot is taken (request_buffering),
	// or streams through as it arrives; a chunked one is read whole either way.
	bodyLen, body, err := s.readBody(ctx, &ps.spool, cl)
	defer ps.spool.reset()
	if err != nil {
		ctx.SetConnectionClose() // the unread rest of the body cannot be skipped cheaply
		return err
	}
	streamed := cl > 0 && !s.buffering

	// bodyless requests may go over the persistent socket (uWSGI reads no body there); they
	// ask the launched app's wrapper (launch/persist.py) to frame an unsized response in
	// chunks, wherever they go, so that its end is seen without a close.
	bodyless := s.persist != nil && body == nil && bodyLen == 0 && (h.IsGet() || h.IsHead()) && !upgradeRequested(ctx)
	ps.chunkedVar = bodyless
	packet, err := s.buildVars(ctx, rq, ps, bodyLen)
	if err != nil {
		return err
	}

	deadline := time.Now().Add(s.queueTimeout)
	var ub *upstreamBody
	early := false // the app answered before it took the whole body
	// reuseFailed: a kept connection broke before any answer (a worker that reloaded or
	// died, or uWSGI closing it after its socket timeout); the request is sent once more on
	// a new connection (GET and HEAD only, and nothing has reached the client yet).
	reuseFailed := false
	for attempt := 0; ; attempt++ {
		conn, u, kind, err := s.connect(deadline, bodyless, reuseFailed)
		if err != nil {
			return err
		}
		began := time.Now()

		// Send the vars block and the body. One write for bodyless requests; the body
		// follows from the spool, or as it arrives from the client when it streams.
		if s.sendTimeout > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(s.sendTimeout))
		}
		if _, err := conn.Write(packet); err != nil {
			if kind == connPersistReused && !reuseFailed {
				s.dropConn(conn, kind)
				u.release()
				reuseFailed = true
				continue
			}
			uerr := s.abort(conn, kind, u, "send", err)
			if bodyLen > 0 || !idempotent(h.Method()) || attempt >= maxAttempts || !retryable(err) || time.Now().After(deadline) {
				return uerr
			}
			retryPause(attempt, deadline)
			continue
		}
		var sendFailed error
		if body != nil && bodyLen > 0 {
			if err := s.sendBody(conn, body, bodyLen); err != nil {
				if err.client || !unconsumed(err.err) {
					return err.withConn(s, conn, kind, u)
				}
				// uwsgi closed: the app may have answered without reading it all (below).
				sendFailed = err.err
			}
		}

		ub = s.acquireBody(conn, kind, u)
		err = uwsgiproto.ReadResponseHead(ub.br, s.maxHeadBytes, &ub.head)
		if err == nil {
			u.succeeded()
			early = sendFailed != nil
			rq.upstreamTime = time.Since(began)
			if u.stats != nil {
				u.stats.respTime.Update(rq.upstreamTime.Seconds())
			}
			break
		}
		got := ub.src.n
		ub.Close()
		if kind == connPersistReused && !reuseFailed && got == 0 && retryable(err) {
			reuseFailed = true
			continue
		}
		u.failed(time.Now())
		if sendFailed != nil {
			return &upstreamError{upstream: u.label, op: "send body", err: sendFailed}
		}
		uerr := &upstreamError{upstream: u.label, op: "read head", err: err}
		// nginx's next_upstream rule: another try only when the upstream sent nothing, the
		// request is idempotent and its body was not consumed. A launched uwsgi that just
		// died resets connections its listening socket still accepted; the retry waits for
		// the relaunch within the queue timeout. A plain close, though, means a worker read
		// the request (an app that raised, a worker that crashed): as nginx, never send it
		// to the same upstream again, so that the app does not run it twice.
		if got > 0 || bodyLen > 0 || !idempotent(h.Method()) || attempt >= maxAttempts || !retryable(err) || time.Now().After(deadline) ||
			(len(s.bal.ups) == 1 && !unconsumed(err)) {
			return uerr
		}
		s.log.Debug("retrying request", "upstream", u.label, "cause", causeOf(err))
		retryPause(attempt, deadline)
	}
	if early {
		// The app answered without reading the whole body (an upload it refuses) and uwsgi
		// closed: the answer is passed on, as nginx does, once the rest of the body is read
		// and dropped (lingerDiscard, when serve returns). The answer is read from uwsgi
		// meanwhile (buffered below whatever the path's buffering), so that the slot is not
		// held while the client sends what nobody reads.
		defer lingerDiscard(ctx, streamed)
	}
	if ub.head.StatusCode == fasthttp.StatusSwitchingProtocols && upgradeRequested(ctx) {
		// The app accepted a WebSocket upgrade (uwsgi.websocket_handshake): see wsproxy.go.
		slot := ps.upgradeSlot
		ps.upgradeSlot = false
		return s.relayUpgrade(ctx, ub, slot)
	}
	if a := findAccel(&ub.head); a != nil {
		// The app handed the answer over to the proxy (X-Accel-Redirect, X-Sendfile): the
		// upstream is released before the file is sent, and the app's body is dropped.
		ub.Close()
		return s.serveAccel(ctx, rq, a)
	}
	status := ub.head.StatusCode
	if status >= 400 && s.intercept[status] != nil {
		// uwsgi_intercept_errors: the page replaces what the app sent, with its status.
		ub.Close()
		return &interceptedError{status: status}
	}
	s.writeHead(ctx, &ub.head)
	u := ub.u
	// A persistent connection is kept only after a sized body read whole: HEAD, 204, 304
	// and 1xx answers are closed, as an app may send a body uWSGI does not strip.
	framed := ub.head.ContentLength >= 0 || (bodyless && ub.head.Chunked)
	ub.reusable = (ub.kind == connPersistNew || ub.kind == connPersistReused) && !h.IsHead() &&
		status >= 200 && status != 204 && status != 304 && framed

	if h.IsHead() || status == 204 || status == 304 || (status >= 100 && status < 200) {
		if ub.head.ContentLength >= 0 {
			// Keep the upstream's Content-Length for HEAD, as nginx does.
			ctx.Response.Header.SetContentLength(int(ub.head.ContentLength))
			ctx.Response.SkipBody = true
		}
		ub.Close()
		return nil
	}
	if cl := ub.head.ContentLength; cl >= 0 && cl <= smallBody {
		// A small sized body is read at once (it has mostly arrived with the head): the
		// upstream slot is freed before the client is written to, and fasthttp sends head
		// and body in one write.
		err := ub.readSmallBody(&ctx.Response, int(cl))
		if err == nil {
			ub.remaining = 0
		}
		ub.Close()
		if err != nil {
			u.failed(time.Now())
			return &upstreamError{upstream: u.label, op: "read body", err: err}
		}
		return nil
	}
	ub.remaining = ub.head.ContentLength
	ub.resetEnds = bodyLen > 0
	if ub.head.Chunked {
		// Framed in chunks by the launched app's wrapper (persist.go), or by the app itself:
		// decoded here and sent on as fasthttp frames it, so that the client sees one
		// framing, not the app's chunk lines as data.
		ub.chunked = httputil.NewChunkedReader(ub.br)
	}
	if early || shouldBuffer(s.respBuffering, &ub.head) {
		// ub belongs to fill from here on: it may be done, and ub reused, before this returns.
		length := ub.head.ContentLength
		rb := s.bufferResponse(ub, s.clientKey(ctx), ctx.Conn(), length)
		setBodyStream(ctx, rq, rb, int(length))
		return nil
	}
	ub.client, ub.writeTO = ctx.Conn(), s.writeTO
	setBodyStream(ctx, rq, ub, int(ub.head.ContentLength))
	return nil
}

// smallBody is the largest sized response body read whole before the response is written
// (nginx buffers responses by default; Portico does so only for small ones, to keep memory
// flat and streaming intact).
const smallBody = 32 << 10

func (b *upstreamBody) readSmallBody(resp *fasthttp.Response, n int) error {
	w := resp.BodyWriter()
	for n > 0 {
		p, err := b.br.Peek(min(n, b.br.Size()))
		if len(p) > 0 {
			_, _ = w.Write(p)
			_, _ = b.br.Discard(len(p))
			n -= len(p)
			continue
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// maxAttempts bounds the tries of one request; retryPause spaces them (25, 50, 100 ms ...)
// so that a dying uwsgi whose socket still accepts is noticed by its supervisor, and the
// retry then waits for the relaunch.
const maxAttempts = 5

// relaunchPoll spaces dials to a launched uwsgi that refuses connections while its supervisor
// has not yet noticed that it died.
const relaunchPoll = 20 * time.Millisecond

func retryPause(attempt int, deadline time.Time) {
	d := min(25*time.Millisecond<<attempt, time.Until(deadline))
	if d > 0 {
		time.Sleep(d)
	}
}

// idempotent methods may be sent again (RFC 9110 section 9.2.2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// retryable: the upstream closed or reset the connection without answering (not a timeout:
// a slow app is not retried, as nginx does not by default).
func retryable(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

// unconsumed reports an upstream failure that shows the request was never taken by a worker:
// a reset (the kernel's answer when a socket closes with unread data) or a broken pipe.
func unconsumed(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connect picks an upstream, takes a slot and dials. A failed dial tries the next upstream
// (nothing was sent yet, so this is safe for every method); a launched uwsgi that is
// restarting is waited for within the queue timeout instead of failing at once.
//
// With a persistent pool, a bodyless request takes a kept connection, or opens one while the
// pool has room (fresh: never a kept one); every other request goes to the plain socket,
// counted so that the pool leaves it a worker.
func (s *wsgiService) connect(deadline time.Time, bodyless, fresh bool) (upstreamConn, *upstream, connKind, error) {
	var tried uint64
	var lastErr error
	for {
		i := s.bal.pick(tried)
		if i < 0 {
			return nil, nil, connPlain, lastErr
		}
		u := s.bal.ups[i]
		if err := u.acquire(deadline); err != nil {
			return nil, nil, connPlain, &upstreamError{upstream: u.label, op: "queue", err: err}
		}
		if pp := s.persist; pp != nil && bodyless {
			// A failed dial (a restarting uwsgi) falls through to the plain socket, which
			// waits for the relaunch below.
			if c, reused, _ := pp.get(time.Now(), fresh); c != nil {
				if reused {
					return c, u, connPersistReused, nil
				}
				return c, u, connPersistNew, nil
			}
		}
		conn, err := u.dial(s.connectTimeout)
		for err != nil && u.waitReady != nil {
			// A launched uwsgi that refuses connections is restarting, or has just died
			// and its supervisor has not seen it yet (waitReady still returns at once):
			// wait for it, polling, within the queue timeout.
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			werr := u.waitReady(ctx)
			cancel()
			if errors.Is(werr, context.DeadlineExceeded) || (werr == nil && !time.Now().Before(deadline)) {
				// The launched uwsgi did not come back within queue_timeout: the request
				// waited its turn in vain, which is a 503, as for a full queue.
				u.release()
				return nil, nil, connPlain, &upstreamError{upstream: u.label, op: "queue", err: fmt.Errorf("%w (last dial: %v)", errQueueTimeout, err)}
			}
			if werr != nil {
				break // stopped
			}
			if conn, err = u.dial(s.connectTimeout); err != nil {
				time.Sleep(min(relaunchPoll, time.Until(deadline)))
			}
		}
		if err == nil {
			if s.persist != nil {
				s.persist.beginDirect()
				return conn, u, connDirect, nil
			}
			return conn, u, connPlain, nil
		}
		u.release()
		u.failed(time.Now())
		lastErr = &upstreamError{upstream: u.label, op: "dial", err: err}
		if i < 64 {
			tried |= 1 << i
		}
		if time.Now().After(deadline) {
			return nil, nil, connPlain, lastErr
		}
	}
}

func (s *wsgiService) abort(conn upstreamConn, kind connKind, u *upstream, op string, err error) error {
	s.dropConn(conn, kind)
	u.release()
	u.failed(time.Now())
	return &upstreamError{upstream: u.label, op: op, err: err}
}

// sendErr tells apart who failed while the body was copied: the client (read side) or the
// upstream (write side).
type sendErr struct {
	client bool
	err    error
}

func (e *sendErr) withConn(s *wsgiService, conn upstreamConn, kind connKind, u *upstream) error {
	if e.client {
		s.dropConn(conn, kind)
		u.release()
		return &clientError{err: e.err}
	}
	return s.abort(conn, kind, u, "send body", e.err)
}

// clientError is a failure on the client's side of the request (body read timeout, client
// gone); it is answered 408/400 when an answer is still possible.
type clientError struct{ err error }

func (e *clientError) Error() string { return "client: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (s *wsgiService) sendBody(conn upstreamConn, body io.Reader, n int64) *sendErr {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for n > 0 {
		want := min(int64(len(buf)), n)
		m, rerr := body.Read(buf[:want])
		if m > 0 {
			if s.sendTimeout > 0 {
				_ = conn.SetWriteDeadline(time.Now().Add(s.sendTimeout))
			}
			if _, werr := conn.Write(buf[:m]); werr != nil {
				return &sendErr{err: werr}
			}
			n -= int64(m)
		}
		if rerr != nil {
			if rerr == io.EOF && n == 0 {
				break
			}
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return &sendErr{client: true, err: rerr}
		}
	}
	return nil
}

// clientBody returns the streaming request body with a per-read deadline on the client
// connection (body_read_timeout), so a client that trickles its body is cut off.
func (s *wsgiService) clientBody(ctx *fasthttp.RequestCtx) io.Reader {
	r := ctx.RequestBodyStream()
	if r == nil {
		if b := ctx.Request.Body(); len(b) > 0 {
			return bytes.NewReader(b) // a body fasthttp read whole (not the server's way)
		}
		return nil
	}
	if s.bodyTimeout <= 0 {
		return r
	}
	return &deadlineReader{r: r, c: ctx.Conn(), d: s.bodyTimeout}
}

type deadlineReader struct {
	r io.Reader
	c net.Conn
	d time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.c != nil {
		_ = d.c.SetReadDeadline(time.Now().Add(d.d))
	}
	return d.r.Read(p)
}

// hopByHop are the headers of one connection (RFC 9110 section 7.6.1); they never cross the
// proxy. Any header named in Connection is dropped as well. Content-Length is set from the
// body Portico sends.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

func (s *wsgiService) writeHead(ctx *fasthttp.RequestCtx, head *uwsgiproto.ResponseHead) {
	rh := &ctx.Response.Header
	rh.SetStatusCode(head.StatusCode)
	if len(head.Reason) > 0 {
		rh.SetStatusMessage(head.Reason)
	}
	var connList []byte
	for _, hv := range head.Headers {
		if asciiEqualFold(hv.Name, "Connection") {
			connList = hv.Value
		}
	}
	for _, hv := range head.Headers {
		if isHopByHop(hv.Name) || appToProxy(hv.Name) || (connList != nil && tokenListed(connList, hv.Name)) {
			continue
		}
		rh.AddBytesKV(hv.Name, hv.Value)
	}
}

func isHopByHop(name []byte) bool {
	for _, h := range hopByHop {
		if asciiEqualFold(name, h) {
			return true
		}
	}
	return false
}

// tokenListed reports whether name appears in a comma-separated token list.
func tokenListed(list, name []byte) bool {
	for len(list) > 0 {
		var tok []byte
		if i := indexByte(list, ','); i >= 0 {
			tok, list = list[:i], list[i+1:]
		} else {
			tok, list = list, nil
		}
		tok = trimOWS(tok)
		if asciiEqualFold(tok, string(name)) {
			return true
		}
	}
	return false
}

// upstreamBody is the response body streaming from uwsgi to the client. fasthttp reads it
// after the handler returns and closes it when done, which closes the upstream connection and
// frees the slot.
type upstreamBody struct {
	conn      upstreamConn
	kind      connKind
	pool      *persistPool
	reusable  bool      // a persistent connection that may be kept once the body is read whole
	chunked   io.Reader // decodes a body framed in chunks (persist.go); nil for others
	u         *upstream
	log       *slog.Logger
	src       deadlineConn // what br reads from
	br        *bufio.Reader
	head      uwsgiproto.ResponseHead
	remaining int64 // -1: until the upstream closes
	resetEnds bool  // the request had a body: see Read
	closed    bool
	client    net.Conn      // for the per-write deadline (write_timeout)
	writeTO   time.Duration //
}

// deadlineConn applies the upstream read timeout to every read, so the timeout bounds the
// silence between two reads, not the whole (possibly endless, e.g. SSE) response.
type deadlineConn struct {
	c upstreamConn
	d time.Duration
	n int64 // bytes read so far
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.d > 0 {
		_ = d.c.SetReadDeadline(time.Now().Add(d.d))
	}
	n, err := d.c.Read(p)
	d.n += int64(n)
	return n, err
}

var upstreamBodyPool = sync.Pool{New: func() any {
	b := &upstreamBody{}
	b.br = bufio.NewReaderSize(nil, 16<<10)
	return b
}}

func (s *wsgiService) acquireBody(conn upstreamConn, kind connKind, u *upstream) *upstreamBody {
	b := upstreamBodyPool.Get().(*upstreamBody)
	b.closed = false
	b.conn, b.kind, b.pool, b.reusable, b.remaining, b.chunked, b.u, b.log = conn, kind, s.persist, false, -1, nil, u, s.log
	b.src = deadlineConn{c: conn, d: s.readTimeout}
	b.br.Reset(&b.src)
	return b
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.read(p)
	if n > 0 && b.writeTO > 0 && b.client != nil {
		// fasthttp writes what was read next: bound that write.
		_ = b.client.SetWriteDeadline(time.Now().Add(b.writeTO))
	}
	if err != nil && err != io.EOF {
		// Bytes were already sent: the client connection is cut (fasthttp closes it when the
		// body stream fails), and the log says why.
		b.u.failed(time.Now())
		b.log.LogAttrs(context.Background(), slog.LevelWarn, "upstream failed mid-response",
			slog.String("upstream", b.u.label), slog.String("cause", causeOf(err)), slog.String("error", err.Error()))
	}
	return n, err
}

// read reads the body from uwsgi: up to its length, or to the upstream's close.
func (b *upstreamBody) read(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if b.chunked != nil {
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if err = skipTrailer(b.br); err == nil {
				b.remaining, err = 0, io.EOF
			}
		}
		return n, err
	}
	if b.remaining > 0 && int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	if b.remaining > 0 {
		b.remaining -= int64(n)
		if err == io.EOF && b.remaining > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if b.remaining < 0 && b.resetEnds && errors.Is(err, syscall.ECONNRESET) {
		// uwsgi closed without reading all of the request body (the app did not need it),
		// which the kernel turns into a reset (unix(7), tcp(7)) after the data it sent: for
		// a body that ends when the upstream closes, this is its end.
		err = io.EOF
	}
	return n, err
}

// skipTrailer reads the trailer section after the last chunk, up to its empty line (the
// chunked reader stops before it).
func skipTrailer(br *bufio.Reader) error {
	for range 64 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
	return errors.New("chunked body: trailer section too long")
}

// WriteTo hands fasthttp one upstream read at a time (fasthttp.BodyWriterTo). Without it
// fasthttp copies a body of unknown length through a 4 KiB buffer and flushes every 4 KiB
// chunk to the client; with it each chunk is what one read from uwsgi returned (up to 32 KiB),
// still flushed at once, so events stream as before and bulk bodies move in larger writes.
func (b *upstreamBody) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return copyReads(w, b, *bp)
}

// copyReads writes what each Read of r returns, as it returns it, until EOF: unlike io.Copy
// it never prefers r's own WriteTo (which would call back into the caller).
func copyReads(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// SupportsBodyWriteTo tells fasthttp that WriteTo yields exactly what Read would.
func (b *upstreamBody) SupportsBodyWriteTo() bool { return true }

var _ fasthttp.BodyWriterTo = (*upstreamBody)(nil)

func (b *upstreamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	switch b.kind {
	case connPersistNew, connPersistReused:
		// Kept only when the sized body was read whole and nothing followed it: anything
		// more would be taken for the next response.
		b.pool.put(b.conn, b.reusable && b.remaining == 0 && b.br.Buffered() == 0, time.Now())
	case connDirect:
		b.conn.Close()
		b.pool.endDirect()
	default:
		b.conn.Close()
	}
	b.u.release()
	b.conn, b.u, b.src, b.client = nil, nil, deadlineConn{}, nil
	b.br.Reset(nil)
	upstreamBodyPool.Put(b)
	return nil
}
