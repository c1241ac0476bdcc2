// Package benchkit holds what the benchmark programs under contrib/bench share: a free
// loopback port, the module's root, sizes as flags give them, a process's CPU time and memory,
// the median of a series, the WAMP node they measure, and starting and stopping a process.
package benchkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FreePort asks the kernel for a free loopback port. It is released before the program under
// test binds it, which is racy in principle but not in practice on a machine that is not short
// of ports.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ModuleRoot is the nearest directory at or above the working directory that holds go.mod,
// else the working directory.
func ModuleRoot() string {
	d, _ := os.Getwd()
	for p := d; ; p = filepath.Dir(p) {
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return p
		}
		if filepath.Dir(p) == p {
			return d
		}
	}
}

// ParseSize reads a byte count with an optional k, m or g suffix (binary multiples).
func ParseSize(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (like 512m, 1g)", s)
	}
	return n * mult, nil
}

// CPUTime is the user plus system time pid has used (utime and stime of /proc/PID/stat, in
// clock ticks of 10 ms); 0 when it cannot be read.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// Median is the median of v (the mean of the middle two for an even count); 0 for none. v is
// left as it was.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// WAMPNode is the TOML of a Portico node routing WAMP at ws://127.0.0.1:PORT/ws, where anonymous
// clients may do everything in realm1, with a json service at "/" (which earlier Portico binaries
// required, so that wampab can take any of them as its baseline); a format with the port as its
// one verb.
const WAMPNode = `[[realm]]
name = "realm1"
  [[realm.role]]
  name = "anonymous"
    [[realm.role.permission]]
    uri = ""
    match = "prefix"
    allow = { call = true, register = true, publish = true, subscribe = true }
[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }
  [transport.paths.ws]
  type = "websocket"
  [transport.paths."/"]
  type = "json"
  value = "portico"
`

// WAMPRawSocket is the TOML of a rawsocket transport at rs://127.0.0.1:PORT, to append to
// WAMPNode (its realm1 and roles serve it too); a format with the port as its one verb.
const WAMPRawSocket = `[[transport]]
type = "rawsocket"
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }
`

// ProcStatusBytes reads a size field of /proc/PID/status ("VmRSS", "VmHWM", ...), in bytes.
func ProcStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Started is a process Start started: Exited closes when it ended, with Err what Wait
// returned (read it only after Exited closed).
type Started struct {
	Cmd    *exec.Cmd
	Exited <-chan struct{}
	Err    error
}

// Start starts cmd and waits for it in the background.
func Start(cmd *exec.Cmd) (*Started, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	p := &Started{Cmd: cmd, Exited: exited}
	go func() { p.Err = cmd.Wait(); close(exited) }()
	return p, nil
}

// Stop sends SIGTERM and waits for the end; after 30 s it kills the process.
func (p *Started) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.Exited
	}
}
