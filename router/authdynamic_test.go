package router

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// authenticator is an in-process callee that registers procedure on realm (as a component
// with the trusted role would) and answers each invocation with fn: a value to YIELD, or an
// *authError to answer with ERROR, or nil to never answer.
type authenticator struct {
	mu    sync.Mutex
	calls []wamp.List
}

func startAuthenticator(t *testing.T, r *Router, realm, procedure string, fn func(args wamp.List) any) *authenticator {
	t.Helper()
	cl := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "inprocess", TrustedRole: "trusted"})
	cl.send(&wamp.Hello{Realm: wamp.URI(realm), Details: wamp.Dict{"roles": clientRoles()}})
	expect[*wamp.Welcome](cl)
	cl.register(procedure, nil)
	a := &authenticator{}
	go func() {
		for m := range cl.in {
			inv, ok := m.(*wamp.Invocation)
			if !ok {
				continue
			}
			a.mu.Lock()
			a.calls = append(a.calls, inv.Arguments)
			a.mu.Unlock()
			var out wamp.Message
			switch v := fn(inv.Arguments).(type) {
			case nil:
				continue
			case *authError:
				out = &wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{},
					Error: v.reason, Arguments: wamp.List{v.msg}}
			default:
				out = &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{v}}
			}
			b, _ := cl.codec.Encode(nil, out)
			if cl.end.WriteMessage(b) != nil {
				return
			}
		}
	}()
	return a
}

func (a *authenticator) last(t *testing.T) wamp.List {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		t.Fatal("the authenticator was not called")
	}
	return a.calls[len(a.calls)-1]
}

func dynamicWelcome(t *testing.T, cl *client, realm, authid, authrole, authmethod string) *wamp.Welcome {
	t.Helper()
	w := expect[*wamp.Welcome](cl)
	cl.id = w.Session
	for k, want := range map[string]string{"realm": realm, "authid": authid, "authrole": authrole,
		"authmethod": authmethod, "authprovider": "dynamic"} {
		if w.Details[k] != want {
			t.Errorf("WELCOME %s = %v, want %q", k, w.Details[k], want)
		}
	}
	return w
}

func helloExtra(t *testing.T, r *Router, auth *config.Auth, realm string, methods []any, authid string, extra wamp.Dict) *client {
	t.Helper()
	cl := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "websocket", Protocol: "wamp.2.json",
		RemoteAddr: "127.0.0.1:40000", Auth: auth})
	d := wamp.Dict{"roles": clientRoles(), "authmethods": methods}
	if authid != "" {
		d["authid"] = authid
	}
	if extra != nil {
		d["authextra"] = extra
	}
	cl.send(&wamp.Hello{Realm: wamp.URI(realm), Details: d})
	return cl
}

// ticketDB answers as crossbar-examples' authentication/ticket/dynamic authenticator.
func ticketDB(args wamp.List) any {
	authid, _ := args[1].(string)
	details, _ := args[2].(map[string]any)
	switch {
	case authid == "joe" && details["ticket"] == "secret!!!":
		return "frontend"
	case authid == "moved" && details["ticket"] == "t2":
		return map[string]any{"role": "backend", "realm": "realm2", "authid": "moved-2", "extra": map[string]any{"n": 1}, "cache": true}
	case authid == "joe":
		return &authError{"com.example.invalid_ticket", "could not authenticate session - invalid ticket"}
	case authid == "badanswer":
		return 42
	}
	return &authError{"com.example.no_such_user", "no such principal " + authid}
}

func TestAuthDynamicTicket(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	a := startAuthenticator(t, r, "realm1", "com.example.authenticate", ticketDB)
	auth := &config.Auth{Ticket: &config.TicketAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}

	cl := helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", wamp.Dict{"k": "v"})
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	w := dynamicWelcome(t, cl, "realm1", "joe", "frontend", "ticket")
	// Crossbar's arguments: realm, authid, details with the ticket, the session ID the WELCOME
	// carries, the client's authextra and the transport.
	args := a.last(t)
	if args[0] != "realm1" || args[1] != "joe" {
		t.Errorf("authenticator args %v", args[:2])
	}
	d := args[2].(map[string]any)
	if d["ticket"] != "secret!!!" || d["authmethod"] != "ticket" || asInt(t, d["session"]) != int64(w.Session) {
		t.Errorf("details %v", d)
	}
	if e, _ := d["authextra"].(map[string]any); e["k"] != "v" {
		t.Errorf("details.authextra %v", d["authextra"])
	}
	if tr, _ := d["transport"].(map[string]any); tr["peer"] != "tcp4:127.0.0.1:40000" || tr["channel_type"] != "tcp" {
		t.Errorf("details.transport %v", d["transport"])
	}
	cl.goodbye()

	// The answer's realm, authid and extra.
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "moved", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "t2", Extra: wamp.Dict{}})
	w = dynamicWelcome(t, cl, "realm2", "moved-2", "backend", "ticket")
	if e, _ := w.Details["authextra"].(map[string]any); asInt(t, e["n"]) != 1 {
		t.Errorf("WELCOME authextra %v", w.Details["authextra"])
	}
	cl.goodbye()

	// The authenticator's error is the ABORT, as in Crossbar.
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "wrong", Extra: wamp.Dict{}})
	if msg := aborted(t, cl, "com.example.invalid_ticket"); !strings.Contains(msg, "invalid ticket") {
		t.Errorf("ABORT message %q", msg)
	}
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "nobody", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "x", Extra: wamp.Dict{}})
	aborted(t, cl, "com.example.no_such_user")

	// An answer that is neither a role nor an object.
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "badanswer", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "x", Extra: wamp.Dict{}})
	if msg := aborted(t, cl, errAuthenticationFailed); !strings.Contains(msg, "invalid return type") {
		t.Errorf("ABORT message %q", msg)
	}
}

// Until the authenticator is registered, clients get Crossbar's error; once it is, they join.
func TestAuthDynamicNotRegistered(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	auth := &config.Auth{Ticket: &config.TicketAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}
	cl := helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	if msg := aborted(t, cl, errNoSuchProcedure); !strings.Contains(msg, "com.example.authenticate") {
		t.Errorf("ABORT message %q", msg)
	}
	startAuthenticator(t, r, "realm1", "com.example.authenticate", ticketDB)
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	dynamicWelcome(t, cl, "realm1", "joe", "frontend", "ticket")
	cl.goodbye()

	// An authenticator-realm that does not exist.
	auth = &config.Auth{Ticket: &config.TicketAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate", Realm: "nosuchrealm"}}}
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	if msg := aborted(t, cl, errNoSuchRealm); !strings.Contains(msg, "nosuchrealm") {
		t.Errorf("ABORT message %q", msg)
	}
}

// An authenticator that never answers ends the login at auth_timeout with
// authentication_failed, and the call is ended at the callee too.
func TestAuthDynamicTimeout(t *testing.T) {
	var logs lockedBuffer
	r := newTestRouter(t, Options{Realms: authRealms(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	startAuthenticator(t, r, "realm1", "com.example.authenticate", func(wamp.List) any { return nil })
	auth := &config.Auth{WAMPCRA: &config.WAMPCRAAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}
	cl := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "inprocess", Auth: auth,
		Limits: config.SessionLimits{AuthTimeout: 200 * time.Millisecond}})
	cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"wampcra"}, "authid": "joe"}})
	a := expect[*wamp.Abort](cl)
	if a.Reason != errAuthenticationFailed || !strings.Contains(a.Details["message"].(string), "did not answer") {
		t.Fatalf("ABORT %s %v", a.Reason, a.Details)
	}
	// Either the dealer's call timeout or auth_timeout ends it, with the same ABORT.
	if err := cl.expectEnd(); !errors.Is(err, ErrAuthTimeout) && !errors.Is(err, errSessionAborted) {
		t.Fatalf("Serve = %v", err)
	}
	if n := strings.Count(logs.String(), "did not answer"); n != 1 {
		t.Errorf("%d log lines say the authenticator did not answer, want 1:\n%s", n, logs.String())
	}
}

// lockedBuffer is a log sink for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAuthDynamicWAMPCRA(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	key := derivedKey(t, peterPassword, peterSalt, 100, 16)
	a := startAuthenticator(t, r, "realm1", "com.example.authenticate", func(args wamp.List) any {
		switch args[1] {
		case "joe":
			return map[string]any{"secret": "secret2", "role": "frontend"}
		case "hans":
			return map[string]any{"secret": "123456", "role": "frontend", "authid": "ID09125"}
		case "peter":
			return map[string]any{"secret": key, "role": "frontend", "salt": peterSalt, "iterations": 100, "keylen": 16}
		case "nosecret":
			return map[string]any{"role": "frontend"}
		}
		return &authError{"com.example.no_such_user", "no such user"}
	})
	auth := &config.Auth{WAMPCRA: &config.WAMPCRAAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}
	for _, u := range []struct{ authid, key, want string }{{"joe", "secret2", "joe"}, {"hans", "123456", "ID09125"}, {"peter", key, "peter"}} {
		cl := helloExtra(t, r, auth, "realm1", []any{"wampcra"}, u.authid, nil)
		ch := expect[*wamp.Challenge](cl)
		c, obj := challengeObj(t, ch)
		if obj["authprovider"] != "dynamic" || obj["authrole"] != "frontend" {
			t.Errorf("challenge %v", obj)
		}
		if u.authid == "peter" && (ch.Extra["salt"] != peterSalt || asInt(t, ch.Extra["iterations"]) != 100) {
			t.Errorf("challenge extra %v", ch.Extra)
		}
		cl.send(&wamp.Authenticate{Signature: sign(u.key, c), Extra: wamp.Dict{}})
		dynamicWelcome(t, cl, "realm1", u.want, "frontend", "wampcra")
		cl.goodbye()
	}
	d := a.last(t)[2].(map[string]any)
	if d["authmethod"] != "wampcra" || d["authid"] != "peter" {
		t.Errorf("details %v", d)
	}

	cl := helloExtra(t, r, auth, "realm1", []any{"wampcra"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: sign("wrong", "x"), Extra: wamp.Dict{}})
	aborted(t, cl, errNotAuthorized)

	aborted(t, helloExtra(t, r, auth, "realm1", []any{"wampcra"}, "nobody", nil), "com.example.no_such_user")
	if msg := aborted(t, helloExtra(t, r, auth, "realm1", []any{"wampcra"}, "nosecret", nil), errAuthenticationFailed); !strings.Contains(msg, "secret") {
		t.Errorf("ABORT message %q", msg)
	}
}

func TestAuthDynamicAnonymous(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	a := startAuthenticator(t, r, "realm2", "com.example.anon", func(args wamp.List) any {
		if d := args[2].(map[string]any); d["authextra"] != nil {
			return map[string]any{"role": "public", "authid": "tagged"}
		}
		return &authError{errNotAuthorized, "go away"}
	})
	auth := &config.Auth{Anonymous: &config.AnonymousAuth{Role: "anonymous",
		Dynamic: &config.Authenticator{Procedure: "com.example.anon", Realm: "realm2"}}}
	cl := helloExtra(t, r, auth, "realm1", []any{"anonymous"}, "", wamp.Dict{"x": 1})
	dynamicWelcome(t, cl, "realm1", "tagged", "public", "anonymous")
	cl.goodbye()
	if args := a.last(t); args[0] != "realm1" || args[1] == "" {
		t.Errorf("authenticator args %v", args[:2])
	}
	aborted(t, helloExtra(t, r, auth, "realm1", []any{"anonymous"}, "", nil), errNotAuthorized)
}

// signCryptosign answers a cryptosign CHALLENGE as autobahn's CryptosignKey.sign_challenge.
func signCryptosign(t *testing.T, priv ed25519.PrivateKey, ch *wamp.Challenge, channelID []byte) string {
	t.Helper()
	c, err := hex.DecodeString(ch.Extra["challenge"].(string))
	if err != nil || len(c) != 32 {
		t.Fatalf("challenge %v", ch.Extra)
	}
	for i := range channelID {
		c[i] ^= channelID[i]
	}
	return hex.EncodeToString(append(ed25519.Sign(priv, c), c...))
}

func TestAuthCryptosign(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pubHex := hex.EncodeToString(pub)
	static := &config.Auth{Cryptosign: &config.CryptosignAuth{Principals: map[string]config.CryptosignPrincipal{
		"client01@example.com": {AuthorizedKeys: []string{pubHex}, Role: "backend", Realm: "realm2"},
	}}}
	r := newTestRouter(t, Options{Realms: authRealms()})
	a := startAuthenticator(t, r, "realm1", "com.example.authenticate", func(args wamp.List) any {
		d := args[2].(map[string]any)
		e, _ := d["authextra"].(map[string]any)
		if e["pubkey"] == pubHex {
			return map[string]any{"pubkey": pubHex, "realm": "realm1", "authid": "device1", "role": "frontend", "extra": map[string]any{"foo": 23}, "cache": true}
		}
		return &authError{"com.example.no_such_user", "no principal with matching public key"}
	})
	dynamic := &config.Auth{Cryptosign: &config.CryptosignAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}

	login := func(auth *config.Auth, authid string, key ed25519.PrivateKey) (*client, *wamp.Challenge) {
		cl := helloExtra(t, r, auth, "realm1", []any{"cryptosign"}, authid, wamp.Dict{"pubkey": pubHex})
		ch := expect[*wamp.Challenge](cl)
		if ch.AuthMethod != "cryptosign" || ch.Extra["channel_binding"] != nil {
			t.Fatalf("CHALLENGE %v %v", ch.AuthMethod, ch.Extra)
		}
		return cl, ch
	}
	// Static, by authid and by key alone.
	for _, authid := range []string{"client01@example.com", ""} {
		cl, ch := login(static, authid, priv)
		cl.send(&wamp.Authenticate{Signature: signCryptosign(t, priv, ch, nil), Extra: wamp.Dict{}})
		w := expect[*wamp.Welcome](cl)
		if w.Details["authid"] != "client01@example.com" || w.Details["realm"] != "realm2" || w.Details["authprovider"] != "static" {
			t.Errorf("WELCOME %v", w.Details)
		}
		cl.goodbye()
	}
	// Dynamic.
	cl, ch := login(dynamic, "", priv)
	cl.send(&wamp.Authenticate{Signature: signCryptosign(t, priv, ch, nil), Extra: wamp.Dict{}})
	w := dynamicWelcome(t, cl, "realm1", "device1", "frontend", "cryptosign")
	if e, _ := w.Details["authextra"].(map[string]any); asInt(t, e["foo"]) != 23 {
		t.Errorf("WELCOME authextra %v", w.Details["authextra"])
	}
	cl.goodbye()
	if d := a.last(t)[2].(map[string]any); d["authmethod"] != "cryptosign" {
		t.Errorf("details %v", d)
	}

	for _, auth := range []*config.Auth{static, dynamic} {
		// A signature by another key.
		cl, ch := login(auth, "", priv)
		cl.send(&wamp.Authenticate{Signature: signCryptosign(t, other, ch, nil), Extra: wamp.Dict{}})
		if msg := aborted(t, cl, errNotAuthorized); !strings.Contains(msg, "invalid signature") {
			t.Errorf("ABORT message %q", msg)
		}
		// A replay: a valid answer to one challenge does not answer the next.
		cl, ch = login(auth, "", priv)
		old := signCryptosign(t, priv, ch, nil)
		cl.send(&wamp.Authenticate{Signature: old, Extra: wamp.Dict{}})
		expect[*wamp.Welcome](cl)
		cl.goodbye()
		cl, _ = login(auth, "", priv)
		cl.send(&wamp.Authenticate{Signature: old, Extra: wamp.Dict{}})
		if msg := aborted(t, cl, errNotAuthorized); !strings.Contains(msg, "not the challenge") {
			t.Errorf("ABORT message %q", msg)
		}
		// Garbage.
		cl, _ = login(auth, "", priv)
		cl.send(&wamp.Authenticate{Signature: "zz", Extra: wamp.Dict{}})
		aborted(t, cl, errNotAuthorized)
	}
	// A key no principal has; a static authid with another's key; no pubkey at all.
	otherPub := hex.EncodeToString(other.Public().(ed25519.PublicKey))
	aborted(t, helloExtra(t, r, static, "realm1", []any{"cryptosign"}, "", wamp.Dict{"pubkey": otherPub}), errNotAuthorized)
	aborted(t, helloExtra(t, r, static, "realm1", []any{"cryptosign"}, "client01@example.com", wamp.Dict{"pubkey": otherPub}), errNotAuthorized)
	aborted(t, helloExtra(t, r, static, "realm1", []any{"cryptosign"}, "client01@example.com", nil), errNotAuthorized)
	aborted(t, helloExtra(t, r, dynamic, "realm1", []any{"cryptosign"}, "", wamp.Dict{"pubkey": otherPub}), "com.example.no_such_user")
}

// Channel binding: with a tls-unique channel ID the client signs the challenge XOR the ID;
// without one (no TLS, TLS 1.3) a client that asks for it is refused.
func TestAuthCryptosignChannelBinding(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pubHex := hex.EncodeToString(pub)
	auth := &config.Auth{Cryptosign: &config.CryptosignAuth{Principals: map[string]config.CryptosignPrincipal{
		"c": {AuthorizedKeys: []string{pubHex}, Role: "backend"},
	}}}
	r := newTestRouter(t, Options{Realms: authRealms()})
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	start := func(channelID []byte) *client {
		cl := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "websocket", Auth: auth, Secure: true, ChannelID: channelID})
		cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"cryptosign"},
			"authextra": wamp.Dict{"pubkey": pubHex, "channel_binding": "tls-unique"}}})
		return cl
	}
	cl := start(id)
	ch := expect[*wamp.Challenge](cl)
	if ch.Extra["channel_binding"] != "tls-unique" {
		t.Fatalf("CHALLENGE extra %v", ch.Extra)
	}
	cl.send(&wamp.Authenticate{Signature: signCryptosign(t, priv, ch, id), Extra: wamp.Dict{}})
	expect[*wamp.Welcome](cl)
	cl.goodbye()

	// Signed without the binding: another connection's challenge would do as well.
	cl = start(id)
	ch = expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: signCryptosign(t, priv, ch, nil), Extra: wamp.Dict{}})
	aborted(t, cl, errNotAuthorized)

	if msg := aborted(t, start(nil), errNotAuthorized); !strings.Contains(msg, "tls-unique") {
		t.Errorf("ABORT message %q", msg)
	}
}

// FuzzPrincipal feeds arbitrary authenticator answers, as a RESULT's first argument in JSON,
// to the parser and the assignment: no panic, and an accepted answer names a role.
func FuzzPrincipal(f *testing.F) {
	for _, s := range []string{`"frontend"`, `{"role": "frontend", "realm": "realm1", "authid": "x", "extra": {"a": 1}, "cache": true}`,
		`{"secret": "s", "salt": "x", "iterations": 100, "keylen": 16}`, `{"pubkey": "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"}`,
		`42`, `null`, `[]`, `{"role": 1}`, `{"iterations": 1e300}`, `{"extra": []}`, `{"realm": "bad realm"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame := append(append([]byte(`[50, 1, {}, [`), data...), "]]"...)
		m, err := wamp.JSON.Decode(frame)
		if err != nil {
			return
		}
		res := m.(*wamp.Result)
		if len(res.Arguments) == 0 {
			return
		}
		p, err := parsePrincipal(res.Arguments[0])
		if err != nil {
			return
		}
		pa := &pendingAuth{realm: "realm1", authid: "a"}
		if ae := pa.assign(p, ""); ae == nil && pa.role == "" {
			t.Fatalf("answer %s accepted without a role", data)
		}
		_, _ = parsePubkey(p.pubkey)
	})
}

func testCert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WAMP-TLS: a static principal by certificate fingerprint, a dynamic authenticator that sees
// the certificate in details.transport.peer_cert, and a client without a certificate.
func TestAuthTLS(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	cert, other := testCert(t, "client_0"), testCert(t, "stranger")
	fp := fingerprint(sha1.Sum(cert.Raw))
	static := &config.Auth{TLS: &config.TLSAuth{Principals: map[string]config.TLSPrincipal{
		"client_0": {CertificateSHA1: fp, Role: "backend"}}}}
	startAuthenticator(t, r, "realm1", "com.example.authenticate", func(args wamp.List) any {
		tr, _ := args[2].(map[string]any)["transport"].(map[string]any)
		pc, _ := tr["peer_cert"].(map[string]any)
		subject, _ := pc["subject"].(map[string]any)
		if pc["sha1"] == fp && subject["cn"] == "client_0" && subject["o"] == "Example" {
			return map[string]any{"role": "frontend", "authid": subject["cn"]}
		}
		return &authError{"com.example.invalid_cert", "certificate denied"}
	})
	dynamic := &config.Auth{TLS: &config.TLSAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}
	start := func(auth *config.Auth, c *x509.Certificate) *client {
		cl := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "websocket", Auth: auth, Secure: true, PeerCert: c})
		cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles(), "authmethods": []any{"tls"}}})
		return cl
	}
	cl := start(static, cert)
	welcomed(t, cl, "realm1", "client_0", "backend", "tls")
	cl.goodbye()
	cl = start(dynamic, cert)
	dynamicWelcome(t, cl, "realm1", "client_0", "frontend", "tls")
	cl.goodbye()
	aborted(t, start(static, other), errNotAuthorized)
	aborted(t, start(dynamic, other), "com.example.invalid_cert")
	if msg := aborted(t, start(static, nil), errNotAuthorized); !strings.Contains(msg, "certificate") {
		t.Errorf("ABORT message %q", msg)
	}
}

// On a router whose realms are made on HELLO, a client that names a realm nobody is on gets
// no_such_procedure, and no realm is made for its name; an authenticator on a live realm
// is found.
func TestAuthDynamicRealmsOnHello(t *testing.T) {
	r := newTestRouter(t, Options{})
	auth := &config.Auth{Ticket: &config.TicketAuth{Dynamic: &config.Authenticator{Procedure: "com.example.authenticate"}}}
	cl := helloExtra(t, r, auth, "made.up", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	aborted(t, cl, errNoSuchProcedure)
	if r.existing("made.up") != nil {
		t.Error("a realm was made for the client's name")
	}
	startAuthenticator(t, r, "realm1", "com.example.authenticate", ticketDB)
	cl = helloExtra(t, r, auth, "realm1", []any{"ticket"}, "joe", nil)
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	dynamicWelcome(t, cl, "realm1", "joe", "frontend", "ticket")
	cl.goodbye()
}
