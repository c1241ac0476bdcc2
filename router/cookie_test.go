package router

import (
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

func cookieConfig() config.Cookie {
	return config.Cookie{Name: "cbtid", Length: 24, MaxAge: 7 * 24 * time.Hour, Store: "memory"}
}

// TestCookieStoreTrack: a connection without a cookie, or with one the store does not know
// or that expired, gets a new one (Crossbar's Set-Cookie form); a known one is kept.
func TestCookieStoreTrack(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := cookieConfig()
	cfg.HTTPStrict, cfg.SameSite = true, "Strict"
	cs := NewCookieStore(cfg, func() time.Time { return now })
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
		cs := NewCookieStore(cookieConfig(), nil)
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
