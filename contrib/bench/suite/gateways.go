package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"portico/contrib/bench/benchkit"
)

// app is one WSGI app under test.
type app struct {
	name   string
	dir    string // its directory (the uwsgi chdir and the Python path)
	module string
	object string
	expect string // a piece of the body every good response carries
}

// gateway is one HTTP front under test: started once per app, measured in turns.
type gateway struct {
	name  string
	url   string
	proc  *proc
	pprof string // Portico's PORTICO_PPROF address with -profile, else ""
}

// env is what the gateways of one app share.
type env struct {
	ctx     context.Context
	ps      *procs
	tmp     string // this app's temp directory
	app     app
	sock    string // the uwsgi backend's unix socket
	portico string // the portico binary
	uwsgi   string
	python  string
	// benchDir is contrib/bench (the Python helpers live in apps/).
	benchDir string
}

const startWithin = 30 * time.Second

// backend starts uwsgi for the app: 2 processes, a unix socket, request logging off (every
// gateway is measured against the same, quiet backend).
func (e *env) backend() (*proc, error) {
	e.sock = filepath.Join(e.tmp, "app.sock")
	p, err := e.ps.start("uwsgi backend", e.app.dir, filepath.Join(e.tmp, "backend.log"), nil,
		e.uwsgi, "--plugin", "python3", "--master", "--processes", "2",
		"--socket", e.sock, "--chmod-socket=666", "--listen", "1024",
		"--chdir", e.app.dir, "--module", e.app.module+":"+e.app.object,
		"--need-app", "--disable-logging", "--die-on-term")
	if err != nil {
		return nil, err
	}
	if err := waitDial(e.ctx, p, "unix", e.sock, startWithin); err != nil {
		return nil, err
	}
	return p, nil
}

func (e *env) start(name string) (*gateway, error) {
	port, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(e.tmp, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf := filepath.Join(dir, "out.log")
	var p *proc
	var pprofAddr string
	kind, extraEnv, _ := strings.Cut(name, "+")
	switch kind {
	case "portico", "portico-metrics":
		// "portico+GOMAXPROCS=2" runs a variant with that environment variable, measured in
		// the same turns as the others (an A/B of a runtime setting). "portico-metrics" adds
		// a `metrics` path, which turns on the request and upstream counts: the A/B of their
		// cost.
		var env []string
		env, pprofAddr, err = profileEnv()
		if err != nil {
			return nil, err
		}
		if extraEnv != "" {
			env = append(env, strings.Split(extraEnv, "+")...)
		}
		p, err = e.startPortico(dir, logf, port, env, kind == "portico-metrics")
	case "portico-launched", "portico-puwsgi":
		// Portico launching its own uwsgi (2 processes of 1 thread, as the shared backend),
		// without and with the persistent socket (uwsgi_persistent): an A/B of that setting.
		// The gateway's CPU then includes the app's, as for twisted.
		var env []string
		env, pprofAddr, err = profileEnv()
		if err != nil {
			return nil, err
		}
		p, err = e.startPorticoLaunched(dir, logf, port, env, kind == "portico-puwsgi")
	case "nginx":
		p, err = e.startNginx(dir, logf, port)
	case "uwsgi-http":
		// uwsgi's own HTTP router in front of the same socket, one router process per CPU as
		// nginx's worker_processes auto; keep-alive on, as the other gateways have it.
		p, err = e.ps.start(name, dir, logf, nil, e.uwsgi, "--plugin", "http", "--master",
			"--http", addr, "--http-to", e.sock, "--http-keepalive",
			"--http-processes", strconv.Itoa(runtime.NumCPU()), "--disable-logging", "--die-on-term")
	case "twisted":
		// The app runs inside Twisted, as in Crossbar: no uwsgi behind it.
		p, err = e.ps.start(name, dir, logf, nil, e.python, filepath.Join(e.benchDir, "apps", "twisted_wsgi.py"),
			strconv.Itoa(port), e.app.dir, e.app.module, e.app.object)
	default:
		return nil, fmt.Errorf("unknown gateway %q (portico, portico+VAR=value, portico-metrics, portico-launched, portico-puwsgi, nginx, uwsgi-http, twisted)", name)
	}
	if err != nil {
		return nil, err
	}
	if err := waitDial(e.ctx, p, "tcp", addr, startWithin); err != nil {
		return nil, err
	}
	g := &gateway{name: name, url: "http://" + addr + "/", proc: p, pprof: pprofAddr}
	if err := g.check(e.app.expect); err != nil {
		return nil, err
	}
	return g, nil
}

func (e *env) startPortico(dir, logf string, port int, env []string, metrics bool) (*proc, error) {
	cfg := fmt.Sprintf(`# Portico in front of an existing uwsgi, as nginx's uwsgi_pass.
[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }

  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%s"
`, port, e.sock)
	if metrics {
		cfg += `
  [transport.paths.metrics]
  type = "metrics"
`
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return e.ps.start("portico", dir, logf, env, e.portico, "start", "--cbdir", dir, "--loglevel", "warn")
}

func (e *env) startPorticoLaunched(dir, logf string, port int, env []string, persistent bool) (*proc, error) {
	cfg := fmt.Sprintf(`# Portico launching uwsgi for the app.
[router]
pythonpath = [%q]

[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }

  [transport.paths."/"]
  type = "wsgi"
  module = %q
  object = %q
  processes = 2
  threads = 1
  uwsgi_args = ["--listen", "1024"]
  uwsgi_persistent = %v
`, e.app.dir, port, e.app.module, e.app.object, persistent)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return e.ps.start("portico", dir, logf, env, e.portico, "start", "--cbdir", dir, "--loglevel", "warn")
}

func (e *env) startNginx(dir, logf string, port int) (*proc, error) {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the root-owned temp directory and socket
	}
	// keepalive_requests is raised from its default (1000) so that nginx is not measured
	// reconnecting: the other gateways keep a connection for as long as wrk does.
	cfg := fmt.Sprintf(`%s
worker_processes auto;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:%[4]s;
        }
    }
}
`, user, dir, port, e.sock)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return e.ps.start("nginx", dir, logf, nil, "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
}

// check sends one request and insists on a 200 with the app's body: a gateway that answers
// fast with errors is not measured.
func (g *gateway) check(expect string) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(g.url)
	if err != nil {
		return fmt.Errorf("%s: %w", g.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), expect) {
		return fmt.Errorf("%s: status %d, body %q:\n%s", g.name, resp.StatusCode, b, g.proc.tail())
	}
	return nil
}

// profileEnv gives a Portico its own PORTICO_PPROF address when the suite saves profiles
// (-profile); it returns "" otherwise.
func profileEnv() (env []string, addr string, err error) {
	if *flagProfile == "" {
		return nil, "", nil
	}
	port, err := benchkit.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	return []string{"PORTICO_PPROF=" + addr}, addr, nil
}

// saveProfile fetches a runtime profile from a Portico's PORTICO_PPROF listener into path
// ("profile?seconds=N" for CPU, "allocs" for allocations since start).
func saveProfile(ctx context.Context, addr, which, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/debug/pprof/"+which, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", which, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("profile %s: HTTP %d", which, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("profile %s: %w", which, err)
	}
	return os.WriteFile(path, b, 0o644)
}
