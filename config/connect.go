package config

import (
	"errors"
	"net/url"
	"os"
	"strings"
)

// checkRawSocketURL checks a component's RawSocket `url` as autobahn's
// autobahn.rawsocket.util.parse_url reads it: "rs://host:port" or "rss://host:port" for TCP,
// "rs://unix:/path/to.sock" (or a relative path, "rs://unix:crossbar.sock") for a unix
// socket. The URL only names the peer: the component connects to its `endpoint`.
func checkRawSocketURL(u string) error {
	const want = "want a RawSocket URL such as \"rs://127.0.0.1:8080\" or \"rs://unix:/path/to.sock\""
	rest, ok := strings.CutPrefix(u, "rs://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "rss://"); !ok {
			return errors.New(want)
		}
	}
	if p, ok := strings.CutPrefix(rest, "unix:"); ok {
		if p == "" || strings.ContainsAny(p, "?#") {
			return errors.New(want)
		}
		return nil
	}
	pu, err := url.Parse("rs://" + rest)
	if err != nil || pu.Hostname() == "" || pu.Path != "" || pu.RawQuery != "" || pu.Fragment != "" {
		return errors.New(want)
	}
	return nil
}

// decodeConnectTLS reads a connecting endpoint's `tls`: `hostname` (required),
// `ca_certificates`, `certificate` and `key`, the files relative to the node directory.
func (d *decoder) decodeConnectTLS(v *value, place, dir string) *ConnectTLS {
	o := d.object(v, place)
	t := &ConnectTLS{}
	if h, ok := o.str("hostname"); ok && h != "" {
		t.Hostname = h
	} else if !o.has("hostname") || ok {
		d.add(o.line(), place, "missing \"hostname\" (the name the router's certificate must carry)")
	}
	file := func(key, name string) string {
		p := abs(dir, name)
		fv, fp := o.take(key)
		if _, err := os.Stat(p); err != nil {
			d.add(fv.line, fp, "%s", statMsg(err, p))
		}
		return p
	}
	if cas, ok := o.strList("ca_certificates", false); ok {
		cv, cp := o.take("ca_certificates")
		for i, c := range cas {
			p := abs(dir, c)
			if _, err := os.Stat(p); err != nil {
				d.add(cv.list[i].line, indexPlace(cp, i), "%s", statMsg(err, p))
			}
			t.CACertificates = append(t.CACertificates, p)
		}
	}
	cert, hasCert := o.str("certificate")
	key, hasKey := o.str("key")
	switch {
	case hasKey && !hasCert:
		kv, kp := o.take("key")
		d.add(kv.line, kp, "a client key without its \"certificate\" (Crossbar refuses it too)")
	case hasCert && !hasKey:
		cv, cp := o.take("certificate")
		d.warn(cv.line, cp, "not shown: a client certificate needs its \"key\"; the component connects without one, as in Crossbar")
	case hasCert && hasKey:
		t.Certificate, t.Key = file("certificate", cert), file("key", key)
	}
	o.done()
	return t
}

// decodeResource reads a `resource` path service: `classname` and `extra` (Crossbar's
// check_web_path_service_resource).
func (d *decoder) decodeResource(o *obj, place string) *Resource {
	r := &Resource{}
	if c, ok := o.str("classname"); ok {
		cv, cp := o.take("classname")
		if i := strings.LastIndexByte(c, '.'); i <= 0 || i == len(c)-1 {
			d.add(cv.line, cp, "%q: want \"module.Class\"", c)
		}
		r.Classname = c
	} else if !o.has("classname") {
		d.add(o.line(), place, "missing \"classname\" (the Twisted Web resource class, \"module.Class\")")
	}
	if ev, _ := o.take("extra"); ev != nil && ev.kind != kNull {
		r.Extra = ev.iface()
	}
	return r
}
