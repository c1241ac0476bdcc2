package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// workersNode writes a node directory: the component modules, guest.py and config.json with
// a router on a free port plus the given extra workers (JSON objects).
func workersNode(t *testing.T, routerComponents string, extra ...string) (dir string, port int) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"txcomp.py", "aiocomp.py", "guest.py", "needsdep.py"} {
		b, err := os.ReadFile(filepath.Join("testdata", "workers", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port = freePort(t)
	allow := `{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}`
	workers := []string{fmt.Sprintf(`{"type": "router",
	  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [%s]}, {"name": "backend", "permissions": [%s]}]}],
	  "transports": [{"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
	                  "paths": {"/": {"type": "json", "value": "ok"}, "ws": {"type": "websocket"}}}],
	  "components": [%s]}`, allow, allow, port, routerComponents)}
	workers = append(workers, extra...)
	cfg := `{"version": 2, "workers": [` + strings.Join(workers, ",") + `]}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, port
}

// container is a container worker with one component of classname, connecting to port.
func container(classname string, port int, options string) string {
	return fmt.Sprintf(`{"type": "container", "options": {"pythonpath": ["."]%s},
	  "components": [{"type": "class", "classname": %q, "realm": "realm1", "extra": {"bias": 0},
	    "transport": {"type": "websocket", "url": "ws://127.0.0.1:%d/ws", "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": %d}}}]}`,
		options, classname, port, port)
}

// call runs testdata/workers/call.py (autobahn-python, asyncio) against the node's /ws.
func call(t *testing.T, port int, procArgs ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"testdata/workers/call.py", fmt.Sprintf("ws://127.0.0.1:%d/ws", port), "realm1"}, procArgs...)
	cmd := exec.CommandContext(ctx, python, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("call.py: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

// pythonPIDs lists the processes descended from pid whose command is python.
func pythonPIDs(pid int) []int {
	children, comm := procTree()
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			if strings.HasPrefix(comm[c], "python") {
				out = append(out, c)
			}
			walk(c)
		}
	}
	walk(pid)
	return out
}

// TestContainerComponents: a Twisted and an asyncio container, and a router component with
// role "backend", register procedures that a separate autobahn-python client calls through
// the node's websocket path. No Python process outlives Portico, be it stopped or SIGKILLed.
func TestContainerComponents(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			rc := `{"type": "class", "classname": "txcomp.Adder", "realm": "realm1", "role": "backend", "extra": {"proc": "com.router.add2", "bias": 100}},
			       {"type": "function", "realm": "realm1", "role": "backend", "callbacks": {"join": "txcomp.on_join", "leave": "txcomp.on_leave"}}`
			dir, port := workersNode(t, rc)
			addWorker(t, dir, container("txcomp.Adder", port, ""))
			addWorker(t, dir, container("aiocomp.Multiplier", port, ""))
			n := start(t, dir)
			pids := pythonPIDs(n.cmd.Process.Pid)
			if len(pids) != 3 {
				t.Fatalf("python processes under portico: %v, want 3 (router components and two containers)", pids)
			}
			res := call(t, port, "com.tx.add2", "[2, 3]", "com.aio.mul2", "[6, 7]",
				"com.router.add2", "[1, 2]", "com.router.add2.role", "[]", "com.tx.add2.role", "[]", "com.fn.hello", "[]")
			expect(t, res, 5, "com.tx.add2")
			expect(t, res, 42, "com.aio.mul2")
			expect(t, res, 103, "com.router.add2")
			expect(t, res, "backend", "com.router.add2.role")
			expect(t, res, "anonymous", "com.tx.add2.role")
			expect(t, res, "fn:backend", "com.fn.hello")
			n.stop(t, sig)
			waitGone(t, pids, 0)
		})
	}
}

// TestContainerFailures: a component that cannot start stops Portico's start with a message
// naming the component's config place and the cause.
func TestContainerFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ classname, want string }{
		{"nosuchmod.Thing", `module 'nosuchmod' not found (No module named 'nosuchmod'); Python path: [`},
		{"needsdep.Session", `module 'needsdep' imports 'no_such_dependency_pkg', which /usr/bin/python3 cannot import (No module named 'no_such_dependency_pkg'): install it`},
		{"txcomp.Nope", `class 'Nope' not found in module 'txcomp'`},
		{"txcomp.BadInit", `the constructor of txcomp.BadInit raised:`},
		{"txcomp.BadJoin", `onJoin raised:`},
		{"aiocomp.BadJoin", `onJoin raised:`},
	} {
		t.Run(tc.classname, func(t *testing.T) {
			dir, port := workersNode(t, "")
			addWorker(t, dir, container(tc.classname, port, ""))
			out := runFailing(t, dir)
			for _, want := range []string{"workers[1].components[0] (" + tc.classname + "): ", tc.want} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if tc.classname == "txcomp.BadInit" && !strings.Contains(out, "bad extra in constructor") {
				t.Errorf("no exception text:\n%s", out)
			}
			if tc.classname == "txcomp.BadJoin" && !strings.Contains(out, "no database in onJoin") {
				t.Errorf("no exception text:\n%s", out)
			}
			if tc.classname == "aiocomp.BadJoin" && !strings.Contains(out, "no queue in onJoin") {
				t.Errorf("no exception text:\n%s", out)
			}
		})
	}
	t.Run("function callback", func(t *testing.T) {
		dir, _ := workersNode(t, `{"type": "function", "realm": "realm1", "callbacks": {"join": "txcomp.no_such_function"}}`)
		out := runFailing(t, dir)
		if !strings.Contains(out, "workers[0].components[0] (txcomp.no_such_function): function 'no_such_function' not found in module 'txcomp'") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		dir, _ := workersNode(t, "")
		addWorker(t, dir, container("txcomp.Adder", freePort(t), ""))
		out := runFailing(t, dir)
		if !strings.Contains(out, "workers[1].components[0] (txcomp.Adder): could not connect to ws://127.0.0.1:") {
			t.Errorf("output:\n%s", out)
		}
	})
	// A WebSocket upgrade the node refuses (a path that is no websocket service; crossbar-examples'
	// containers/failures/container/failure8) ends the start at once, with autobahn's reason.
	for _, cls := range []string{"txcomp.Adder", "aiocomp.Multiplier"} {
		t.Run("upgrade refused "+cls, func(t *testing.T) {
			dir, port := workersNode(t, "")
			addWorker(t, dir, strings.Replace(container(cls, port, ""), "/ws\"", "/nosuch\"", 1))
			out := runFailing(t, dir)
			want := fmt.Sprintf("workers[1].components[0] (%s): the connection to ws://127.0.0.1:%d/nosuch closed before the WAMP session opened: ", cls, port)
			if !strings.Contains(out, want) || !strings.Contains(out, "WebSocket connection upgrade failed") {
				t.Errorf("output lacks %q and the upgrade's failure:\n%s", want, out)
			}
		})
	}
	t.Run("router component role", func(t *testing.T) {
		dir, _ := workersNode(t, `{"type": "class", "classname": "txcomp.Adder", "realm": "realm1", "role": "nosuchrole"}`)
		out := runFailing(t, dir)
		if !strings.Contains(out, "workers[0].components[0] (txcomp.Adder): the router refused the join: wamp.error.no_such_role") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("guest executable", func(t *testing.T) {
		dir, _ := workersNode(t, "")
		addWorker(t, dir, `{"type": "guest", "executable": "no-such-program-here"}`)
		out := runFailing(t, dir)
		if !strings.Contains(out, `workers[1].executable: no executable \"no-such-program-here\" in `+dir+` nor on PATH`) {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("join refused", func(t *testing.T) {
		dir, port := workersNode(t, "")
		c := strings.Replace(container("aiocomp.Multiplier", port, ""), `"realm1"`, `"nosuchrealm"`, 1)
		addWorker(t, dir, c)
		out := runFailing(t, dir)
		if !strings.Contains(out, "workers[1].components[0] (aiocomp.Multiplier): the router refused the join: wamp.error.no_such_realm") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func addWorker(t *testing.T, dir, worker string) {
	t.Helper()
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var w any
	if err := json.Unmarshal([]byte(worker), &w); err != nil {
		t.Fatal(err)
	}
	cfg["workers"] = append(cfg["workers"].([]any), w)
	out, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runFailing runs `portico start` that must fail, and returns its output; no process it
// started may be left.
func runFailing(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, portico, "start")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORTICO_DIR=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("portico start succeeded:\n%s", out)
	}
	return string(out)
}

// TestGuestWorker: a guest reads the JSON Portico writes to its stdin, gets its env vars, is
// restarted after failures (restart-on-failed), and is stopped with the node, even when
// Portico is SIGKILLed.
func TestGuestWorker(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, _ := workersNode(t, "")
			addWorker(t, dir, fmt.Sprintf(`{"type": "guest", "executable": %q, "arguments": ["guest.py", "fail"],
			  "options": {"env": {"vars": {"GUEST_VAR": "v1"}}, "restart": "restart-on-failed",
			    "stdin": {"type": "json", "value": {"hello": ["world", 1]}, "close": true}}}`, python))
			n := start(t, dir)
			var runs []map[string]any
			testkit.CheckFor(t, 0, func() error {
				b, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
				runs = nil
				for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil {
						runs = append(runs, m)
					}
				}
				if len(runs) < 3 {
					return fmt.Errorf("%d runs of the guest, want 3 (two failures, then one that stays)", len(runs))
				}
				return nil
			})
			for _, r := range runs {
				if got, _ := json.Marshal(r["stdin"]); string(got) != `{"hello":["world",1]}` || r["env"] != "v1" {
					t.Errorf("guest run %v: stdin %s", r, got)
				}
			}
			last := int(runs[len(runs)-1]["pid"].(float64))
			testkit.WaitFor(t, 0, "the third guest running", func() bool { return alive(last) })
			pids := pythonPIDs(n.cmd.Process.Pid)
			if len(pids) != 1 || pids[0] != last {
				t.Fatalf("python processes %v, want the guest %d", pids, last)
			}
			n.stop(t, sig)
			waitGone(t, []int{last}, 0)
		})
	}
}

// TestContainerRestart: with restart-on-failed, a component that left with an error reason is
// started again in the same container process (Crossbar's container.py _component_closed).
func TestContainerRestart(t *testing.T) {
	t.Parallel()
	dir, port := workersNode(t, "")
	addWorker(t, dir, container("txcomp.Flaky", port, `, "restart": "restart-on-failed"`))
	n := start(t, dir)
	pids := pythonPIDs(n.cmd.Process.Pid)
	expect(t, call(t, port, "com.flaky.joins", "[]"), 1, "com.flaky.joins")
	expect(t, call(t, port, "com.flaky.die", "[]"), "dying", "com.flaky.die")
	testkit.CheckFor(t, 0, func() error {
		res := call(t, port, "com.flaky.joins", "[]")
		if got := res["com.flaky.joins"]; got != float64(2) {
			return fmt.Errorf("joins = %v, want 2", got)
		}
		return nil
	})
	if now := pythonPIDs(n.cmd.Process.Pid); len(now) != 1 || len(pids) != 1 || now[0] != pids[0] {
		t.Fatalf("container process changed: %v -> %v", pids, now)
	}
	// The container's lines come through its output pipe: waited for, not looked at once.
	testkit.CheckFor(t, 0, func() error {
		if !strings.Contains(n.logs.String(), "workers[1].components[0] (txcomp.Flaky) failed (com.example.error.crashed)") {
			return fmt.Errorf("no log line about the component's end:\n%s", n.logs.String())
		}
		return nil
	})
	// Stopping the node is no failure: nothing is restarted then.
	n.stop(t, syscall.SIGTERM)
	waitGone(t, pids, 0)
	if c := strings.Count(n.logs.String(), "(txcomp.Flaky) restarting in"); c != 1 {
		t.Errorf("%d restarts logged, want the one after com.flaky.die:\n%s", c, n.logs.String())
	}
}

// TestContainerMixedFlavors: Twisted and asyncio sessions cannot share one process (txaio
// is per process); the error names both components.
func TestContainerMixedFlavors(t *testing.T) {
	t.Parallel()
	dir, port := workersNode(t, "")
	var w map[string]any
	if err := json.Unmarshal([]byte(container("txcomp.Adder", port, "")), &w); err != nil {
		t.Fatal(err)
	}
	var w2 map[string]any
	json.Unmarshal([]byte(container("aiocomp.Multiplier", port, "")), &w2)
	w["components"] = append(w["components"].([]any), w2["components"].([]any)...)
	b, _ := json.Marshal(w)
	addWorker(t, dir, string(b))
	out := runFailing(t, dir)
	if !strings.Contains(out, "workers[1].components[1] (aiocomp.Multiplier): importing module 'aiocomp' failed: it uses the other of Twisted and asyncio than workers[1].components[0] (txcomp.Adder), and they cannot share one worker process") {
		t.Errorf("output:\n%s", out)
	}
}

// TestReloadKeepsWorkers: a SIGHUP whose configuration changes a guest is refused (the
// running one stays); one that changes only paths applies and the guest is not restarted.
func TestReloadKeepsWorkers(t *testing.T) {
	t.Parallel()
	dir, _ := workersNode(t, "")
	addWorker(t, dir, fmt.Sprintf(`{"type": "guest", "executable": %q, "arguments": ["guest.py"],
	  "options": {"stdin": {"type": "json", "value": 1}}}`, python))
	n := start(t, dir)
	var pid int
	testkit.WaitFor(t, 0, "the guest", func() bool {
		p := pythonPIDs(n.cmd.Process.Pid)
		if len(p) == 1 {
			pid = p[0]
		}
		return len(p) == 1
	})
	cfg := filepath.Join(dir, "config.json")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte(`"guest.py"`), []byte(`"guest.py", "x"`), 1), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitFor(t, 0, "the refusal", func() bool {
		return strings.Contains(n.logs.String(), "guest or container workers, or router components, changed; restart Portico to apply it")
	})
	os.WriteFile(cfg, bytes.Replace(b, []byte(`"value":"ok"`), []byte(`"value":"ok2"`), 1), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	testkit.CheckFor(t, 0, func() error {
		if _, body := get(t, n.base+"/"); strings.TrimSpace(body) != `"ok2"` {
			return fmt.Errorf("/ = %s", body)
		}
		return nil
	})
	if p := pythonPIDs(n.cmd.Process.Pid); len(p) != 1 || p[0] != pid {
		t.Fatalf("guest pids %v, want %d still", p, pid)
	}
}

// TestContainerShutdown: with shutdown-on-last-component-stopped a container whose only
// component left ends, and stays down; Portico runs on.
func TestContainerShutdown(t *testing.T) {
	t.Parallel()
	dir, port := workersNode(t, "")
	addWorker(t, dir, container("txcomp.Flaky", port, `, "shutdown": "shutdown-on-last-component-stopped"`))
	n := start(t, dir)
	pids := pythonPIDs(n.cmd.Process.Pid)
	if len(pids) != 1 {
		t.Fatalf("python processes %v, want the container", pids)
	}
	expect(t, call(t, port, "com.flaky.die", "[]"), "dying", "com.flaky.die")
	waitGone(t, pids, 0)
	testkit.WaitFor(t, 0, "the container's end logged", func() bool {
		l := n.logs.String()
		return strings.Contains(l, "no component left: the container ends (shutdown-on-last-component-stopped)") &&
			strings.Contains(l, "container exited; not restarted")
	})
	if _, body := get(t, n.base+"/"); strings.TrimSpace(body) != `"ok"` {
		t.Fatalf("portico no longer serves: %q", body)
	}
}

// TestGuestWatch: a change under a watched directory restarts the guest (options.watch,
// action "restart"), also in a directory created after the start.
func TestGuestWatch(t *testing.T) {
	t.Parallel()
	dir, _ := workersNode(t, "")
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	addWorker(t, dir, fmt.Sprintf(`{"type": "guest", "executable": %q, "arguments": ["guest.py"],
	  "options": {"stdin": {"type": "json", "value": 1}, "watch": {"directories": ["src"], "action": "restart", "timeout": 0}}}`, python))
	n := start(t, dir)
	runs := func(want int) []int {
		t.Helper()
		var pids []int
		testkit.CheckFor(t, 0, func() error {
			b, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
			pids = nil
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil {
					pids = append(pids, int(m["pid"].(float64)))
				}
			}
			if len(pids) != want {
				return fmt.Errorf("%d runs of the guest, want %d", len(pids), want)
			}
			return nil
		})
		return pids
	}
	first := runs(1)
	os.WriteFile(filepath.Join(src, "a.py"), []byte("x = 1\n"), 0o644)
	second := runs(2)
	waitGone(t, first, 0)
	if err := os.Mkdir(filepath.Join(src, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	runs(3) // the new directory is watched from here on
	os.WriteFile(filepath.Join(src, "pkg", "b.py"), []byte("y = 2\n"), 0o644)
	last := runs(4)
	waitGone(t, second[1:], 0)
	if p := pythonPIDs(n.cmd.Process.Pid); len(p) != 1 || p[0] != last[3] {
		t.Fatalf("python processes %v, want only the last guest %d", p, last[3])
	}
	n.stop(t, syscall.SIGTERM)
	waitGone(t, last[3:], 0)
}
