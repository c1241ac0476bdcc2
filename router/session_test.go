package router

import (
	"errors"
	"regexp"
	"testing"

	"portico/config"
	"portico/router/wamp"
)

func TestHandshakeWelcome(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		cl := connect(t, r, c)
		cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
		w := expect[*wamp.Welcome](cl)
		if w.Session < 1 || w.Session > wamp.MaxID {
			t.Fatalf("session ID %d out of range", w.Session)
		}
		d := w.Details
		for k, want := range map[string]string{"realm": "realm1", "authrole": "anonymous", "authmethod": "anonymous", "authprovider": "static"} {
			if d[k] != want {
				t.Errorf("WELCOME.Details[%q] = %v, want %q", k, d[k], want)
			}
		}
		if id, _ := d["authid"].(string); !regexp.MustCompile(`^[A-Z2-9]{4}(-[A-Z2-9]{4}){5}$`).MatchString(id) {
			t.Errorf("anonymous authid %q is not a Crossbar-style serial", id)
		}
		roles, _ := d["roles"].(map[string]any)
		for role, feats := range map[string][]string{
			"broker": {"publisher_identification", "pattern_based_subscription", "subscriber_blackwhite_listing",
				"publisher_exclusion", "event_retention", "session_meta_api", "subscription_meta_api"},
			"dealer": {"caller_identification", "pattern_based_registration", "shared_registration",
				"progressive_call_results", "call_canceling", "call_timeout", "session_meta_api",
				"registration_meta_api", "testament_meta_api"},
		} {
			rd, _ := roles[role].(map[string]any)
			f, _ := rd["features"].(map[string]any)
			for _, name := range feats {
				if f[name] != true {
					t.Errorf("WELCOME does not announce %s feature %s", role, name)
				}
			}
		}
		cl.goodbye()
	})
}

func TestHandshakeRealms(t *testing.T) {
	configured := []config.Realm{
		realmWith("realm1", config.Permission{URI: "", Match: "prefix", Allow: allowEverything}),
		{Name: "private", Roles: []config.Role{{Name: "backend"}}},
	}
	tests := []struct {
		name   string
		realms []config.Realm
		realm  string
		abort  wamp.URI // "" expects WELCOME
	}{
		{"dynamic realm created on first HELLO", nil, "anything.goes", ""},
		{"configured realm", configured, "realm1", ""},
		{"unknown realm", configured, "realm2", errNoSuchRealm},
		{"realm without anonymous role", configured, "private", errNotAuthorized},
		{"invalid realm URI", nil, "bad realm", errProtocolViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter(t, Options{Realms: tt.realms})
			cl := connect(t, r, wamp.JSON)
			cl.send(&wamp.Hello{Realm: wamp.URI(tt.realm), Details: wamp.Dict{"roles": clientRoles()}})
			if tt.abort == "" {
				expect[*wamp.Welcome](cl)
				cl.goodbye()
				return
			}
			a := expect[*wamp.Abort](cl)
			if a.Reason != tt.abort {
				t.Fatalf("ABORT %s, want %s", a.Reason, tt.abort)
			}
			if msg, _ := a.Details["message"].(string); msg == "" {
				t.Error("ABORT without a message in details")
			}
			if err := cl.expectEnd(); !errors.Is(err, errSessionAborted) {
				t.Fatalf("Serve = %v, want an abort", err)
			}
		})
	}
}

func TestProtocolViolations(t *testing.T) {
	hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}}
	tests := []struct {
		name   string
		before bool // before the handshake
		raw    []byte
		msg    wamp.Message
	}{
		{"message before HELLO", true, nil, &wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "a.b"}},
		{"undecodable before HELLO", true, []byte("\x00\x01garbage"), nil},
		{"HELLO without roles", true, nil, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}}},
		{"second HELLO", false, nil, hello},
		{"WELCOME from a client", false, nil, &wamp.Welcome{Session: 1, Details: wamp.Dict{}}},
		{"EVENT from a client", false, nil, &wamp.Event{Subscription: 1, Publication: 2, Details: wamp.Dict{}}},
		{"ERROR for a CALL from a client", false, nil, &wamp.Error{RequestType: wamp.CALL, Request: 1, Details: wamp.Dict{}, Error: "x.y"}},
		{"undecodable", false, []byte("\xff\xfe not a message"), nil},
		{"CALL request ID in flight", false, nil, nil}, // built below
	}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newTestRouter(t, Options{})
				var cl *client
				if tt.before {
					cl = connect(t, r, c)
				} else {
					cl = join(t, r, c, "realm1")
				}
				switch {
				case tt.raw != nil:
					if err := cl.end.WriteMessage(tt.raw); err != nil {
						t.Fatal(err)
					}
				case tt.msg != nil:
					cl.send(tt.msg)
				default:
					callee := join(t, r, c, "realm1")
					callee.register("slow.proc", nil)
					cl.send(&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: "slow.proc"})
					expect[*wamp.Invocation](callee)
					cl.send(&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: "slow.proc"})
				}
				a := expect[*wamp.Abort](cl)
				if a.Reason != errProtocolViolation {
					t.Fatalf("ABORT %s, want %s", a.Reason, errProtocolViolation)
				}
				if msg, _ := a.Details["message"].(string); msg == "" {
					t.Error("ABORT without a message in details")
				}
				if err := cl.expectEnd(); !errors.Is(err, errSessionAborted) {
					t.Fatalf("Serve = %v, want an abort", err)
				}
			})
		}
	})
}

func TestClientAbortAndTransportLoss(t *testing.T) {
	r := newTestRouter(t, Options{})
	cl := connect(t, r, wamp.JSON)
	cl.send(&wamp.Abort{Details: wamp.Dict{}, Reason: "wamp.close.system_shutdown"})
	if err := cl.expectEnd(); err != nil {
		t.Fatalf("Serve after a client ABORT = %v", err)
	}

	cl = join(t, r, wamp.JSON, "realm1")
	_ = cl.end.Close()
	if err := cl.expectEnd(); err == nil {
		t.Fatal("Serve returned nil for a lost transport")
	}
}

func TestRouterCloseSendsGoodbye(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := New(Options{Log: quietLog()})
		a := join(t, r, c, "realm1")
		b := join(t, r, c, "realm1")
		pending := connect(t, r, c) // no HELLO yet: just closed
		closed := make(chan struct{})
		go func() { r.Close(guard); close(closed) }()
		for _, cl := range []*client{a, b} {
			g := expect[*wamp.Goodbye](cl)
			if g.Reason != errSystemShutdown {
				t.Fatalf("GOODBYE %s, want %s", g.Reason, errSystemShutdown)
			}
			cl.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: closeGoodbyeReply})
			if err := cl.expectEnd(); err != nil {
				t.Fatalf("Serve = %v, want nil after the GOODBYE handshake", err)
			}
		}
		if err := pending.expectEnd(); err == nil {
			t.Fatal("a session without HELLO survived Close")
		}
		<-closed
		late := connect(t, r, c)
		if err := late.expectEnd(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close = %v, want ErrClosed", err)
		}
	})
}

func TestRouterCloseBoundsTheWait(t *testing.T) {
	r := New(Options{Log: quietLog()})
	cl := join(t, r, wamp.JSON, "realm1")
	r.Close(0) // the client never answers GOODBYE: its transport is closed
	if m := cl.recv(); m != nil {
		if _, ok := m.(*wamp.Goodbye); !ok {
			t.Fatalf("got %s, want GOODBYE or the end", describe(m))
		}
	}
	if err := cl.expectEnd(); err != nil {
		t.Fatalf("Serve = %v after the router's GOODBYE", err)
	}
}
