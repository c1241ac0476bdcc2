package gateway

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// max_connections is counted here, at accept, rather than left to fasthttp's Concurrency:
// fasthttp answers a connection past its bound with a 503 it writes itself, without the
// transport's `headers` and error page for 503. A connection is counted from its accept until
// fasthttp closes it or hands it over (a WebSocket, which connSlots counts from then on), as
// fasthttp counts it; fasthttp's own bound is set a little higher, so that it never decides
// first (it frees a connection's worker just after it reports the connection closed).

// connLimitSlack is how far fasthttp's Concurrency is set above max_connections.
const connLimitSlack = 64

// connLimitReason is what the default 503 past max_connections says of its cause (an
// error page replaces it).
const connLimitReason = "too many connections open on this transport (max_connections), try again later"

// limitListener hands fasthttp at most max connections at a time and answers the others
// with the transport's 503.
type limitListener struct {
	net.Listener
	s       *server
	max     int64
	n       *atomic.Int64 // accepted and not yet closed or hijacked: the server's conns
	lastLog atomic.Int64  // unix seconds of the last "refused" log line
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.Add(1) <= l.max {
			return c, nil
		}
		l.n.Add(-1)
		l.refuse(c)
	}
}

// connState counts a connection out when fasthttp is done with it; it chains the
// upgrade hook.
func (l *limitListener) connState(c net.Conn, st fasthttp.ConnState) {
	l.s.g.upgrades.connState(c, st)
	if st == fasthttp.StateClosed || st == fasthttp.StateHijacked {
		l.n.Add(-1)
	}
}

// refuse answers a connection past max_connections with 503 (the error page and the
// transport's headers included) and closes it, without reading its request, as fasthttp
// does. A TLS connection is closed without an answer: it would need a handshake first, which
// the accept loop must not wait for (fasthttp does the same).
func (l *limitListener) refuse(c net.Conn) {
	defer c.Close()
	if now := time.Now().Unix(); now-l.lastLog.Load() >= 60 {
		l.lastLog.Store(now)
		l.s.g.log.Warn("connection refused: max_connections reached (logged once a minute)",
			"transport", l.s.where, "max_connections", l.max, "remote", c.RemoteAddr().String())
	}
	if _, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return // *tls.Conn, or a universal transport's tlsPrefixConn
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	status := fasthttp.StatusServiceUnavailable
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetBodyString("503 Service Unavailable\n" + connLimitReason + "\n")
	resp.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	resp.SetConnectionClose()
	tab := l.s.table.Load()
	if tab != nil {
		if p := tab.pages[status]; p != nil {
			resp.Header.SetContentType(p.ctype)
			resp.SetBodyRaw(p.body)
		}
		applyHeaders(&resp.Header, tab.headers)
	} else {
		applyHeaders(&resp.Header, nil)
	}
	// The socket's buffer is empty: the write does not wait, unless the peer is gone.
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	bw := bufio.NewWriterSize(c, 4096)
	if resp.Write(bw) == nil {
		_ = bw.Flush()
	}
}
