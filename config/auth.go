package config

import "strings"

// Crossbar's transport `auth` object (Crossbar docs "Authentication", and
// crossbar/router/auth/*.py for what each key means). Portico serves the `static` principal
// databases of anonymous, ticket and wampcra; everything else is reported, so that `portico
// check` fails on a config that would otherwise let clients in with less authentication than
// it asks for.

// authMethods are the methods Portico serves; unsupportedAuthMethods are Crossbar's others.
var (
	authMethods            = []string{"anonymous", "ticket", "wampcra"}
	unsupportedAuthMethods = []string{"cryptosign", "cryptosign-proxy", "anonymous-proxy", "scram", "tls", "cookie"}
)

func (d *decoder) decodeAuth(v *value, place string) *Auth {
	a := &Auth{}
	o := d.object(v, place)
	if v.kind == kMap && len(v.keys) == 0 {
		d.add(v.line, place, "no authentication method: list at least one of anonymous, ticket, wampcra, or remove \"auth\" to admit anonymous clients")
	}
	for _, e := range o.v.keys {
		switch {
		case contains(authMethods, e.key), contains(unsupportedAuthMethods, e.key):
		default:
			o.seen[e.key] = true
			d.add(e.line, place, "unknown authentication method %q (want anonymous, ticket or wampcra)", e.key)
		}
	}
	for _, m := range unsupportedAuthMethods {
		if e := o.v.get(m); e != nil {
			o.seen[m] = true
			if m == "anonymous-proxy" || m == "cryptosign-proxy" {
				// Decided once the proxy workers are known (resolveProxies).
				d.proxyAuths = append(d.proxyAuths, proxyAuth{method: m, place: childPlace(place, m), line: e.line})
				continue
			}
			d.add(e.line, childPlace(place, m), "authentication method %q is not supported yet (want anonymous, ticket or wampcra)", m)
		}
	}
	if mv, mp := o.take("anonymous"); mv != nil && mv.kind != kNull {
		if x := d.authMethod(mv, mp); x != nil {
			an := &AnonymousAuth{}
			if r, ok := x.str("role"); ok {
				an.Role = r
				if r == "" {
					rv, rp := x.take("role")
					d.add(rv.line, rp, "empty role")
				}
			}
			an.AuthID, _ = x.str("authid")
			// crossbar/router/auth/anonymous.py joins the static anonymous client to the
			// realm of its HELLO whatever `realm` says.
			x.ignore("realm")
			x.done()
			a.Anonymous = an
		}
	}
	if mv, mp := o.take("ticket"); mv != nil && mv.kind != kNull {
		if x := d.authMethod(mv, mp); x != nil {
			t := &TicketAuth{Principals: map[string]TicketPrincipal{}}
			t.DefaultRole = d.defaultRole(x)
			d.authEntries(x, mp, "principals", func(name, place string, u *obj) {
				t.Principals[name] = TicketPrincipal{
					Ticket: d.secret(u, place, "ticket"),
					Role:   d.role(u, place, t.DefaultRole),
					Realm:  d.authRealm(u),
				}
			})
			x.done()
			a.Ticket = t
		}
	}
	if mv, mp := o.take("wampcra"); mv != nil && mv.kind != kNull {
		if x := d.authMethod(mv, mp); x != nil {
			c := &WAMPCRAAuth{Users: map[string]WAMPCRAUser{}}
			c.DefaultRole = d.defaultRole(x)
			d.authEntries(x, mp, "users", func(name, place string, u *obj) {
				var w WAMPCRAUser
				w.Secret = d.secret(u, place, "secret")
				w.Role = d.role(u, place, c.DefaultRole)
				w.Realm = d.authRealm(u)
				w.Salt, _ = u.str("salt")
				// Bounds: autobahn's pbkdf2 takes any positive count; a client derives
				// the key on every login, so an absurd count is a mistake, not security.
				u.integer("iterations", 1, 10_000_000, &w.Iterations)
				u.integer("keylen", 1, 1024, &w.KeyLen)
				c.Users[name] = w
			})
			x.done()
			a.WAMPCRA = c
		}
	}
	o.done()
	return a
}

// authEntries calls fn for each entry of the object under key in method x (ticket
// `principals`, wampcra `users`), with the entry's name, key path and object, which it closes
// afterwards so that unknown keys in it are reported.
func (d *decoder) authEntries(x *obj, mp, key string, fn func(name, place string, u *obj)) {
	v, p := x.take(key)
	if v == nil || v.kind == kNull {
		d.add(x.line(), mp, "missing %q", key)
		return
	}
	o := d.object(v, p)
	for _, e := range o.v.keys {
		o.seen[e.key] = true
		ep := childPlace(p, e.key)
		if e.val.line == 0 {
			e.val.line = e.line
		}
		u := d.object(e.val, ep)
		fn(e.key, ep, u)
		u.done()
	}
	o.done()
}

// authMethod checks a method's object and its `type`; nil when it cannot be used.
func (d *decoder) authMethod(v *value, place string) *obj {
	x := d.object(v, place)
	if v.kind != kMap {
		return nil
	}
	t, ok := x.str("type")
	tv, tp := x.take("type")
	switch {
	case !ok && tv == nil:
		d.add(x.line(), place, "missing \"type\" (Portico serves \"static\")")
		return nil
	case !ok:
		return nil // reported by str
	case t == "dynamic" || t == "function":
		// A dynamic authenticator is a WAMP procedure; "function" is a Python callable.
		d.add(tv.line, tp, "authentication type %q is not supported yet (Portico serves \"static\")", t)
		return nil
	case t != "static":
		d.add(tv.line, tp, "unknown authentication type %q (want \"static\")", t)
		return nil
	}
	return x
}

// required reads a string key that must be present and not empty.
func (d *decoder) required(u *obj, place, key string) string {
	s, ok := u.str(key)
	if !ok {
		if !u.has(key) {
			d.add(u.line(), place, "missing %q", key)
		}
		return ""
	}
	if s == "" {
		v, p := u.take(key)
		d.add(v.line, p, "empty %s", key)
	}
	return s
}

// secret reads a required ticket or secret, which may name an environment variable ("${VAR}",
// as Crossbar's maybe_from_env, or "$VAR").
func (d *decoder) secret(u *obj, place, key string) string {
	s := d.required(u, place, key)
	if s == "" {
		return ""
	}
	v, p := u.take(key)
	if env, ok := d.fromEnv(s, v.line, p); ok && env == "" {
		// An empty ticket would admit whoever sends nothing.
		d.add(v.line, p, "environment variable %s is empty", strings.Trim(s, "${}"))
	} else {
		s = env
	}
	return s
}

// defaultRole reads a method's optional `default-role` (Crossbar's PendingAuth: the role of a
// principal that names none).
func (d *decoder) defaultRole(x *obj) string {
	r, ok := x.str("default-role")
	if ok && r == "" {
		v, p := x.take("default-role")
		d.add(v.line, p, "empty role")
	}
	return r
}

// role reads a principal's optional `role` ("" when absent: applyDefaults gives it the method's
// default-role, def). Crossbar accepts a
// principal without either and denies its every login ("no authrole assigned"): so does the
// router, and Portico warns.
func (d *decoder) role(u *obj, place, def string) string {
	r, ok := u.str("role")
	switch {
	case ok && r == "":
		v, p := u.take("role")
		d.add(v.line, p, "empty role")
	case ok:
		return r
	case !u.has("role") && def == "":
		d.warn(u.line(), place, "no \"role\" and no \"default-role\" for the method: its logins are denied (wamp.error.no_such_role), as in Crossbar")
	}
	return ""
}

// authRealm reads a principal's optional `realm`.
func (d *decoder) authRealm(u *obj) string {
	r, ok := u.str("realm")
	if ok && !validURI(r, false) {
		v, p := u.take("realm")
		d.add(v.line, p, "realm name %q is not a valid WAMP URI (dot-separated components without spaces or '#')", r)
	}
	return r
}
