package config

import (
	"regexp"
	"time"
)

// Crossbar's WebSocket cookie tracking (a websocket path's `cookie`; Crossbar docs "Cookie
// Tracking", crossbar/router/cookiestore.py, checkconfig check_transport_cookie) and the
// `cookie` authentication method that rides on it ("Cookie Authentication").

// Cookie is a websocket path's `cookie`: each WebSocket connection of the path carries a
// tracking cookie; one it does not bring, or one the store does not know, is created and set
// on the opening handshake's response. Once a session of the connection has authenticated by
// another method, the cookie remembers that authentication (authid, authrole, authmethod,
// realm), and a later connection bringing it may join with the `cookie` method without
// authenticating again.
type Cookie struct {
	// Name is the cookie's name (Crossbar's `name`, default "cbtid"; lowercase letters,
	// digits and "_", starting with a letter).
	Name string
	// Length is the number of random characters of a new cookie's value (6..64, default 24).
	Length int
	// MaxAge is the cookie's lifetime (`max_age`, seconds; default 7 days, at most 10 years):
	// the browser's Max-Age, and how long the store keeps it.
	MaxAge time.Duration
	// Store is the store type: "memory" (the default) keeps the cookies in the process, lost
	// when Portico restarts or reloads the path; "file" (Crossbar's CookieStoreFileBacked)
	// also appends each cookie's authentication to File, one JSON record a line, and reads
	// it back at start.
	Store string
	// File is the file store's `filename`, resolved against the node directory.
	File string
	// PurgeOnStartup empties the file at start (`purge_on_startup`).
	PurgeOnStartup bool
	// Secure, HTTPStrict and SameSite add the Secure, HttpOnly and SameSite attributes to the
	// Set-Cookie header (Crossbar's `secure`, `http_strict`, `same_site`).
	Secure, HTTPStrict bool
	SameSite           string
}

// cookieNamePat is Crossbar's _COOKIE_NAME_PAT.
var cookieNamePat = regexp.MustCompile(`^[a-z][a-z0-9_]+$`)

// decodeCookie reads a websocket path's `cookie` object.
func (d *decoder) decodeCookie(v *value, place string) *Cookie {
	c := &Cookie{}
	o := d.object(v, place)
	if name, ok := o.str("name"); ok {
		if nv, np := o.take("name"); !cookieNamePat.MatchString(name) {
			d.add(nv.line, np, "invalid cookie name %q: lowercase letters, digits and \"_\", starting with a letter (Crossbar's rule)", name)
		}
		c.Name = name
	}
	o.integer("length", 6, 64, &c.Length)
	var age int
	if o.integer("max_age", 1, 86400*360*10, &age) {
		c.MaxAge = time.Duration(age) * time.Second
	}
	o.boolean("secure", &c.Secure)
	o.boolean("http_strict", &c.HTTPStrict)
	if ss, ok := o.str("same_site"); ok {
		sv, sp := o.take("same_site")
		if d.oneOf(sv.line, sp, "same_site", ss, "Strict", "Lax", "None") {
			c.SameSite = ss
		}
	}
	if sv, sp := o.take("store"); sv != nil && sv.kind != kNull {
		s := d.object(sv, sp)
		t, ok := s.str("type")
		tv, tp := s.take("type")
		switch {
		case !ok && tv == nil:
			d.add(s.line(), sp, "missing \"type\" (want \"memory\" or \"file\")")
		case !ok:
		case t == "memory":
		case t == "file":
			c.Store = t
			if f := d.required(s, sp, "filename"); f != "" {
				c.File = abs(d.cbdir, f)
			}
			s.boolean("purge_on_startup", &c.PurgeOnStartup)
		case t == "database":
			// Crossbar's LMDB-backed store.
			s.ignore("path", "maxsize", "readonly", "sync", "purge_on_startup")
			d.add(tv.line, tp, "cookie store type %q is not supported yet (want \"memory\" or \"file\")", t)
		default:
			d.add(tv.line, tp, "unknown cookie store type %q (want \"memory\" or \"file\")", t)
		}
		s.done()
	}
	o.done()
	return c
}

// decodeCookieAuth reads the `cookie` authentication method: an object without keys
// (Crossbar's has none).
func (d *decoder) decodeCookieAuth(v *value, place string) bool {
	if v.kind == kNull {
		return false
	}
	x := d.object(v, place)
	x.done()
	return v.kind == kMap
}
