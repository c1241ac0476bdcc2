package gateway

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"portico/config"
)

// drainBound is how long a replaced uwsgi may finish its in-flight requests after a reload.
const drainBound = 30 * time.Second

// Reload swaps in the path tables of node. Listeners stay as they are: a change of endpoints
// is refused (it needs a restart). A launched uwsgi whose settings did not change keeps
// running; a changed one is started anew first, the table switched to it, and the old one
// stopped once its requests are done. On any error the running configuration is untouched.
func (g *Gateway) Reload(node *config.Node) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutdowned {
		return fmt.Errorf("shutting down")
	}
	if !reflect.DeepEqual(processWorkers(node), processWorkers(g.node)) {
		return fmt.Errorf("reload: guest or container workers, or router components, changed; restart Portico to apply it")
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
	for _, s := range g.servers {
		t, ok := byPlace[s.where]
		if !ok || !reflect.DeepEqual(t.Endpoint, s.ep) {
			return fmt.Errorf("reload: %s.endpoint changed; restart Portico to apply it", s.where)
		}
		if t.Type != s.kind {
			return fmt.Errorf("reload: %s.type changed from %q to %q; restart Portico to apply it", s.where, s.kind, t.Type)
		}
	}

	before := map[string]bool{}
	for k, l := range g.launched {
		before[k] = l.used
	}
	tables, err := g.build(context.Background(), node)
	if err != nil {
		// Undo: stop what this attempt launched, restore the marks.
		for k, l := range g.launched {
			if used, ok := before[k]; ok {
				l.used = used
				continue
			}
			_ = l.sup.Stop(stopTimeout)
			delete(g.launched, k)
		}
		return err
	}
	var old []*pathTable
	for _, s := range g.servers {
		old = append(old, s.table.Swap(tables[s.where]))
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
	go g.retire(old, retired)
	return nil
}

func (g *Gateway) retire(old []*pathTable, retired []*launched) {
	deadline := time.Now().Add(drainBound)
	for _, tab := range old {
		for _, svc := range tab.services {
			// A bridge request in flight (a call waiting for its callee) ends on the old
			// service's session, which closing would cut.
			if b, ok := svc.(*bridgeService); ok {
				for b.inflight.Load() > 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if w, ok := svc.(*wsgiService); ok {
				for _, u := range w.bal.ups {
					for u.load() > 0 && time.Now().Before(deadline) {
						time.Sleep(20 * time.Millisecond)
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
		if err := l.sup.Stop(stopTimeout); err != nil {
			g.log.Warn("stopping replaced uwsgi", "uwsgi", l.sup.Upstream(), "error", err)
		}
	}
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
