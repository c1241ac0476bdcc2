package router

import (
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"portico/router/wamp"
)

// Dynamic authorizers (Crossbar's RouterRoleDynamicAuth, crossbar/router/role.py, and
// Router.authorize, crossbar/router/router.py): a role with `authorizer` has no static
// permissions; each CALL, REGISTER, PUBLISH and SUBSCRIBE of its sessions is decided by calling
// that procedure with (session details, uri, action, options). The procedure answers true or
// false, or {"allow": bool, "disclose": bool, "cache": bool} ("validate" is accepted and
// ignored: Portico has no payload validation).
//
// Beyond Crossbar (its issue 212: one authorizer round trip per CALL/PUBLISH, and a cache
// keyed by role that is never dropped): a decision that says "cache": true is kept for its
// (session, uri, action) until the session leaves or the authorizer's registration changes
// (registered anew, a callee added or gone), so a re-registered authorizer with new rules is
// asked again. The options are not part of the key: an authorizer that decides on them must
// not answer "cache": true.
//
// The call is made from the requesting session's reader, which waits for the answer: the
// session's messages stay in order, as a static check keeps them. The wait is bounded by the
// router's AuthorizerTimeout, and an authorizer that is not registered yet (components start
// together) is waited for within the same bound. An error, a malformed answer, a timeout or a
// departed authorizer denies the action with wamp.error.authorization_failed (Crossbar's
// reason) and one log line.

const (
	errAuthorizationFailed = wamp.URI("wamp.error.authorization_failed")
	// maxAuthzCache bounds the cached decisions of one session; past it the cache starts
	// over (a session that touches that many URIs pays a round trip again, nothing worse).
	maxAuthzCache = 4096
)

// DefaultAuthorizerTimeout bounds one dynamic authorization (Options.AuthorizerTimeout).
const DefaultAuthorizerTimeout = 10 * time.Second

// authorizer is one authorizer procedure of a realm, shared by the roles that name it.
type authorizer struct {
	uri wamp.URI
	// gen counts the changes of the procedure's registrations; a cached decision made under
	// another generation is stale.
	gen atomic.Uint64
	// legacy: the procedure takes (session, uri, action) only, as Crossbar's older
	// authorizers did (crossbar-examples authorization/dynamic/embedded): it is called so
	// until its registration changes.
	legacy atomic.Bool
}

// authzKey and authzEntry are one cached decision of a session.
type authzKey struct {
	uri wamp.URI
	a   action
}

type authzEntry struct {
	allow, disclose bool
	gen             uint64
}

var actionNames = [...]string{actCall: "call", actRegister: "register", actPublish: "publish", actSubscribe: "subscribe"}

func (a action) String() string { return actionNames[a] }

// authorize decides whether s may do a on u: by the role's static permissions, or by its
// dynamic authorizer. err is set when the authorizer could not decide (the action is denied).
func (s *session) authorize(a action, u wamp.URI, opts wamp.Dict) (allow, disclose bool, err error) {
	az := s.role.authz
	if az == nil {
		allow, disclose = s.role.allowed(a, u)
		return allow, disclose, nil
	}
	key := authzKey{u, a}
	gen := az.gen.Load()
	if e, ok := s.authzCache[key]; ok && e.gen == gen {
		return e.allow, e.disclose, nil
	}
	allow, disclose, cache, err := s.askAuthorizer(az, a, u, opts)
	if err != nil {
		s.log.Warn("router: dynamic authorization failed", "authorizer", az.uri, "action", a.String(), "uri", u,
			"session", s.id, "authid", s.authid, "authrole", s.authrole, "realm", s.realmName(), "err", err)
		return false, false, err
	}
	if cache {
		if s.authzCache == nil || len(s.authzCache) >= maxAuthzCache {
			s.authzCache = make(map[authzKey]authzEntry)
		}
		s.authzCache[key] = authzEntry{allow, disclose, gen}
	}
	return allow, disclose, nil
}

// legacyArity matches Python's TypeError for an authorizer that takes (session, uri, action)
// only, as autobahn reports it (wamp.error.runtime_error): "authorize() takes 4 positional
// arguments but 5 were given".
var legacyArity = regexp.MustCompile(`takes (exactly )?4 (positional )?arguments`)

// askAuthorizer calls the authorizer and reads its answer.
func (s *session) askAuthorizer(az *authorizer, a action, u wamp.URI, opts wamp.Dict) (allow, disclose, cache bool, err error) {
	if opts == nil {
		opts = wamp.Dict{}
	}
	details := s.sessionDetails(true)
	details["authextra"] = nil
	args := wamp.List{details, string(u), a.String(), opts}
	if az.legacy.Load() {
		args = args[:3]
	}
	res, err := s.realm.callInternal(s, az.uri, args, s.r.opts.AuthorizerTimeout)
	var ce *calleeError
	if errors.As(err, &ce) && len(args) == 4 && ce.uri == "wamp.error.runtime_error" && len(ce.args) > 0 {
		if msg, _ := ce.args[0].(string); legacyArity.MatchString(msg) {
			s.log.Warn("router: legacy authorizer takes (session, uri, action): calling it with 3 arguments",
				"authorizer", az.uri, "realm", s.realmName())
			az.legacy.Store(true)
			res, err = s.realm.callInternal(s, az.uri, args[:3], s.r.opts.AuthorizerTimeout)
		}
	}
	if err != nil {
		return false, false, false, err
	}
	allow, disclose, cache, err = parseAuthorization(res.Arguments, res.ArgumentsKw)
	return allow, disclose, cache, err
}

// parseAuthorization reads an authorizer's answer as Crossbar's sanity_check does: one
// positional result, a bool (allow, nothing disclosed or cached) or a dict of "allow"
// (required), "disclose", "cache" (bools) and "validate" (a dict or null, ignored).
func parseAuthorization(args wamp.List, kw wamp.Dict) (allow, disclose, cache bool, err error) {
	if len(args) != 1 || len(kw) > 0 {
		return false, false, false, fmt.Errorf("the authorizer must return one value (true, false or a dict), got %d positional and %d keyword results", len(args), len(kw))
	}
	switch v := args[0].(type) {
	case bool:
		return v, false, false, nil
	case map[string]any:
		if _, ok := v["allow"]; !ok {
			return false, false, false, errors.New("the authorizer's dict has no \"allow\"")
		}
		for k, x := range v {
			switch k {
			case "allow", "disclose", "cache":
				b, ok := x.(bool)
				if !ok {
					return false, false, false, fmt.Errorf("the authorizer's %q must be a bool, got %s", k, typeName(x))
				}
				switch k {
				case "allow":
					allow = b
				case "disclose":
					disclose = b
				case "cache":
					cache = b
				}
			case "validate":
				if _, ok := x.(map[string]any); !ok && x != nil {
					return false, false, false, fmt.Errorf("the authorizer's \"validate\" must be a dict or null, got %s", typeName(x))
				}
			default:
				return false, false, false, fmt.Errorf("the authorizer returned the unknown key %q (want allow, disclose, cache)", truncate(k, 64))
			}
		}
		return allow, disclose, cache, nil
	}
	return false, false, false, fmt.Errorf("the authorizer returned %s (want true, false or a dict)", typeName(args[0]))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// sendAuthzFailure answers a request whose authorization failed (Crossbar's on_authorize_error).
func (s *session) sendAuthzFailure(typ wamp.MessageType, req wamp.ID, a action, u wamp.URI, err error) {
	what := map[action]string{actCall: "calling procedure", actRegister: "registering procedure",
		actPublish: "publishing to topic URI", actSubscribe: "subscribing to topic URI"}[a]
	s.sendError(typ, req, errAuthorizationFailed, "failed to authorize session for %s '%s': %v", what, u, err)
}

// calleeError is a procedure's ERROR answer to a call the router made.
type calleeError struct {
	uri  wamp.URI
	args wamp.List
}

func (e *calleeError) Error() string {
	if len(e.args) > 0 {
		if msg, ok := e.args[0].(string); ok {
			return fmt.Sprintf("%s: %s", e.uri, truncate(msg, 512))
		}
	}
	return string(e.uri)
}

// internalAnswer is what a procedure the router called answered.
type internalAnswer struct {
	res *wamp.Result
	err error
}

// callInternal calls procedure u of the realm on behalf of from's request and waits, at most
// d, for the answer. A procedure not registered yet is waited for within d. The wait ends
// early when from goes away.
func (rl *realm) callInternal(from *session, u wamp.URI, args wamp.List, d time.Duration) (*wamp.Result, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		rl.mu.Lock()
		reg := rl.dealer.lookup(u)
		if reg == nil {
			if rl.regWake == nil {
				rl.regWake = make(chan struct{})
			}
			wake := rl.regWake
			rl.mu.Unlock()
			select {
			case <-wake:
				continue
			case <-timer.C:
				return nil, fmt.Errorf("no callee registered for %q within %v", u, d)
			case <-from.closing:
				return nil, errors.New("the session closed")
			}
		}
		// The router's own call: it takes no concurrency slot of the callee, and is never
		// queued (the requesting session's reader waits for it, bounded).
		callee := reg.pickAny()
		if callee == from {
			rl.mu.Unlock()
			return nil, fmt.Errorf("the session that registered %q cannot be authorized by it (it would wait for itself)", u)
		}
		callee.nextInv++
		if callee.nextInv > maxID {
			callee.nextInv = 1
		}
		inv := &invocation{id: callee.nextInv, callee: callee, internal: make(chan internalAnswer, 1)}
		details := emptyDict
		if reg.match != matchExact {
			details = wamp.Dict{"procedure": string(u)}
		}
		callee.invs[inv.id] = inv
		callee.send(&wamp.Invocation{Request: inv.id, Registration: reg.id, Details: details, Arguments: args})
		rl.mu.Unlock()

		var fail error
		select {
		case a := <-inv.internal:
			return a.res, a.err
		case <-timer.C:
			fail = fmt.Errorf("%q did not answer within %v", u, d)
		case <-from.closing:
			fail = errors.New("the session closed")
		}
		rl.mu.Lock()
		if callee.invs[inv.id] == inv {
			inv.forget()
			if callee.calleeCancel && !callee.left {
				callee.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": cancelKillNoWait}})
			}
		}
		rl.mu.Unlock()
		select {
		case a := <-inv.internal: // answered meanwhile
			return a.res, a.err
		default:
			return nil, fail
		}
	}
}

// answerInternal hands the callee's answer to a call the router made (yield,
// invocationError, sessionLeft); called under realm.mu once per invocation, after forget.
func (inv *invocation) answerInternal(res *wamp.Result, err error) {
	inv.internal <- internalAnswer{res, err}
}

// registrationChanged runs under realm.mu when a registration gains or loses a callee: it
// wakes the requests that wait for an authorizer to register and drops the cached decisions
// of the authorizers it may serve.
func (rl *realm) registrationChanged(reg *registration) {
	if rl.regWake != nil {
		close(rl.regWake)
		rl.regWake = nil
	}
	if len(rl.authorizers) == 0 {
		return
	}
	if reg.match == matchExact {
		if az := rl.authorizers[reg.uri]; az != nil {
			az.gen.Add(1)
			az.legacy.Store(false)
		}
		return
	}
	for _, az := range rl.authorizers { // a pattern registration may serve any of them
		az.gen.Add(1)
		az.legacy.Store(false)
	}
}
