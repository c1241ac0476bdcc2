package tests

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The crossbar-examples authentication nodes, as they are (tests/testdata/crossbar-auth,
// see its README): their config and their authenticator components, run as router
// components, with autobahn-python clients.
func TestWAMPAuthCrossbarExamples(t *testing.T) {
	t.Parallel()
	cs := "testdata/crossbar-auth/cryptosign-static/.keys/"
	cd := "testdata/crossbar-auth/cryptosign-dynamic/.keys/"
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	type check struct {
		want any
		keys []string
	}
	joined := func(realm, authid, authrole, authmethod, provider string) map[string]any {
		return map[string]any{"realm": realm, "authid": authid, "authrole": authrole,
			"authmethod": authmethod, "authprovider": provider}
	}
	for _, ex := range []struct {
		name     string
		path     string
		attempts []map[string]any
		checks   []check
	}{
		{"ticket-dynamic", "ws", []map[string]any{
			{"name": "joe", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "secret!!!", "wait": true},
			{"name": "wrong", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "secret!!"},
			{"name": "unknown", "realm": "realm1", "method": "ticket", "authid": "mallory", "secret": "x"},
		}, []check{
			{joined("realm1", "joe", "frontend", "ticket", "dynamic"), []string{"joe", "joined"}},
			{"wamp.error.not_authorized", []string{"joe", "register"}}, // frontend may not register
			{"com.example.invalid_ticket", []string{"wrong", "aborted", "reason"}},
			{"com.example.no_such_user", []string{"unknown", "aborted", "reason"}},
		}},
		{"wampcra-dynamic", "ws", []map[string]any{
			{"name": "client1", "realm": "realm1", "method": "wampcra", "authid": "client1", "secret": "secret123", "wait": true},
			{"name": "hans", "realm": "realm1", "method": "wampcra", "authid": "hans", "secret": "123456"},
			{"name": "peter", "realm": "realm1", "method": "wampcra", "authid": "peter", "secret": "secret1"},
			{"name": "wrong", "realm": "realm1", "method": "wampcra", "authid": "joe", "secret": "secret3"},
			{"name": "unknown", "realm": "realm1", "method": "wampcra", "authid": "mallory", "secret": "x"},
		}, []check{
			{joined("realm1", "client1", "frontend", "wampcra", "dynamic"), []string{"client1", "joined"}},
			{joined("realm1", "ID09125", "frontend", "wampcra", "dynamic"), []string{"hans", "joined"}},
			{joined("realm1", "peter", "frontend", "wampcra", "dynamic"), []string{"peter", "joined"}},
			{true, []string{"peter", "challenge", "salted"}},
			{"wamp.error.not_authorized", []string{"wrong", "aborted", "reason"}},
			{"com.example.no_such_user", []string{"unknown", "aborted", "reason"}},
		}},
		{"cryptosign-static", "", []map[string]any{
			{"name": "client01", "realm": "devices", "method": "cryptosign", "authid": "client01@example.com", "key": abs(cs + "client01.key")},
			{"name": "bykey", "realm": "devices", "method": "cryptosign", "key": abs(cs + "client01.key")},
			{"name": "unknownkey", "realm": "devices", "method": "cryptosign", "key": abs(cs + "client02")},
			{"name": "otherauthid", "realm": "devices", "method": "cryptosign", "authid": "client02@example.com", "key": abs(cs + "client01.key")},
		}, []check{
			{joined("devices", "client01@example.com", "device", "cryptosign", "static"), []string{"client01", "joined"}},
			{"ok", []string{"client01", "register"}},
			{nil, []string{"client01", "challenge", "channel_binding"}},
			{joined("devices", "client01@example.com", "device", "cryptosign", "static"), []string{"bykey", "joined"}},
			{"wamp.error.not_authorized", []string{"unknownkey", "aborted", "reason"}},
			{"wamp.error.not_authorized", []string{"otherauthid", "aborted", "reason"}},
		}},
		{"cryptosign-dynamic", "", []map[string]any{
			{"name": "client01", "realm": "devices", "method": "cryptosign", "key": abs(cd + "client01.key"), "wait": true},
			{"name": "bad", "realm": "devices", "method": "cryptosign", "key": abs(cd + "client01-bad.key")},
		}, []check{
			{"client01@example.com", []string{"client01", "joined", "authid"}},
			{"device", []string{"client01", "joined", "authrole"}},
			{"devices", []string{"client01", "joined", "realm"}},
			{"dynamic", []string{"client01", "joined", "authprovider"}},
			{map[string]any{"foo": 23}, []string{"client01", "joined", "authextra"}},
			{"com.example.no_such_user", []string{"bad", "aborted", "reason"}},
		}},
	} {
		t.Run(ex.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, filepath.Join("testdata", "crossbar-auth", ex.name), dir)
			port := freePort(t)
			setPort(t, filepath.Join(dir, ".crossbar", "config.json"), port)
			start(t, dir)
			base := fmt.Sprintf("ws://127.0.0.1:%d/", port)
			for _, a := range ex.attempts {
				a["path"] = ex.path
			}
			res := runAuthAttempts(t, base, "json", ex.attempts)
			for _, c := range ex.checks {
				expect(t, res, c.want, c.keys...)
			}
		})
	}
}

// runAuthAttempts is pyAuthClient with attempts that use auth_client.py's optional keys.
func runAuthAttempts(t *testing.T, base, ser string, attempts []map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(attempts)
	if err != nil {
		t.Fatal(err)
	}
	return runAuthClient(t, base, ser, b)
}

// authDynamicNode starts a node whose authenticator (testdata/authdynamic/authenticator.py)
// runs in a container worker and connects to the path /wsbackend. Clients authenticate at:
// /ws (ticket, wampcra, cryptosign and anonymous, all dynamic; auth_timeout 2s), /wsnone
// (ticket with an authenticator nobody registers), and a RawSocket transport (cryptosign,
// dynamic, the authenticator on realm1 whatever realm the client asks for).
func authDynamicNode(t *testing.T) (port, rawPort int) {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "authdynamic", "authenticator.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authenticator.py"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	port, rawPort = freePort(t), freePort(t)
	dyn := func(proc string) map[string]any {
		return map[string]any{"type": "dynamic", "authenticator": proc}
	}
	frontend := map[string]any{"name": "frontend", "permissions": []any{map[string]any{"uri": "com.example.", "match": "prefix", "allow": map[string]any{"call": true, "subscribe": true}}}}
	cfg := map[string]any{
		"version": 2,
		"workers": []any{
			map[string]any{
				"type": "router",
				"realms": []any{
					map[string]any{"name": "realm1", "roles": []any{
						map[string]any{"name": "anonymous", "permissions": []any{map[string]any{"uri": "com.example.authenticate", "allow": map[string]any{"register": true}}}},
						frontend,
					}},
					map[string]any{"name": "realm2", "roles": []any{frontend}},
				},
				"transports": []any{
					map[string]any{
						"type":     "web",
						"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": port},
						"paths": map[string]any{
							"/": map[string]any{"type": "json", "value": "ok"},
							"ws": map[string]any{"type": "websocket", "options": map[string]any{"auth_timeout": "2s"}, "auth": map[string]any{
								"ticket":     dyn("com.example.authenticate"),
								"wampcra":    dyn("com.example.authenticate"),
								"cryptosign": dyn("com.example.authenticate"),
								"anonymous":  dyn("com.example.authenticate"),
							}},
							"wsnone":    map[string]any{"type": "websocket", "auth": map[string]any{"ticket": dyn("com.example.nobody")}},
							"wsbackend": map[string]any{"type": "websocket"},
						},
					},
					map[string]any{
						"type":     "rawsocket",
						"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": rawPort},
						"auth": map[string]any{"cryptosign": map[string]any{"type": "dynamic",
							"authenticator": "com.example.authenticate", "authenticator-realm": "realm1"}},
					},
				},
			},
			map[string]any{
				"type":    "container",
				"options": map[string]any{"pythonpath": []any{"."}},
				"components": []any{map[string]any{"type": "class", "classname": "authenticator.Authenticator", "realm": "realm1",
					"transport": map[string]any{"type": "websocket", "url": fmt.Sprintf("ws://127.0.0.1:%d/wsbackend", port),
						"endpoint": map[string]any{"type": "tcp", "host": "127.0.0.1", "port": port}}}},
			},
		},
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cb, 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir)
	return port, rawPort
}

// TestWAMPAuthDynamic: every dynamic method against an authenticator in a container worker,
// with autobahn-python clients over each serializer: Crossbar's arguments reach the
// authenticator (echoed back in WELCOME authextra), its answers (role, realm, authid, extra)
// decide the session; its errors, its crashes, its silence, its absence and bad signatures
// are each a clear ABORT.
func TestWAMPAuthDynamic(t *testing.T) {
	t.Parallel()
	port, rawPort := authDynamicNode(t)
	base := fmt.Sprintf("ws://127.0.0.1:%d/", port)
	key := func(name string) string {
		a, err := filepath.Abs("testdata/crossbar-auth/cryptosign-dynamic/.keys/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	client01 := "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			attempts := []map[string]any{
				{"name": "ticket", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "secret!!!", "authextra": map[string]any{"x": 7}, "wait": true},
				{"name": "ticket_moved", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "moved", "secret": "t"},
				{"name": "ticket_wrong", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "secret!!"},
				{"name": "ticket_unknown", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "mallory", "secret": "x"},
				{"name": "ticket_crash", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "crash", "secret": "x"},
				{"name": "ticket_slow", "path": "ws", "realm": "realm1", "method": "ticket", "authid": "slow", "secret": "x"},
				{"name": "ticket_none", "path": "wsnone", "realm": "realm1", "method": "ticket", "authid": "joe", "secret": "secret!!!"},
				{"name": "cra", "path": "ws", "realm": "realm1", "method": "wampcra", "authid": "joe", "secret": "secret2"},
				{"name": "cra_wrong", "path": "ws", "realm": "realm1", "method": "wampcra", "authid": "joe", "secret": "secret3"},
				{"name": "cra_unknown", "path": "ws", "realm": "realm1", "method": "wampcra", "authid": "mallory", "secret": "x"},
				{"name": "cs", "path": "ws", "realm": "realm1", "method": "cryptosign", "key": key("client01.key")},
				{"name": "cs_unknown", "path": "ws", "realm": "realm1", "method": "cryptosign", "key": key("client01-bad.key")},
				// Signed with another key than the pubkey the client names.
				{"name": "cs_badsig", "path": "ws", "realm": "realm1", "method": "cryptosign", "key": key("client01-bad.key"), "authextra": map[string]any{"pubkey": client01}},
				{"name": "cs_raw", "realm": "realm2", "method": "cryptosign", "key": key("client01.key"), "rawsocket": fmt.Sprintf("127.0.0.1:%d", rawPort)},
				{"name": "anon", "path": "ws", "realm": "realm1", "method": "anonymous", "authextra": map[string]any{"x": 1}},
			}
			res := runAuthAttempts(t, base, ser, attempts)

			seen := at(res, "ticket", "joined", "authextra", "seen")
			expect(t, map[string]any{"s": seen}, map[string]any{"realm": "realm1", "authid": "joe", "authmethod": "ticket",
				"ticket": "secret!!!", "transport_peer": at(seen, "transport_peer"), "authextra_x": 7, "session": at(seen, "session")}, "s")
			if p, _ := at(seen, "transport_peer").(string); !strings.HasPrefix(p, "tcp4:127.0.0.1:") {
				t.Errorf("transport peer %q", p)
			}
			if s, _ := at(seen, "session").(float64); s <= 0 {
				t.Errorf("session %v", at(seen, "session"))
			}
			for k, v := range map[string]any{"realm": "realm1", "authid": "joe", "authrole": "frontend", "authmethod": "ticket", "authprovider": "dynamic"} {
				expect(t, res, v, "ticket", "joined", k)
			}
			expect(t, res, "realm2", "ticket_moved", "joined", "realm")
			expect(t, res, "moved-2", "ticket_moved", "joined", "authid")
			expect(t, res, "com.example.invalid_ticket", "ticket_wrong", "aborted", "reason")
			expect(t, res, "com.example.no_such_user", "ticket_unknown", "aborted", "reason")
			expect(t, res, "wamp.error.authentication_failed", "ticket_crash", "aborted", "reason")
			expect(t, res, "wamp.error.authentication_failed", "ticket_slow", "aborted", "reason")
			expect(t, res, "wamp.error.no_such_procedure", "ticket_none", "aborted", "reason")

			expect(t, res, "frontend", "cra", "joined", "authrole")
			expect(t, res, "dynamic", "cra", "joined", "authprovider")
			expect(t, res, "wampcra", "cra", "joined", "authextra", "seen", "authmethod")
			expect(t, res, "wamp.error.not_authorized", "cra_wrong", "aborted", "reason")
			expect(t, res, "com.example.no_such_user", "cra_unknown", "aborted", "reason")

			expect(t, res, "device1", "cs", "joined", "authid")
			expect(t, res, "cryptosign", "cs", "joined", "authmethod")
			expect(t, res, "com.example.no_such_user", "cs_unknown", "aborted", "reason")
			expect(t, res, "wamp.error.not_authorized", "cs_badsig", "aborted", "reason")
			expect(t, res, "device1", "cs_raw", "joined", "authid")
			expect(t, res, "realm2", "cs_raw", "joined", "realm")

			expect(t, res, "frontend", "anon", "joined", "authrole")
			expect(t, res, "anonymous", "anon", "joined", "authmethod")
			expect(t, res, 1, "anon", "joined", "authextra", "seen", "authextra_x")
		})
	}
}

// TestWAMPAuthCryptosignTLS: cryptosign over a TLS endpoint with autobahn-python clients on
// Python's ssl. Channel binding: over TLS 1.2, a client that signs the challenge XOR
// SHA-256(tls-unique) (RFC 5929, from Python's ssl) joins; one that asks for the binding but
// signs the bare challenge (a signature relayed from another connection would look so) is
// refused. TLS 1.3 has no tls-unique: a client that asks for the binding there is refused,
// one that does not joins.
func TestWAMPAuthCryptosignTLS(t *testing.T) {
	t.Parallel()
	root := issue(t, "root", nil, true, nil, 0)
	server := issue(t, "127.0.0.1", root, false, nil, x509.ExtKeyUsageServerAuth)
	port := freePort(t)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "devices", "roles": [{"name": "device", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [{"type": "websocket",
    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d, "tls": {"key": "server.key", "certificate": "server.crt"}},
    "auth": {"cryptosign": {"type": "static", "principals": {"client01@example.com": {"realm": "devices", "role": "device",
      "authorized_keys": ["545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"]}}}}}]}]}`, port))
	cb := filepath.Join(dir, ".crossbar")
	keyDER, err := x509.MarshalPKCS8PrivateKey(server.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(cb, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writePEM(t, filepath.Join(cb, "server.crt"), server.pem)
	ca := filepath.Join(dir, "root.crt")
	writePEM(t, ca, root.pem)
	start(t, dir)

	key, err := filepath.Abs("testdata/crossbar-auth/cryptosign-static/.keys/client01.key")
	if err != nil {
		t.Fatal(err)
	}
	bind := map[string]any{"channel_binding": "tls-unique"}
	attempt := func(name string, tls12 bool, authextra map[string]any, sign bool) map[string]any {
		return map[string]any{"name": name, "realm": "devices", "method": "cryptosign", "key": key,
			"cafile": ca, "tls12": tls12, "authextra": authextra, "bind": sign}
	}
	res := runAuthAttempts(t, fmt.Sprintf("wss://127.0.0.1:%d/", port), "json", []map[string]any{
		attempt("bound12", true, bind, true),
		attempt("unbound_signature12", true, bind, false),
		attempt("bound13", false, bind, false),
		attempt("plain13", false, nil, false),
	})
	expect(t, res, "client01@example.com", "bound12", "joined", "authid")
	expect(t, res, "tls-unique", "bound12", "challenge", "channel_binding")
	expect(t, res, "wamp.error.not_authorized", "unbound_signature12", "aborted", "reason")
	if m, _ := at(res, "unbound_signature12", "aborted", "message").(string); !strings.Contains(m, "tls-unique") {
		t.Errorf("message %q does not name the channel binding", m)
	}
	expect(t, res, "wamp.error.not_authorized", "bound13", "aborted", "reason")
	if m, _ := at(res, "bound13", "aborted", "message").(string); !strings.Contains(m, "TLS 1.3") {
		t.Errorf("message %q does not say why", m)
	}
	expect(t, res, "client01@example.com", "plain13", "joined", "authid")
}

// TestWAMPAuthTLSClientCert: WAMP-TLS with autobahn-python clients presenting certificates
// that the endpoint's ca_certificates verify: a static principal by its certificate-sha1
// (another certificate of the same CA is refused), and a dynamic authenticator (a router
// component) that names the client by its certificate's subject CN.
func TestWAMPAuthTLSClientCert(t *testing.T) {
	t.Parallel()
	root := issue(t, "root", nil, true, nil, 0)
	server := issue(t, "127.0.0.1", root, false, nil, x509.ExtKeyUsageServerAuth)
	clientCA := issue(t, "client ca", nil, true, nil, 0)
	client0 := issue(t, "client_0", clientCA, false, nil, x509.ExtKeyUsageClientAuth)
	client1 := issue(t, "client_1", clientCA, false, nil, x509.ExtKeyUsageClientAuth)
	sum := sha1.Sum(client0.cert.Raw)
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	port := freePort(t)
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router",
  "options": {"pythonpath": [".."]},
  "realms": [{"name": "realm1", "roles": [
    {"name": "anonymous", "permissions": [{"uri": "com.example.authenticate", "allow": {"register": true}}]},
    {"name": "backend", "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]},
    {"name": "frontend", "permissions": [{"uri": "com.example.", "match": "prefix", "allow": {"call": true}}]}]}],
  "transports": [{"type": "web",
    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d,
      "tls": {"key": "server.key", "certificate": "server.crt", "ca_certificates": ["client-ca.crt"]}},
    "paths": {"/": {"type": "json", "value": "ok"},
      "ws": {"type": "websocket", "auth": {"tls": {"type": "static", "principals": {"client_0": {"certificate-sha1": %q, "role": "backend"}}}}},
      "wsdyn": {"type": "websocket", "auth": {"tls": {"type": "dynamic", "authenticator": "com.example.authenticate"}}}}}],
  "components": [{"type": "class", "classname": "authenticator.Authenticator", "realm": "realm1", "role": "anonymous"}]}]}`,
		port, strings.Join(fp, ":")))
	b, err := os.ReadFile(filepath.Join("testdata", "authdynamic", "authenticator.py"))
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "authenticator.py"), b)
	cb := filepath.Join(dir, ".crossbar")
	writeKey := func(file string, p *pki) {
		der, err := x509.MarshalPKCS8PrivateKey(p.key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	writeKey(filepath.Join(cb, "server.key"), server)
	writePEM(t, filepath.Join(cb, "server.crt"), server.pem)
	writePEM(t, filepath.Join(cb, "client-ca.crt"), clientCA.pem)
	ca := filepath.Join(dir, "root.crt")
	writePEM(t, ca, root.pem)
	files := map[string]string{}
	for name, p := range map[string]*pki{"client_0": client0, "client_1": client1} {
		files[name+".crt"], files[name+".key"] = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		writePEM(t, files[name+".crt"], p.pem)
		writeKey(files[name+".key"], p)
	}
	start(t, dir)

	attempt := func(name, path, cert string) map[string]any {
		return map[string]any{"name": name, "path": path, "realm": "realm1", "method": "tls", "cafile": ca,
			"certfile": files[cert+".crt"], "keyfile": files[cert+".key"], "wait": path == "wsdyn"}
	}
	res := runAuthAttempts(t, fmt.Sprintf("wss://127.0.0.1:%d/", port), "json", []map[string]any{
		attempt("static", "ws", "client_0"),
		attempt("static_other", "ws", "client_1"),
		attempt("dynamic", "wsdyn", "client_1"),
	})
	expect(t, res, map[string]any{"realm": "realm1", "authid": "client_0", "authrole": "backend",
		"authmethod": "tls", "authprovider": "static"}, "static", "joined")
	expect(t, res, "ok", "static", "register")
	expect(t, res, "wamp.error.not_authorized", "static_other", "aborted", "reason")
	expect(t, res, "client_1", "dynamic", "joined", "authid")
	expect(t, res, "frontend", "dynamic", "joined", "authrole")
	expect(t, res, "dynamic", "dynamic", "joined", "authprovider")
	sum1 := sha1.Sum(client1.cert.Raw)
	if got, _ := at(res, "dynamic", "joined", "authextra", "sha1").(string); strings.ReplaceAll(got, ":", "") != fmt.Sprintf("%X", sum1[:]) {
		t.Errorf("the authenticator saw sha1 %q", got)
	}
}
