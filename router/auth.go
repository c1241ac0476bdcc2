package router

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"portico/config"
	"portico/router/wamp"
)

// Authentication of a transport that has an `auth` config (Crossbar "Authentication";
// crossbar/router/session.py RouterSession.onHello and crossbar/router/auth/*.py; WAMP spec,
// "Authentication Methods"). Portico serves Crossbar's `static` principal databases of
// WAMP-Anonymous, WAMP-Ticket, WAMP-CRA and WAMP-Cryptosign (cryptosign.go), and their
// `dynamic` authenticators (authdynamic.go).

const (
	errNoAuthMethod = wamp.URI("wamp.error.no_auth_method")
	errNoSuchRole   = wamp.URI("wamp.error.no_such_role")
)

// knownAuthMethods are the authmethods Crossbar knows (crossbar/router/auth AUTHMETHODS). A
// HELLO that names another is refused, as Crossbar does; one that names a known method that
// the transport does not configure goes on with the next.
var knownAuthMethods = []string{"anonymous", "anonymous-proxy", "ticket", "wampcra", "tls",
	"cryptosign", "cryptosign-proxy", "cookie", "scram"}

// pendingAuth is a session between its CHALLENGE and the client's AUTHENTICATE.
type pendingAuth struct {
	method   string // "ticket", "wampcra" or "cryptosign"
	provider string // WELCOME's authprovider: "static" or "dynamic"
	authid   string
	role     string
	realm    wamp.URI
	known    bool     // the authid is configured; an unknown one fails whatever it sends
	expected [32]byte // SHA-256 of the ticket or of the expected WAMP-CRA signature
	extra    wamp.Dict

	// Dynamic: the authenticator, the method's default-role, and for ticket the
	// authenticator's authid and details arguments (the ticket is added at AUTHENTICATE).
	dyn         *config.Authenticator
	defaultRole string
	authidArg   any
	details     wamp.Dict

	// Cryptosign: the client's key and the 32 bytes it must sign.
	pubkey  ed25519.PublicKey
	message [32]byte
	bound   bool // channel binding tls-unique: message is the challenge XOR the channel ID
}

// helloAuth picks the authentication method for a HELLO on a transport with an `auth`
// config: the first of the client's HELLO.authmethods (["anonymous"] when it names none) that
// the transport configures. Anonymous joins at once (joined true); ticket and wampcra send a
// CHALLENGE and leave the session pending.
func (s *session) helloAuth(m *wamp.Hello, auth *config.Auth) (joined bool, err error) {
	methods := []string{"anonymous"}
	if v, ok := m.Details["authmethods"]; ok && v != nil {
		l, ok := v.([]any)
		if !ok {
			return false, s.abort(errProtocolViolation, "HELLO.Details.authmethods must be a list of strings")
		}
		if len(l) > 0 {
			methods = methods[:0]
		}
		for _, e := range l {
			str, ok := e.(string)
			if !ok {
				return false, s.abort(errProtocolViolation, "HELLO.Details.authmethods must be a list of strings")
			}
			methods = append(methods, str)
		}
	}
	authid, _ := m.Details["authid"].(string)
	for _, method := range methods {
		if !slices.Contains(knownAuthMethods, method) {
			return false, s.abort(errNotAuthorized, "invalid authmethod %q", method)
		}
		s.authTry = method
		switch {
		case method == "anonymous" && auth.Anonymous != nil && auth.Anonymous.Dynamic != nil:
			return s.helloDynamic(m, method, auth.Anonymous.Dynamic, auth.Anonymous.Role)
		case method == "ticket" && auth.Ticket != nil && auth.Ticket.Dynamic != nil:
			return s.helloDynamic(m, method, auth.Ticket.Dynamic, auth.Ticket.DefaultRole)
		case method == "wampcra" && auth.WAMPCRA != nil && auth.WAMPCRA.Dynamic != nil:
			return s.helloDynamic(m, method, auth.WAMPCRA.Dynamic, auth.WAMPCRA.DefaultRole)
		case method == "cryptosign" && auth.Cryptosign != nil && auth.Cryptosign.Dynamic != nil:
			return s.helloDynamic(m, method, auth.Cryptosign.Dynamic, auth.Cryptosign.DefaultRole)
		case method == "cryptosign" && auth.Cryptosign != nil:
			return false, s.helloCryptosign(m, auth.Cryptosign)
		case method == "tls" && auth.TLS != nil:
			return s.helloTLS(m, auth.TLS)
		case method == "anonymous" && auth.Anonymous != nil:
			// Crossbar ignores an authid the client names and makes one up, unless the
			// method sets `authid`.
			id := auth.Anonymous.AuthID
			if id == "" {
				id = anonymousAuthID()
			}
			return true, s.join(m.Realm, auth.Anonymous.Role, id, "anonymous", "static")
		case method == "ticket" && auth.Ticket != nil:
			p, known := auth.Ticket.Principals[authid]
			return false, s.challengeTicket(m.Realm, authid, p, known)
		case method == "wampcra" && auth.WAMPCRA != nil:
			u, known := auth.WAMPCRA.Users[authid]
			return false, s.challengeCRA(m.Realm, authid, u, known)
		case method == "cookie" && auth.Cookie:
			if joined, err := s.cookieAuth(); joined || err != nil { // cookie.go
				return joined, err
			}
		}
	}
	return false, s.abort(errNoAuthMethod, "cannot authenticate using any of the offered authmethods %v", methods)
}

// challengeTicket sends the WAMP-Ticket CHALLENGE (spec, "Ticket-based Authentication"): an
// empty extra; the client answers with its ticket. An unknown authid is challenged too and
// fails at AUTHENTICATE with the same ABORT as a wrong ticket, so that a client cannot tell
// which authids exist.
func (s *session) challengeTicket(realm wamp.URI, authid string, p config.TicketPrincipal, known bool) error {
	if authid == "" {
		return s.abort(errNotAuthorized, "ticket authentication needs an authid in HELLO")
	}
	pa := &pendingAuth{method: "ticket", authid: authid, role: p.Role, realm: realm, known: known}
	if p.Realm != "" {
		pa.realm = wamp.URI(p.Realm) // Crossbar: the principal's realm overrides HELLO's
	}
	pa.expected = sha256.Sum256([]byte(p.Ticket))
	s.pending = pa
	s.send(&wamp.Challenge{AuthMethod: "ticket", Extra: wamp.Dict{}})
	return nil
}

// craChallenge is the WAMP-CRA challenge string's object, with Crossbar's keys in Crossbar's
// order (crossbar/router/auth/wampcra.py _compute_challenge). The client signs the string as
// it receives it, so only its content matters, not its exact spelling.
type craChallenge struct {
	AuthID       string `json:"authid"`
	AuthRole     string `json:"authrole"`
	AuthMethod   string `json:"authmethod"`
	AuthProvider string `json:"authprovider"`
	Session      uint64 `json:"session"`
	Nonce        string `json:"nonce"`
	Timestamp    string `json:"timestamp"`
}

// challengeCRA sends the WAMP-CRA CHALLENGE (spec, "Challenge Response Authentication"): a
// JSON challenge with a fresh nonce and the session ID the WELCOME will carry, and for a
// salted user the PBKDF2 parameters. The expected signature is
// base64(HMAC-SHA256(secret, challenge)); the configured secret is the HMAC key as it stands,
// salted or not, as in Crossbar, whose salted secrets are the keys the clients derive.
//
// The challenge names the role, as Crossbar's does, so it tells a configured authid from
// another; the ABORT after a wrong signature is the same for both.
func (s *session) challengeCRA(realm wamp.URI, authid string, u config.WAMPCRAUser, known bool) error {
	if authid == "" {
		return s.abort(errNotAuthorized, "wampcra authentication needs an authid in HELLO")
	}
	pa := &pendingAuth{method: "wampcra", authid: authid, role: u.Role, realm: realm, known: known}
	if u.Realm != "" {
		pa.realm = wamp.URI(u.Realm)
	}
	return s.sendCRAChallenge(pa, u, "static")
}

// sendCRAChallenge sends the WAMP-CRA CHALLENGE for user u (secret, salt) of the login pa.
func (s *session) sendCRAChallenge(pa *pendingAuth, u config.WAMPCRAUser, provider string) error {
	pa.provider = provider
	var nonce [48]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24+)
	if s.id == 0 {
		s.id = globalID() // the session ID WELCOME will carry (join keeps it)
	}
	c, err := json.Marshal(craChallenge{
		AuthID: pa.authid, AuthRole: pa.role, AuthMethod: "wampcra", AuthProvider: provider,
		Session:   uint64(s.id),
		Nonce:     base64.StdEncoding.EncodeToString(nonce[:]),
		Timestamp: s.r.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z"), // autobahn util.utcnow
	})
	if err != nil {
		return fmt.Errorf("router: encoding a WAMP-CRA challenge: %w", err)
	}
	pa.expected = sha256.Sum256([]byte(craSignature([]byte(u.Secret), c)))
	extra := wamp.Dict{"challenge": string(c)}
	if u.Salt != "" {
		extra["salt"], extra["iterations"], extra["keylen"] = u.Salt, uint64(u.Iterations), uint64(u.KeyLen)
	}
	s.pending = pa
	s.send(&wamp.Challenge{AuthMethod: "wampcra", Extra: extra})
	return nil
}

// craSignature is autobahn's auth.compute_wcs: base64(HMAC-SHA256(key, challenge)).
func craSignature(key, challenge []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(challenge)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// authenticate checks the client's AUTHENTICATE against the pending challenge, in constant
// time, and joins the session or aborts it with wamp.error.not_authorized (Crossbar's
// types.Deny default).
func (s *session) authenticate(m *wamp.Authenticate) error {
	pa := s.pending
	s.pending = nil
	switch {
	case pa.method == "cryptosign":
		return s.authenticateCryptosign(pa, m)
	case pa.method == "ticket" && pa.dyn != nil:
		return s.authenticateTicketDynamic(pa, m)
	}
	got := sha256.Sum256([]byte(m.Signature))
	ok := subtle.ConstantTimeCompare(got[:], pa.expected[:]) == 1
	if !ok || !pa.known {
		s.log.Info("router: authentication failed", "authmethod", pa.method, "authid", pa.authid,
			"realm", pa.realm, "peer", s.info.RemoteAddr)
		what := "ticket"
		if pa.method == "wampcra" {
			what = "signature"
		}
		return s.abort(errNotAuthorized, "%s authentication failed: unknown authid or wrong %s", pa.method, what)
	}
	if pa.role == "" {
		// A principal without role, and its method without default-role: Crossbar's
		// PendingAuth._assign_principal denies it, whatever the realm's roles.
		return s.abort(errNoSuchRole, "no authrole assigned")
	}
	s.authextra = pa.extra
	provider := pa.provider
	if provider == "" {
		provider = "static"
	}
	return s.join(pa.realm, pa.role, pa.authid, pa.method, provider)
}
