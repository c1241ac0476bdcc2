package router

import (
	"slices"
	"sync"
	"time"
)

// writerPool runs the sessions' writers (session.writeLoop) on goroutines that outlive one
// burst. A session has a writer only while its queue holds something (outQueue), so a busy
// router starts one per message it sends to a session with an empty queue: an RPC round trip
// starts two. A fresh goroutine begins with a small stack and grows it, copying, on its way
// down to the socket write (13% of the router's CPU for RPC before this pool); a pooled one
// keeps the stack it grew. Idle workers wait, newest first, for the next writer to run, and
// end after writerIdle without one, when more than maxIdleWriters wait, or when the router
// closes; the pool never holds an idle session's memory.
type writerPool struct {
	mu     sync.Mutex
	idle   []*pooledWriter // parked, the most recently parked last
	closed bool
	// idleFor, when not zero, replaces writerIdle (tests).
	idleFor time.Duration
}

type pooledWriter struct {
	work  chan func() // one slot: run hands over at most one function to a parked worker
	timer *time.Timer
}

const (
	// writerIdle is how long a parked worker waits for work before it ends.
	writerIdle = 10 * time.Second
	// maxIdleWriters bounds the parked workers of one router.
	maxIdleWriters = 256
)

// run runs f on a parked worker, or on a new goroutine when none waits.
func (p *writerPool) run(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.work <- f
		return
	}
	p.mu.Unlock()
	go p.serve(f)
}

// serve runs f, then whatever run hands it while it is parked.
func (p *writerPool) serve(f func()) {
	w := &pooledWriter{work: make(chan func(), 1)}
	for {
		f()
		if !p.park(w) {
			return
		}
		idle := writerIdle
		if p.idleFor > 0 {
			idle = p.idleFor
		}
		if w.timer == nil {
			w.timer = time.NewTimer(idle)
		} else {
			w.timer.Reset(idle)
		}
		select {
		case f = <-w.work:
			w.timer.Stop()
		case <-w.timer.C:
			if p.unpark(w) {
				return
			}
			// run or close took w off the list before the timer fired: what it sends is on
			// the way.
			f = <-w.work
		}
		if f == nil { // close
			return
		}
	}
}

// park puts w on the idle list; false when the pool is closed or full (w ends).
func (p *writerPool) park(w *pooledWriter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdleWriters {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

// unpark takes w off the idle list; false when run already took it.
func (p *writerPool) unpark(w *pooledWriter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.idle, w); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		return true
	}
	return false
}

// close ends the parked workers; those running end after their function.
func (p *writerPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, w := range idle {
		w.work <- nil
	}
}
