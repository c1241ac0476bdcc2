package gateway

import (
	"sync"
	"time"
)

// persistPool keeps connections to a launched uwsgi's persistent socket (--puwsgi-socket,
// uWSGI's proto/puwsgi.c), where one connection carries one request after another: a
// bodyless request then costs no connect, accept and close on either side.
//
// uWSGI's rules shape the pool. A worker thread that answered on a persistent connection
// waits on that connection alone for the next request (up to its socket timeout, 4 s by
// default) and accepts nothing else meanwhile. So:
//   - at most `max` (the uwsgi's processes x threads) connections are open: one more would sit
//     in the backlog with no worker free to accept it;
//   - a request on the plain socket (one with a body, or once the pool is full) needs a
//     worker that is not parked: idle connections are closed to free one (beginDirect), and
//     while such a request is in flight a returned connection is closed rather than kept;
//   - an idle connection older than maxIdle is closed, not used: uWSGI may be closing it.
//
// uWSGI reads no request body on this socket, and the response is framed only by its
// Content-Length: a connection is kept only after a response whose whole sized body was read
// and nothing followed it (see upstreamBody.Close).
type persistPool struct {
	sa   rawSockaddrUnix
	path string
	max  int

	mu     sync.Mutex
	idle   []idleConn // LIFO: the most recently used worker is the warmest
	open   int        // idle + in use
	direct int        // requests in flight on the plain socket
	closed bool
}

type idleConn struct {
	c  upstreamConn
	at time.Time
}

// maxIdle is well below uWSGI's default socket timeout (4 s), after which a parked worker
// closes its connection.
const maxIdle = time.Second

func newPersistPool(path string, workers int) (*persistPool, bool) {
	sa, ok := newRawSockaddrUnix(path)
	if !ok {
		return nil, false
	}
	return &persistPool{sa: sa, path: path, max: max(workers, 1)}, true
}

// get returns an idle connection (reused true), or a new one while fewer than max are open,
// or nil when the pool is full and the request goes to the plain socket.
// fresh closes the idle connections instead: after one broke, the others are suspect too (a
// reloaded uwsgi closes them all).
func (p *persistPool) get(now time.Time, fresh bool) (c upstreamConn, reused bool, err error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		ic := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = idleConn{}
		p.idle = p.idle[:len(p.idle)-1]
		if !fresh && now.Sub(ic.at) < maxIdle {
			p.mu.Unlock()
			return ic.c, true, nil
		}
		p.open--
		ic.c.Close()
	}
	if p.closed || p.open+p.direct >= p.max {
		p.mu.Unlock()
		return nil, false, nil
	}
	p.open++
	p.mu.Unlock()
	f, err := dialUnixFast(&p.sa, p.path)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, false, err
	}
	return f, false, nil
}

// put takes a connection back: kept idle when reusable and no plain-socket request waits
// for a worker, else closed.
func (p *persistPool) put(c upstreamConn, reusable bool, now time.Time) {
	p.mu.Lock()
	if reusable && !p.closed && p.direct == 0 {
		p.idle = append(p.idle, idleConn{c: c, at: now})
		p.mu.Unlock()
		return
	}
	p.open--
	p.mu.Unlock()
	c.Close()
}

// beginDirect accounts for a request on the plain socket and closes idle connections until
// a worker is left for it.
func (p *persistPool) beginDirect() {
	var drop []idleConn
	p.mu.Lock()
	p.direct++
	for len(p.idle) > 0 && p.open+p.direct > p.max {
		drop = append(drop, p.idle[len(p.idle)-1])
		p.idle[len(p.idle)-1] = idleConn{}
		p.idle = p.idle[:len(p.idle)-1]
		p.open--
	}
	p.mu.Unlock()
	for _, ic := range drop {
		ic.c.Close()
	}
}

func (p *persistPool) endDirect() {
	p.mu.Lock()
	p.direct--
	p.mu.Unlock()
}

// close closes the idle connections; connections in use are closed when they come back.
func (p *persistPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.open -= len(idle)
	p.mu.Unlock()
	for _, ic := range idle {
		ic.c.Close()
	}
}
