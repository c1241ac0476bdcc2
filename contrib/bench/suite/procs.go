package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one started process tree (a gateway or a backend). Every tree runs in its own
// process group so that stopping it reaches the workers a master forked.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // combined stdout/stderr
	done chan struct{}
}

// procs remembers what was started, so that everything is stopped at the end, also on Ctrl-C.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

func (ps *procs) start(name, dir, logPath string, env []string, argv ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	// Own process group (stopped as a whole); SIGKILL if this program dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(p.done) }()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stop ends one tree: SIGTERM to the group, SIGKILL after a grace period.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	// Workers that outlive their master are still in the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Go(p.stop)
	}
	wg.Wait()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// waitDial polls until network/addr accepts a connection, the process exits or ctx ends.
func waitDial(ctx context.Context, p *proc, network, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before listening on %s:\n%s", p.name, addr, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %s:\n%s", p.name, addr, within, p.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// treeUsage is the CPU time and peak memory of a process tree, read from /proc.
type treeUsage struct {
	cpu   time.Duration // utime+stime of every process in the tree, all threads (proc(5))
	hwm   int64         // sum of VmHWM over the tree, bytes
	procs int
}

var clkTck = 100 // sysconf(_SC_CLK_TCK); 100 on every Linux architecture Go supports

// usage reads the tree rooted at pid: the root and, recursively, its children.
func usage(pid int) (treeUsage, error) {
	kids, err := childrenMap()
	if err != nil {
		return treeUsage{}, err
	}
	var u treeUsage
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ticks, err := cpuTicks(p)
		if err != nil {
			if p == pid {
				return u, err
			}
			continue // a child that just exited
		}
		u.cpu += time.Duration(ticks) * time.Second / time.Duration(clkTck)
		u.hwm += vmHWM(p)
		u.procs++
		stack = append(stack, kids[p]...)
	}
	return u, nil
}

// childrenMap maps every pid to its children, from /proc/*/stat.
func childrenMap() (map[int][]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	m := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(f[1]) // field 4 (ppid); f starts at field 3
		m[ppid] = append(m[ppid], pid)
	}
	return m, nil
}

// statFields returns /proc/PID/stat from field 3 (state) on: the command name in field 2 may
// contain spaces and parentheses, so the split starts after its last ')' (proc(5)).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	return parseStat(string(b))
}

func parseStat(s string) ([]string, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return nil, errors.New("short stat")
	}
	return f, nil
}

// cpuTicks is utime+stime (fields 14 and 15) of a process, all its threads included.
func cpuTicks(pid int) (int64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return statTicks(f)
}

func statTicks(f []string) (int64, error) {
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed stat times")
	}
	return ut + st, nil
}

// vmHWM is the process's peak resident set size in bytes (VmHWM in /proc/PID/status).
func vmHWM(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return parseHWM(string(b))
}

func parseHWM(status string) int64 {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil || kb < 0 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
