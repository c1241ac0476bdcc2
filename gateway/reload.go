package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"reflect"
	"time"

	"portico/config"
	"portico/gateway/launch"
)

// drainBound is how long a replaced uwsgi may finish its in-flight requests after a reload.
const drainBound = 30 * time.Second

// Reload swaps in the path tables of node. Listeners stay as they are: a change of endpoints
// is refused (it needs a restart). A launched uwsgi whose settings did not change keeps
// running; a changed one is started anew first, the table switched to it, and the old one
// stopped once its requests are done. On any error the running configuration is untouched.
//
// Reloads run one at a time. While one waits for a new uwsgi to answer, Shutdown is not held
// up: it abandons the reload, which then returns an error.
func (g *Gateway) Reload(node *config.Node) error {
	g.building.Lock()
	defer g.building.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdowned {
		return errShuttingDown
	}
	if !reflect.DeepEqual(processWorkers(node), processWorkers(g.node)) {
		return fmt.Errorf("reload: guest or container workers, or router components, changed; restart Portico to apply it")
	}
	if !reflect.DeepEqual(node.Cluster, g.node.Cluster) {
		// The cluster node lives with the router it spreads (cluster.go).
		return fmt.Errorf("reload: cluster changed; restart Portico to apply it")
	}
	byPlace := map[string]*config.Transport{}
	for i := range node.Workers {
		for j := range node.Workers[i].Transports {
			t := &node.Workers[i].Transports[j]
			byPlace[t.Place] = t
		}
	}
	if len(byPlace) != len(g.servers) {
		return fmt.Errorf("reload: the set of transports changed; restart Portico to apply it")
	}
	// TLS files are read again: a renewed certificate is served from now on; one that
	// does not load refuses the reload and the running one keeps serving.
	tlsNew := map[*server]*tls.Config{}
	for _, s := range g.servers {
		t, ok := byPlace[s.where]
		if !ok || !sameListener(t.Endpoint, s.ep) {
			return fmt.Errorf("reload: %s.endpoint changed; restart Portico to apply it", s.where)
		}
		if t.Type != s.kind {
			return fmt.Errorf("reload: %s.type changed from %q to %q; restart Portico to apply it", s.where, s.kind, t.Type)
		}
		if t.Endpoint.TLS != nil {
			if !reflect.DeepEqual(t.Endpoint.TLS.ACME, s.ep.TLS.ACME) {
				return fmt.Errorf("reload: %s.endpoint.tls.acme changed; restart Portico to apply it", s.where)
			}
			cfg, err := tlsConfig(t.Endpoint.TLS)
			if err != nil {
				return fmt.Errorf("reload: %s.endpoint.tls: %w", s.where, err)
			}
			g.acme.site(s.where).hook(cfg)
			tlsNew[s] = cfg
		}
	}

	before := map[string]bool{}
	for k, l := range g.launched {
		before[k] = l.used
	}
	routers := map[string]bool{}
	for k := range g.routers {
		routers[k] = true
	}
	tables, err := g.build(g.life, node)
	if err != nil {
		if g.shutdowned {
			return err // Shutdown stopped and closed everything
		}
		// Undo: stop what this attempt launched, close the routers it made (build closed
		// its services), restore the marks.
		var stop []*launch.Supervisor
		for k, l := range g.launched {
			if used, ok := before[k]; ok {
				l.used = used
				continue
			}
			stop = append(stop, l.sup)
			delete(g.launched, k)
		}
		for k, r := range g.routers {
			if !routers[k] {
				delete(g.routers, k)
				r.close()
			}
		}
		g.mu.Unlock()
		for _, sup := range stop {
			_ = sup.Stop(g.stopTimeout)
		}
		g.mu.Lock()
		return err
	}
	g.commitSpools()
	var old []*pathTable
	for _, s := range g.servers {
		old = append(old, s.table.Swap(tables[s.where]))
		if cfg := tlsNew[s]; cfg != nil {
			s.tls.Store(cfg)
			s.ep = byPlace[s.where].Endpoint
			logCertificates(g.log, s.where, cfg)
		}
	}
	g.node = node

	// Retire what the new configuration no longer uses, after in-flight requests finish.
	var retired []*launched
	for k, l := range g.launched {
		if !l.used {
			retired = append(retired, l)
			delete(g.launched, k)
		}
	}
	for _, l := range retired {
		g.retiring[l] = true
	}
	g.bg.Go(func() { g.retire(old, retired) })
	return nil
}

// retire closes the replaced tables' services and stops the uwsgi servers no longer used,
// once their in-flight requests are done (drainBound at most). Shutdown waits for it (g.bg)
// and cuts its wait short (g.life).
func (g *Gateway) retire(old []*pathTable, retired []*launched) {
	drained, cancel := context.WithTimeout(g.life, drainBound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, tab := range old {
		for _, svc := range tab.services {
			// A bridge request in flight (a call waiting for its callee) ends on the old
			// service's session, which closing would cut.
			if b, ok := svc.(*bridgeService); ok {
				for b.inflight.Load() > 0 && drained.Err() == nil {
					select {
					case <-tick.C:
					case <-drained.Done():
					}
				}
			}
			if w, ok := svc.(*wsgiService); ok {
				for _, u := range w.bal.ups {
					for u.load() > 0 && drained.Err() == nil {
						select {
						case <-tick.C:
						case <-drained.Done():
						}
					}
				}
			}
		}
	}
	for _, tab := range old {
		for _, svc := range tab.services {
			svc.close()
		}
	}
	for _, l := range retired {
		g.mu.Lock()
		mine := g.retiring[l]
		delete(g.retiring, l)
		g.mu.Unlock()
		if !mine {
			continue // Shutdown stopped it already
		}
		if err := l.sup.Stop(g.stopTimeout); err != nil {
			g.log.Warn("stopping replaced uwsgi", "uwsgi", l.sup.Upstream(), "error", err)
		}
	}
}

// sameListener reports whether endpoints a and b open the same listener: everything but the
// TLS files and settings, which a reload applies, is the same, and both or neither use TLS.
func sameListener(a, b config.Endpoint) bool {
	if (a.TLS == nil) != (b.TLS == nil) {
		return false
	}
	a.TLS, b.TLS = nil, nil
	return reflect.DeepEqual(a, b)
}

// processWorkers is what of node shapes the worker processes (guests, containers, router
// components): a reload keeps those processes as they are, so it refuses to change it.
func processWorkers(node *config.Node) []config.Worker {
	var out []config.Worker
	for _, w := range node.Workers {
		switch {
		case w.Type == "guest" || w.Type == "container":
			out = append(out, w)
		case len(w.Components) > 0:
			out = append(out, config.Worker{Place: w.Place, Type: w.Type, Options: w.Options, Components: w.Components})
		}
	}
	return out
}
