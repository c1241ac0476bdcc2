package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/gateway/launch"
)

// launched is one uwsgi Portico supervises for a wsgi path without upstream.
type launched struct {
	key  string
	sup  *launch.Supervisor
	used bool // still referenced by the current configuration
	// persist holds the connections to the persistent socket (uwsgi_persistent), shared by
	// the services that use this uwsgi across reloads; nil without one.
	persist *persistPool
}

// build makes the path table of every transport in node. It launches the uwsgi servers the
// node needs (reusing those whose settings did not change) and marks which ones are used.
//
// It is called with g.mu held and g.building locked; it gives g.mu up while a launched uwsgi
// starts (ensureLaunched). On error, what it built is closed: nothing is left open by a
// refused configuration.
func (g *Gateway) build(ctx context.Context, node *config.Node) (map[string]*pathTable, error) {
	tables := map[string]*pathTable{}
	if err := g.buildInto(ctx, node, tables); err != nil {
		closeTables(tables)
		return nil, err
	}
	return tables, nil
}

// closeTables closes the services of tables.
func closeTables(tables map[string]*pathTable) {
	for _, tab := range tables {
		for _, svc := range tab.services {
			svc.close()
		}
	}
}

func (g *Gateway) buildInto(ctx context.Context, node *config.Node, tables map[string]*pathTable) error {
	for _, l := range g.launched {
		l.used = false
	}
	g.spoolPlans = nil // put in force by commitSpools when the configuration is taken
	// Requests and upstreams are counted only when a `metrics` path serves the counts.
	g.counting = servesMetrics(node)
	for i := range node.Workers {
		w := &node.Workers[i]
		for j := range w.Transports {
			t := &w.Transports[j]
			tab := &pathTable{root: &pathNode{}, requestID: t.Options.RequestIDHeader,
				details: t.Options.DisplayTracebacks, writeTO: t.Options.WriteTimeout,
				compress: newCompression(&t.Options.Compression)}
			if g.counting {
				tab.stats, tab.unrouted = map[service]*svcStats{}, g.metrics.service(t.Place, "", "none")
			}
			if t.Options.AccessLog {
				tab.access = &accessLog{format: t.Options.AccessLogFormat}
				if tab.access.format != "" {
					k, err := g.sinkFor(t.Options.AccessLogFile)
					if err != nil {
						return fmt.Errorf("%s.options.access_log_file: %w", t.Place, err)
					}
					tab.access.sink = k
				}
				trusted, err := parseTrusted(t.Options.TrustedProxies)
				if err != nil {
					return fmt.Errorf("%s.options.trusted_proxies: %w", t.Place, err)
				}
				tab.ip = realIP{trusted: trusted, header: t.Options.RealIPHeader}
			}
			tab.headers = newHeaderRules(t.Options.Headers)
			tab.redirectHTTPS = t.Options.RedirectHTTPS
			pages, err := loadErrorPages(t)
			if err != nil {
				return err
			}
			tab.pages = pages
			if t.Endpoint.TLS != nil && t.Options.HSTS {
				tab.hsts = "max-age=" + strconv.Itoa(t.Options.HSTSMaxAge)
			}
			if hasWSGI(t.Paths) {
				if _, err := g.spoolFor(t); err != nil {
					return err
				}
			}
			if err := g.addPaths(ctx, node, w, t, tab, tab.root, nil, t.Paths); err != nil {
				for _, svc := range tab.services {
					svc.close()
				}
				return err
			}
			if t.RawSocket != nil {
				ref, err := g.routerFor(w)
				if err == nil {
					tab.raw, err = newRawService(t.RawSocket, ref, g.log.With("service", t.RawSocket.Place))
					g.metrics.upgradedConnections(t.RawSocket.Place, ref.slotsOf(t.RawSocket.Place))
				}
				if err != nil {
					for _, svc := range tab.services {
						svc.close()
					}
					return err
				}
			}
			tab.sniffTO, tab.maxConns = t.Options.HeaderReadTimeout, t.Options.MaxConnections
			tables[t.Place] = tab
		}
	}
	return nil
}

// servesMetrics reports whether a transport of node has a `metrics` path.
func servesMetrics(node *config.Node) bool {
	var has func(map[string]*config.Service) bool
	has = func(paths map[string]*config.Service) bool {
		for _, svc := range paths {
			if svc != nil && (svc.Type == "metrics" || has(svc.Paths)) {
				return true
			}
		}
		return false
	}
	for i := range node.Workers {
		for j := range node.Workers[i].Transports {
			if has(node.Workers[i].Transports[j].Paths) {
				return true
			}
		}
	}
	return false
}

func hasWSGI(paths map[string]*config.Service) bool {
	for _, svc := range paths {
		if svc != nil && (svc.Type == "wsgi" || hasWSGI(svc.Paths)) {
			return true
		}
	}
	return false
}

// addPaths adds paths below the node at, whose path segments are mount.
func (g *Gateway) addPaths(ctx context.Context, node *config.Node, w *config.Worker, t *config.Transport, tab *pathTable, at *pathNode, mount []string, paths map[string]*config.Service) error {
	for key, svc := range paths {
		n := at
		here := mount
		if key != "/" {
			here = append(slices.Clip(mount), key)
			if at.children == nil {
				at.children = map[string]*pathNode{}
			}
			n = at.children[key]
			if n == nil {
				n = &pathNode{}
				at.children[key] = n
			}
		}
		if svc.Type == "path" {
			if err := g.addPaths(ctx, node, w, t, tab, n, here, svc.Paths); err != nil {
				return err
			}
			continue
		}
		s, err := g.newService(ctx, node, w, t, svc, here)
		if err != nil {
			return err
		}
		if ws, ok := s.(*wsgiService); ok {
			ws.table = tab.root
		}
		if svc.Internal {
			s = internalService{s}
		}
		tab.services = append(tab.services, s)
		if tab.stats != nil {
			tab.stats[s] = g.metrics.service(t.Place, svc.Place, svc.Type)
		}
		n.svc = s
		if !svc.Headers.Empty() {
			if tab.pathHeaders == nil {
				tab.pathHeaders = map[service]*headerRules{}
			}
			tab.pathHeaders[s] = newHeaderRules(config.MergeHeaders(t.Options.Headers, svc.Headers))
		}
		if ws, ok := s.(*wsgiService); ok && svc.WSGI.InterceptErrors {
			ws.intercept = tab.pages
		}
	}
	return nil
}

func (g *Gateway) newService(ctx context.Context, node *config.Node, w *config.Worker, t *config.Transport, svc *config.Service, mount []string) (service, error) {
	log := g.log.With("service", svc.Place)
	switch svc.Type {
	case "wsgi":
		ups := svc.WSGI.Upstreams
		var waitReady func(context.Context) error
		if len(ups) == 0 {
			l, err := g.ensureLaunched(ctx, node, w, svc)
			if err != nil {
				return nil, err
			}
			ups = []string{l.sup.Upstream()}
			waitReady = l.sup.WaitReady
		}
		s, err := newWSGIService(svc, t, node, log, ups, waitReady)
		if err != nil {
			return nil, err
		}
		if len(svc.WSGI.Upstreams) == 0 {
			s.persist = g.launched[launchKey(svc)].persist
		}
		p := g.spoolPlans[t.Place] // made by build, with this configuration's directory
		s.quota, s.spoolDir = p.q, p.dir
		if g.counting {
			for _, u := range s.bal.ups {
				name := u.label
				if waitReady != nil {
					name = "launched"
				}
				g.metrics.upstream(u, svc.Place, name)
			}
		}
		s.upgraded, s.maxUpgraded = g.upgraded.of(t.Place), int64(t.Options.MaxConnections)
		s.upgrades = &g.upgrades
		g.metrics.upgradedConnections(t.Place, s.upgraded)
		if s.maxUpgraded <= 0 {
			s.maxUpgraded = fasthttp.DefaultConcurrency // what max_connections 0 means for HTTP too
		}
		return s, nil
	case "websocket":
		ref, err := g.routerFor(w)
		if err != nil {
			return nil, err
		}
		g.metrics.upgradedConnections(t.Place, ref.slotsOf(t.Place))
		return newWebSocketService(svc, t, ref, &g.upgrades, log)
	case "websocket-testee":
		return newEchoService(svc, t, g.echoFor(w), g.upgraded.of(t.Place), &g.upgrades, log), nil
	case "longpoll":
		ref, err := g.routerFor(w)
		if err != nil {
			return nil, err
		}
		return newLongPollService(svc, t, ref, log)
	case "static":
		return newStaticService(svc, t.Options.WriteTimeout)
	case "archive":
		return newArchiveService(svc, t.Options.WriteTimeout, log)
	case "resource":
		return g.newResourceService(ctx, node, w, t, svc, mount, log)
	case "redirect":
		return newRedirectService(svc), nil
	case "json":
		return newJSONService(svc)
	case "nodeinfo":
		return newNodeinfoService(svc, node), nil
	case "metrics":
		return newMetricsService(svc, g.metrics), nil
	case "publisher", "caller", "webhook":
		ref, err := g.routerFor(w)
		if err != nil {
			return nil, err
		}
		return newBridgeService(svc, t, ref, log)
	}
	return nil, fmt.Errorf("%s: service type %q is not supported", svc.Place, svc.Type)
}

// launchKey identifies a launched uwsgi by everything that shapes it: a reload restarts uwsgi
// only when its key changed.
func launchKey(svc *config.Service) string {
	w := svc.WSGI
	return strings.Join([]string{
		svc.Place, w.Module, w.Object, strings.Join(w.PythonPath, "\x00"), w.Chdir,
		fmt.Sprint(w.Processes, "/", w.Threads), w.UWSGI, strings.Join(w.UWSGIArgs, "\x00"),
		fmt.Sprint(sortedEnv(w.Env), w.WorkerEnv.InheritAll, w.WorkerEnv.Inherit, w.Persistent),
	}, "\x01")
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (g *Gateway) ensureLaunched(ctx context.Context, node *config.Node, w *config.Worker, svc *config.Service) (*launched, error) {
	key := launchKey(svc)
	if l, ok := g.launched[key]; ok {
		l.used = true
		return l, nil
	}
	ws := svc.WSGI
	spec := launch.Spec{
		Name:       svc.Place,
		Binary:     ws.UWSGI,
		Module:     ws.Module,
		Object:     ws.Object,
		PythonPath: ws.PythonPath,
		Chdir:      ws.Chdir,
		Processes:  ws.Processes,
		Threads:    ws.Threads,
		Env:        sortedEnv(ws.Env),
		// Crossbar's worker options.env: inherit everything (the default), nothing, or a list.
		RestrictEnv: !ws.WorkerEnv.InheritAll,
		Inherit:     ws.WorkerEnv.Inherit,
		ExtraArgs:   ws.UWSGIArgs,
		Persistent:  ws.Persistent,
		// A directory per launch: a uwsgi started by a reload must not share the socket path
		// of the one it replaces while that one drains.
		RuntimeDir: filepath.Join(g.runtimeDir, strconv.Itoa(g.launchSeq)),
		ConfigKey:  svc.Place,
		OnRestart:  g.metrics.restarts(svc.Place).Inc,
		Timing:     g.launchTiming,
	}
	g.launchSeq++
	sup, err := launch.New(spec, g.log)
	if err != nil {
		return nil, err
	}
	// uwsgi may take up to its StartTimeout (g.launchTiming) to import the app and answer. g.mu is given
	// up meanwhile (g.building keeps other builds out), so that Shutdown and Addrs do not
	// wait behind it; Shutdown ends g.life, which ends ctx, which abandons the launch.
	g.mu.Unlock()
	err = sup.Start(ctx)
	if err == nil && g.life.Err() != nil {
		err = errShuttingDown
	}
	if err != nil {
		_ = sup.Stop(g.stopTimeout) // tears down what a failed Start left; at once when nothing runs
		g.mu.Lock()
		if g.shutdowned {
			return nil, errShuttingDown
		}
		return nil, fmt.Errorf("%s: %w", svc.Place, err)
	}
	g.mu.Lock()
	if g.shutdowned { // Shutdown came while it started: it did not see this one
		g.mu.Unlock()
		_ = sup.Stop(g.stopTimeout)
		g.mu.Lock()
		return nil, errShuttingDown
	}
	l := &launched{key: key, sup: sup, used: true}
	if ws.Persistent {
		var ok bool
		if l.persist, ok = newPersistPool(sup.PersistentSocket(), sup.Workers()); !ok {
			_ = sup.Stop(g.stopTimeout)
			return nil, fmt.Errorf("%s: persistent uwsgi socket path %q is too long", svc.Place, sup.PersistentSocket())
		}
	}
	g.launched[key] = l
	return l, nil
}

// stopUnused stops every launched uwsgi not used by the current configuration (all of them
// when keep is nil).
func (g *Gateway) stopUnused(keep map[string]bool) {
	for key, l := range g.launched {
		if keep != nil && l.used {
			continue
		}
		if l.persist != nil {
			l.persist.close()
		}
		if err := l.sup.Stop(g.stopTimeout); err != nil {
			g.log.Warn("stopping uwsgi", "uwsgi", l.sup.Upstream(), "error", err)
		}
		delete(g.launched, key)
	}
}

// launchedSupervisors lists the uwsgi servers this gateway supervises (for tests and status).
func (g *Gateway) launchedSupervisors() []*launch.Supervisor {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*launch.Supervisor, 0, len(g.launched))
	for _, l := range g.launched {
		out = append(out, l.sup)
	}
	return out
}
