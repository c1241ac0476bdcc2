package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"portico/config"
)

// echoService is the transport of a `websocket-testee` worker (Crossbar's
// crossbar/worker/testee.py, the server side for the Autobahn WebSocket testsuite): every
// message is sent back as it came, text as text, binary as binary. Of the websocket options it
// honours what the websocket package allows: max_message_size (1009), compression
// (permessage-deflate), auto_ping_interval / auto_ping_timeout, open_handshake_timeout,
// close_handshake_timeout, allowed_origins / allow_null_origin, enable_webstatus. Text
// messages are checked to be UTF-8 frame by frame as they arrive, and a connection whose text
// is not is failed with 1007 (RFC 6455 section 8.1). As Crossbar's testee, any request path is
// served and no subprotocol is chosen.
type echoService struct {
	where    string
	log      *slog.Logger
	opts     config.WebSocketOptions
	writeTO  time.Duration
	grp      *echoGroup
	slots    *atomic.Int64
	maxConns int64
	upgrades *pendingUpgrades // the gateway's
	up       websocket.Upgrader
}

// echoGroup holds the live connections of a testee worker, which a reload keeps and Shutdown
// ends, as a router holds its sessions.
type echoGroup struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	wg    sync.WaitGroup
}

// echoFor returns the connection group of testee worker w, creating it on first use.
func (g *Gateway) echoFor(w *config.Worker) *echoGroup {
	if g.echoes == nil {
		g.echoes = map[string]*echoGroup{}
	}
	e := g.echoes[w.Place]
	if e == nil {
		e = &echoGroup{conns: map[*websocket.Conn]struct{}{}}
		g.echoes[w.Place] = e
	}
	return e
}

// close says goodbye (1001) to every connection, closes them and waits for their loops.
func (e *echoGroup) close() {
	e.mu.Lock()
	for c := range e.conns {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(100*time.Millisecond))
		_ = c.NetConn().Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// newEchoService serves a testee's transport; slots counts the transport's live upgraded
// connections (the gateway's connSlots), upgrades holds them until their hijack.
func newEchoService(svc *config.Service, t *config.Transport, grp *echoGroup, slots *atomic.Int64, upgrades *pendingUpgrades, log *slog.Logger) *echoService {
	o := svc.WebSocket.Options
	s := &echoService{where: svc.Place, log: log, opts: o, writeTO: t.Options.WriteTimeout, grp: grp,
		slots: slots, maxConns: int64(t.Options.MaxConnections), upgrades: upgrades}
	if s.maxConns <= 0 {
		s.maxConns = fasthttp.DefaultConcurrency
	}
	s.up = websocket.Upgrader{
		HandshakeTimeout:  o.OpenHandshakeTimeout,
		ReadBufferSize:    4 << 10,
		WriteBufferSize:   4 << 10,
		CheckOrigin:       func(*http.Request) bool { return true }, // checkUpgrade did
		EnableCompression: o.Compression,
	}
	return s
}

func (s *echoService) place() string { return s.where }

// close leaves live connections alone: they belong to the worker's group, which Shutdown ends.
func (s *echoService) close() {}

func (s *echoService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	if upgrade, err := upgradeGate(ctx, &s.opts, s.statusPage, "this is a WebSocket echo server"); !upgrade {
		return err
	}
	req := upgradeRequest(&ctx.Request.Header)
	remote := ctx.RemoteAddr().String()
	return hijackUpgrade(ctx, upgradeSlots{s.slots, s.maxConns, &s.grp.wg, s.upgrades}, s.log, remote,
		func(hc net.Conn) (*websocket.Conn, error) { return upgradeHijacked(&s.up, hc, req, nil, false) },
		func(c *websocket.Conn) { s.run(c, remote) })
}

// run echoes the messages of one connection until it closes.
func (s *echoService) run(c *websocket.Conn, remote string) {
	s.grp.mu.Lock()
	s.grp.conns[c] = struct{}{}
	s.grp.mu.Unlock()
	defer func() {
		s.grp.mu.Lock()
		delete(s.grp.conns, c)
		s.grp.mu.Unlock()
		_ = c.Close()
	}()
	if s.opts.MaxMessageSize > 0 {
		c.SetReadLimit(int64(s.opts.MaxMessageSize))
	}
	var idle time.Duration
	stop := make(chan struct{})
	defer close(stop)
	if s.opts.AutoPingInterval > 0 {
		to := s.opts.AutoPingTimeout
		if to <= 0 {
			to = s.opts.AutoPingInterval
		}
		idle = s.opts.AutoPingInterval + to
		c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(idle)) })
		go s.pingLoop(c, stop)
	}
	alive := func() {
		if idle > 0 {
			_ = c.SetReadDeadline(time.Now().Add(idle))
		}
	}
	alive()
	var msg bytes.Buffer
	for {
		typ, r, err := c.NextReader()
		if err != nil {
			s.ended(c, remote, err)
			return
		}
		msg.Reset()
		if err := readEcho(&msg, r, typ == websocket.TextMessage, alive); err != nil {
			if errors.Is(err, errInvalidUTF8) {
				// RFC 6455 section 8.1: fail the connection, 1007.
				s.fail(c, websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in text message")
				return
			}
			s.ended(c, remote, err)
			return
		}
		if s.writeTO > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(s.writeTO))
		}
		if err := c.WriteMessage(typ, msg.Bytes()); err != nil {
			s.log.Debug("websocket echo: write failed", "remote", remote, "error", err)
			return
		}
		if msg.Cap() > 64<<10 {
			msg = bytes.Buffer{} // a large message's buffer is not kept for an idle connection
		}
	}
}

var errInvalidUTF8 = errors.New("invalid UTF-8 in a text message")

// readEcho reads one message into dst; a text message is checked to be UTF-8 as its bytes
// arrive, so that a bad one fails at the frame that breaks it (Autobahn's "fail fast"), not
// after the whole message. alive is called after each read (auto ping's idle bound).
func readEcho(dst *bytes.Buffer, r io.Reader, text bool, alive func()) error {
	checked := 0
	for {
		if dst.Available() < 512 {
			dst.Grow(max(512, dst.Len()))
		}
		buf := dst.AvailableBuffer()
		n, err := r.Read(buf[:cap(buf)])
		dst.Write(buf[:n])
		alive()
		if text && n > 0 {
			var ok bool
			if checked, ok = utf8Prefix(dst.Bytes(), checked); !ok {
				return errInvalidUTF8
			}
		}
		if err == io.EOF {
			if text && checked != dst.Len() {
				return errInvalidUTF8 // ends inside a character
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// utf8Prefix checks b from the offset from, up to a character that may still be completed by
// the bytes to come, and returns how far b is known good; false when b is not UTF-8.
func utf8Prefix(b []byte, from int) (int, bool) {
	i := from
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(b[i:]) && validStart(b[i:]) {
				return i, true // cut at the end of what came so far
			}
			return i, false
		}
		i += size
	}
	return i, true
}

// validStart reports whether b (shorter than a full character) can begin a valid UTF-8
// sequence: a lead byte and continuation bytes in the ranges RFC 3629 section 4 allows, so that
// an impossible sequence fails now rather than when the message ends.
func validStart(b []byte) bool {
	lo, hi := byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
	case c == 0xE0:
		lo = 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
	case c == 0xED:
		hi = 0x9F
	case c == 0xF0:
		lo = 0x90
	case c >= 0xF1 && c <= 0xF3:
	case c == 0xF4:
		hi = 0x8F
	default:
		return false
	}
	for i, c := range b[1:] {
		if i == 0 {
			if c < lo || c > hi {
				return false
			}
		} else if c < 0x80 || c > 0xBF {
			return false
		}
	}
	return true
}

// fail sends a close with code and waits close_handshake_timeout for the client's close.
func (s *echoService) fail(c *websocket.Conn, code int, reason string) {
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(s.closeTimeout()))
	_ = c.SetReadDeadline(time.Now().Add(s.closeTimeout()))
	for {
		if _, _, err := c.NextReader(); err != nil {
			return
		}
	}
}

func (s *echoService) closeTimeout() time.Duration {
	if s.opts.CloseHandshakeTimeout > 0 {
		return s.opts.CloseHandshakeTimeout
	}
	return time.Second
}

// ended logs why a connection ended, unless it closed normally.
func (s *echoService) ended(c *websocket.Conn, remote string, err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		// The client closed; the websocket package answered its close.
	case errors.Is(err, websocket.ErrReadLimit):
		s.log.Info("websocket echo: message over max_message_size, closed with 1009", "remote", remote, "max_message_size", s.opts.MaxMessageSize)
	default:
		s.log.Debug("websocket echo: connection ended", "remote", remote, "error", err)
	}
}

func (s *echoService) pingLoop(c *websocket.Conn, stop chan struct{}) {
	t := time.NewTicker(s.opts.AutoPingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.closeTimeout())); err != nil {
				return
			}
		}
	}
}

// statusPage answers a plain GET, as Crossbar's testee does with its status page.
func (s *echoService) statusPage(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	fmt.Fprintf(ctx, `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Portico WebSocket testee</title></head>
<body>
<h1>Portico</h1>
<p>This is a <a href="https://www.rfc-editor.org/rfc/rfc6455">WebSocket</a> echo server (a
<code>websocket-testee</code> worker, for the Autobahn WebSocket testsuite): it sends every
message back. Connect to %s with a WebSocket client.</p>
</body>
</html>
`, html.EscapeString("ws://"+string(ctx.Host())+string(ctx.Path())))
}

var _ service = (*echoService)(nil)
