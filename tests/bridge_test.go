package tests

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// bridgeNode starts a node with a websocket path and every HTTP bridge service the tests use,
// on realm1: role "anonymous" may do everything, role "limited" may only call
// com.example.py.add2.
func bridgeNode(t *testing.T) *node {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [
      {"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]},
      {"name": "limited", "permissions": [{"uri": "com.example.py.add2", "allow": {"call": true}}]}
    ]}],
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %[1]d},
      "paths": {
        "ws": {"type": "websocket"},
        "pub": {"type": "publisher", "realm": "realm1", "role": "anonymous"},
        "call": {"type": "caller", "realm": "realm1", "role": "anonymous", "options": {"post_body_limit": 200}},
        "limited": {"type": "caller", "realm": "realm1", "role": "limited"},
        "pub-signed": {"type": "publisher", "realm": "realm1", "role": "anonymous",
          "options": {"key": "foobar", "secret": "secret", "timestamp_delta_limit": 10}},
        "call-signed": {"type": "caller", "realm": "realm1", "role": "anonymous",
          "options": {"key": "foobar", "secret": "secret"}},
        "call-lan": {"type": "caller", "realm": "realm1", "role": "anonymous", "options": {"require_ip": ["10.0.0.0/8"]}},
        "call-tls": {"type": "caller", "realm": "realm1", "role": "anonymous", "options": {"require_tls": true}},
        "hook": {"type": "webhook", "realm": "realm1", "role": "anonymous", "options": {"topic": "com.example.py.topic.hook"}},
        "hook-gh": {"type": "webhook", "realm": "realm1", "role": "anonymous",
          "options": {"topic": "com.example.py.topic.gh", "github_secret": "ghsecret", "success_response": "thanks"}}
      }
    }]
  }]
}`, freePort(t))
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir)
}

// bridgeReq is one request for testdata/wamp/bridge_http.py.
type bridgeReq struct {
	Path      string         `json:"path"`
	Method    string         `json:"method,omitempty"`
	Body      string         `json:"body,omitempty"`
	BodyBytes string         `json:"body_bytes,omitempty"` // hex
	Headers   map[string]any `json:"headers,omitempty"`
	Sign      map[string]any `json:"sign,omitempty"`
	Replay    bool           `json:"replay,omitempty"`
}

type bridgeResp struct {
	Status  int               `json:"status"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// bridgeHTTP sends reqs in order over one connection with Python's http.client.
func bridgeHTTP(t *testing.T, n *node, reqs []bridgeReq) []bridgeResp {
	t.Helper()
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/wamp/bridge_http.py", n.base)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bridge_http.py: %v\n%s\n%s\nportico:\n%s", err, stdout.String(), stderr.String(), tail(n.logs.String()))
	}
	var out []bridgeResp
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(reqs) {
		t.Fatalf("bridge_http.py printed %q (%v)", stdout.String(), err)
	}
	return out
}

// bridgeCase is one request and Crossbar's answer to it: the status, and the body exactly
// (body) or matching a pattern (bodyRE).
type bridgeCase struct {
	name   string
	req    bridgeReq
	status int
	body   string
	bodyRE string
}

func runBridgeCases(t *testing.T, n *node, cases []bridgeCase) []bridgeResp {
	t.Helper()
	reqs := make([]bridgeReq, len(cases))
	for i, c := range cases {
		reqs[i] = c.req
	}
	got := bridgeHTTP(t, n, reqs)
	for i, c := range cases {
		r := got[i]
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d (body %s)", c.name, r.Status, c.status, r.Body)
		}
		if c.bodyRE != "" {
			if !regexp.MustCompile(c.bodyRE).MatchString(r.Body) {
				t.Errorf("%s: body %s, want a match of %s", c.name, r.Body, c.bodyRE)
			}
		} else if r.Body != c.body {
			t.Errorf("%s: body\n  %s\nwant\n  %s", c.name, r.Body, c.body)
		}
		// common.py _set_common_headers, on every answer.
		if ct := r.Headers["content-type"]; ct != "application/json; charset=UTF-8" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		if o := r.Headers["access-control-allow-origin"]; o != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", c.name, o)
		}
	}
	return got
}

func deny(msg string) string { return `{"error":` + mustJSON(msg) + `,"args":[],"kwargs":{}}` }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// eventOf waits for the next event a bridge_peer prints and compares it with want.
func eventOf(t *testing.T, p *proc, want map[string]any) {
	t.Helper()
	got := p.jsonLine(t, "event")
	wb, _ := json.Marshal(want)
	var w any
	_ = json.Unmarshal(wb, &w)
	g := got.(map[string]any)
	delete(g, "publisher")
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		t.Errorf("event %s, want %s", gb, wb)
	}
}

// TestHTTPBridge: the publisher, caller and webhook services against real callees and
// subscribers in autobahn-python and AutobahnJS: each request, good or bad, gets the status
// and body Crossbar's REST bridge gives it (crossbar/bridge/rest/common.py), and the events
// and calls reach the WAMP peers.
func TestHTTPBridge(t *testing.T) {
	t.Parallel()
	n := bridgeNode(t)
	ws := wsURL(n)
	py := startProc(t, ".", python, "testdata/wamp/bridge_peer.py", ws, "realm1", "msgpack", "com.example.py")
	py.jsonLine(t, "ready")
	js := startProc(t, jsDir(t), "node", "bridge_peer.mjs", ws, "realm1", "com.example.js")
	js.jsonLine(t, "ready")

	ghBody := `{"zen": "Design for failure."}`
	mac := hmac.New(sha1.New, []byte("ghsecret"))
	mac.Write([]byte(ghBody))
	ghSig := "sha1=" + hex.EncodeToString(mac.Sum(nil))
	signed := map[string]any{"key": "foobar", "secret": "secret"}
	with := func(m map[string]any, k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range m {
			c[a] = b
		}
		c[k] = v
		return c
	}

	long := `{"procedure": "com.example.py.echo", "args": ["` + string(bytes.Repeat([]byte("a"), 300)) + `"]}`
	cases := []bridgeCase{
		{name: "publish", req: bridgeReq{Path: "/pub", Body: `{"topic": "com.example.py.topic.a", "args": [1, "two"], "kwargs": {"k": "v"}}`},
			status: 200, bodyRE: `^\{"id":\d+\}$`},
		{name: "publish to the JavaScript subscriber", req: bridgeReq{Path: "/pub", Body: `{"topic": "com.example.js.topic", "args": ["to js"]}`},
			status: 200, bodyRE: `^\{"id":\d+\}$`},
		{name: "publish without topic", req: bridgeReq{Path: "/pub", Body: `{"args": []}`},
			status: 400, body: deny("Request body was valid JSON, but not well formed (missing key 'topic').")},
		{name: "publish to an invalid URI", req: bridgeReq{Path: "/pub", Body: `{"topic": "com..bad"}`},
			status: 200, bodyRE: `^\{"error": "wamp.error.invalid_uri", "args": \[".*"\], "kwargs": \{\}\}$`},
		{name: "call Python", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.add2", "args": [2, 3]}`},
			status: 200, body: `{"args":[5]}`},
		{name: "call JavaScript", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.js.add2", "args": [3, 4]}`},
			status: 200, body: `{"args":[7]}`},
		{name: "call with kwargs", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.echo", "args": [1, "é"], "kwargs": {"x": 1.5, "y": null}}`},
			status: 200, body: `{"args":[1,"é"],"kwargs":{"x":1.5,"y":null}}`},
		{name: "call only kwargs", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.echo", "kwargs": {"a": [true]}}`},
			status: 200, body: `{"kwargs":{"a":[true]}}`},
		{name: "call returning nothing", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.nothing"}`},
			status: 200, body: `{"args":[null]}`},
		{name: "Python callee error", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.fail", "args": ["nope", "ü"], "kwargs": {"code": 7}}`},
			status: 200, body: `{"error": "com.example.error.failed", "args": ["nope", "\u00fc"], "kwargs": {"code": 7}}`},
		{name: "JavaScript callee error", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.js.fail", "args": ["x"]}`},
			status: 200, body: `{"error": "com.example.error.js_failed", "args": ["x"], "kwargs": {}}`},
		{name: "callee exception", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.py.crash"}`},
			status: 200, body: `{"error": "wamp.error.runtime_error", "args": ["boom"], "kwargs": {}}`},
		{name: "unknown procedure", req: bridgeReq{Path: "/call", Body: `{"procedure": "com.example.nope"}`},
			status: 200, bodyRE: `^\{"error": "wamp.error.no_such_procedure", "args": \[".*com\.example\.nope.*"\], "kwargs": \{\}\}$`},
		{name: "role not allowed", req: bridgeReq{Path: "/limited", Body: `{"procedure": "com.example.py.echo"}`},
			status: 200, bodyRE: `^\{"error": "wamp.error.not_authorized", "args": \[".*"\], "kwargs": \{\}\}$`},
		{name: "role allowed", req: bridgeReq{Path: "/limited", Body: `{"procedure": "com.example.py.add2", "args": [1, 1]}`},
			status: 200, body: `{"args":[2]}`},
		{name: "call without procedure", req: bridgeReq{Path: "/call", Body: `{}`},
			status: 400, body: deny("Request body was valid JSON, but not well formed (missing key 'procedure').")},
		{name: "non-JSON body", req: bridgeReq{Path: "/call", Body: `procedure=x`},
			status: 400, body: deny("Request body was invalid JSON.")},
		{name: "JSON not an object", req: bridgeReq{Path: "/call", Body: `[1, 2]`},
			status: 400, body: deny("Request body was valid JSON, but not well formed (must be a dict).")},
		{name: "not UTF-8", req: bridgeReq{Path: "/call", BodyBytes: "7b22ff227d"},
			status: 400, body: deny("Non-decodable request body, was not UTF-8.")},
		{name: "body over post_body_limit", req: bridgeReq{Path: "/call", Body: long},
			status: 413, body: deny(fmt.Sprintf("Request too long. (%d is longer than accepted 200)", len(long)))},
		{name: "other content type", req: bridgeReq{Path: "/call", Body: `{}`, Headers: map[string]any{"Content-Type": "text/plain"}},
			status: 400, body: deny("Non-accepted content type. (must be one of '[b'application/json']', not 'b'text/plain'')")},
		{name: "other charset", req: bridgeReq{Path: "/call", Body: `{}`, Headers: map[string]any{"Content-Type": "application/json; charset=latin-1"}},
			status: 400, body: deny("Non-accepted request encoding, must be UTF-8.")},
		{name: "GET", req: bridgeReq{Path: "/call", Method: "GET", Headers: map[string]any{"Content-Type": nil}},
			status: 405, body: deny("Method not accepted by the REST bridge. (b'GET' not allowed, only POST, PUT)")},
		{name: "OPTIONS", req: bridgeReq{Path: "/call", Method: "OPTIONS"}, status: 200, body: ""},
		{name: "PUT", req: bridgeReq{Path: "/call", Method: "PUT", Body: `{"procedure": "com.example.py.add2", "args": [20, 22]}`},
			status: 200, body: `{"args":[42]}`},

		{name: "signed publish", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed", "args": ["signed"]}`, Sign: with(signed, "nonce", 12345)},
			status: 200, bodyRE: `^\{"id":\d+\}$`},
		{name: "replayed", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed", "args": ["signed"]}`, Replay: true},
			status: 401, body: deny("REST bridge request replayed (nonce already used within the timestamp window).")},
		{name: "unsigned to a signed service", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed"}`},
			status: 400, body: deny("REST bridge signature was invalid (missing mandatory field - 'key' field missing).")},
		{name: "bad signature", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed"}`, Sign: with(signed, "secret", "guess")},
			status: 401, body: deny("REST bridge signature secret not valid.")},
		{name: "unknown key", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed"}`, Sign: with(signed, "key", "other")},
			status: 401, body: deny("REST bridge signature key not valid.")},
		{name: "old timestamp", req: bridgeReq{Path: "/pub-signed", Body: `{"topic": "com.example.py.topic.signed"}`, Sign: with(signed, "timestamp", "2011-10-14T16:59:51.123Z")},
			status: 400, body: deny("Request expired, too old timestamp.")},
		{name: "malformed timestamp", req: bridgeReq{Path: "/pub-signed", Body: `{}`, Sign: with(signed, "timestamp", "yesterday")},
			status: 400, body: deny("REST bridge signature was invalid (invalid timestamp 'yesterday' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).")},
		{name: "malformed nonce", req: bridgeReq{Path: "/pub-signed", Body: `{}`, Sign: with(signed, "nonce", "abc")},
			status: 400, body: deny("REST bridge signature was invalid (invalid nonce 'abc' (must be an integer)).")},
		{name: "signed call", req: bridgeReq{Path: "/call-signed", Body: `{"procedure": "com.example.js.add2", "args": [1, 2]}`, Sign: signed},
			status: 200, body: `{"args":[3]}`},

		{name: "require_ip", req: bridgeReq{Path: "/call-lan", Body: `{"procedure": "com.example.py.add2", "args": [1, 2]}`},
			status: 400, body: deny("Request denied based on IP address.")},
		{name: "require_tls", req: bridgeReq{Path: "/call-tls", Body: `{"procedure": "com.example.py.add2", "args": [1, 2]}`},
			status: 400, body: deny("Malformed request to the REST bridge.")},

		{name: "webhook", req: bridgeReq{Path: "/hook", Body: "any text, not JSON", Headers: map[string]any{"Content-Type": "text/plain", "X-Custom": "1"}},
			status: 202, body: "OK"},
		{name: "GitHub webhook", req: bridgeReq{Path: "/hook-gh", Body: ghBody, Headers: map[string]any{"X-Hub-Signature": ghSig}},
			status: 202, body: "thanks"},
		{name: "GitHub webhook unsigned", req: bridgeReq{Path: "/hook-gh", Body: ghBody},
			status: 400, body: deny("Malformed request to the REST bridge.")},
		{name: "GitHub webhook forged", req: bridgeReq{Path: "/hook-gh", Body: ghBody + " ", Headers: map[string]any{"X-Hub-Signature": ghSig}},
			status: 400, body: deny("Malformed request to the REST bridge.")},
	}
	got := runBridgeCases(t, n, cases)
	if h := got[23].Headers; h["allow"] != "POST,PUT,OPTIONS" || h["access-control-allow-methods"] != "POST,PUT,OPTIONS" {
		t.Errorf("OPTIONS headers: %v", h)
	}

	// What the subscribers saw, in order: the Python peer subscribes to com.example.py.topic
	// (prefix), the JavaScript one to com.example.js.topic.
	eventOf(t, py, map[string]any{"topic": "com.example.py.topic.a", "args": []any{1, "two"}, "kwargs": map[string]any{"k": "v"}})
	eventOf(t, js, map[string]any{"topic": "com.example.js.topic", "args": []any{"to js"}, "kwargs": map[string]any{}})
	eventOf(t, py, map[string]any{"topic": "com.example.py.topic.signed", "args": []any{"signed"}, "kwargs": map[string]any{}})
	hook := py.jsonLine(t, "event").(map[string]any)
	if at(hook, "topic") != "com.example.py.topic.hook" || at(hook, "args") == nil {
		t.Fatalf("webhook event %v", hook)
	}
	msg := hook["args"].([]any)[0]
	if at(msg, "body") != "any text, not JSON" || !reflect.DeepEqual(at(msg, "headers", "X-Custom"), []any{"1"}) ||
		!reflect.DeepEqual(at(msg, "headers", "Content-Type"), []any{"text/plain"}) {
		t.Errorf("webhook message %v", msg)
	}
	gh := py.jsonLine(t, "event").(map[string]any)
	if at(gh, "topic") != "com.example.py.topic.gh" || at(gh["args"].([]any)[0], "body") != ghBody {
		t.Errorf("GitHub webhook event %v", gh)
	}
}

// TestHTTPBridgeReload: a call through the bridge that is waiting for its callee when a
// SIGHUP rebuilds the path table is still answered (the old service is retired once its
// requests are done), and the rebuilt services serve.
func TestHTTPBridgeReload(t *testing.T) {
	t.Parallel()
	n := bridgeNode(t)
	py := startProc(t, ".", python, "testdata/wamp/bridge_peer.py", wsURL(n), "realm1", "json", "com.example.py")
	py.jsonLine(t, "ready")

	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(n.base+"/call", "application/json", strings.NewReader(`{"procedure": "com.example.py.wait"}`))
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, string(b), err}
	}()
	py.jsonLine(t, "waiting")

	cfgPath := filepath.Join(n.cmd.Dir, ".crossbar", "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `"ws": {`, `"info": {"type": "json", "value": {"reloaded": true}}, "ws": {`, 1)
	if err := os.WriteFile(cfgPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the reloaded config is served", func() bool {
		status, body := get(t, n.base+"/info")
		return status == 200 && strings.Contains(body, "reloaded")
	})
	select {
	case a := <-done:
		t.Fatalf("the call in flight was answered before its callee: %d %s %v", a.status, a.body, a.err)
	default:
	}
	// The rebuilt publisher releases the callee; the old caller answers.
	got := bridgeHTTP(t, n, []bridgeReq{{Path: "/pub", Body: `{"topic": "com.example.py.topic.release"}`}})
	if got[0].Status != 200 {
		t.Fatalf("publish after the reload: %d %s", got[0].Status, got[0].Body)
	}
	select {
	case a := <-done:
		if a.err != nil || a.status != 200 || a.body != `{"args":["released"]}` {
			t.Fatalf("the call across the reload: %d %q %v", a.status, a.body, a.err)
		}
	case <-time.After(testkit.Patience):
		t.Fatal("the call across the reload was never answered")
	}
}

// TestHTTPBridgeComponents: Crossbar's RESTCallee and MessageForwarder router components, run
// in Go, against a Python http.server: a WAMP call (made through the caller service) becomes
// an HTTP request whose answer is the call's result, and a WAMP event (published through the
// publisher service) is POSTed as {"args", "kwargs"}.
func TestHTTPBridgeComponents(t *testing.T) {
	t.Parallel()
	sink := startProc(t, ".", python, "testdata/wamp/http_sink.py")
	port := int(sink.jsonLine(t, "port").(float64))
	web := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{
  "version": 2,
  "workers": [{
    "type": "router",
    "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
      "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %[1]d},
      "paths": {
        "ws": {"type": "websocket"},
        "pub": {"type": "publisher", "realm": "realm1", "role": "anonymous"},
        "call": {"type": "caller", "realm": "realm1", "role": "anonymous"}
      }
    }],
    "components": [
      {"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1",
       "extra": {"procedure": "com.example.rest", "baseurl": "http://127.0.0.1:%[2]d/api/"}},
      {"type": "class", "classname": "crossbar.bridge.rest.MessageForwarder", "realm": "realm1",
       "extra": {"subscriptions": [{"topic": "com.example.fwd", "url": "http://127.0.0.1:%[2]d/hook"},
                                   {"topic": "com.example.many", "match": "prefix", "url": "http://127.0.0.1:%[2]d/many"}],
                 "expectedcode": 200}}
    ]
  }, {
    "type": "container",
    "components": [
      {"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1",
       "extra": {"procedure": "com.example.rest2", "baseurl": "http://127.0.0.1:%[2]d/c/"},
       "transport": {"type": "websocket", "url": "ws://127.0.0.1:%[1]d/ws",
                     "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": %[1]d}}}
    ]
  }]
}`, web, port)
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)

	got := bridgeHTTP(t, n, []bridgeReq{
		{Path: "/call", Body: `{"procedure": "com.example.rest", "args": ["PUT", "items/7"], "kwargs": {"body": "é", "headers": {"X-Test": ["a"]}, "params": {"q": "1 2"}}}`},
		{Path: "/call", Body: `{"procedure": "com.example.rest", "kwargs": {"method": "GET", "url": "/status/418"}}`},
		{Path: "/call", Body: `{"procedure": "com.example.rest", "kwargs": {"method": "GET", "url": "x", "bogus": 1}}`},
		{Path: "/pub", Body: `{"topic": "com.example.fwd", "args": [1, "é"], "kwargs": {"b": 2, "a": [null]}}`},
		{Path: "/pub", Body: `{"topic": "com.example.many.deep"}`},
	})
	// The container component joins over WebSocket once the node listens: poll until its
	// procedure is registered.
	var viaWS bridgeResp
	testkit.WaitFor(t, 0, "the container's RESTCallee answers", func() bool {
		viaWS = bridgeHTTP(t, n, []bridgeReq{{Path: "/call", Body: `{"procedure": "com.example.rest2", "args": ["GET", "x"]}`}})[0]
		return !strings.Contains(viaWS.Body, "no_such_procedure")
	})
	if viaWS.Status != 200 || !strings.HasPrefix(viaWS.Body, `{"args":[{"code":200,"content":"{\"ok\": true, \"path\": \"/c/x\"}"`) {
		t.Errorf("container RESTCallee: %d %s", viaWS.Status, viaWS.Body)
	}
	var res struct {
		Args []struct {
			Code    int                 `json:"code"`
			Content string              `json:"content"`
			Headers map[string][]string `json:"headers"`
		} `json:"args"`
	}
	if got[0].Status != 200 || json.Unmarshal([]byte(got[0].Body), &res) != nil || len(res.Args) != 1 {
		t.Fatalf("RESTCallee call: %d %s", got[0].Status, got[0].Body)
	}
	if r := res.Args[0]; r.Code != 200 || r.Content != `{"ok": true, "path": "/api/items/7"}` || !reflect.DeepEqual(r.Headers["X-Sink"], []string{"yes"}) {
		t.Errorf("RESTCallee result %+v", r)
	}
	req := sink.jsonLine(t, "request").(map[string]any)
	if req["method"] != "PUT" || req["path"] != "/api/items/7" || req["query"] != "q=1+2" || req["body"] != "é" || at(req, "headers", "X-Test") != "a" {
		t.Errorf("the HTTP request of the call: %v", req)
	}
	if got[1].Status != 200 || !strings.HasPrefix(got[1].Body, `{"args":[{"code":418,`) {
		t.Errorf("RESTCallee call answered 418: %d %s", got[1].Status, got[1].Body)
	}
	sink.jsonLine(t, "request")
	if got[2].Status != 200 || !strings.HasPrefix(got[2].Body, `{"error": "wamp.error.invalid_argument", "args": ["on_call() got an unexpected keyword argument 'bogus'"]`) {
		t.Errorf("RESTCallee call with a bad argument: %d %s", got[2].Status, got[2].Body)
	}
	for i := 3; i < 5; i++ {
		if got[i].Status != 200 {
			t.Errorf("publish %d: %d %s", i, got[i].Status, got[i].Body)
		}
	}
	// The forwarded events, in order, among the container's calls to /c/x.
	var fwds []map[string]any
	for len(fwds) < 2 {
		r := sink.jsonLine(t, "request").(map[string]any)
		if r["path"] != "/c/x" {
			fwds = append(fwds, r)
		}
	}
	if fwd := fwds[0]; fwd["method"] != "POST" || fwd["path"] != "/hook" || fwd["body"] != `{"args":[1,"é"],"kwargs":{"a":[null],"b":2}}` ||
		at(fwd, "headers", "Content-Type") != "application/json" {
		t.Errorf("the forwarded event: %v", fwd)
	}
	if fwd := fwds[1]; fwd["path"] != "/many" || fwd["body"] != `{"args":[],"kwargs":{}}` {
		t.Errorf("the forwarded prefix event: %v", fwd)
	}
}
