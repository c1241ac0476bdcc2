package config

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// The HTTP bridge path services (Crossbar's REST bridge). Their keys are Crossbar's checkconfig
// ones: check_web_path_service_publisher, _caller and _webhook in crossbar/common/checkconfig.py.

// Crossbar's bounds of post_body_limit and timestamp_delta_limit (checkconfig.py
// check_web_path_service_rest_post_body_limit and _timestamp_delta_limit).
const (
	maxPostBodyLimit       = 1 << 20
	maxTimestampDeltaLimit = 86400
	// DefaultTimestampDeltaLimit is timestamp_delta_limit's default, in seconds
	// (crossbar/bridge/rest/common.py).
	DefaultTimestampDeltaLimit = 300
)

func (d *decoder) decodeBridge(o *obj, typ, place string, w *Worker) *Bridge {
	b := &Bridge{}
	if w.Type != "router" {
		d.add(o.line(), place, "a %q service on a %s worker is not supported yet (Portico serves the HTTP bridge on router workers)", typ, w.Type)
	}
	if r, ok := o.str("realm"); ok {
		rv, rp := o.take("realm")
		switch {
		case !validURI(r, false):
			d.add(rv.line, rp, "%q is not a valid realm name (a WAMP URI)", r)
		case len(w.Realms) > 0 && !hasRealm(w.Realms, r):
			d.add(rv.line, rp, "realm %q is not one of the worker's realms", r)
		}
		b.Realm = r
	} else if !o.has("realm") {
		d.add(o.line(), place, "missing \"realm\" (the realm the %s's session joins)", typ)
	}
	if r, ok := o.str("role"); ok {
		rv, rp := o.take("role")
		if r == "" {
			d.add(rv.line, rp, "empty role")
		}
		b.Role = r
	}
	ov, op := o.take("options")
	if ov == nil || ov.kind == kNull {
		if typ == "webhook" {
			d.add(o.line(), place, "missing \"options\" with the webhook's \"topic\"")
		}
		return b
	}
	x := d.object(ov, op)
	b.set = x.present()
	x.boolean("debug", &b.Debug)
	x.integer("post_body_limit", 0, maxPostBodyLimit, &b.PostBodyLimit)
	if typ == "webhook" {
		if t, ok := x.str("topic"); ok {
			tv, tp := x.take("topic")
			if !validURI(t, false) {
				d.add(tv.line, tp, "%q is not a valid topic (a WAMP URI)", t)
			}
			b.Topic = t
		} else if !x.has("topic") {
			d.add(x.line(), op, "missing \"topic\" (where the webhook publishes)")
		}
		if s, ok := x.str("success_response"); ok {
			b.SuccessResponse = s
		}
		if s, ok := x.str("error_response"); ok {
			b.ErrorResponse = s
		}
		b.GitHubSecret, _ = x.str("github_secret")
		x.done()
		return b
	}
	b.Key, _ = x.str("key")
	if s, ok := x.str("secret"); ok {
		sv, sp := x.take("secret")
		if s == "" {
			d.add(sv.line, sp, "empty secret: remove it to accept unsigned requests")
		}
		b.Secret = s
	}
	if b.Secret != "" && !x.has("key") {
		d.add(x.line(), op, "\"secret\" without \"key\": signed requests name the key they are signed with")
	}
	x.boolean("require_tls", &b.RequireTLS)
	x.integer("timestamp_delta_limit", 0, maxTimestampDeltaLimit, &b.TimestampDeltaLimit)
	if nets, ok := x.strList("require_ip", false); ok {
		nv, np := x.take("require_ip")
		for i, n := range nets {
			line := nv.line
			if i < len(nv.list) {
				line = nv.list[i].line
			}
			p, err := parseNetwork(n)
			if err != "" {
				d.add(line, indexPlace(np, i), "%s", err)
				continue
			}
			if m := p.Masked(); m != p {
				// Crossbar's own examples write "192.168.1.1/255.255.255.0": its older
				// netaddr-based check read that as the network; the ipaddress module of
				// current Crossbar refuses it (host bits set). Read it as the network.
				d.warn(line, indexPlace(np, i), "%q has host bits set: read as %q", n, m.String())
				p = m
			}
			b.RequireIP = append(b.RequireIP, p)
		}
	}
	x.done()
	return b
}

func hasRealm(rs []Realm, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// parseNetwork reads one require_ip entry as Python's ipaddress.ip_network does, which Crossbar
// uses: an address, address/prefix length, or address/netmask.
func parseNetwork(s string) (netip.Prefix, string) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, "\"" + s + "\" is not an IP address or network (\"10.0.0.0/8\", \"127.0.0.1\", \"192.168.1.0/255.255.255.0\")"
	}
	n := a.BitLen()
	if hasBits {
		if m, err := netip.ParseAddr(bits); err == nil && a.Is4() && m.Is4() {
			n = maskLen(m.As4())
			if n < 0 {
				return netip.Prefix{}, "\"" + s + "\": " + bits + " is not a netmask"
			}
		} else {
			n = 0
			if len(bits) == 0 || len(bits) > 3 {
				n = -1
			}
			for _, c := range bits {
				if c < '0' || c > '9' {
					n = -1
					break
				}
				n = n*10 + int(c-'0')
			}
			if n < 0 || n > a.BitLen() {
				return netip.Prefix{}, "\"" + s + "\": the prefix length must be 0 to " + strconv.Itoa(a.BitLen())
			}
		}
	}
	return netip.PrefixFrom(a, n), ""
}

// maskLen is the prefix length of a contiguous IPv4 netmask, -1 for any other address.
func maskLen(m [4]byte) int {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for v&(1<<31) != 0 {
		v <<= 1
		n++
	}
	if v != 0 {
		return -1
	}
	return n
}

// nativeClasses are the router component classes Portico runs in Go (Crossbar's HTTP bridge
// components; crossbar.adapter.rest is where Crossbar before 17.x kept them).
var nativeClasses = map[string]string{
	"crossbar.bridge.rest.RESTCallee":        "callee",
	"crossbar.adapter.rest.RESTCallee":       "callee",
	"crossbar.bridge.rest.MessageForwarder":  "forwarder",
	"crossbar.adapter.rest.MessageForwarder": "forwarder",
}

// decodeNativeComponent reads the `extra` of a router component Portico runs natively.
func (d *decoder) decodeNativeComponent(c *Component, ev *value, ep, place string, line int) {
	kind, ok := nativeClasses[c.Classname]
	if !ok || c.Type != "class" {
		return
	}
	if ev == nil || ev.kind == kNull {
		d.add(line, place, "missing \"extra\" (the settings of %s)", c.Classname)
		return
	}
	x := d.object(ev, ep)
	httpURL := func(key string) string {
		u, ok := x.str(key)
		if !ok {
			if !x.has(key) {
				d.add(x.line(), ep, "missing %q", key)
			}
			return ""
		}
		uv, up := x.take(key)
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			d.add(uv.line, up, "%q is not an http or https URL", u)
		}
		return u
	}
	if kind == "callee" {
		rc := &RESTCallee{BaseURL: httpURL("baseurl")}
		if p, ok := x.str("procedure"); ok {
			pv, pp := x.take("procedure")
			if !validURI(p, false) {
				d.add(pv.line, pp, "%q is not a valid procedure URI", p)
			}
			rc.Procedure = p
		} else if !x.has("procedure") {
			d.add(x.line(), ep, "missing \"procedure\"")
		}
		x.done()
		c.RESTCallee = rc
		return
	}
	f := &MessageForwarder{}
	x.boolean("debug", &f.Debug)
	x.boolean("sort_keys", &f.SortKeys)
	if m, ok := x.str("method"); ok {
		f.Method = strings.ToUpper(m)
	}
	x.integer("expectedcode", 100, 599, &f.ExpectedCode)
	subs, sp := x.list("subscriptions")
	if len(subs) == 0 {
		d.add(x.line(), ep, "missing \"subscriptions\" (a list of {\"topic\", \"url\"})")
	}
	for i, sv := range subs {
		so := d.object(sv, elemPlace(sv, sp, i))
		fw := Forward{}
		if t, ok := so.str("topic"); ok {
			fw.Topic = t
		} else if !so.has("topic") {
			d.add(so.line(), so.place, "missing \"topic\"")
		}
		if m, ok := so.str("match"); ok {
			mv, mp := so.take("match")
			if d.oneOf(mv.line, mp, "match", m, "exact", "prefix", "wildcard") {
				fw.Match = m
			}
		}
		if fw.Topic != "" && !validURI(fw.Topic, fw.Match == "wildcard") {
			// (Match is "" for exact here: applyDefaults fills it in.)
			tv, tp := so.take("topic")
			d.add(tv.line, tp, "%q is not a valid topic for match %q", fw.Topic, fw.Match)
		}
		if u, ok := so.str("url"); ok {
			uv, up := so.take("url")
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				d.add(uv.line, up, "%q is not an http or https URL", u)
			}
			fw.URL = u
		} else if !so.has("url") {
			d.add(so.line(), so.place, "missing \"url\"")
		}
		so.done()
		f.Subscriptions = append(f.Subscriptions, fw)
	}
	x.done()
	c.Forwarder = f
}
