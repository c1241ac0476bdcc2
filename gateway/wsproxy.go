package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"portico/uwsgiproto"
)

// A WebSocket on a wsgi path, as nginx's uwsgi_pass passes it: the upgrade request goes to the
// app like any other, with its Upgrade, Connection and Sec-WebSocket-* headers as HTTP_* vars
// (buildVars keeps them, as nginx's uwsgi module sends every request header); an app that
// accepts it answers 101 itself (uWSGI's uwsgi.websocket_handshake, core/websockets.c), and
// from then on bytes are relayed both ways, unchanged, until either side closes
// (ngx_http_upstream_upgrade, ngx_http_upstream_process_upgraded). Any other answer is an
// ordinary response.
//
// Timeouts follow nginx's: a read from the app waits at most the path's read_timeout
// (uwsgi_read_timeout; uWSGI pings the client every websockets-ping-freq, 30 s by default, so
// a live connection is never that silent), a write to the app at most its send_timeout, a
// write to the client at most the transport's write_timeout (send_timeout), and a read from
// the client has no bound of its own (nginx sets none either): the app ends a silent client
// with its own ping/pong checks.
//
// The connection holds its upstream slot (max_concurrency) for its whole life, as it holds
// a uwsgi worker or thread: as with nginx, each proxied WebSocket ties one of them up.

// upgradeRequested reports whether the request asks to become a WebSocket (RFC 6455 section
// 4.1: a GET with "Upgrade: websocket" and "upgrade" in Connection) and has no body that the
// relay would mistake for WebSocket frames.
func upgradeRequested(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	// ContentLength: -1 is a chunked body, -2 none at all.
	return h.IsGet() && h.ContentLength() <= 0 && h.ContentLength() != -1 && !h.ConnectionClose() &&
		websocket.FastHTTPIsWebSocketUpgrade(ctx)
}

// relayUpgrade takes over the client connection once the app answered an upgrade request
// with 101: the app's head is written to the client and bytes are relayed both ways
// (relay). ub, and its upstream slot, belong to the relay from here on, and so does the
// transport's upgraded-connection slot when slot is set.
func (s *wsgiService) relayUpgrade(ctx *fasthttp.RequestCtx, ub *upstreamBody, slot bool) error {
	head := appendUpgradeHead(nil, &ub.head)
	remote := ctx.RemoteAddr().String()
	conn := ctx.Conn()
	release := func() {
		_ = ub.Close()
		if slot {
			s.upgraded.Add(-1)
		}
	}
	ctx.Response.SetStatusCode(fasthttp.StatusSwitchingProtocols) // for the access log
	ctx.HijackSetNoResponse(true)                                 // the relay writes the app's 101
	ctx.Hijack(func(hc net.Conn) {
		if !s.upgrades.claim(conn) {
			return // closed first: the gate's connState released the upstream
		}
		c, err := detachHijacked(hc)
		if err != nil {
			release()
			return
		}
		// The relay runs on past this handler, so that fasthttp drops the request context
		// and read buffer it keeps for the connection (see wsService.serve).
		go s.relay(c, ub, head, remote, release)
	})
	// fasthttp closes the connection without running the hijack handler when it cannot
	// hand it over; the gate's connState then gives the upstream back.
	s.upgrades.hold(conn, release)
	return nil
}

// appendUpgradeHead appends the 101 to send the client: the app's status line and headers,
// with the hop-by-hop ones the app sent replaced by "Connection: upgrade" (RFC 9110 section
// 7.8; nginx's header filter does the same for a 101). Upgrade and the Sec-WebSocket-*
// headers are the app's.
func appendUpgradeHead(dst []byte, head *uwsgiproto.ResponseHead) []byte {
	dst = append(dst, "HTTP/1.1 101 "...)
	if len(head.Reason) > 0 {
		dst = append(dst, head.Reason...)
	} else {
		dst = append(dst, "Switching Protocols"...)
	}
	dst = append(dst, "\r\n"...)
	var connList []byte
	for _, hv := range head.Headers {
		if asciiEqualFold(hv.Name, "Connection") {
			connList = hv.Value
		}
	}
	for _, hv := range head.Headers {
		upgrade := asciiEqualFold(hv.Name, "Upgrade")
		if !upgrade && (isHopByHop(hv.Name) || (connList != nil && tokenListed(connList, hv.Name))) {
			continue
		}
		dst = append(append(append(append(dst, hv.Name...), ": "...), hv.Value...), "\r\n"...)
	}
	return append(dst, "Connection: upgrade\r\n\r\n"...)
}

// relayBufSize is the buffer of the client-to-app direction (the other reads through the
// upstream's reader): WebSocket messages are mostly small, and a connection holds it for its
// whole life.
const relayBufSize = 4 << 10

// relay writes head to the client, then copies bytes both ways until either side closes or
// fails, and then closes both and frees the slots (release).
func (s *wsgiService) relay(client net.Conn, ub *upstreamBody, head []byte, remote string, release func()) {
	defer release()
	defer client.Close()
	if s.writeTO > 0 {
		_ = client.SetWriteDeadline(time.Now().Add(s.writeTO))
	}
	if _, err := client.Write(head); err != nil {
		return
	}
	up := ub.conn
	toApp := make(chan error, 1)
	go func() {
		buf := make([]byte, relayBufSize)
		var err error
		for {
			n, rerr := client.Read(buf)
			if n > 0 {
				if s.sendTimeout > 0 {
					_ = up.SetWriteDeadline(time.Now().Add(s.sendTimeout))
				}
				if _, err = up.Write(buf[:n]); err != nil {
					break
				}
			}
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
		_ = up.Close() // ends the other direction's read
		toApp <- err
	}()
	// App to client: what the upstream's reader holds past the 101, then each read as it
	// comes (bufio.Reader.WriteTo reads through ub.src: read_timeout per read).
	_, err := ub.br.WriteTo(&deadlineWriter{c: client, d: s.writeTO})
	_ = client.Close() // ends the other direction's read
	clientErr := <-toApp
	if err != nil && !isClosedErr(err) {
		// The upstream is not marked failed: a WebSocket silent past read_timeout says
		// nothing of the server (nginx frees the peer as not failed here too).
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "websocket relay from upstream failed",
			slog.String("upstream", ub.u.label), slog.String("remote", remote),
			slog.String("cause", causeOf(err)), slog.String("error", err.Error()))
		return
	}
	if clientErr != nil && !isClosedErr(clientErr) {
		s.log.Debug("websocket relay to upstream ended", "upstream", ub.u.label, "remote", remote, "error", clientErr)
	}
}

// isClosedErr: the connection was closed by the relay's other direction.
func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// deadlineWriter bounds every write to c by d (write_timeout).
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.d > 0 {
		_ = w.c.SetWriteDeadline(time.Now().Add(w.d))
	}
	return w.c.Write(p)
}

// detachHijacked returns the network connection under a connection fasthttp hijacked, with
// the bytes its read buffer already holds (a client may send before it sees the 101) put in
// front. Reading the network connection itself lets fasthttp drop its buffer.
func detachHijacked(hc net.Conn) (net.Conn, error) {
	u, ok := hc.(interface{ UnsafeConn() net.Conn })
	if !ok {
		return hc, nil
	}
	nc := u.UnsafeConn()
	// A deadline in the past: only what is buffered comes.
	if err := nc.SetReadDeadline(aLongTimeAgo); err != nil {
		_ = nc.Close()
		return nil, err
	}
	var early []byte
	var buf [512]byte
	for {
		n, err := hc.Read(buf[:])
		early = append(early, buf[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	if err := nc.SetReadDeadline(time.Time{}); err != nil {
		_ = nc.Close()
		return nil, err
	}
	if len(early) > 0 {
		nc = &earlyConn{Conn: nc, r: io.MultiReader(bytes.NewReader(early), nc)}
	}
	return nc, nil
}
