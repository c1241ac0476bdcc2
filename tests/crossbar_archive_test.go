package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"portico/internal/testkit"
)

// TestCrossbarArchive runs crossbar-examples' webservices/archive node (its config, with the
// port, the origin and the hash of the archive made here): the autobahn path downloads its
// ZIP file, made by Python's zipfile, from the origin (a server on 127.0.0.1) at start and
// serves its members under object_prefix, default_object at the mount; "/" names an archive
// that does not exist and has no origin, so it answers 404 and the log warns; the websocket
// and nodeinfo paths beside them are served. curl gets the members as a browser would.
func TestCrossbarArchive(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	src := filepath.Join(work, "autobahn-js-browser-20.2.1")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	js := "/* autobahn */ var autobahn = {};\n"
	for name, body := range map[string]string{"autobahn.min.js": js, "autobahn.min.jgz": "gz", "README.md": "# autobahn\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zipPath := filepath.Join(work, "v20.2.1.zip")
	mk := exec.Command(python, "-m", "zipfile", "-c", zipPath, "autobahn-js-browser-20.2.1/")
	mk.Dir = work
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("python -m zipfile: %v\n%s", err, out)
	}
	zb, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(zb)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/crossbario/autobahn-js-browser/archive/v20.2.1.zip" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, zipPath)
	}))
	defer origin.Close()

	b, err := os.ReadFile(filepath.Join(corpus, "crossbar-examples", "webservices_archive_.crossbar_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	port := freePort(t)
	for old, new := range map[string]string{
		`"port": 8080`: fmt.Sprintf(`"port": %d, "interface": "127.0.0.1"`, port),
		"https://github.com/crossbario/autobahn-js-browser/archive/v20.2.1.zip": origin.URL + "/crossbario/autobahn-js-browser/archive/v20.2.1.zip",
		"b69cd17ac043cceceea8ed589a09a2555b5c39e32c2fea18ecc26dc5baf67de8":      hex.EncodeToString(sum[:]),
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the example no longer has %s", old)
		}
		cfg = strings.ReplaceAll(cfg, old, new)
	}
	dir := writeJSONNode(t, cfg)
	n := start(t, dir)

	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "60"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return string(out)
	}
	testkit.CheckFor(t, 0, func() error {
		if got := curl("-w", "\n%{http_code} %{content_type}", n.base+"/autobahn/"); got != js+"\n200 text/javascript; charset=utf-8" {
			return fmt.Errorf("GET /autobahn/: %q", got)
		}
		return nil
	})
	if got := curl("-o", "/dev/null", "-w", "%{http_code} %{content_type}", n.base+"/autobahn/README.md"); got != "200 text/markdown; charset=utf-8" {
		t.Errorf("GET /autobahn/README.md: %q", got)
	}
	if got := curl("-I", n.base+"/autobahn/autobahn.min.js"); !strings.Contains(got, "HTTP/1.1 200") ||
		!strings.Contains(strings.ToLower(got), fmt.Sprintf("content-length: %d", len(js))) || !strings.Contains(strings.ToLower(got), "etag: ") {
		t.Errorf("HEAD: %s", got)
	}
	if got := curl("-o", "/dev/null", "-w", "%{http_code}", n.base+"/autobahn/missing.js"); got != "404" {
		t.Errorf("GET /autobahn/missing.js: %s", got)
	}
	if got := curl("-o", "/dev/null", "-w", "%{http_code}", n.base+"/"); got != "404" {
		t.Errorf("GET / (home.zip does not exist): %s", got)
	}
	if code, body := get(t, n.base+"/info"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("GET /info = %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, ".crossbar", "autobahn-v20.2.1.zip")); err != nil {
		t.Errorf("the downloaded archive is not kept in the node directory: %v", err)
	}
	l := n.logs.String()
	for _, want := range []string{"home.zip does not exist and there is no \\\"origin\\\"", "archive: downloaded and served"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
