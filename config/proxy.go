package config

import (
	"net"
	"slices"
	"strconv"
	"strings"
)

// Crossbar's proxy worker (crossbar/worker/proxy.py) accepts client sessions on its own
// transports and forwards each to a router worker over a backend connection: `connections`
// (id -> {transport, auth}) say how to reach the routers, `routes` (realm -> role ->
// connection id, or a list of them) which (realm, role) goes where; a session whose pair has no
// route is refused. node.py starts the connections, then the routes, then the transports.
//
// Portico is one process: when the connections lead to a router worker of this node, the proxy
// worker's transports are served by that worker's router directly (the hop Crossbar needs
// between processes does not exist), with its realms, roles and authentication as configured
// on the proxy's transports. A connection to anything else (another host, a port no router
// worker of this node listens on) is not supported yet.

// proxyWorker is what resolveProxies needs of a decoded proxy worker.
type proxyWorker struct {
	conns  map[string]*proxyConn
	routes []proxyRoute
	line   int
}

// proxyConn is one backend connection: where it connects.
type proxyConn struct {
	place string
	line  int
	unix  string // a unix socket path, or
	host  string // a tcp host and port
	port  int
}

// proxyRoute is one (realm, role) -> connection of `routes`.
type proxyRoute struct {
	realm, role, conn, place string
	line                     int
}

// decodeProxy reads a proxy worker's `connections` and `routes` (its options and transports
// are read as a router worker's).
func (d *decoder) decodeProxy(o *obj, place, dir string) {
	pw := &proxyWorker{conns: map[string]*proxyConn{}, line: o.line()}
	if d.proxies == nil {
		d.proxies = map[string]*proxyWorker{}
	}
	d.proxies[place] = pw
	if cv, cp := o.take("connections"); cv != nil && cv.kind != kNull {
		if cv.kind != kMap {
			d.add(cv.line, cp, "want an object of connection id -> connection, got %s", cv.kind)
		}
		for _, e := range cv.keys {
			ep := childPlace(cp, e.key)
			if e.val.line == 0 {
				e.val.line = e.line
			}
			pw.conns[e.key] = d.decodeProxyConn(e.val, ep, dir)
		}
	}
	if rv, rp := o.take("routes"); rv != nil && rv.kind != kNull {
		if rv.kind != kMap {
			d.add(rv.line, rp, "want an object of realm -> {role: connection id}, got %s", rv.kind)
		}
		for _, re := range rv.keys {
			realmPlace := childPlace(rp, re.key)
			if !validURI(re.key, false) {
				d.add(re.line, realmPlace, "realm name %q is not a valid WAMP URI", re.key)
			}
			if re.val.kind != kMap {
				d.add(re.line, realmPlace, "want an object of role -> connection id, got %s", re.val.kind)
				continue
			}
			for _, ro := range re.val.keys {
				rolePlace := childPlace(realmPlace, ro.key)
				var ids []string
				switch ro.val.kind {
				case kString:
					ids = []string{ro.val.s}
				case kList: // node.py: "used to be a single string, now a list of strings"
					for i, x := range ro.val.list {
						if x.kind != kString {
							d.add(ro.line, indexPlace(rolePlace, i), "want a connection id, got %s", x.kind)
							continue
						}
						ids = append(ids, x.s)
					}
				default:
					d.add(ro.line, rolePlace, "want a connection id or a list of them, got %s", ro.val.kind)
				}
				for _, id := range ids {
					if pw.conns[id] == nil {
						d.add(ro.line, rolePlace, "connection %q is not one of the worker's connections (%s)", id, strings.Join(sortedKeys(pw.conns), ", "))
						continue
					}
					pw.routes = append(pw.routes, proxyRoute{realm: re.key, role: ro.key, conn: id, place: rolePlace, line: ro.line})
				}
			}
		}
	}
	if len(pw.routes) == 0 && !d.failedAt(place) {
		d.add(o.line(), place, "no \"routes\": a proxy worker forwards only the (realm, role) pairs its routes name to its connections, so it would serve no session")
	}
}

// failedAt reports whether a problem was already reported at or below place.
func (d *decoder) failedAt(place string) bool {
	for _, p := range d.probs {
		if p.Path == place || strings.HasPrefix(p.Path, place+".") {
			return true
		}
	}
	return false
}

// decodeProxyConn reads one backend connection: {transport: {type, endpoint, url,
// serializer(s), options}, auth}. Its `auth` (anonymous-proxy, cryptosign-proxy: how the proxy
// vouches for its clients to the router) is accepted: there is no hop to authenticate here.
func (d *decoder) decodeProxyConn(v *value, place, dir string) *proxyConn {
	c := &proxyConn{place: place, line: v.line}
	o := d.object(v, place)
	tv, tp := o.take("transport")
	if tv == nil || tv.kind == kNull {
		d.add(o.line(), place, "missing \"transport\"")
	} else {
		to := d.object(tv, tp)
		if typ, ok := to.str("type"); ok && typ != "rawsocket" && typ != "websocket" {
			xv, xp := to.take("type")
			d.add(xv.line, xp, "transport type %q: want rawsocket or websocket", typ)
		} else if !ok && !to.has("type") {
			d.add(to.line(), tp, "missing \"type\" (rawsocket or websocket)")
		}
		ev, ep := to.take("endpoint")
		if ev == nil || ev.kind == kNull {
			d.add(to.line(), tp, "missing \"endpoint\"")
		} else {
			eo := d.object(ev, ep)
			typ, _ := eo.str("type")
			switch typ {
			case "unix":
				if p, ok := eo.str("path"); ok {
					c.unix = abs(dir, p)
				} else if !eo.has("path") {
					d.add(eo.line(), ep, "missing \"path\"")
				}
				eo.ignore("timeout")
			case "tcp":
				if h, ok := eo.str("host"); ok {
					c.host = h
				} else if !eo.has("host") {
					d.add(eo.line(), ep, "missing \"host\"")
				}
				if !eo.integer("port", 1, 65535, &c.port) && !eo.has("port") {
					d.add(eo.line(), ep, "missing \"port\"")
				}
				eo.ignore("timeout", "version")
				eo.unsupported("tls")
			case "":
				if !eo.has("type") {
					d.add(eo.line(), ep, "missing \"type\" (\"tcp\" or \"unix\")")
				}
			default:
				xv, xp := eo.take("type")
				d.add(xv.line, xp, "endpoint type %q: want \"tcp\" or \"unix\"", typ)
			}
			eo.done()
		}
		// How the proxy would speak to the router: nothing to choose in one process.
		to.ignore("url", "serializer", "serializers", "options")
		to.done()
	}
	if av, ap := o.take("auth"); av != nil && av.kind != kNull {
		ao := d.object(av, ap)
		// The values configure the proxy's side of a hop Portico does not make.
		for _, e := range ao.v.keys {
			if e.key != "anonymous-proxy" && e.key != "cryptosign-proxy" {
				d.add(e.line, childPlace(ap, e.key), "unknown backend authentication %q (want anonymous-proxy or cryptosign-proxy)", e.key)
			}
		}
	}
	o.done()
	return c
}

// proxyAuth is an anonymous-proxy or cryptosign-proxy method of a transport's `auth`: how
// Crossbar's router lets its proxy workers' backend connections vouch for the client behind
// them (crossbar/router/auth/pending.py, proxy.py make_backend_connection).
type proxyAuth struct {
	method, place string
	line          int
}

// resolveProxies gives each proxy worker's transports to the router worker its connections
// lead to, and removes the proxy worker from the node. A transport that proxy workers of this
// node connect to may carry the *-proxy authentication methods: nobody uses them here (the
// proxies' sessions join the router in-process), so they are accepted and offered to no client;
// on any other transport they are not supported yet.
func (d *decoder) resolveProxies(n *Node) {
	targeted := map[string]bool{} // places of the router transports proxy connections lead to
	defer func() {
		for _, pa := range d.proxyAuths {
			at := ""
			for tp := range targeted {
				if strings.HasPrefix(pa.place, tp+".") {
					at = tp
				}
			}
			if at == "" {
				d.add(pa.line, pa.place, "authentication method %q is not supported yet ("+wantMethods+"); it is accepted on a transport that a proxy worker of this node connects to", pa.method)
				continue
			}
			d.warn(pa.line, pa.place, "offered to no client: it lets Crossbar's proxy workers vouch for their clients over a backend connection, and the proxy workers of this node are served by this router in-process, without one")
		}
	}()
	for _, w := range n.Workers {
		if pw := d.proxies[w.Place]; w.Type == "proxy" && pw != nil {
			for _, c := range pw.conns {
				if wi, ti := routerAt(n, c); wi >= 0 {
					targeted[n.Workers[wi].Transports[ti].Place] = true
				}
			}
		}
	}
	for wi := range n.Workers {
		w := &n.Workers[wi]
		if w.Type != "proxy" {
			continue
		}
		pw := d.proxies[w.Place]
		if pw == nil {
			continue
		}
		target := map[string]int{} // connection id -> router worker index
		for _, id := range sortedKeys(pw.conns) {
			c := pw.conns[id]
			ti, _ := routerAt(n, c)
			if ti < 0 {
				d.add(c.line, c.place, "connects to %s, which no router worker of this node listens on: a proxy worker in front of another node's router is not supported yet (Portico serves a proxy worker's transports with a router of its own process)", c.where())
				continue
			}
			target[id] = ti
		}
		ri := -1
		var first proxyRoute
		for _, r := range pw.routes {
			ti, ok := target[r.conn]
			if !ok {
				continue
			}
			if ri >= 0 && ti != ri {
				d.add(r.line, r.place, "leads to %s (connection %q) while %s leads to %s: Portico serves a proxy worker's transports with one router worker's router; routes to several router workers are not supported yet", n.Workers[ti].Place, r.conn, first.place, n.Workers[ri].Place)
				continue
			}
			ri, first = ti, r
		}
		if ri < 0 || d.failedAt(w.Place) {
			continue
		}
		rw := &n.Workers[ri]
		d.checkRoutes(pw, w.Place, rw)
		for _, t := range w.Transports {
			if t.Origin == nil {
				t.Origin = &Origin{}
			}
			t.Origin.Proxy, t.Origin.Router = w.Place, rw.Place
			rw.Transports = append(rw.Transports, t)
		}
	}
	var keep []Worker
	for _, w := range n.Workers {
		if w.Type != "proxy" {
			keep = append(keep, w)
		}
	}
	n.Workers = keep
}

// checkRoutes compares the routes with the realms and roles of the router worker that serves
// the proxy's transports: a routed realm it lacks is an error; realms and roles it has that no
// route names are reachable on the proxy's transports here, while Crossbar's proxy refuses them.
func (d *decoder) checkRoutes(pw *proxyWorker, place string, rw *Worker) {
	if len(rw.Realms) == 0 {
		return // realms are made on a client's first HELLO
	}
	routed := map[string][]string{}
	for _, r := range pw.routes {
		routed[r.realm] = append(routed[r.realm], r.role)
	}
	var unrouted []string
	for _, realm := range rw.Realms {
		roles, ok := routed[realm.Name]
		if !ok {
			unrouted = append(unrouted, "realm "+realm.Name)
			continue
		}
		for _, role := range realm.Roles {
			if !slices.Contains(roles, role.Name) {
				unrouted = append(unrouted, "role "+role.Name+" of realm "+realm.Name)
			}
		}
	}
	for _, r := range pw.routes {
		if !slices.ContainsFunc(rw.Realms, func(x Realm) bool { return x.Name == r.realm }) {
			d.add(r.line, r.place, "realm %q is not a realm of %s, which the connection %q leads to", r.realm, rw.Place, r.conn)
		}
	}
	if len(unrouted) > 0 {
		d.warn(pw.line, place+".routes", "no route for %s: Crossbar's proxy refuses such sessions, while here the proxy's transports are served by %s's router, which admits them as its transports' authentication allows", strings.Join(unrouted, ", "), rw.Place)
	}
}

// routerAt is the index of the router worker and of its transport where c connects, or -1.
func routerAt(n *Node, c *proxyConn) (int, int) {
	for wi, w := range n.Workers {
		if w.Type != "router" {
			continue
		}
		for ti, t := range w.Transports {
			ep := t.Endpoint
			switch {
			case c.unix != "" && ep.Type == "unix" && ep.Path == c.unix:
				return wi, ti
			case c.unix == "" && ep.Type == "tcp" && ep.Port == c.port && ep.Port != 0 && loopback(c.host) && (ep.Interface == "" || loopback(ep.Interface)):
				return wi, ti
			}
		}
	}
	return -1, -1
}

// loopback reports whether host names this machine's loopback interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *proxyConn) where() string {
	if c.unix != "" {
		return c.unix
	}
	return net.JoinHostPort(c.host, strconv.Itoa(c.port))
}
