package tests

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestXAccelParity: an app's X-Accel-Redirect to an internal static location is served the
// same by nginx (`location /protected/ { internal; alias ...; }`) and Portico (a static path
// with `internal = true`) in front of the same uwsgi: same status, body and headers for a
// plain GET, a HEAD, a Range, a conditional request, a missing file, an unsafe URI and a
// client asking for the internal path itself; the app's Content-Type and Content-Disposition
// are kept, its other headers and body dropped, and no X-Accel-* header reaches the client.
func TestXAccelParity(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	sock := startEnvUWSGI(t, dir)
	files := filepath.Join(dir, "protected")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	content := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
	pdf := filepath.Join(files, "f.pdf")
	if err := os.WriteFile(pdf, content, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(pdf, mtime, mtime); err != nil {
		t.Fatal(err)
	}

	nginx := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startNginxConf(t, dir, nginx, fmt.Sprintf(`  server {
    listen %s;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
    location /protected/ {
      internal;
      alias %s/;
    }
  }
`, nginx, sock, files))
	node := filepath.Join(dir, "node")
	if err := os.MkdirAll(node, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }

  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%s"

  [transport.paths.protected]
  type = "static"
  directory = %q
  internal = true
  options = { cache_timeout = false }  # nginx sends no caching header either
`, freePort(t), sock, files)
	if err := os.WriteFile(filepath.Join(node, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	portico := strings.TrimPrefix(start(t, node, "--cbdir", node).base, "http://")

	compared := []string{"Content-Type", "Content-Disposition", "Content-Length", "Content-Range",
		"Last-Modified", "Accept-Ranges", "Set-Cookie", "X-App", "Cache-Control", "Expires"}
	cases := []struct{ name, req string }{
		{"GET", "GET /_accel?to=/protected/f.pdf&ct=application/x-report HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"GET, no app Content-Type", "GET /_accel?to=/protected/f.pdf HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"POST becomes GET", "POST /_accel?to=/protected/f.pdf&ct=application/pdf HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"},
		{"HEAD", "HEAD /_accel?to=/protected/f.pdf&ct=application/pdf HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"Range", "GET /_accel?to=/protected/f.pdf&ct=application/pdf HTTP/1.1\r\nHost: h\r\nRange: bytes=100-199\r\n\r\n"},
		{"Range unsatisfiable", "GET /_accel?to=/protected/f.pdf&ct=application/pdf HTTP/1.1\r\nHost: h\r\nRange: bytes=999999-\r\n\r\n"},
		{"If-Modified-Since", "GET /_accel?to=/protected/f.pdf&ct=application/pdf HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: " + mtime.Format(http.TimeFormat) + "\r\n\r\n"},
		{"app status ignored", "GET /_accel?to=/protected/f.pdf&status=404%20Not%20Found HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"percent-encoded target", "GET /_accel?to=/protected/f%252Epdf HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"missing file", "GET /_accel?to=/protected/nothere.pdf HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"unsafe target", "GET /_accel?to=/protected/../../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"internal path asked directly", "GET /protected/f.pdf HTTP/1.1\r\nHost: h\r\n\r\n"},
	}
	type answer struct {
		status  int
		headers map[string]string
		body    string
	}
	get := func(addr, req string) answer {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(req)[0]})
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, headers: map[string]string{}, body: fmt.Sprintf("%d bytes %x", len(b), sha256.Sum256(b))}
		if resp.StatusCode >= 400 {
			a.body = "(error page)" // the pages' wording differs by design
		}
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-accel-") || strings.EqualFold(k, "X-Sendfile") {
				t.Errorf("%s: %s reached the client", addr, k)
			}
		}
		for _, k := range compared {
			if v, ok := resp.Header[k]; ok && resp.StatusCode < 400 {
				a.headers[k] = strings.Join(v, " | ")
			}
		}
		if strings.HasPrefix(req, "HEAD") {
			a.body = ""
		}
		return a
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, got := get(nginx, c.req), get(portico, c.req)
			if want.status != got.status || want.body != got.body {
				t.Errorf("nginx %d %s, portico %d %s", want.status, want.body, got.status, got.body)
			}
			for _, k := range compared {
				if want.headers[k] != got.headers[k] {
					t.Errorf("%s: nginx %q, portico %q", k, want.headers[k], got.headers[k])
				}
			}
		})
	}
}
