package router

import (
	"testing"

	"portico/router/wamp"
)

// TestRetainRemote: a retained event from the cluster is kept as the topic's retained event,
// not delivered, with its publication ID, disclosed publisher and eligibility; one with a
// bad option is dropped, and a realm the router does not have is skipped.
func TestRetainRemote(t *testing.T) {
	r := newTestRouter(t, Options{})
	r.RetainRemote("nosuchrealm", &wamp.Publish{Request: 1, Options: wamp.Dict{"retain": true}, Topic: "ret.x"})
	sub := join(t, r, wamp.JSON, "realm1")
	sub.subscribe("ret.live", wamp.Dict{})
	remote := func(id wamp.ID, topic wamp.URI, opts wamp.Dict, arg string) {
		opts["retain"] = true
		r.RetainRemote("realm1", &wamp.Publish{Request: id, Options: opts, Topic: topic, Arguments: wamp.List{arg}})
	}
	remote(70, "ret.live", wamp.Dict{}, "old")
	remote(77, "ret.live", wamp.Dict{"disclose_me": true, ClusterPublisher: wamp.List{uint64(5), "alice", "user"}}, "new")
	remote(78, "ret.role", wamp.Dict{"eligible_authrole": wamp.List{"nobody"}}, "not for anonymous")
	remote(79, "ret.bad", wamp.Dict{"exclude": "not a list"}, "bad")

	other := join(t, r, wamp.JSON, "realm1")
	other.subscribe("ret.", wamp.Dict{"match": "prefix", "get_retained": true})
	req := other.nextReq()
	other.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	var got []*wamp.Event
	for done := false; !done; {
		switch m := other.recv().(type) {
		case *wamp.Event:
			got = append(got, m)
		case *wamp.Result:
			done = true
		default:
			t.Fatalf("got %s", describe(m))
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d retained events %+v, want the newest of ret.live only", len(got), got)
	}
	ev := got[0]
	if ev.Publication != 77 || ev.Arguments[0] != "new" || ev.Details["retained"] != true || ev.Details["topic"] != "ret.live" {
		t.Errorf("retained event %+v, want publication 77, [new], retained, topic ret.live", ev)
	}
	if ev.Details["publisher"] != uint64(5) && ev.Details["publisher"] != float64(5) && ev.Details["publisher"] != int64(5) {
		t.Errorf("publisher %v (%T), want 5", ev.Details["publisher"], ev.Details["publisher"])
	}
	if ev.Details["publisher_authid"] != "alice" || ev.Details["publisher_authrole"] != "user" {
		t.Errorf("publisher identity %v", ev.Details)
	}
	// Not delivered: the live subscriber got nothing.
	sub.send(&wamp.Call{Request: sub.nextReq(), Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	if m := sub.recv(); m.Type() != wamp.RESULT {
		t.Errorf("the live subscriber got %s, want only the RESULT", describe(m))
	}
}
