package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Crossbar types Portico recognises but does not serve yet: naming them gives a better message
// than "unknown type" to someone bringing a Crossbar node over.
var (
	// Worker types of crossbar/personality.py default_native_workers and the edge personality
	// (hostmonitor, xbrmm) that Portico does not run.
	unsupportedWorkers    = []string{"hostmonitor", "xbrmm", "marketmaker", "hub"}
	unsupportedTransports = []string{"mqtt", "flashpolicy", "stream", "websocket-testee", "stream-testee"}
	// Path service types of crossbar/personality.py WEB_SERVICE_CHECKERS (and the edge
	// personality's pairme), and older names.
	unsupportedServices = []string{"none", "reverseproxy", "websocket-reverseproxy", "upload", "cgi", "fileupload", "schemadoc", "wap", "catalog", "pairme", "mqtt", "rawsocket"}
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
	n := &Node{Dir: dir}
	d.cbdir = dir
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
		// separate controller process, which Portico does not have; `manhole` is an SSH
		// shell into that Python process, `enable_docker` lets the management API drive
		// Docker and `keyring` holds the node key of the management uplink. Portico has none
		// of them, so they mean nothing here.
		c.ignore("options", "extra", "manhole", "enable_docker", "keyring")
		if fv, fp := c.take("fabric"); fv != nil && fv.kind != kNull {
			d.decodeFabric(fv, fp)
		}
		c.unsupported("fabric-center", "blockchain", "ipfs", "transport", "connections")
		c.done()
	}
	if v, p := o.take("cluster"); v != nil && v.kind != kNull {
		n.Cluster = d.decodeCluster(v, p)
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
		if d.fabricUplink {
			d.add(root.line, "workers", "no worker: a node managed by its CrossbarFX master gets its workers from the master over the management uplink, which Portico does not make; nothing would be served")
		} else {
			d.add(root.line, "workers", "no worker: nothing would be served")
		}
	}
	o.done()
	d.mergeShared(n)
	d.resolveProxies(n)
	d.crossChecks(n)
	return n
}

// decodeFabric reads the controller's `fabric`: the management uplink of a CrossbarFX edge node
// to its master (crossbar/edge/personality.py check_controller_fabric: `transport`, a
// connecting transport or null, and `heartbeat`). Portico has no management API, so the
// uplink is not made. Crossbar's FabricNode.boot (crossbar/edge/node/node.py) runs the node
// unmanaged, from its local config, when `fabric` is empty or its transport is null: the same
// as Portico, so nothing is said. With a transport, Crossbar connects to the master and
// applies the local config only once the master answers (and allows it, on_start_apply_config,
// the default); while the master is unreachable it keeps retrying and starts no worker.
// Portico starts the local config at once and warns that the uplink is ignored: refusing would
// keep the node from ever running, and an unmanaged node is what Crossbar runs once the master
// lets it.
func (d *decoder) decodeFabric(v *value, place string) {
	f := d.object(v, place)
	if tv, tp := f.take("transport"); tv != nil && tv.kind != kNull {
		t := d.object(tv, tp)
		url, _ := t.str("url")
		if !t.has("url") {
			d.add(t.line(), tp, "missing \"url\" (the master's WebSocket URL)")
		}
		// The rest (type, endpoint, serializers, options) says how to reach the master.
		t.ignore("type", "id", "endpoint", "serializers", "serializer", "options", "debug")
		t.done()
		d.fabricUplink = true
		d.warn(tv.line, tp, "the management uplink to the CrossbarFX master at %s is not supported, ignored: the node runs its local configuration without it (Crossbar would wait for the master before starting the workers)", url)
	}
	if hv, hp := f.take("heartbeat"); hv != nil && hv.kind != kNull {
		h := d.object(hv, hp)
		for _, k := range []string{"startup_delay", "heartbeat_period"} {
			if x, xp := h.take(k); x != nil && x.kind != kInt && x.kind != kFloat {
				d.add(x.line, xp, "want a number, got %s", x.kind)
			}
		}
		var b bool
		for _, k := range []string{"include_system_stats", "send_workers_heartbeats", "aggregate_workers_heartbeats"} {
			h.boolean(k, &b)
		}
		h.done() // heartbeats to the master: none is sent without the uplink
	}
	f.done()
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
			d.add(o.line(), place, "missing \"type\" (want \"router\", \"container\", \"guest\", \"proxy\" or \"websocket-testee\")")
		}
		return w, false
	case contains(unsupportedWorkers, typ):
		d.add(o.line(), place, "worker type %q is not supported yet (Portico runs \"router\", \"container\", \"guest\", \"proxy\" and \"websocket-testee\" workers)", typ)
		return w, false
	case typ != "router" && typ != "container" && typ != "guest" && typ != "proxy" && typ != "websocket-testee":
		d.add(o.line(), place, "unknown worker type %q (want \"router\", \"container\", \"guest\", \"proxy\" or \"websocket-testee\")", typ)
		return w, false
	}
	w.Type = typ
	if id, ok := o.str("id"); ok {
		w.ID = id
	}
	switch typ {
	case "guest":
		d.decodeGuest(o, place, dir, &w)
		o.done()
		return w, true
	case "websocket-testee":
		d.decodeTestee(o, place, dir, &w)
		o.done()
		return w, true
	case "container":
		if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
			d.decodeWorkerOptions(ov, op, dir, &w.Options, true)
		}
		cs, cp := o.list("components")
		for i, c := range cs {
			w.Components = append(w.Components, d.decodeComponent(c, elemPlace(c, cp, i), dir, false))
		}
		o.unsupported("connections")
		o.ignore("manhole") // as on router workers
		o.done()
		return w, true
	}
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		d.decodeWorkerOptions(ov, op, dir, &w.Options, false)
	}
	d.remember(place, v)
	for _, k := range []string{"realms", "components", "routes", "connections"} {
		d.rememberKey(o, place, k)
	}
	if typ == "proxy" {
		d.decodeProxy(o, place, dir)
	}
	if typ == "router" {
		rs, rp := o.list("realms")
		for i, r := range rs {
			w.Realms = append(w.Realms, d.decodeRealm(r, elemPlace(r, rp, i)))
		}
	}
	ts, tp := o.list("transports")
	for i, t := range ts {
		if tr, ok := d.decodeTransport(t, elemPlace(t, tp, i), dir, &w); ok {
			d.remember(tr.Place, t)
			w.Transports = append(w.Transports, tr)
		}
	}
	if typ == "router" {
		cs, cp := o.list("components")
		for i, c := range cs {
			w.Components = append(w.Components, d.decodeComponent(c, elemPlace(c, cp, i), dir, true))
		}
		o.unsupported("connections")
	}
	// `manhole` is an SSH shell into Crossbar's Python worker process: nothing to open in
	// Portico's one Go process, so it is accepted and ignored.
	o.ignore("manhole")
	o.done()
	return w, true
}

func (d *decoder) decodeWorkerOptions(v *value, place, dir string, wo *WorkerOptions, container bool) {
	o := d.object(v, place)
	if t, ok := o.str("title"); ok {
		wo.Title = t
	}
	if py, ok := o.str("python"); ok {
		wo.Python = py
	}
	if container {
		d.restartShutdown(o, wo)
	}
	if pp, ok := o.strList("pythonpath", false); ok {
		for _, p := range pp {
			wo.PythonPath = append(wo.PythonPath, abs(dir, p))
		}
	}
	wo.Env = d.decodeEnv(o)
	if !container {
		o.integer("max_retained_events", 1, 1<<24, &wo.MaxRetainedEvents)
		if o.duration("authorizer_timeout", &wo.AuthorizerTimeout) && wo.AuthorizerTimeout <= 0 {
			v, p := o.take("authorizer_timeout")
			d.add(v.line, p, "authorizer_timeout must be positive")
		}
		var n int64
		if o.size("max_retained_bytes", &n) {
			if v, p := o.take("max_retained_bytes"); n < 1<<10 || n > 1<<40 {
				d.add(v.line, p, "%d bytes is out of range [1 KiB, 1 TiB]", n)
			} else {
				wo.MaxRetainedBytes = int(n)
			}
		}
	}
	// Twisted and process options of Crossbar's native workers; Portico is one Go process.
	o.ignore("reactor", "cpu_affinity", "expose_controller", "expose_shared", "disabled", "extra")
	o.done()
}

// restartShutdown reads a container's `restart` and `shutdown` (Crossbar's
// check_container_options).
func (d *decoder) restartShutdown(o *obj, wo *WorkerOptions) {
	if r, ok := o.str("restart"); ok {
		rv, rp := o.take("restart")
		if d.oneOf(rv.line, rp, "restart", r, "restart-never", "restart-on-failed", "restart-always") {
			wo.Restart = r
		}
	}
	if sh, ok := o.str("shutdown"); ok {
		sv, sp := o.take("shutdown")
		if d.oneOf(sv.line, sp, "shutdown", sh, "shutdown-manual", "shutdown-on-last-component-stopped",
			"shutdown-on-any-component-failed", "shutdown-on-any-component-stopped") {
			wo.Shutdown = sh
		}
	}
	// Crossbar's check_container_options refuses the same pairs (unset, they are its defaults
	// restart-never and shutdown-manual).
	switch {
	case wo.Restart == "restart-always" && wo.Shutdown != "" && wo.Shutdown != "shutdown-manual":
		sv, sp := o.take("shutdown")
		d.add(sv.line, sp, "%q cannot be combined with restart %q (a restarted component never stops for good), as in Crossbar", wo.Shutdown, wo.Restart)
	case wo.Restart == "restart-on-failed" && wo.Shutdown == "shutdown-on-any-component-failed":
		sv, sp := o.take("shutdown")
		d.add(sv.line, sp, "%q cannot be combined with restart %q (a failed component is either restarted or ends the container), as in Crossbar", wo.Shutdown, wo.Restart)
	}
}

// decodeEnv reads `env` of worker options: Crossbar's check_process_env.
func (d *decoder) decodeEnv(o *obj) Env {
	var env Env
	if ev, ep := o.take("env"); ev != nil && ev.kind != kNull {
		e := d.object(ev, ep)
		if iv, ip := e.take("inherit"); iv != nil {
			env.inheritSet = true
			switch iv.kind {
			case kBool:
				env.InheritAll = iv.b
			case kList:
				env.InheritAll = false
				for i, x := range iv.list {
					if x.kind != kString {
						d.add(x.line, indexPlace(ip, i), "want a variable name, got %s", x.kind)
						continue
					}
					env.Inherit = append(env.Inherit, x.s)
				}
			default:
				d.add(iv.line, ip, "want true, false or a list of variable names, got %s", iv.kind)
			}
		}
		if vars, ok := e.strMap("vars"); ok {
			env.Vars = vars
		}
		e.done()
	}
	return env
}

// decodeGuest reads a guest worker (Crossbar's check_guest).
func (d *decoder) decodeGuest(o *obj, place, dir string, w *Worker) {
	g := &Guest{}
	w.Guest = g
	if exe, ok := o.str("executable"); ok && exe != "" {
		g.Executable = exe
	} else if !o.has("executable") {
		d.add(o.line(), place, "missing \"executable\" (the program to run)")
	}
	if args, ok := o.strList("arguments", false); ok {
		g.Arguments = args
	}
	ov, op := o.take("options")
	if ov == nil || ov.kind == kNull {
		return
	}
	x := d.object(ov, op)
	w.Options.Env = d.decodeEnv(x)
	if wd, ok := x.str("workdir"); ok {
		g.Workdir = abs(dir, wd)
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"stdout", &g.Stdout}, {"stderr", &g.Stderr}} {
		if m, ok := x.str(k.key); ok {
			mv, mp := x.take(k.key)
			if d.oneOf(mv.line, mp, k.key, m, "log", "drop", "close") {
				*k.dst = m
			}
		}
	}
	if sv, sp := x.take("stdin"); sv != nil && sv.kind != kNull {
		switch sv.kind {
		case kString:
			if d.oneOf(sv.line, sp, "stdin", sv.s, "close") {
				g.Stdin = &GuestStdin{Close: true}
			}
		default:
			so := d.object(sv, sp)
			in := &GuestStdin{Close: true}
			if t, ok := so.str("type"); ok {
				tv, tp := so.take("type")
				d.oneOf(tv.line, tp, "type", t, "json")
			} else if !so.has("type") {
				d.add(so.line(), sp, "missing \"type\" (\"json\")")
			}
			if vv, _ := so.take("value"); vv != nil {
				in.JSON, in.HasValue = vv.iface(), true
			} else {
				d.add(so.line(), sp, "missing \"value\" (what to write to the guest's stdin as JSON)")
			}
			so.boolean("close", &in.Close)
			so.done()
			g.Stdin = in
		}
	}
	if r, ok := x.str("restart"); ok {
		rv, rp := x.take("restart")
		if d.oneOf(rv.line, rp, "restart", r, "restart-never", "restart-on-failed", "restart-always") {
			w.Options.Restart = r
		}
	}
	if wv, wp := x.take("watch"); wv != nil && wv.kind != kNull {
		wo := d.object(wv, wp)
		gw := &GuestWatch{set: wo.present()}
		if ds, ok := wo.strList("directories", false); ok {
			for _, dd := range ds {
				gw.Directories = append(gw.Directories, abs(dir, dd))
			}
		}
		if len(gw.Directories) == 0 {
			d.add(wo.line(), wp, "no \"directories\" to watch")
		}
		if a, ok := wo.str("action"); ok {
			av, ap := wo.take("action")
			if d.oneOf(av.line, ap, "action", a, "restart") {
				gw.Action = a
			}
		}
		var secs int
		if wo.integer("timeout", 0, 3600, &secs) {
			gw.Timeout = time.Duration(secs) * time.Second
		}
		wo.done()
		g.Watch = gw
	}
	x.done()
}

// decodeComponent reads one component of a container (Crossbar's check_container_component)
// or of a router (check_router_component).
func (d *decoder) decodeComponent(v *value, place, dir string, router bool) Component {
	c := Component{Place: place}
	if v.place != "" {
		c.Place, place = v.place, v.place
	}
	o := d.object(v, place)
	if id, ok := o.str("id"); ok {
		c.ID = id
	}
	typ, ok := o.str("type")
	switch {
	case !ok:
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (want \"class\" or \"function\")")
		}
	case typ == "function":
		if cb, ok := o.strMap("callbacks"); ok {
			cv, cp := o.take("callbacks")
			for _, k := range sortedKeys(cb) {
				if !contains([]string{"join", "leave", "connect", "disconnect"}, k) {
					d.add(cv.line, childPlace(cp, k), "unknown callback %q (want join, leave, connect or disconnect)", k)
				}
				if i := strings.LastIndexByte(cb[k], '.'); i <= 0 || i == len(cb[k])-1 {
					d.add(cv.line, childPlace(cp, k), "%q: want \"module.function\"", cb[k])
				}
			}
			c.Callbacks = cb
		}
		// A container's function component names its `auth` in Crossbar; the router it
		// connects to gives it its role, here as there.
		o.ignore("auth")
	case typ == "wamplet":
		// Crossbar 0.x's packaged components (a setuptools entry point): gone from Crossbar's
		// own checkconfig since, still found in older nodes.
		tv, tp := o.take("type")
		d.add(tv.line, tp, "component type \"wamplet\" is not supported yet (use \"class\" with the package's classname)")
		o.ignore("package", "entrypoint")
		return c
	case typ != "class":
		tv, tp := o.take("type")
		d.add(tv.line, tp, "unknown component type %q (want \"class\" or \"function\")", typ)
	}
	c.Type = typ
	// A function component has no classname: done reports one as unknown, as Crossbar's
	// check_dict_args does.
	if typ != "function" {
		if cn, ok := o.str("classname"); ok {
			if i := strings.LastIndexByte(cn, '.'); i <= 0 || i == len(cn)-1 {
				cv, cp := o.take("classname")
				d.add(cv.line, cp, "classname %q: want \"module.Class\" (the module the class is in, a dot, the class)", cn)
			}
			c.Classname = cn
		} else if typ == "class" && !o.has("classname") {
			d.add(o.line(), place, "missing \"classname\" (\"module.Class\" of an ApplicationSession)")
		}
	}
	if r, ok := o.str("realm"); ok {
		rv, rp := o.take("realm")
		if !validURI(r, false) {
			d.add(rv.line, rp, "realm %q is not a valid WAMP URI", r)
		}
		c.Realm = r
	} else if !o.has("realm") {
		d.add(o.line(), place, "missing \"realm\" (the realm the component joins)")
	}
	ev, ep := o.take("extra")
	if ev != nil {
		c.Extra = ev.iface()
	}
	c.set = o.present()
	if router {
		d.decodeNativeComponent(&c, ev, ep, place, o.line())
		if r, ok := o.str("role"); ok {
			c.Role = r
		}
		o.unsupported("references")
		o.done()
		return c
	}
	tv, tp := o.take("transport")
	if tv == nil || tv.kind == kNull {
		d.add(o.line(), place, "missing \"transport\" (how the component connects to a router)")
	} else {
		c.Transport = d.decodeConnectTransport(tv, tp, dir)
	}
	d.decodeNativeComponent(&c, ev, ep, place, o.line())
	o.done()
	return c
}

// decodeComponentTransportOptions reads a component transport's `options` and returns its
// max_message_size (0 when not set). rawsocket options have no other key in Crossbar
// (check_rawsocket_options); websocket options are autobahn's WebSocket knobs, of which
// max_message_size is honoured and the others accepted and ignored.
func (d *decoder) decodeComponentTransportOptions(v *value, place, typ string) int {
	x := d.object(v, place)
	if typ != "rawsocket" {
		for _, e := range x.v.keys {
			x.ignore(e.key)
		}
	}
	n := int64(0)
	if x.size("max_message_size", &n) {
		mv, mp := x.take("max_message_size")
		lo, hi := int64(1), int64(64<<20) // Crossbar's check_transport_max_message_size
		why := "Crossbar's"
		if typ == "rawsocket" {
			// autobahn's RawSocket factory asserts this range (setProtocolOptions), so
			// Crossbar's component fails to start outside it.
			lo, hi, why = 512, 16<<20, "autobahn's RawSocket client"
		}
		if n < lo || n > hi {
			d.add(mv.line, mp, "%d bytes is out of range [%d, %d] (%s)", n, lo, hi, why)
			n = 0
		}
	}
	x.done()
	return int(n)
}

// decodeConnectTransport reads a component's connecting transport (Crossbar's
// check_connecting_transport_websocket / _rawsocket).
func (d *decoder) decodeConnectTransport(v *value, place, dir string) *ComponentTransport {
	t := &ComponentTransport{}
	o := d.object(v, place)
	typ, ok := o.str("type")
	if !ok && !o.has("type") {
		d.add(o.line(), place, "missing \"type\" (want \"websocket\" or \"rawsocket\")")
	}
	if ok {
		tv, tp := o.take("type")
		d.oneOf(tv.line, tp, "type", typ, "websocket", "rawsocket")
	}
	t.Type = typ
	o.ignore("id", "debug")
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		t.MaxMessageSize = d.decodeComponentTransportOptions(ov, op, typ)
	}
	if u, ok := o.str("url"); ok {
		uv, up := o.take("url")
		if typ == "rawsocket" {
			if err := checkRawSocketURL(u); err != nil {
				d.add(uv.line, up, "url %q: %v", u, err)
			}
		} else if pu, err := url.Parse(u); err != nil || (pu.Scheme != "ws" && pu.Scheme != "wss") || pu.Host == "" {
			d.add(uv.line, up, "url %q: want a WebSocket URL such as \"ws://127.0.0.1:8080/ws\"", u)
		}
		t.URL = u
	} else if typ == "websocket" && !o.has("url") {
		d.add(o.line(), place, "missing \"url\" (the WebSocket URL, e.g. \"ws://127.0.0.1:8080/ws\")")
	}
	if ss, ok := o.strList("serializers", false); ok {
		t.Serializers = ss
	}
	if s, ok := o.str("serializer"); ok {
		sv, sp := o.take("serializer")
		if d.oneOf(sv.line, sp, "serializer", s, "json", "msgpack", "cbor") {
			t.Serializer = s
		}
	} else if typ == "rawsocket" && !o.has("serializer") {
		d.add(o.line(), place, "missing \"serializer\" (\"json\", \"msgpack\" or \"cbor\")")
	}
	ev, ep := o.take("endpoint")
	if ev == nil || ev.kind == kNull {
		d.add(o.line(), place, "missing \"endpoint\" (where to connect)")
		o.done()
		return t
	}
	e := d.object(ev, ep)
	t.Endpoint.set = e.present()
	et, ok := e.str("type")
	switch {
	case !ok:
		if !e.has("type") {
			d.add(e.line(), ep, "missing \"type\" (want \"tcp\" or \"unix\")")
		}
	case et == "tcp":
		if h, ok := e.str("host"); ok {
			t.Endpoint.Host = h
		} else if !e.has("host") {
			d.add(e.line(), ep, "missing \"host\"")
		}
		if !e.integer("port", 1, 65535, &t.Endpoint.Port) && !e.has("port") {
			d.add(e.line(), ep, "missing \"port\"")
		}
		e.integer("version", 4, 6, &t.Endpoint.Version)
		if tv, tp := e.take("tls"); tv != nil && tv.kind != kNull {
			t.Endpoint.TLS = d.decodeConnectTLS(tv, tp, dir)
		}
	case et == "unix":
		if p, ok := e.str("path"); ok {
			t.Endpoint.Path = abs(dir, p)
		} else if !e.has("path") {
			d.add(e.line(), ep, "missing \"path\"")
		}
	default:
		tv, tp := e.take("type")
		d.add(tv.line, tp, "endpoint type %q is not supported (want \"tcp\" or \"unix\")", et)
	}
	t.Endpoint.Type = et
	e.integer("timeout", 0, 600, &t.Endpoint.Timeout)
	e.done()
	o.done()
	return t
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
	// rlinks (router-to-router links), inventory (WAMP API catalogs) and stats (periodic
	// router statistics events) are Crossbar features Portico does not have yet. `trace`
	// makes Crossbar log every message of the realm, which Portico's websocket `debug` does
	// per path: it is ignored. Realm `options` (event_dispatching_chunk_size, uri_check,
	// enable_meta_api, bridge_meta_api) tune Crossbar's Python router.
	if sv, sp := o.take("store"); sv != nil && sv.kind != kNull {
		r.Store = d.decodeRealmStore(sv, sp)
	}
	o.unsupported("rlinks", "inventory", "stats")
	o.ignore("options", "trace")
	o.done()
	return r
}

// Bounds and default of a realm store (RealmStore).
const (
	defaultStoreLimit    = 100 // Crossbar's RealmStoreMemory.GLOBAL_HISTORY_LIMIT
	maxStoreLimit        = 100000
	defaultStoreMaxBytes = 16 << 20
)

func (d *decoder) decodeRealmStore(v *value, place string) *RealmStore {
	s := &RealmStore{Place: place}
	o := d.object(v, place)
	t, ok := o.str("type")
	switch {
	case !ok && !o.has("type"):
		d.add(o.line(), place, "missing \"type\"")
	case t == "memory":
		s.Type = t
	case t == "cfxdb":
		tv, tp := o.take("type")
		d.add(tv.line, tp, "store type %q is not supported yet (want \"memory\")", t)
		o.ignore("path", "maxsize", "buffer-flush")
	case ok:
		tv, tp := o.take("type")
		d.add(tv.line, tp, "store type %q is not supported (want \"memory\")", t)
	}
	o.integer("limit", 1, maxStoreLimit, &s.Limit)
	var n int64
	if o.size("max_bytes", &n) {
		if n < 1<<10 || n > 1<<40 {
			bv, bp := o.take("max_bytes")
			d.add(bv.line, bp, "%d bytes is out of range [1 KiB, 1 TiB]", n)
		} else {
			s.MaxBytes = int(n)
		}
	}
	entries := func(key string) []StoreEntry {
		var out []StoreEntry
		es, ep := o.list(key)
		for i, ev := range es {
			out = append(out, d.decodeStoreEntry(ev, elemPlace(ev, ep, i)))
		}
		return out
	}
	s.EventHistory = entries("event-history")
	s.CallQueue = entries("call-queue")
	o.done()
	return s
}

func (d *decoder) decodeStoreEntry(v *value, place string) StoreEntry {
	e := StoreEntry{Place: place}
	o := d.object(v, place)
	if m, ok := o.str("match"); ok {
		mv, mp := o.take("match")
		if d.oneOf(mv.line, mp, "match", m, "exact", "prefix", "wildcard") {
			e.Match = m
		}
	}
	uri, ok := o.str("uri")
	if !ok && !o.has("uri") {
		d.add(o.line(), place, "missing \"uri\"")
	}
	if ok {
		valid := validURI(uri, e.Match == "wildcard")
		if e.Match == "prefix" {
			valid = uri == "" || validURI(strings.TrimSuffix(uri, "."), false)
		}
		if !valid {
			uv, up := o.take("uri")
			match := e.Match
			if match == "" {
				match = "exact" // what applyDefaults makes of an entry without match
			}
			d.add(uv.line, up, "%q is not a valid WAMP URI for match %q", uri, match)
		}
		e.URI = uri
	}
	o.integer("limit", 1, maxStoreLimit, &e.Limit)
	o.done()
	return e
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
	var byDefault bool
	o.boolean("allow-by-default", &byDefault)
	if byDefault && !o.has("permissions") && !o.has("authorizer") {
		// Crossbar's RouterRole(allow_by_default=True): every action on every URI.
		r.Permissions = append(r.Permissions, Permission{Place: childPlace(place, "allow-by-default"), URI: "", Match: "prefix",
			Allow: Allow{Call: true, Register: true, Publish: true, Subscribe: true}, Cache: true})
	}
	if av, ap := o.take("authorizer"); av != nil && av.kind != kNull {
		a, _ := o.str("authorizer")
		switch {
		case av.kind != kString:
			// reported by str
		case !validURI(a, false):
			d.add(av.line, ap, "authorizer %q is not a valid WAMP procedure URI", a)
		case len(r.Permissions) > 0:
			// Crossbar's RouterRoleDynamicAuth ignores the permissions beside it: say so
			// rather than let a reader believe they apply.
			d.add(av.line, ap, "a role has either \"permissions\" or an \"authorizer\", not both")
		default:
			r.Authorizer = a
		}
	}
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
	starred := false
	if m, ok := o.str("match"); ok {
		mv, mp := o.take("match")
		if d.oneOf(mv.line, mp, "match", m, "exact", "prefix", "wildcard") {
			p.Match = m
		}
	} else if hasURI {
		starred = true
		p.URI, p.Match = convertStarredURI(uri)
	}
	if hasURI && p.Match != "" {
		uv, up := o.take("uri")
		ok := true
		switch {
		case starred && p.Match == "exact" && strings.HasSuffix(uri, "."):
			// Crossbar reads it as exact too (convert_starred_uri), where it matches nothing.
			d.warn(uv.line, up, "%q without \"match\" is an exact URI, as in Crossbar, and no valid URI ends in \".\": it grants nothing; write %q, or add \"match\": \"prefix\"", uri, uri+"*")
		case p.Match == "exact":
			ok = validURI(p.URI, false)
		case p.Match == "prefix":
			ok = p.URI == "" || validURI(strings.TrimSuffix(p.URI, "."), false)
		case p.Match == "wildcard":
			ok = validURI(p.URI, true)
		}
		if !ok {
			if starred {
				d.add(uv.line, up, "%q is not a valid WAMP URI pattern (read as %s %q)", uri, p.Match, p.URI)
			} else {
				d.add(uv.line, up, "%q is not a valid WAMP URI for match %q", uri, p.Match)
			}
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
	// `validate` checks payloads against types of the realm's inventory, which Portico
	// does not have yet.
	o.unsupported("validate")
	// Crossbar 0.x wrote the actions beside the URI; Crossbar's checkconfig refuses them now.
	for _, k := range []string{"call", "register", "publish", "subscribe"} {
		if e := o.v.get(k); e != nil {
			o.seen[k] = true
			d.add(e.line, place, "unknown attribute %q: write the actions as \"allow\": {\"%s\": true, ...} (Crossbar's layout; its checkconfig refuses this one too)", k, k)
		}
	}
	o.done()
	return p
}

// convertStarredURI reads a permission URI written without "match" as autobahn's
// convert_starred_uri (autobahn/wamp/uri.py), which Crossbar's RouterPermissions.from_dict
// applies: no "*" is an exact URI, one "*" at the end a prefix (the URI before it), any other
// "*" a wildcard with the stars removed. The empty URI is the exception: Crossbar keeps it exact,
// but its permission trie cannot find an empty key by longest prefix, and its fallback
// (role.py, "workaround because of ... string keys of zero length") then applies the "" entry
// to every URI no other permission matches: the prefix "" in effect.
func convertStarredURI(uri string) (string, string) {
	switch n := strings.Count(uri, "*"); {
	case uri == "":
		return "", "prefix"
	case n == 0:
		return uri, "exact"
	case n == 1 && strings.HasSuffix(uri, "*"):
		return strings.TrimSuffix(uri, "*"), "prefix"
	default:
		return strings.ReplaceAll(uri, "*", ""), "wildcard"
	}
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
			d.add(o.line(), place, "missing \"type\" (web, websocket, rawsocket or universal)")
		}
		return t, false
	case contains(unsupportedTransports, typ):
		d.add(o.line(), place, "transport type %q is not supported yet (Portico serves web, websocket, rawsocket and universal transports)", typ)
		return t, false
	case !contains(servedTransports, typ):
		d.add(o.line(), place, "unknown transport type %q (want web, websocket, rawsocket or universal)", typ)
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
	switch typ {
	case "web":
		d.decodeWebTransport(o, place, dir, w, &t)
	case "websocket":
		// Crossbar serves a websocket transport at its endpoint whatever the path: the root
		// service of a path table answers every path.
		d.lines[place] = o.line()
		t.Paths = map[string]*Service{"/": {Place: place, Type: "websocket", WebSocket: d.decodeWebSocket(o)}}
	case "rawsocket":
		t.RawSocket = d.decodeRawSocket(o, place)
	case "universal":
		d.decodeUniversal(o, place, dir, w, &t)
	}
	if ev != nil && t.Endpoint.ProxyProtocol && len(t.Endpoint.ProxyProtocolFrom) == 0 && len(t.Options.TrustedProxies) == 0 {
		d.add(ev.line, ep+".proxy_protocol", "no peer may send a PROXY header: list the load balancers in %s.proxy_protocol_from, or in the transport's options.trusted_proxies", ep)
	}
	o.done()
	return t, true
}

// servedTransports are the transport types Portico serves.
var servedTransports = []string{"web", "websocket", "rawsocket", "universal"}

// decodeWebTransport reads a web transport's `options` and `paths` (also the `web` of a
// universal transport, whose paths may add to its websocket entries).
func (d *decoder) decodeWebTransport(o *obj, place, dir string, w *Worker, t *Transport) {
	ov, op := o.take("options")
	if ov != nil && ov.kind != kNull {
		d.lines[op] = ov.line
		d.webOpts[t.Place] = op
		d.decodeWebOptions(ov, op, dir, &t.Options)
		if t.Options.RedirectHTTPS != 0 && t.Endpoint.TLS != nil {
			d.add(ov.line, op+".redirect_https", "the transport is HTTPS already (endpoint.tls): it would redirect to itself; set redirect_https on the plain HTTP transport")
		}
		if t.Options.SpoolDir != "" {
			t.Options.SpoolDir = abs(dir, t.Options.SpoolDir)
		}
	}
	pv, pp := o.take("paths")
	if pv == nil || pv.kind == kNull {
		d.add(o.line(), place, "missing \"paths\"")
		return
	}
	paths := d.decodePaths(pv, pp, dir, w, true)
	if t.Paths == nil {
		t.Paths = paths
	} else {
		for k, svc := range paths {
			if ws := t.Paths[k]; ws != nil {
				d.add(d.lines[svc.Place], svc.Place, "path %q is also a websocket entry of the transport (%s), which would take its requests: remove one of them", k, ws.Place)
				continue
			}
			t.Paths[k] = svc
		}
	}
}

// decodeUniversal reads a universal transport: `rawsocket` (one RawSocket configuration),
// `websocket` (path segment -> websocket configuration, Crossbar's unisocket.py matches the
// first segment of the request path) and `web` (`paths` and `options` of a web transport).
func (d *decoder) decodeUniversal(o *obj, place, dir string, w *Worker, t *Transport) {
	if rv, rp := o.take("rawsocket"); rv != nil && rv.kind != kNull {
		ro := d.object(rv, rp)
		ro.ignore("type", "id")
		if ro.has("endpoint") {
			ev, epl := ro.take("endpoint")
			d.add(ev.line, epl, "a universal transport's rawsocket listens on the transport's endpoint: remove this one")
		}
		t.RawSocket = d.decodeRawSocket(ro, rp)
		ro.done()
	}
	if wv, wp := o.take("websocket"); wv != nil && wv.kind != kNull {
		if wv.kind != kMap {
			d.add(wv.line, wp, "want an object of path -> websocket configuration, got %s", wv.kind)
		} else {
			t.Paths = map[string]*Service{}
			for _, e := range wv.keys {
				sp := childPlace(wp, e.key)
				if e.key != "/" && (e.key == "" || strings.Contains(e.key, "/") || e.key == "." || e.key == "..") {
					d.add(e.line, sp, "path key %q must be one path segment (no \"/\"), or \"/\" for the root", e.key)
					continue
				}
				if e.val.line == 0 {
					e.val.line = e.line
				}
				d.lines[sp] = e.val.line
				so := d.object(e.val, sp)
				if typ, ok := so.str("type"); ok && typ != "websocket" {
					tv, tp := so.take("type")
					d.add(tv.line, tp, "type %q: the entries of a universal transport's websocket are websocket configurations", typ)
				}
				so.ignore("id")
				if so.has("endpoint") {
					ev, epl := so.take("endpoint")
					d.add(ev.line, epl, "a universal transport's websocket listens on the transport's endpoint: remove this one")
				}
				t.Paths[e.key] = &Service{Place: sp, Type: "websocket", WebSocket: d.decodeWebSocket(so)}
				so.done()
			}
		}
	}
	if wv, wp := o.take("web"); wv != nil && wv.kind != kNull {
		wo := d.object(wv, wp)
		d.decodeWebTransport(wo, wp, dir, w, t)
		wo.done()
	}
	o.unsupported("mqtt")
	if t.RawSocket == nil && len(t.Paths) == 0 && !o.has("mqtt") {
		d.add(o.line(), place, "a universal transport needs at least one of \"rawsocket\", \"websocket\" and \"web\"")
	}
}

// decodeRawSocket reads a RawSocket configuration from o (a rawsocket transport, or the
// `rawsocket` of a universal one); Crossbar's keys (check_listening_transport_rawsocket)
// and Portico's `options`.
func (d *decoder) decodeRawSocket(o *obj, place string) *RawSocket {
	r := &RawSocket{Place: place, set: o.present()}
	r.Serializers = d.decodeSerializers(o)
	// Crossbar reads max_message_size beside the endpoint and, in newer nodes, in options.
	maxMessageSize := func(o *obj) {
		var n int64
		if o.size("max_message_size", &n) {
			mv, mp := o.take("max_message_size")
			switch {
			case n < 1 || n > 64<<20:
				d.add(mv.line, mp, "%d bytes is out of range [1, 64m] (Crossbar's)", n)
			case n > rawsocketMaxFrame:
				r.MaxMessageSize = rawsocketMaxFrame
			default:
				r.MaxMessageSize = int(n)
			}
		}
	}
	maxMessageSize(o)
	if av, ap := o.take("auth"); av != nil && av.kind != kNull {
		r.Auth = d.decodeAuth(av, ap)
	}
	o.boolean("debug", &r.Debug)
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		x := d.object(ov, op)
		maxMessageSize(x)
		x.integer("max_connections", 1, 1<<30, &r.Options.MaxConnections)
		if x.duration("write_timeout", &r.Options.WriteTimeout) && r.Options.WriteTimeout <= 0 {
			wv, wp := x.take("write_timeout")
			d.add(wv.line, wp, "0 is not allowed: write_timeout bounds how long a client that stops reading holds its session")
		}
		x.integer("out_queue_limit", 1, 1<<24, &r.Options.OutQueueLimit)
		d.decodeSessionLimits(x, &r.Options.SessionLimits)
		x.done()
	}
	return r
}

// rawsocketMaxFrame is the largest payload of a RawSocket frame (a 24-bit length).
const rawsocketMaxFrame = 1<<24 - 1

// decodeSerializers reads `serializers` (nil when absent: applyDefaults makes it all Portico
// speaks).
func (d *decoder) decodeSerializers(o *obj) []string {
	ss, ok := o.strList("serializers", false)
	if !ok {
		return nil
	}
	sv, sp := o.take("serializers")
	var out []string
	for i, s := range ss {
		switch {
		case contains(knownSerializers, s):
			out = append(out, s)
		case contains(unsupportedSerializers, s):
			d.add(sv.line, indexPlace(sp, i), "serializer %q is not supported yet (want json, msgpack, cbor or ubjson)", s)
		default:
			d.add(sv.line, indexPlace(sp, i), "unknown serializer %q (want json, msgpack, cbor or ubjson)", s)
		}
	}
	return out
}

// checkBodies checks, once the defaults are in, that one body at a wsgi path's bound fits the
// transport's spool bounds: otherwise a lone upload would be refused by a bound meant for many.
func (d *decoder) checkBodies(n *Node) {
	for _, w := range n.Workers {
		for _, t := range w.Transports {
			wo := &t.Options
			op := d.webOpts[t.Place]
			if op == "" {
				op = t.Place + ".options"
			}
			optLine := d.lines[op]
			switch {
			case wo.MaxSpoolSize > 0 && wo.MaxSpoolPerClient > wo.MaxSpoolSize:
				d.add(optLine, op+".max_spool_per_client", "%d is above max_spool_size %d: raise max_spool_size", wo.MaxSpoolPerClient, wo.MaxSpoolSize)
			case wo.MaxSpoolSize > 0 && wo.MaxSpoolPerClient == 0:
				d.add(optLine, op+".max_spool_per_client", "0 (unlimited) while max_spool_size is %d: one client could take the whole spool; set a bound, or make both 0", wo.MaxSpoolSize)
			}
			d.checkPathBodies(t.Paths, wo, optLine, op)
		}
	}
}

func (d *decoder) checkPathBodies(paths map[string]*Service, wo *WebOptions, optLine int, op string) {
	for _, svc := range paths {
		if svc == nil {
			continue
		}
		if svc.Paths != nil {
			d.checkPathBodies(svc.Paths, wo, optLine, op)
		}
		w := svc.WSGI
		if w == nil {
			continue
		}
		line := optLine
		if w.set.has("max_body_size") {
			line = d.lines[svc.Place]
		}
		if lim := wo.MaxSpoolPerClient; lim > 0 && w.MaxBodySize > lim {
			d.add(line, svc.Place+".max_body_size", "%d is above the transport's max_spool_per_client %d, so one such body would be refused: raise %s.max_spool_per_client (and max_spool_size), or lower max_body_size", w.MaxBodySize, lim, op)
		}
	}
}

// checkThreads checks a wsgi path's thread pool bounds once their defaults are in.
func (d *decoder) checkThreads(paths map[string]*Service) {
	for _, svc := range paths {
		if svc == nil {
			continue
		}
		d.checkThreads(svc.Paths)
		if ws := svc.WSGI; ws != nil && ws.MinThreads > ws.MaxThreads {
			d.add(d.lines[svc.Place], svc.Place, "minthreads %d is above maxthreads %d", ws.MinThreads, ws.MaxThreads)
		}
	}
}

// validate checks what depends on defaulted values; it runs after applyDefaults.
func (d *decoder) validate(n *Node) {
	d.checkBodies(n)
	for _, w := range n.Workers {
		for _, t := range w.Transports {
			d.checkThreads(t.Paths)
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
		o.ignore("port", "portrange", "interface", "backlog", "version", "tls", "path", "shared", "user_timeout", "proxy_protocol", "proxy_protocol_from")
		o.done()
		return e
	}
	e.Type = typ
	switch typ {
	case "tcp":
		pv, pp := o.take("port")
		if pv != nil && pv.kind == kString {
			// Crossbar's _readenv: "$PORT" is the environment variable PORT (Heroku's way).
			if envRef.MatchString(pv.s) {
				if s, ok := d.fromEnv(pv.s, pv.line, pp); ok {
					if n, err := strconv.Atoi(s); err != nil || n < 0 || n > 65535 {
						d.add(pv.line, pp, "environment variable %s is %q, not a port in [0, 65535]", strings.Trim(pv.s, "${}"), s)
					} else {
						e.Port = n
					}
				}
			} else {
				d.add(pv.line, pp, "want a port number or \"$VARIABLE\", got %q", pv.s)
			}
		} else if !o.integer("port", 0, 65535, &e.Port) && !o.has("port") && !o.has("portrange") {
			d.add(o.line(), place, "missing \"port\"")
		}
		if rv, rp := o.take("portrange"); rv != nil && rv.kind != kNull {
			switch {
			case o.has("port"):
				d.add(rv.line, rp, "set \"port\" or \"portrange\", not both")
			case rv.kind != kList || len(rv.list) != 2:
				d.add(rv.line, rp, "want [first, last] port numbers")
			default:
				for i, x := range rv.list {
					n, ok := d.intValue(x, indexPlace(rp, i))
					if ok && (n < 1 || n > 65535) {
						d.add(rv.line, indexPlace(rp, i), "%d is out of range [1, 65535]", n)
					} else if ok {
						e.PortRange[i] = int(n)
					}
				}
				if e.PortRange[1] < e.PortRange[0] {
					d.add(rv.line, rp, "the range ends (%d) before it starts (%d)", e.PortRange[1], e.PortRange[0])
				}
			}
		}
		if iface, ok := o.str("interface"); ok {
			iv, ip := o.take("interface")
			if net.ParseIP(iface) == nil && iface != "localhost" {
				d.add(iv.line, ip, "%q is not an IP address", iface)
			}
			e.Interface = iface
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
		o.boolean("shared", &e.Shared)
		o.ignore("user_timeout")
		o.boolean("proxy_protocol", &e.ProxyProtocol)
		if pf, ok := o.strList("proxy_protocol_from", true); ok {
			pv, pp := o.take("proxy_protocol_from")
			for i, s := range pf {
				if net.ParseIP(s) == nil {
					if _, _, err := net.ParseCIDR(s); err != nil {
						d.add(pv.line, indexPlace(pp, i), "%q is not an IP address or CIDR", s)
						continue
					}
				}
				e.ProxyProtocolFrom = append(e.ProxyProtocolFrom, s)
			}
		}
	case "unix":
		if p, ok := o.str("path"); ok {
			e.Path = abs(dir, p)
		} else if !o.has("path") {
			d.add(o.line(), place, "missing \"path\"")
		}
		o.integer("backlog", 1, 65535, &e.Backlog)
		for _, k := range []string{"proxy_protocol", "proxy_protocol_from"} {
			if kv, kp := o.take(k); kv != nil {
				d.add(kv.line, kp, "the PROXY protocol is taken on tcp endpoints only")
			}
		}
	default:
		tv, tp := o.take("type")
		d.add(tv.line, tp, "endpoint type %q is not supported (want \"tcp\" or \"unix\")", typ)
		o.ignore("port", "portrange", "interface", "backlog", "version", "tls", "path", "shared", "user_timeout", "proxy_protocol", "proxy_protocol_from")
	}
	o.done()
	return e
}

func (d *decoder) decodeTLS(v *value, place, dir string) *TLS {
	t := &TLS{}
	o := d.object(v, place)
	if lv, lp := o.list("certificates"); lv != nil {
		for i, e := range lv {
			ep := elemPlace(e, lp, i)
			eo := d.object(e, ep)
			var c TLSCertificate
			d.decodeKeyPair(eo, ep, dir, true, &c.Key, &c.Certificate)
			c.ChainCertificates = d.decodeFiles(eo, dir, "chain_certificates")
			eo.done()
			t.Certificates = append(t.Certificates, c)
		}
		if len(t.Certificates) == 0 {
			d.add(v.line, lp, "an empty list: name at least one {key, certificate}, or remove certificates")
		}
	}
	if av, ap := o.take("acme"); av != nil && av.kind != kNull {
		t.ACME = d.decodeACME(av, ap, dir)
	}
	d.decodeKeyPair(o, place, dir, len(t.Certificates) == 0 && t.ACME == nil, &t.Key, &t.Certificate)
	t.ChainCertificates = d.decodeFiles(o, dir, "chain_certificates")
	t.CACertificates = d.decodeFiles(o, dir, "ca_certificates")
	if t.Key == "" && len(t.ChainCertificates) > 0 {
		cv, cp := o.take("chain_certificates")
		d.add(cv.line, cp, "chain_certificates go with key and certificate; give each entry of certificates its own")
	}
	if p, ok := o.str("dhparam"); ok {
		dv, dp := o.take("dhparam")
		t.DHParam = abs(dir, p)
		d.warn(dv.line, dp, "not read: it holds the parameters of finite-field Diffie-Hellman (DHE) suites, which Go's crypto/tls does not implement; clients use ECDHE or TLS 1.3 key exchange instead")
	}
	if spec, ok := o.str("ciphers"); ok {
		cv, cp := o.take("ciphers")
		names, empty, unknown := openSSLCiphers(spec)
		var why []string
		if len(empty) > 0 {
			why = append(why, fmt.Sprintf("%s select only suites Go's crypto/tls does not implement (DHE, DSS, PSK, CAMELLIA, 3DES, RC4, ...)", strings.Join(empty, ", ")))
		}
		if len(unknown) > 0 {
			why = append(why, fmt.Sprintf("%s are not OpenSSL cipher names or aliases that Portico knows", strings.Join(unknown, ", ")))
		}
		switch {
		case len(names) == 0:
			d.add(cv.line, cp, "%q selects no TLS 1.2 cipher suite that Go implements%s: name some ECDHE or RSA suites with AES-GCM, AES or CHACHA20 (e.g. \"ECDHE-RSA-AES128-GCM-SHA256\"), or remove ciphers for Go's defaults", spec, prefixed(": ", strings.Join(why, "; ")))
		case len(why) > 0:
			d.warn(cv.line, cp, "%s; the %d TLS 1.2 suites it selects that Go implements are served (TLS 1.3 suites are not configurable)", strings.Join(why, "; "), len(names))
		}
		t.CipherSuites = names
	}
	// `curve` is not a key of Crossbar's listening endpoint tls (checkconfig refuses it);
	// older examples carry it.
	o.unsupported("curve")
	o.done()
	return t
}

// decodeACME reads `tls.acme`. Defaults (ca, storage, challenges) come in applyDefaults.
func (d *decoder) decodeACME(v *value, place, dir string) *ACME {
	a := &ACME{}
	o := d.object(v, place)
	if l, ok := o.strList("domains", false); ok {
		lv, lp := o.take("domains")
		seen := map[string]bool{}
		for i, name := range l {
			name = strings.ToLower(name)
			if why := acmeDomainProblem(name); why != "" {
				d.add(lv.line, indexPlace(lp, i), "%q %s", name, why)
				continue
			}
			if seen[name] {
				d.add(lv.line, indexPlace(lp, i), "%q is listed twice", name)
				continue
			}
			seen[name] = true
			a.Domains = append(a.Domains, name)
		}
		if len(l) == 0 {
			d.add(lv.line, lp, "an empty list: name the domains to obtain certificates for")
		}
	} else if !o.has("domains") {
		d.add(o.line(), place, "missing \"domains\" (the names to obtain certificates for)")
	}
	if e, ok := o.str("email"); ok {
		ev, ep := o.take("email")
		if _, err := mail.ParseAddress(e); err != nil || strings.ContainsAny(e, "<> ") {
			d.add(ev.line, ep, "%q is not an email address", e)
		}
		a.Email = e
	}
	if ca, ok := o.str("ca"); ok {
		cv, cp := o.take("ca")
		u, err := url.Parse(ca)
		switch {
		case err != nil || u.Host == "":
			d.add(cv.line, cp, "%q is not a URL (want the CA's ACME directory, e.g. %q)", ca, LetsEncrypt)
		case u.Scheme != "https":
			// RFC 8555 section 6.1: ACME runs over HTTPS only.
			d.add(cv.line, cp, "%q: an ACME directory is an https URL (RFC 8555 section 6.1)", ca)
		}
		a.CA = ca
	}
	if r, ok := o.str("ca_root"); ok {
		rv, rp := o.take("ca_root")
		a.CARoot = abs(dir, r)
		if _, err := os.Stat(a.CARoot); err != nil {
			d.add(rv.line, rp, "%s", statMsg(err, a.CARoot))
		}
	}
	if s, ok := o.str("storage"); ok {
		a.Storage = abs(dir, s)
	}
	if l, ok := o.strList("challenges", true); ok {
		lv, lp := o.take("challenges")
		for i, c := range l {
			if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
				d.add(lv.line, indexPlace(lp, i), "%q: want %q or %q (DNS-01 is not offered)", c, ChallengeHTTP01, ChallengeTLSALPN01)
				continue
			}
			if !slices.Contains(a.Challenges, c) {
				a.Challenges = append(a.Challenges, c)
			}
		}
		if len(l) == 0 {
			d.add(lv.line, lp, "an empty list: name %q, %q or both, or remove challenges for both", ChallengeHTTP01, ChallengeTLSALPN01)
		}
	}
	o.done()
	return a
}

// acmeDomainProblem says why name cannot be an ACME domain here, or "".
func acmeDomainProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case strings.Contains(name, "*"):
		return "is a wildcard: it needs the DNS-01 challenge, which Portico does not offer; list the names"
	case net.ParseIP(name) != nil:
		return "is an IP address: list DNS names"
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return "is not a DNS name"
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "is not a DNS name (letters, digits, '-' and '.'; write international names in their xn-- form)"
		}
	}
	return ""
}

// decodeKeyPair reads `key` and `certificate` of o, files that must exist; both are needed
// when required, else both or neither.
func (d *decoder) decodeKeyPair(o *obj, place, dir string, required bool, key, cert *string) {
	if !required && !o.has("key") && !o.has("certificate") {
		return
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"key", key}, {"certificate", cert}} {
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
}

// decodeFiles reads the list of file names at key of o; each must exist.
func (d *decoder) decodeFiles(o *obj, dir, key string) []string {
	l, ok := o.strList(key, false)
	if !ok {
		return nil
	}
	lv, lp := o.take(key)
	var out []string
	for i, f := range l {
		f = abs(dir, f)
		if _, err := os.Stat(f); err != nil {
			d.add(lv.line, indexPlace(lp, i), "%s", statMsg(err, f))
		}
		out = append(out, f)
	}
	return out
}

// prefixed returns p+s, or "" when s is empty.
func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func statMsg(err error, path string) string {
	if os.IsNotExist(err) {
		return fmt.Sprintf("%s does not exist", path)
	}
	return err.Error()
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

func (d *decoder) decodeWebOptions(v *value, place, dir string, wo *WebOptions) {
	o := d.object(v, place)
	wo.set = o.present()
	wo.Headers = d.decodeHeaders(o)
	wo.ErrorPages = d.decodeErrorPages(o, dir)
	if rv, rp := o.take("redirect_https"); rv != nil {
		switch {
		case rv.kind == kNull:
		case rv.kind == kBool:
			if rv.b {
				wo.RedirectHTTPS = 443
			}
		case rv.kind == kInt && rv.i >= 1 && rv.i <= 65535:
			wo.RedirectHTTPS = int(rv.i)
		default:
			d.add(rv.line, rp, "want true, false or the HTTPS port (1 to 65535)")
		}
	}
	if av, ap := o.take("access_log"); av != nil {
		switch {
		case av.kind == kNull:
		case av.kind == kBool:
			wo.AccessLog = av.b
		case av.kind == kString && (av.s == "combined" || av.s == "json"):
			wo.AccessLog, wo.AccessLogFormat = true, av.s
		default:
			d.add(av.line, ap, "want true, false, \"combined\" or \"json\"")
		}
	}
	if f, ok := o.str("access_log_file"); ok {
		fv, fp := o.take("access_log_file")
		switch {
		case f == "":
			d.add(fv.line, fp, "want \"stdout\", \"stderr\" or a file path")
		case f == "stdout" || f == "stderr" || filepath.IsAbs(f):
			wo.AccessLogFile = f
		default:
			wo.AccessLogFile = filepath.Join(dir, f)
		}
		if f != "" && !wo.AccessLog {
			d.add(fv.line, fp, "access_log_file without access_log: set access_log to true, \"combined\" or \"json\"")
		}
	}
	if rv, rp := o.take("request_id"); rv != nil {
		switch {
		case rv.kind == kNull:
		case rv.kind == kBool:
			if rv.b {
				wo.RequestIDHeader = "X-Request-ID"
			}
		case rv.kind == kString && isToken(rv.s):
			wo.RequestIDHeader = rv.s
		default:
			d.add(rv.line, rp, "want true, false or a header name (such as \"X-Correlation-ID\")")
		}
	}
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
	if h, ok := o.str("real_ip_header"); ok {
		hv, hp := o.take("real_ip_header")
		switch {
		case strings.EqualFold(h, "X-Forwarded-For"):
			wo.RealIPHeader = "X-Forwarded-For"
		case strings.EqualFold(h, "X-Real-IP"):
			wo.RealIPHeader = "X-Real-IP"
		default:
			d.add(hv.line, hp, "%q: want \"X-Forwarded-For\" or \"X-Real-IP\" (a PROXY protocol address is taken with the endpoint's proxy_protocol)", h)
		}
	}
	d.decodeCompression(o, &wo.Compression)
	// Twisted web options without a Portico meaning.
	o.ignore("client_timeout", "hixie76_aware")
	o.done()
}

// decodeCompression reads the transport option `compression`: true, false, or an object.
func (d *decoder) decodeCompression(o *obj, c *Compression) {
	v, p := o.take("compression")
	if v == nil || v.kind == kNull {
		return
	}
	switch v.kind {
	case kBool:
		// true: every encoding, with the defaults of the rest.
		c.Gzip, c.Brotli, c.Zstd = v.b, v.b, v.b
		return
	case kMap:
	default:
		d.add(v.line, p, "want true, false or an object (gzip, brotli, zstd, min_length, types, level), got %s", v.kind)
		return
	}
	x := d.object(v, p)
	c.object, c.set = true, x.present()
	x.boolean("gzip", &c.Gzip)
	x.boolean("brotli", &c.Brotli)
	x.boolean("zstd", &c.Zstd)
	x.size("min_length", &c.MinLength)
	x.integer("level", 1, 9, &c.Level)
	if types, ok := x.strList("types", true); ok {
		tv, tp := x.take("types")
		for i, t := range types {
			t = strings.ToLower(strings.TrimSpace(t))
			typ, sub, found := strings.Cut(t, "/")
			if t != "*" && (!found || typ == "" || sub == "" || typ == "*" || strings.ContainsAny(t, "; ") ||
				(strings.Contains(sub, "*") && sub != "*")) {
				d.add(tv.line, indexPlace(tp, i), "%q is not a media type (want \"text/html\", \"text/*\" or \"*\")", types[i])
				continue
			}
			c.Types = append(c.Types, t)
		}
	}
	x.done()
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
	// Without "/", Crossbar serves the other paths and answers 404 at the root; so does
	// Portico.
	return paths
}

func (d *decoder) decodeService(v *value, place, dir string, w *Worker) *Service {
	s := &Service{Place: place}
	d.lines[place] = v.line
	o := d.object(v, place)
	typ, ok := o.str("type")
	if !ok {
		if !o.has("type") {
			d.add(o.line(), place, "missing \"type\" (wsgi, websocket, longpoll, static, archive, resource, redirect, json, nodeinfo, publisher, caller, webhook, metrics or path)")
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
	// Crossbar's path services may carry an `id` (its management API names them by it).
	o.ignore("id")
	o.boolean("internal", &s.Internal)
	if typ == "path" && s.Internal {
		d.add(o.line(), place+".internal", "a path table cannot be internal: set internal on its services")
	}
	if typ != "path" {
		s.Headers = d.decodeHeaders(o)
	}
	switch typ {
	case "wsgi":
		s.WSGI = d.decodeWSGI(o, place, dir, w)
	case "websocket":
		s.WebSocket = d.decodeWebSocket(o)
	case "longpoll":
		s.LongPoll = d.decodeLongPoll(o)
	case "static":
		s.Static = d.decodeStatic(o, place, dir)
	case "archive":
		s.Archive = d.decodeArchive(o, place, dir)
	case "resource":
		s.Resource = d.decodeResource(o, place)
	case "redirect":
		s.Redirect = d.decodeRedirect(o, place)
	case "json":
		s.JSON = d.decodeJSON(o, place)
	case "nodeinfo":
		// Crossbar's node information page (crossbar/webservice/misc.py): no options.
	case "metrics":
		// Portico's Prometheus metrics (text exposition format): no options.
	case "publisher", "caller", "webhook":
		s.Bridge = d.decodeBridge(o, typ, place, w)
	case "path":
		pv, pp := o.take("paths")
		if pv == nil || pv.kind == kNull {
			d.add(o.line(), place, "missing \"paths\"")
		} else {
			s.Paths = d.decodePaths(pv, pp, dir, w, false)
		}
	default:
		tv, tp := o.take("type")
		switch {
		case contains(unsupportedServices, typ):
			d.add(tv.line, tp, "service type %q is not supported yet", typ)
		default:
			d.add(tv.line, tp, "unknown service type %q (want wsgi, websocket, longpoll, static, archive, resource, redirect, json, nodeinfo, publisher, caller, webhook, metrics or path)", typ)
		}
		return nil
	}
	o.done()
	return s
}

func (d *decoder) decodeWSGI(o *obj, place, dir string, w *Worker) *WSGI {
	ws := &WSGI{set: o.present()}
	ws.Module, _ = o.str("module")
	ws.Object, _ = o.str("object")
	o.integer("minthreads", 1, 1024, &ws.MinThreads)
	o.integer("maxthreads", 1, 1024, &ws.MaxThreads)
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
	o.integer("processes", 1, 1024, &ws.Processes)
	o.integer("threads", 1, 1024, &ws.Threads)
	if b, ok := o.str("uwsgi"); ok {
		ws.UWSGI = b
	}
	if a, ok := o.strList("uwsgi_args", false); ok {
		ws.UWSGIArgs = a
	}
	if v, vp := o.take("uwsgi_persistent"); v != nil && v.kind != kNull && !launched {
		d.add(v.line, vp, "applies to a launched uwsgi only: remove it, or remove \"upstream\" to let Portico launch uwsgi")
	}
	o.boolean("uwsgi_persistent", &ws.Persistent)
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
	o.integer("max_concurrency", 1, 1<<20, &ws.MaxConcurrency)
	o.duration("queue_timeout", &ws.QueueTimeout)
	o.duration("connect_timeout", &ws.ConnectTimeout)
	o.duration("read_timeout", &ws.ReadTimeout)
	o.duration("send_timeout", &ws.SendTimeout)
	o.size("max_body_size", &ws.MaxBodySize)
	o.boolean("request_buffering", &ws.RequestBuffering)
	o.boolean("buffering", &ws.Buffering)
	o.size("max_temp_file_size", &ws.MaxTempFileSize)
	if roots, ok := o.strList("sendfile_roots", false); ok {
		for _, r := range roots {
			ws.SendfileRoots = append(ws.SendfileRoots, abs(dir, r))
		}
	}
	if b, ok := o.str("balance"); ok {
		bv, bp := o.take("balance")
		if d.oneOf(bv.line, bp, "balance", b, "round_robin", "least_conn") {
			ws.Balance = b
		}
	}
	o.integer("max_fails", 0, 1<<20, &ws.MaxFails)
	o.duration("fail_timeout", &ws.FailTimeout)
	ws.Vars = d.decodeVars(o)
	o.boolean("intercept_errors", &ws.InterceptErrors)

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
var serviceKeys = []string{"type", "id", "module", "object", "minthreads", "maxthreads", "upstream",
	"processes", "threads", "uwsgi", "uwsgi_args", "uwsgi_persistent", "env", "max_concurrency", "queue_timeout",
	"connect_timeout", "read_timeout", "send_timeout", "max_body_size", "request_buffering", "buffering", "max_temp_file_size", "sendfile_roots", "internal", "balance", "max_fails",
	"fail_timeout", "serializers", "options", "auth", "debug", "cookie", "url", "directory",
	"package", "resource", "code", "value", "paths", "headers", "vars", "intercept_errors", "realm", "role",
	"archive", "origin", "download", "cache", "default_object", "object_prefix", "mime_types", "hashes",
	"classname", "extra"}

// serializers Portico speaks; Crossbar also knows these others.
var (
	knownSerializers       = []string{"json", "msgpack", "cbor", "ubjson"}
	unsupportedSerializers = []string{"flatbuffers"}
)

func (d *decoder) decodeWebSocket(o *obj) *WebSocket {
	ws := &WebSocket{set: o.present()}
	ws.Serializers = d.decodeSerializers(o)
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		wo := &ws.Options
		x := d.object(ov, op)
		wo.set = x.present()
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
		if x.size("out_queue_bytes", &n) {
			if v, p := x.take("out_queue_bytes"); n < 1<<10 || n > 1<<31-1 {
				d.add(v.line, p, "%d bytes is out of range [1 KiB, 2 GiB)", n)
			} else {
				wo.OutQueueBytes = int(n)
			}
		}
		if x.duration("out_queue_timeout", &wo.OutQueueTimeout) && wo.OutQueueTimeout < 100*time.Millisecond {
			v, p := x.take("out_queue_timeout")
			d.add(v.line, p, "%v is too short: at least 100ms, so that a prompt reader has time to drain its queue", wo.OutQueueTimeout)
		}
		// Autobahn protocol knobs that Portico's WebSocket layer fixes to safe values.
		x.ignore("max_frame_size", "auto_ping_size", "fail_by_drop", "echo_close_codereason",
			"tcp_nodelay", "utf8validate_incoming", "require_masked_client_frames", "mask_server_frames",
			"apply_mask", "auto_fragment_size", "show_server_version", "require_websocket_subprotocol",
			"enable_flash_policy", "flash_policy", "external_port", "auto_ping_restart_on_any_traffic",
			"server", "trust_x_forwarded_for", "enable_webstatus_redirect",
			"validate_utf8", "enable_hybi10", "enable_rfc6455")
		x.done()
	}
	if av, ap := o.take("auth"); av != nil && av.kind != kNull {
		ws.Auth = d.decodeAuth(av, ap)
	}
	o.boolean("debug", &ws.Debug)
	if cv, cp := o.take("cookie"); cv != nil && cv.kind != kNull {
		ws.Cookie = d.decodeCookie(cv, cp)
	}
	if ws.Auth != nil && ws.Auth.Cookie && ws.Cookie == nil {
		av, ap := o.take("auth")
		d.add(av.line, childPlace(ap, "cookie"), "the cookie method needs the path's cookie tracking: add \"cookie\": {\"store\": {\"type\": \"memory\"}}")
	}
	o.ignore("url")
	return ws
}

// decodeSessionLimits reads the session bounds of a websocket path's options.
func (d *decoder) decodeSessionLimits(x *obj, l *SessionLimits) {
	if x.duration("auth_timeout", &l.AuthTimeout) && l.AuthTimeout <= 0 {
		av, ap := x.take("auth_timeout")
		d.add(av.line, ap, "0 is not allowed: auth_timeout bounds the WAMP opening handshake and must be positive")
	}
	x.integer("max_subscriptions", 1, 1<<30, &l.MaxSubscriptions)
	x.integer("max_registrations", 1, 1<<30, &l.MaxRegistrations)
	x.integer("max_testaments", 1, 1<<20, &l.MaxTestaments)
	x.integer("max_calls_in_flight", 1, 1<<30, &l.MaxCallsInFlight)
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
	st := &Static{}
	if s, ok := o.str("directory"); ok {
		st.Directory = abs(dir, s)
		dv, dp := o.take("directory")
		if fi, err := os.Stat(st.Directory); os.IsNotExist(err) {
			// Crossbar starts and answers 404 there; a build step may create it later.
			d.warn(dv.line, dp, "%s does not exist: the path answers 404 until it does", st.Directory)
		} else if err != nil {
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
		if x.v.get("cache_timeout") != nil { // null too: no caching header
			st.set = keySet{"cache_timeout": true}
		}
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
	r := &Redirect{}
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

// decodeLongPoll reads a longpoll service's `options` (crossbar/common/checkconfig.py
// check_web_path_service_longpoll; defaults from crossbar/webservice/wap.py's
// RouterWebServiceLongPoll).
func (d *decoder) decodeLongPoll(o *obj) *LongPoll {
	lp := &LongPoll{}
	ov, op := o.take("options")
	if ov == nil || ov.kind == kNull {
		return lp
	}
	x := d.object(ov, op)
	lp.set = x.present()
	var debug bool
	x.boolean("debug", &debug)
	if id, ok := x.str("debug_transport_id"); ok {
		iv, ip := x.take("debug_transport_id")
		if id == "" || strings.ContainsAny(id, "/?#% ") {
			d.add(iv.line, ip, "transport ID %q must be non-empty, without '/', '?', '#', '%%' or spaces", id)
		}
		lp.DebugTransportID = id
	}
	secs := func(key string, hi int64, dst *time.Duration) {
		n := int(*dst / time.Second)
		if x.integer(key, 0, hi, &n) {
			*dst = time.Duration(n) * time.Second
		}
	}
	secs("request_timeout", 3600, &lp.RequestTimeout)
	secs("session_timeout", 86400, &lp.SessionTimeout)
	x.integer("queue_limit_bytes", 1, 1<<30, &lp.QueueLimitBytes)
	x.integer("queue_limit_messages", 1, 1<<20, &lp.QueueLimitMessages)
	x.done()
	return lp
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
	type listen struct {
		host, port, place string
		shared            bool
		worker            string
	}
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
				l = listen{t.Endpoint.Interface, strconv.Itoa(t.Endpoint.Port), ep, t.Endpoint.Shared, w.Place}
			case "unix":
				l = listen{"unix", t.Endpoint.Path, ep, false, w.Place}
			default:
				continue
			}
			for _, p := range seen {
				same := p.host == l.host && p.port == l.port
				// A wildcard interface covers every specific one on the same port.
				wild := l.host != "unix" && p.host != "unix" && p.port == l.port && (p.host == "" || l.host == "")
				if (same || wild) && l.shared && p.shared && l.worker != p.worker {
					break // mergeShared folded the copies, or said what differs
				}
				if (same || wild) && l.shared && p.shared {
					d.add(d.lines[ep], ep, "listens on %s, as %s of the same worker already does: \"shared\" lets several workers accept on one port, not one worker twice", where(l.host, l.port), p.place)
					break
				}
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
