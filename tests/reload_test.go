package tests

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReloadUnderLoad: SIGHUP while requests run; every request is counted and none is lost.
// The reload adds a path and changes the launched uwsgi's processes (so uwsgi is replaced:
// the new one starts, the table switches, the old one drains). A broken config on a second
// SIGHUP is refused and the running one keeps serving.
func TestReloadUnderLoad(t *testing.T) {
	dir := seedNode(t)
	cfgPath := filepath.Join(dir, ".crossbar", "config.json")
	n := start(t, dir)

	const workers = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	client := &http.Client{Timeout: 20 * time.Second}
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(n.base + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(b), "Hello from Crossbar.io") {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second)

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
	var served bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status, body := get(t, n.base+"/info"); status == 200 && strings.Contains(body, "reloaded") {
			served = true
			break
		}
	}
	if !served {
		t.Fatalf("the reloaded config is not served:\n%s", n.logs.String())
	}
	time.Sleep(2 * time.Second)

	// A broken config is refused; the running one keeps serving.
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(changed, `"type": "wsgi"`, `"type": "wsgj"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if !strings.Contains(n.logs.String(), "reload refused") {
		t.Errorf("broken config not reported as refused")
	}
	if status, _ := get(t, n.base+"/info"); status != 200 {
		t.Errorf("after the refused reload /info answers %d", status)
	}
	t.Logf("requests across two reloads: %d ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed across the reloads (%d ok)", failed.Load(), ok.Load())
	}
}
