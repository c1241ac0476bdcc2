package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fdConnPeer listens on a unix socket, dials it with dialUnixRaw (blocking or not) and
// returns both ends.
func fdConnPeer(t *testing.T) (*fdConn, net.Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "fdc") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sa, ok := newRawSockaddrUnix(path)
	if !ok {
		t.Fatal("address")
	}
	c, err := dialUnixRaw(&sa, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return c, peer
}

// TestFdConnRoundTrip: a request out and a response that arrives after the read began, then
// the peer's close as io.EOF; a large response arrives whole.
func TestFdConnRoundTrip(t *testing.T) {
	c, peer := fdConnPeer(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many reads and waits
	go func() {
		buf := make([]byte, 3)
		if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "req" {
			peer.Close()
			return
		}
		_, _ = peer.Write(big)
		peer.Close()
	}()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes, want %d", len(got), len(big))
	}
}

// TestFdConnDeadlines: a read from a silent peer and a write to a peer that reads nothing end
// with os.ErrDeadlineExceeded (a timeout to errors.go), not a hang.
func TestFdConnDeadlines(t *testing.T) {
	c, _ := fdConnPeer(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want a deadline error", err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	var err error
	for range 1 << 12 { // 256 MiB at most: far more than a socket buffer holds
		if _, err = c.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: %v, want a deadline error", err)
	}
}

// TestFdConnCloseEndsRead: Close from another goroutine ends a read waiting without a
// deadline (the WebSocket relay and a buffered response stop their reads so), and later
// calls report os.ErrClosed.
func TestFdConnCloseEndsRead(t *testing.T) {
	c, _ := fdConnPeer(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		done <- err
	}()
	// Close may come before the read begins: either way the read must end.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read after close returned no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read went on after Close")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}
