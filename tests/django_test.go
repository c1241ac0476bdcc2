package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDjangoMountedAtApp: a Django project mounted at /app (a nested path next to a json
// service at the root) sees SCRIPT_NAME=/app and builds its URLs with the prefix.
func TestDjangoMountedAtApp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, "testdata/django", dir)
	port := freePort(t)
	cfg := fmt.Sprintf(`{
  "version": 2,
  "workers": [{
    "type": "router",
    "options": {"pythonpath": [".."]},
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "port": %d, "interface": "127.0.0.1"},
      "paths": {
        "/": {"type": "json", "value": {"service": "root"}},
        "app": {"type": "wsgi", "module": "proj.wsgi", "object": "application"}
      }
    }]
  }]
}`, port)
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	status, body := get(t, n.base+"/app/hello/")
	if status != 200 {
		t.Fatalf("GET /app/hello/: %d %s", status, body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string]string{
		"reverse":     "/app/hello/",
		"absolute":    n.base + "/app/hello/",
		"path":        "/app/hello/",
		"path_info":   "/hello/",
		"script_name": "/app",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if status, body := get(t, n.base+"/"); status != 200 || body != "{\"service\":\"root\"}\n" {
		t.Errorf("GET /: %d %q", status, body)
	}
}
