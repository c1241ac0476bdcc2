package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/uwsgiproto"
)

const flaskApp = `
import os, sys
from flask import Flask
app = Flask(__name__)

@app.route("/")
def index():
    return "hello from %d" % os.getpid()

@app.route("/env")
def env():
    return os.environ.get("PORTICO_TEST_ENV", "unset")
`

// project writes a Python project into a fresh directory and returns it.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newSup(t *testing.T, spec Spec) *Supervisor {
	t.Helper()
	if spec.RuntimeDir == "" {
		spec.RuntimeDir = filepath.Join(t.TempDir(), "run")
	}
	if spec.Name == "" {
		spec.Name = "workers[0].transports[0].paths./"
		spec.ConfigKey = spec.Name
	}
	s, err := New(spec, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(5 * time.Second) })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// get sends one GET over the uwsgi protocol and returns status and body.
func get(t *testing.T, upstream, path string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("unix", strings.TrimPrefix(upstream, "unix:"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var e uwsgiproto.Encoder
	e.Reset(0, 0)
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", path}, {"REQUEST_URI", path},
		{"QUERY_STRING", ""}, {"SERVER_NAME", "localhost"}, {"SERVER_PORT", "80"},
		{"SERVER_PROTOCOL", "HTTP/1.1"}, {"wsgi.url_scheme", "http"}, {"REMOTE_ADDR", "127.0.0.1"}} {
		e.Add(kv[0], kv[1])
	}
	p, _ := e.Packet()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var h uwsgiproto.ResponseHead
	if err := uwsgiproto.ReadResponseHead(br, 0, &h); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	return h.StatusCode, string(body)
}

func TestStartServes(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": flaskApp})
	s := newSup(t, Spec{Module: "myapp", Object: "app", PythonPath: []string{dir}, Chdir: dir,
		Processes: 2, Threads: 2, Env: []string{"PORTICO_TEST_ENV=set"}})
	t0 := time.Now()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Flask app ready %v after Start", time.Since(t0).Round(time.Millisecond))
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, s.Upstream(), "/")
	if code != 200 || !strings.HasPrefix(body, "hello from ") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if _, body := get(t, s.Upstream(), "/env"); body != "set" {
		t.Fatalf("Spec.Env not passed: %q", body)
	}
	sock := strings.TrimPrefix(s.Upstream(), "unix:")
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a 0600 socket", st.Mode())
	}
	dst, _ := os.Stat(filepath.Dir(sock))
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("runtime dir mode %v, want 0700", dst.Mode().Perm())
	}
}

func TestArgs(t *testing.T) {
	s := newSup(t, Spec{Module: "m", Object: "app", PythonPath: []string{"/a", "/b"}, Chdir: "/c",
		Processes: 3, Threads: 4, ExtraArgs: []string{"--harakiri", "30"}})
	got := strings.Join(s.Args(), " ")
	// Debian's uwsgi-core has no Python built in: the plugin must be requested.
	want := "--plugin python3 --master --need-app --strict --socket " + strings.TrimPrefix(s.Upstream(), "unix:") +
		" --chmod-socket=600 --module m:app --pythonpath /a --pythonpath /b --chdir /c --processes 3 --threads 4" +
		" --enable-threads --die-on-term --no-orphans --vacuum --disable-logging --harakiri 30"
	if got != want {
		t.Fatalf("args\n got %s\nwant %s", got, want)
	}
}

// TestArgsPersistent: with Persistent the uwsgi also listens on the persistent socket, and
// the app is loaded through the wrapper that frames unsized responses.
func TestArgsPersistent(t *testing.T) {
	s := newSup(t, Spec{Module: "m", Object: "app", Processes: 3, Threads: 4, Persistent: true})
	sock := strings.TrimPrefix(s.Upstream(), "unix:")
	ps := s.PersistentSocket()
	if ps == "" || ps == sock || filepath.Dir(ps) != filepath.Dir(sock) {
		t.Fatalf("persistent socket %q next to %q", ps, sock)
	}
	got := strings.Join(s.Args(), " ")
	want := "--plugin python3 --master --need-app --strict --socket " + sock + " --puwsgi-socket " + ps +
		" --chmod-socket=600 --wsgi-file " + s.persistScript() + " --env PORTICO_WSGI_APP=m:app --processes 3 --threads 4" +
		" --enable-threads --die-on-term --no-orphans --vacuum --disable-logging"
	if got != want {
		t.Fatalf("args\n got %s\nwant %s", got, want)
	}
	if s.Workers() != 12 {
		t.Fatalf("Workers() = %d, want 12", s.Workers())
	}
	if p := newSup(t, Spec{Module: "m"}).PersistentSocket(); p != "" {
		t.Fatalf("PersistentSocket() without Persistent = %q", p)
	}
}

func TestImportFailureShowsTraceback(t *testing.T) {
	dir := project(t, map[string]string{"broken.py": "import os\nimport no_such_module_here\napp = None\n"})
	s := newSup(t, Spec{Module: "broken", Object: "app", PythonPath: []string{dir}, Chdir: dir})
	err := s.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded with an app that cannot be imported")
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{"exit status 22", "Traceback (most recent call last)",
		"ModuleNotFoundError: No module named 'no_such_module_here'", "Python search path: " + dir} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if s.PID() != 0 {
		t.Fatalf("PID %d after a failed start", s.PID())
	}
}

func TestMissingModuleObject(t *testing.T) {
	dir := project(t, map[string]string{"noapp.py": "x = 1\n"})
	s := newSup(t, Spec{Module: "noapp", Object: "app", PythonPath: []string{dir}})
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit status 22") {
		t.Fatalf("err = %v", err)
	}
}

func TestRestartAfterSIGKILL(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": flaskApp})
	s := newSup(t, Spec{Module: "myapp", Object: "app", PythonPath: []string{dir}, Processes: 2,
		Timing: Timing{BackoffMin: 20 * time.Millisecond}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := s.PID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 0, func() error {
		if err := s.WaitReady(t.Context()); err != nil {
			return err
		}
		if pid := s.PID(); pid == 0 || pid == old {
			return fmt.Errorf("no new uwsgi master (pid %d, killed %d)", pid, old)
		}
		return nil
	})
	if code, body := get(t, s.Upstream(), "/"); code != 200 || !strings.HasPrefix(body, "hello") {
		t.Fatalf("after restart: %d %q", code, body)
	}
	// The old instance's workers are gone (--no-orphans and the group kill).
	waitGroupEmpty(t, old)
}

func TestStopLeavesNoProcess(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": flaskApp})
	s := newSup(t, Spec{Module: "myapp", Object: "app", PythonPath: []string{dir}, Processes: 3})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pgid := s.PID()
	// READY=1 comes from the master just before it forks the workers.
	testkit.CheckFor(t, 0, func() error {
		if m := groupMembers(pgid); len(m) < 4 {
			return fmt.Errorf("%v in the group, want a master and 3 workers", m)
		}
		return nil
	})
	t0 := time.Now()
	if err := s.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop of master + 3 workers took %v", time.Since(t0).Round(time.Millisecond))
	waitGroupEmpty(t, pgid) // what the group kill reached ends on the kernel's schedule
	if _, err := os.Stat(strings.TrimPrefix(s.Upstream(), "unix:")); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if err := s.WaitReady(context.Background()); err != ErrStopped {
		t.Fatalf("WaitReady after Stop = %v", err)
	}
}

// TestWaitReadyBlocksUntilStarted: WaitReady before Start waits (its context decides how
// long) and returns as soon as Start has made uwsgi ready.
func TestWaitReadyBlocksUntilStarted(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": flaskApp})
	s := newSup(t, Spec{Module: "myapp", Object: "app", PythonPath: []string{dir}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady before Start = %v, want the context's deadline", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.WaitReady(t.Context()) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitReady returned %v before Start", err)
	default:
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 0, func() error {
		select {
		case err := <-waited:
			if err != nil {
				t.Fatalf("WaitReady after Start = %v", err)
			}
			return nil
		default:
			return fmt.Errorf("WaitReady still waiting after Start returned")
		}
	})
}

func TestMissingBinary(t *testing.T) {
	_, err := New(Spec{Binary: "/nonexistent/uwsgi", Module: "m", RuntimeDir: t.TempDir(),
		ConfigKey: "workers[0].transports[0].paths./"}, nil)
	if err == nil {
		t.Fatal("no error for a missing binary")
	}
	for _, want := range []string{"workers[0].transports[0].paths./.uwsgi", "uwsgi-core", "uwsgi-plugin-python3", "/nonexistent/uwsgi"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestPluginDetection(t *testing.T) {
	bin, err := exec.LookPath("uwsgi")
	if err != nil {
		t.Fatalf("uwsgi not installed (Debian packages uwsgi-core, uwsgi-plugin-python3): %v", err)
	}
	need, err := needsPlugin(bin)
	if err != nil || !need {
		t.Fatalf("Debian's uwsgi: needsPlugin = %v, %v; want true", need, err)
	}
	// Outputs as the two kinds of build print them.
	debian := "*** uWSGI loaded generic plugins ***\n\n*** uWSGI loaded request plugins ***\n--- end of plugins list ---\n"
	withPlugin := "*** uWSGI loaded generic plugins ***\n\n*** uWSGI loaded request plugins ***\n0: python\n--- end of plugins list ---\n"
	monolithic := "*** uWSGI loaded generic plugins ***\ngevent\nsymcall\n\n*** uWSGI loaded request plugins ***\n" +
		"0: python\n17: spooler\n18: symcall\n100: ping\n--- end of plugins list ---\n"
	for _, tt := range []struct {
		out  string
		want bool
	}{{debian, false}, {withPlugin, true}, {monolithic, true}, {"", false}} {
		if got := hasPythonPlugin(tt.out); got != tt.want {
			t.Errorf("hasPythonPlugin(%q) = %v", tt.out, got)
		}
	}
}

func TestSocketBase(t *testing.T) {
	a, b := socketBase("workers[0].transports[0].paths./"), socketBase("workers[0].transports[0].paths.-")
	if a == b || strings.ContainsAny(a, "/[]") {
		t.Fatalf("socketBase: %q %q", a, b)
	}
}

// groupMembers lists the pids whose process group is pgid (field 5 of /proc/PID/stat).
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// comm may contain spaces: fields start after the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitGroupEmpty(t *testing.T, pgid int) {
	t.Helper()
	testkit.CheckFor(t, 0, func() error {
		if m := groupMembers(pgid); len(m) != 0 {
			return fmt.Errorf("processes still in group %d: %v", pgid, m)
		}
		return nil
	})
}

// TestPdeathsig runs a supervisor in a child copy of the test binary, SIGKILLs that child
// and checks that uwsgi went with it.
func TestPdeathsig(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": flaskApp})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperParent$")
	cmd.Env = append(os.Environ(), "LAUNCH_HELPER_DIR="+dir, "LAUNCH_HELPER_RUN="+filepath.Join(t.TempDir(), "run"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	pid := 0
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "UWSGI_PID="); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		t.Fatal("helper did not report a uwsgi pid")
	}
	if len(groupMembers(pid)) == 0 {
		t.Fatal("uwsgi not running in the helper")
	}
	cmd.Process.Kill() // SIGKILL: no deferred cleanup runs in the helper
	cmd.Wait()
	waitGroupEmpty(t, pid)
}

func TestHelperParent(t *testing.T) {
	dir := os.Getenv("LAUNCH_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestPdeathsig")
	}
	s, err := New(Spec{Name: "helper", Module: "myapp", Object: "app", PythonPath: []string{dir},
		Processes: 2, RuntimeDir: os.Getenv("LAUNCH_HELPER_RUN")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("UWSGI_PID=%d\n", s.PID())
	select {} // wait to be killed
}

func TestRuntimeDirTooLong(t *testing.T) {
	_, err := New(Spec{Module: "m", RuntimeDir: "/" + strings.Repeat("r", 90), ConfigKey: "k"}, nil)
	if err == nil || !strings.Contains(err.Error(), "uwsgi accepts at most 102") {
		t.Fatalf("err = %v", err)
	}
}

// TestPluginMissing uses a stand-in binary that answers like Debian's uwsgi-core without
// uwsgi-plugin-python3 installed (that state cannot be had next to the real packages).
func TestPluginMissing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "uwsgi")
	script := `#!/bin/sh
echo "*** uWSGI loaded generic plugins ***"
echo
echo "*** uWSGI loaded request plugins ***"
echo "--- end of plugins list ---"
if [ "$1" = "--need-plugin" ]; then
  echo '!!! UNABLE to load uWSGI plugin: /usr/lib/uwsgi/plugins/python3_plugin.so: cannot open shared object file: No such file or directory !!!'
  echo 'unable to load plugin "python3"'
fi
echo "The -s/--socket option is missing and stdin is not a socket."
exit 1
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(Spec{Binary: bin, Module: "m", RuntimeDir: t.TempDir(), ConfigKey: "workers[0].transports[0].paths.app"}, nil)
	if err == nil {
		t.Fatal("no error for a uwsgi without python")
	}
	for _, want := range []string{"workers[0].transports[0].paths.app.uwsgi", "uwsgi-plugin-python3", `unable to load plugin "python3"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// lockedBuffer collects a supervisor's log for a test to search while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLongOutputLine: an app that writes one line far longer than a log line may be (here
// 300 KiB, without and then with its newline) keeps being served, and what it writes after it
// is still logged. The line is logged cut, saying how much was dropped: a relay that stopped
// reading would leave uwsgi writing into a closed pipe (SIGPIPE, then EPIPE on every write).
func TestLongOutputLine(t *testing.T) {
	dir := project(t, map[string]string{"myapp.py": `
import sys
from flask import Flask
app = Flask(__name__)

@app.route("/")
def index():
    return "hello"

@app.route("/shout")
def shout():
    sys.stderr.write("A" * (300 << 10))
    sys.stderr.flush()
    sys.stderr.write("B" * (300 << 10) + "\n")
    sys.stderr.flush()
    return "shouted"

@app.route("/after")
def after():
    print("after the long line", flush=True)
    return "after"
`})
	var logs lockedBuffer
	s, err := New(Spec{Name: "long", ConfigKey: "long", Module: "myapp", Object: "app", PythonPath: []string{dir},
		RuntimeDir: filepath.Join(t.TempDir(), "run")}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(5 * time.Second) })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, s.Upstream(), "/shout"); code != 200 || body != "shouted" {
		t.Fatalf("/shout: %d %q", code, body)
	}
	for range 20 {
		if code, body := get(t, s.Upstream(), "/after"); code != 200 || body != "after" {
			t.Fatalf("after the long line: %d %q\n%s", code, body, logs.String())
		}
	}
	testkit.WaitFor(t, 0, "output written after the long line is logged", func() bool {
		return strings.Contains(logs.String(), "after the long line")
	})
	out := logs.String()
	if !strings.Contains(out, "truncated=") {
		t.Errorf("the long line is not logged as cut:\n%.2000s", out)
	}
	for l := range strings.SplitSeq(out, "\n") {
		if len(l) > 2*maxLogLine {
			t.Errorf("a log line of %d bytes", len(l))
		}
	}
}
