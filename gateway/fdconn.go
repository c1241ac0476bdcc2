package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The upstream leg of a request to a unix-socket uwsgi, with Go's network poller only when a
// call has to wait.
//
// uwsgi closes its connection after every response, so a connection lives for one request.
// Making its socket pollable costs fcntl and epoll_ctl ADD and DEL per request (see
// contrib/bench/RESULTS.md, "Where Portico's time goes"), though the request is usually
// written in one go and the answer of a fast app is often there by the first read. fdConn
// reads and writes the non-blocking socket with plain system calls, and only when one would
// block (EAGAIN) hands the socket to the poller (os.NewFile) for that call and the rest.
// Deadlines then apply as on any *os.File.
//
// Waiting in the kernel on the calling thread instead (ppoll, or a blocking socket with
// SO_RCVTIMEO) was measured too and lost: with one P the runtime takes the P back from a
// thread in a system call only on sysmon's next tick, and the gateway stalls meanwhile.
//
// PORTICO_UPSTREAM_IO=netpoll (read once at start) goes back to the poller for every
// connection (dialUnixFast).

var upstreamNetpoll = os.Getenv("PORTICO_UPSTREAM_IO") == "netpoll"

// fdConn is a connected non-blocking unix stream socket. Read and Write may run on two
// goroutines at once (a WebSocket relay), Close on a third: Close shuts the socket down,
// which ends a call waiting on it, and the descriptor is closed once no call uses it any
// more, so that a number the kernel reuses is never read by mistake.
type fdConn struct {
	fd       int
	refs     atomic.Int32 // 1 for the owner until Close, plus one per call in progress
	closed   atomic.Bool
	rdl, wdl atomic.Int64 // deadlines, unix nanoseconds; 0: none

	mu sync.Mutex // promote
	f  atomic.Pointer[os.File]
}

func dialUnixRaw(sa *rawSockaddrUnix, path string) (*fdConn, error) {
	fd, err := connectUnix(sa, path)
	if err != nil {
		return nil, err
	}
	c := &fdConn{fd: fd}
	c.refs.Store(1)
	return c, nil
}

// promote makes the socket pollable for the calls that have to wait. The caller holds a
// reference, so the descriptor is open.
func (c *fdConn) promote() *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.f.Load(); f != nil {
		return f
	}
	f := os.NewFile(uintptr(c.fd), "")
	c.f.Store(f)
	if d := c.rdl.Load(); d != 0 {
		_ = f.SetReadDeadline(time.Unix(0, d))
	}
	if d := c.wdl.Load(); d != 0 {
		_ = f.SetWriteDeadline(time.Unix(0, d))
	}
	return f
}

func (c *fdConn) acquire() bool {
	for {
		r := c.refs.Load()
		if r == 0 {
			return false
		}
		if c.refs.CompareAndSwap(r, r+1) {
			if c.closed.Load() {
				c.release()
				return false
			}
			return true
		}
	}
}

func (c *fdConn) release() {
	if c.refs.Add(-1) == 0 {
		if f := c.f.Load(); f != nil {
			f.Close()
			return
		}
		syscall.Close(c.fd)
	}
}

func (c *fdConn) Close() error {
	if c.closed.Swap(true) {
		return os.ErrClosed
	}
	// Ends a call waiting in the poller on another goroutine, which holds the descriptor.
	if c.refs.Load() > 1 {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
	c.release()
	return nil
}

func (c *fdConn) SetReadDeadline(t time.Time) error {
	c.rdl.Store(deadlineNanos(t))
	if f := c.f.Load(); f != nil {
		return f.SetReadDeadline(t)
	}
	return nil
}

func (c *fdConn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(deadlineNanos(t))
	if f := c.f.Load(); f != nil {
		return f.SetWriteDeadline(t)
	}
	return nil
}

func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n > 0 {
		return n
	}
	return 1 // in the past
}

// passed reports a deadline that has passed (as *os.File, a call then fails even if it would
// not have to wait).
func passed(deadline int64) bool {
	return deadline != 0 && time.Now().UnixNano() >= deadline
}

func (c *fdConn) Read(p []byte) (int, error) {
	if !c.acquire() {
		return 0, os.ErrClosed
	}
	defer c.release()
	if f := c.f.Load(); f != nil {
		return f.Read(p)
	}
	if passed(c.rdl.Load()) {
		return 0, os.ErrDeadlineExceeded
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return c.promote().Read(p)
		}
		if c.closed.Load() {
			return 0, os.ErrClosed
		}
		return 0, &net.OpError{Op: "read", Net: "unix", Err: os.NewSyscallError("read", err)}
	}
}

func (c *fdConn) Write(p []byte) (int, error) {
	if !c.acquire() {
		return 0, os.ErrClosed
	}
	defer c.release()
	if f := c.f.Load(); f != nil {
		return f.Write(p)
	}
	if passed(c.wdl.Load()) {
		return 0, os.ErrDeadlineExceeded
	}
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == nil || err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			n, err := c.promote().Write(p[done:])
			return done + n, err
		}
		if c.closed.Load() {
			return done, os.ErrClosed
		}
		return done, &net.OpError{Op: "write", Net: "unix", Err: os.NewSyscallError("write", err)}
	}
	return done, nil
}
