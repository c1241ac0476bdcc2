package tests

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"portico/internal/testkit"
)

// notifySocket is a unix datagram socket standing in for systemd's NOTIFY_SOCKET: it keeps
// every message it is sent.
type notifySocket struct {
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) (*notifySocket, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n, path
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// count is how many messages carry the line want ("READY=1").
func (n *notifySocket) count(want string) int {
	c := 0
	for _, m := range n.messages() {
		for l := range strings.SplitSeq(m, "\n") {
			if l == want {
				c++
			}
		}
	}
	return c
}

// TestSystemdNotify: under a Type=notify unit (NOTIFY_SOCKET, WATCHDOG_USEC) Portico sends
// READY=1 once its listener is open and its launched uwsgi answers, RELOADING=1 (with
// MONOTONIC_USEC) and READY=1 around a SIGHUP, watchdog pings, and STOPPING=1 on SIGTERM.
// The launched uwsgi's own readiness goes to its supervisor, not to systemd.
func TestSystemdNotify(t *testing.T) {
	sock, path := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	dir := seedNode(t)
	n := start(t, dir)

	// start returned on "msg=ready", logged just before READY=1 is sent.
	testkit.WaitFor(t, 0, "READY=1", func() bool { return sock.count("READY=1") == 1 })
	if status, body := get(t, n.base+"/"); status != 200 || !strings.Contains(body, "Hello from Crossbar.io") {
		t.Fatalf("after READY=1, GET / = %d %.80q", status, body)
	}
	testkit.WaitFor(t, 0, "watchdog pings", func() bool { return sock.count("WATCHDOG=1") >= 2 })

	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "READY=1 after the reload", func() bool { return sock.count("READY=1") == 2 })
	var order []string
	for _, m := range sock.messages() {
		switch {
		case strings.Contains(m, "RELOADING=1"):
			if !strings.Contains(m, "\nMONOTONIC_USEC=") {
				t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
			}
			order = append(order, "RELOADING")
		case strings.Contains(m, "READY=1"):
			order = append(order, "READY")
		}
	}
	if strings.Join(order, ",") != "READY,RELOADING,READY" {
		t.Errorf("notifications %v, want READY, RELOADING, READY", order)
	}

	n.stop(t, syscall.SIGTERM)
	if sock.count("STOPPING=1") != 1 {
		t.Errorf("no STOPPING=1 at SIGTERM: %q", sock.messages())
	}
	for _, m := range sock.messages() {
		if strings.Contains(m, "uWSGI") || strings.Contains(strings.ToLower(m), "uwsgi") {
			t.Errorf("a launched uwsgi's notification reached systemd's socket: %q", m)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the notify socket: %v", err)
	}
}
