package gateway

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"portico/rawsocket"
)

// acceptRaw serves a rawsocket transport: every connection is a RawSocket client. It returns
// once the listener is closed.
func (s *server) acceptRaw() error {
	return s.accept(func(c net.Conn) {
		tab := s.table.Load()
		if tab.raw == nil { // a reload keeps the type; this is only defensive
			_ = c.Close()
			return
		}
		tab.raw.ref.wg.Add(1) // before the listener can close: Shutdown waits for accept to end
		go tab.raw.serveConn(c)
	})
}

// accept runs the accept loop of ln, handing each connection to take, and backs off on
// errors such as EMFILE as net/http's Server does. It returns once the listener is closed.
func (s *server) accept(take func(net.Conn)) error {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.g.log.Warn("accept failed, retrying", "transport", s.where, "error", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		take(c)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// sortConns serves a universal transport (Crossbar's router/unisocket.py): the first octet
// of each connection tells the protocol. 0x7F, RawSocket's magic, goes to the transport's
// RawSocket service; anything else is HTTP (a WebSocket upgrade or a plain request), handed to
// the transport's HTTP server through m, whose path table holds the `websocket` entries and
// the `web` paths. The first octet is waited for in the connection's own goroutine, bounded by
// header_read_timeout, so that a silent client holds up no other.
func (s *server) sortConns(m *muxListener) {
	var sorting atomic.Int64
	_ = s.accept(func(c net.Conn) {
		tab := s.table.Load()
		limit := int64(fasthttp.DefaultConcurrency)
		if tab.maxConns > 0 {
			limit = int64(tab.maxConns)
		}
		// Connections waiting for their first octet are bounded like HTTP connections
		// (max_connections): past the bound a new one is closed at once.
		if sorting.Add(1) > limit {
			sorting.Add(-1)
			_ = c.Close()
			return
		}
		go func() {
			first, err := sniff(c, tab.sniffTO)
			sorting.Add(-1)
			if err != nil {
				_ = c.Close()
				return
			}
			pc := &prefixConn{Conn: c, first: first, pending: true}
			if first != rawsocket.Magic {
				var hc net.Conn = pc
				if tc, ok := c.(*tls.Conn); ok {
					hc = &tlsPrefixConn{prefixConn: pc, tc: tc}
				}
				if !m.deliver(hc) {
					_ = c.Close()
				}
				return
			}
			if tab.raw == nil {
				s.g.log.Warn("RawSocket client on a universal transport without rawsocket: connection closed; add a rawsocket configuration to serve it",
					"transport", s.where, "remote", c.RemoteAddr().String())
				_ = c.Close()
				return
			}
			if !m.enter() {
				_ = c.Close() // shutting down
				return
			}
			tab.raw.ref.wg.Add(1)
			m.leave()
			tab.raw.serveConn(pc)
		}()
	})
	m.closeAccepting()
}

// sniff reads the first octet of c, waiting up to d (0: no bound).
func sniff(c net.Conn, d time.Duration) (byte, error) {
	if d > 0 {
		_ = c.SetReadDeadline(time.Now().Add(d))
	}
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return 0, err
	}
	return first[0], c.SetReadDeadline(time.Time{})
}

// muxListener is the HTTP side of a universal transport: it hands the fasthttp server the
// connections sortConns found to speak HTTP.
type muxListener struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	// mu orders a RawSocket connection's count in its router before Shutdown waits on the
	// router: Close waits for connections being sorted to take their count.
	mu      sync.RWMutex
	closing bool
}

func newMuxListener(ln net.Listener) *muxListener {
	return &muxListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// deliver hands c to the HTTP server; false once the listener is closed.
func (m *muxListener) deliver(c net.Conn) bool {
	select {
	case m.conns <- c:
		return true
	case <-m.done:
		return false
	}
}

func (m *muxListener) enter() bool {
	m.mu.RLock()
	if m.closing {
		m.mu.RUnlock()
		return false
	}
	return true
}

func (m *muxListener) leave() { m.mu.RUnlock() }

// Close stops accepting: the HTTP server gets no more connections, nor does the RawSocket
// service.
func (m *muxListener) Close() error {
	m.once.Do(func() { close(m.done) })
	m.closeAccepting()
	return m.ln.Close()
}

func (m *muxListener) closeAccepting() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
}

func (m *muxListener) Addr() net.Addr { return m.ln.Addr() }

// prefixConn is a connection whose first octet was read to sort it, and is read again first.
type prefixConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection under it, when it can (TCP, unix, TLS).
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsPrefixConn is a prefixConn over TLS: fasthttp tells TLS connections by these methods
// (RequestCtx.IsTLS).
type tlsPrefixConn struct {
	*prefixConn
	tc *tls.Conn
}

func (c *tlsPrefixConn) Handshake() error                     { return c.tc.Handshake() }
func (c *tlsPrefixConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }
