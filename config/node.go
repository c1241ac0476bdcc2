package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Crossbar types Portico recognises but does not serve yet: naming them gives a better message
// than "unknown type" to someone bringing a Crossbar node over.
var (
	unsupportedWorkers    = []string{"container", "guest", "proxy", "xbrmm", "marketmaker", "hub"}
	unsupportedTransports = []string{"websocket", "rawsocket", "universal", "mqtt", "flashpolicy", "stream", "websocket-testee", "stream-testee"}
	unsupportedServices   = []string{"reverseproxy", "websocket-reverseproxy", "resource", "nodeinfo", "publisher", "caller", "webhook", "longpoll", "upload", "cgi", "fileupload", "schemadoc", "wap", "archive", "mqtt", "rawsocket"}
)

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// decodeNode decodes a whole node from the tree. dir is the absolute node directory that
// relative paths are resolved against.
func (d *decoder) decodeNode(root *value, dir string) *Node {
	n := &Node{Dir: dir, Version: 2}
	o := d.object(root, "")
	if v, p := o.take("version"); v != nil && v.kind != kNull {
		if ver, ok := d.intValue(v, p); ok {
			if ver != 2 {
				d.add(v.line, p, "version %d is not supported: Portico reads Crossbar node configuration version 2 (`crossbar upgrade` converts older ones)", ver)
			}
		}
	}
	if v, p := o.take("controller"); v != nil && v.kind != kNull {
		c := d.object(v, p)
		if id, ok := c.str("id"); ok {
			n.Controller.ID = id
		}
		// The controller's own options (title, shutdown triggers, ...) steer Crossbar's
		// separate controller process, which Portico does not have.
		c.ignore("options", "extra")
		c.unsupported("manhole", "fabric", "transport", "connections")
		c.done()
	}
	// `crossbar init` writes "$schema" (the JSON schema URL, for editors) at the top.
	o.ignore("$schema")
	ws, wp := o.list("workers")
	for i, w := range ws {
		if wk, ok := d.decodeWorker(w, elemPlace(w, wp, i), dir); ok {
			n.Workers = append(n.Workers, wk)
		}
	}
	if len(n.Workers) == 0 && len(d.probs) == 0 {
		d.add(root.line, "workers", "no router worker: nothing would be served")
	}
	o.done()
	d.crossChecks(n)
	return n
}

func (d *decoder) decodeWorker(v *value, place, dir string) (Worker, bool) {
	w := Worker{Place: place}
	if v.place != "" {
		w.Place = v.place
		place = v.place
	}
	o := d.object(v, place)
	typ, ok := o.str("type")
	switch {
	case !ok:
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (Portico serves \"router\" workers)")
		}
		return w, false
	case contains(unsupportedWorkers, typ):
		d.add(o.line(), place, "worker type %q is not supported yet (Portico serves \"router\" workers)", typ)
		return w, false
	case typ != "router":
		d.add(o.line(), place, "unknown worker type %q (want \"router\")", typ)
		return w, false
	}
	w.Type = typ
	if id, ok := o.str("id"); ok {
		w.ID = id
	}
	w.Options.Env.InheritAll = true // Crossbar's default, also without any options
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		d.decodeWorkerOptions(ov, op, dir, &w.Options)
	}
	rs, rp := o.list("realms")
	for i, r := range rs {
		w.Realms = append(w.Realms, d.decodeRealm(r, elemPlace(r, rp, i)))
	}
	ts, tp := o.list("transports")
	for i, t := range ts {
		if tr, ok := d.decodeTransport(t, elemPlace(t, tp, i), dir, &w); ok {
			w.Transports = append(w.Transports, tr)
		}
	}
	if cs, cp := o.list("components"); len(cs) > 0 {
		d.add(cs[0].line, cp, "router components are not supported yet (run them as separate WAMP clients)")
	}
	o.unsupported("connections")
	o.done()
	return w, true
}

func (d *decoder) decodeWorkerOptions(v *value, place, dir string, wo *WorkerOptions) {
	o := d.object(v, place)
	if t, ok := o.str("title"); ok {
		wo.Title = t
	}
	if pp, ok := o.strList("pythonpath", false); ok {
		for _, p := range pp {
			wo.PythonPath = append(wo.PythonPath, abs(dir, p))
		}
	}
	wo.Env = Env{InheritAll: true}
	if ev, ep := o.take("env"); ev != nil && ev.kind != kNull {
		e := d.object(ev, ep)
		if iv, ip := e.take("inherit"); iv != nil {
			switch iv.kind {
			case kBool:
				wo.Env.InheritAll = iv.b
			case kList:
				wo.Env.InheritAll = false
				for i, x := range iv.list {
					if x.kind != kString {
						d.add(x.line, indexPlace(ip, i), "want a variable name, got %s", x.kind)
						continue
					}
					wo.Env.Inherit = append(wo.Env.Inherit, x.s)
				}
			default:
				d.add(iv.line, ip, "want true, false or a list of variable names, got %s", iv.kind)
			}
		}
		if vars, ok := e.strMap("vars"); ok {
			wo.Env.Vars = vars
		}
		e.done()
	}
	// Twisted and process options of Crossbar's native workers; Portico is one Go process.
	o.ignore("reactor", "python", "cpu_affinity", "expose_controller", "expose_shared", "disabled", "extra")
	o.done()
}

func (d *decoder) decodeRealm(v *value, place string) Realm {
	r := Realm{Place: place}
	o := d.object(v, place)
	name, ok := o.str("name")
	if !ok && !o.has("name") {
		d.add(o.line(), place, "missing \"name\"")
	}
	if ok {
		nv, np := o.take("name")
		if !validURI(name, false) {
			d.add(nv.line, np, "realm name %q is not a valid WAMP URI (dot-separated components without spaces or '#')", name)
		}
		r.Name = name
	}
	rs, rp := o.list("roles")
	for i, rv := range rs {
		r.Roles = append(r.Roles, d.decodeRole(rv, elemPlace(rv, rp, i)))
	}
	o.unsupported("store")
	o.ignore("options")
	o.done()
	return r
}

func (d *decoder) decodeRole(v *value, place string) Role {
	r := Role{Place: place}
	o := d.object(v, place)
	if name, ok := o.str("name"); ok {
		r.Name = name
	} else if !o.has("name") {
		d.add(o.line(), place, "missing \"name\"")
	}
	ps, pp := o.list("permissions")
	for i, pv := range ps {
		r.Permissions = append(r.Permissions, d.decodePermission(pv, elemPlace(pv, pp, i)))
	}
	o.unsupported("authorizer")
	o.done()
	return r
}

func (d *decoder) decodePermission(v *value, place string) Permission {
	p := Permission{Place: place}
	o := d.object(v, place)
	uri, hasURI := o.str("uri")
	if !hasURI && !o.has("uri") {
		d.add(o.line(), place, "missing \"uri\"")
	}
	p.URI = uri
	if m, ok := o.str("match"); ok {
		mv, mp := o.take("match")
		if d.oneOf(mv.line, mp, "match", m, "exact", "prefix", "wildcard") {
			p.Match = m
		}
	} else if uri == "" || strings.HasSuffix(uri, ".") {
		// Crossbar: a URI that is empty or ends in "." is a prefix pattern.
		p.Match = "prefix"
	} else {
		p.Match = "exact"
	}
	if hasURI && p.Match != "" {
		uv, up := o.take("uri")
		ok := true
		switch p.Match {
		case "exact":
			ok = validURI(uri, false)
		case "prefix":
			ok = uri == "" || validURI(strings.TrimSuffix(uri, "."), false)
		case "wildcard":
			ok = validURI(uri, true)
		}
		if !ok {
			d.add(uv.line, up, "%q is not a valid WAMP URI for match %q", uri, p.Match)
		}
	}
	if av, ap := o.take("allow"); av != nil && av.kind != kNull {
		a := d.object(av, ap)
		a.boolean("call", &p.Allow.Call)
		a.boolean("register", &p.Allow.Register)
		a.boolean("publish", &p.Allow.Publish)
		a.boolean("subscribe", &p.Allow.Subscribe)
		a.done()
	}
	if dv, dp := o.take("disclose"); dv != nil && dv.kind != kNull {
		dd := d.object(dv, dp)
		dd.boolean("caller", &p.Disclose.Caller)
		dd.boolean("publisher", &p.Disclose.Publisher)
		dd.done()
	}
	p.Cache = true // Crossbar's default
	o.boolean("cache", &p.Cache)
	o.done()
	return p
}

// validURI checks a WAMP URI by the loose rules of the WAMP spec ("URIs", loose pattern
// ^([^\s\.#]+\.)*([^\s\.#]+)$); a pattern may have empty components (wildcard matching).
func validURI(u string, pattern bool) bool {
	if u == "" {
		return false
	}
	for _, c := range strings.Split(u, ".") {
		if c == "" {
			if pattern {
				continue
			}
			return false
		}
		if strings.ContainsAny(c, " \t\r\n#") {
			return false
		}
	}
	return true
}

// abs resolves p against the node directory.
func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func (d *decoder) decodeTransport(v *value, place, dir string, w *Worker) (Transport, bool) {
	t := Transport{Place: place}
	if v.place != "" {
		t.Place, place = v.place, v.place
	}
	o := d.object(v, place)
	typ, ok := o.str("type")
	switch {
	case !ok:
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (Portico serves \"web\" transports)")
		}
		return t, false
	case contains(unsupportedTransports, typ):
		d.add(o.line(), place, "transport type %q is not supported yet (Portico serves \"web\" transports; a websocket service on a web transport path serves WAMP)", typ)
		return t, false
	case typ != "web":
		d.add(o.line(), place, "unknown transport type %q (want \"web\")", typ)
		return t, false
	}
	t.Type = typ
	if id, ok := o.str("id"); ok {
		t.ID = id
	}
	ev, ep := o.take("endpoint")
	if ev == nil || ev.kind == kNull {
		d.add(o.line(), place, "missing \"endpoint\"")
	} else {
		t.Endpoint = d.decodeEndpoint(ev, ep, dir)
		d.lines[ep] = ev.line
	}
	t.Options = defaultWebOptions()
	ov, op := o.take("options")
	if ov != nil && ov.kind != kNull {
		d.decodeWebOptions(ov, op, &t.Options)
		if t.Options.SpoolDir != "" {
			t.Options.SpoolDir = abs(dir, t.Options.SpoolDir)
		}
	}
	pv, pp := o.take("paths")
	if pv == nil || pv.kind == kNull {
		d.add(o.line(), place, "missing \"paths\"")
	} else {
		t.Paths = d.decodePaths(pv, pp, dir, w, true)
		d.inheritBodyOptions(t.Paths, &t.Options, ov, op)
	}
	o.done()
	return t, true
}

// inheritBodyOptions gives wsgi paths that did not set them the transport's max_body_size and
// request_buffering, and checks that one body at a path's bound fits the spool bounds:
// otherwise a lone upload would be refused by a bound meant for many.
func (d *decoder) inheritBodyOptions(paths map[string]*Service, wo *WebOptions, ov *value, op string) {
	optLine := 0
	if ov != nil {
		optLine = ov.line
	}
	if ov != nil {
		switch {
		case wo.MaxSpoolSize > 0 && wo.MaxSpoolPerClient > wo.MaxSpoolSize:
			d.add(optLine, op+".max_spool_per_client", "%d is above max_spool_size %d: raise max_spool_size", wo.MaxSpoolPerClient, wo.MaxSpoolSize)
		case wo.MaxSpoolSize > 0 && wo.MaxSpoolPerClient == 0:
			d.add(optLine, op+".max_spool_per_client", "0 (unlimited) while max_spool_size is %d: one client could take the whole spool; set a bound, or make both 0", wo.MaxSpoolSize)
		}
	}
	d.inheritPaths(paths, wo, optLine, op)
}

func (d *decoder) inheritPaths(paths map[string]*Service, wo *WebOptions, optLine int, op string) {
	for _, svc := range paths {
		if svc == nil {
			continue
		}
		if svc.Paths != nil {
			d.inheritPaths(svc.Paths, wo, optLine, op)
		}
		w := svc.WSGI
		if w == nil {
			continue
		}
		line := optLine
		if w.bodySizeSet {
			line = d.lines[svc.Place]
		} else {
			w.MaxBodySize = wo.MaxBodySize
		}
		if !w.bufferingSet {
			w.RequestBuffering = wo.RequestBuffering
		}
		if lim := wo.MaxSpoolPerClient; lim > 0 && w.MaxBodySize > lim {
			d.add(line, svc.Place+".max_body_size", "%d is above the transport's max_spool_per_client %d, so one such body would be refused: raise %s.max_spool_per_client (and max_spool_size), or lower max_body_size", w.MaxBodySize, lim, op)
		}
	}
}

func (d *decoder) decodeEndpoint(v *value, place, dir string) Endpoint {
	var e Endpoint
	o := d.object(v, place)
	typ, ok := o.str("type")
	if !ok {
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (\"tcp\" or \"unix\")")
		}
		o.ignore("port", "interface", "backlog", "version", "tls", "path", "shared", "user_timeout")
		o.done()
		return e
	}
	e.Type = typ
	switch typ {
	case "tcp":
		if !o.integer("port", 0, 65535, &e.Port) && !o.has("port") {
			d.add(o.line(), place, "missing \"port\"")
		}
		if iface, ok := o.str("interface"); ok {
			iv, ip := o.take("interface")
			if net.ParseIP(iface) == nil && iface != "localhost" {
				d.add(iv.line, ip, "%q is not an IP address", iface)
			}
			e.Interface = iface
		}
		e.Version = 4
		if strings.Contains(e.Interface, ":") {
			e.Version = 6
		}
		if o.has("version") {
			vv, vp := o.take("version")
			if n, ok := d.intValue(vv, vp); ok {
				if n != 4 && n != 6 {
					d.add(vv.line, vp, "IP version %d: want 4 or 6", n)
				} else {
					e.Version = int(n)
				}
			}
		}
		o.integer("backlog", 1, 65535, &e.Backlog)
		if tv, tp := o.take("tls"); tv != nil && tv.kind != kNull {
			e.TLS = d.decodeTLS(tv, tp, dir)
		}
		o.ignore("shared", "user_timeout")
	case "unix":
		if p, ok := o.str("path"); ok {
			e.Path = abs(dir, p)
		} else if !o.has("path") {
			d.add(o.line(), place, "missing \"path\"")
		}
	default:
		tv, tp := o.take("type")
		d.add(tv.line, tp, "endpoint type %q is not supported (want \"tcp\" or \"unix\")", typ)
		o.ignore("port", "interface", "backlog", "version", "tls", "path", "shared", "user_timeout")
	}
	o.done()
	return e
}

func (d *decoder) decodeTLS(v *value, place, dir string) *TLS {
	t := &TLS{}
	o := d.object(v, place)
	for _, k := range []struct {
		key string
		dst *string
	}{{"key", &t.Key}, {"certificate", &t.Certificate}} {
		s, ok := o.str(k.key)
		if !ok {
			if !o.has(k.key) {
				d.add(o.line(), place, "missing %q", k.key)
			}
			continue
		}
		*k.dst = abs(dir, s)
		if _, err := os.Stat(*k.dst); err != nil {
			kv, kp := o.take(k.key)
			d.add(kv.line, kp, "%s", statMsg(err, *k.dst))
		}
	}
	o.unsupported("ca_certificates", "chain_certificates", "dhparam", "ciphers", "curve")
	o.done()
	return t
}

func statMsg(err error, path string) string {
	if os.IsNotExist(err) {
		return fmt.Sprintf("%s does not exist", path)
	}
	return err.Error()
}

func defaultWebOptions() WebOptions {
	return WebOptions{
		HSTSMaxAge:        31536000,
		MaxHeaderSize:     DefaultMaxHeaderSize,
		HeaderReadTimeout: 60 * time.Second,
		BodyReadTimeout:   60 * time.Second,
		IdleTimeout:       75 * time.Second,
		WriteTimeout:      60 * time.Second,
		MaxBodySize:       DefaultMaxBodySize,
		RequestBuffering:  true,
		MaxSpoolSize:      DefaultMaxSpoolSize,
		MaxSpoolPerClient: DefaultMaxSpoolPerClient,
	}
}

// Request body defaults. nginx bounds one body at 1m (client_max_body_size) and nothing else;
// Crossbar bounds nothing. 100m lets apps take photos, documents and short videos without
// configuration, while one request cannot fill the disk; it is also the largest upload
// Cloudflare's free and pro plans pass, a bound many public apps already live with. The spool
// bounds cap what every body being read takes together: 2g is twenty bodies at the default
// bound, small beside a disk, and 512m per client lets one address send five at once.
const (
	DefaultMaxBodySize       = 100 << 20
	DefaultMaxSpoolSize      = 2 << 30
	DefaultMaxSpoolPerClient = 512 << 20
)

// DefaultMaxTempFileSize bounds the spool file of one buffered response, as nginx's
// uwsgi_max_temp_file_size default.
const DefaultMaxTempFileSize = 1 << 30

// DefaultMaxHeaderSize is the default bound on a request's header block. nginx's default
// (client_header_buffer_size 1k, large_client_header_buffers 4 8k) admits 8 KiB per line;
// Portico bounds the whole block with one buffer, which fasthttp allocates per connection, so
// 16 KiB leaves room for large cookies without the cost of fasthttp's 64 KiB ceiling.
const DefaultMaxHeaderSize = 16 << 10

func (d *decoder) decodeWebOptions(v *value, place string, wo *WebOptions) {
	o := d.object(v, place)
	o.boolean("access_log", &wo.AccessLog)
	o.boolean("display_tracebacks", &wo.DisplayTracebacks)
	o.boolean("hsts", &wo.HSTS)
	o.integer("hsts_max_age", 0, 1<<31-1, &wo.HSTSMaxAge)
	var n int64
	if o.size("max_header_size", &n) {
		if n < 1024 || n > 1<<20 {
			mv, mp := o.take("max_header_size")
			d.add(mv.line, mp, "%d bytes is out of range [1 KiB, 1 MiB]", n)
		} else {
			wo.MaxHeaderSize = int(n)
		}
	}
	o.duration("header_read_timeout", &wo.HeaderReadTimeout)
	o.duration("body_read_timeout", &wo.BodyReadTimeout)
	o.duration("idle_timeout", &wo.IdleTimeout)
	o.duration("write_timeout", &wo.WriteTimeout)
	o.integer("max_connections", 0, 1<<31-1, &wo.MaxConnections)
	o.size("max_body_size", &wo.MaxBodySize)
	o.boolean("request_buffering", &wo.RequestBuffering)
	if sd, ok := o.str("spool_dir"); ok {
		wo.SpoolDir = sd
	}
	o.size("max_spool_size", &wo.MaxSpoolSize)
	o.size("max_spool_per_client", &wo.MaxSpoolPerClient)
	if tp, ok := o.strList("trusted_proxies", true); ok {
		tv, tpp := o.take("trusted_proxies")
		for i, s := range tp {
			if net.ParseIP(s) == nil {
				if _, _, err := net.ParseCIDR(s); err != nil {
					d.add(tv.line, indexPlace(tpp, i), "%q is not an IP address or CIDR", s)
					continue
				}
			}
			wo.TrustedProxies = append(wo.TrustedProxies, s)
		}
	}
	// Twisted web options without a Portico meaning.
	o.ignore("client_timeout", "hixie76_aware")
	o.done()
}

func (d *decoder) decodePaths(v *value, place, dir string, w *Worker, top bool) map[string]*Service {
	if v.kind != kMap {
		d.add(v.line, place, "want an object of path services, got %s", v.kind)
		return nil
	}
	paths := make(map[string]*Service, len(v.keys))
	for _, e := range v.keys {
		sp := childPlace(place, e.key)
		if e.key != "/" && (e.key == "" || strings.Contains(e.key, "/") || e.key == "." || e.key == "..") {
			d.add(e.line, sp, "path key %q must be one path segment (no \"/\"), or \"/\" for the root; nest deeper paths with type \"path\"", e.key)
			continue
		}
		if e.val.line == 0 {
			e.val.line = e.line
		}
		if svc := d.decodeService(e.val, sp, dir, w); svc != nil {
			paths[e.key] = svc
		}
	}
	if top && v.get("/") == nil {
		d.add(v.line, place, "missing the root service \"/\" (Crossbar requires one)")
	}
	return paths
}

func (d *decoder) decodeService(v *value, place, dir string, w *Worker) *Service {
	s := &Service{Place: place}
	d.lines[place] = v.line
	o := d.object(v, place)
	typ, ok := o.str("type")
	if !ok {
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (wsgi, websocket, static, redirect, json or path)")
			// Name misspelt keys too: "tpye" is likely why the type is missing.
			for _, e := range o.v.keys {
				if !contains(serviceKeys, e.key) {
					d.add(e.line, place, "unknown attribute %q", e.key)
				}
			}
		}
		return nil
	}
	s.Type = typ
	o.boolean("internal", &s.Internal)
	if typ == "path" && s.Internal {
		d.add(o.line(), place+".internal", "a path table cannot be internal: set internal on its services")
	}
	switch typ {
	case "wsgi":
		s.WSGI = d.decodeWSGI(o, place, dir, w)
	case "websocket":
		s.WebSocket = d.decodeWebSocket(o)
	case "static":
		s.Static = d.decodeStatic(o, place, dir)
	case "redirect":
		s.Redirect = d.decodeRedirect(o, place)
	case "json":
		s.JSON = d.decodeJSON(o, place)
	case "path":
		pv, pp := o.take("paths")
		if pv == nil || pv.kind == kNull {
			d.add(o.line(), place, "missing \"paths\"")
		} else {
			s.Paths = d.decodePaths(pv, pp, dir, w, false)
		}
	default:
		tv, tp := o.take("type")
		if contains(unsupportedServices, typ) {
			d.add(tv.line, tp, "service type %q is not supported yet", typ)
		} else {
			d.add(tv.line, tp, "unknown service type %q (want wsgi, websocket, static, redirect, json or path)", typ)
		}
		return nil
	}
	o.done()
	return s
}

func (d *decoder) decodeWSGI(o *obj, place, dir string, w *Worker) *WSGI {
	ws := &WSGI{MinThreads: 5, MaxThreads: 20}
	ws.Module, _ = o.str("module")
	ws.Object, _ = o.str("object")
	o.integer("minthreads", 1, 1024, &ws.MinThreads)
	o.integer("maxthreads", 1, 1024, &ws.MaxThreads)
	if ws.MinThreads > ws.MaxThreads {
		d.add(o.line(), place, "minthreads %d is above maxthreads %d", ws.MinThreads, ws.MaxThreads)
	}
	if uv, up := o.take("upstream"); uv != nil && uv.kind != kNull {
		var elems []*value
		switch uv.kind {
		case kString:
			elems = []*value{uv}
		case kList:
			elems = uv.list
			if len(elems) == 0 {
				d.add(uv.line, up, "empty list: give at least one uwsgi address, or remove \"upstream\" to launch uwsgi")
			}
		default:
			d.add(uv.line, up, "want an address or a list of addresses, got %s", uv.kind)
		}
		for i, e := range elems {
			ip := up
			if uv.kind == kList {
				ip = indexPlace(up, i)
			}
			if e.kind != kString {
				d.add(e.line, ip, "want an address like \"unix:/run/app.sock\" or \"127.0.0.1:3031\", got %s", e.kind)
				continue
			}
			norm, err := normUpstream(dir, e.s)
			if err != nil {
				d.add(e.line, ip, "%v", err)
				continue
			}
			ws.Upstreams = append(ws.Upstreams, norm)
		}
	}
	launched := !o.has("upstream")
	if launched {
		if ws.Module == "" && !o.has("module") {
			d.add(o.line(), place, "missing \"module\" (the Python module of the WSGI app), or set \"upstream\" to a running uwsgi")
		}
		if ws.Object == "" && !o.has("object") {
			d.add(o.line(), place, "missing \"object\" (the WSGI callable in the module, e.g. \"app\"), or set \"upstream\" to a running uwsgi")
		}
	}
	procSet := o.integer("processes", 1, 1024, &ws.Processes)
	threadSet := o.integer("threads", 1, 1024, &ws.Threads)
	if !procSet {
		ws.Processes = 2
	}
	if !threadSet {
		// Crossbar runs the app on a pool of at most maxthreads threads in one process;
		// spread the same number over the uwsgi processes.
		ws.Threads = max(1, ws.MaxThreads/ws.Processes)
	}
	ws.UWSGI = "uwsgi"
	if b, ok := o.str("uwsgi"); ok {
		ws.UWSGI = b
	}
	if a, ok := o.strList("uwsgi_args", false); ok {
		ws.UWSGIArgs = a
	}
	ws.WorkerEnv = w.Options.Env
	if len(w.Options.Env.Vars) > 0 {
		ws.Env = make(map[string]string, len(w.Options.Env.Vars))
		for k, v := range w.Options.Env.Vars {
			ws.Env[k] = v
		}
	}
	if env, ok := o.strMap("env"); ok {
		if ws.Env == nil {
			ws.Env = make(map[string]string, len(env))
		}
		for k, v := range env {
			ws.Env[k] = v
		}
	}
	if !o.integer("max_concurrency", 1, 1<<20, &ws.MaxConcurrency) {
		if launched {
			ws.MaxConcurrency = ws.Processes * ws.Threads
		} else {
			ws.MaxConcurrency = 64
		}
	}
	ws.QueueTimeout, ws.ConnectTimeout, ws.ReadTimeout, ws.SendTimeout = 60*time.Second, 60*time.Second, 60*time.Second, 60*time.Second
	o.duration("queue_timeout", &ws.QueueTimeout)
	o.duration("connect_timeout", &ws.ConnectTimeout)
	o.duration("read_timeout", &ws.ReadTimeout)
	o.duration("send_timeout", &ws.SendTimeout)
	ws.bodySizeSet = o.size("max_body_size", &ws.MaxBodySize)
	ws.bufferingSet = o.has("request_buffering")
	o.boolean("request_buffering", &ws.RequestBuffering)
	ws.Buffering, ws.MaxTempFileSize = true, DefaultMaxTempFileSize
	o.boolean("buffering", &ws.Buffering)
	o.size("max_temp_file_size", &ws.MaxTempFileSize)
	if roots, ok := o.strList("sendfile_roots", false); ok {
		for _, r := range roots {
			ws.SendfileRoots = append(ws.SendfileRoots, abs(dir, r))
		}
	}
	ws.Balance = "round_robin"
	if b, ok := o.str("balance"); ok {
		bv, bp := o.take("balance")
		if d.oneOf(bv.line, bp, "balance", b, "round_robin", "least_conn") {
			ws.Balance = b
		}
	}
	ws.MaxFails = 1
	o.integer("max_fails", 0, 1<<20, &ws.MaxFails)
	ws.FailTimeout = 10 * time.Second
	o.duration("fail_timeout", &ws.FailTimeout)

	ws.PythonPath = w.Options.PythonPath
	switch {
	case len(ws.PythonPath) > 0:
		ws.Chdir = ws.PythonPath[0]
	case filepath.Base(dir) == ".crossbar":
		ws.Chdir = filepath.Dir(dir)
	default:
		ws.Chdir = dir
	}
	return ws
}

// normUpstream checks one upstream address and makes unix paths absolute.
func normUpstream(dir, u string) (string, error) {
	if rest, ok := strings.CutPrefix(u, "unix:"); ok {
		if rest == "" {
			return "", fmt.Errorf("upstream %q: missing the socket path after \"unix:\"", u)
		}
		return "unix:" + abs(dir, rest), nil
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil {
		return "", fmt.Errorf("upstream %q: want \"unix:/path/to.sock\" or \"host:port\" (%v)", u, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("upstream %q: port %q is not in [1, 65535]", u, port)
	}
	if host == "" {
		return "", fmt.Errorf("upstream %q: missing the host", u)
	}
	return u, nil
}

// serviceKeys are the keys of every path service type, to tell misspelt keys from keys of
// another type when a service has no type.
var serviceKeys = []string{"type", "module", "object", "minthreads", "maxthreads", "upstream",
	"processes", "threads", "uwsgi", "uwsgi_args", "env", "max_concurrency", "queue_timeout",
	"connect_timeout", "read_timeout", "send_timeout", "max_body_size", "request_buffering", "buffering", "max_temp_file_size", "sendfile_roots", "internal", "balance", "max_fails",
	"fail_timeout", "serializers", "options", "auth", "debug", "cookie", "url", "directory",
	"package", "resource", "code", "value", "paths"}

// serializers Portico speaks; Crossbar also knows these others.
var (
	knownSerializers       = []string{"json", "msgpack", "cbor"}
	unsupportedSerializers = []string{"ubjson", "flatbuffers"}
)

func (d *decoder) decodeWebSocket(o *obj) *WebSocket {
	ws := &WebSocket{Options: WebSocketOptions{
		EnableWebStatus:       true,
		OpenHandshakeTimeout:  5 * time.Second, // autobahn WebSocketServerFactory default
		CloseHandshakeTimeout: time.Second,     // autobahn default
		OutQueueLimit:         1024,
		MaxMessageSize:        DefaultMaxMessageSize,
		SessionLimits:         DefaultSessionLimits(),
	}}
	if ss, ok := o.strList("serializers", false); ok {
		sv, sp := o.take("serializers")
		for i, s := range ss {
			switch {
			case contains(knownSerializers, s):
				ws.Serializers = append(ws.Serializers, s)
			case contains(unsupportedSerializers, s):
				d.add(sv.line, indexPlace(sp, i), "serializer %q is not supported yet (want json, msgpack or cbor)", s)
			default:
				d.add(sv.line, indexPlace(sp, i), "unknown serializer %q (want json, msgpack or cbor)", s)
			}
		}
	} else {
		ws.Serializers = append([]string(nil), knownSerializers...)
	}
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		wo := &ws.Options
		x := d.object(ov, op)
		var n int64
		if x.size("max_message_size", &n) {
			if n > 1<<31-1 {
				mv, mp := x.take("max_message_size")
				d.add(mv.line, mp, "%d bytes is too large", n)
			} else {
				wo.MaxMessageSize = int(n)
			}
		}
		x.duration("auto_ping_interval", &wo.AutoPingInterval)
		x.duration("auto_ping_timeout", &wo.AutoPingTimeout)
		if ao, ok := x.strList("allowed_origins", true); ok {
			wo.AllowedOrigins = ao
		}
		x.boolean("allow_null_origin", &wo.AllowNullOrigin)
		if cv, cp := x.take("compression"); cv != nil {
			switch cv.kind {
			case kNull:
			case kBool:
				wo.Compression = cv.b
			case kMap:
				// Crossbar: {"deflate": {request_no_context_takeover, ...}}; Portico
				// negotiates permessage-deflate (RFC 7692) with its own parameters.
				c := d.object(cv, cp)
				if c.has("deflate") {
					wo.Compression = true
				}
				c.ignore("deflate")
				c.done()
			default:
				d.add(cv.line, cp, "want true, false or {\"deflate\": {...}}, got %s", cv.kind)
			}
		}
		x.boolean("enable_webstatus", &wo.EnableWebStatus)
		x.duration("open_handshake_timeout", &wo.OpenHandshakeTimeout)
		x.duration("close_handshake_timeout", &wo.CloseHandshakeTimeout)
		x.integer("out_queue_limit", 1, 1<<24, &wo.OutQueueLimit)
		d.decodeSessionLimits(x, &wo.SessionLimits)
		// Autobahn protocol knobs that Portico's WebSocket layer fixes to safe values.
		x.ignore("max_frame_size", "auto_ping_size", "fail_by_drop", "echo_close_codereason",
			"tcp_nodelay", "utf8validate_incoming", "require_masked_client_frames", "mask_server_frames",
			"apply_mask", "auto_fragment_size", "show_server_version", "require_websocket_subprotocol",
			"enable_flash_policy", "flash_policy", "external_port", "auto_ping_restart_on_any_traffic",
			"server", "trust_x_forwarded_for", "enable_webstatus_redirect")
		x.done()
	}
	if av, ap := o.take("auth"); av != nil && av.kind != kNull {
		ws.Auth = d.decodeAuth(av, ap)
	}
	o.boolean("debug", &ws.Debug)
	o.unsupported("cookie")
	o.ignore("url")
	return ws
}

// DefaultSessionLimits are the session bounds of a websocket path that sets none, and of the
// router's sessions served without a configuration (in-process peers).
func DefaultSessionLimits() SessionLimits {
	return SessionLimits{
		AuthTimeout:       10 * time.Second,
		MaxSubscriptions:  10000,
		MaxRegistrations:  10000,
		MaxTestaments:     100,
		MaxTestamentBytes: 64 << 10,
		MaxURILength:      4096,
	}
}

// decodeSessionLimits reads the session bounds of a websocket path's options.
func (d *decoder) decodeSessionLimits(x *obj, l *SessionLimits) {
	if x.duration("auth_timeout", &l.AuthTimeout) && l.AuthTimeout <= 0 {
		av, ap := x.take("auth_timeout")
		d.add(av.line, ap, "0 is not allowed: auth_timeout bounds the WAMP opening handshake and must be positive")
		l.AuthTimeout = DefaultSessionLimits().AuthTimeout
	}
	x.integer("max_subscriptions", 1, 1<<30, &l.MaxSubscriptions)
	x.integer("max_registrations", 1, 1<<30, &l.MaxRegistrations)
	x.integer("max_testaments", 1, 1<<20, &l.MaxTestaments)
	var n int64
	if x.size("max_testament_bytes", &n) {
		if n < 1 || n > 1<<30 {
			tv, tp := x.take("max_testament_bytes")
			d.add(tv.line, tp, "%d bytes is out of range [1, 1g]", n)
		} else {
			l.MaxTestamentBytes = int(n)
		}
	}
	x.integer("max_uri_length", 16, 1<<20, &l.MaxURILength)
}

func (d *decoder) decodeStatic(o *obj, place, dir string) *Static {
	st := &Static{DefaultFile: "index.html"}
	cache := 12 * 60 * 60 // Crossbar's default cache_timeout: 12 hours
	st.CacheTimeout = &cache
	if s, ok := o.str("directory"); ok {
		st.Directory = abs(dir, s)
		dv, dp := o.take("directory")
		if fi, err := os.Stat(st.Directory); err != nil {
			d.add(dv.line, dp, "%s", statMsg(err, st.Directory))
		} else if !fi.IsDir() {
			d.add(dv.line, dp, "%s is not a directory", st.Directory)
		}
	} else if !o.has("directory") {
		if o.has("package") {
			o.unsupported("package", "resource")
		} else {
			d.add(o.line(), place, "missing \"directory\"")
		}
	}
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		x := d.object(ov, op)
		x.boolean("enable_directory_listing", &st.EnableDirectoryListing)
		if cv, cp := x.take("cache_timeout"); cv != nil {
			if cv.kind == kNull || cv.kind == kBool && !cv.b {
				// Crossbar: null sends no caching header; TOML has no null, so false too.
				st.CacheTimeout = nil
			} else if n, ok := d.intValue(cv, cp); ok {
				if n < 0 || n > 1<<31-1 {
					d.add(cv.line, cp, "%d seconds is out of range", n)
				} else {
					c := int(n)
					st.CacheTimeout = &c
				}
			}
		}
		if df, ok := x.str("default_file"); ok {
			if df == "" || strings.Contains(df, "/") {
				dv, dp := x.take("default_file")
				d.add(dv.line, dp, "%q must be a file name", df)
			} else {
				st.DefaultFile = df
			}
		}
		if mt, ok := x.strMap("mime_types"); ok {
			mv, mp := x.take("mime_types")
			for _, ext := range sortedKeys(mt) {
				if !strings.HasPrefix(ext, ".") || len(ext) < 2 {
					d.add(mv.line, childPlace(mp, ext), "extension %q must start with \".\"", ext)
					delete(mt, ext)
				}
			}
			st.MimeTypes = mt
		}
		x.boolean("follow_symlinks", &st.FollowSymlinks)
		x.done()
	}
	return st
}

func (d *decoder) decodeRedirect(o *obj, place string) *Redirect {
	r := &Redirect{Code: 302} // twisted.web.util.Redirect, which Crossbar uses, answers 302
	if u, ok := o.str("url"); ok {
		uv, up := o.take("url")
		if pu, err := url.Parse(u); err != nil || u == "" || (pu.Scheme == "" && !strings.HasPrefix(u, "/")) {
			d.add(uv.line, up, "%q is not an absolute URL or an absolute path", u)
		}
		r.URL = u
	} else if !o.has("url") {
		d.add(o.line(), place, "missing \"url\"")
	}
	if o.integer("code", 300, 399, &r.Code) {
		cv, cp := o.take("code")
		switch r.Code {
		case 301, 302, 303, 307, 308:
		default:
			d.add(cv.line, cp, "redirect code %d: want 301, 302, 303, 307 or 308", r.Code)
		}
	}
	return r
}

func (d *decoder) decodeJSON(o *obj, place string) *JSON {
	j := &JSON{}
	vv, _ := o.take("value")
	if vv == nil {
		d.add(o.line(), place, "missing \"value\"")
	} else {
		j.Value = vv.iface()
	}
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		x := d.object(ov, op)
		x.boolean("prettify", &j.Prettify)
		x.boolean("allow_cross_origin", &j.AllowCrossOrigin)
		x.boolean("discourage_caching", &j.DiscourageCaching)
		if ao, ok := x.strList("allowed_origins", true); ok {
			j.AllowedOrigins = ao
		}
		x.done()
	}
	return j
}

// crossChecks finds problems between keys: two transports on one endpoint.
func (d *decoder) crossChecks(n *Node) {
	type listen struct{ host, port, place string }
	var seen []listen
	for _, w := range n.Workers {
		for _, t := range w.Transports {
			ep := t.Place + ".endpoint"
			var l listen
			switch t.Endpoint.Type {
			case "tcp":
				if t.Endpoint.Port == 0 {
					continue // a free port each time: never a clash
				}
				l = listen{t.Endpoint.Interface, strconv.Itoa(t.Endpoint.Port), ep}
			case "unix":
				l = listen{"unix", t.Endpoint.Path, ep}
			default:
				continue
			}
			for _, p := range seen {
				same := p.host == l.host && p.port == l.port
				// A wildcard interface covers every specific one on the same port.
				wild := l.host != "unix" && p.host != "unix" && p.port == l.port && (p.host == "" || l.host == "")
				if same || wild {
					d.add(d.lines[ep], ep, "listens on %s, as %s already does", where(l.host, l.port), p.place)
					break
				}
			}
			seen = append(seen, l)
		}
	}
}

func where(host, port string) string {
	switch host {
	case "unix":
		return port
	case "":
		return "port " + port + " (all interfaces)"
	}
	return net.JoinHostPort(host, port)
}
