package gateway

import (
	"net"
	"sync"
)

// corkConn is the network connection under a WAMP session's WebSocket: while corked, the
// frames the websocket package writes (each whole, under its own lock) are held, and uncork
// sends them all with one write. The session's writer corks while it has several messages
// queued (router.CorkTransport), so a burst of EVENTs to one subscriber costs one system call
// instead of one per EVENT. A control frame written meanwhile from another goroutine (a pong,
// a ping, the close frame) joins the held frames in order; the frames stay whole, which is all
// RFC 6455 section 5.4 asks of frames between messages.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

// maxCorkBuf is the buffer kept between corked writes; a larger one is let go.
const maxCorkBuf = 256 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was held, under the write deadline last set on the connection. Writes
// from other goroutines wait for it, so they stay in order.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxCorkBuf {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}
