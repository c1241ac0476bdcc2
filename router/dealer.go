package router

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// Invocation policies of shared registrations (WAMP spec, "Shared Registration").
const (
	invokeSingle     = "single"
	invokeRoundRobin = "roundrobin"
	invokeRandom     = "random"
	invokeFirst      = "first"
	invokeLast       = "last"
)

// Cancel modes (spec, "Call Canceling").
const (
	cancelSkip       = "skip"
	cancelKill       = "kill"
	cancelKillNoWait = "killnowait"
)

// registration is one procedure pattern of a realm with its callees.
type registration struct {
	id      wamp.ID
	uri     wamp.URI
	match   string
	invoke  string
	created time.Time
	callees []*session // in registration order
	next    int        // roundrobin position
	// limits holds the concurrency of the callees that registered with one; nil while none
	// did, so that a call to an unbounded registration costs nothing more.
	limits map[*session]*calleeLimit
	// queue holds the calls waiting for a callee slot (realm store call-queue), oldest first.
	queue []*invocation
	// remote: a procedure of other nodes, in the realm's remote table (cluster.go), whose one
	// callee is the cluster link's session.
	remote bool
}

// calleeLimit is the REGISTER option `concurrency` of one callee (Crossbar's
// RegistrationCalleeExtra): at most max invocations of it in flight at once.
type calleeLimit struct{ max, inflight int }

// free reports whether the callee with limit l (nil: none) may take one more invocation.
func (l *calleeLimit) free() bool { return l == nil || l.inflight < l.max }

// invocation is one call in flight: the caller's CALL and the callee's INVOCATION.
type invocation struct {
	id       wamp.ID // INVOCATION.Request, in the callee's scope
	call     wamp.ID // CALL.Request, in the caller's scope
	caller   *session
	callee   *session
	progress bool // the caller asked for progressive results
	// streaming: a progressive call invocation whose caller has not sent its final CALL yet
	// (spec, "Progressive Call Invocations"); its further CALLs go to the same callee under
	// the same INVOCATION request ID.
	streaming bool
	mode      string // the cancel mode once the caller canceled with kill
	timer     *time.Timer
	limit     *calleeLimit // the callee's concurrency slot this call holds, if it set one
	reg       *registration
	// queued holds the call while it waits in its registration's call queue (callee, id
	// and limit unset until it is sent); nil once sent.
	queued *queuedCall
	// internal, for a call the router makes (a dynamic authorizer; caller nil), receives the
	// callee's answer (authorizer.go).
	internal chan internalAnswer
	// as is the caller to disclose when the caller is the cluster link calling for a session
	// of another node (ClusterCaller); nil otherwise.
	as *publisher
}

// dealer is a realm's RPC state, guarded by realm.mu.
type dealer struct {
	exact    map[wamp.URI]*registration
	patterns map[patternKey]*registration
	trie     patternTrie[*registration]
	byID     map[wamp.ID]*registration
}

func (d *dealer) init() {
	d.exact = make(map[wamp.URI]*registration)
	d.patterns = make(map[patternKey]*registration)
	d.byID = make(map[wamp.ID]*registration)
}

// lookup returns the registration a call to uri goes to: exact first, then the longest
// prefix, then a wildcard (spec, "Pattern-based Registrations": the most specific wins).
func (d *dealer) lookup(uri wamp.URI) *registration {
	if reg := d.exact[uri]; reg != nil {
		return reg
	}
	var best *registration
	d.trie.matchPrefix(string(uri), func(reg *registration) bool {
		if best == nil || len(reg.uri) > len(best.uri) {
			best = reg
		}
		return true
	})
	if best != nil {
		return best
	}
	d.trie.matchWildcard(string(uri), func(reg *registration) bool {
		best = reg
		return false
	})
	return best
}

// pick chooses the callee of the next call by the invocation policy, skipping callees at
// their concurrency as Crossbar does for roundrobin (and here for random too: Crossbar leaves
// random unbounded); single, first and last have one candidate. It returns nil when no
// candidate has a free slot.
func (reg *registration) pick() (*session, *calleeLimit) {
	if reg.limits == nil {
		return reg.pickAny(), nil
	}
	n := len(reg.callees)
	switch reg.invoke {
	case invokeRoundRobin, invokeRandom:
		start := reg.next % n
		if reg.invoke == invokeRandom {
			start = rand.IntN(n)
		}
		for i := range n {
			j := (start + i) % n
			c := reg.callees[j]
			if l := reg.limits[c]; l.free() && !c.left {
				if reg.invoke == invokeRoundRobin {
					reg.next = (j + 1) % n
				}
				return c, l
			}
		}
		return nil, nil
	}
	c := reg.pickAny()
	if l := reg.limits[c]; l.free() && !c.left {
		return c, l
	}
	return nil, nil
}

// pickAny chooses by the invocation policy alone.
func (reg *registration) pickAny() *session {
	n := len(reg.callees)
	switch reg.invoke {
	case invokeRoundRobin:
		c := reg.callees[reg.next%n]
		reg.next = (reg.next + 1) % n
		return c
	case invokeRandom:
		return reg.callees[rand.IntN(n)]
	case invokeLast:
		return reg.callees[n-1]
	}
	return reg.callees[0] // single, first
}

func (reg *registration) details() wamp.Dict {
	return wamp.Dict{"id": uint64(reg.id), "created": reg.created.UTC().Format(isoMillis),
		"uri": string(reg.uri), "match": reg.match, "invoke": reg.invoke}
}

func (s *session) register(m *wamp.Register) {
	match, ok := matchOption(m.Options)
	if !ok {
		s.sendError(wamp.REGISTER, m.Request, errInvalidArgument, "invalid match policy %v", m.Options["match"])
		return
	}
	var concurrency int64
	if x, present := m.Options["concurrency"]; present && x != nil {
		if n, ok := toInt(x); ok && n > 0 {
			concurrency = n
		}
	}
	force, _ := optBool(m.Options, "force_reregister")
	invoke := invokeSingle
	if x, present := m.Options["invoke"]; present {
		invoke, _ = x.(string)
		switch invoke {
		case invokeSingle, invokeRoundRobin, invokeRandom, invokeFirst, invokeLast:
		default:
			s.sendError(wamp.REGISTER, m.Request, errInvalidArgument, "invalid invocation policy %v", x)
			return
		}
	}
	if s.uriTooLong(m.Procedure) {
		s.sendTooLong(wamp.REGISTER, m.Request, "procedure", m.Procedure)
		return
	}
	if err := checkURI(m.Procedure, false, match); err != nil {
		s.sendError(wamp.REGISTER, m.Request, errInvalidURI, "invalid procedure URI %q: %v", m.Procedure, err)
		return
	}
	if restrictedURI(m.Procedure) {
		s.sendError(wamp.REGISTER, m.Request, errInvalidURI, "register for restricted procedure URI %q", m.Procedure)
		return
	}
	if s.info.ClusterLink {
		s.registerRemote(m, match)
		return
	}
	if ok, _, err := s.authorize(actRegister, m.Procedure, m.Options); err != nil {
		s.sendAuthzFailure(wamp.REGISTER, m.Request, actRegister, m.Procedure, err)
		return
	} else if !ok {
		s.sendError(wamp.REGISTER, m.Request, errNotAuthorized, "session is not authorized to register procedure %q", m.Procedure)
		return
	}

	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if n := s.lim.MaxRegistrations; len(s.regs) >= n {
		s.sendLimitError(wamp.REGISTER, m.Request, "max_registrations", n,
			"this session has %d registrations, the bound of max_registrations", n)
		return
	}
	d := &rl.dealer
	var reg *registration
	if match == matchExact {
		reg = d.exact[m.Procedure]
	} else {
		reg = d.patterns[patternKey{m.Procedure, match}]
	}
	if reg != nil && force {
		// Crossbar's force_reregister: the callees of the existing registration lose it
		// (UNREGISTERED with the reason, for those that announced registration_revocation)
		// and this session registers afresh. Calls in flight to them stay theirs to answer.
		for len(reg.callees) > 0 {
			c := reg.callees[len(reg.callees)-1]
			d.removeCallee(rl, reg, c)
			if c.calleeRevoke && c != s {
				c.send(&wamp.Unregistered{Request: 0, Details: revocation("registration", reg.id, "wamp.error.unregistered")})
			}
		}
		reg = nil
	}
	if reg != nil {
		// Spec, "Shared Registration": every callee must ask for the same policy, and "single"
		// admits one callee. Crossbar also refuses a second registration by the same session.
		if invoke == invokeSingle || reg.invoke != invoke || s.regs[reg.id] != nil {
			s.sendError(wamp.REGISTER, m.Request, errProcedureExists,
				"register for already registered procedure %q", m.Procedure)
			return
		}
		reg.callees = append(reg.callees, s)
		reg.setLimit(s, concurrency)
		s.regs[reg.id] = reg
		rl.registrationChanged(reg)
		s.send(&wamp.Registered{Request: m.Request, Registration: reg.id})
		rl.metaEvent(reg.uri, "wamp.registration.on_register", wamp.List{uint64(s.id), uint64(reg.id)})
		reg.drainQueue()
		return
	}
	reg = &registration{uri: m.Procedure, match: match, invoke: invoke, created: rl.now(), callees: []*session{s}}
	reg.setLimit(s, concurrency)
	d.addRegistration(reg, nil)
	s.regs[reg.id] = reg
	rl.registrationChanged(reg)
	rl.clusterChanged(reg)
	s.send(&wamp.Registered{Request: m.Request, Registration: reg.id})
	rl.metaEvent(reg.uri, "wamp.registration.on_create", wamp.List{uint64(s.id), reg.details()})
	rl.metaEvent(reg.uri, "wamp.registration.on_register", wamp.List{uint64(s.id), uint64(reg.id)})
}

// setLimit records callee s's concurrency (0: none).
func (reg *registration) setLimit(s *session, concurrency int64) {
	if concurrency <= 0 {
		return
	}
	if reg.limits == nil {
		reg.limits = make(map[*session]*calleeLimit)
	}
	reg.limits[s] = &calleeLimit{max: int(min(concurrency, math.MaxInt32))}
}

func (s *session) unregister(m *wamp.Unregister) {
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	reg := s.regs[m.Registration]
	if reg == nil {
		s.sendError(wamp.UNREGISTER, m.Request, errNoSuchRegistration, "no registration with ID %d for this session", m.Registration)
		return
	}
	s.send(&wamp.Unregistered{Request: m.Request})
	rl.dealerOf(reg).removeCallee(rl, reg, s)
}

// removeCallee takes s off reg, with the meta events, and deletes reg when it is empty. Calls
// in flight to s stay: s may still answer them.
func (d *dealer) removeCallee(rl *realm, reg *registration, s *session) {
	delete(s.regs, reg.id)
	delete(reg.limits, s)
	for i, x := range reg.callees {
		if x == s {
			reg.callees = append(reg.callees[:i], reg.callees[i+1:]...)
			break
		}
	}
	if reg.next >= len(reg.callees) {
		reg.next = 0
	}
	if reg.remote {
		d.deleteRegistration(reg)
		return
	}
	rl.registrationChanged(reg)
	rl.metaEvent(reg.uri, "wamp.registration.on_unregister", wamp.List{uint64(s.id), uint64(reg.id)})
	if len(reg.callees) > 0 {
		return
	}
	for len(reg.queue) > 0 {
		inv := reg.queue[0]
		inv.forget()
		if !inv.caller.left {
			inv.caller.sendError(wamp.CALL, inv.call, errCanceled, "the procedure's last callee went away while the call was queued")
		}
	}
	d.deleteRegistration(reg)
	rl.clusterChanged(reg)
	rl.metaEvent(reg.uri, "wamp.registration.on_delete", wamp.List{uint64(s.id), uint64(reg.id)})
}

// addRegistration gives reg an ID that neither d nor other (when not nil) uses and puts it in
// d's tables by its match; deleteRegistration takes it out.
func (d *dealer) addRegistration(reg *registration, other *dealer) {
	for {
		reg.id = globalID()
		if d.byID[reg.id] == nil && (other == nil || other.byID[reg.id] == nil) {
			break
		}
	}
	d.byID[reg.id] = reg
	switch reg.match {
	case matchExact:
		d.exact[reg.uri] = reg
	case matchPrefix:
		d.patterns[patternKey{reg.uri, reg.match}] = reg
		d.trie.insertPrefix(string(reg.uri), reg)
	case matchWildcard:
		d.patterns[patternKey{reg.uri, reg.match}] = reg
		d.trie.insertWildcard(string(reg.uri), reg)
	}
}

// deleteRegistration takes reg out of the dealer's tables.
func (d *dealer) deleteRegistration(reg *registration) {
	delete(d.byID, reg.id)
	switch reg.match {
	case matchExact:
		delete(d.exact, reg.uri)
	case matchPrefix:
		delete(d.patterns, patternKey{reg.uri, reg.match})
		d.trie.removePrefix(string(reg.uri), reg)
	case matchWildcard:
		delete(d.patterns, patternKey{reg.uri, reg.match})
		d.trie.removeWildcard(string(reg.uri))
	}
}

func (s *session) call(m *wamp.Call) error {
	if s.uriTooLong(m.Procedure) {
		s.sendTooLong(wamp.CALL, m.Request, "procedure", m.Procedure)
		return nil
	}
	if err := checkURI(m.Procedure, false, matchExact); err != nil {
		s.sendError(wamp.CALL, m.Request, errInvalidURI, "invalid procedure URI %q: %v", m.Procedure, err)
		return nil
	}
	ok, disclose, err := s.authorize(actCall, m.Procedure, m.Options)
	if err != nil {
		s.sendAuthzFailure(wamp.CALL, m.Request, actCall, m.Procedure, err)
		return nil
	}
	if !ok {
		s.sendError(wamp.CALL, m.Request, errNotAuthorized, "session is not authorized to call procedure %q", m.Procedure)
		return nil
	}
	progress, _ := optBool(m.Options, "receive_progress")
	streaming, _ := optBool(m.Options, "progress")
	if dm, _ := optBool(m.Options, "disclose_me"); dm {
		disclose = true
	}
	var timeout int64
	if x, present := m.Options["timeout"]; present {
		t, ok := toInt(x)
		if !ok || t < 0 {
			s.sendError(wamp.CALL, m.Request, errInvalidArgument, "invalid call timeout %v", x)
			return nil
		}
		timeout = t
	}

	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if inv := s.calls[m.Request]; inv != nil {
		if inv.streaming {
			s.continueCall(inv, m, streaming)
			return nil
		}
		return s.abort(errProtocolViolation, "CALL with request ID %d, which is still in flight", m.Request)
	}
	if len(s.closedStreams) > 0 && s.closedStream(m.Request, streaming) {
		return nil
	}
	if h := metaProcedures[m.Procedure]; h != nil {
		if streaming {
			s.sendError(wamp.CALL, m.Request, errFeatureNotSupported, "the meta procedure %q takes no progressive call invocations", m.Procedure)
			return nil
		}
		rl.callMeta(s, m, h)
		return nil
	}
	if n := s.lim.MaxCallsInFlight; len(s.calls) >= n {
		s.sendLimitError(wamp.CALL, m.Request, "max_calls_in_flight", n,
			"this session has %d calls in flight, the bound of max_calls_in_flight", n)
		return nil
	}
	reg := rl.dealer.lookup(m.Procedure)
	if reg == nil && rl.remote != nil {
		reg = rl.remote.lookup(m.Procedure)
	}
	if reg == nil {
		s.sendError(wamp.CALL, m.Request, errNoSuchProcedure, "no callee registered for procedure %q", m.Procedure)
		return nil
	}
	callee, limit := reg.pick()
	inv := &invocation{call: m.Request, caller: s, progress: progress, reg: reg, streaming: streaming}
	if s.info.ClusterLink {
		if inv.as = identity(m.Options[ClusterCaller]); inv.as != nil {
			disclose = true
		}
	}
	if streaming && callee != nil && !callee.calleeProgressive {
		s.sendError(wamp.CALL, m.Request, errFeatureNotSupported,
			"the callee of procedure %q does not support progressive call invocations", m.Procedure)
		return nil
	}
	if callee == nil {
		// A progressive call invocation is never queued: its later CALLs need the callee now.
		q := rl.callQueue(m.Procedure)
		if streaming {
			q = nil
		}
		if q == nil {
			s.sendError(wamp.CALL, m.Request, errMaxConcurrency,
				"maximum concurrency of every callee of procedure %q reached", m.Procedure)
			return nil
		}
		if len(reg.queue) >= q.Limit {
			s.sendError(wamp.CALL, m.Request, errMaxConcurrency,
				"maximum concurrency of every callee of procedure %q reached and its call queue is full (limit %d)", m.Procedure, q.Limit)
			return nil
		}
		// The realm store's call-queue (as Crossbar's): the call waits for a free slot.
		inv.queued = &queuedCall{m: m, disclose: disclose, timeout: timeout}
		reg.queue = append(reg.queue, inv)
	} else if err := inv.invoke(callee, limit, m, disclose, timeout, s); err != nil {
		s.sendError(wamp.CALL, m.Request, errInvalidPayload, "the call cannot be passed on to the callee: %v", err)
		return nil
	}
	s.calls[inv.call] = inv
	if timeout > 0 {
		// Spec, "Call Timeouts": the dealer cancels the call when the timeout expires, as a
		// killnowait cancel would. A queued call's time runs from its CALL.
		// A timeout beyond time.Duration's range (about 292 years) would wrap negative and
		// fire at once; it is as good as none.
		d := time.Duration(math.MaxInt64)
		if timeout <= math.MaxInt64/int64(time.Millisecond) {
			d = time.Duration(timeout) * time.Millisecond
		}
		inv.timer = time.AfterFunc(d, func() {
			rl.mu.Lock()
			defer rl.mu.Unlock()
			if s.calls[inv.call] != inv {
				return // answered or canceled meanwhile
			}
			rl.dealer.abandon(inv, cancelKillNoWait, "call timed out after %d ms", timeout)
		})
	}
	return nil
}

// continueCall passes one more CALL of a progressive call invocation to its callee: same
// callee, same INVOCATION request ID, details.progress while more are to come (spec,
// "Progressive Call Invocations"). The final one (progress false or absent) ends the stream;
// the call goes on until the callee answers.
func (s *session) continueCall(inv *invocation, m *wamp.Call, more bool) {
	details := emptyDict
	ppt := pptOptions(m.Options)
	if more || ppt != nil {
		details = make(wamp.Dict, 1+len(ppt))
		addPPT(details, ppt)
		if more {
			details["progress"] = true
		}
	}
	inv.streaming = more
	if err := inv.callee.sendAcross(s, &wamp.Invocation{Request: inv.id, Registration: inv.reg.id, Details: details,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}); err != nil {
		// The callee would miss part of the call: end it.
		inv.forget()
		if inv.callee.calleeCancel {
			inv.callee.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": cancelKillNoWait}})
		}
		s.sendError(wamp.CALL, inv.call, errInvalidPayload, "a progressive call invocation cannot be passed on to the callee: %v", err)
	}
}

// maxClosedStreams bounds session.closedStreams.
const maxClosedStreams = 64

// closedStream reports whether id names a progressive call invocation that ended before its
// caller's final CALL, whose later CALLs are discarded; the final one (more false) ends that.
func (s *session) closedStream(id wamp.ID, more bool) bool {
	for i, x := range s.closedStreams {
		if x == id {
			if !more {
				s.closedStreams = append(s.closedStreams[:i], s.closedStreams[i+1:]...)
			}
			return true
		}
	}
	return false
}

// queuedCall is what a call waiting in a call queue needs to be sent later.
type queuedCall struct {
	m        *wamp.Call
	disclose bool
	timeout  int64
}

// invoke sends the INVOCATION of m to callee and records inv as in flight there. from is the
// caller whose CALL is being handled (flow control, sendAcross), or nil when a queued call is
// sent after a callee freed a slot: the message is then encoded here and queued as the
// router's own.
func (inv *invocation) invoke(callee *session, limit *calleeLimit, m *wamp.Call, disclose bool, timeout int64, from *session) error {
	reg := inv.reg
	id := callee.nextInv + 1
	if id > maxID {
		id = 1
	}
	details := emptyDict
	ppt := pptOptions(m.Options)
	if ppt != nil {
		details = ppt
	}
	if reg.match != matchExact || disclose || inv.progress || timeout > 0 || inv.streaming {
		details = make(wamp.Dict, 4+len(ppt))
		if inv.streaming {
			details["progress"] = true
		}
		addPPT(details, ppt)
		if reg.match != matchExact {
			details["procedure"] = string(m.Procedure)
		}
		if p := inv.as; disclose && p != nil {
			details["caller"], details["caller_authid"], details["caller_authrole"] = uint64(p.id), p.authid, p.authrole
		} else if disclose {
			discloseInto(details, "caller", inv.caller)
		}
		if inv.progress {
			details["receive_progress"] = true
		}
		if timeout > 0 {
			// As Crossbar: the callee learns the caller's timeout and may stop early; the
			// dealer enforces it anyway.
			details["timeout"] = timeout
		}
	}
	msg := &wamp.Invocation{Request: id, Registration: reg.id, Details: details,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}
	if from != nil {
		if err := callee.sendAcross(from, msg); err != nil {
			return err
		}
	} else {
		b, err := callee.codec.Encode(nil, msg)
		if err != nil {
			return err
		}
		callee.sendBytes(msg.Type(), b)
	}
	callee.nextInv = id
	inv.id, inv.callee = id, callee
	callee.invs[id] = inv
	if limit != nil {
		limit.inflight++
		inv.limit = limit
	}
	return nil
}

// callQueue returns the realm store's call-queue entry for procedure u (the first that
// matches), nil when calls to u are not queued.
func (rl *realm) callQueue(u wamp.URI) *config.StoreEntry {
	for i := range rl.callQueues {
		q := &rl.callQueues[i]
		switch q.Match {
		case matchPrefix:
			if strings.HasPrefix(string(u), q.URI) {
				return q
			}
		case matchWildcard:
			if wildcardMatch(q.URI, string(u)) {
				return q
			}
		default:
			if string(u) == q.URI {
				return q
			}
		}
	}
	return nil
}

// drainQueue sends the queued calls of reg, oldest first, while a callee has a free slot.
// Calls of a caller that is leaving are dropped.
func (reg *registration) drainQueue() {
	for len(reg.queue) > 0 && len(reg.callees) > 0 {
		inv := reg.queue[0]
		if inv.caller.left {
			inv.forget()
			continue
		}
		callee, limit := reg.pick()
		if callee == nil {
			return
		}
		reg.queue[0] = nil
		reg.queue = reg.queue[1:]
		q := inv.queued
		inv.queued = nil
		if err := inv.invoke(callee, limit, q.m, q.disclose, q.timeout, nil); err != nil {
			inv.forget()
			inv.caller.sendError(wamp.CALL, inv.call, errInvalidPayload, "the call cannot be passed on to the callee: %v", err)
		}
	}
	if len(reg.queue) == 0 {
		reg.queue = nil
	}
}

// unqueue takes a queued call off its registration's queue (canceled, timed out, or its
// caller left).
func (reg *registration) unqueue(inv *invocation) {
	for i, x := range reg.queue {
		if x == inv {
			reg.queue = append(reg.queue[:i], reg.queue[i+1:]...)
			reg.queue[len(reg.queue):cap(reg.queue)][0] = nil
			return
		}
	}
}

// sendAcross queues m, whose values from's serializer decoded, for s. Between serializers a
// value may have no form (JSON has no NaN or infinities), so m is then encoded here, once, and
// the error returned for the dealer to answer; else the writer would drop m and the call would
// never end. Between sessions of one serializer the writer encodes it as usual.
//
// The message counts against s's byte bound as the client message it was made from (from's
// message being handled), and when it takes s's queue over its high-water mark, from waits
// for s to drain before its next message is read (push-back on callers, and on callees that
// answer a slow caller).
func (s *session) sendAcross(from *session, m wamp.Message) error {
	var congested bool
	if s.codec.Name() == from.codec.Name() {
		congested = s.push(outItem{msg: m, size: from.inLen})
	} else {
		b, err := s.codec.Encode(nil, m)
		if err != nil {
			return err
		}
		congested = s.sendBytes(m.Type(), b)
	}
	if congested {
		from.noteCongested(s)
	}
	return nil
}

// forget takes inv off both sessions' tables and stops its timer.
// A call that frees a callee's concurrency slot lets the oldest queued call of the
// registration go.
func (inv *invocation) forget() {
	if inv.caller != nil && inv.caller.calls[inv.call] == inv {
		delete(inv.caller.calls, inv.call)
	}
	if inv.callee != nil && inv.callee.invs[inv.id] == inv {
		delete(inv.callee.invs, inv.id)
	}
	if inv.queued != nil {
		inv.reg.unqueue(inv)
		inv.queued = nil
	}
	if inv.streaming {
		inv.streaming = false
		c := inv.caller
		if len(c.closedStreams) == maxClosedStreams {
			c.closedStreams = append(c.closedStreams[:0], c.closedStreams[1:]...)
		}
		c.closedStreams = append(c.closedStreams, inv.call)
	}
	if inv.timer != nil {
		inv.timer.Stop()
	}
	if inv.limit != nil {
		inv.limit.inflight--
		inv.limit = nil
		if len(inv.reg.queue) > 0 {
			inv.reg.drainQueue()
		}
	}
}

// abandon answers the caller with wamp.error.canceled now and interrupts the callee when mode
// and the callee's features allow (spec, "Call Canceling": a callee that does not announce
// call_canceling gets "skip").
func (d *dealer) abandon(inv *invocation, mode string, format string, args ...any) {
	inv.forget()
	// A call canceled with kill (inv.mode) has had its INTERRUPT already.
	if mode != cancelSkip && inv.mode == "" && inv.callee != nil && inv.callee.calleeCancel && !inv.callee.left {
		inv.callee.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": mode}})
	}
	if !inv.caller.left {
		inv.caller.sendError(wamp.CALL, inv.call, errCanceled, format, args...)
	}
}

func (s *session) cancel(m *wamp.Cancel) error {
	mode := cancelKillNoWait // Crossbar's default when the caller names none
	if x, present := m.Options["mode"]; present {
		mode, _ = x.(string)
		switch mode {
		case cancelSkip, cancelKill, cancelKillNoWait:
		default:
			return s.abort(errProtocolViolation, "invalid cancel mode %v", x)
		}
	}
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	inv := s.calls[m.Request]
	if inv == nil || inv.mode != "" {
		return nil // answered already (spec: the dealer ignores the CANCEL), or canceled with kill
	}
	if mode == cancelKill && inv.callee != nil && inv.callee.calleeCancel {
		// The caller gets whatever the callee answers to INTERRUPT.
		inv.mode = mode
		inv.callee.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": mode}})
		return nil
	}
	if mode == cancelKill {
		mode = cancelSkip
	}
	rl.dealer.abandon(inv, mode, "call canceled by the caller")
	return nil
}

func (s *session) yield(m *wamp.Yield) {
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	inv := s.invs[m.Request]
	if inv == nil {
		return // canceled or timed out meanwhile: spec says ignore
	}
	if inv.internal != nil {
		if p, _ := optBool(m.Options, "progress"); !p {
			inv.forget()
			inv.answerInternal(&wamp.Result{Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}, nil)
		}
		return
	}
	ppt := pptOptions(m.Options)
	if p, _ := optBool(m.Options, "progress"); p {
		if inv.progress {
			d := wamp.Dict{"progress": true}
			addPPT(d, ppt)
			if err := inv.caller.sendAcross(s, &wamp.Result{Request: inv.call, Details: d,
				Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}); err != nil {
				// The caller would miss part of the results: end the call.
				inv.forget()
				if s.calleeCancel {
					s.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": cancelKillNoWait}})
				}
				inv.caller.sendError(wamp.CALL, inv.call, errInvalidPayload, "a progressive result cannot be passed on to the caller: %v", err)
			}
		}
		return
	}
	inv.forget()
	details := emptyDict
	if ppt != nil {
		details = ppt
	}
	if err := inv.caller.sendAcross(s, &wamp.Result{Request: inv.call, Details: details, Arguments: m.Arguments,
		ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}); err != nil {
		inv.caller.sendError(wamp.CALL, inv.call, errInvalidPayload, "the result cannot be passed on to the caller: %v", err)
	}
}

func (s *session) invocationError(m *wamp.Error) {
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	inv := s.invs[m.Request]
	if inv == nil {
		return
	}
	inv.forget()
	if inv.internal != nil {
		inv.answerInternal(nil, &calleeError{uri: m.Error, args: m.Arguments})
		return
	}
	details := m.Details
	if details == nil {
		details = emptyDict
	}
	if err := inv.caller.sendAcross(s, &wamp.Error{RequestType: wamp.CALL, Request: inv.call, Details: details,
		Error: m.Error, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}); err != nil {
		inv.caller.sendError(wamp.CALL, inv.call, errInvalidPayload, "the callee's error cannot be passed on to the caller: %v", err)
	}
}

// sessionLeft drops s's registrations and settles its calls: calls s made are interrupted at
// their callees, calls s was serving fail with wamp.error.canceled (as in Crossbar).
func (d *dealer) sessionLeft(rl *realm, s *session) {
	for _, inv := range s.calls {
		inv.forget()
		if inv.callee != nil && inv.callee.calleeCancel && inv.callee != s && inv.mode == "" {
			inv.callee.send(&wamp.Interrupt{Request: inv.id, Options: wamp.Dict{"mode": cancelKillNoWait}})
		}
	}
	for _, inv := range s.invs {
		inv.forget()
		if inv.internal != nil {
			inv.answerInternal(nil, errors.New("the callee left"))
		} else if inv.caller != s {
			inv.caller.sendError(wamp.CALL, inv.call, errCanceled, "callee disconnected from in-flight request")
		}
	}
	for _, reg := range s.regs {
		rl.dealerOf(reg).removeCallee(rl, reg, s)
	}
}
