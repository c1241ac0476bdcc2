package gateway

import (
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawSockaddrUnix is a unix socket address encoded once, so that connecting allocates nothing
// for it (syscall.Connect with a SockaddrUnix encodes, and allocates, on every call).
type rawSockaddrUnix struct {
	sa  syscall.RawSockaddrUnix
	len uint32
}

func newRawSockaddrUnix(path string) (rawSockaddrUnix, bool) {
	var r rawSockaddrUnix
	if len(path) == 0 || len(path) >= len(r.sa.Path) {
		return r, false
	}
	r.sa.Family = syscall.AF_UNIX
	for i := 0; i < len(path); i++ {
		r.sa.Path[i] = int8(path[i])
	}
	// sa_family plus the path and its terminating NUL (unix(7)).
	r.len = uint32(unsafe.Offsetof(r.sa.Path)) + uint32(len(path)) + 1
	return r, true
}

// connectUnix connects a non-blocking, close-on-exec unix stream socket to sa and returns its
// descriptor, which the caller owns.
func connectUnix(sa *rawSockaddrUnix, path string) (int, error) {
	if sa.len == 0 {
		return -1, &net.OpError{Op: "dial", Net: "unix", Err: syscall.EINVAL}
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
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
		return -1, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: os.NewSyscallError("connect", err)}
	}
	return fd, nil
}

// dialUnixFast connects a non-blocking unix stream socket and wraps it as a pollable
// *os.File, skipping the getsockname/getpeername pair net.DialUnix spends on every
// connection (a uwsgi connection lives for one request, so those are per request).
func dialUnixFast(sa *rawSockaddrUnix, path string) (*os.File, error) {
	fd, err := connectUnix(sa, path)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
