package gateway

import (
	"net"
	"os"
	"syscall"
)

// dialUnixFast connects a non-blocking unix stream socket and wraps it as a pollable
// *os.File, skipping the getsockname/getpeername pair net.DialUnix spends on every
// connection (a uwsgi connection lives for one request, so those are per request).
func dialUnixFast(path string) (*unixConn, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: os.NewSyscallError("connect", err)}
	}
	return &unixConn{File: os.NewFile(uintptr(fd), path)}, nil
}

type unixConn struct{ *os.File }

func (c *unixConn) LocalAddr() net.Addr  { return nil }
func (c *unixConn) RemoteAddr() net.Addr { return nil }
