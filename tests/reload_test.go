package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"portico/internal/testkit"
)

// TestReloadUnderLoad: SIGHUP while requests run; every request is counted and none is lost.
// The reload adds a path and changes the launched uwsgi's processes (so uwsgi is replaced:
// the new one starts, the table switches, the old one drains). A broken config on a second
// SIGHUP is refused and the running one keeps serving.
func TestReloadUnderLoad(t *testing.T) {
	dir := seedNode(t)
	cfgPath := filepath.Join(dir, ".crossbar", "config.json")
	n := start(t, dir)

	client := &http.Client{Timeout: testkit.Patience}
	l := testkit.StartLoad(t, 4, func() error {
		resp, err := client.Get(n.base + "/")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "Hello from Crossbar.io") {
			return fmt.Errorf("GET /: %d %.80q", resp.StatusCode, b)
		}
		return nil
	})
	l.Served(t, 50, "requests before the reload")

	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `"object": "app"`, `"object": "app", "processes": 3`, 1)
	changed = strings.Replace(changed, `"ws": {`, `"info": {"type": "json", "value": {"reloaded": true}}, "ws": {`, 1)
	if err := os.WriteFile(cfgPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 0, func() error {
		if status, body := get(t, n.base+"/info"); status != 200 || !strings.Contains(body, "reloaded") {
			return fmt.Errorf("the reloaded config is not served: /info %d %q\n%s", status, body, n.logs.String())
		}
		return nil
	})
	l.Served(t, 50, "requests after the reload")

	// A broken config is refused; the running one keeps serving.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(changed, `"type": "wsgi"`, `"type": "wsgj"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the broken config is reported as refused", func() bool {
		return strings.Contains(n.logs.String(), "reload refused")
	})
	l.Served(t, 50, "requests after the refused reload")
	l.Stop()

	if status, _ := get(t, n.base+"/info"); status != 200 {
		t.Errorf("after the refused reload /info answers %d", status)
	}
	ok, failed, first := l.Counts()
	t.Logf("requests across two reloads: %d ok, %d failed", ok, failed)
	if failed != 0 {
		t.Fatalf("%d requests failed across the reloads (%d ok), the first: %v", failed, ok, first)
	}
}

// TestStopDuringReload: SIGTERM while a SIGHUP's reload waits for a uwsgi whose app is still
// importing (for an hour) stops Portico at once: the reload runs beside the signal loop and
// is abandoned, and no uwsgi is left behind. A SIGHUP during the reload does not hold up
// the signal loop either.
func TestStopDuringReload(t *testing.T) {
	t.Parallel()
	dir := seedNode(t)
	marker := filepath.Join(t.TempDir(), "importing.pid")
	hangs := fmt.Sprintf(`
import os, time
with open(%[1]q + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(%[1]q + ".tmp", %[1]q)
time.sleep(3600)
`, marker)
	if err := os.WriteFile(filepath.Join(dir, "hangs.py"), []byte(hangs), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	pid := n.cmd.Process.Pid
	before := uwsgiPIDs(pid)
	if len(before) == 0 {
		t.Fatal("no launched uwsgi")
	}

	cfgPath := filepath.Join(dir, ".crossbar", "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(b), `"module": "myapp"`, `"module": "hangs"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var importing int
	testkit.WaitFor(t, 0, "the reload's uwsgi imports the app", func() bool {
		b, err := os.ReadFile(marker)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &importing)
		return err == nil
	})
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil { // asks for one more reload
		t.Fatal(err)
	}
	if status, _ := get(t, n.base+"/"); status != 200 {
		t.Errorf("the running configuration answers %d during the reload", status)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "portico exits on SIGTERM during a reload", func() bool {
		select {
		case <-n.done:
			return true
		default:
			return false
		}
	})
	waitGone(t, append(before, importing), testkit.Patience)
	if !strings.Contains(n.logs.String(), "msg=stopped") {
		t.Errorf("no clean stop logged:\n%s", n.logs.String())
	}
}
