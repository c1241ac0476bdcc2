package tests

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// examples is where the nodes users copy live.
const examples = "../contrib/examples"

// TestExamplesCheck: every config file under contrib/examples passes `portico check` as it
// is in the repository, read from its own directory as the node directory.
func TestExamplesCheck(t *testing.T) {
	t.Parallel()
	var configs []string
	err := filepath.WalkDir(examples, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "__pycache__" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		// Node configs: Crossbar's config.json/.yaml and Portico's TOML under any name; other
		// JSON or YAML files (package.json, say) are not configs.
		switch name := d.Name(); {
		case name == "config.json", name == "config.yaml", name == "config.yml", filepath.Ext(name) == ".toml":
			configs = append(configs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must see at least the examples this test was written for.
	for _, want := range []string{"flask/.crossbar/config.json", "django/.crossbar/config.yaml", "nginx-migration/portico.toml"} {
		found := false
		for _, c := range configs {
			found = found || filepath.ToSlash(c) == examples+"/"+want
		}
		if !found {
			t.Errorf("walk of %s missed %s (found %v)", examples, want, configs)
		}
	}
	for _, c := range configs {
		rel, _ := filepath.Rel(examples, c)
		t.Run(rel, func(t *testing.T) {
			out, err := exec.Command(portico, "check", "--cbdir", filepath.Dir(c), "--config", filepath.Base(c)).CombinedOutput()
			if err != nil || !strings.Contains(string(out), ": ok (") {
				t.Fatalf("portico check %s: %v\n%s", c, err, out)
			}
		})
	}

	// The Django README shows the same node in TOML; it must stay a working twin.
	t.Run("django/README.md toml", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join(examples, "django", "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(readme)
		if m == nil {
			t.Fatal("no ```toml block in the Django README")
		}
		dir := t.TempDir()
		copyTree(t, filepath.Join(examples, "django"), dir)
		cfg := filepath.Join(dir, ".crossbar", "config.toml")
		if err := os.WriteFile(cfg, m[1], 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(portico, "check", "--cbdir", filepath.Dir(cfg)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "config.toml: ok (1 transport(s), 4 path service(s))") {
			t.Fatalf("portico check: %v\n%s", err, out)
		}
	})
}

// TestExamplesDjango: `portico start` in a copy of the Django example launches uwsgi for the
// project mounted at /app; the page's links carry the /app prefix, the static files it
// references are served from static/, / redirects to the app and /ws is the WAMP router.
func TestExamplesDjango(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, filepath.Join(examples, "django"), dir)
	setPort(t, filepath.Join(dir, ".crossbar", "config.yaml"), 0)
	n := start(t, dir)

	status, page := get(t, n.base+"/app/")
	if status != 200 || !strings.Contains(page, "<h1>Django on Portico</h1>") {
		t.Fatalf("GET /app/: %d %q", status, page)
	}
	if !strings.Contains(page, "mounted at\n<code>/app</code>") {
		t.Errorf("the page does not show SCRIPT_NAME=/app:\n%s", page)
	}
	links := regexp.MustCompile(`<a href="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("want the two nav links, got %v in:\n%s", links, page)
	}
	for _, l := range links {
		if !strings.HasPrefix(l[1], "/app/") {
			t.Errorf("link %q lacks the /app prefix", l[1])
		}
		if status, body := get(t, n.base+l[1]); status != 200 {
			t.Errorf("GET %s: %d %q", l[1], status, body)
		}
	}
	status, about := get(t, n.base+"/app/about/")
	for _, want := range []string{
		"<th>SCRIPT_NAME</th><td><code>/app</code>",
		"<th>PATH_INFO</th><td><code>/about/</code>",
		"<th>request.path</th><td><code>/app/about/</code>",
	} {
		if status != 200 || !strings.Contains(about, want) {
			t.Errorf("GET /app/about/: %d, lacks %q:\n%s", status, want, about)
		}
	}

	// Every static file the page references comes from static/ byte for byte.
	assets := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(assets) != 2 {
		t.Fatalf("want the stylesheet and the script, got %v", assets)
	}
	for _, a := range assets {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(a[1])))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := get(t, n.base+a[1]); status != 200 || body != string(want) {
			t.Errorf("GET %s: %d, %d bytes, want the %d bytes of the file", a[1], status, len(body), len(want))
		}
	}

	noFollow := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := noFollow.Get(n.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/app/" {
		t.Errorf("GET /: %d Location %q, want 302 to /app/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A plain GET on a websocket path answers the router's status page.
	if status, body := get(t, n.base+"/ws"); status != 200 || !strings.Contains(strings.ToLower(body), "wamp") {
		t.Errorf("GET /ws: %d %q", status, body)
	}
}

// TestExamplesNginxMigration: the nginx server block and its portico.toml, each put in front
// of the same real uwsgi running the example app, answer alike: the app sees the same
// request, the static alias serves the same bytes with the same max-age, a 2 MiB upload
// passes and one over client_max_body_size / max_body_size gets 413.
func TestExamplesNginxMigration(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	copyTree(t, filepath.Join(examples, "nginx-migration"), dir)

	// The app's uwsgi, as the README runs it, on a socket in the temp directory.
	sock := filepath.Join(dir, "uwsgi.sock")
	uw := exec.Command("uwsgi", "--plugin", "python3", "--master", "--processes", "1",
		"--socket", sock, "--chmod-socket=666", "--chdir", dir, "--module", "app:application",
		"--need-app", "--disable-logging")
	uw.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	uwLogs := &syncBuffer{}
	uw.Stdout, uw.Stderr = uwLogs, uwLogs
	if err := uw.Start(); err != nil {
		t.Fatalf("uwsgi (Debian: uwsgi-core, uwsgi-plugin-python3): %v", err)
	}
	t.Cleanup(func() { stopGroup(uw) })
	testkit.WaitDial(t, "unix", sock, uwLogs.String)

	// Portico with the example's portico.toml, the upstream moved to that socket and the
	// listener to a free port on loopback.
	cfg := filepath.Join(dir, "portico.toml")
	rewrite(t, cfg, `upstream = "unix:/run/app/uwsgi.sock"`, `upstream = "unix:`+sock+`"`)
	rewrite(t, cfg, `endpoint = { type = "tcp", port = 8080 }`, `endpoint = { type = "tcp", port = 0, interface = "127.0.0.1" }`)
	n := start(t, dir, "--cbdir", dir, "--config", "portico.toml")
	portico := strings.TrimPrefix(n.base, "http://")

	// nginx with the example's server block, moved the same way; uwsgi_params sits next to
	// the main config, where nginx looks for the relative include.
	site := filepath.Join(dir, "nginx-site.conf")
	port := freePort(t)
	rewrite(t, site, "listen 8080;", "listen 127.0.0.1:"+strconv.Itoa(port)+";")
	rewrite(t, site, "uwsgi_pass unix:/run/app/uwsgi.sock;", "uwsgi_pass unix:"+sock+";")
	rewrite(t, site, "alias /srv/app/static/;", "alias "+dir+"/static/;")
	params, err := os.ReadFile("/etc/nginx/uwsgi_params")
	if err != nil {
		t.Skipf("nginx's uwsgi_params (Debian: nginx-light): %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "uwsgi_params"), params, 0o644); err != nil {
		t.Fatal(err)
	}
	nginx := "127.0.0.1:" + strconv.Itoa(port)
	startNginxConf(t, dir, nginx, "  include /etc/nginx/mime.types;\n  include "+site+";\n")

	css, err := os.ReadFile(filepath.Join(dir, "static", "style.css"))
	if err != nil {
		t.Fatal(err)
	}
	upload := strings.Repeat("x", 2<<20)
	cases := []struct {
		name   string
		req    string
		status int
		check  func(t *testing.T, resp *http.Response, body string)
	}{
		{"app", "GET /hello/world?x=1&y=%2F HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 200,
			func(t *testing.T, _ *http.Response, body string) {
				for _, want := range []string{
					"<th>REQUEST_URI</th><td><code>/hello/world?x=1&amp;y=%2F</code>",
					"<th>PATH_INFO</th><td><code>/hello/world</code>",
					"<th>QUERY_STRING</th><td><code>x=1&amp;y=%2F</code>",
					"<th>REMOTE_ADDR</th><td><code>127.0.0.1</code>",
				} {
					if !strings.Contains(body, want) {
						t.Errorf("lacks %q:\n%s", want, body)
					}
				}
			}},
		{"static", "GET /static/style.css HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 200,
			func(t *testing.T, resp *http.Response, body string) {
				if body != string(css) {
					t.Errorf("got %d bytes, want the %d of static/style.css", len(body), len(css))
				}
				if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=3600") {
					t.Errorf("Cache-Control %q, want max-age=3600", cc)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
					t.Errorf("Content-Type %q", ct)
				}
			}},
		{"upload 2 MiB", "POST / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(len(upload)) + "\r\n\r\n" + upload, 200,
			func(t *testing.T, _ *http.Response, body string) {
				if want := "<th>body bytes read</th><td><code>" + strconv.Itoa(len(upload)) + "</code>"; !strings.Contains(body, want) {
					t.Errorf("lacks %q:\n%s", want, body)
				}
			}},
		// Only the head is sent, with Expect: 100-continue as curl sends it for large bodies:
		// both refuse on the declared length, before any body (RFC 9110 10.1.1).
		{"over 10m", "POST / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(10<<20+1) + "\r\n\r\n", 413, nil},
	}
	for _, c := range cases {
		for _, side := range []struct{ name, addr string }{{"nginx", nginx}, {"portico", portico}} {
			t.Run(c.name+"/"+side.name, func(t *testing.T) {
				resp, body := rawDo(t, side.addr, c.req)
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, body)
				}
				if c.check != nil {
					c.check(t, resp, body)
				}
			})
		}
	}
}

// TestExamplesSystemdUnit: contrib/systemd/portico.service passes `systemd-analyze verify`
// with its ExecStart pointed at the built binary.
func TestExamplesSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit := filepath.Join(t.TempDir(), "portico.service")
	b, err := os.ReadFile("../contrib/systemd/portico.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/usr/local/bin/portico start --cbdir ") {
		t.Fatal("the unit no longer runs /usr/local/bin/portico start --cbdir ...")
	}
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/portico", portico)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// rewrite replaces old with new in file, failing when old is not there (the example changed
// under the test).
func rewrite(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s: no %q to replace", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rawDo sends one raw request and returns the response with its body read.
func rawDo(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	resp := rawResponse(t, addr, req)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the body: %v", addr, err)
	}
	return resp, string(b)
}
