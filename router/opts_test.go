package router

import (
	"math"
	"testing"

	"portico/config"
	"portico/router/wamp"
)

func TestToID(t *testing.T) {
	tests := []struct {
		in   any
		want wamp.ID
		ok   bool
	}{
		{int64(1), 1, true},
		{uint64(1 << 53), 1 << 53, true},
		{float64(42), 42, true},
		{int(7), 7, true},
		{int64(0), 0, false},
		{int64(-1), 0, false},
		{uint64(1<<53 + 1), 0, false},
		{uint64(math.MaxUint64), 0, false},
		{1.5, 0, false},
		{math.Inf(1), 0, false},
		{"1", 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := toID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("toID(%v %T) = %d, %v; want %d, %v", tt.in, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOptLists(t *testing.T) {
	d := wamp.Dict{"ids": []any{int64(1), uint64(2), 3.0}, "bad": []any{"x"}, "notlist": "x", "strs": []any{"a", "b"}}
	if ids, present, ok := optIDs(d, "ids"); !present || !ok || len(ids) != 3 || ids[2] != 3 {
		t.Errorf("optIDs(ids) = %v %v %v", ids, present, ok)
	}
	for _, k := range []string{"bad", "notlist"} {
		if _, present, ok := optIDs(d, k); !present || ok {
			t.Errorf("optIDs(%s) accepted", k)
		}
		if _, present, ok := optStrings(d, k); k == "notlist" && (!present || ok) {
			t.Errorf("optStrings(%s) accepted", k)
		}
	}
	if _, present, ok := optIDs(d, "absent"); present || !ok {
		t.Error("optIDs(absent) should be absent and fine")
	}
	if ss, _, ok := optStrings(d, "strs"); !ok || len(ss) != 2 {
		t.Errorf("optStrings(strs) = %v", ss)
	}
	if _, _, ok := optStrings(d, "ids"); ok {
		t.Error("optStrings accepted numbers")
	}
}

func TestMetaArgumentErrors(t *testing.T) {
	tests := []struct {
		proc string
		args wamp.List
		kw   wamp.Dict
		want wamp.URI
	}{
		{"wamp.session.count", wamp.List{"notalist"}, nil, errInvalidArgument},
		{"wamp.session.list", wamp.List{[]any{int64(1)}}, nil, errInvalidArgument},
		{"wamp.session.get", nil, nil, errInvalidArgument},
		{"wamp.session.get", wamp.List{"x"}, nil, errInvalidArgument},
		{"wamp.session.kill", wamp.List{int64(99)}, nil, errNoSuchSession},
		{"wamp.session.kill_by_authid", nil, nil, errInvalidArgument},
		{"wamp.session.kill_by_authrole", wamp.List{"anonymous"}, wamp.Dict{"reason": "not a uri"}, errInvalidURI},
		{"wamp.session.add_testament", wamp.List{"t.x", "notalist"}, nil, errInvalidArgument},
		{"wamp.session.add_testament", wamp.List{"t.x", nil, "notadict"}, nil, errInvalidArgument},
		{"wamp.session.add_testament", wamp.List{"t.x"}, wamp.Dict{"scope": "forever"}, errInvalidArgument},
		{"wamp.session.flush_testaments", nil, wamp.Dict{"scope": int64(1)}, errInvalidArgument},
		{"wamp.registration.lookup", nil, nil, errInvalidArgument},
		{"wamp.registration.lookup", wamp.List{"a.b", "notadict"}, nil, errInvalidArgument},
		{"wamp.registration.lookup", wamp.List{"a.b", map[string]any{"match": "fuzzy"}}, nil, errInvalidArgument},
		{"wamp.registration.match", nil, nil, errInvalidArgument},
		{"wamp.registration.get", wamp.List{int64(0)}, nil, errInvalidArgument},
		{"wamp.registration.list_callees", wamp.List{int64(5)}, nil, errNoSuchRegistration},
		{"wamp.subscription.lookup", wamp.List{int64(5)}, nil, errInvalidArgument},
		{"wamp.subscription.match", nil, nil, errInvalidArgument},
		{"wamp.subscription.count_subscribers", wamp.List{int64(5)}, nil, errNoSuchSubscription},
		{"wamp.subscription.get", nil, nil, errInvalidArgument},
	}
	r := newTestRouter(t, Options{Realms: []config.Realm{everythingRealm("realm1")}})
	cl := join(t, r, wamp.JSON, "realm1")
	for _, tt := range tests {
		cl.send(&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(tt.proc), Arguments: tt.args, ArgumentsKw: tt.kw})
		e := expect[*wamp.Error](cl)
		if e.Error != tt.want {
			t.Errorf("%s(%v, %v): %s %v, want %s", tt.proc, tt.args, tt.kw, e.Error, e.Arguments, tt.want)
		}
	}
}
