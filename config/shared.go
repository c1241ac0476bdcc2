package config

import (
	"fmt"
	"strconv"
)

// Crossbar's `"shared": true` on a tcp endpoint lets several router workers (processes) accept
// on one port (SO_REUSEPORT, crossbar/common/twisted/endpoint.py): that is how a Crossbar node
// uses more than one core. Each of those workers runs its own router with its own copy of the
// realms, and the kernel hands a client to one of them by chance. Portico is one process that
// already uses every core: it serves such a port once, with one router. That is the same
// service only when the workers sharing the port are copies of each other (same transport, same
// realms, same router components), as Crossbar's examples write them; mergeShared checks that
// and folds the copies into the first worker, or says precisely what differs.

// remember keeps the source of a worker's part (a transport, its realms, its components), for
// the comparisons mergeShared makes after decoding.
func (d *decoder) remember(place string, v *value) {
	if d.raws == nil {
		d.raws = map[string]*value{}
	}
	d.raws[place] = v
}

// rememberKey remembers the value of key of o, if present, as place.key.
func (d *decoder) rememberKey(o *obj, place, key string) {
	if e := o.v.get(key); e != nil {
		d.remember(childPlace(place, key), e.val)
	}
}

// mergeShared folds each router worker whose "shared" transports repeat an earlier worker's
// on the same port into that worker: the repeated transports are served once (Origin.SharedWith
// names them), its other transports move to that worker's router, its realms and router
// components (equal to that worker's) are that worker's.
func (d *decoder) mergeShared(n *Node) {
	type at struct{ w, t int }
	firsts := map[string]at{}
	target := make([]int, len(n.Workers)) // the worker a worker merges into, or -1
	for i := range target {
		target[i] = -1
	}
	root := func(w int) int {
		for target[w] >= 0 {
			w = target[w]
		}
		return w
	}
	dup := map[at]at{} // a repeated transport -> the one that serves its port
	bad := map[int]bool{}
	for wi := range n.Workers {
		w := &n.Workers[wi]
		if w.Type != "router" && w.Type != "proxy" && w.Type != "websocket-testee" {
			continue
		}
		for ti := range w.Transports {
			t := &w.Transports[ti]
			ep := t.Endpoint
			if !ep.Shared || ep.Type != "tcp" || ep.Port == 0 {
				continue
			}
			key := ep.Interface + "|" + strconv.Itoa(ep.Port)
			f, ok := firsts[key]
			if !ok {
				firsts[key] = at{wi, ti}
				continue
			}
			if f.w == wi {
				continue // two transports of one worker on one port: crossChecks says so
			}
			ft := &n.Workers[f.w].Transports[f.t]
			line := d.lineOf(t.Place)
			if diff := rawDiff(d.raws[ft.Place], d.raws[t.Place], ""); diff != "" {
				d.add(line, t.Place, "shares %s with %s (\"shared\": true) but differs from it at %s: Portico serves a shared port once, with one router that uses every core, so the transports on it must be the same (make them equal, or give this one its own port)", where(ep.Interface, strconv.Itoa(ep.Port)), ft.Place, diff)
				bad[wi] = true
				continue
			}
			r := root(f.w)
			switch {
			case n.Workers[r].Type != w.Type:
				d.add(line, t.Place, "shares %s with %s, a %s worker's, while this is a %s worker's: Portico serves a shared port once, by one worker", where(ep.Interface, strconv.Itoa(ep.Port)), ft.Place, n.Workers[r].Type, w.Type)
				bad[wi] = true
				continue
			case r == wi:
				continue // a worker repeating itself through another worker: nothing to fold
			case target[wi] >= 0 && root(target[wi]) != r:
				d.add(line, t.Place, "shares %s with %s, while other transports of %s share ports with %s: Portico can fold %s into one router worker only", where(ep.Interface, strconv.Itoa(ep.Port)), ft.Place, w.Place, n.Workers[root(target[wi])].Place, w.Place)
				bad[wi] = true
				continue
			}
			target[wi] = r
			dup[at{wi, ti}] = f
		}
		if target[wi] < 0 || bad[wi] {
			continue
		}
		r := &n.Workers[root(wi)]
		parts := []struct{ key, what, why string }{
			{"realms", "realms", "Crossbar gives each worker sharing a port its own router, so a client on the port meets one set of realms or the other by chance; Portico serves the port with one router, which has one set"},
			{"components", "router components", "Portico runs the components of the one router that serves the port once"},
		}
		switch w.Type {
		case "websocket-testee":
			parts = nil // one echoing transport: nothing else to agree on
		case "proxy":
			parts = []struct{ key, what, why string }{
				{"routes", "routes", "Crossbar forwards a client on the port by one worker's routes or the other's, by chance; Portico serves the port once"},
				{"connections", "connections", "Portico serves the port once, by the router the connections lead to"},
			}
		}
		for _, part := range parts {
			if diff := rawDiff(d.raws[childPlace(r.Place, part.key)], d.raws[childPlace(w.Place, part.key)], part.key); diff != "" {
				line := d.lineOf(childPlace(w.Place, part.key))
				if line == 0 {
					line = d.lineOf(w.Place)
				}
				d.add(line, childPlace(w.Place, part.key), "%s differ from %s's at %s while the two workers share a port: %s. Make them the same, or give the workers their own ports", part.what, r.Place, diff, part.why)
				bad[wi] = true
			}
		}
	}
	var keep []Worker
	for wi := range n.Workers {
		w := &n.Workers[wi]
		if target[wi] < 0 || bad[wi] {
			continue
		}
		r := &n.Workers[root(wi)]
		for ti := range w.Transports {
			f, ok := dup[at{wi, ti}]
			if !ok {
				// Served by the router the worker is folded into: the realms are the same.
				r.Transports = append(r.Transports, w.Transports[ti])
				continue
			}
			ft := &n.Workers[f.w].Transports[f.t]
			if ft.Origin == nil {
				ft.Origin = &Origin{}
			}
			ft.Origin.SharedWith = append(ft.Origin.SharedWith, w.Transports[ti].Place)
		}
	}
	for wi := range n.Workers {
		if target[wi] < 0 || bad[wi] {
			keep = append(keep, n.Workers[wi])
		}
	}
	n.Workers = keep
}

// lineOf is the line a remembered part starts on.
func (d *decoder) lineOf(place string) int {
	if v := d.raws[place]; v != nil {
		return v.line
	}
	return d.lines[place]
}

// rawDiff returns the first key path below at where a and b differ, or "" when they are the same.
func rawDiff(a, b *value, at string) string {
	here := at
	if here == "" {
		here = "(the whole value)"
	}
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return here
	}
	if a.kind != b.kind {
		return here
	}
	switch a.kind {
	case kBool:
		if a.b != b.b {
			return here
		}
	case kInt:
		if a.i != b.i {
			return here
		}
	case kFloat:
		if a.f != b.f {
			return here
		}
	case kString:
		if a.s != b.s {
			return here
		}
	case kList:
		for i := 0; i < len(a.list) && i < len(b.list); i++ {
			if d := rawDiff(a.list[i], b.list[i], indexPlace(at, i)); d != "" {
				return d
			}
		}
		if len(a.list) != len(b.list) {
			return fmt.Sprintf("%s (%d elements against %d)", here, len(b.list), len(a.list))
		}
	case kMap:
		for _, e := range a.keys {
			o := b.get(e.key)
			if o == nil {
				return childPlace(at, e.key) + " (missing here)"
			}
			if d := rawDiff(e.val, o.val, childPlace(at, e.key)); d != "" {
				return d
			}
		}
		for _, e := range b.keys {
			if a.get(e.key) == nil {
				return childPlace(at, e.key) + " (only here)"
			}
		}
	}
	return ""
}
