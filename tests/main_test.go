// Package tests holds Portico's end-to-end tests: they build the binary, start it on a free
// port with a temporary node directory, and talk to it with real uwsgi, real Python apps, real
// nginx and real WAMP clients. Only 127.0.0.1 is used.
package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// portico is the binary under test, built once by TestMain.
var portico string

// python is Debian's interpreter: the packages the tests need (flask, django, autobahn) are
// installed for it, not for another python3 that may come first on PATH.
const python = "/usr/bin/python3"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portico-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	portico = filepath.Join(dir, "portico")
	build := exec.Command("go", "build", "-o", portico, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portico:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP port on 127.0.0.1 reserved for t (testkit.FreePort).
func freePort(t *testing.T) int {
	t.Helper()
	return testkit.FreePort(t)
}

// startConfig writes cfg as a node directory's .crossbar/config.json and starts portico there.
func startConfig(t *testing.T, cfg any) *node {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir)
}

// node is a running `portico start`.
type node struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port of the first transport
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs portico with args in dir and waits until its first transport listens and it
// says ready. It is stopped (SIGTERM, then SIGKILL) when the test ends.
func start(t *testing.T, dir string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(portico, append([]string{"start"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORTICO_DIR=")
	return startCmd(t, cmd)
}

// startCmd is start with the command made by the caller (another environment, inherited
// files); its output goes to the node's log.
func startCmd(t *testing.T, cmd *exec.Cmd) *node {
	t.Helper()
	n := &node{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = n.logs
	cmd.Stderr = io.MultiWriter(n.logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); pw.Close(); close(n.done) }()
	t.Cleanup(func() {
		n.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("portico output:\n%s", n.logs.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		addr := ""
		for sc.Scan() {
			line := sc.Text()
			if m := listenRE.FindStringSubmatch(line); m != nil && addr == "" {
				addr = m[1]
			}
			if strings.Contains(line, "msg=ready") {
				ready <- addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case addr := <-ready:
		host, port, _ := net.SplitHostPort(addr)
		if host == "0.0.0.0" || host == "" || host == "::" {
			host = "127.0.0.1"
		}
		n.base = "http://" + net.JoinHostPort(host, port)
	case <-n.done:
		t.Fatalf("portico exited before it was ready:\n%s", n.logs.String())
	case <-time.After(2 * testkit.Patience):
		// SIGQUIT makes the Go runtime print every goroutine's stack: where it waits.
		state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
		}
		t.Fatalf("portico not ready after %v (/proc/pid/stat: %s):\n%s", 2*testkit.Patience, state, n.logs.String())
	}
	return n
}

// stop signals portico and waits for it to exit (SIGKILL after 30s).
func (n *node) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		t.Errorf("portico did not exit 30s after %v", sig)
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// copyTree copies the directory src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setPort rewrites port 8080 in a config (`"port": 8080` in JSON, `port: 8080` in YAML,
// `port = 8080` in TOML) to port, leaving the rest as is.
func setPort(t *testing.T, file string, port int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\bport("?\s*[:=]\s*)8080\b`)
	if !re.Match(b) {
		t.Fatalf("%s: no port 8080 to replace", file)
	}
	b = re.ReplaceAll(b, []byte(`port${1}`+strconv.Itoa(port)))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// procTree reads /proc: the living (not zombie) processes by parent pid, and the command
// name of each.
func procTree() (children map[int][]int, comm map[int]string) {
	children, comm = map[int][]int{}, map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 || close+2 >= len(s) {
			continue
		}
		f := strings.Fields(s[close+2:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
		comm[p] = s[open+1 : close]
	}
	return children, comm
}

// directChildren lists the living processes whose parent is pid.
func directChildren(pid int) []int {
	children, _ := procTree()
	return children[pid]
}

// uwsgiPIDs lists the uwsgi processes descended from pid (read from /proc).
func uwsgiPIDs(pid int) []int {
	children, comm := procTree()
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			if strings.HasPrefix(comm[c], "uwsgi") {
				out = append(out, c)
			}
			walk(c)
		}
	}
	walk(pid)
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// waitGone waits until none of pids is alive (within 0: testkit.Patience).
func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	testkit.CheckFor(t, within, func() error {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) != 0 {
			return fmt.Errorf("processes still alive: %v", left)
		}
		return nil
	})
}
