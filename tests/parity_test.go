package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// startEnvUWSGI runs real uwsgi with testdata/envapp on a unix socket readable by nginx's
// workers, and returns the socket path.
func startEnvUWSGI(t *testing.T, dir string) string {
	return startAppUWSGI(t, dir, "testdata/envapp/envapp.py")
}

// startAppUWSGI runs real uwsgi (2 processes) with the WSGI file app on a unix socket in dir
// that nginx's workers can reach, and returns the socket path. extra are more uwsgi options.
func startAppUWSGI(t *testing.T, dir, app string, extra ...string) string {
	t.Helper()
	sock := filepath.Join(dir, strings.TrimSuffix(filepath.Base(app), ".py")+".sock")
	app, _ = filepath.Abs(app)
	cmd := exec.Command("uwsgi", append([]string{"--plugin", "python3", "--master", "--processes", "2",
		"--socket", sock, "--chmod-socket=666", "--wsgi-file", app, "--need-app", "--disable-logging"}, extra...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("uwsgi (Debian: uwsgi-core, uwsgi-plugin-python3): %v", err)
	}
	t.Cleanup(func() { stopGroup(cmd) })
	testkit.WaitDial(t, "unix", sock, logs.String)
	return sock
}

// startNginx runs nginx-light in the foreground with Debian's uwsgi_params in front of sock.
func startNginx(t *testing.T, dir, sock string) string {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startNginxConf(t, dir, addr, fmt.Sprintf(`  server {
    listen %s;
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
  }
`, addr, sock))
	return addr
}

// startNginxConf runs nginx-light in the foreground with block as the body of its http
// block, and waits until addr accepts. nginx.conf goes in dir, its prefix for relative paths.
func startNginxConf(t *testing.T, dir, addr, block string) {
	t.Helper()
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
%[2]s}
`, dir, block)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-c", cf, "-p", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginx (Debian: nginx-light): %v", err)
	}
	t.Cleanup(func() { stopGroup(cmd) })
	testkit.WaitDial(t, "tcp", addr, logs.String)
}

func stopGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// rawResponse sends one raw request on a new connection and reads the response head. Closing
// the response body closes the connection.
func rawResponse(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		t.Fatalf("%s: %v", addr, err)
	}
	resp.Body = connBody{resp.Body, c}
	return resp
}

// connBody is a response body that closes its connection with it.
type connBody struct {
	io.ReadCloser
	c net.Conn
}

func (b connBody) Close() error {
	err := b.ReadCloser.Close()
	if cerr := b.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// rawEnv sends one raw request and decodes the environ the app answers with.
func rawEnv(t *testing.T, addr, req string) map[string]string {
	t.Helper()
	resp := rawResponse(t, addr, req)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", addr, resp.StatusCode, b)
	}
	env := map[string]string{}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return env
}

// nginxReadableTempDir returns a temp directory that nginx's workers, which do not run as root,
// can enter: they must reach the sockets and static files put in it.
func nginxReadableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// nginxAndPortico starts the env app's uwsgi, then nginx (with Debian's uwsgi_params) and
// Portico in front of it, and returns their addresses. Portico's config.toml is head followed by
// one transport with a wsgi path at "/".
func nginxAndPortico(t *testing.T, head string) (nginx, portico string) {
	t.Helper()
	dir := nginxReadableTempDir(t)
	sock := startEnvUWSGI(t, dir)
	nginx = startNginx(t, dir, sock)
	node := filepath.Join(dir, "node")
	if err := os.MkdirAll(node, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := head + fmt.Sprintf("[[transport]]\nendpoint = { type = \"tcp\", port = %d, interface = \"127.0.0.1\" }\n\n  [transport.paths.\"/\"]\n  type = \"wsgi\"\n  upstream = \"unix:%s\"\n", freePort(t), sock)
	if err := os.WriteFile(filepath.Join(node, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return nginx, strings.TrimPrefix(start(t, node, "--cbdir", node).base, "http://")
}

// TestNginxParity: with the same uwsgi, the app sees the same environ through Portico as
// through nginx with Debian's uwsgi_params, for varied requests, except for the documented
// differences (README, "The environ").
func TestNginxParity(t *testing.T) {
	t.Parallel()
	nginx, p := nginxAndPortico(t, "version = 2\n\n")

	// Keys that differ by design or by nature (ports, document root).
	differ := map[string]bool{
		"REMOTE_PORT": true, "SERVER_PORT": true, "DOCUMENT_ROOT": true, "SERVER_NAME": true,
		"SCRIPT_NAME": true, "HTTP_X_FORWARDED_FOR": true, "HTTP_X_FORWARDED_PROTO": true,
		"HTTP_X_FORWARDED_HOST": true, "HTTP_HOST": true,
	}
	requests := []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /a/b?x=1&y=%2F&z HTTP/1.1\r\nHost: example.com\r\nUser-Agent: parity/1\r\nAccept: */*\r\n\r\n",
		"GET /a%20b/./c/../d//e HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /caf%C3%A9/%7Euser HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /form?q=1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
		"PUT /put HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"DELETE /thing/1 HTTP/1.1\r\nHost: example.com\r\nX-Custom-Header: v1\r\nX-Empty:\r\n\r\n",
		"GET /h HTTP/1.1\r\nHost: example.com\r\nX_Spoofed: yes\r\nProxy: http://evil:3128\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
		"GET /ver HTTP/1.0\r\nHost: example.com\r\n\r\n",
		"OPTIONS /opt HTTP/1.1\r\nHost: example.com\r\nOrigin: http://example.org\r\nAccess-Control-Request-Method: POST\r\n\r\n",
	}
	for _, req := range requests {
		name := strings.SplitN(req, "\r\n", 2)[0]
		t.Run(name, func(t *testing.T) {
			want := rawEnv(t, nginx, req)
			got := rawEnv(t, p, req)
			var diffs []string
			keys := map[string]bool{}
			for k := range want {
				keys[k] = true
			}
			for k := range got {
				keys[k] = true
			}
			for k := range keys {
				if differ[k] || strings.HasPrefix(k, "uwsgi.") || strings.HasPrefix(k, "wsgi.") {
					continue
				}
				// Spoofing headers are gone from Portico's environ on purpose.
				if k == "HTTP_PROXY" {
					if _, ok := got[k]; ok {
						diffs = append(diffs, "HTTP_PROXY reached the app")
					}
					continue
				}
				if want[k] != got[k] {
					diffs = append(diffs, fmt.Sprintf("%s: nginx %q, portico %q", k, want[k], got[k]))
				}
			}
			for _, k := range []string{"HTTP_X_SPOOFED", "HTTP_PROXY"} {
				if _, ok := got[k]; ok {
					diffs = append(diffs, k+" present")
				}
			}
			if got["HTTP_X_FORWARDED_FOR"] != "127.0.0.1" {
				diffs = append(diffs, fmt.Sprintf("HTTP_X_FORWARDED_FOR %q, want the peer", got["HTTP_X_FORWARDED_FOR"]))
			}
			if got["SCRIPT_NAME"] != "" {
				diffs = append(diffs, fmt.Sprintf("SCRIPT_NAME %q at the root mount", got["SCRIPT_NAME"]))
			}
			sort.Strings(diffs)
			if len(diffs) > 0 {
				t.Errorf("environ differs:\n  %s", strings.Join(diffs, "\n  "))
			}
		})
	}
}
