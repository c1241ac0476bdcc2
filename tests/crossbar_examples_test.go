package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// The nodes of crossbario/crossbar-examples under testdata/crossbar-examples, copied as they
// are (testdata/crossbar-examples/README.md names each one's source), started with `portico
// start` in the example's directory as `crossbar start` would be, and driven by the example's
// own clients. Only their ports (8080, and metaapi's second transport on 8090) are changed,
// to free ones.

// exampleNode copies testdata/crossbar-examples/name to a temporary directory and rewrites
// port 8080 in every file (configs, Python and JS clients) to a free port, and 8090 to another.
func exampleNode(t *testing.T, name string) (dir string, port int) {
	t.Helper()
	dir = t.TempDir()
	copyTree(t, filepath.Join("testdata", "crossbar-examples", name), dir)
	port = freePort(t)
	ports := strings.NewReplacer("8080", strconv.Itoa(port), "8090", strconv.Itoa(freePort(t)))
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if nb := []byte(ports.Replace(string(b))); !bytes.Equal(b, nb) {
			return os.WriteFile(p, nb, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, port
}

// exampleClient is one of an example's clients, running until it exits or the test ends
// (then it is killed).
type exampleClient struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startClient runs name (a Python or JS file of the example) in dir with the extra env.
func startClient(t *testing.T, dir string, env []string, name string, args ...string) *exampleClient {
	t.Helper()
	interp := python
	if strings.HasSuffix(name, ".js") {
		interp = "node"
	}
	cmd := exec.Command(interp, append([]string{name}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	c := &exampleClient{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, c.out.String())
		}
	})
	return c
}

// wait waits for the client to exit and returns its exit code.
func (c *exampleClient) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(2 * testkit.Patience):
		t.Fatalf("%v still runs after %v:\n%s", c.cmd.Args, 2*testkit.Patience, c.out.String())
	}
	if c.cmd.ProcessState == nil {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

// waitOutput waits until the client's output holds want.
func (c *exampleClient) waitOutput(t *testing.T, want string) {
	t.Helper()
	testkit.CheckFor(t, 0, func() error {
		if !strings.Contains(c.out.String(), want) {
			return fmt.Errorf("%v printed no %q (yet):\n%s", c.cmd.Args, want, c.out.String())
		}
		return nil
	})
}

// TestCrossbarExampleHello: crossbar-examples' hello/python. Its container component loops
// in onJoin for as long as it lives (publish, call, sleep): the node still becomes ready,
// add2 answers, and what the component logs reaches Portico's log. No Python process
// outlives Portico, stopped or SIGKILLed.
func TestCrossbarExampleHello(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, port := exampleNode(t, "hello-python")
			n := start(t, dir)
			pids := pythonPIDs(n.cmd.Process.Pid)
			if len(pids) != 1 {
				t.Fatalf("python processes under portico: %v, want 1 (the container)", pids)
			}
			// The runner's note comes through its output pipe, which may reach the log just
			// after the node said it is ready.
			testkit.CheckFor(t, 0, func() error {
				if !strings.Contains(n.logs.String(), "(hello.AppSession) joined realm 'realm1' (its onJoin still runs)") {
					return errors.New("no note of the running onJoin in the log")
				}
				return nil
			})
			res := call(t, port, "com.example.add2", "[2, 3]")
			expect(t, res, 5, "com.example.add2")
			testkit.CheckFor(t, 0, func() error {
				for _, want := range []string{"procedure add2() registered", "published to 'oncounter' with counter 1", "add2() called with 2 and 3"} {
					if !strings.Contains(n.logs.String(), want) {
						return fmt.Errorf("the component's log line %q is not in Portico's log", want)
					}
				}
				return nil
			})
			if code, body := get(t, n.base+"/"); code != 200 || !strings.Contains(body, "Hello WAMP") {
				t.Errorf("GET / = %d %q", code, body)
			}
			n.stop(t, sig)
			waitGone(t, pids, 0)
			if sig == syscall.SIGTERM && strings.Contains(n.logs.String(), "level=WARN msg=shutdown") {
				t.Errorf("a warning at a normal stop:\n%s", n.logs.String())
			}
		})
	}
}

// TestCrossbarExampleTicketStatic: crossbar-examples' authentication/ticket/static, its
// router component (backend.py) and its client.py run as its Makefile runs them: with the
// right ticket the client authenticates, calls, is refused what its role may not do and
// exits 0 (it checks for the reason wamp.close.normal); with a wrong one it exits 1.
func TestCrossbarExampleTicketStatic(t *testing.T) {
	dir, _ := exampleNode(t, "ticket-static")
	t.Setenv("MYTICKET", "secret123")
	start(t, dir)
	good := startClient(t, dir, []string{"MYTICKET=secret123"}, "client.py", "client1")
	if code := good.wait(t); code != 0 {
		t.Errorf("client with the right ticket exited %d", code)
	}
	for _, want := range []string{
		"Hooray! We've been successfully authenticated with WAMP-Ticket using static configuration!",
		"call result: 5",
		"registration failed (this is expected!)",
		"ok, event published to topic com.example.topic1",
		"ok, event published to topic com.foobar.topic1",
		"publication to topic com.example.topic2 failed (this is expected!)",
		"Client session left: CloseDetails(reason=<wamp.close.normal>",
	} {
		if !strings.Contains(good.out.String(), want) {
			t.Errorf("client output lacks %q", want)
		}
	}
	bad := startClient(t, dir, []string{"MYTICKET=wrongpassword"}, "client.py", "client1")
	if code := bad.wait(t); code != 1 {
		t.Errorf("client with a wrong ticket exited %d, want 1", code)
	}
	if !strings.Contains(bad.out.String(), "wamp.error.not_authorized") {
		t.Errorf("wrong ticket: no not_authorized in the output")
	}
}

// TestCrossbarExampleGettingStarted: crossbar-examples' getting-started router with its
// Python clients (pub/sub and RPC, autobahn's Component API over json.batched) and its
// Node.js client (autobahn-js).
func TestCrossbarExampleGettingStarted(t *testing.T) {
	t.Parallel()
	dir, port := exampleNode(t, "getting-started")
	start(t, dir)
	hw := filepath.Join(dir, "1.hello-world")
	sub := startClient(t, hw, nil, "client_component_subscribe.py")
	sub.waitOutput(t, "subscribed to topic")
	startClient(t, hw, nil, "client_component_publish.py")
	sub.waitOutput(t, "event received: {0} Hello World")

	rpc := filepath.Join(dir, "3.rpc")
	callee := startClient(t, rpc, nil, "client_component_rpc_callee.py")
	callee.waitOutput(t, "procedure registered")
	caller := startClient(t, rpc, nil, "client_component_rpc_caller.py")
	caller.waitOutput(t, "call result: ")

	node := startClient(t, filepath.Join(dir, "4.nodejs"), []string{
		fmt.Sprintf("CBURL=ws://127.0.0.1:%d/ws", port), "CBREALM=realm1", "NODE_PATH=" + nodeModules(t)}, "client.js")
	if code := node.wait(t); code != 0 {
		t.Errorf("node client exited %d", code)
	}
	for _, want := range []string{"session open!", "authrole: 'anonymous'", "session closed: closed"} {
		if !strings.Contains(node.out.String(), want) {
			t.Errorf("node client output lacks %q", want)
		}
	}
	sub.waitOutput(t, "event received: {0} Hello World ")
}

// TestCrossbarExampleWSGI: crossbar-examples' wsgi node: its Flask app answers on "/", and
// its role's permission "uri": "*" (no match) allows every action, as in Crossbar.
func TestCrossbarExampleWSGI(t *testing.T) {
	t.Parallel()
	dir, port := exampleNode(t, "wsgi")
	n := start(t, dir)
	if code, body := get(t, n.base+"/"); code != 200 || !strings.Contains(body, "Hello from Crossbar.io: #") {
		t.Errorf("GET / = %d %q", code, body)
	}
	res := call(t, port, "com.example.nothing", "[]")
	expect(t, res, "error: wamp.error.no_such_procedure", "com.example.nothing")
}

// TestCrossbarExampleMetaAPI: crossbar-examples' metaapi monitor-sessions.py lists the
// sessions, then sees one join and leave (its on_leave handler takes the session ID alone,
// as Crossbar publishes it).
func TestCrossbarExampleMetaAPI(t *testing.T) {
	t.Parallel()
	dir, port := exampleNode(t, "metaapi")
	start(t, dir)
	mon := startClient(t, dir, nil, "monitor-sessions.py", "--url", fmt.Sprintf("ws://127.0.0.1:%d/ws", port))
	mon.waitOutput(t, "Client session joined")
	res := call(t, port, "wamp.session.count", "[]")
	expect(t, res, 2, "wamp.session.count")
	mon.waitOutput(t, "WAMP session has joined:")
	mon.waitOutput(t, "WAMP session has left: ")
	if strings.Contains(mon.out.String(), "TypeError") {
		t.Errorf("the monitor's handlers raised:\n%s", mon.out.String())
	}
}

// nodeModules is tests/js/node_modules (autobahn-js, ws), as an absolute path.
func nodeModules(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("js", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p, "autobahn")); err != nil {
		t.Skipf("autobahn-js not installed under %s: %v", p, err)
	}
	return p
}

// TestUnixSocketPathTooLong: a unix endpoint whose path does not fit the kernel's sun_path
// (crossbar-examples' benchmark/rpc_roundtrip uses "crossbar.sock" in the node directory, so
// a deep node directory gets there) is refused with the cause, not a bare "invalid argument".
func TestUnixSocketPathTooLong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("s", 60)+".sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "realms": [{"name": "realm1", "roles": []}],
	  "transports": [{"type": "rawsocket", "endpoint": {"type": "unix", "path": %q}}]}]}`, sock)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runFailing(t, dir)
	want := fmt.Sprintf("the socket path %s is %d bytes long, the system allows at most 107", sock, len(sock))
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
