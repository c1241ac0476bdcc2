package gateway

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portico/config"
	"portico/internal/testkit"
)

// TestXSendfile: X-Sendfile serves a file under the path's sendfile_roots, with the app's
// Content-Type and Content-Disposition and Range handled, and nothing else: a path outside the
// roots, a symlink inside them that leads out, or a path without roots is 500 and logged with
// the key; a missing file is 404; the app's own 304 is passed on. X-Sendfile and X-Accel-*
// never reach the client.
func TestXSendfile(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	roots := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(roots, "f.bin"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(roots, "link")); err != nil {
		t.Fatal(err)
	}
	app, bare := wsgiUpstream(sock), wsgiUpstream(sock)
	node := testNode(t, map[string]*config.Service{"/": app, "bare": bare})
	app.WSGI.SendfileRoots = []string{roots}
	_, base, log := startGatewayLog(t, node)

	get := func(path, file string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path+"/accel?sendfile="+url.QueryEscape(file), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Accel-") || k == "X-Sendfile" {
				t.Errorf("%s reached the client", k)
			}
		}
		return resp, string(b)
	}

	resp, body := get("", filepath.Join(roots, "f.bin"))
	if resp.StatusCode != 200 || body != "0123456789" || resp.Header.Get("Content-Type") != "application/x-app" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="x.bin"` {
		t.Errorf("X-Sendfile under the root: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("", filepath.Join(roots, "f.bin"), "Range", "bytes=2-4")
	if resp.StatusCode != 206 || body != "234" || resp.Header.Get("Content-Range") != "bytes 2-4/10" {
		t.Errorf("X-Sendfile with Range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ = get("", filepath.Join(roots, "nothere")); resp.StatusCode != 404 {
		t.Errorf("missing file under the root: %d, want 404", resp.StatusCode)
	}
	for _, c := range []struct{ name, path, file string }{
		{"outside the roots", "", filepath.Join(outside, "secret")},
		{"climbing out", "", roots + "/../" + filepath.Base(outside) + "/secret"},
		{"a symlink leading out", "", filepath.Join(roots, "link")},
		{"relative", "", "f.bin"},
		{"no sendfile_roots", "/bare", filepath.Join(roots, "f.bin")},
	} {
		resp, body := get(c.path, c.file)
		if resp.StatusCode != 500 || strings.Contains(body, "secret") || strings.Contains(body, "own body") {
			t.Errorf("%s: %d %q, want 500", c.name, resp.StatusCode, body)
		}
	}
	if n := strings.Count(log.String(), "cause=sendfile_roots"); n != 5 {
		t.Errorf("%d log lines name sendfile_roots, want 5:\n%s", n, log.String())
	}
	resp, err := testClient.Get(base + "/accel?status=304%20Not%20Modified&sendfile=" + url.QueryEscape(filepath.Join(roots, "f.bin")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("X-Sendfile") != "" {
		t.Errorf("the app's 304 with X-Sendfile: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestXAccelRedirect: an internal path answers clients 404 and serves the app's
// X-Accel-Redirect; the uwsgi slot is released before the file is sent: on a path with one
// slot, a client that does not read a 16 MiB file handed over by the app leaves the slot free
// for the next request. A redirect to a named location is 500, and so is a cycle.
func TestXAccelRedirect(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	files := t.TempDir()
	const size = 16 << 20
	if err := os.WriteFile(filepath.Join(files, "big"), []byte(strings.Repeat("y", size)), 0o644); err != nil {
		t.Fatal(err)
	}
	app := wsgiUpstream(sock)
	node := testNode(t, map[string]*config.Service{
		"/":         app,
		"protected": {Type: "static", Static: &config.Static{Directory: files}, Internal: true},
	})
	app.WSGI.MaxConcurrency = 1
	g, base := startGatewayG(t, node)
	up := upstreamAt(t, g, "/")

	if resp, err := testClient.Get(base + "/protected/big"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("internal path asked directly: %v %v, want 404", resp, err)
	}
	c := stalledReader(t, base, "GET /accel?to=/protected/big HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != size || resp.Header.Get("Content-Type") != "application/x-app" {
		t.Fatalf("X-Accel-Redirect: %d, %d bytes, %v", resp.StatusCode, resp.ContentLength, resp.Header)
	}
	testkit.WaitFor(t, 0, "the slot released while the file is being sent", func() bool { return up.inUse() == 0 })
	getOK(t, base+"/")
	n, err := io.Copy(yOnly{}, resp.Body)
	if err != nil || n != size {
		t.Fatalf("file: %d bytes, %v", n, err)
	}

	resp, err = testClient.Get(base + "/accel?to=" + url.QueryEscape("@files"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("X-Accel-Redirect to a named location: %d, want 500", resp.StatusCode)
	}
	// An app that redirects to itself: ten internal redirects, then 500, as nginx's
	// "rewrite or internal redirection cycle".
	resp, err = testClient.Get(base + "/accel?loop=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("X-Accel-Redirect cycle: %d, want 500", resp.StatusCode)
	}
}
