package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that is free now and reserved for tb until its
// cleanup, for a process the test starts to listen on (a listener the test opens itself
// should take port 0 instead).
//
// Two things could take such a port before the process binds it, and both happened on busy CI
// machines: the kernel, which hands ports of its ephemeral range to every outgoing connection
// and every bind to port 0 of any process, and another test process of the same run (go test
// runs packages side by side). So the port is chosen below the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), where the kernel never hands one out, and
// reserved with an exclusive flock(2) on a file named for it under the temporary directory,
// which every test process of this module takes before using a port; the lock goes with the
// test's cleanup (or the process's end).
func FreePort(tb testing.TB) int {
	tb.Helper()
	low, high := portRange()
	dir := filepath.Join(os.TempDir(), "portico-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		tb.Fatal(err)
	}
	for range 2000 {
		port := low + rand.IntN(high-low)
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			tb.Fatal(err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test holds it
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			f.Close() // in use by something else
			continue
		}
		ln.Close()
		tb.Cleanup(func() { f.Close() })
		return port
	}
	tb.Fatalf("no free TCP port in [%d, %d)", low, high)
	return 0
}

// portRange is where FreePort looks: from 10000 up to the kernel's ephemeral range, or, where
// that leaves too little room, the 10000 ports below 65536.
func portRange() (low, high int) {
	low, high = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil {
				high = lo
			}
		}
	}
	if high-low < 2000 {
		return 55536, 65536
	}
	return low, high
}
