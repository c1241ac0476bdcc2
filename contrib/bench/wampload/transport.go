package wampload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/fasthttp/websocket"

	"portico/rawsocket"
)

// wsConn is a WAMP session's WebSocket: one message per frame, text or binary as the codec
// wants (spec "WebSocket Transport").
type wsConn struct {
	*websocket.Conn
	mt int
}

func (c wsConn) WriteMessage(b []byte) error { return c.Conn.WriteMessage(c.mt, b) }

func (c wsConn) ReadMessage() ([]byte, error) {
	_, b, err := c.Conn.ReadMessage()
	return b, err
}

func dialWS(ctx context.Context, o Options) (conn, error) {
	proto := "wamp.2." + o.Codec.Name()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second,
		ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	c, resp, err := d.DialContext(ctx, o.URL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %w (HTTP %d)", o.URL, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket %s: %w", o.URL, err)
	}
	if c.Subprotocol() != proto {
		c.Close()
		return nil, fmt.Errorf("websocket %s: subprotocol %q, want %q", o.URL, c.Subprotocol(), proto)
	}
	mt := websocket.TextMessage
	if o.Codec.Binary() {
		mt = websocket.BinaryMessage
	}
	return wsConn{c, mt}, nil
}

// rsConn is a WAMP session's RawSocket (spec "RawSocket Transport"): a frame with a 4-octet
// header per message, read through a buffer as the WebSocket's are.
type rsConn struct {
	net.Conn
	r    rawsocket.Reader
	wbuf []byte
}

func (c *rsConn) WriteMessage(b []byte) error { return c.write(rawsocket.Message, b) }

func (c *rsConn) write(typ rawsocket.MessageType, b []byte) error {
	c.wbuf = append(rawsocket.AppendHeader(c.wbuf[:0], typ, len(b)), b...)
	_, err := c.Conn.Write(c.wbuf)
	return err
}

func (c *rsConn) ReadMessage() ([]byte, error) {
	for {
		typ, b, err := c.r.Next()
		if err != nil {
			return nil, err
		}
		if typ == rawsocket.Message {
			return b, nil
		}
		// A PING or PONG: Portico pings no RawSocket client, so none is answered here.
	}
}

// rsMaxExp is the LENGTH the client announces: 2^(9+15) = 16 MiB, RawSocket's largest.
const rsMaxExp = 15

// dialRS connects to rs://HOST:PORT or tcp://HOST:PORT (unix://PATH for a unix socket) and
// makes the RawSocket handshake for o.Codec.
func dialRS(ctx context.Context, o Options) (conn, error) {
	network, addr := "tcp", ""
	switch scheme, rest, _ := strings.Cut(o.URL, "://"); scheme {
	case "rs", "tcp":
		addr = rest
	case "unix":
		network, addr = "unix", rest
	default:
		return nil, fmt.Errorf("%s: want ws://, rs://, tcp:// or unix://", o.URL)
	}
	ser, ok := rawsocket.SerializerID(o.Codec.Name())
	if !ok {
		return nil, fmt.Errorf("rawsocket %s: no serializer ID for %s", o.URL, o.Codec.Name())
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("rawsocket %s: %w", o.URL, err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{rawsocket.Magic, rsMaxExp<<4 | ser, 0, 0}); err != nil {
		c.Close()
		return nil, fmt.Errorf("rawsocket %s: handshake: %w", o.URL, err)
	}
	br := bufio.NewReaderSize(c, 16<<10)
	var reply [4]byte
	if _, err := io.ReadFull(br, reply[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("rawsocket %s: handshake reply: %w", o.URL, err)
	}
	if reply[0] != rawsocket.Magic || reply[1]&0x0F != ser {
		c.Close()
		if reply[0] == rawsocket.Magic && reply[1]&0x0F == 0 {
			return nil, fmt.Errorf("rawsocket %s: handshake refused: %s", o.URL, rawsocket.ErrorCode(reply[1]>>4))
		}
		return nil, fmt.Errorf("rawsocket %s: handshake reply % x, want serializer %d", o.URL, reply, ser)
	}
	_ = c.SetDeadline(time.Time{})
	return &rsConn{Conn: c, r: rawsocket.Reader{R: br}}, nil
}
