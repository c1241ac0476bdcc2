package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The upstream leg of a request to a unix-socket uwsgi, without Go's network poller.
//
// uwsgi closes its connection after every response, so a connection lives for one request.
// Making its socket pollable costs fcntl and epoll_ctl ADD and DEL per request (see
// contrib/bench/RESULTS.md, "Where Portico's time goes"); a request to a local uwsgi waits a
// short while for its answer. fdConn instead does its reads and writes as plain system calls
// on the calling goroutine, and waits, when it must, in the kernel on the same thread (the
// runtime hands the goroutine's P to another thread meanwhile):
//
//   - upstreamIOPoll: a non-blocking socket; a read or write that would block
//     waits in ppoll(2) up to its deadline. Deadlines keep their exact meaning, and connect
//     fails at once on a full backlog, as with the poller.
//   - upstreamIOBlocking: a blocking socket; waits are the read and write themselves,
//     bounded by SO_RCVTIMEO and SO_SNDTIMEO set from the deadlines.
//   - upstreamIONetpoll (the default): the pollable *os.File of dialUnixFast.
//   - upstreamIOLazy: a non-blocking socket read and written directly; it joins the poller
//     only when a call would wait.
//
// PORTICO_UPSTREAM_IO=netpoll|poll|blocking|lazy chooses, read once at start.

type upstreamIO int

const (
	upstreamIOPoll upstreamIO = iota
	upstreamIOBlocking
	upstreamIONetpoll
	upstreamIOLazy
)

var defaultUpstreamIO = parseUpstreamIO(os.Getenv("PORTICO_UPSTREAM_IO"))

func parseUpstreamIO(s string) upstreamIO {
	switch s {
	case "netpoll":
		return upstreamIONetpoll
	case "blocking":
		return upstreamIOBlocking
	case "lazy":
		return upstreamIOLazy
	case "poll":
		return upstreamIOPoll
	}
	return upstreamIONetpoll
}

// fdConn is a connected unix stream socket used without the poller. Read and Write may run
// on two goroutines at once (a WebSocket relay), Close on a third: Close shuts the socket
// down, which ends a read or write waiting on it, and the descriptor is closed once no call
// uses it any more, so that a number reused by the kernel is never read by mistake.
type fdConn struct {
	fd       int
	blocking bool
	refs     atomic.Int32 // 1 for the owner until Close, plus one per call in progress
	closed   atomic.Bool
	rdl, wdl atomic.Int64  // deadlines, unix nanoseconds; 0: none
	rto, wto time.Duration // SO_RCVTIMEO and SO_SNDTIMEO as set (blocking mode)

	// lazy mode: the socket joins the poller (f) only when a read or write would wait.
	lazy bool
	mu   sync.Mutex // promote
	f    atomic.Pointer[os.File]
}

// promote makes the socket pollable for the calls that have to wait: the caller holds a
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

func dialUnixRaw(sa *rawSockaddrUnix, path string, mode upstreamIO, connectTimeout time.Duration) (*fdConn, error) {
	blocking := mode == upstreamIOBlocking
	if sa.len == 0 {
		return nil, &net.OpError{Op: "dial", Net: "unix", Err: syscall.EINVAL}
	}
	typ := syscall.SOCK_STREAM | syscall.SOCK_CLOEXEC
	if !blocking {
		typ |= syscall.SOCK_NONBLOCK
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, typ, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &fdConn{fd: fd, blocking: blocking, lazy: mode == upstreamIOLazy}
	c.refs.Store(1)
	if blocking && connectTimeout > 0 {
		// A blocking connect to a full backlog waits, bounded by SO_SNDTIMEO (unix(7)).
		if err := c.setTimeo(syscall.SO_SNDTIMEO, connectTimeout); err != nil {
			syscall.Close(fd)
			return nil, err
		}
		c.wto = connectTimeout
	}
	for {
		_, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.sa)), uintptr(sa.len))
		err = nil
		if e != 0 {
			err = e
		}
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: os.NewSyscallError("connect", err)}
	}
	return c, nil
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
	// Ends a read or a wait in progress on another goroutine (a close alone would not).
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

func (c *fdConn) Read(p []byte) (int, error) {
	if !c.acquire() {
		return 0, os.ErrClosed
	}
	defer c.release()
	if len(p) == 0 {
		return 0, nil
	}
	if f := c.f.Load(); f != nil {
		return f.Read(p)
	}
	for {
		if c.blocking {
			if err := c.applyTimeo(syscall.SO_RCVTIMEO, &c.rto, c.rdl.Load()); err != nil {
				return 0, err
			}
		}
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN && c.blocking:
			return 0, os.ErrDeadlineExceeded // SO_RCVTIMEO ran out
		case err == syscall.EAGAIN && c.lazy:
			return c.promote().Read(p)
		case err == syscall.EAGAIN:
			if err := c.wait(unix.POLLIN, c.rdl.Load()); err != nil {
				return 0, err
			}
			continue
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
	done := 0
	for done < len(p) {
		if c.blocking {
			if err := c.applyTimeo(syscall.SO_SNDTIMEO, &c.wto, c.wdl.Load()); err != nil {
				return done, err
			}
		}
		n, err := syscall.Write(c.fd, p[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == nil || err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN && c.blocking:
			return done, os.ErrDeadlineExceeded
		case err == syscall.EAGAIN && c.lazy:
			n, err := c.promote().Write(p[done:])
			return done + n, err
		case err == syscall.EAGAIN:
			if err := c.wait(unix.POLLOUT, c.wdl.Load()); err != nil {
				return done, err
			}
			continue
		}
		if c.closed.Load() {
			return done, os.ErrClosed
		}
		return done, &net.OpError{Op: "write", Net: "unix", Err: os.NewSyscallError("write", err)}
	}
	return done, nil
}

// wait blocks the thread in ppoll until the socket is ready for ev or the deadline passes.
func (c *fdConn) wait(ev int16, deadline int64) error {
	for {
		var ts *unix.Timespec
		if deadline != 0 {
			left := deadline - time.Now().UnixNano()
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := unix.NsecToTimespec(left)
			ts = &t
		}
		fds := [1]unix.PollFd{{Fd: int32(c.fd), Events: ev}}
		n, err := unix.Ppoll(fds[:], ts, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("ppoll", err)
		}
		if c.closed.Load() {
			return os.ErrClosed
		}
		if n > 0 {
			return nil // ready, or an error or hangup the next read or write reports
		}
	}
}

// applyTimeo sets SO_RCVTIMEO or SO_SNDTIMEO to the time left until deadline, unless the value
// set already is within 1/16 of it (a fresh deadline per call would otherwise cost a
// setsockopt per read): a wait may so overrun its deadline by that much.
func (c *fdConn) applyTimeo(opt int, cur *time.Duration, deadline int64) error {
	var want time.Duration
	if deadline != 0 {
		want = time.Duration(deadline - time.Now().UnixNano())
		if want <= 0 {
			return os.ErrDeadlineExceeded
		}
	}
	if want == *cur || (want > 0 && *cur >= want && *cur-want <= want/16) {
		return nil
	}
	if err := c.setTimeo(opt, want); err != nil {
		return err
	}
	*cur = want
	return nil
}

func (c *fdConn) setTimeo(opt int, d time.Duration) error {
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if d > 0 && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // zero would mean no timeout
	}
	return os.NewSyscallError("setsockopt", syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv))
}
