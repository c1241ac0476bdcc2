package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"portico/internal/testkit"
)

// seedNode copies contrib/examples/flask (the WSGI Host Service example, verbatim) into a
// temporary directory and moves it to a free port.
func seedNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, "../contrib/examples/flask", dir)
	setPort(t, filepath.Join(dir, ".crossbar", "config.json"), freePort(t))
	return dir
}

// TestSeedExample: `portico start` in the example's directory renders the Jinja template
// through a uwsgi it launched itself.
func TestSeedExample(t *testing.T) {
	t.Parallel()
	n := start(t, seedNode(t))
	status, body := get(t, n.base+"/")
	if status != 200 || !strings.Contains(body, "<h1>Hello from Crossbar.io</h1>") {
		t.Fatalf("GET /: %d %q", status, body)
	}
	if pids := uwsgiPIDs(n.cmd.Process.Pid); len(pids) == 0 {
		t.Fatal("no uwsgi launched under portico")
	}
}

// TestLaunchedUWSGISurvivesKill: the launched uwsgi killed with SIGKILL comes back and serves.
func TestLaunchedUWSGISurvivesKill(t *testing.T) {
	t.Parallel()
	n := start(t, seedNode(t))
	before := uwsgiPIDs(n.cmd.Process.Pid)
	if len(before) == 0 {
		t.Fatal("no uwsgi under portico")
	}
	master := before[0] // the direct child is the master
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, before, 0)
	testkit.WaitFor(t, 0, "uwsgi relaunched", func() bool { return len(uwsgiPIDs(n.cmd.Process.Pid)) > 0 })
	status, body := get(t, n.base+"/")
	if status != 200 || !strings.Contains(body, "Hello from Crossbar.io") {
		t.Fatalf("after relaunch: %d %q", status, body)
	}
}

// TestNoUWSGISurvivesPortico: neither a graceful stop nor SIGKILL of portico leaves uwsgi
// running.
func TestNoUWSGISurvivesPortico(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			n := start(t, seedNode(t))
			pids := uwsgiPIDs(n.cmd.Process.Pid)
			if len(pids) == 0 {
				t.Fatal("no uwsgi under portico")
			}
			n.stop(t, sig)
			if sig != syscall.SIGKILL {
				if code := n.cmd.ProcessState.ExitCode(); code != 0 {
					t.Errorf("exit code %d after %v, want 0", code, sig)
				}
			}
			waitGone(t, pids, 0)
		})
	}
}

// TestCheck: `portico check` points at every problem with file, line and key path, and exits
// non-zero; a good node passes.
func TestCheck(t *testing.T) {
	t.Parallel()
	dir := seedNode(t)
	out, err := exec.Command(portico, "check", "--cbdir", filepath.Join(dir, ".crossbar")).CombinedOutput()
	if err != nil {
		t.Fatalf("check on the example: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, ".crossbar", "config.json")
	b, _ := os.ReadFile(cfg)
	broken := strings.Replace(string(b), `"type": "websocket"`, `"tpye": "websocket"`, 1)
	if err := os.WriteFile(cfg, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(broken, "\n") {
		if strings.Contains(l, `"tpye"`) {
			line = i + 1
		}
	}
	cmd := exec.Command(portico, "check")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("check accepted a broken config:\n%s", out)
	}
	want := "config.json:" + strconv.Itoa(line) + `: workers[0].transports[0].paths.ws: unknown attribute "tpye"`
	if !strings.Contains(string(out), want) {
		t.Fatalf("check output lacks %q:\n%s", want, out)
	}
}
