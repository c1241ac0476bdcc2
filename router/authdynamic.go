package router

import (
	"errors"
	"fmt"
	"net"

	"portico/config"
	"portico/router/wamp"
)

// Dynamic authenticators (Crossbar "Dynamic Authenticators"; crossbar/router/auth/pending.py
// and the methods' files): the router calls the configured procedure with
// (realm, authid, details) and the answer decides the login.
//
//   - anonymous: called at HELLO; the client joins with the answer.
//   - ticket: CHALLENGE first; called at AUTHENTICATE with the ticket in details["ticket"].
//   - wampcra: called at HELLO for the user's secret (and salt); the CHALLENGE follows.
//   - cryptosign: called at HELLO for the public key to verify with; the CHALLENGE follows.
//
// The answer is a role (a string) or an object with `role`, `realm`, `authid`, `extra` and
// the method's keys (parsePrincipal). An ERROR from the authenticator is the client's ABORT,
// reason and message, as in Crossbar (so wamp.error.no_such_procedure while the authenticator
// is not registered yet, and the URI of an ApplicationError the authenticator raises), but
// for wamp.error.runtime_error (the authenticator crashed), which is
// wamp.error.authentication_failed without the exception's text. An authenticator that does
// not answer within the transport's auth_timeout ends the login with
// wamp.error.authentication_failed. Each failure is one log line.

const (
	errAuthenticationFailed = wamp.URI("wamp.error.authentication_failed")
	errNoSuchPrincipal      = wamp.URI("wamp.error.no_such_principal")
	errRuntimeError         = wamp.URI("wamp.error.runtime_error")
)

// principal is a dynamic authenticator's answer (pending.py _assign_principal).
type principal struct {
	role, realm, authid          string
	hasRole, hasRealm, hasAuthid bool
	extra                        wamp.Dict // WELCOME.Details.authextra
	// WAMP-CRA: the user's secret, and the PBKDF2 parameters when salted.
	secret, salt       string
	iterations, keylen int
	// Cryptosign: the public key, 64 hex digits.
	pubkey string
}

// parsePrincipal reads an authenticator's answer: a role string, or an object. Keys it does
// not know (Crossbar's `cache`, a principal's `authorized_keys`) are ignored, as Crossbar does.
func parsePrincipal(v any) (principal, error) {
	var p principal
	switch x := v.(type) {
	case string:
		p.role, p.hasRole = x, true
		return p, nil
	case map[string]any:
		str := func(key string, dst *string, has *bool) error {
			e, ok := x[key]
			if !ok || e == nil {
				return nil
			}
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("%q must be a string, not %s", key, typeName(e))
			}
			*dst = s
			if has != nil {
				*has = true
			}
			return nil
		}
		num := func(key string, lo, hi int64, dst *int) error {
			e, ok := x[key]
			if !ok || e == nil {
				return nil
			}
			n, ok := toInt(e)
			if !ok || n < lo || n > hi {
				return fmt.Errorf("%q must be an integer in [%d, %d], not %v", key, lo, hi, e)
			}
			*dst = int(n)
			return nil
		}
		for _, err := range []error{
			str("role", &p.role, &p.hasRole),
			str("realm", &p.realm, &p.hasRealm),
			str("authid", &p.authid, &p.hasAuthid),
			str("secret", &p.secret, nil),
			str("salt", &p.salt, nil),
			str("pubkey", &p.pubkey, nil),
			num("iterations", 1, 10_000_000, &p.iterations),
			num("keylen", 1, 1024, &p.keylen),
		} {
			if err != nil {
				return p, err
			}
		}
		if e, ok := x["extra"]; ok && e != nil {
			d, ok := e.(map[string]any)
			if !ok {
				return p, fmt.Errorf("\"extra\" must be an object, not %s", typeName(e))
			}
			p.extra = d
		}
		if p.hasRealm {
			if err := checkURI(wamp.URI(p.realm), false, matchExact); err != nil {
				return p, fmt.Errorf("invalid realm %q: %v", p.realm, err)
			}
		}
		return p, nil
	}
	return p, fmt.Errorf("got invalid return type %s from dynamic authenticator (want a role or an object)", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case int64, uint64, float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// assign applies an answer to the pending login, as _assign_principal: the answer's realm,
// authid and role replace those of HELLO, the method's default-role fills a missing role.
// Whether the realm and the role exist is join's to say.
func (pa *pendingAuth) assign(p principal, defaultRole string) *authError {
	if p.hasRealm {
		pa.realm = wamp.URI(p.realm)
	}
	if p.hasAuthid {
		pa.authid = p.authid
	}
	switch {
	case p.hasRole:
		pa.role = p.role
	case defaultRole != "":
		pa.role = defaultRole
	}
	pa.extra = p.extra
	switch {
	case pa.realm == "":
		return &authError{errNoSuchRealm, "no realm assigned"}
	case pa.authid == "":
		return &authError{errNoSuchPrincipal, "no authid assigned"}
	case pa.role == "":
		return &authError{errNoSuchRole, "no authrole assigned"}
	}
	return nil
}

// authDetails is the `details` argument of the authenticator (pending.py _session_details,
// completed by each method): the transport, the session ID the WELCOME will carry, and what
// HELLO said.
func (s *session) authDetails(method string, m *wamp.Hello) wamp.Dict {
	if s.id == 0 {
		s.id = globalID() // join keeps it
	}
	var authextra any
	if e, ok := m.Details["authextra"].(map[string]any); ok {
		authextra = e
	}
	d := wamp.Dict{
		"transport":  s.transportDetails(),
		"session":    uint64(s.id),
		"authmethod": method,
		"authextra":  authextra,
	}
	if method != "ticket" && method != "anonymous" {
		d["authid"], d["authrole"] = stringOrNil(m.Details["authid"]), stringOrNil(m.Details["authrole"])
	}
	return d
}

func stringOrNil(v any) any {
	if s, ok := v.(string); ok {
		return s
	}
	return nil
}

// transportDetails describes the client's transport with the keys of autobahn's
// TransportDetails.marshal that Portico knows.
func (s *session) transportDetails() wamp.Dict {
	typ, framing := "tcp", s.info.Transport
	if s.info.Secure {
		typ = "tls"
	}
	if s.info.Transport == "inprocess" {
		typ, framing = "function", "native"
	}
	d := wamp.Dict{
		"type":               s.info.Transport, // as in the session meta API
		"protocol":           s.info.Protocol,
		"channel_type":       typ,
		"channel_framing":    framing,
		"channel_serializer": s.codec.Name(),
		"peer":               peerString(s.info.RemoteAddr),
		"is_server":          true,
		"is_secure":          s.info.Secure,
	}
	if s.info.Transport == "websocket" {
		d["websocket_protocol"] = s.info.Protocol
	}
	if c := s.info.PeerCert; c != nil {
		pc := peerCertDetails(c)
		d["peer_cert"], d["client_cert"] = pc, pc // client_cert: older Crossbar's name
	}
	return d
}

// peerString writes a peer address as autobahn's peer2str does ("tcp4:127.0.0.1:8080").
func peerString(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.To4() == nil {
		return "tcp6:" + host + ":" + port
	}
	return "tcp4:" + host + ":" + port
}

// callAuthenticator asks a's procedure about the login in pa and returns its parsed answer.
// The session's reader waits meanwhile: a client sends nothing between HELLO and CHALLENGE
// or WELCOME, and between AUTHENTICATE and WELCOME. If auth_timeout strikes first,
// authExpired ends the session (ABORT wamp.error.authentication_failed) and the wait ends
// with it.
func (s *session) callAuthenticator(pa *pendingAuth, a *config.Authenticator, realm wamp.URI, authid any, details wamp.Dict) (principal, *authError) {
	arealm := realm
	if a.Realm != "" {
		arealm = wamp.URI(a.Realm)
	}
	role := a.Role
	if role == "" {
		role = "trusted"
	}
	if s.r.existing(arealm) == nil && s.r.dynamic {
		// Realms are made on HELLO here: nobody can have registered the authenticator on one
		// that does not exist, and a service session would make (and keep) a realm for every
		// name a client sends.
		ae := &authError{errNoSuchProcedure, fmt.Sprintf("no callee registered for procedure %q", a.Procedure)}
		s.log.Info("router: dynamic authenticator denied or failed", "authmethod", pa.method,
			"authenticator", a.Procedure, "realm", realm, "reason", ae.reason, "message", ae.msg, "peer", s.info.RemoteAddr)
		return principal{}, ae
	}
	svc := s.r.authService(arealm, role)
	s.authWait.Store(&a.Procedure)
	defer s.authWait.Store(nil)
	// The CALL's timeout, nine tenths of auth_timeout, makes the dealer end the invocation
	// at the callee (INTERRUPT) and answer before auth_timeout strikes; if auth_timeout comes
	// first all the same, authExpired has sent the ABORT and the wait ends with the session.
	m, err := svc.call(wamp.URI(a.Procedure), wamp.List{string(realm), authid, details},
		max(s.lim.AuthTimeout.Milliseconds()*9/10, 1), s.closing)
	var ae *authError
	switch {
	case errors.As(err, &ae):
		// The service session was refused (no such realm or role).
		if ae.reason == errNoSuchRealm {
			ae = &authError{errNoSuchRealm, fmt.Sprintf("realm <%s> configured for dynamic authenticator does not exist", arealm)}
		}
	case errors.Is(err, errCanceledWait):
		if s.expired.Load() {
			s.log.Info("router: dynamic authenticator did not answer within auth_timeout", "authmethod", pa.method,
				"authenticator", a.Procedure, "realm", realm, "authid", authid, "auth_timeout", s.lim.AuthTimeout,
				"peer", s.info.RemoteAddr)
		}
		return principal{}, &authError{errTimeout, "the session ended while its authenticator was asked"}
	case err != nil:
		ae = &authError{errAuthenticationFailed, fmt.Sprintf("dynamic authenticator failed: %v", err)}
	}
	if ae == nil {
		switch m := m.(type) {
		case *wamp.Error:
			if m.Error == errCanceled {
				ae = &authError{errAuthenticationFailed, fmt.Sprintf("dynamic authenticator %q did not answer within auth_timeout (%v)", a.Procedure, s.lim.AuthTimeout)}
				break
			}
			if m.Error == errRuntimeError {
				// The authenticator crashed (autobahn sends any exception that is not an
				// ApplicationError so): its text is for the log, not for the client.
				ae = &authError{errAuthenticationFailed, fmt.Sprintf("dynamic authenticator %q failed", a.Procedure)}
				s.log.Info("router: dynamic authenticator failed", "authmethod", pa.method,
					"authenticator", a.Procedure, "realm", realm, "authid", authid, "error", m.Error,
					"args", m.Arguments, "peer", s.info.RemoteAddr)
				return principal{}, ae
			}
			// pending.py _marshal_dynamic_authenticator_error: the callee's error URI and
			// first argument.
			ae = &authError{reason: m.Error}
			if len(m.Arguments) > 0 {
				ae.msg = fmt.Sprint(m.Arguments[0])
			}
		case *wamp.Result:
			var v any
			if len(m.Arguments) > 0 {
				v = m.Arguments[0]
			}
			p, err := parsePrincipal(v)
			if err != nil {
				ae = &authError{errAuthenticationFailed, "dynamic authenticator answer: " + err.Error()}
				break
			}
			return p, nil
		}
	}
	s.log.Info("router: dynamic authenticator denied or failed", "authmethod", pa.method,
		"authenticator", a.Procedure, "realm", realm, "authid", authid, "reason", ae.reason,
		"message", ae.msg, "peer", s.info.RemoteAddr)
	return principal{}, ae
}

// existing returns the realm the router has now by that name (configured, or made on HELLO
// and still alive), or nil.
func (r *Router) existing(name wamp.URI) *realm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.realms[name]
}

// deny ends the login with the authenticator's verdict.
func (s *session) deny(ae *authError) error {
	if ae.reason == errTimeout {
		return ErrAuthTimeout // the session is over already
	}
	return s.abort(ae.reason, "%s", ae.msg)
}

// helloDynamic starts a dynamic login of method for HELLO m. joined is true when the session
// joined (anonymous).
func (s *session) helloDynamic(m *wamp.Hello, method string, a *config.Authenticator, defaultRole string) (joined bool, err error) {
	authid, _ := m.Details["authid"].(string)
	pa := &pendingAuth{method: method, authid: authid, realm: m.Realm, known: true, dyn: a, defaultRole: defaultRole}
	details := s.authDetails(method, m)
	var idArg any
	if authid != "" {
		idArg = authid
	}
	switch method {
	case "anonymous":
		// anonymous.py: the authid is the configured one or a new serial, not the client's.
		pa.authid = s.info.Auth.Anonymous.AuthID
		if pa.authid == "" {
			pa.authid = anonymousAuthID()
		}
		p, ae := s.callAuthenticator(pa, a, m.Realm, pa.authid, details)
		if ae == nil {
			ae = pa.assign(p, defaultRole)
		}
		if ae != nil {
			return false, s.deny(ae)
		}
		s.authextra = pa.extra
		return true, s.join(pa.realm, pa.role, pa.authid, method, "dynamic")
	case "ticket":
		// ticket.py: CHALLENGE now; the authenticator sees the ticket at AUTHENTICATE.
		pa.details, pa.authidArg = details, idArg
		s.pending = pa
		s.send(&wamp.Challenge{AuthMethod: "ticket", Extra: wamp.Dict{}})
		return false, nil
	case "wampcra":
		p, ae := s.callAuthenticator(pa, a, m.Realm, idArg, details)
		if ae == nil {
			ae = pa.assign(p, defaultRole)
		}
		if ae == nil && p.secret == "" {
			ae = &authError{errAuthenticationFailed, "dynamic authenticator answer has no \"secret\" for WAMP-CRA"}
		}
		if ae != nil {
			return false, s.deny(ae)
		}
		u := config.WAMPCRAUser{Secret: p.secret, Role: pa.role}
		if p.salt != "" {
			u.Salt, u.Iterations, u.KeyLen = p.salt, p.iterations, p.keylen
			if u.Iterations == 0 {
				u.Iterations = 1000
			}
			if u.KeyLen == 0 {
				u.KeyLen = 32
			}
		}
		return false, s.sendCRAChallenge(pa, u, "dynamic")
	case "cryptosign":
		binding, err := s.channelBinding(m)
		if err != nil {
			return false, err
		}
		p, ae := s.callAuthenticator(pa, a, m.Realm, idArg, details)
		if ae == nil {
			ae = pa.assign(p, defaultRole)
		}
		if ae != nil {
			return false, s.deny(ae)
		}
		key, ok := parsePubkey(p.pubkey)
		if !ok {
			ae = &authError{errAuthenticationFailed, fmt.Sprintf("dynamic authenticator answer has no valid \"pubkey\" (64 hex digits): %q", p.pubkey)}
			s.log.Info("router: dynamic authenticator denied or failed", "authmethod", method,
				"authenticator", a.Procedure, "realm", m.Realm, "reason", ae.reason, "message", ae.msg, "peer", s.info.RemoteAddr)
			return false, s.deny(ae)
		}
		return false, s.sendCryptosignChallenge(pa, key, binding)
	}
	return false, s.abort(errNoAuthMethod, "authmethod %q has no dynamic form", method)
}

// authenticateTicketDynamic asks the authenticator about the ticket of AUTHENTICATE
// (ticket.py authenticate).
func (s *session) authenticateTicketDynamic(pa *pendingAuth, m *wamp.Authenticate) error {
	pa.details["ticket"] = m.Signature
	p, ae := s.callAuthenticator(pa, pa.dyn, pa.realm, pa.authidArg, pa.details)
	if ae == nil {
		ae = pa.assign(p, pa.defaultRole)
	}
	if ae != nil {
		return s.deny(ae)
	}
	s.authextra = pa.extra
	return s.join(pa.realm, pa.role, pa.authid, "ticket", "dynamic")
}
