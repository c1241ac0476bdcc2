package router

import (
	"fmt"
	"sort"

	"portico/router/wamp"
)

// The WAMP meta API (spec, "Session Meta API", "Registration Meta API", "Subscription Meta
// API", "Testament Meta API"): procedures the router answers itself and events it publishes.
// Argument shapes and results follow Crossbar's implementation where the spec leaves room.
// Meta procedures run under realm.mu; they only read realm state and queue messages. In a
// cluster, those of clusterMerges also ask the other nodes and answer later
// (cluster_meta.go).

// metaError is an ERROR a meta procedure answers with.
type metaError struct {
	uri wamp.URI
	msg string
	kw  wamp.Dict
}

func metaErr(uri wamp.URI, format string, args ...any) *metaError {
	return &metaError{uri: uri, msg: fmt.Sprintf(format, args...)}
}

// limitErr is a meta procedure's answer over one of the session's bounds, as
// session.sendLimitError.
func limitErr(key string, limit int, format string, args ...any) *metaError {
	return &metaError{uri: errLimitExceeded, msg: fmt.Sprintf(format, args...),
		kw: wamp.Dict{"limit": key, "value": int64(limit)}}
}

type metaProcedure func(rl *realm, caller *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError)

var metaProcedures map[wamp.URI]metaProcedure

// killProcedures are the meta procedures that end other sessions. A realm created on HELLO
// does not give them to its clients that did not authenticate (session.untrusted): there,
// anyone who can reach the router is such a client, and one call would end every session.
// A configured realm leaves them to its roles' permissions, as Crossbar does.
var killProcedures = map[wamp.URI]bool{
	"wamp.session.kill":             true,
	"wamp.session.kill_by_authid":   true,
	"wamp.session.kill_by_authrole": true,
	"wamp.session.kill_all":         true,

	"wamp.registration.remove_callee":     true,
	"wamp.subscription.remove_subscriber": true,
}

func init() {
	metaProcedures = map[wamp.URI]metaProcedure{
		"wamp.session.count":            metaSessionCount,
		"wamp.session.list":             metaSessionList,
		"wamp.session.get":              metaSessionGet,
		"wamp.session.kill":             metaSessionKill,
		"wamp.session.kill_by_authid":   metaSessionKillBy("authid"),
		"wamp.session.kill_by_authrole": metaSessionKillBy("authrole"),
		"wamp.session.add_testament":    metaAddTestament,
		"wamp.session.flush_testaments": metaFlushTestaments,

		"wamp.registration.list":          metaRegistrationList,
		"wamp.registration.lookup":        metaRegistrationLookup,
		"wamp.registration.match":         metaRegistrationMatch,
		"wamp.registration.get":           metaRegistrationGet,
		"wamp.registration.list_callees":  metaRegistrationCallees(false),
		"wamp.registration.count_callees": metaRegistrationCallees(true),
		"wamp.registration.remove_callee": metaRemoveCallee,

		"wamp.subscription.list":              metaSubscriptionList,
		"wamp.subscription.lookup":            metaSubscriptionLookup,
		"wamp.subscription.match":             metaSubscriptionMatch,
		"wamp.subscription.get":               metaSubscriptionGet,
		"wamp.subscription.list_subscribers":  metaSubscriptionSubscribers(false),
		"wamp.subscription.count_subscribers": metaSubscriptionSubscribers(true),
		"wamp.subscription.remove_subscriber": metaRemoveSubscriber,
		"wamp.subscription.get_events":        metaGetEvents,
	}
}

// callMeta answers a CALL to a meta procedure.
func (rl *realm) callMeta(s *session, m *wamp.Call, h metaProcedure) {
	if s.untrusted && killProcedures[m.Procedure] {
		s.sendError(wamp.CALL, m.Request, errNotAuthorized,
			"session is not authorized to call procedure %q: a realm created on HELLO gives it to authenticated clients only (configure the realm and its roles to grant it)", m.Procedure)
		return
	}
	if rl.cluster != nil {
		if mg := clusterMerges[m.Procedure]; mg != 0 {
			rl.callMetaCluster(s, m, h, mg)
			return
		}
	}
	res, err := h(rl, s, m.Arguments, m.ArgumentsKw)
	if err != nil {
		s.send(&wamp.Error{RequestType: wamp.CALL, Request: m.Request, Details: wamp.Dict{},
			Error: err.uri, Arguments: wamp.List{err.msg}, ArgumentsKw: err.kw})
		return
	}
	s.send(&wamp.Result{Request: m.Request, Details: wamp.Dict{}, Arguments: res})
}

// metaEvent publishes a meta event about the subscription or registration on uri. As in
// Crossbar, subscriptions and registrations on the meta API's own URIs ("wamp.") raise none.
func (rl *realm) metaEvent(uri wamp.URI, topic wamp.URI, args wamp.List) {
	if restrictedURI(uri) {
		return
	}
	rl.metaPublish(topic, args)
}

// metaSessionJoin publishes on_join. A realm created on HELLO leaves the peer's address out:
// the event is encoded once for all its subscribers, and they may be anonymous.
func (rl *realm) metaSessionJoin(s *session) {
	if s.info.ClusterLink {
		return // the cluster's own session is not in the meta API
	}
	rl.metaPublish("wamp.session.on_join", wamp.List{s.sessionDetails(!rl.dynamic)})
}

// metaSessionLeave publishes on_leave with the session's ID only, as Crossbar does
// (crossbar/router/session.py); the spec's later (session, authid, authrole) would break
// handlers written against Crossbar, such as crossbar-examples' metaapi monitor's
// on_session_leave(session_id), which autobahn-python calls with every positional argument.
func (rl *realm) metaSessionLeave(s *session) {
	if s.info.ClusterLink {
		return
	}
	rl.metaPublish("wamp.session.on_leave", wamp.List{uint64(s.id)})
}

// metaPublish publishes a meta event to this node's subscribers and, in a cluster, to the
// other nodes' (once, from the node where it happened).
func (rl *realm) metaPublish(topic wamp.URI, args wamp.List) {
	id := rl.publishLocked(nil, topic, args, nil, nil, &publishOpts{})
	if rl.cluster != nil {
		rl.cluster.Published(rl.name, &wamp.Publish{Options: wamp.Dict{}, Topic: topic, Arguments: args}, id, nil)
	}
}

// filterAuthroles reads the optional filter_authroles argument of count/list.
func filterAuthroles(args wamp.List) ([]string, bool, *metaError) {
	if len(args) == 0 || args[0] == nil {
		return nil, false, nil
	}
	l, ok := args[0].([]any)
	if !ok {
		return nil, false, metaErr(errInvalidArgument, "filter_authroles must be a list of strings")
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, false, metaErr(errInvalidArgument, "filter_authroles must be a list of strings")
		}
		out = append(out, s)
	}
	return out, true, nil
}

func (rl *realm) sessionIDs(args wamp.List) ([]any, *metaError) {
	roles, filter, err := filterAuthroles(args)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(rl.sessions))
	for id, s := range rl.sessions {
		if !s.info.ClusterLink && (!filter || containsString(roles, s.authrole)) {
			ids = append(ids, uint64(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out, nil
}

func metaSessionCount(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	ids, err := rl.sessionIDs(args)
	if err != nil {
		return nil, err
	}
	return wamp.List{int64(len(ids))}, nil
}

func metaSessionList(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	ids, err := rl.sessionIDs(args)
	if err != nil {
		return nil, err
	}
	return wamp.List{ids}, nil
}

func (rl *realm) sessionArg(args wamp.List) (*session, *metaError) {
	id, ok := argID(args, 0)
	if !ok {
		return nil, metaErr(errInvalidArgument, "expected a session ID as the first argument")
	}
	s := rl.sessions[id]
	if s == nil || s.info.ClusterLink {
		return nil, metaErr(errNoSuchSession, "no session with ID %d", id)
	}
	return s, nil
}

func metaSessionGet(rl *realm, caller *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	s, err := rl.sessionArg(args)
	if err != nil {
		return nil, err
	}
	return wamp.List{s.sessionDetails(!caller.untrusted)}, nil
}

// killReason reads the reason and message keyword arguments of the kill procedures.
func killReason(kw wamp.Dict) (wamp.URI, string, *metaError) {
	reason := closeKilled
	if x, present := kw["reason"]; present && x != nil {
		s, ok := x.(string)
		if !ok || checkURI(wamp.URI(s), false, matchExact) != nil {
			return "", "", metaErr(errInvalidURI, "invalid reason URI %v", x)
		}
		reason = wamp.URI(s)
	}
	msg, _ := optString(kw, "message")
	return reason, msg, nil
}

func metaSessionKill(rl *realm, caller *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	s, err := rl.sessionArg(args)
	if err != nil {
		return nil, err
	}
	if s == caller {
		return nil, metaErr(errInvalidArgument, "a session cannot kill itself (use GOODBYE)")
	}
	reason, msg, err := killReason(kw)
	if err != nil {
		return nil, err
	}
	s.sendGoodbye(reason, msg)
	return wamp.List{}, nil
}

// metaSessionKillBy kills every session (but the caller) with the given authid or authrole and
// returns their IDs.
func metaSessionKillBy(key string) metaProcedure {
	return func(rl *realm, caller *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
		want, ok := argString(args, 0)
		if !ok {
			return nil, metaErr(errInvalidArgument, "expected the %s as the first argument", key)
		}
		reason, msg, err := killReason(kw)
		if err != nil {
			return nil, err
		}
		killed := []any{}
		for id, s := range rl.sessions {
			v := s.authid
			if key == "authrole" {
				v = s.authrole
			}
			if s != caller && v == want && !s.info.ClusterLink {
				s.sendGoodbye(reason, msg)
				killed = append(killed, uint64(id))
			}
		}
		return wamp.List{killed}, nil
	}
}

// testament is an event published on the session's behalf when it goes (spec, "Testament Meta
// API").
type testament struct {
	topic  wamp.URI
	args   wamp.List
	kwargs wamp.Dict
	opts   publishOpts
	raw    wamp.Dict // publish_options as given, for the cluster
	size   int       // encoded, for max_testament_bytes
}

func testamentScope(kw wamp.Dict) (string, *metaError) {
	scope := "destroyed"
	if x, present := kw["scope"]; present && x != nil {
		s, _ := x.(string)
		if s != "destroyed" && s != "detached" {
			return "", metaErr(errInvalidArgument, "scope must be \"destroyed\" or \"detached\", not %v", x)
		}
		scope = s
	}
	return scope, nil
}

// metaAddTestament: wamp.session.add_testament(topic, args, kwargs, publish_options=, scope=).
func metaAddTestament(rl *realm, caller *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	topic, ok := argString(args, 0)
	if ok && caller.uriTooLong(wamp.URI(topic)) {
		return nil, metaErr(errInvalidURI, "invalid topic URI: %d bytes, longer than max_uri_length (%d)", len(topic), caller.lim.MaxURILength)
	}
	if !ok || checkURI(wamp.URI(topic), false, matchExact) != nil {
		return nil, metaErr(errInvalidURI, "expected a topic URI as the first argument")
	}
	if restrictedURI(wamp.URI(topic)) {
		// As a PUBLISH would be: the router alone publishes on "wamp." topics.
		return nil, metaErr(errInvalidURI, "testament with restricted topic URI %q", topic)
	}
	var targs wamp.List
	if len(args) > 1 && args[1] != nil {
		if targs, ok = args[1].([]any); !ok {
			return nil, metaErr(errInvalidArgument, "the testament's args must be a list")
		}
	}
	tkw, ok := argDict(args, 2)
	if !ok {
		return nil, metaErr(errInvalidArgument, "the testament's kwargs must be a dict")
	}
	popts, _ := kw["publish_options"].(map[string]any)
	o, bad := parsePublishOpts(popts)
	if bad != "" {
		return nil, metaErr(errInvalidArgument, "invalid publish option %q", bad)
	}
	scope, err := testamentScope(kw)
	if err != nil {
		return nil, err
	}
	if caller.role.authz != nil {
		// The meta procedure runs under the realm's lock, where the authorizer cannot be
		// called.
		return nil, metaErr(errNotAuthorized, "testaments are not supported yet for a role with a dynamic authorizer")
	}
	allowed, disclose := caller.role.allowed(actPublish, wamp.URI(topic))
	if !allowed {
		return nil, metaErr(errNotAuthorized, "session is not authorized to publish to topic %q", topic)
	}
	o.disclose = o.disclose || disclose
	o.excludeMe = false
	// The bounds: testaments are published together when the session leaves, so their number
	// and size are what one departure sends every subscriber at once.
	if n := caller.lim.MaxTestaments; caller.testamentCount >= n {
		return nil, limitErr("max_testaments", n, "this session has %d testaments, the bound of max_testaments", n)
	}
	enc, encErr := caller.codec.Encode(nil, &wamp.Publish{Request: 1, Options: emptyDict, Topic: wamp.URI(topic), Arguments: targs, ArgumentsKw: tkw})
	if encErr != nil {
		return nil, metaErr(errInvalidArgument, "the testament cannot be encoded: %v", encErr)
	}
	if n := caller.lim.MaxTestamentBytes; caller.testamentBytes+len(enc) > n {
		return nil, limitErr("max_testament_bytes", n, "this session's testaments would take %d bytes, over max_testament_bytes (%d)", caller.testamentBytes+len(enc), n)
	}
	if caller.testaments == nil {
		caller.testaments = make(map[string][]testament)
	}
	caller.testaments[scope] = append(caller.testaments[scope], testament{topic: wamp.URI(topic), args: targs, kwargs: tkw, opts: o, raw: popts, size: len(enc)})
	caller.testamentCount++
	caller.testamentBytes += len(enc)
	rl.clusterTestaments(caller)
	return wamp.List{}, nil
}

// metaFlushTestaments: wamp.session.flush_testaments(scope=) returns how many were dropped.
func metaFlushTestaments(rl *realm, caller *session, _ wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	scope, err := testamentScope(kw)
	if err != nil {
		return nil, err
	}
	n := len(caller.testaments[scope])
	for _, t := range caller.testaments[scope] {
		caller.testamentBytes -= t.size
	}
	caller.testamentCount -= n
	delete(caller.testaments, scope)
	if n > 0 {
		rl.clusterTestaments(caller)
	}
	return wamp.List{int64(n)}, nil
}

// idLists groups IDs by match policy: {"exact": [...], "prefix": [...], "wildcard": [...]}.
func idLists[T any](items map[wamp.ID]T, uriOf func(T) (wamp.URI, string)) wamp.Dict {
	out := wamp.Dict{matchExact: []any{}, matchPrefix: []any{}, matchWildcard: []any{}}
	ids := make([]wamp.ID, 0, len(items))
	for id := range items {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		uri, match := uriOf(items[id])
		if restrictedURI(uri) {
			continue
		}
		out[match] = append(out[match].([]any), uint64(id))
	}
	return out
}

// lookupArgs reads (uri, options) of the lookup procedures.
func lookupArgs(args wamp.List) (wamp.URI, string, *metaError) {
	uri, ok := argString(args, 0)
	if !ok {
		return "", "", metaErr(errInvalidArgument, "expected a URI as the first argument")
	}
	opts, ok := argDict(args, 1)
	if !ok {
		return "", "", metaErr(errInvalidArgument, "the options must be a dict")
	}
	match, ok := matchOption(opts)
	if !ok {
		return "", "", metaErr(errInvalidArgument, "invalid match policy %v", opts["match"])
	}
	return wamp.URI(uri), match, nil
}

func metaRegistrationList(rl *realm, _ *session, _ wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	return wamp.List{idLists(rl.dealer.byID, func(r *registration) (wamp.URI, string) { return r.uri, r.match })}, nil
}

func metaRegistrationLookup(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	uri, match, err := lookupArgs(args)
	if err != nil {
		return nil, err
	}
	var reg *registration
	if match == matchExact {
		reg = rl.dealer.exact[uri]
	} else {
		reg = rl.dealer.patterns[patternKey{uri, match}]
	}
	if reg == nil {
		return wamp.List{nil}, nil
	}
	return wamp.List{uint64(reg.id)}, nil
}

func metaRegistrationMatch(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	uri, ok := argString(args, 0)
	if !ok {
		return nil, metaErr(errInvalidArgument, "expected a procedure URI as the first argument")
	}
	reg := rl.dealer.lookup(wamp.URI(uri))
	if reg == nil {
		return wamp.List{nil}, nil
	}
	return wamp.List{uint64(reg.id)}, nil
}

func (rl *realm) registrationArg(args wamp.List) (*registration, *metaError) {
	id, ok := argID(args, 0)
	if !ok {
		return nil, metaErr(errInvalidArgument, "expected a registration ID as the first argument")
	}
	reg := rl.dealer.byID[id]
	if reg == nil {
		return nil, metaErr(errNoSuchRegistration, "no registration with ID %d", id)
	}
	return reg, nil
}

func metaRegistrationGet(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	reg, err := rl.registrationArg(args)
	if err != nil {
		return nil, err
	}
	return wamp.List{reg.details()}, nil
}

func metaRegistrationCallees(count bool) metaProcedure {
	return func(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
		reg, err := rl.registrationArg(args)
		if err != nil {
			return nil, err
		}
		if count {
			return wamp.List{int64(len(reg.callees))}, nil
		}
		ids := make([]any, len(reg.callees))
		for i, s := range reg.callees {
			ids[i] = uint64(s.id)
		}
		return wamp.List{ids}, nil
	}
}

func metaSubscriptionList(rl *realm, _ *session, _ wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	return wamp.List{idLists(rl.broker.byID, func(s *subscription) (wamp.URI, string) { return s.uri, s.match })}, nil
}

func metaSubscriptionLookup(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	uri, match, err := lookupArgs(args)
	if err != nil {
		return nil, err
	}
	var sub *subscription
	if match == matchExact {
		sub = rl.broker.exact[uri]
	} else {
		sub = rl.broker.patterns[patternKey{uri, match}]
	}
	if sub == nil {
		return wamp.List{nil}, nil
	}
	return wamp.List{uint64(sub.id)}, nil
}

func metaSubscriptionMatch(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	topic, ok := argString(args, 0)
	if !ok {
		return nil, metaErr(errInvalidArgument, "expected a topic URI as the first argument")
	}
	subs := rl.broker.match(wamp.URI(topic))
	if len(subs) == 0 {
		return wamp.List{nil}, nil
	}
	ids := make([]any, 0, len(subs))
	for _, sub := range subs {
		ids = append(ids, uint64(sub.id))
	}
	clear(rl.broker.matched)
	return wamp.List{ids}, nil
}

func (rl *realm) subscriptionArg(args wamp.List) (*subscription, *metaError) {
	id, ok := argID(args, 0)
	if !ok {
		return nil, metaErr(errInvalidArgument, "expected a subscription ID as the first argument")
	}
	sub := rl.broker.byID[id]
	if sub == nil {
		return nil, metaErr(errNoSuchSubscription, "no subscription with ID %d", id)
	}
	return sub, nil
}

func metaSubscriptionGet(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
	sub, err := rl.subscriptionArg(args)
	if err != nil {
		return nil, err
	}
	return wamp.List{sub.details()}, nil
}

func metaSubscriptionSubscribers(count bool) metaProcedure {
	return func(rl *realm, _ *session, args wamp.List, _ wamp.Dict) (wamp.List, *metaError) {
		sub, err := rl.subscriptionArg(args)
		if err != nil {
			return nil, err
		}
		if count {
			return wamp.List{int64(len(sub.subscribers))}, nil
		}
		ids := make([]any, len(sub.subscribers))
		for i, s := range sub.subscribers {
			ids[i] = uint64(s.id)
		}
		return wamp.List{ids}, nil
	}
}

// removeArgs reads the arguments of remove_callee and remove_subscriber as Crossbar takes them:
// (registration or subscription ID, session ID, reason=None), reason positional or keyword. It
// returns the session and the reason ("" for none). As in Crossbar, the session is looked up
// before the registration or subscription.
func (rl *realm) removeArgs(args wamp.List, kw wamp.Dict) (*session, string, *metaError) {
	id, ok := argID(args, 1)
	if !ok {
		return nil, "", metaErr(errInvalidArgument, "expected a session ID as the second argument")
	}
	s := rl.sessions[id]
	if s == nil {
		return nil, "", metaErr(errNoSuchSession, "no session with ID %d exists on this router", id)
	}
	x, present := kw["reason"]
	if !present && len(args) > 2 {
		x = args[2]
	}
	if x == nil {
		return s, "", nil
	}
	reason, ok := x.(string)
	if !ok || checkURI(wamp.URI(reason), false, matchExact) != nil {
		return nil, "", metaErr(errInvalidURI, "invalid reason URI %v", x)
	}
	return s, reason, nil
}

// metaRemoveCallee forcefully takes a callee off a registration (Crossbar's
// wamp.registration.remove_callee); the callee learns it by UNREGISTERED when it announced
// registration_revocation. The meta API's own registrations cannot be touched.
func metaRemoveCallee(rl *realm, _ *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	s, reason, err := rl.removeArgs(args, kw)
	if err != nil {
		return nil, err
	}
	reg, err := rl.registrationArg(args)
	if err != nil {
		return nil, err
	}
	if restrictedURI(reg.uri) {
		return nil, metaErr(errNotAuthorized, "not authorized to remove callee for protected URI %q", reg.uri)
	}
	if s.regs[reg.id] != reg {
		return nil, metaErr(errNoSuchRegistration, "session %d is not registered on registration %d on this dealer", s.id, reg.id)
	}
	id := reg.id
	rl.dealer.removeCallee(rl, reg, s)
	if s.calleeRevoke {
		s.send(&wamp.Unregistered{Request: 0, Details: revocation("registration", id, reason)})
	}
	return wamp.List{}, nil
}

// metaRemoveSubscriber forcefully takes a subscriber off a subscription (Crossbar's
// wamp.subscription.remove_subscriber), as metaRemoveCallee does a callee.
func metaRemoveSubscriber(rl *realm, _ *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	s, reason, err := rl.removeArgs(args, kw)
	if err != nil {
		return nil, err
	}
	sub, err := rl.subscriptionArg(args)
	if err != nil {
		return nil, err
	}
	if restrictedURI(sub.uri) {
		return nil, metaErr(errNotAuthorized, "not authorized to remove subscriber for protected URI %q", sub.uri)
	}
	if s.subs[sub.id] != sub {
		return nil, metaErr(errNoSuchSubscription, "session %d is not subscribed on subscription %d on this broker", s.id, sub.id)
	}
	id := sub.id
	rl.broker.removeSubscriber(rl, sub, s)
	if s.subscriberRevoke {
		s.send(&wamp.Unsubscribed{Request: 0, Details: revocation("subscription", id, reason)})
	}
	return wamp.List{}, nil
}

// revocation is the details of an UNREGISTERED or UNSUBSCRIBED the router sends on its own
// (request 0, WAMP spec "Registration Revocation"): key ("registration" or "subscription")
// names the id, and the reason is given when there is one.
func revocation(key string, id wamp.ID, reason string) wamp.Dict {
	d := wamp.Dict{key: uint64(id)}
	if reason != "" {
		d["reason"] = reason
	}
	return d
}
