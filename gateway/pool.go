package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A uwsgi server closes the connection after every response (see uwsgiproto's package doc),
// so there is nothing to keep idle: a pre-opened connection would only pin a uwsgi worker.
// The pool is therefore a per-upstream concurrency limit with a FIFO wait queue (the shape of
// fasthttp's HostClient acquireConn/releaseConn without the idle list), fast dialing, and
// nginx's max_fails/fail_timeout passive health check.

// maxWaiters bounds the wait queue of one upstream; past it a request is refused at once (503)
// rather than holding memory and a client connection for queue_timeout.
const maxWaiters = 4096

type upstream struct {
	label   string // as configured: "unix:/run/app.sock", "127.0.0.1:3031"
	network string // "unix" or "tcp"
	addr    string
	sa      rawSockaddrUnix // addr, encoded once for connect(2)
	netpoll bool            // a unix socket joins Go's poller at once (fdconn.go)

	// waitReady, when set, blocks until a launched uwsgi is accepting again (during a restart).
	waitReady func(ctx context.Context) error

	maxFails    int
	failTimeout time.Duration

	stats *upstreamStats // metrics series, nil in tests that build an upstream alone

	mu      sync.Mutex
	active  int
	max     int
	waiters []*waiter // FIFO; a send on a waiter's channel hands the slot over
	fails   int
	failAt  time.Time // start of the current fail_timeout window
	downTil time.Time // skipped until then (nginx: "unavailable for fail_timeout")
}

func parseUpstream(s string) (network, addr string, err error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if p == "" {
			return "", "", fmt.Errorf("upstream %q: empty socket path", s)
		}
		return "unix", p, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Errorf("upstream %q: want unix:/path or host:port: %w", s, err)
	}
	return "tcp", s, nil
}

// waiter is one request queued for a slot. Waiters are pooled with their channel and timer,
// so that queueing allocates nothing: with 256 client connections on the default
// max_concurrency of 64, most requests queue.
type waiter struct {
	ch    chan struct{} // buffered: release hands the slot over without blocking
	timer *time.Timer
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// acquire takes a connection slot, waiting in FIFO order until deadline. The fast path (a
// free slot) allocates nothing.
func (u *upstream) acquire(deadline time.Time) error {
	u.mu.Lock()
	if u.active < u.max && len(u.waiters) == 0 {
		u.active++
		u.mu.Unlock()
		return nil
	}
	if len(u.waiters) >= maxWaiters {
		u.mu.Unlock()
		return errQueueFull
	}
	w := waiterPool.Get().(*waiter)
	u.waiters = append(u.waiters, w)
	u.mu.Unlock()

	if w.timer == nil {
		w.timer = time.NewTimer(time.Until(deadline))
	} else {
		w.timer.Reset(time.Until(deadline))
	}
	start := time.Now()
	select {
	case <-w.ch:
		if u.stats != nil {
			u.stats.queueWait.UpdateDuration(start)
		}
		// Since Go 1.23 a stopped timer delivers no stale value, so the pooled timer can be
		// Reset by its next user.
		w.timer.Stop()
		waiterPool.Put(w)
		return nil
	case <-w.timer.C:
	}
	u.mu.Lock()
	for i, x := range u.waiters {
		if x == w {
			u.waiters = append(u.waiters[:i], u.waiters[i+1:]...)
			u.mu.Unlock()
			waiterPool.Put(w)
			return errQueueTimeout
		}
	}
	u.mu.Unlock()
	// The slot was handed over while the timer fired: take the handover (release sends
	// after unlocking), then give the slot back.
	<-w.ch
	waiterPool.Put(w)
	u.release()
	return errQueueTimeout
}

// release returns a slot, handing it straight to the oldest waiter.
func (u *upstream) release() {
	u.mu.Lock()
	if len(u.waiters) > 0 {
		w := u.waiters[0]
		copy(u.waiters, u.waiters[1:])
		u.waiters[len(u.waiters)-1] = nil
		u.waiters = u.waiters[:len(u.waiters)-1]
		u.mu.Unlock()
		w.ch <- struct{}{}
		return
	}
	u.active--
	u.mu.Unlock()
}

func (u *upstream) load() int {
	u.mu.Lock()
	n := u.active + len(u.waiters)
	u.mu.Unlock()
	return n
}

func (u *upstream) available(now time.Time) bool {
	u.mu.Lock()
	ok := now.After(u.downTil)
	u.mu.Unlock()
	return ok
}

// failed counts a failure within fail_timeout; at max_fails the upstream is skipped for
// fail_timeout (nginx ngx_http_upstream_round_robin semantics; max_fails 0 disables).
func (u *upstream) failed(now time.Time) {
	if u.maxFails <= 0 {
		return
	}
	u.mu.Lock()
	if now.Sub(u.failAt) > u.failTimeout {
		u.fails = 0
		u.failAt = now
	}
	u.fails++
	if u.fails >= u.maxFails {
		u.downTil = now.Add(u.failTimeout)
		u.fails = 0
	}
	u.mu.Unlock()
}

func (u *upstream) succeeded() {
	if u.maxFails <= 0 {
		return
	}
	u.mu.Lock()
	u.fails = 0
	u.mu.Unlock()
}

var dialer = net.Dialer{}

// upstreamConn is what the proxy needs of a connection to uwsgi: *os.File for unix sockets
// (see dialUnixFast), net.Conn for TCP.
type upstreamConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

func (u *upstream) dial(timeout time.Duration) (upstreamConn, error) {
	if u.network == "unix" {
		// No resolver, no dual-stack racing and no address lookups on the hot path; by
		// default no poller either (fdconn.go).
		if !u.netpoll {
			c, err := dialUnixRaw(&u.sa, u.addr)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		c, err := dialUnixFast(&u.sa, u.addr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	d := dialer
	d.Timeout = timeout
	return d.Dial("tcp", u.addr)
}

// balancer picks an upstream for each attempt.
type balancer struct {
	ups       []*upstream
	leastConn bool
	next      atomic.Uint32
}

// pick returns an available upstream not in tried (bit i = ups[i] already tried), or -1.
// When every untried upstream is marked down, the least recently failed one is used anyway,
// as nginx does rather than refusing outright.
func (b *balancer) pick(tried uint64) int {
	n := len(b.ups)
	if n == 1 {
		if tried&1 != 0 {
			return -1
		}
		return 0
	}
	now := time.Now()
	best, bestLoad, fallback := -1, 0, -1
	start := int(b.next.Add(1)-1) % n
	for k := range n {
		i := (start + k) % n
		if i < 64 && tried&(1<<i) != 0 {
			continue
		}
		u := b.ups[i]
		if !u.available(now) {
			if fallback < 0 {
				fallback = i
			}
			continue
		}
		if !b.leastConn {
			return i
		}
		if l := u.load(); best < 0 || l < bestLoad {
			best, bestLoad = i, l
		}
	}
	if best >= 0 {
		return best
	}
	return fallback
}
