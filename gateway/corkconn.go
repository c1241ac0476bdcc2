package gateway

import (
	"net"
	"sync"
	"time"
)

// corkConn is the network connection under a WAMP session's WebSocket: while corked, the
// frames the websocket package writes (each whole, under its own lock) are held, and uncork
// sends them all with one write. The session's writer corks while it has several messages
// queued (router.CorkTransport), so a burst of EVENTs to one subscriber costs one system call
// instead of one per EVENT. A control frame written meanwhile from another goroutine (a pong,
// a ping, the close frame) joins the held frames in order; the frames stay whole, which is all
// RFC 6455 section 5.4 asks of frames between messages.
//
// While corked, the write deadline the websocket package sets before each frame is only noted
// (one deadline system call per write, not per frame): uncork applies the last one.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    *[]byte   // the frames held while corked, from corkBufs; nil when none are
	wd     time.Time // the write deadline to apply at uncork
	wdSet  bool
}

// corkBufs are the buffers of corked writes, shared by the connections: a connection holds one
// only from its first held frame to its uncork, so that an idle session keeps none. One that
// grew past maxCorkBuf is let go.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const maxCorkBuf = 256 << 10

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if c.buf == nil {
			c.buf = corkBufs.Get().(*[]byte)
		}
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// release gives the held buffer back to corkBufs.
func (c *corkConn) release() {
	if c.buf == nil {
		return
	}
	if cap(*c.buf) <= maxCorkBuf {
		*c.buf = (*c.buf)[:0]
		corkBufs.Put(c.buf)
	}
	c.buf = nil
}

// SetWriteDeadline is noted while corked, and applied at once otherwise.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	if c.corked {
		c.wd, c.wdSet = t, true
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was held, under the write deadline last set on the connection. Writes
// from other goroutines wait for it, so they stay in order. cut, checked after the deadline is
// applied, reports that the connection was cut meanwhile (its deadlines put in the past for
// good): then nothing is written, as a cut that came first must not be undone by the deadline.
func (c *corkConn) uncork(cut func() bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	defer c.release()
	if c.wdSet {
		c.wdSet = false
		if err := c.Conn.SetWriteDeadline(c.wd); err != nil {
			return err
		}
	}
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	if cut != nil && cut() {
		return net.ErrClosed
	}
	_, err := c.Conn.Write(*c.buf)
	return err
}
