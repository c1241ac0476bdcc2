package router

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// The salted WAMP-CRA user: Crossbar configs hold the key the client derives from its
// password, computed here independently of the router's code.
const (
	peterPassword = "secret1"
	peterSalt     = "salt123"
)

func derivedKey(t testing.TB, password, salt string, iter, keylen int) string {
	t.Helper()
	k, err := pbkdf2.Key(sha256.New, password, []byte(salt), iter, keylen)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func testAuth(t testing.TB) *config.Auth {
	return &config.Auth{
		Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
			"backend1": {Ticket: "secret!!!", Role: "backend"},
			"moved":    {Ticket: "t2", Role: "backend", Realm: "realm2"},
			"norole":   {Ticket: "t3", Role: "nosuchrole"},
		}},
		WAMPCRA: &config.WAMPCRAAuth{Users: map[string]config.WAMPCRAUser{
			"joe":   {Secret: "secret2", Role: "frontend"},
			"peter": {Secret: derivedKey(t, peterPassword, peterSalt, 100, 16), Role: "frontend", Salt: peterSalt, Iterations: 100, KeyLen: 16},
		}},
	}
}

func authRealms() []config.Realm {
	all := config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}
	return []config.Realm{
		{Name: "realm1", Roles: []config.Role{
			{Name: "backend", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: all}}},
			{Name: "frontend", Permissions: []config.Permission{{URI: "com.example.", Match: "prefix", Allow: config.Allow{Call: true, Subscribe: true}}}},
			{Name: "public", Permissions: []config.Permission{{URI: "com.example.", Match: "prefix", Allow: config.Allow{Subscribe: true}}}},
		}},
		{Name: "realm2", Roles: []config.Role{
			{Name: "backend", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: all}}},
		}},
	}
}

// hello connects to r over a transport with auth and sends HELLO with the given authmethods
// (none when nil) and authid.
func hello(t *testing.T, r *Router, c wamp.Codec, auth *config.Auth, realm string, methods any, authid string) *client {
	t.Helper()
	cl := connectInfo(t, r, c, PeerInfo{Transport: "inprocess", Protocol: "wamp.2." + c.Name(), Auth: auth})
	d := wamp.Dict{"roles": clientRoles()}
	if methods != nil {
		d["authmethods"] = methods
	}
	if authid != "" {
		d["authid"] = authid
	}
	cl.send(&wamp.Hello{Realm: wamp.URI(realm), Details: d})
	return cl
}

// welcomed checks WELCOME's details.
func welcomed(t *testing.T, cl *client, realm, authid, authrole, authmethod string) *wamp.Welcome {
	t.Helper()
	w := expect[*wamp.Welcome](cl)
	cl.id = w.Session
	for k, want := range map[string]string{"realm": realm, "authid": authid, "authrole": authrole,
		"authmethod": authmethod, "authprovider": "static"} {
		if want != "" && w.Details[k] != want {
			t.Errorf("WELCOME %s = %v, want %q", k, w.Details[k], want)
		}
	}
	return w
}

// aborted expects ABORT with reason, then the end of the session; it returns the message.
func aborted(t *testing.T, cl *client, reason wamp.URI) string {
	t.Helper()
	a := expect[*wamp.Abort](cl)
	if a.Reason != reason {
		t.Fatalf("ABORT %s %v, want %s", a.Reason, a.Details, reason)
	}
	if err := cl.expectEnd(); !errors.Is(err, errSessionAborted) {
		t.Fatalf("Serve = %v, want errSessionAborted", err)
	}
	msg, _ := a.Details["message"].(string)
	return msg
}

func TestAuthTicket(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: authRealms()})
		auth := testAuth(t)

		cl := hello(t, r, c, auth, "realm1", []any{"ticket"}, "backend1")
		ch := expect[*wamp.Challenge](cl)
		if ch.AuthMethod != "ticket" || len(ch.Extra) != 0 {
			t.Fatalf("CHALLENGE %q %v, want ticket {}", ch.AuthMethod, ch.Extra)
		}
		cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
		welcomed(t, cl, "realm1", "backend1", "backend", "ticket")
		// The role decides: backend may register anything.
		req := cl.nextReq()
		cl.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.add"})
		expect[*wamp.Registered](cl)
		cl.goodbye()

		// A wrong ticket and an unknown authid get the same ABORT.
		bad := hello(t, r, c, auth, "realm1", []any{"ticket"}, "backend1")
		expect[*wamp.Challenge](bad)
		bad.send(&wamp.Authenticate{Signature: "secret!!", Extra: wamp.Dict{}})
		m1 := aborted(t, bad, errNotAuthorized)
		unknown := hello(t, r, c, auth, "realm1", []any{"ticket"}, "mallory")
		expect[*wamp.Challenge](unknown)
		unknown.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
		if m2 := aborted(t, unknown, errNotAuthorized); m1 != m2 {
			t.Errorf("unknown authid ABORT %q differs from wrong ticket ABORT %q", m2, m1)
		}

		// Principal realm overrides HELLO's (Crossbar's _assign_principal).
		mv := hello(t, r, c, auth, "realm1", []any{"ticket"}, "moved")
		expect[*wamp.Challenge](mv)
		mv.send(&wamp.Authenticate{Signature: "t2", Extra: wamp.Dict{}})
		welcomed(t, mv, "realm2", "moved", "backend", "ticket")
		mv.goodbye()

		// A role the realm lacks.
		nr := hello(t, r, c, auth, "realm1", []any{"ticket"}, "norole")
		expect[*wamp.Challenge](nr)
		nr.send(&wamp.Authenticate{Signature: "t3", Extra: wamp.Dict{}})
		aborted(t, nr, errNoSuchRole)

		// No authid at all.
		na := hello(t, r, c, auth, "realm1", []any{"ticket"}, "")
		aborted(t, na, errNotAuthorized)
	})
}

// challengeObj decodes a WAMP-CRA challenge string.
func challengeObj(t *testing.T, ch *wamp.Challenge) (string, map[string]any) {
	t.Helper()
	s, ok := ch.Extra["challenge"].(string)
	if !ok {
		t.Fatalf("CHALLENGE extra %v has no challenge string", ch.Extra)
	}
	var o map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // the session ID is an integer up to 2^53
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("challenge %q: %v", s, err)
	}
	return s, o
}

func sign(key, challenge string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestAuthWAMPCRA(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: authRealms()})
		auth := testAuth(t)

		cl := hello(t, r, c, auth, "realm1", []any{"wampcra"}, "joe")
		ch := expect[*wamp.Challenge](cl)
		if ch.AuthMethod != "wampcra" {
			t.Fatalf("CHALLENGE %q", ch.AuthMethod)
		}
		if _, salted := ch.Extra["salt"]; salted {
			t.Errorf("unsalted user's CHALLENGE carries a salt: %v", ch.Extra)
		}
		s, o := challengeObj(t, ch)
		for k, want := range map[string]any{"authid": "joe", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static"} {
			if o[k] != want {
				t.Errorf("challenge %s = %v, want %v", k, o[k], want)
			}
		}
		if n, _ := o["nonce"].(string); len(n) < 32 {
			t.Errorf("challenge nonce %q is short", n)
		}
		if ts, _ := o["timestamp"].(string); len(ts) != len("2020-08-18T20:47:37.395Z") {
			t.Errorf("challenge timestamp %q", ts)
		}
		cl.send(&wamp.Authenticate{Signature: sign("secret2", s), Extra: wamp.Dict{}})
		w := welcomed(t, cl, "realm1", "joe", "frontend", "wampcra")
		if fmt.Sprint(o["session"]) != fmt.Sprint(uint64(w.Session)) {
			t.Errorf("challenge session %v, WELCOME session %d", o["session"], w.Session)
		}
		// The role decides: frontend may not register.
		req := cl.nextReq()
		cl.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.add"})
		cl.expectError(wamp.REGISTER, errNotAuthorized)
		cl.goodbye()

		// Salted: the client derives the key from its password with the CHALLENGE's parameters.
		sl := hello(t, r, c, auth, "realm1", []any{"wampcra"}, "peter")
		ch = expect[*wamp.Challenge](sl)
		if ch.Extra["salt"] != peterSalt || fmt.Sprint(ch.Extra["iterations"]) != "100" || fmt.Sprint(ch.Extra["keylen"]) != "16" {
			t.Fatalf("salted CHALLENGE extra %v", ch.Extra)
		}
		s, _ = challengeObj(t, ch)
		sl.send(&wamp.Authenticate{Signature: sign(derivedKey(t, peterPassword, peterSalt, 100, 16), s), Extra: wamp.Dict{}})
		welcomed(t, sl, "realm1", "peter", "frontend", "wampcra")
		sl.goodbye()

		// The password itself is not the key.
		bad := hello(t, r, c, auth, "realm1", []any{"wampcra"}, "peter")
		s, _ = challengeObj(t, expect[*wamp.Challenge](bad))
		bad.send(&wamp.Authenticate{Signature: sign(peterPassword, s), Extra: wamp.Dict{}})
		m1 := aborted(t, bad, errNotAuthorized)
		unknown := hello(t, r, c, auth, "realm1", []any{"wampcra"}, "mallory")
		s, _ = challengeObj(t, expect[*wamp.Challenge](unknown))
		unknown.send(&wamp.Authenticate{Signature: sign("", s), Extra: wamp.Dict{}})
		if m2 := aborted(t, unknown, errNotAuthorized); m1 != m2 {
			t.Errorf("unknown authid ABORT %q differs from wrong signature ABORT %q", m2, m1)
		}
	})
}

func TestAuthMethodChoice(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	auth := testAuth(t)
	withAnon := testAuth(t)
	withAnon.Anonymous = &config.AnonymousAuth{Role: "public"}
	c := wamp.JSON

	tests := []struct {
		name    string
		auth    *config.Auth
		methods any
		authid  string
		want    string // CHALLENGE method, "welcome" or an ABORT reason
	}{
		{"client order wampcra first", auth, []any{"wampcra", "ticket"}, "joe", "wampcra"},
		{"client order ticket first", auth, []any{"ticket", "wampcra"}, "joe", "ticket"},
		{"unconfigured known method skipped", auth, []any{"cryptosign", "anonymous", "ticket"}, "backend1", "ticket"},
		{"no offered method configured", auth, []any{"cryptosign", "anonymous"}, "backend1", string(errNoAuthMethod)},
		{"no authmethods, no anonymous", auth, nil, "", string(errNoAuthMethod)},
		{"unknown method", auth, []any{"kerberos", "ticket"}, "backend1", string(errNotAuthorized)},
		{"no authmethods, anonymous configured", withAnon, nil, "", "welcome"},
		{"anonymous listed first", withAnon, []any{"anonymous", "ticket"}, "backend1", "welcome"},
		{"anonymous listed last", withAnon, []any{"ticket", "anonymous"}, "backend1", "ticket"},
		{"authmethods not a list", auth, "ticket", "backend1", string(errProtocolViolation)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := hello(t, r, c, tt.auth, "realm1", tt.methods, tt.authid)
			switch m := cl.recv().(type) {
			case *wamp.Challenge:
				if m.AuthMethod != tt.want {
					t.Fatalf("CHALLENGE %s, want %s", m.AuthMethod, tt.want)
				}
			case *wamp.Welcome:
				if tt.want != "welcome" {
					t.Fatalf("WELCOME %v, want %s", m.Details, tt.want)
				}
				if m.Details["authmethod"] != "anonymous" || m.Details["authrole"] != "public" || m.Details["authid"] == "" {
					t.Fatalf("anonymous WELCOME %v", m.Details)
				}
			case *wamp.Abort:
				if string(m.Reason) != tt.want {
					t.Fatalf("ABORT %s %v, want %s", m.Reason, m.Details, tt.want)
				}
			default:
				t.Fatalf("got %s", describe(m))
			}
		})
	}
}

// With no configured realms, an authenticated role may do everything, as anonymous may.
func TestAuthDynamicRealm(t *testing.T) {
	r := newTestRouter(t, Options{})
	cl := hello(t, r, wamp.CBOR, testAuth(t), "anywhere", []any{"ticket"}, "backend1")
	expect[*wamp.Challenge](cl)
	cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	welcomed(t, cl, "anywhere", "backend1", "backend", "ticket")
	req := cl.nextReq()
	cl.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.add"})
	expect[*wamp.Registered](cl)
	cl.goodbye()
}

func TestAuthProtocolViolations(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	auth := testAuth(t)

	early := connectInfo(t, r, wamp.JSON, PeerInfo{Transport: "inprocess", Auth: auth})
	early.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
	aborted(t, early, errProtocolViolation)

	twice := hello(t, r, wamp.JSON, auth, "realm1", []any{"ticket"}, "backend1")
	expect[*wamp.Challenge](twice)
	twice.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
	aborted(t, twice, errProtocolViolation)

	// A transport without auth ignores the offered methods and admits anonymous clients only;
	// realm1 has no anonymous role.
	plain := hello(t, r, wamp.JSON, nil, "realm1", []any{"ticket"}, "backend1")
	aborted(t, plain, errNotAuthorized) // realm1 has no anonymous role
}

// FuzzAuth feeds arbitrary frames to a session on a transport with ticket, wampcra and
// anonymous auth: whatever arrives (HELLO with odd authmethods or authids, AUTHENTICATE out of
// turn, garbage), the router must not panic and must end the session when the client goes.
func FuzzAuth(f *testing.F) {
	roles := clientRoles()
	for i, c := range codecs {
		ci := byte(i)
		f.Add(fuzzInput(ci, c,
			&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles, "authmethods": []any{"ticket"}, "authid": "backend1"}},
			&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}},
			&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "wamp.session.count"},
		))
		f.Add(fuzzInput(ci, c,
			&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles, "authmethods": []any{"kerberos", "wampcra"}, "authid": "peter"}},
			&wamp.Authenticate{Signature: "x", Extra: wamp.Dict{}},
		))
		f.Add(fuzzInput(ci, c,
			&wamp.Authenticate{Signature: "x", Extra: wamp.Dict{}},
			&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles, "authmethods": "anonymous"}},
		))
		f.Add(fuzzInput(ci, c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles, "authmethods": []any{}}}))
		f.Add(fuzzInput(ci, c,
			&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": roles, "authmethods": []any{"cryptosign"},
				"authextra": wamp.Dict{"pubkey": "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122", "channel_binding": "tls-unique"}}},
			&wamp.Authenticate{Signature: "00", Extra: wamp.Dict{}},
		))
	}
	auth := testAuth(f)
	auth.Anonymous = &config.AnonymousAuth{Role: "public"}
	auth.Cryptosign = &config.CryptosignAuth{Principals: map[string]config.CryptosignPrincipal{
		"c": {AuthorizedKeys: []string{"545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"}, Role: "backend"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, frames := fuzzFrames(data)
		r := New(Options{Log: quietLog(), Realms: authRealms()})
		defer r.Close(time.Second)
		serveFrames(r, c, PeerInfo{Transport: "inprocess", Auth: auth}, frames)
	})
}

// A principal without a role (and a method without default-role) never joins, even on a
// router whose realms are made on first HELLO, where any role may do everything: Crossbar's
// PendingAuth._assign_principal denies "no authrole assigned".
func TestAuthPrincipalWithoutRole(t *testing.T) {
	auth := &config.Auth{Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
		"joe": {Ticket: "secret"},
	}}}
	for name, opts := range map[string]Options{"configured realms": {Realms: authRealms()}, "dynamic realms": {}} {
		t.Run(name, func(t *testing.T) {
			r := newTestRouter(t, opts)
			cl := hello(t, r, wamp.JSON, auth, "realm1", []any{"ticket"}, "joe")
			expect[*wamp.Challenge](cl)
			cl.send(&wamp.Authenticate{Signature: "secret", Extra: wamp.Dict{}})
			if msg := aborted(t, cl, errNoSuchRole); msg != "no authrole assigned" {
				t.Errorf("ABORT message %q", msg)
			}
		})
	}
}

// Anonymous `authid` (Crossbar's anonymous.py) names every anonymous session alike.
func TestAuthAnonymousAuthID(t *testing.T) {
	r := newTestRouter(t, Options{Realms: authRealms()})
	auth := &config.Auth{Anonymous: &config.AnonymousAuth{Role: "public", AuthID: "visitor"}}
	for range 2 {
		cl := hello(t, r, wamp.JSON, auth, "realm1", nil, "someone-else")
		welcomed(t, cl, "realm1", "visitor", "public", "anonymous")
		cl.goodbye()
	}
}

// TestTrustedRole: a transport with PeerInfo.TrustedRole (a router component's private
// socket) joins with that role and no authentication, whatever auth the realm's other
// transports require; "trusted" is Crossbar's built-in role; a role the realm lacks is
// refused.
func TestTrustedRole(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: authRealms()})
		trusted := func(role string) *client {
			cl := connectInfo(t, r, c, PeerInfo{Transport: "websocket", Protocol: "wamp.2." + c.Name(),
				Auth: testAuth(t), TrustedRole: role})
			cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
			return cl
		}
		cl := trusted("backend")
		welcomed(t, cl, "realm1", "", "backend", "trusted")
		req := cl.nextReq()
		cl.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.add"})
		expect[*wamp.Registered](cl)
		cl.goodbye()

		cl = trusted("trusted")
		welcomed(t, cl, "realm1", "", "trusted", "trusted")
		cl.goodbye()

		if msg := aborted(t, trusted("nosuchrole"), errNoSuchRole); !strings.Contains(msg, `no role "nosuchrole"`) {
			t.Errorf("ABORT message %q", msg)
		}
	})
}
