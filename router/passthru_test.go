package router

import (
	"bytes"
	"testing"

	"portico/router/wamp"
)

// TestPayloadPassthru: an opaque payload and its ppt_* keys (spec, "Payload Passthru Mode")
// reach the receiver of every message that carries one: EVENT (live and retained),
// INVOCATION, RESULT (progressive and final), ERROR; across serializers too.
func TestPayloadPassthru(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		a := join(t, r, c, "realm1")
		b := join(t, r, wamp.JSON, "realm1") // the other side speaks JSON on purpose
		payload := []byte("\x00\x01opaque\xff")
		ppt := wamp.Dict{"ppt_scheme": "x_custom", "ppt_serializer": "cbor", "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "key-1"}
		check := func(what string, d wamp.Dict, p []byte) {
			t.Helper()
			for k, v := range ppt {
				if d[k] != v {
					t.Errorf("%s: details[%q] = %v, want %v (details %v)", what, k, d[k], v, d)
				}
			}
			if !bytes.Equal(p, payload) {
				t.Errorf("%s: payload %q, want %q", what, p, payload)
			}
		}
		with := func(extra wamp.Dict) wamp.Dict {
			d := wamp.Dict{}
			for k, v := range ppt {
				d[k] = v
			}
			for k, v := range extra {
				d[k] = v
			}
			return d
		}

		exact := b.subscribe("com.ppt.topic", nil)
		prefix := b.subscribe("com.ppt.", wamp.Dict{"match": "prefix"})
		a.send(&wamp.Publish{Request: a.nextReq(), Options: with(wamp.Dict{"retain": true, "disclose_me": true}), Topic: "com.ppt.topic", Payload: payload})
		for range 2 {
			ev := expect[*wamp.Event](b)
			if ev.Subscription != exact && ev.Subscription != prefix {
				t.Fatalf("EVENT %+v", ev)
			}
			check("EVENT", ev.Details, ev.Payload)
			if ev.Subscription == prefix && ev.Details["topic"] != "com.ppt.topic" {
				t.Errorf("EVENT of the prefix subscription lacks its topic: %v", ev.Details)
			}
		}
		late := join(t, r, c, "realm1")
		req := late.nextReq()
		late.send(&wamp.Subscribe{Request: req, Options: wamp.Dict{"get_retained": true}, Topic: "com.ppt.topic"})
		expect[*wamp.Subscribed](late)
		ev := expect[*wamp.Event](late)
		check("retained EVENT", ev.Details, ev.Payload)

		a.register("com.ppt.proc", nil)
		b.send(&wamp.Call{Request: 7, Options: with(wamp.Dict{"receive_progress": true}), Procedure: "com.ppt.proc", Payload: payload})
		inv := expect[*wamp.Invocation](a)
		check("INVOCATION", inv.Details, inv.Payload)
		a.send(&wamp.Yield{Request: inv.Request, Options: with(wamp.Dict{"progress": true}), Payload: payload})
		res := expect[*wamp.Result](b)
		check("progressive RESULT", res.Details, res.Payload)
		if res.Details["progress"] != true {
			t.Errorf("progressive RESULT details %v", res.Details)
		}
		a.send(&wamp.Yield{Request: inv.Request, Options: ppt, Payload: payload})
		res = expect[*wamp.Result](b)
		check("RESULT", res.Details, res.Payload)

		b.send(&wamp.Call{Request: 8, Options: ppt, Procedure: "com.ppt.proc", Payload: payload})
		inv = expect[*wamp.Invocation](a)
		a.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: ppt, Error: "com.ppt.failed", Payload: payload})
		e := b.expectError(wamp.CALL, "com.ppt.failed")
		check("ERROR", e.Details, e.Payload)

		// Autobahn|Python before 23.1 names the keys enc_*.
		b.send(&wamp.Call{Request: 9, Options: wamp.Dict{"enc_algo": "mqtt", "enc_serializer": "json"}, Procedure: "com.ppt.proc", Payload: payload})
		inv = expect[*wamp.Invocation](a)
		if inv.Details["enc_algo"] != "mqtt" || inv.Details["enc_serializer"] != "json" || !bytes.Equal(inv.Payload, payload) {
			t.Errorf("INVOCATION with enc_* keys: %+v", inv)
		}
	})
}

// TestPassthruAnnounced: WELCOME announces payload_passthru_mode for broker and dealer, which
// clients such as wampy check before they send a passthru payload.
func TestPassthruAnnounced(t *testing.T) {
	r := newTestRouter(t, Options{})
	cl := connect(t, r, wamp.JSON)
	cl.send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}})
	w := expect[*wamp.Welcome](cl)
	roles := w.Details["roles"].(map[string]any)
	for _, role := range []string{"broker", "dealer"} {
		f := roles[role].(map[string]any)["features"].(map[string]any)
		if f["payload_passthru_mode"] != true {
			t.Errorf("%s features %v lack payload_passthru_mode", role, f)
		}
	}
}
