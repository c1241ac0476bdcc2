package config

import "strings"

// Crossbar's transport `auth` object (Crossbar docs "Authentication", and
// crossbar/router/auth/*.py for what each key means). Portico serves anonymous, ticket,
// wampcra and cryptosign, each `static` or `dynamic`; everything else is reported, so that
// `portico check` fails on a config that would otherwise let clients in with less
// authentication than it asks for.

// authMethods are the methods Portico serves; unsupportedAuthMethods are Crossbar's others.
var (
	authMethods            = []string{"anonymous", "ticket", "wampcra", "cryptosign", "tls", "cookie"}
	unsupportedAuthMethods = []string{"cryptosign-proxy", "anonymous-proxy", "scram"}
)

// wantMethods names authMethods for error messages: "want anonymous, ticket, ... or cookie".
var wantMethods = "want " + strings.Join(authMethods[:len(authMethods)-1], ", ") + " or " + authMethods[len(authMethods)-1]

func (d *decoder) decodeAuth(v *value, place string) *Auth {
	a := &Auth{}
	o := d.object(v, place)
	if v.kind == kMap && len(v.keys) == 0 {
		d.add(v.line, place, "no authentication method: list at least one of %s, or remove \"auth\" to admit anonymous clients", strings.Join(authMethods, ", "))
	}
	for _, e := range o.v.keys {
		switch {
		case contains(authMethods, e.key), contains(unsupportedAuthMethods, e.key):
		default:
			o.seen[e.key] = true
			d.add(e.line, place, "unknown authentication method %q ("+wantMethods+")", e.key)
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
			d.add(e.line, childPlace(place, m), "authentication method %q is not supported yet ("+wantMethods+")", m)
		}
	}
	if mv, mp := o.take("anonymous"); mv != nil && mv.kind != kNull {
		if x, dyn := d.authMethod(mv, mp); x != nil {
			an := &AnonymousAuth{Dynamic: dyn}
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
			if dyn != nil {
				// The authenticator's answer names the role; the configured one, or
				// Crossbar's default, is the default-role.
				if r := d.defaultRole(x); r != "" {
					an.Role = r
				}
			}
			x.done()
			a.Anonymous = an
		}
	}
	if mv, mp := o.take("ticket"); mv != nil && mv.kind != kNull {
		if x, dyn := d.authMethod(mv, mp); x != nil {
			t := &TicketAuth{Principals: map[string]TicketPrincipal{}, Dynamic: dyn}
			t.DefaultRole = d.defaultRole(x)
			d.authEntries(x, mp, "principals", dyn != nil, func(name, place string, u *obj) {
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
		if x, dyn := d.authMethod(mv, mp); x != nil {
			c := &WAMPCRAAuth{Users: map[string]WAMPCRAUser{}, Dynamic: dyn}
			c.DefaultRole = d.defaultRole(x)
			d.authEntries(x, mp, "users", dyn != nil, func(name, place string, u *obj) {
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
	if mv, mp := o.take("cookie"); mv != nil {
		a.Cookie = d.decodeCookieAuth(mv, mp) // config/cookie.go
	}
	if mv, mp := o.take("cryptosign"); mv != nil && mv.kind != kNull {
		if x, dyn := d.authMethod(mv, mp); x != nil {
			c := &CryptosignAuth{Principals: map[string]CryptosignPrincipal{}, Dynamic: dyn}
			c.DefaultRole = d.defaultRole(x)
			if x.has("trustroots") {
				v, p := x.take("trustroots")
				d.add(v.line, p, "cryptosign trust roots (XBR certificates) are not supported yet (use \"principals\")")
			} else {
				d.authEntries(x, mp, "principals", dyn != nil, func(name, place string, u *obj) {
					c.Principals[name] = CryptosignPrincipal{
						AuthorizedKeys: d.authorizedKeys(u, place),
						Role:           d.role(u, place, c.DefaultRole),
						Realm:          d.authRealm(u),
					}
				})
			}
			x.done()
			a.Cryptosign = c
		}
	}
	if mv, mp := o.take("tls"); mv != nil && mv.kind != kNull {
		if x, dyn := d.authMethod(mv, mp); x != nil {
			c := &TLSAuth{Principals: map[string]TLSPrincipal{}, Dynamic: dyn}
			c.DefaultRole = d.defaultRole(x)
			d.authEntries(x, mp, "principals", dyn != nil, func(name, place string, u *obj) {
				c.Principals[name] = TLSPrincipal{
					CertificateSHA1: d.fingerprint(u, place),
					Role:            d.role(u, place, c.DefaultRole),
					Realm:           d.authRealm(u),
				}
			})
			x.done()
			a.TLS = c
		}
	}
	o.done()
	return a
}

// fingerprint reads a tls principal's `certificate-sha1`: 20 bytes in hex, with or without
// colons, as "AA:BB:..." (OpenSSL's and Crossbar's spelling).
func (d *decoder) fingerprint(u *obj, place string) string {
	s := d.required(u, place, "certificate-sha1")
	if s == "" {
		return ""
	}
	h := strings.ToUpper(strings.ReplaceAll(s, ":", ""))
	if len(h) != 40 || strings.Trim(h, "0123456789ABCDEF") != "" {
		v, p := u.take("certificate-sha1")
		d.add(v.line, p, "%q is not a SHA-1 fingerprint (40 hex digits, colons allowed)", s)
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// authorizedKeys reads a cryptosign principal's `authorized_keys`: Ed25519 public keys, 32
// bytes in hex (as autobahn's SigningKey.public_key() and Crossbar write them).
func (d *decoder) authorizedKeys(u *obj, place string) []string {
	keys, ok := u.strList("authorized_keys", false)
	v, p := u.take("authorized_keys")
	switch {
	case v == nil || v.kind == kNull:
		d.add(u.line(), place, "missing \"authorized_keys\"")
		return nil
	case !ok:
		return nil
	case len(keys) == 0:
		d.add(v.line, p, "no key: list at least one Ed25519 public key (64 hex digits)")
	}
	for i, k := range keys {
		if !validPubkey(k) {
			d.add(v.list[i].line, indexPlace(p, i), "%q is not an Ed25519 public key (64 hex digits)", k)
		}
		keys[i] = strings.ToLower(k)
	}
	return keys
}

// validPubkey reports whether s is 32 bytes in hex.
func validPubkey(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// authEntries calls fn for each entry of the object under key in method x (ticket
// `principals`, wampcra `users`), with the entry's name, key path and object, which it closes
// afterwards so that unknown keys in it are reported. A dynamic method has none (authenticator
// reported them).
func (d *decoder) authEntries(x *obj, mp, key string, dynamic bool, fn func(name, place string, u *obj)) {
	if dynamic {
		return
	}
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

// authMethod checks a method's object and its `type`; x is nil when it cannot be used. For
// `type: "dynamic"` it reads the authenticator's keys into dyn (the method's static keys,
// such as `principals`, are then not wanted).
func (d *decoder) authMethod(v *value, place string) (x *obj, dyn *Authenticator) {
	x = d.object(v, place)
	if v.kind != kMap {
		return nil, nil
	}
	t, ok := x.str("type")
	tv, tp := x.take("type")
	switch {
	case !ok && tv == nil:
		d.add(x.line(), place, "missing \"type\" (want \"static\" or \"dynamic\")")
		return nil, nil
	case !ok:
		return nil, nil // reported by str
	case t == "function":
		// "function" is a Python callable inside Crossbar's router process.
		d.add(tv.line, tp, "authentication type %q is not supported yet (Portico serves \"static\" and \"dynamic\")", t)
		return nil, nil
	case t == "dynamic":
		return d.authenticator(x, place)
	case t != "static":
		d.add(tv.line, tp, "unknown authentication type %q (want \"static\" or \"dynamic\")", t)
		return nil, nil
	}
	return x, nil
}

// authenticator reads a dynamic method's `authenticator`, `authenticator-realm` and
// `authenticator-role` (crossbar/router/auth/pending.py _init_dynamic_authenticator), and
// reports the static method's keys, which a dynamic method does not read.
func (d *decoder) authenticator(x *obj, place string) (*obj, *Authenticator) {
	a := &Authenticator{Procedure: d.required(x, place, "authenticator")}
	if a.Procedure != "" && !validURI(a.Procedure, false) {
		v, p := x.take("authenticator")
		d.add(v.line, p, "procedure %q is not a valid WAMP URI (dot-separated components without spaces or '#')", a.Procedure)
	}
	if r, ok := x.str("authenticator-realm"); ok && !validURI(r, false) {
		v, p := x.take("authenticator-realm")
		d.add(v.line, p, "realm name %q is not a valid WAMP URI (dot-separated components without spaces or '#')", r)
	} else {
		a.Realm = r
	}
	if r, ok := x.str("authenticator-role"); ok && r == "" {
		v, p := x.take("authenticator-role")
		d.add(v.line, p, "empty role")
	} else {
		a.Role = r
	}
	for _, k := range []string{"principals", "users", "trustroots"} {
		if v, p := x.take(k); v != nil {
			d.add(v.line, p, "%q is for type \"static\": a dynamic method asks its authenticator", k)
		}
	}
	return x, a
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
