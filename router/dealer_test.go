package router

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// serveOnce answers the next INVOCATION with a YIELD echoing its arguments, and returns it.
func (c *client) serveOnce() *wamp.Invocation {
	c.t.Helper()
	inv := expect[*wamp.Invocation](c)
	c.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments, ArgumentsKw: inv.ArgumentsKw})
	return inv
}

func TestCallResult(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		callee := join(t, r, c, "realm1")
		caller := join(t, r, wamp.JSON, "realm1") // the caller's serializer differs on purpose
		regID := callee.register("com.app.add", nil)

		caller.send(&wamp.Call{Request: 5, Options: wamp.Dict{}, Procedure: "com.app.add",
			Arguments: wamp.List{int64(2), int64(3)}, ArgumentsKw: wamp.Dict{"bin": []byte("\x00z")}})
		inv := expect[*wamp.Invocation](callee)
		if inv.Registration != regID || asInt(t, inv.Arguments[1]) != 3 || string(inv.ArgumentsKw["bin"].([]byte)) != "\x00z" {
			t.Fatalf("INVOCATION %+v", inv)
		}
		if len(inv.Details) != 0 {
			t.Errorf("INVOCATION details %v for an undisclosed exact call", inv.Details)
		}
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{int64(5)}})
		res := expect[*wamp.Result](caller)
		if res.Request != 5 || asInt(t, res.Arguments[0]) != 5 {
			t.Fatalf("RESULT %+v", res)
		}

		// The callee's ERROR reaches the caller with its URI and payload.
		caller.send(&wamp.Call{Request: 6, Options: wamp.Dict{}, Procedure: "com.app.add"})
		inv = expect[*wamp.Invocation](callee)
		callee.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{},
			Error: "com.app.error.overflow", Arguments: wamp.List{"too big"}, ArgumentsKw: wamp.Dict{"max": int64(9)}})
		e := caller.expectError(wamp.CALL, "com.app.error.overflow")
		if e.Request != 6 || e.Arguments[0] != "too big" || asInt(t, e.ArgumentsKw["max"]) != 9 {
			t.Fatalf("ERROR %+v", e)
		}

		// A late YIELD for an answered invocation is ignored.
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
		caller.quiet()

		req := callee.nextReq()
		callee.send(&wamp.Unregister{Request: req, Registration: regID})
		if u := expect[*wamp.Unregistered](callee); u.Request != req {
			t.Fatalf("UNREGISTERED %+v", u)
		}
		callee.send(&wamp.Unregister{Request: callee.nextReq(), Registration: regID})
		callee.expectError(wamp.UNREGISTER, errNoSuchRegistration)
		caller.send(&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: "com.app.add"})
		caller.expectError(wamp.CALL, errNoSuchProcedure)
	})
}

func TestSharedRegistration(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   []int // which callee serves calls 1..n
		second wamp.URI
	}{
		{"single refuses a second callee", "single", []int{0, 0}, errProcedureExists},
		{"roundrobin", "roundrobin", []int{0, 1, 2, 0, 1, 2}, ""},
		{"first", "first", []int{0, 0, 0}, ""},
		{"last", "last", []int{2, 2, 2}, ""},
	}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newTestRouter(t, Options{})
				caller := join(t, r, c, "realm1")
				callees := []*client{join(t, r, c, "realm1"), join(t, r, c, "realm1"), join(t, r, c, "realm1")}
				opts := wamp.Dict{"invoke": tt.policy}
				callees[0].register("shared.proc", opts)
				if tt.second != "" {
					callees[1].send(&wamp.Register{Request: 1, Options: opts, Procedure: "shared.proc"})
					callees[1].expectError(wamp.REGISTER, tt.second)
					callees = callees[:1]
				} else {
					callees[1].register("shared.proc", opts)
					callees[2].register("shared.proc", opts)
				}
				for i, want := range tt.want {
					caller.send(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{}, Procedure: "shared.proc"})
					callees[want].serveOnce()
					expect[*wamp.Result](caller)
				}
				for _, cl := range callees {
					cl.quiet()
				}
			})
		}
		t.Run("random reaches every callee", func(t *testing.T) {
			r := newTestRouter(t, Options{})
			caller := join(t, r, c, "realm1")
			a, b := join(t, r, c, "realm1"), join(t, r, c, "realm1")
			a.register("rand.proc", wamp.Dict{"invoke": "random"})
			b.register("rand.proc", wamp.Dict{"invoke": "random"})
			served := map[*client]int{}
			for i := 1; i <= 200 && (served[a] == 0 || served[b] == 0); i++ {
				caller.send(&wamp.Call{Request: wamp.ID(i), Options: wamp.Dict{}, Procedure: "rand.proc"})
				select {
				case m := <-a.in:
					a.send(&wamp.Yield{Request: m.(*wamp.Invocation).Request, Options: wamp.Dict{}})
					served[a]++
				case m := <-b.in:
					b.send(&wamp.Yield{Request: m.(*wamp.Invocation).Request, Options: wamp.Dict{}})
					served[b]++
				case <-time.After(guard):
					t.Fatal("no invocation")
				}
				expect[*wamp.Result](caller)
			}
			if served[a] == 0 || served[b] == 0 {
				t.Fatalf("random served %v", served)
			}
		})
		t.Run("conflicts", func(t *testing.T) {
			r := newTestRouter(t, Options{})
			a, b := join(t, r, c, "realm1"), join(t, r, c, "realm1")
			a.register("conf.proc", wamp.Dict{"invoke": "roundrobin"})
			b.send(&wamp.Register{Request: 1, Options: wamp.Dict{"invoke": "random"}, Procedure: "conf.proc"})
			b.expectError(wamp.REGISTER, errProcedureExists)
			b.send(&wamp.Register{Request: 2, Options: wamp.Dict{}, Procedure: "conf.proc"})
			b.expectError(wamp.REGISTER, errProcedureExists)
			a.send(&wamp.Register{Request: 3, Options: wamp.Dict{"invoke": "roundrobin"}, Procedure: "conf.proc"})
			a.expectError(wamp.REGISTER, errProcedureExists)
		})
	})
}

func TestPatternRegistrations(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		caller := join(t, r, c, "realm1")
		regs := []struct{ uri, match string }{
			{"com.app.proc", "exact"},
			{"com.app", "prefix"},
			{"com.app.pr", "prefix"},
			{"com..proc", "wildcard"},
			{"com.app.", "wildcard"},
		}
		callees := map[wamp.ID]int{}
		var cls []*client
		for i, x := range regs {
			cl := join(t, r, c, "realm1")
			callees[cl.register(x.uri, wamp.Dict{"match": x.match})] = i
			cls = append(cls, cl)
		}
		tests := []struct {
			proc string
			want int // -1: no such procedure
		}{
			{"com.app.proc", 0},
			{"com.app.proc2", 2},
			{"com.app.other", 1},
			{"com.application", 1},
			{"com.x.proc", 3},
			{"org.app.proc", -1},
		}
		for i, tt := range tests {
			caller.send(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{}, Procedure: wamp.URI(tt.proc)})
			if tt.want < 0 {
				caller.expectError(wamp.CALL, errNoSuchProcedure)
				continue
			}
			inv := cls[tt.want].serveOnce()
			if callees[inv.Registration] != tt.want {
				t.Fatalf("%s went to registration %v", tt.proc, regs[callees[inv.Registration]])
			}
			proc, has := inv.Details["procedure"]
			if regs[tt.want].match == "exact" && has || regs[tt.want].match != "exact" && proc != tt.proc {
				t.Fatalf("%s: details.procedure = %v", tt.proc, proc)
			}
			expect[*wamp.Result](caller)
		}
	})
}

func TestCallerDisclosure(t *testing.T) {
	tests := []struct {
		name     string
		disclose bool
		opts     wamp.Dict
		want     bool
	}{
		{"not disclosed", false, wamp.Dict{}, false},
		{"disclose_me", false, wamp.Dict{"disclose_me": true}, true},
		{"by role", true, wamp.Dict{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter(t, Options{Realms: []config.Realm{realmWith("realm1", config.Permission{
				URI: "", Match: "prefix", Allow: allowEverything, Disclose: config.Disclose{Caller: tt.disclose}})}})
			caller, callee := join(t, r, wamp.MsgPack, "realm1"), join(t, r, wamp.CBOR, "realm1")
			callee.register("disc.proc", nil)
			caller.send(&wamp.Call{Request: 1, Options: tt.opts, Procedure: "disc.proc"})
			inv := callee.serveOnce()
			_, has := inv.Details["caller"]
			if has != tt.want {
				t.Fatalf("details %v: caller disclosed = %v, want %v", inv.Details, has, tt.want)
			}
			if tt.want && (wamp.ID(asInt(t, inv.Details["caller"])) != caller.id ||
				inv.Details["caller_authid"] != caller.authid || inv.Details["caller_authrole"] != "anonymous") {
				t.Fatalf("details %v, caller is %d %s", inv.Details, caller.id, caller.authid)
			}
			expect[*wamp.Result](caller)
		})
	}
}

func TestProgressiveResults(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		caller, callee := join(t, r, c, "realm1"), join(t, r, c, "realm1")
		callee.register("prog.proc", nil)
		for _, receive := range []bool{true, false} {
			req := caller.nextReq()
			caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"receive_progress": receive}, Procedure: "prog.proc"})
			inv := expect[*wamp.Invocation](callee)
			if got, _ := inv.Details["receive_progress"].(bool); got != receive {
				t.Fatalf("INVOCATION details %v, want receive_progress %v", inv.Details, receive)
			}
			for i := int64(1); i <= 3; i++ {
				callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"progress": true}, Arguments: wamp.List{i}})
			}
			callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{"done"}})
			if receive {
				for i := int64(1); i <= 3; i++ {
					res := expect[*wamp.Result](caller)
					if res.Request != req || res.Details["progress"] != true || asInt(t, res.Arguments[0]) != i {
						t.Fatalf("progressive RESULT %+v", res)
					}
				}
			}
			res := expect[*wamp.Result](caller)
			if res.Request != req || res.Details["progress"] == true || res.Arguments[0] != "done" {
				t.Fatalf("final RESULT %+v", res)
			}
		}
	})
}

func TestCancel(t *testing.T) {
	noCancel := wamp.Dict{"caller": wamp.Dict{}, "callee": wamp.Dict{"features": wamp.Dict{}}}
	tests := []struct {
		name       string
		mode       string // "" sends no mode
		calleeCan  bool
		interrupt  bool // the callee gets INTERRUPT
		errorFirst bool // the caller gets ERROR canceled without waiting for the callee
	}{
		{"skip", "skip", true, false, true},
		{"kill", "kill", true, true, false},
		{"killnowait", "killnowait", true, true, true},
		{"default mode", "", true, true, true},
		{"kill without callee support", "kill", false, false, true},
		{"killnowait without callee support", "killnowait", false, false, true},
	}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newTestRouter(t, Options{})
				caller := join(t, r, c, "realm1")
				roles := clientRoles()
				if !tt.calleeCan {
					roles = noCancel
				}
				callee := joinRoles(t, r, c, "realm1", roles)
				callee.register("long.proc", nil)
				caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "long.proc"})
				inv := expect[*wamp.Invocation](callee)
				opts := wamp.Dict{}
				if tt.mode != "" {
					opts["mode"] = tt.mode
				}
				caller.send(&wamp.Cancel{Request: 1, Options: opts})
				if tt.errorFirst {
					if e := caller.expectError(wamp.CALL, errCanceled); e.Request != 1 {
						t.Fatalf("ERROR for %d", e.Request)
					}
				}
				if tt.interrupt {
					in := expect[*wamp.Interrupt](callee)
					if in.Request != inv.Request {
						t.Fatalf("INTERRUPT for %d, want %d", in.Request, inv.Request)
					}
					want := tt.mode
					if want == "" {
						want = "killnowait"
					}
					if in.Options["mode"] != want {
						t.Fatalf("INTERRUPT mode %v, want %s", in.Options["mode"], want)
					}
				}
				callee.quiet()
				// The callee answers: with kill the caller gets that answer, otherwise it is
				// dropped.
				callee.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: errCanceled})
				if !tt.errorFirst {
					caller.expectError(wamp.CALL, errCanceled)
				}
				caller.send(&wamp.Cancel{Request: 1, Options: opts}) // too late: ignored
				caller.quiet()
			})
		}
	})
}

func TestCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRouter(t, Options{})
		caller, callee := join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.CBOR, "realm1")
		callee.register("slow.proc", nil)
		start := time.Now()
		caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{"timeout": int64(1500)}, Procedure: "slow.proc"})
		inv := expect[*wamp.Invocation](callee)
		if asInt(t, inv.Details["timeout"]) != 1500 {
			t.Fatalf("INVOCATION details %v, want the timeout", inv.Details)
		}
		caller.expectError(wamp.CALL, errCanceled)
		if waited := time.Since(start); waited != 1500*time.Millisecond {
			t.Fatalf("the call was canceled after %v (fake clock), want 1.5s", waited)
		}
		in := expect[*wamp.Interrupt](callee)
		if in.Request != inv.Request || in.Options["mode"] != "killnowait" {
			t.Fatalf("INTERRUPT %+v", in)
		}
		callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}}) // late: dropped
		caller.quiet()

		// A call answered in time is not canceled later.
		caller.send(&wamp.Call{Request: 2, Options: wamp.Dict{"timeout": int64(1000)}, Procedure: "slow.proc"})
		callee.serveOnce()
		expect[*wamp.Result](caller)
		time.Sleep(2 * time.Second)
		caller.quiet()
		callee.quiet()
		caller.goodbye()
		callee.goodbye()
	})
}

func TestPeerLeavesDuringCall(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		caller, callee := join(t, r, c, "realm1"), join(t, r, c, "realm1")
		callee.register("leave.proc", nil)
		caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "leave.proc"})
		expect[*wamp.Invocation](callee)
		callee.goodbye()
		e := caller.expectError(wamp.CALL, errCanceled)
		if e.Request != 1 {
			t.Fatalf("ERROR for %d", e.Request)
		}
		caller.send(&wamp.Call{Request: 2, Options: wamp.Dict{}, Procedure: "leave.proc"})
		caller.expectError(wamp.CALL, errNoSuchProcedure)

		callee = join(t, r, c, "realm1")
		callee.register("leave.proc", nil)
		caller.send(&wamp.Call{Request: 3, Options: wamp.Dict{}, Procedure: "leave.proc"})
		inv := expect[*wamp.Invocation](callee)
		caller.goodbye()
		in := expect[*wamp.Interrupt](callee)
		if in.Request != inv.Request {
			t.Fatalf("INTERRUPT for %d, want %d", in.Request, inv.Request)
		}
	})
}

func TestRegisterCallErrors(t *testing.T) {
	realms := []config.Realm{realmWith("realm1",
		config.Permission{URI: "svc.", Allow: config.Allow{Register: true}},
		config.Permission{URI: "svc.public", Allow: config.Allow{Call: true, Register: true}},
	)}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: realms})
		cl := join(t, r, c, "realm1")
		for _, tt := range []struct {
			proc, match string
			want        wamp.URI
		}{
			{"svc.bad uri", "", errInvalidURI},
			{"svc..x", "", errInvalidURI},
			{"wamp.session.count", "", errInvalidURI},
			{"other.proc", "", errNotAuthorized},
		} {
			cl.send(&wamp.Register{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: wamp.URI(tt.proc)})
			cl.expectError(wamp.REGISTER, tt.want)
		}
		cl.register("svc..x", wamp.Dict{"match": "wildcard"})
		cl.register("svc.private", nil)
		cl.register("svc.public", nil)
		cl.send(&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: "svc.private"})
		cl.expectError(wamp.CALL, errNotAuthorized)
		cl.send(&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: "svc.bad uri"})
		cl.expectError(wamp.CALL, errInvalidURI)
		cl.send(&wamp.Call{Request: cl.nextReq(), Options: wamp.Dict{}, Procedure: "svc.public"})
		cl.serveOnce()
		expect[*wamp.Result](cl)
	})
}

// A timeout too large for a time.Duration in nanoseconds must not wrap to a negative duration
// and cancel the call at once.
func TestCallTimeoutHuge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRouter(t, Options{})
		caller, callee := join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.JSON, "realm1")
		callee.register("slow.proc", nil)
		for i, timeout := range []any{int64(1) << 62, int64(wamp.MaxID)} {
			caller.send(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{"timeout": timeout}, Procedure: "slow.proc"})
			inv := expect[*wamp.Invocation](callee)
			time.Sleep(time.Hour)
			callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
			if res := expect[*wamp.Result](caller); res.Request != wamp.ID(i+1) {
				t.Fatalf("RESULT for %d, want %d", res.Request, i+1)
			}
		}
		caller.goodbye()
		callee.goodbye()
	})
}

// A value one serializer carries and another cannot express (JSON has no NaN) fails the call
// with wamp.error.invalid_payload, as Crossbar answers a serialization error, instead of the
// message being dropped by the writer and the caller waiting for ever.
func TestCallPayloadAcrossSerializers(t *testing.T) {
	r := newTestRouter(t, Options{})
	jsonPeer, mpPeer := join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.MsgPack, "realm1")
	jsonPeer.register("json.proc", nil)
	mpPeer.register("mp.proc", nil)

	// The arguments cannot reach the JSON callee.
	mpPeer.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "json.proc", Arguments: wamp.List{math.NaN()}})
	mpPeer.expectError(wamp.CALL, errInvalidPayload)
	jsonPeer.quiet()

	// The result cannot reach the JSON caller.
	jsonPeer.send(&wamp.Call{Request: 2, Options: wamp.Dict{}, Procedure: "mp.proc"})
	inv := expect[*wamp.Invocation](mpPeer)
	mpPeer.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{math.Inf(1)}})
	if e := jsonPeer.expectError(wamp.CALL, errInvalidPayload); e.Request != 2 {
		t.Fatalf("ERROR for %d, want 2", e.Request)
	}

	// Nor the callee's error.
	jsonPeer.send(&wamp.Call{Request: 3, Options: wamp.Dict{}, Procedure: "mp.proc"})
	inv = expect[*wamp.Invocation](mpPeer)
	mpPeer.send(&wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{},
		Error: "com.app.error", Arguments: wamp.List{math.NaN()}})
	if e := jsonPeer.expectError(wamp.CALL, errInvalidPayload); e.Request != 3 {
		t.Fatalf("ERROR for %d, want 3", e.Request)
	}

	// Nor a progressive result: the call ends there.
	jsonPeer.send(&wamp.Call{Request: 4, Options: wamp.Dict{"receive_progress": true}, Procedure: "mp.proc"})
	inv = expect[*wamp.Invocation](mpPeer)
	mpPeer.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{"progress": true}, Arguments: wamp.List{math.NaN()}})
	if e := jsonPeer.expectError(wamp.CALL, errInvalidPayload); e.Request != 4 {
		t.Fatalf("ERROR for %d, want 4", e.Request)
	}
	if in := expect[*wamp.Interrupt](mpPeer); in.Request != inv.Request {
		t.Fatalf("INTERRUPT %+v, want for %d", in, inv.Request)
	}
	mpPeer.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}}) // late: dropped
	jsonPeer.quiet()
	mpPeer.quiet()
	jsonPeer.goodbye()
	mpPeer.goodbye()
}

// A call canceled with kill has had its INTERRUPT: when its timeout expires or its caller
// leaves before the callee answers, the callee gets no second one.
func TestKillThenTimeoutOrLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRouter(t, Options{})
		caller, callee := join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.JSON, "realm1")
		callee.register("long.proc", nil)
		for i, leave := range []bool{false, true} {
			req := wamp.ID(i + 1)
			caller.send(&wamp.Call{Request: req, Options: wamp.Dict{"timeout": int64(1000)}, Procedure: "long.proc"})
			inv := expect[*wamp.Invocation](callee)
			caller.send(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "kill"}})
			if in := expect[*wamp.Interrupt](callee); in.Request != inv.Request || in.Options["mode"] != "kill" {
				t.Fatalf("INTERRUPT %+v", in)
			}
			if leave {
				caller.goodbye()
			} else {
				time.Sleep(2 * time.Second)
				caller.expectError(wamp.CALL, errCanceled)
			}
			callee.quiet()
		}
		callee.goodbye()
	})
}
