package router

import (
	"testing"

	"portico/config"
	"portico/router/wamp"
)

// revokingRoles are clientRoles plus registration_revocation and subscription_revocation.
func revokingRoles() wamp.Dict {
	r := clientRoles()
	r["callee"] = wamp.Dict{"features": wamp.Dict{"call_canceling": true, "registration_revocation": true}}
	r["subscriber"] = wamp.Dict{"features": wamp.Dict{"subscription_revocation": true}}
	return r
}

// TestRegisterConcurrency: REGISTER's concurrency (as Crossbar's dealer) bounds one callee's
// invocations in flight; a call over it is refused with crossbar.error.max_concurrency_reached,
// roundrobin and random skip a callee at its bound, and an answered, failed, canceled or
// timed-out call frees its slot.
func TestRegisterConcurrency(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		callee := join(t, r, c, "realm1")
		caller := join(t, r, c, "realm1")
		callee.register("com.conc.one", wamp.Dict{"concurrency": int64(2)})

		caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		caller.send(&wamp.Call{Request: 2, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		inv1 := expect[*wamp.Invocation](callee)
		expect[*wamp.Invocation](callee)
		caller.send(&wamp.Call{Request: 3, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		if e := caller.expectError(wamp.CALL, errMaxConcurrency); e.Request != 3 {
			t.Fatalf("ERROR for %d, want 3", e.Request)
		}
		callee.send(&wamp.Yield{Request: inv1.Request, Options: wamp.Dict{}})
		if res := expect[*wamp.Result](caller); res.Request != 1 {
			t.Fatalf("RESULT %+v", res)
		}
		caller.send(&wamp.Call{Request: 4, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		inv4 := expect[*wamp.Invocation](callee)
		// An ERROR frees the slot as a YIELD does; so does a CANCEL.
		callee.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv4.Request, Details: wamp.Dict{}, Error: "com.conc.failed"})
		caller.expectError(wamp.CALL, "com.conc.failed")
		caller.send(&wamp.Call{Request: 5, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		expect[*wamp.Invocation](callee)
		caller.send(&wamp.Cancel{Request: 5, Options: wamp.Dict{"mode": "skip"}})
		caller.expectError(wamp.CALL, errCanceled)
		caller.send(&wamp.Call{Request: 6, Options: wamp.Dict{}, Procedure: "com.conc.one"})
		expect[*wamp.Invocation](callee)

		// roundrobin: a callee at its bound is skipped; with every one at its bound the call is
		// refused. A callee without concurrency is never full.
		a := join(t, r, c, "realm1")
		b := join(t, r, c, "realm1")
		a.register("com.conc.rr", wamp.Dict{"invoke": "roundrobin", "concurrency": int64(1)})
		b.register("com.conc.rr", wamp.Dict{"invoke": "roundrobin", "concurrency": int64(1)})
		caller.send(&wamp.Call{Request: 10, Options: wamp.Dict{}, Procedure: "com.conc.rr"})
		caller.send(&wamp.Call{Request: 11, Options: wamp.Dict{}, Procedure: "com.conc.rr"})
		ia := expect[*wamp.Invocation](a)
		expect[*wamp.Invocation](b)
		caller.send(&wamp.Call{Request: 12, Options: wamp.Dict{}, Procedure: "com.conc.rr"})
		caller.expectError(wamp.CALL, errMaxConcurrency)
		a.send(&wamp.Yield{Request: ia.Request, Options: wamp.Dict{}})
		expect[*wamp.Result](caller)
		caller.send(&wamp.Call{Request: 13, Options: wamp.Dict{}, Procedure: "com.conc.rr"})
		expect[*wamp.Invocation](a) // b is still busy: a serves it out of turn

		x := join(t, r, c, "realm1")
		y := join(t, r, c, "realm1")
		x.register("com.conc.random", wamp.Dict{"invoke": "random", "concurrency": int64(1)})
		y.register("com.conc.random", wamp.Dict{"invoke": "random"})
		for i := range 5 {
			caller.send(&wamp.Call{Request: wamp.ID(20 + i), Options: wamp.Dict{}, Procedure: "com.conc.random"})
		}
		got := 0
		for got < 5 {
			select {
			case m := <-x.in:
				if _, ok := m.(*wamp.Invocation); !ok {
					t.Fatalf("x got %s", describe(m))
				}
			case m := <-y.in:
				if _, ok := m.(*wamp.Invocation); !ok {
					t.Fatalf("y got %s", describe(m))
				}
			}
			got++
		}
		x.quiet() // at most one went to x
		caller.quiet()
	})
}

// TestForceReregister: REGISTER with force_reregister takes an existing registration of the
// procedure from its callees (Crossbar's semantics): they get UNREGISTERED with request 0 when
// they announced registration_revocation, and calls go to the new callee.
func TestForceReregister(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		old := joinRoles(t, r, c, "realm1", revokingRoles())
		oldID := old.register("com.force.proc", nil)
		caller := join(t, r, c, "realm1")
		// Without force_reregister a second registration is refused, as before.
		nw := join(t, r, c, "realm1")
		nw.send(&wamp.Register{Request: nw.nextReq(), Options: wamp.Dict{}, Procedure: "com.force.proc"})
		nw.expectError(wamp.REGISTER, errProcedureExists)

		newID := nw.register("com.force.proc", wamp.Dict{"force_reregister": true})
		if newID == oldID {
			t.Fatalf("the forced registration kept ID %d", oldID)
		}
		u := expect[*wamp.Unregistered](old)
		if u.Request != 0 || wamp.ID(asInt(t, u.Details["registration"])) != oldID || u.Details["reason"] != "wamp.error.unregistered" {
			t.Fatalf("UNREGISTERED %+v", u)
		}
		caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "com.force.proc"})
		nw.serveOnce()
		expect[*wamp.Result](caller)
		old.quiet()
		// The kicked callee's UNREGISTER for the lost registration finds none.
		old.send(&wamp.Unregister{Request: old.nextReq(), Registration: oldID})
		old.expectError(wamp.UNREGISTER, errNoSuchRegistration)
	})
}

// TestRemoveCalleeAndSubscriber: wamp.registration.remove_callee and
// wamp.subscription.remove_subscriber (Crossbar's meta procedures) take a session off a
// registration or subscription; it learns it when it announced revocation.
func TestRemoveCalleeAndSubscriber(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: []config.Realm{everythingRealm("realm1")}})
		admin := join(t, r, c, "realm1")
		victim := joinRoles(t, r, c, "realm1", revokingRoles())
		plain := join(t, r, c, "realm1") // announces no revocation
		regID := victim.register("com.rm.proc", nil)
		subID := victim.subscribe("com.rm.topic", nil)
		plainSub := plain.subscribe("com.rm.topic", nil)

		admin.call("wamp.registration.remove_callee", wamp.List{uint64(regID), uint64(victim.id)}, wamp.Dict{"reason": "com.rm.gone"})
		u := expect[*wamp.Unregistered](victim)
		if u.Request != 0 || wamp.ID(asInt(t, u.Details["registration"])) != regID || u.Details["reason"] != "com.rm.gone" {
			t.Fatalf("UNREGISTERED %+v", u)
		}
		admin.send(&wamp.Call{Request: admin.nextReq(), Options: wamp.Dict{}, Procedure: "com.rm.proc"})
		admin.expectError(wamp.CALL, errNoSuchProcedure)

		admin.call("wamp.subscription.remove_subscriber", wamp.List{uint64(subID), uint64(victim.id), "com.rm.bye"}, nil)
		us := expect[*wamp.Unsubscribed](victim)
		if us.Request != 0 || wamp.ID(asInt(t, us.Details["subscription"])) != subID || us.Details["reason"] != "com.rm.bye" {
			t.Fatalf("UNSUBSCRIBED %+v", us)
		}
		admin.publishAck("com.rm.topic", nil, "after")
		if ev := expect[*wamp.Event](plain); ev.Subscription != plainSub {
			t.Fatalf("EVENT %+v", ev)
		}
		victim.quiet()
		admin.call("wamp.subscription.remove_subscriber", wamp.List{uint64(plainSub), uint64(plain.id)}, nil)
		plain.quiet() // no revocation announced: no UNSUBSCRIBED

		for _, tc := range []struct {
			proc string
			args wamp.List
			want wamp.URI
		}{
			{"wamp.registration.remove_callee", wamp.List{uint64(regID), uint64(victim.id)}, errNoSuchRegistration},
			{"wamp.subscription.remove_subscriber", wamp.List{uint64(subID), uint64(victim.id)}, errNoSuchSubscription},
			{"wamp.registration.remove_callee", wamp.List{uint64(regID), int64(12345)}, errNoSuchSession},
			{"wamp.registration.remove_callee", wamp.List{"x"}, errInvalidArgument},
		} {
			if e := admin.callErr(tc.proc, tc.args, nil); e.Error != tc.want {
				t.Errorf("%s %v: %s, want %s", tc.proc, tc.args, e.Error, tc.want)
			}
		}
		// A session that is not registered there.
		reg2 := plain.register("com.rm.other", nil)
		if e := admin.callErr("wamp.registration.remove_callee", wamp.List{uint64(reg2), uint64(victim.id)}, nil); e.Error != errNoSuchRegistration {
			t.Errorf("remove_callee of a non-callee: %s", e.Error)
		}
	})
}

// TestMaxCallsInFlight: a CALL over the caller's max_calls_in_flight is refused with ERROR
// portico.error.limit_exceeded naming the bound; an answer frees room; the session stays.
func TestMaxCallsInFlight(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		callee := join(t, r, c, "realm1")
		callee.register("com.inflight.proc", nil)
		caller := joinInfo(t, r, c, "realm1", PeerInfo{Transport: "inprocess", Limits: config.SessionLimits{MaxCallsInFlight: 2}})
		caller.send(&wamp.Call{Request: 101, Options: wamp.Dict{}, Procedure: "com.inflight.proc"})
		caller.send(&wamp.Call{Request: 102, Options: wamp.Dict{}, Procedure: "com.inflight.proc"})
		inv := expect[*wamp.Invocation](callee)
		expect[*wamp.Invocation](callee)
		caller.send(&wamp.Call{Request: 103, Options: wamp.Dict{}, Procedure: "com.inflight.proc"})
		e := caller.expectError(wamp.CALL, errLimitExceeded)
		if e.ArgumentsKw["limit"] != "max_calls_in_flight" || asInt(t, e.ArgumentsKw["value"]) != 2 {
			t.Fatalf("ERROR %v %v", e.Arguments, e.ArgumentsKw)
		}
		// Meta procedures are answered at once and do not count.
		caller.call("wamp.session.count", nil, nil)
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
		expect[*wamp.Result](caller)
		caller.send(&wamp.Call{Request: 104, Options: wamp.Dict{}, Procedure: "com.inflight.proc"})
		expect[*wamp.Invocation](callee)
	})
}

// progressiveRoles are clientRoles with callee progressive_call_invocations.
func progressiveRoles() wamp.Dict {
	r := clientRoles()
	r["callee"] = wamp.Dict{"features": wamp.Dict{"call_canceling": true, "progressive_call_invocations": true}}
	r["caller"] = wamp.Dict{"features": wamp.Dict{"progressive_call_invocations": true, "call_canceling": true}}
	return r
}

// TestProgressiveCallInvocations (spec, "Progressive Call Invocations"): CALLs with
// progress: true and one request ID reach the same callee as INVOCATIONs with one request ID,
// details.progress on all but the final; the callee's answer ends the call; CALLs that arrive
// after the call ended are discarded; a callee that did not announce the feature is refused
// with wamp.error.feature_not_supported.
func TestProgressiveCallInvocations(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		a := joinRoles(t, r, c, "realm1", progressiveRoles())
		b := joinRoles(t, r, c, "realm1", progressiveRoles())
		caller := joinRoles(t, r, wamp.JSON, "realm1", progressiveRoles())
		a.register("com.pci.sum", wamp.Dict{"invoke": "roundrobin"})
		b.register("com.pci.sum", wamp.Dict{"invoke": "roundrobin"})

		chunk := func(req wamp.ID, more bool, n int64) {
			o := wamp.Dict{}
			if more {
				o["progress"] = true
			}
			caller.send(&wamp.Call{Request: req, Options: o, Procedure: "com.pci.sum", Arguments: wamp.List{n}})
		}
		chunk(100, true, 1)
		first := expect[*wamp.Invocation](a)
		if first.Details["progress"] != true {
			t.Fatalf("first INVOCATION details %v", first.Details)
		}
		chunk(101, false, 50) // another call in between goes round robin to b
		if inv := expect[*wamp.Invocation](b); asInt(t, inv.Arguments[0]) != 50 {
			t.Fatalf("plain call %+v", inv)
		} else {
			b.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
		}
		expect[*wamp.Result](caller)
		chunk(100, true, 2)
		chunk(100, false, 3)
		sum := asInt(t, first.Arguments[0])
		for _, more := range []bool{true, false} {
			inv := expect[*wamp.Invocation](a) // the same callee, whatever the policy
			if inv.Request != first.Request || (inv.Details["progress"] == true) != more {
				t.Fatalf("INVOCATION %+v (more %v), want request %d", inv, more, first.Request)
			}
			sum += asInt(t, inv.Arguments[0])
		}
		a.send(&wamp.Yield{Request: first.Request, Options: wamp.Dict{}, Arguments: wamp.List{sum}})
		if res := expect[*wamp.Result](caller); res.Request != 100 || asInt(t, res.Arguments[0]) != 6 {
			t.Fatalf("RESULT %+v", res)
		}
		b.quiet()

		// The callee answers before the caller is done: later CALLs of that ID are discarded,
		// the final one too, after which the ID is free for a new call.
		chunk(102, true, 1)
		inv := expect[*wamp.Invocation](a)
		a.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: "com.pci.enough"})
		caller.expectError(wamp.CALL, "com.pci.enough")
		chunk(102, true, 2)
		chunk(102, false, 3)
		a.quiet()
		b.quiet()
		caller.quiet()
		chunk(102, false, 4)
		if inv := expect[*wamp.Invocation](b); asInt(t, inv.Arguments[0]) != 4 || inv.Details["progress"] != nil {
			t.Fatalf("new call with a reused ID: %+v", inv)
		}

		// A callee without the feature.
		plain := join(t, r, c, "realm1")
		plain.register("com.pci.plain", nil)
		caller.send(&wamp.Call{Request: 110, Options: wamp.Dict{"progress": true}, Procedure: "com.pci.plain"})
		caller.expectError(wamp.CALL, errFeatureNotSupported)
		plain.quiet()

		// The caller leaves mid-stream: the callee gets INTERRUPT.
		chunk(120, true, 1)
		inv = expect[*wamp.Invocation](a)
		caller.goodbye()
		if in := expect[*wamp.Interrupt](a); in.Request != inv.Request {
			t.Fatalf("INTERRUPT %+v", in)
		}
	})
}
