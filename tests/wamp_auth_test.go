package tests

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// authNode starts a Crossbar node whose realm1 has the roles backend (everything), frontend
// (call and subscribe under com.example.) and public (subscribe only), with two websocket
// paths: /ws with anonymous, ticket and wampcra (one user salted), and /wsticket with ticket
// only. The salted user's secret is, as in Crossbar configs, the key derived from its
// password, computed here with Go's PBKDF2 so that autobahn's derive_key must agree.
func authNode(t *testing.T) *node {
	t.Helper()
	k, err := pbkdf2.Key(sha256.New, "secret1", []byte("salt123"), 100, 16)
	if err != nil {
		t.Fatal(err)
	}
	derived := base64.StdEncoding.EncodeToString(k)
	ticket := map[string]any{"type": "static", "principals": map[string]any{
		"backend1": map[string]any{"ticket": "secret!!!", "role": "backend"},
	}}
	all := map[string]any{"call": true, "register": true, "publish": true, "subscribe": true}
	cfg := map[string]any{
		"version":    2,
		"controller": map[string]any{},
		"workers": []any{map[string]any{
			"type": "router",
			"realms": []any{map[string]any{"name": "realm1", "roles": []any{
				map[string]any{"name": "backend", "permissions": []any{map[string]any{"uri": "", "match": "prefix", "allow": all}}},
				map[string]any{"name": "frontend", "permissions": []any{map[string]any{"uri": "com.example.*", "allow": map[string]any{"call": true, "subscribe": true}}}},
				map[string]any{"name": "public", "permissions": []any{map[string]any{"uri": "com.example.*", "allow": map[string]any{"subscribe": true}}}},
			}}},
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": 0},
				"paths": map[string]any{
					"/": map[string]any{"type": "json", "value": map[string]any{"wamp": "/ws"}},
					"ws": map[string]any{"type": "websocket", "auth": map[string]any{
						"anonymous": map[string]any{"type": "static", "role": "public"},
						"ticket":    ticket,
						"wampcra": map[string]any{"type": "static", "users": map[string]any{
							"joe":   map[string]any{"secret": "secret2", "role": "frontend"},
							"peter": map[string]any{"secret": derived, "role": "frontend", "salt": "salt123", "iterations": 100, "keylen": 16},
						}},
					}},
					"wsticket": map[string]any{"type": "websocket", "auth": map[string]any{"ticket": ticket}},
				},
			}},
		}},
	}
	return startConfig(t, cfg)
}

// authAttempt is one session testdata/wamp/auth_client.py opens.
type authAttempt struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Realm  string `json:"realm"`
	Method string `json:"method"`
	AuthID string `json:"authid"`
	Secret string `json:"secret"`
}

// pyAuthClient runs the attempts with autobahn-python and returns what each observed.
func pyAuthClient(t *testing.T, base, ser string, attempts []authAttempt) map[string]any {
	t.Helper()
	a, err := json.Marshal(attempts)
	if err != nil {
		t.Fatal(err)
	}
	return runAuthClient(t, base, ser, a)
}

// runAuthClient runs testdata/wamp/auth_client.py with the attempts (JSON) and returns what
// each observed.
func runAuthClient(t *testing.T, base, ser string, attempts []byte) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/wamp/auth_client.py", base, ser, string(attempts))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("auth_client.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return lastJSON(t, stdout.String(), stderr.String())
}

// TestWAMPAuthAutobahnPython: autobahn-python clients authenticate with WAMP-Ticket and
// WAMP-CRA (plain and salted) against a Crossbar config's static principals and get their
// configured roles; wrong tickets, wrong secrets and unknown authids are refused; a path with
// `auth` and no `anonymous` refuses anonymous clients.
func TestWAMPAuthAutobahnPython(t *testing.T) {
	t.Parallel()
	n := authNode(t)
	base := "ws" + strings.TrimPrefix(n.base, "http") + "/"
	attempts := []authAttempt{
		{"ticket", "ws", "realm1", "ticket", "backend1", "secret!!!"},
		{"ticket_wrong", "ws", "realm1", "ticket", "backend1", "secret!!"},
		{"ticket_unknown", "ws", "realm1", "ticket", "mallory", "secret!!!"},
		{"cra", "ws", "realm1", "wampcra", "joe", "secret2"},
		{"cra_wrong", "ws", "realm1", "wampcra", "joe", "secret3"},
		{"cra_salted", "ws", "realm1", "wampcra", "peter", "secret1"},
		{"cra_salted_wrong", "ws", "realm1", "wampcra", "peter", "secret2"},
		{"anonymous", "ws", "realm1", "", "", ""},
		{"anonymous_refused", "wsticket", "realm1", "", "", ""},
		{"ticket_only_path", "wsticket", "realm1", "ticket", "backend1", "secret!!!"},
	}
	joined := func(realm, authid, authrole, authmethod string) map[string]any {
		return map[string]any{"realm": realm, "authid": authid, "authrole": authrole,
			"authmethod": authmethod, "authprovider": "static"}
	}
	refused := "wamp.error.not_authorized"
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			res := pyAuthClient(t, base, ser, attempts)

			expect(t, res, joined("realm1", "backend1", "backend", "ticket"), "ticket", "joined")
			expect(t, res, "ok", "ticket", "register")
			expect(t, res, refused, "ticket_wrong", "aborted", "reason")
			expect(t, res, refused, "ticket_unknown", "aborted", "reason")
			expect(t, res, at(res, "ticket_wrong", "aborted", "message"), "ticket_unknown", "aborted", "message")

			expect(t, res, joined("realm1", "joe", "frontend", "wampcra"), "cra", "joined")
			expect(t, res, false, "cra", "challenge", "salted")
			expect(t, res, "wamp.error.not_authorized", "cra", "register") // frontend may not register
			expect(t, res, refused, "cra_wrong", "aborted", "reason")
			expect(t, res, joined("realm1", "peter", "frontend", "wampcra"), "cra_salted", "joined")
			expect(t, res, true, "cra_salted", "challenge", "salted")
			expect(t, res, refused, "cra_salted_wrong", "aborted", "reason")

			expect(t, res, "public", "anonymous", "joined", "authrole")
			expect(t, res, "anonymous", "anonymous", "joined", "authmethod")
			expect(t, res, "wamp.error.not_authorized", "anonymous", "register")
			expect(t, res, "wamp.error.no_auth_method", "anonymous_refused", "aborted", "reason")
			expect(t, res, joined("realm1", "backend1", "backend", "ticket"), "ticket_only_path", "joined")
		})
	}
}
