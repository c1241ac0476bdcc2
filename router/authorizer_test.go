package router

import (
	"strings"
	"sync"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// authzRealms: realm1's role "authorizer" may register com.example.auth; "app" is decided by
// that procedure (crossbar-examples authorization/dynamic); "other" is static.
func authzRealms() []config.Realm {
	return []config.Realm{{Name: "realm1", Roles: []config.Role{
		{Name: "authorizer", Permissions: []config.Permission{{URI: "com.example.auth", Match: "exact", Allow: config.Allow{Register: true}}}},
		{Name: "app", Authorizer: "com.example.auth"},
		{Name: "backend", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: allowEverything}}},
	}}}
}

// joinAs joins realm1 with authrole role (a router component's trusted socket).
func joinAs(t *testing.T, r *Router, c wamp.Codec, role string) *client {
	t.Helper()
	cl := connectInfo(t, r, c, PeerInfo{Transport: "websocket", Protocol: "wamp.2." + c.Name(), TrustedRole: role})
	cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
	w := expect[*wamp.Welcome](cl)
	cl.id = w.Session
	return cl
}

// authzServer answers the router's INVOCATIONs of the authorizer with answer's message (nil:
// no answer) and records each call's arguments.
type authzServer struct {
	cl           *client
	reg          wamp.ID
	mu           sync.Mutex
	calls        []wamp.List
	done         chan struct{}
	unregistered chan struct{}
}

func serveAuthorizer(t *testing.T, cl *client, answer func(req wamp.ID, args wamp.List) wamp.Message) *authzServer {
	t.Helper()
	s := &authzServer{cl: cl, reg: cl.register("com.example.auth", nil), done: make(chan struct{}), unregistered: make(chan struct{})}
	go func() {
		defer close(s.done)
		for m := range cl.in {
			if _, ok := m.(*wamp.Unregistered); ok {
				close(s.unregistered)
			}
			inv, ok := m.(*wamp.Invocation)
			if !ok {
				continue
			}
			s.mu.Lock()
			s.calls = append(s.calls, inv.Arguments)
			s.mu.Unlock()
			if a := answer(inv.Request, inv.Arguments); a != nil {
				b, err := cl.codec.Encode(nil, a)
				if err != nil {
					panic(err)
				}
				if cl.end.WriteMessage(b) != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { _ = cl.end.Close(); <-s.done })
	return s
}

// unregister takes the authorizer's registration away and waits for UNREGISTERED.
func (s *authzServer) unregister(t *testing.T) {
	t.Helper()
	s.cl.send(&wamp.Unregister{Request: s.cl.nextReq(), Registration: s.reg})
	select {
	case <-s.unregistered:
	case <-time.After(guard):
		t.Fatal("no UNREGISTERED")
	}
}

func (s *authzServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *authzServer) last() wamp.List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[len(s.calls)-1]
}

func yieldOf(req wamp.ID, v any) wamp.Message {
	return &wamp.Yield{Request: req, Options: wamp.Dict{}, Arguments: wamp.List{v}}
}

// rules is the test authorizer: calls under com.example.ok are allowed, com.example.cached
// allowed and cached, com.example.denied denied and cached, com.example.raise raises,
// com.example.bad answers what Crossbar refuses, com.example.slow never answers.
func rules(req wamp.ID, args wamp.List) wamp.Message {
	uri, _ := args[1].(string)
	switch {
	case strings.HasPrefix(uri, "com.example.ok"):
		return yieldOf(req, true)
	case strings.HasPrefix(uri, "com.example.cached"):
		return yieldOf(req, wamp.Dict{"allow": true, "cache": true, "disclose": true})
	case strings.HasPrefix(uri, "com.example.denied"):
		return yieldOf(req, wamp.Dict{"allow": false, "cache": true})
	case strings.HasPrefix(uri, "com.example.raise"):
		return &wamp.Error{RequestType: wamp.INVOCATION, Request: req, Details: wamp.Dict{},
			Error: "wamp.error.runtime_error", Arguments: wamp.List{"no database"}}
	case strings.HasPrefix(uri, "com.example.bad"):
		return yieldOf(req, wamp.Dict{"allow": "yes"})
	case strings.HasPrefix(uri, "com.example.slow"):
		return nil
	}
	return yieldOf(req, false)
}

// TestAuthorizerDecides: a role with an authorizer gets what the procedure answers, for each
// action, with Crossbar's arguments; denied is not_authorized; an error, a malformed answer
// or no answer is authorization_failed; the static roles beside it are untouched.
func TestAuthorizerDecides(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: authzRealms(), AuthorizerTimeout: 300 * time.Millisecond})
		az := serveAuthorizer(t, joinAs(t, r, c, "authorizer"), rules)
		app := joinAs(t, r, c, "app")

		app.register("com.example.ok.add", nil)
		args := az.last()
		if len(args) != 4 || args[1] != "com.example.ok.add" || args[2] != "register" {
			t.Fatalf("authorizer called with %v", args)
		}
		details, _ := args[0].(map[string]any)
		if asInt(t, details["session"]) != int64(app.id) || details["authrole"] != "app" || details["authmethod"] != "trusted" {
			t.Errorf("session details %v", details)
		}
		if _, ok := args[3].(map[string]any); !ok {
			t.Errorf("options %v, want a dict", args[3])
		}
		app.subscribe("com.example.ok.topic", nil)
		app.publishAck("com.example.ok.topic", nil)
		if got := az.last()[2]; got != "publish" {
			t.Errorf("action %v, want publish", got)
		}

		for _, tc := range []struct {
			uri  string
			want wamp.URI
		}{
			{"com.example.denied.x", errNotAuthorized},
			{"com.example.nothing", errNotAuthorized},
			{"com.example.raise", errAuthorizationFailed},
			{"com.example.bad", errAuthorizationFailed},
			{"com.example.slow", errAuthorizationFailed},
		} {
			req := app.nextReq()
			app.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(tc.uri)})
			e := app.expectError(wamp.CALL, tc.want)
			msg, _ := e.Arguments[0].(string)
			if tc.want == errAuthorizationFailed && !strings.Contains(msg, "failed to authorize session for calling procedure") {
				t.Errorf("%s: message %q", tc.uri, msg)
			}
			if tc.uri == "com.example.raise" && !strings.Contains(msg, "no database") {
				t.Errorf("%s: message %q does not carry the authorizer's error", tc.uri, msg)
			}
		}

		// The static role beside it is decided without the authorizer.
		n := az.count()
		be := joinAs(t, r, c, "backend")
		be.register("com.example.static", nil)
		if az.count() != n {
			t.Error("a static role's action went to the authorizer")
		}
	})
}

// TestAuthorizerCache: a decision with cache true is asked once per (session, uri, action);
// one without cache every time; another session asks again; a re-registered authorizer is
// asked again.
func TestAuthorizerCache(t *testing.T) {
	c := wamp.JSON
	r := newTestRouter(t, Options{Realms: authzRealms()})
	azc := joinAs(t, r, c, "authorizer")
	az := serveAuthorizer(t, azc, rules)
	callee := joinAs(t, r, c, "backend")
	callee.register("com.example.cached.get", nil)
	callee.register("com.example.ok.get", nil)
	go func() { // answer every call
		for m := range callee.in {
			if inv, ok := m.(*wamp.Invocation); ok {
				b, _ := c.Encode(nil, yieldOf(inv.Request, int64(1)))
				if callee.end.WriteMessage(b) != nil {
					return
				}
			}
		}
	}()
	app := joinAs(t, r, c, "app")
	asked := func(f func(), want int) {
		t.Helper()
		n := az.count()
		f()
		if got := az.count() - n; got != want {
			t.Errorf("the authorizer was asked %d times, want %d", got, want)
		}
	}
	call := func(cl *client, proc string) func() {
		return func() {
			req := cl.nextReq()
			cl.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
			if res := expect[*wamp.Result](cl); res.Request != req {
				t.Fatalf("RESULT %d, want %d", res.Request, req)
			}
		}
	}
	asked(call(app, "com.example.cached.get"), 1)
	asked(call(app, "com.example.cached.get"), 0)
	asked(func() { app.subscribe("com.example.cached.get", nil) }, 1) // another action
	asked(call(app, "com.example.ok.get"), 1)                         // not cached
	asked(call(app, "com.example.ok.get"), 1)
	denied := func() {
		req := app.nextReq()
		app.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.example.denied.x"})
		app.expectError(wamp.CALL, errNotAuthorized)
	}
	asked(denied, 1)
	asked(denied, 0) // denials are cached too

	app2 := joinAs(t, r, c, "app")
	asked(call(app2, "com.example.cached.get"), 1) // per session
	asked(call(app, "com.example.cached.get"), 0)

	// The authorizer registers anew (a restarted component): cached decisions go.
	az.unregister(t)
	az2 := serveAuthorizer(t, joinAs(t, r, c, "authorizer"), rules)
	n := az2.count()
	call(app, "com.example.cached.get")()
	if az2.count() != n+1 {
		t.Error("a cached decision outlived the authorizer's registration")
	}
	asked(call(app2, "com.example.ok.get"), 0) // az is no longer asked
}

// TestAuthorizerLate: a request made before the authorizer registered waits for it (router
// components start together), and is decided once it is there; with none, it is denied
// after AuthorizerTimeout.
func TestAuthorizerLate(t *testing.T) {
	c := wamp.JSON
	r := newTestRouter(t, Options{Realms: authzRealms(), AuthorizerTimeout: 300 * time.Millisecond})
	app := joinAs(t, r, c, "app")
	req := app.nextReq()
	app.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.ok.x"})
	e := app.expectError(wamp.REGISTER, errAuthorizationFailed)
	if msg, _ := e.Arguments[0].(string); !strings.Contains(msg, "no callee registered for \"com.example.auth\"") {
		t.Errorf("message %q", msg)
	}

	r = newTestRouter(t, Options{Realms: authzRealms()}) // default timeout: 10s
	app = joinAs(t, r, c, "app")
	req = app.nextReq()
	app.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: "com.example.ok.x"})
	// The app's reader waits; its REGISTER is decided when the authorizer comes.
	serveAuthorizer(t, joinAs(t, r, c, "authorizer"), rules)
	if reg := expect[*wamp.Registered](app); reg.Request != req {
		t.Errorf("REGISTERED %d, want %d", reg.Request, req)
	}
}

// TestAuthorizerLegacy: an authorizer that takes (session, uri, action) only, as the
// crossbar-examples embedded one, fails with Python's TypeError for four arguments; it is
// called again with three, and so until it registers anew.
func TestAuthorizerLegacy(t *testing.T) {
	c := wamp.JSON
	r := newTestRouter(t, Options{Realms: authzRealms()})
	az := serveAuthorizer(t, joinAs(t, r, c, "authorizer"), func(req wamp.ID, args wamp.List) wamp.Message {
		if len(args) != 3 {
			return &wamp.Error{RequestType: wamp.INVOCATION, Request: req, Details: wamp.Dict{}, Error: "wamp.error.runtime_error",
				Arguments: wamp.List{"Authorizer.authorize() takes 4 positional arguments but 5 were given"}}
		}
		return yieldOf(req, wamp.Dict{"allow": true, "cache": false, "disclose": true})
	})
	app := joinAs(t, r, c, "app")
	app.register("com.example.a", nil)
	if n := az.count(); n != 2 {
		t.Errorf("asked %d times, want 2 (4 arguments, then 3)", n)
	}
	app.register("com.example.b", nil)
	if n := az.count(); n != 3 {
		t.Errorf("asked %d times, want 3 (3 arguments at once)", n)
	}
}

// TestAuthorizerGone: an authorizer that leaves while it decides fails the request at once;
// a session with the authorizer's role may not ask itself.
func TestAuthorizerGone(t *testing.T) {
	c := wamp.JSON
	r := newTestRouter(t, Options{Realms: authzRealms()})
	azc := joinAs(t, r, c, "authorizer")
	asked := make(chan struct{}, 1)
	serveAuthorizer(t, azc, func(req wamp.ID, args wamp.List) wamp.Message {
		asked <- struct{}{}
		return nil
	})
	app := joinAs(t, r, c, "app")
	req := app.nextReq()
	app.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "com.example.x"})
	<-asked
	_ = azc.end.Close()
	e := app.expectError(wamp.CALL, errAuthorizationFailed)
	if msg, _ := e.Arguments[0].(string); !strings.Contains(msg, "callee left") {
		t.Errorf("message %q", msg)
	}
}

// FuzzParseAuthorization: whatever a RESULT carries, the answer is read or refused without a
// panic, and an accepted answer came from a bool or a dict with a bool "allow".
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{`[true]`, `[false]`, `[{"allow":true,"cache":true,"disclose":true}]`,
		`[{"allow":false}]`, `[{"allow":true,"validate":{"call":"x"}}]`, `[{"allow":"yes"}]`,
		`[{"cache":true}]`, `[null]`, `[1]`, `[]`, `[true,false]`, `[{"allow":true,"x":1}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		m, err := wamp.JSON.Decode([]byte(`[50,1,{},` + args + `]`))
		if err != nil {
			return
		}
		res := m.(*wamp.Result)
		allow, _, _, err := parseAuthorization(res.Arguments, res.ArgumentsKw)
		if err != nil {
			if allow {
				t.Fatal("allowed with an error")
			}
			return
		}
		switch v := res.Arguments[0].(type) {
		case bool:
			if v != allow {
				t.Fatal("bool answer misread")
			}
		case map[string]any:
			if v["allow"] != allow {
				t.Fatal("dict answer misread")
			}
		default:
			t.Fatalf("accepted %T", v)
		}
	})
}

// BenchmarkAuthorizedCall measures calls/s of a role decided by a dynamic authorizer, with
// decisions cached ("cache": true) and not (one authorizer round trip per CALL, Crossbar's
// way), next to a static role. One op is one CALL answered.
func BenchmarkAuthorizedCall(b *testing.B) {
	for _, mode := range []string{"static", "authorizer-cached", "authorizer-uncached"} {
		b.Run(mode, func(b *testing.B) {
			c := wamp.JSON
			realms := []config.Realm{{Name: "bench", Roles: []config.Role{
				{Name: "authorizer", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: allowEverything}}},
				{Name: "app", Authorizer: "bench.authorize"},
				{Name: "static", Permissions: []config.Permission{{URI: "bench.", Match: "prefix", Allow: allowEverything}}},
			}}}
			r := New(Options{Log: quietLog(), Realms: realms})
			defer r.Close(time.Second)
			join := func(role string) *rawPeer {
				srv, end := Pipe(c, 64)
				go func() { _ = r.Serve(srv, PeerInfo{Transport: "inprocess", TrustedRole: role}) }()
				p := &rawPeer{end: end, c: c}
				if _, ok := p.roundTrip(b, &wamp.Hello{Realm: "bench", Details: wamp.Dict{"roles": clientRoles()}}).(*wamp.Welcome); !ok {
					b.Fatal("no WELCOME")
				}
				return p
			}
			// answer registers proc for p and answers its INVOCATIONs with result until p closes.
			answer := func(p *rawPeer, proc string, result any) {
				if _, ok := p.roundTrip(b, &wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: wamp.URI(proc)}).(*wamp.Registered); !ok {
					b.Fatal("no REGISTERED")
				}
				go func() {
					for {
						bs, err := p.end.ReadMessage()
						if err != nil {
							return
						}
						m, _ := c.Decode(bs)
						if inv, ok := m.(*wamp.Invocation); ok {
							y, _ := c.Encode(nil, yieldOf(inv.Request, result))
							if p.end.WriteMessage(y) != nil {
								return
							}
						}
					}
				}()
			}
			az := join("authorizer")
			defer az.end.Close()
			answer(az, "bench.authorize", wamp.Dict{"allow": true, "cache": mode == "authorizer-cached"})
			callee := join("authorizer")
			defer callee.end.Close()
			answer(callee, "bench.add", int64(5))
			role := "app"
			if mode == "static" {
				role = "static"
			}
			caller := join(role)
			defer caller.end.Close()
			frame, _ := c.Encode(nil, &wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "bench.add",
				Arguments: wamp.List{int64(2), int64(3)}})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := caller.end.WriteMessage(frame); err != nil {
					b.Fatal(err)
				}
				bs, err := caller.end.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					if m, _ := c.Decode(bs); m.Type() != wamp.RESULT {
						b.Fatalf("got %v", m.Type())
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
