package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"portico/config"
	"portico/rawsocket"
	"portico/router"
	"portico/router/wamp"
)

// rawCloseBound is how long a closing RawSocket connection waits for its client to close
// after the router's last message (GOODBYE or ABORT), before it is closed anyway. RawSocket has
// no closing handshake; this keeps the connection from being reset under data the client
// has yet to read, as wsTransport's close_handshake_timeout does.
const rawCloseBound = time.Second

// rawService serves WAMP over RawSocket (WAMP spec, "RawSocket Transport") for one
// transport: a `rawsocket` transport, or the `rawsocket` of a `universal` one. Sessions run
// on the worker's router, with the transport's auth and session limits, like a websocket
// path's.
type rawService struct {
	where     string
	log       *slog.Logger
	ref       *routerRef
	cfg       *config.RawSocket
	codecs    [16]wamp.Codec // by the handshake's serializer ID
	lengthExp uint8          // the LENGTH the router announces
	slots     *atomic.Int64  // the transport's live RawSocket connections
	// refused counts refused handshakes since the last warning, lastWarn is its time (unix
	// nanoseconds); see warnRefused.
	refused  atomic.Int64
	lastWarn atomic.Int64
	// serveSession runs one session; the router's Serve.
	serveSession func(router.Transport, router.PeerInfo) error
}

func newRawService(rs *config.RawSocket, ref *routerRef, log *slog.Logger) (*rawService, error) {
	s := &rawService{where: rs.Place, log: log, ref: ref, cfg: rs,
		lengthExp: rawsocket.LengthExpFor(rs.MaxMessageSize), slots: ref.slotsOf(rs.Place), serveSession: ref.r.Serve}
	n := 0
	for _, name := range rs.Serializers {
		c, ok := wamp.CodecByName(name)
		id, ok2 := rawsocket.SerializerID(name)
		if ok && ok2 {
			s.codecs[id] = c
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%s.serializers: none of %v is available", rs.Place, rs.Serializers)
	}
	return s, nil
}

// serveConn runs one connection: the opening handshake, then a WAMP session until the router
// is done with it. It closes c. The caller has taken a count in ref.wg for it.
func (s *rawService) serveConn(c net.Conn) {
	defer s.ref.wg.Done()
	defer c.Close()
	remote := c.RemoteAddr().String()
	lim := s.cfg.Options.SessionLimits
	// Until its session starts, shutdown ends the connection through this (the router does
	// not know it yet).
	opening := openingConn{c}
	s.ref.add(opening)
	defer s.ref.remove(opening)
	// A connection takes its slot from the start, so that connections still in their
	// handshake count too; one over max_connections has rawCloseBound to send its handshake
	// and is refused with error 4.
	over := s.slots.Add(1) > int64(s.cfg.Options.MaxConnections)
	defer s.slots.Add(-1)
	// auth_timeout bounds the whole opening: the handshake here, HELLO to WELCOME in the
	// router (its auth timer starts with the session).
	wait := lim.AuthTimeout
	if over {
		wait = min(wait, rawCloseBound)
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	var hs [4]byte
	if _, err := io.ReadFull(c, hs[:]); err != nil {
		s.log.Debug("rawsocket handshake not received", "transport", s.where, "remote", remote, "error", err)
		return
	}
	h, err := rawsocket.ParseHandshake(hs)
	var he *rawsocket.HandshakeError
	switch {
	case errors.Is(err, rawsocket.ErrNotRawSocket):
		// No reply: the peer speaks something else (autobahn aborts likewise).
		s.warnRefused("not a RawSocket client: connection closed", "remote", remote, "first_octets", fmt.Sprintf("%x", hs))
		return
	case errors.As(err, &he):
		s.refuse(c, he.Code, remote, he.Detail)
		return
	}
	codec := s.codecs[h.Serializer]
	if codec == nil {
		s.refuse(c, rawsocket.ErrSerializerUnsupported, remote, fmt.Sprintf("serializer %d is not among %v; add it to serializers", h.Serializer, s.cfg.Serializers))
		return
	}
	if over {
		s.refuse(c, rawsocket.ErrMaxConnections, remote, fmt.Sprintf("%d connections open; raise options.max_connections", s.cfg.Options.MaxConnections))
		return
	}
	reply := rawsocket.Reply(s.lengthExp, h.Serializer)
	if _, err := c.Write(reply[:]); err != nil {
		s.log.Debug("rawsocket handshake reply not sent", "transport", s.where, "remote", remote, "error", err)
		return
	}
	// Sessions are long-lived and may be idle: no read deadline past the handshake (TCP
	// keepalive finds dead peers); writes get write_timeout each (a corked batch one).
	_ = c.SetDeadline(time.Time{})
	t := newRawTransport(c, codec, s.cfg.MaxMessageSize, h.MaxMessage(), s.cfg.Options.WriteTimeout)
	t.log, t.place, t.remote = s.log, s.where, remote
	s.ref.add(t)
	defer s.ref.remove(t)
	info := router.PeerInfo{Transport: "rawsocket", RemoteAddr: remote, Protocol: "wamp.2." + codec.Name(),
		Auth: s.cfg.Auth, Limits: lim}
	if tc, ok := c.(connState); ok {
		cs := tc.ConnectionState()
		info.Secure, info.ChannelID = channelBinding(&cs)
		info.PeerCert = peerCert(&cs)
	}
	err = serveDebug(s.serveSession, t, info, s.cfg.Debug, s.log, "rawsocket")
	_ = t.Close()
	t.drain()
	s.log.Debug("wamp session ended", "transport", s.where, "remote", remote, "protocol", info.Protocol, "error", err)
}

// openingConn is a connection in its RawSocket handshake, as shutdown sees it.
type openingConn struct{ c net.Conn }

func (o openingConn) cut() { _ = o.c.SetDeadline(time.Unix(0, 1)) }

// refuse answers a handshake with error code and logs why.
func (s *rawService) refuse(c net.Conn, code rawsocket.ErrorCode, remote, detail string) {
	r := rawsocket.ErrorReply(code)
	_, _ = c.Write(r[:])
	s.warnRefused("rawsocket handshake refused: "+code.String(), "remote", remote, "code", int(code), "detail", detail)
}

// warnRefused logs a refused connection: at most one line a second for the transport, with
// the count of refusals the line stands for, so that a flood of bad clients (or of clients
// over max_connections) cannot flood the log.
func (s *rawService) warnRefused(msg string, args ...any) {
	n := s.refused.Add(1)
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s.refused.Add(-n)
	s.log.Warn(msg, append([]any{"transport", s.where}, append(args, "refused", n)...)...)
}

// rawTransport is router.Transport over one RawSocket connection. Reads happen in the
// router's reader (which also answers PINGs) and, after the session, in drain; writes in the
// router's writer and for PONGs, under wmu. It is a router.CorkTransport: the frames written
// between Cork and Uncork go out in one write, through cc.
type rawTransport struct {
	conn    net.Conn
	cc      *corkConn // conn, for writes
	codec   wamp.Codec
	rd      rawsocket.Reader
	peerMax int // the largest message the client accepts (its handshake)
	writeTO time.Duration
	// log, place and remote are for the one warning a protocol error gets.
	log    *slog.Logger
	place  string
	remote string

	readErr error // the reader's first error
	broken  bool  // the client broke the framing: nothing more is read from it

	wmu    sync.Mutex
	wbuf   []byte
	corked bool // between Cork and Uncork, under wmu

	warned    atomic.Bool
	closed    atomic.Bool
	isCut     atomic.Bool
	closeOnce sync.Once
}

// newRawTransport is the transport over c once its handshake is done: messages of up to
// maxSize bytes are read (0: no bound), up to peerMax written.
func newRawTransport(c net.Conn, codec wamp.Codec, maxSize, peerMax int, writeTO time.Duration) *rawTransport {
	return &rawTransport{conn: c, cc: &corkConn{Conn: c}, codec: codec,
		rd: rawsocket.Reader{R: c, Max: maxSize}, peerMax: peerMax, writeTO: writeTO}
}

func (t *rawTransport) Codec() wamp.Codec { return t.codec }

// smallWrite is the largest payload copied behind its header into one write; larger ones go
// in two writes, not copied.
const smallWrite = 4 << 10

// ReadMessage returns the next WAMP message, answering PINGs with PONGs (same payload) and
// skipping PONGs on the way. A frame over max_message_size, with reserved bits or a reserved
// type ends the connection, with one warning.
func (t *rawTransport) ReadMessage() ([]byte, error) {
	for {
		if t.readErr != nil {
			return nil, t.readErr
		}
		if t.closed.Load() {
			return nil, net.ErrClosed
		}
		typ, b, err := t.rd.Next()
		if err != nil {
			var fe *rawsocket.FrameError
			if errors.As(err, &fe) {
				t.broken = true
				if fe.TooLong {
					t.warn("rawsocket message over max_message_size: connection closed; raise max_message_size of the transport to accept it",
						"size", fe.Length, "max_message_size", fe.Max)
				} else {
					t.warn("rawsocket frame with reserved bits or a reserved message type: connection closed",
						"octet0", fmt.Sprintf("0x%02x", fe.Octet0))
				}
			}
			t.readErr = fmt.Errorf("rawsocket read: %w", err)
			return nil, t.readErr
		}
		switch typ {
		case rawsocket.Message:
			return b, nil
		case rawsocket.Ping:
			if len(b) <= t.peerMax {
				if err := t.write(rawsocket.Pong, b); err != nil {
					t.readErr = err
					return nil, err
				}
			}
		}
	}
}

// WriteMessage sends one message in one frame. A message over the size the client announced
// in its handshake cannot be sent: the connection is closed, with one warning (autobahn's
// client would refuse it the same way).
func (t *rawTransport) WriteMessage(b []byte) error {
	if len(b) > t.peerMax {
		t.warn("message over the maximum the client accepts (its RawSocket handshake): connection closed",
			"size", len(b), "client_max", t.peerMax)
		t.cut()
		return fmt.Errorf("rawsocket write: %d bytes over the client's maximum %d", len(b), t.peerMax)
	}
	return t.write(rawsocket.Message, b)
}

func (t *rawTransport) write(typ rawsocket.MessageType, b []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	// While corked, the frames are held until Uncork, which applies the deadline Cork set
	// and checks for a Close; a PONG written meanwhile joins them, in order.
	if !t.corked {
		if t.writeTO > 0 {
			_ = t.conn.SetWriteDeadline(time.Now().Add(t.writeTO))
		}
		// Checked after the deadline is set: a Close or cut that came first must not have
		// its deadline undone by this one. Nothing is written after Close (the FIN is sent).
		if t.closed.Load() {
			return net.ErrClosed
		}
	}
	t.wbuf = rawsocket.AppendHeader(t.wbuf[:0], typ, len(b))
	if len(b) <= smallWrite {
		t.wbuf = append(t.wbuf, b...)
		b = nil
	}
	if _, err := t.cc.Write(t.wbuf); err != nil {
		return fmt.Errorf("rawsocket write: %w", err)
	}
	if b != nil {
		if _, err := t.cc.Write(b); err != nil {
			return fmt.Errorf("rawsocket write: %w", err)
		}
	}
	if cap(t.wbuf) > 2*smallWrite {
		t.wbuf = nil
	}
	return nil
}

// Cork holds the next frames until Uncork (router.CorkTransport). The held frames share one
// write deadline, write_timeout from now.
func (t *rawTransport) Cork() {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.cc.cork()
	t.corked = true
	var d time.Time
	if t.writeTO > 0 {
		d = time.Now().Add(t.writeTO)
	}
	_ = t.cc.SetWriteDeadline(d) // noted: applied at Uncork
}

// Uncork sends the frames held since Cork with one write. After a Close nothing is written
// (the FIN is sent), as for a write of one frame.
func (t *rawTransport) Uncork() error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.corked = false
	if err := t.cc.uncork(t.closed.Load); err != nil {
		return fmt.Errorf("rawsocket write: %w", err)
	}
	return nil
}

// warn logs a connection's protocol error, once.
func (t *rawTransport) warn(msg string, args ...any) {
	if t.warned.CompareAndSwap(false, true) {
		t.log.Warn(msg, append([]any{"transport", t.place, "remote", t.remote}, args...)...)
	}
}

// Close ends the session's side: no more writes (a FIN after the last message; the writer
// closes the transport once its last message is out), and reads and a write still under way
// bounded by rawCloseBound, so that a blocked ReadMessage, or a write to a client that stopped
// reading (a slow consumer), returns by then.
func (t *rawTransport) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		if t.isCut.Load() {
			return
		}
		_ = t.conn.SetDeadline(time.Now().Add(rawCloseBound))
		if cw, ok := t.conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	})
	return nil
}

// cut ends the connection at once: every read and write fails from now on.
func (t *rawTransport) cut() {
	t.isCut.Store(true)
	t.closed.Store(true)
	_ = t.conn.SetDeadline(time.Unix(0, 1))
}

// drain reads what the client still sends, up to rawCloseBound after Close, so that closing
// does not reset the connection under the router's last messages.
func (t *rawTransport) drain() {
	if t.isCut.Load() || t.broken {
		return // what follows is not framed: the connection is closed unread (autobahn aborts it)
	}
	_, _ = io.Copy(io.Discard, t.conn)
}

var _ router.CorkTransport = (*rawTransport)(nil)
