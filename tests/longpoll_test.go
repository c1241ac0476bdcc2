package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// longPollNode starts a router with a websocket path at /ws and longpoll paths: /lp with
// Crossbar's defaults, /lp1 answering an empty receive after 1 s and expiring transports idle
// for 1 s, /lpq queuing at most 3 messages for its client (and answering an empty receive
// after 1 s).
func longPollNode(t *testing.T) *node {
	t.Helper()
	return startConfig(t, map[string]any{
		"version": 2,
		"workers": []any{map[string]any{
			"type": "router",
			"realms": []any{map[string]any{"name": "realm1", "roles": []any{map[string]any{
				"name": "anonymous",
				"permissions": []any{map[string]any{"uri": "", "match": "prefix",
					"allow": map[string]any{"call": true, "register": true, "publish": true, "subscribe": true}}},
			}}}},
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": freePort(t)},
				"paths": map[string]any{
					"/":   map[string]any{"type": "json", "value": "ok"},
					"ws":  map[string]any{"type": "websocket"},
					"lp":  map[string]any{"type": "longpoll"},
					"lp1": map[string]any{"type": "longpoll", "options": map[string]any{"request_timeout": 1, "session_timeout": 1}},
					"lpq": map[string]any{"type": "longpoll", "options": map[string]any{"queue_limit_messages": 3, "request_timeout": 1}},
				},
			}},
		}},
	})
}

// TestLongPollAutobahnJS: AutobahnJS's long-poll transport (the one browsers fall back to)
// and AutobahnJS over WebSocket call each other's procedures and exchange events through
// Portico; twenty events published back to back reach the long-poll session in order; the
// long-poll session leaves cleanly.
func TestLongPollAutobahnJS(t *testing.T) {
	t.Parallel()
	dir := jsDir(t)
	n := longPollNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "longpoll.mjs", n.base+"/lp", wsURL(n), "realm1")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node longpoll.mjs: %v\n%s\n%s\nportico:\n%s", err, stdout.String(), stderr.String(), n.logs.String())
	}
	res := lastJSON(t, stdout.String(), stderr.String())
	expect(t, res, "longpoll", "lp_transport")
	expect(t, res, "wamp.2.json", "lp_protocol")
	expect(t, res, 5, "add2_called_over_websocket")
	expect(t, res, 42, "mul_called_over_longpoll")
	want := make([]int, 20)
	for i := range want {
		want[i] = i
	}
	expect(t, res, want, "longpoll_got")
	expect(t, res, map[string]any{"args": []any{"hello websocket"}, "kwargs": map[string]any{"from": "longpoll"}}, "websocket_got")
	expect(t, res, "closed", "longpoll_close")
}

type lpAnswer struct {
	status int
	ctype  string
	body   string
}

func lpDo(t *testing.T, method, url, body string) lpAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return lpAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func lpPost(t *testing.T, url, body string) lpAnswer { t.Helper(); return lpDo(t, "POST", url, body) }

// lpOpen opens a transport speaking protocol and joins realm1 over it; it returns the
// transport's URL.
func lpOpen(t *testing.T, base, protocol string) string {
	t.Helper()
	a := lpPost(t, base+"/open", `{"protocols": ["wamp.2.xml", "`+protocol+`"]}`)
	if a.status != 200 || !strings.HasPrefix(a.ctype, "application/json") {
		t.Fatalf("open: %+v", a)
	}
	var o struct{ Transport, Protocol string }
	if err := json.Unmarshal([]byte(a.body), &o); err != nil || o.Transport == "" || o.Protocol != protocol {
		t.Fatalf("open: %q (%v)", a.body, err)
	}
	return base + "/" + o.Transport
}

// TestLongPollProtocol: the long-poll requests as Crossbar answers them, with a plain HTTP
// client: the open negotiation and its refusals, sending and receiving (plain and batched),
// an empty receive at request_timeout, unknown transports and operations, close, session
// expiry at session_timeout and the queue limit.
func TestLongPollProtocol(t *testing.T) {
	t.Parallel()
	n := longPollNode(t)
	lp := n.base + "/lp"
	const hello = `[1,"realm1",{"roles":{"subscriber":{},"publisher":{}}}]`

	t.Run("notice and methods", func(t *testing.T) {
		if a := lpDo(t, "GET", lp, ""); a.status != 200 || !strings.Contains(a.body, "WAMP-over-Longpoll") {
			t.Errorf("GET: %+v", a)
		}
		if a := lpDo(t, "GET", lp+"/open", ""); a.status != 405 {
			t.Errorf("GET open: %+v", a)
		}
	})
	t.Run("open refused", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"protocols": [`:              "could not parse WAMP session open request body",
			`["wamp.2.json"]`:              "invalid type for WAMP session open request",
			`{}`:                           "missing attribute 'protocols' in WAMP session open request",
			`{"protocols": "wamp.2.json"}`: "invalid type for attribute 'protocols'",
			`{"protocols": ["wamp.2.xml"]}`: "no common protocol to speak (I speak: wamp.2.json, wamp.2.msgpack, " +
				"wamp.2.cbor, wamp.2.ubjson, wamp.2.json.batched",
		} {
			if a := lpPost(t, lp+"/open", body); a.status != 400 || !strings.Contains(a.body, want) {
				t.Errorf("open %s: %+v, want 400 with %q", body, a, want)
			}
		}
	})
	t.Run("unknown transport or operation", func(t *testing.T) {
		if a := lpPost(t, lp+"/nosuch/send", hello); a.status != 404 || !strings.Contains(a.body, "no WAMP transport 'nosuch'") {
			t.Errorf("send to unknown transport: %+v", a)
		}
		tr := lpOpen(t, lp, "wamp.2.json")
		defer lpPost(t, tr+"/close", "")
		for _, path := range []string{"/poll", "/send/more"} {
			if a := lpPost(t, tr+path, ""); a.status != 404 {
				t.Errorf("POST %s: %+v", path, a)
			}
		}
		if a := lpDo(t, "GET", tr+"/receive", ""); a.status != 405 {
			t.Errorf("GET receive: %+v", a)
		}
	})
	t.Run("session", func(t *testing.T) {
		tr := lpOpen(t, lp, "wamp.2.json")
		if a := lpPost(t, tr+"/send", `[1, "realm1"`); a.status != 400 || !strings.Contains(a.body, "could not unserialize WAMP message.") {
			t.Errorf("send bad JSON: %+v", a)
		}
		if a := lpPost(t, tr+"/send", hello); a.status != 204 {
			t.Fatalf("send HELLO: %+v", a)
		}
		a := lpPost(t, tr+"/receive", "")
		if a.status != 200 || a.ctype != "application/json" || !strings.HasPrefix(a.body, "[2,") {
			t.Fatalf("receive WELCOME: %+v", a)
		}
		if a := lpDo(t, "GET", tr, ""); a.status != 200 || !strings.Contains(a.body, `"protocol":"wamp.2.json"`) {
			t.Errorf("GET transport: %+v", a)
		}
		// A call to nothing: the ERROR comes back through the next receive.
		if a := lpPost(t, tr+"/send", `[48, 7, {}, "com.example.nothing"]`); a.status != 204 {
			t.Fatalf("send CALL: %+v", a)
		}
		if a := lpPost(t, tr+"/receive", ""); a.status != 200 || !strings.Contains(a.body, "wamp.error.no_such_procedure") {
			t.Errorf("receive ERROR: %+v", a)
		}
		if a := lpPost(t, tr+"/close", ""); a.status != 204 {
			t.Errorf("close: %+v", a)
		}
		if a := lpPost(t, tr+"/send", `[6, {}, "wamp.close.close_realm"]`); a.status != 404 {
			t.Errorf("send after close: %+v", a)
		}
	})
	t.Run("batched", func(t *testing.T) {
		tr := lpOpen(t, lp, "wamp.2.json.batched")
		defer lpPost(t, tr+"/close", "")
		if a := lpPost(t, tr+"/send", hello+"\x1e"+`[32, 1, {}, "com.example.b"]`+"\x1e"); a.status != 204 {
			t.Fatalf("send HELLO+SUBSCRIBE: %+v", a)
		}
		// WELCOME and SUBSCRIBED, one batch or two, each closed by 0x18 (autobahn-python's
		// separator; Portico reads the spec's 0x1e too, as sent above).
		var got string
		for strings.Count(got, "\x18") < 2 {
			a := lpPost(t, tr+"/receive", "")
			if a.status != 200 {
				t.Fatalf("receive: %+v", a)
			}
			got += a.body
		}
		if msgs := strings.Split(strings.TrimSuffix(got, "\x18"), "\x18"); len(msgs) != 2 ||
			!strings.HasPrefix(msgs[0], "[2,") || !strings.HasPrefix(msgs[1], "[33,1,") {
			t.Errorf("received %q", got)
		}
	})
	t.Run("empty receive at request_timeout", func(t *testing.T) {
		tr := lpOpen(t, n.base+"/lp1", "wamp.2.json")
		defer lpPost(t, tr+"/close", "")
		lpPost(t, tr+"/send", hello)
		if a := lpPost(t, tr+"/receive", ""); a.status != 200 {
			t.Fatalf("receive WELCOME: %+v", a)
		}
		if a := lpPost(t, tr+"/receive", ""); a.status != 204 || a.body != "" {
			t.Errorf("receive with nothing to say: %+v", a)
		}
	})
	t.Run("session_timeout", func(t *testing.T) {
		tr := lpOpen(t, n.base+"/lp1", "wamp.2.json")
		lpPost(t, tr+"/send", hello)
		if a := lpPost(t, tr+"/receive", ""); a.status != 200 {
			t.Fatalf("receive WELCOME: %+v", a)
		}
		// No request any more: the transport goes, and with it the session.
		id := tr[strings.LastIndex(tr, "/")+1:]
		testkit.WaitFor(t, 0, "the idle transport expired", func() bool {
			return strings.Contains(n.logs.String(), "long-poll transport expired") &&
				strings.Contains(n.logs.String(), id)
		})
		if a := lpDo(t, "GET", tr, ""); a.status != 404 {
			t.Errorf("GET expired transport: %+v", a)
		}
	})
	t.Run("queue limit", func(t *testing.T) {
		tr := lpOpen(t, n.base+"/lpq", "wamp.2.json")
		lpPost(t, tr+"/send", hello)
		if a := lpPost(t, tr+"/receive", ""); a.status != 200 {
			t.Fatalf("receive WELCOME: %+v", a)
		}
		lpPost(t, tr+"/send", `[32, 1, {}, "com.example.q"]`)
		if a := lpPost(t, tr+"/receive", ""); a.status != 200 || !strings.HasPrefix(a.body, "[33,1,") {
			t.Fatalf("receive SUBSCRIBED: %+v", a)
		}
		// Its own events (exclude_me false), never received: the fourth passes the limit.
		for i := range 5 {
			if a := lpPost(t, tr+"/send", `[16, `+string(rune('2'+i))+`, {"exclude_me": false}, "com.example.q"]`); a.status != 204 && a.status != 404 {
				t.Fatalf("send PUBLISH: %+v", a)
			}
		}
		testkit.WaitFor(t, 0, "the transport closed at its queue limit", func() bool {
			return strings.Contains(n.logs.String(), "the client does not receive what is sent to it")
		})
		// What was queued is still delivered; the transport stays a while for its client to
		// take it (empty receives meanwhile), then it is gone.
		events := 0
		for {
			a := lpPost(t, tr+"/receive", "")
			if a.status == 404 {
				break
			}
			if a.status == 204 {
				continue
			}
			if a.status != 200 || !strings.HasPrefix(a.body, "[36,") {
				t.Fatalf("receive: %+v", a)
			}
			events++
		}
		if events != 3 {
			t.Errorf("%d events delivered before the end, want the 3 queued", events)
		}
	})
}
