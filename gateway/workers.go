package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"portico/config"
	"portico/gateway/launch"
)

// defaultPython runs container workers and router components when `options.python` is not
// given: the interpreter of the Debian packages python3-autobahn and python3-twisted.
const defaultPython = "/usr/bin/python3"

// startWorkers starts the guest and container workers and the router components of node,
// once the transports listen (container components connect to them). Every process is
// supervised by gateway/launch and stopped with the node.
func (g *Gateway) startWorkers(ctx context.Context, node *config.Node) error {
	for i := range node.Workers {
		w := &node.Workers[i]
		var c launch.Command
		var err error
		run := true
		switch {
		case w.Type == "guest":
			c, err = g.guestCommand(node, w)
		case w.Type == "container" && (len(w.Components) == 0 || pythonComponents(w) > 0),
			w.Type == "router" && pythonComponents(w) > 0:
			c, err = g.runnerCommand(node, w, i)
		default:
			run = false
		}
		if err != nil {
			return err
		}
		if w.Type == "router" || w.Type == "container" {
			for j := range w.Components {
				if wc := &w.Components[j]; runsNative(w, wc) {
					nc, err := g.startNativeComponent(w, wc)
					if err != nil {
						return err
					}
					g.natives = append(g.natives, nc)
				}
			}
		}
		if !run {
			continue
		}
		c.Timing = g.launchTiming
		sup, err := launch.NewProcess(c, g.log)
		if err != nil {
			return err
		}
		if err := sup.Start(ctx); err != nil {
			return err
		}
		wp := &workerProc{sup: sup, quit: make(chan struct{})}
		g.workers = append(g.workers, wp)
		if w.Guest != nil && w.Guest.Watch != nil {
			dw, err := newDirWatcher(w.Guest.Watch.Directories)
			if err != nil {
				return fmt.Errorf("%s.options.watch: %w", w.Place, err)
			}
			wp.watch, wp.done = dw, make(chan struct{})
			go g.watchGuest(wp, c, *w.Guest.Watch, w.Place)
		}
	}
	return nil
}

// workerProc is one supervised worker process; a guest with `options.watch` gets a new
// supervisor on every restart its watcher asks for.
type workerProc struct {
	mu      sync.Mutex
	sup     *launch.Supervisor
	stopped bool
	watch   *dirWatcher
	quit    chan struct{} // closed by stopWorkers
	done    chan struct{} // closed when watchGuest has returned
}

// watchGuest stops the guest on a change under its watched directories and, with action
// "restart", starts it again after the watch timeout (Crossbar's controller.py
// on_filesystem_change: SIGTERM, then start_worker after `timeout` seconds).
func (g *Gateway) watchGuest(wp *workerProc, c launch.Command, cfg config.GuestWatch, place string) {
	defer close(wp.done)
	log := g.log.With("guest", place)
	for {
		what, err := wp.watch.next()
		if err != nil {
			return
		}
		wp.mu.Lock()
		old, stopped := wp.sup, wp.stopped
		wp.mu.Unlock()
		if stopped {
			return
		}
		if cfg.Action != "restart" {
			log.Info("watched directory changed: stopping the guest (options.watch has no action \"restart\")", "change", what)
			_ = old.Stop(g.stopTimeout)
			return
		}
		log.Info("watched directory changed: restarting the guest", "change", what, "after", cfg.Timeout)
		if err := old.Stop(g.stopTimeout); err != nil {
			log.Warn("stopping the guest", "error", err)
		}
		select {
		case <-time.After(cfg.Timeout):
		case <-wp.quit:
			return
		}
		wp.watch.drain()
		sup, err := launch.NewProcess(c, g.log)
		if err == nil {
			err = sup.Start(context.Background())
		}
		if err != nil {
			log.Error("restarting the guest after a change failed", "error", err)
			continue
		}
		wp.mu.Lock()
		if wp.stopped {
			wp.mu.Unlock()
			_ = sup.Stop(g.stopTimeout)
			return
		}
		wp.sup = sup
		wp.mu.Unlock()
	}
}

func pythonComponents(w *config.Worker) int {
	n := 0
	for j := range w.Components {
		if !runsNative(w, &w.Components[j]) {
			n++
		}
	}
	return n
}

// stopWorkers stops the native router components and every worker process, all at once (the
// stop signal to its group, SIGKILL after timeout).
func (g *Gateway) stopWorkers(timeout time.Duration) {
	for _, nc := range g.natives {
		nc.stop()
	}
	g.natives = nil
	var wg sync.WaitGroup
	for _, wp := range g.workers {
		wg.Go(func() {
			wp.mu.Lock()
			wp.stopped = true
			wp.mu.Unlock()
			close(wp.quit)
			if wp.watch != nil {
				_ = wp.watch.close()
				<-wp.done
			}
			wp.mu.Lock()
			sup := wp.sup
			wp.mu.Unlock()
			if err := sup.Stop(timeout); err != nil {
				g.log.Warn("stopping worker", "error", err)
			}
		})
	}
	wg.Wait()
	g.workers = nil
}

func restartPolicy(r string) launch.Restart {
	switch r {
	case "restart-always":
		return launch.RestartAlways
	case "restart-on-failed":
		return launch.RestartOnFailure
	}
	return launch.RestartNever
}

func outputMode(m string) launch.Output {
	switch m {
	case "drop":
		return launch.OutputDrop
	case "close":
		return launch.OutputClose
	}
	return launch.OutputLog
}

func envVars(e config.Env) []string {
	return launch.Environ(e.InheritAll, e.Inherit, sortedEnv(e.Vars))
}

// guestCommand is a guest worker's program. The executable is looked for as Crossbar's
// controller does: relative to the working directory when such an executable file exists,
// else on PATH.
func (g *Gateway) guestCommand(node *config.Node, w *config.Worker) (launch.Command, error) {
	gs := w.Guest
	exe := gs.Executable
	if p := filepath.Join(gs.Workdir, exe); filepath.IsAbs(exe) || isExecutable(p) {
		if !filepath.IsAbs(exe) {
			exe = p
		}
		if !isExecutable(exe) {
			return launch.Command{}, fmt.Errorf("%s.executable: %s is not an executable file", w.Place, exe)
		}
	} else {
		found, err := exec.LookPath(exe)
		if err != nil {
			return launch.Command{}, fmt.Errorf("%s.executable: no executable %q in %s nor on PATH", w.Place, exe, gs.Workdir)
		}
		if exe, err = filepath.Abs(found); err != nil {
			return launch.Command{}, fmt.Errorf("%s.executable: %w", w.Place, err)
		}
	}
	c := launch.Command{
		Name: w.Place, ConfigKey: w.Place, Kind: "guest",
		Path: exe, Args: gs.Arguments, Dir: gs.Workdir,
		Env:       envVars(w.Options.Env),
		StdinPipe: true,
		Stdout:    outputMode(gs.Stdout), Stderr: outputMode(gs.Stderr),
		Restart: restartPolicy(w.Options.Restart),
	}
	if in := gs.Stdin; in != nil {
		c.CloseStdin = in.Close
		if in.HasValue {
			b, err := json.Marshal(in.JSON)
			if err != nil {
				return launch.Command{}, fmt.Errorf("%s.options.stdin.value: %w", w.Place, err)
			}
			c.Stdin = b
		}
	}
	return c, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runnerComponent is one component as the runner reads it.
type runnerComponent struct {
	Place string `json:"place"`
	Type  string `json:"type"`
	// Classname names the component in messages; for a function component its join
	// callback.
	Classname string            `json:"classname"`
	Callbacks map[string]string `json:"callbacks,omitempty"`
	Realm     string            `json:"realm"`
	Extra     any               `json:"extra"`
	Transport map[string]any    `json:"transport"`
}

// runnerCommand runs the components of a container worker, or of a router worker (attached
// to the router over private sockets, see componentSocket), in Portico's component runner.
func (g *Gateway) runnerCommand(node *config.Node, w *config.Worker, idx int) (launch.Command, error) {
	script := filepath.Join(g.runtimeDir, "portico-runner.py")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, launch.RunnerScript, 0o600); err != nil {
			return launch.Command{}, fmt.Errorf("writing the component runner: %w", err)
		}
	}
	cfg := struct {
		Components []runnerComponent `json:"components"`
		PythonPath []string          `json:"pythonpath"`
		Restart    string            `json:"restart"`
		Shutdown   string            `json:"shutdown"`
	}{PythonPath: w.Options.PythonPath, Restart: w.Options.Restart, Shutdown: w.Options.Shutdown}
	for j, c := range w.Components {
		if runsNative(w, &c) {
			continue
		}
		rc := runnerComponent{Place: c.Place, Type: c.Type, Classname: c.Classname, Callbacks: c.Callbacks, Realm: c.Realm, Extra: c.Extra}
		if c.Type == "function" {
			rc.Classname = "function"
			if j, ok := c.Callbacks["join"]; ok {
				rc.Classname = j
			}
		}
		if w.Type == "router" {
			sock, err := g.componentSocket(w, c, idx, j)
			if err != nil {
				return launch.Command{}, err
			}
			rc.Transport = map[string]any{"type": "websocket", "url": "ws://localhost/",
				"endpoint": map[string]any{"type": "unix", "path": sock, "timeout": 10}}
		} else {
			t := c.Transport
			ep := map[string]any{"type": t.Endpoint.Type, "timeout": t.Endpoint.Timeout}
			if t.Endpoint.Type == "unix" {
				ep["path"] = t.Endpoint.Path
			} else {
				ep["host"], ep["port"], ep["version"] = t.Endpoint.Host, t.Endpoint.Port, t.Endpoint.Version
				if tl := t.Endpoint.TLS; tl != nil {
					ep["tls"] = map[string]any{"hostname": tl.Hostname, "ca_certificates": tl.CACertificates,
						"certificate": tl.Certificate, "key": tl.Key}
				}
			}
			rc.Transport = map[string]any{"type": t.Type, "url": t.URL, "serializer": t.Serializer, "endpoint": ep}
			if t.MaxMessageSize > 0 {
				rc.Transport["max_message_size"] = t.MaxMessageSize
			}
		}
		cfg.Components = append(cfg.Components, rc)
	}
	if cfg.Restart == "" {
		cfg.Restart, cfg.Shutdown = "restart-never", "shutdown-manual"
	}
	in, err := json.Marshal(cfg)
	if err != nil {
		return launch.Command{}, fmt.Errorf("%s.components: %w", w.Place, err)
	}
	py := w.Options.Python
	if py == "" {
		py = defaultPython
	}
	pyPath, err := exec.LookPath(py)
	if err != nil {
		return launch.Command{}, fmt.Errorf("%s.options.python: interpreter %q not found (%v); install python3 with the Debian packages python3-autobahn and python3-twisted, or set options.python", w.Place, py, err)
	}
	kind := "container"
	restart := launch.RestartNever
	if w.Type == "router" {
		kind = "components"
	} else {
		restart = restartPolicy(w.Options.Restart)
	}
	return launch.Command{
		Name: w.Place, ConfigKey: w.Place, Kind: kind,
		Path: pyPath, Args: []string{script}, Dir: node.Dir,
		Env:       envVars(w.Options.Env),
		StdinPipe: true, Stdin: in, CloseStdin: true,
		Ready:       launch.ReadyNotify,
		NotifyPath:  filepath.Join(g.runtimeDir, "w"+strconv.Itoa(idx)+".notify"),
		Restart:     restart,
		ExplainExit: launch.ExplainRunnerExit(w.Place + ".components"),
	}, nil
}

// componentSocket opens the private WebSocket listener a router component attaches over: a
// unix socket in the runtime directory (0700, the socket 0600) whose sessions join with the
// component's configured role and no authentication, as Crossbar's router components do
// (crossbar/worker/router.py start_router_component: authrole config["role"], default
// "anonymous").
func (g *Gateway) componentSocket(w *config.Worker, c config.Component, wi, ci int) (string, error) {
	ref, err := g.routerFor(w)
	if err != nil {
		return "", err
	}
	sock := filepath.Join(g.runtimeDir, "c"+strconv.Itoa(wi)+"-"+strconv.Itoa(ci)+".sock")
	// A websocket path without options, defaulted as config defaults a configured one.
	svc := &config.Service{Place: c.Place, Type: "websocket", WebSocket: &config.WebSocket{}}
	t := config.TransportWithDefaults(&config.Transport{Place: c.Place, Type: "web",
		Endpoint: config.Endpoint{Type: "unix", Path: sock}, Paths: map[string]*config.Service{"/": svc}})
	s, err := g.listen(t)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		s.ln.Close()
		return "", fmt.Errorf("%s: %w", c.Place, err)
	}
	ws, err := newWebSocketService(svc, t, ref, &g.upgrades, g.log.With("component", c.Place))
	if err != nil {
		s.ln.Close()
		return "", err
	}
	ws.trustedRole = c.Role
	s.table.Store(&pathTable{root: &pathNode{svc: ws}, services: []service{ws}})
	g.private = append(g.private, s)
	go s.serve()
	return sock, nil
}
