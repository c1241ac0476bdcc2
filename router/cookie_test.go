package router

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

func cookieConfig() config.Cookie {
	// config's defaults, as a websocket path with `"cookie": {}` gets them.
	svc := &config.Service{Type: "websocket", WebSocket: &config.WebSocket{Cookie: &config.Cookie{}}}
	config.TransportWithDefaults(&config.Transport{Paths: map[string]*config.Service{"/": svc}})
	return *svc.WebSocket.Cookie
}

// TestCookieStoreTrack: a connection without a cookie, or with one the store does not know
// or that expired, gets a new one (Crossbar's Set-Cookie form); a known one is kept.
func TestCookieStoreTrack(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := cookieConfig()
	cfg.HTTPStrict, cfg.SameSite = true, "Strict"
	cs, err := NewCookieStore(cfg, func() time.Time { return now }, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	id, set := cs.Track("")
	if len(id) != 24 || strings.Trim(id, cookieIDChars) != "" {
		t.Fatalf("cookie ID %q", id)
	}
	if want := "cbtid=" + id + ";max-age=604800;HttpOnly;SameSite=Strict"; set != want {
		t.Errorf("Set-Cookie %q, want %q", set, want)
	}
	if got, set := cs.Track(id); got != id || set != "" {
		t.Errorf("known cookie: %q %q, want it kept", got, set)
	}
	if got, _ := cs.Track("forged"); got == "forged" || got == id {
		t.Errorf("unknown cookie kept: %q", got)
	}
	now = now.Add(cfg.MaxAge)
	if got, set := cs.Track(id); got == id || set == "" {
		t.Errorf("expired cookie kept")
	}
}

// TestCookieAuth: a session that authenticated by ticket on a tracked connection is
// remembered on its cookie; a later connection with the cookie offering "cookie" joins as the
// same authid and role (authmethod ticket, authprovider cookie, as in Crossbar) without a
// CHALLENGE; after a GOODBYE with wamp.close.logout, or on another cookie, it must
// authenticate again.
func TestCookieAuth(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: authRealms()})
		auth := testAuth(t)
		auth.Cookie = true
		cs, err := NewCookieStore(cookieConfig(), nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		id, _ := cs.Track("")
		helloCookie := func(id string, methods []any, authid string) *client {
			cl := connectInfo(t, r, c, PeerInfo{Transport: "websocket", Protocol: "wamp.2." + c.Name(), Auth: auth,
				Cookie: &CookieTrack{Store: cs, ID: id}})
			d := wamp.Dict{"roles": clientRoles(), "authmethods": methods}
			if authid != "" {
				d["authid"] = authid
			}
			cl.send(&wamp.Hello{Realm: "realm1", Details: d})
			return cl
		}
		// Not authenticated yet: the cookie method is skipped.
		cl := helloCookie(id, []any{"cookie", "ticket"}, "backend1")
		expect[*wamp.Challenge](cl)
		cl.send(&wamp.Authenticate{Signature: "secret!!!", Extra: wamp.Dict{}})
		welcomed(t, cl, "realm1", "backend1", "backend", "ticket")
		cl.goodbye()

		cl = helloCookie(id, []any{"cookie"}, "")
		w := expect[*wamp.Welcome](cl)
		for k, want := range map[string]string{"realm": "realm1", "authid": "backend1", "authrole": "backend",
			"authmethod": "ticket", "authprovider": "cookie"} {
			if w.Details[k] != want {
				t.Errorf("WELCOME %s = %v, want %q", k, w.Details[k], want)
			}
		}
		cl.register("com.example.add", nil) // the role's rights
		cl.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.logout"})
		expect[*wamp.Goodbye](cl)

		aborted(t, helloCookie(id, []any{"cookie"}, ""), errNoAuthMethod)
		other, _ := cs.Track("")
		aborted(t, helloCookie(other, []any{"cookie"}, ""), errNoAuthMethod)
	})
}

// TestCookieFileStore: a file store keeps the authenticated cookies across a restart (a new
// store on the same file), forgets the logged-out ones, and starts empty with
// purge_on_startup; a torn last line is skipped.
func TestCookieFileStore(t *testing.T) {
	cfg := cookieConfig()
	cfg.Store, cfg.File = "file", filepath.Join(t.TempDir(), "cookies.dat")
	open := func(cfg config.Cookie) *CookieStore {
		cs, err := NewCookieStore(cfg, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	cs := open(cfg)
	kept, _ := cs.Track("")
	gone, _ := cs.Track("")
	anon, _ := cs.Track("")
	cs.setAuth(kept, "joe", "frontend", "wampcra", "realm1")
	cs.setAuth(gone, "ann", "frontend", "ticket", "realm1")
	cs.delAuth(gone)
	_ = cs.Close()
	f, err := os.OpenFile(cfg.File, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"cbtid": "torn`)
	f.Close()

	cs = open(cfg)
	if e, ok := cs.auth(kept); !ok || e.authid != "joe" || e.authrole != "frontend" || e.authmethod != "wampcra" || e.realm != "realm1" {
		t.Errorf("after restart: %+v %v", e, ok)
	}
	if id, set := cs.Track(kept); id != kept || set != "" {
		t.Error("the authenticated cookie is not known after restart")
	}
	for _, id := range []string{gone, anon} {
		if _, ok := cs.auth(id); ok {
			t.Errorf("cookie %s authenticated after restart", id)
		}
	}
	_ = cs.Close()
	cfg.PurgeOnStartup = true
	if _, ok := open(cfg).auth(kept); ok {
		t.Error("purge_on_startup kept a cookie")
	}
}

// FuzzCookieFile: whatever the file store's file holds, opening the store neither panics nor
// fails, and the cookies it loads are authenticated ones.
func FuzzCookieFile(f *testing.F) {
	f.Add([]byte(`{"cbtid":"abc","status":"modified","created":"2099-01-01T00:00:00.000Z","max_age":604800,"authid":"joe","authrole":"r","authmethod":"ticket","authrealm":"realm1"}` + "\n"))
	f.Add([]byte(`{"cbtid":"abc","status":"deleted","created":"2099-01-01T00:00:00.000Z","max_age":1,"authid":null}` + "\n{"))
	f.Add([]byte("\n\n[1,2]\n\"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := cookieConfig()
		cfg.Store, cfg.File = "file", filepath.Join(t.TempDir(), "cookies.dat")
		if err := os.WriteFile(cfg.File, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cs, err := NewCookieStore(cfg, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		for id, e := range cs.cookies {
			if !e.authenticated || id == "" {
				t.Fatalf("loaded %q %+v", id, e)
			}
		}
	})
}
