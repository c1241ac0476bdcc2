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
