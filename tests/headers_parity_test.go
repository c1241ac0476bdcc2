package tests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNginxParityHeadersAndParams: nginx with uwsgi_param, add_header ... always and return 301
// https://$host$request_uri, and Portico with the matching vars, headers and redirect_https,
// in front of the same uwsgi: the app sees the same values, and clients get the same headers
// on the app's responses and on the proxy's own 502, and the same redirects.
func TestNginxParityHeadersAndParams(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	sock := startEnvUWSGI(t, dir)
	dead := filepath.Join(dir, "nobody.sock")
	nginx := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	nginxRedirect := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startNginxConf(t, dir, nginx, fmt.Sprintf(`  server {
    listen %s;
    add_header X-Frame-Options DENY always;
    add_header X-Content-Type-Options nosniff always;
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_param APP_URL "$scheme://$host:$server_port$request_uri";
      uwsgi_param APP_REMOTE $remote_addr;
      uwsgi_param APP_FIXED "a b";
      uwsgi_param SERVER_NAME www.example.com;
      uwsgi_param HTTP_X_CUSTOM fixed;
      uwsgi_pass unix:%s;
    }
    location /dead/ {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
  }
  server {
    listen %s;
    return 301 https://$host$request_uri;
  }
`, nginx, sock, dead, nginxRedirect))

	node := filepath.Join(dir, "node")
	if err := os.MkdirAll(node, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "transports": [
  {"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
   "options": {"headers": {"set": {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}}},
   "paths": {
     "/": {"type": "wsgi", "upstream": "unix:%s", "vars": {
       "APP_URL": "$scheme://$host:$server_port$request_uri", "APP_REMOTE": "$remote_addr",
       "APP_FIXED": "a b", "SERVER_NAME": "www.example.com", "HTTP_X_CUSTOM": "fixed"}},
     "dead": {"type": "wsgi", "upstream": "unix:%s", "queue_timeout": "2s"}}},
  {"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
   "options": {"redirect_https": true}, "paths": {"/": {"type": "json", "value": 1}}}
]}]}`, freePort(t), sock, dead, freePort(t))
	if err := os.WriteFile(filepath.Join(node, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, node, "--cbdir", node)
	portico := strings.TrimPrefix(n.base, "http://")
	porticoRedirect := transportAddr(t, cfg)

	t.Run("uwsgi_param", func(t *testing.T) {
		req := "GET /a/b?x=1&y=%2F HTTP/1.1\r\nHost: Example.COM\r\nX-Custom: from-client\r\nConnection: close\r\n\r\n"
		want := rawEnv(t, nginx, req)
		got := rawEnv(t, portico, req)
		for _, k := range []string{"APP_URL", "APP_REMOTE", "APP_FIXED", "SERVER_NAME", "HTTP_X_CUSTOM"} {
			w := want[k]
			if k == "APP_URL" { // the two listen on different ports
				w = strings.Replace(w, nginx[strings.LastIndex(nginx, ":"):], portico[strings.LastIndex(portico, ":"):], 1)
			}
			if got[k] != w || w == "" {
				t.Errorf("%s: nginx %q, portico %q", k, want[k], got[k])
			}
		}
	})
	t.Run("add_header", func(t *testing.T) {
		for _, path := range []string{"/env", "/dead/x"} {
			req := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
			a, b := rawResponse(t, nginx, req), rawResponse(t, portico, req)
			_, _ = io.Copy(io.Discard, a.Body)
			_, _ = io.Copy(io.Discard, b.Body)
			a.Body.Close()
			b.Body.Close()
			if a.StatusCode != b.StatusCode {
				t.Errorf("%s: status nginx %d, portico %d", path, a.StatusCode, b.StatusCode)
			}
			for _, h := range []string{"X-Frame-Options", "X-Content-Type-Options"} {
				if av, bv := a.Header.Values(h), b.Header.Values(h); fmt.Sprint(av) != fmt.Sprint(bv) || len(av) != 1 {
					t.Errorf("%s %d: %s: nginx %q, portico %q", path, a.StatusCode, h, av, bv)
				}
			}
		}
	})
	t.Run("return 301", func(t *testing.T) {
		for _, req := range []string{
			"GET /p/a%20th?q=1&r=%2F HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		} {
			a, b := rawResponse(t, nginxRedirect, req), rawResponse(t, porticoRedirect, req)
			a.Body.Close()
			b.Body.Close()
			if a.StatusCode != b.StatusCode || a.Header.Get("Location") != b.Header.Get("Location") {
				t.Errorf("%q: nginx %d %q, portico %d %q", req, a.StatusCode, a.Header.Get("Location"), b.StatusCode, b.Header.Get("Location"))
			}
		}
	})
}

// transportAddr is the address of the second transport of cfg (its port is in the config).
func transportAddr(t *testing.T, cfg string) string {
	t.Helper()
	i := strings.LastIndex(cfg, `"port": `)
	var port int
	if _, err := fmt.Sscanf(cfg[i+len(`"port": `):], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
