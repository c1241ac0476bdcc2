package router

import (
	"slices"

	"portico/router/wamp"
)

// The meta API across the nodes of a cluster (Options.Cluster). A meta procedure of
// clusterMerges runs here first, under realm.mu, as on a single node; when the answer needs
// the other nodes (a count, a list, or a session, registration or subscription this node does
// not have), the cluster asks each live node for its part (Router.MetaPart there) and the
// answer is merged and sent when they have answered, or their time is up: the realm's lock
// and the caller's session are not held meanwhile. Session, registration and subscription IDs
// are all drawn at random in [1, 2^53] (globalID), so the IDs of different nodes do not
// collide in merged lists (no more than two sessions' IDs do); each node has its own
// registration or subscription for a URI its sessions use, so a merged list can hold one per
// node for the same URI.

// metaMerge says how the nodes' answers to a meta procedure make one.
type metaMerge uint8

const (
	// mergeSum adds the counts up (session.count).
	mergeSum metaMerge = iota + 1
	// mergeIDs joins the nodes' lists of IDs (session.list, kill_by_*).
	mergeIDs
	// mergeMatchIDs joins lists of IDs where none is null (subscription.match).
	mergeMatchIDs
	// mergeByMatch joins {"exact": [...], "prefix": [...], "wildcard": [...]} (*.list).
	mergeByMatch
	// mergeFind answers from the node that has the session, registration or subscription
	// (get, kill, callees, subscribers, remove_*): this node's answer when it has it, else the
	// first node's, by name, that does; when none has it, the error of the node that got
	// furthest (found the session but not the registration, for remove_callee).
	mergeFind
	// mergeFirst is this node's ID when it has one, else the first node's, by name (lookup).
	mergeFirst
	// mergeSpecific is this node's registration when one matches (a call goes to a local
	// callee first), else the most specific one of the other nodes, as a call would pick
	// (registration.match).
	mergeSpecific
)

// clusterMerges are the meta procedures that answer for the whole cluster.
var clusterMerges = map[wamp.URI]metaMerge{
	"wamp.session.count":            mergeSum,
	"wamp.session.list":             mergeIDs,
	"wamp.session.get":              mergeFind,
	"wamp.session.kill":             mergeFind,
	"wamp.session.kill_by_authid":   mergeIDs,
	"wamp.session.kill_by_authrole": mergeIDs,

	"wamp.registration.list":          mergeByMatch,
	"wamp.registration.lookup":        mergeFirst,
	"wamp.registration.match":         mergeSpecific,
	"wamp.registration.get":           mergeFind,
	"wamp.registration.list_callees":  mergeFind,
	"wamp.registration.count_callees": mergeFind,
	"wamp.registration.remove_callee": mergeFind,

	"wamp.subscription.list":              mergeByMatch,
	"wamp.subscription.lookup":            mergeFirst,
	"wamp.subscription.match":             mergeMatchIDs,
	"wamp.subscription.get":               mergeFind,
	"wamp.subscription.list_subscribers":  mergeFind,
	"wamp.subscription.count_subscribers": mergeFind,
	"wamp.subscription.remove_subscriber": mergeFind,
}

// ClusterTrusted is the option of a meta query (MetaPart) that says whether the caller may
// see the peers' addresses (it did not join a realm made on HELLO anonymously).
const ClusterTrusted = "x_cluster_trusted"

// callMetaCluster answers a meta procedure of clusterMerges (under rl.mu).
func (rl *realm) callMetaCluster(s *session, m *wamp.Call, h metaProcedure, mg metaMerge) {
	local := metaAnswer(h(rl, s, m.Arguments, m.ArgumentsKw))
	if !needsOthers(mg, local) {
		setRequest(local, m.Request)
		s.send(local)
		return
	}
	if n := s.lim.MaxCallsInFlight; s.clusterMeta >= n {
		s.sendLimitError(wamp.CALL, m.Request, "max_calls_in_flight", n,
			"this session has %d meta calls waiting for the cluster, the bound of max_calls_in_flight", n)
		return
	}
	q := &wamp.Call{Request: m.Request, Options: wamp.Dict{ClusterTrusted: !s.untrusted}, Procedure: m.Procedure,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw}
	req, proc := m.Request, m.Procedure
	asked := rl.cluster.Meta(rl.name, q, func(parts []wamp.Message) {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		s.clusterMeta--
		if s.left {
			return
		}
		a := mergeMeta(mg, proc, local, parts)
		setRequest(a, req)
		s.send(a)
	})
	if !asked { // no other node alive
		setRequest(local, m.Request)
		s.send(local)
		return
	}
	s.clusterMeta++
}

// metaAnswer is a meta procedure's answer as the RESULT or ERROR it sends (request unset).
func metaAnswer(res wamp.List, err *metaError) wamp.Message {
	if err != nil {
		return &wamp.Error{RequestType: wamp.CALL, Details: wamp.Dict{}, Error: err.uri, Arguments: wamp.List{err.msg}, ArgumentsKw: err.kw}
	}
	return &wamp.Result{Details: wamp.Dict{}, Arguments: res}
}

// setRequest sets the request ID of a meta answer.
func setRequest(a wamp.Message, req wamp.ID) {
	switch a := a.(type) {
	case *wamp.Result:
		a.Request = req
	case *wamp.Error:
		a.Request = req
	}
}

// notFound reports whether a is an ERROR saying that the node has no such session,
// registration or subscription (or realm): another node may have it.
func notFound(a wamp.Message) bool {
	e, ok := a.(*wamp.Error)
	if !ok {
		return false
	}
	switch e.Error {
	case errNoSuchSession, errNoSuchRegistration, errNoSuchSubscription, errNoSuchRealm:
		return true
	}
	return false
}

// foundRank orders the not-found ERRORs of mergeFind by how far the node got: a node without
// the realm, one without the session, one with the session but without the registration or
// subscription (remove_callee, remove_subscriber look the session up first, and a session is
// on one node only).
func foundRank(a wamp.Message) int {
	e, _ := a.(*wamp.Error)
	if e == nil {
		return 0
	}
	switch e.Error {
	case errNoSuchSession:
		return 1
	case errNoSuchRegistration, errNoSuchSubscription:
		return 2
	}
	return 0
}

// firstArg is a RESULT's first argument (nil for an ERROR or none).
func firstArg(a wamp.Message) any {
	if r, ok := a.(*wamp.Result); ok && len(r.Arguments) > 0 {
		return r.Arguments[0]
	}
	return nil
}

// needsOthers reports whether the answer of this node, local, is not the whole answer.
func needsOthers(mg metaMerge, local wamp.Message) bool {
	if _, bad := local.(*wamp.Error); bad {
		return notFound(local) // a bad argument is bad on every node
	}
	switch mg {
	case mergeFind:
		return false // found here
	case mergeFirst, mergeSpecific:
		return firstArg(local) == nil
	}
	return true
}

// mergeMeta makes one answer of this node's, local, and the other nodes' parts (by node name;
// an ERROR no_such_realm is a node without the realm).
func mergeMeta(mg metaMerge, proc wamp.URI, local wamp.Message, parts []wamp.Message) wamp.Message {
	all := append([]wamp.Message{local}, parts...)
	switch mg {
	case mergeSum:
		var n int64
		for _, a := range all {
			if x, ok := toInt(firstArg(a)); ok {
				n += x
			}
		}
		return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{n}}
	case mergeIDs, mergeMatchIDs:
		var ids []uint64
		for _, a := range all {
			ids = appendIDs(ids, firstArg(a))
		}
		if mg == mergeMatchIDs && len(ids) == 0 {
			return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{nil}}
		}
		return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{idList(ids)}}
	case mergeByMatch:
		out := wamp.Dict{}
		for _, match := range []string{matchExact, matchPrefix, matchWildcard} {
			var ids []uint64
			for _, a := range all {
				if d, ok := firstArg(a).(wamp.Dict); ok {
					ids = appendIDs(ids, d[match])
				}
			}
			out[match] = idList(ids)
		}
		return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{out}}
	case mergeFind:
		for _, a := range all {
			if _, ok := a.(*wamp.Result); ok {
				return a
			}
		}
		for _, a := range parts {
			if !notFound(a) {
				return a // the node that has it refused (say, a bad reason URI)
			}
		}
		best := local
		for _, a := range parts {
			if foundRank(a) > foundRank(best) {
				best = a
			}
		}
		return best
	case mergeFirst:
		for _, a := range all {
			if firstArg(a) != nil {
				return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{firstArg(a)}}
			}
		}
	case mergeSpecific:
		var best wamp.Message
		var bu, bm string
		for _, a := range parts {
			r, ok := a.(*wamp.Result)
			if !ok || firstArg(a) == nil {
				continue
			}
			u, _ := r.ArgumentsKw["uri"].(string)
			m, _ := r.ArgumentsKw["match"].(string)
			if best == nil || moreSpecific(u, m, bu, bm) {
				best, bu, bm = a, u, m
			}
		}
		if best != nil {
			return &wamp.Result{Details: wamp.Dict{}, Arguments: wamp.List{firstArg(best)}}
		}
	}
	return local
}

// moreSpecific reports whether registration pattern (u, m) wins over (bu, bm) for a call
// (spec, "Pattern-based Registrations"): exact, then the longest prefix, then a wildcard;
// on a tie the one before (the first node by name) stays.
func moreSpecific(u, m, bu, bm string) bool {
	rank := func(m string) int {
		switch m {
		case matchExact:
			return 0
		case matchPrefix:
			return 1
		}
		return 2
	}
	if rank(m) != rank(bm) {
		return rank(m) < rank(bm)
	}
	return m == matchPrefix && len(u) > len(bu)
}

// appendIDs appends the IDs in list x (a decoded list of numbers).
func appendIDs(ids []uint64, x any) []uint64 {
	l, _ := x.([]any)
	for _, v := range l {
		if id, ok := toInt(v); ok && id > 0 {
			ids = append(ids, uint64(id))
		}
	}
	return ids
}

// idList is ids sorted, without repeats, as a list.
func idList(ids []uint64) []any {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// MetaPart answers, for another node, this node's part of the meta procedure m on realm (a
// procedure of clusterMerges; m.Options[ClusterTrusted] as the caller's). The answer is a
// RESULT or ERROR with m's request ID; a realm this node does not have is ERROR
// wamp.error.no_such_realm. The kill procedures end this node's sessions they name.
func (r *Router) MetaPart(realm wamp.URI, m *wamp.Call) wamp.Message {
	var a wamp.Message
	rl := r.existing(realm)
	h := metaProcedures[m.Procedure]
	switch {
	case rl == nil:
		a = &wamp.Error{RequestType: wamp.CALL, Details: wamp.Dict{}, Error: errNoSuchRealm, Arguments: wamp.List{"no realm " + string(realm) + " on this node"}}
	case h == nil || clusterMerges[m.Procedure] == 0:
		a = &wamp.Error{RequestType: wamp.CALL, Details: wamp.Dict{}, Error: errNoSuchProcedure, Arguments: wamp.List{"not a cluster-wide meta procedure: " + string(m.Procedure)}}
	default:
		trusted, _ := m.Options[ClusterTrusted].(bool)
		caller := &session{untrusted: !trusted} // of another node: never one of this node's
		rl.mu.Lock()
		res, err := h(rl, caller, m.Arguments, m.ArgumentsKw)
		a = metaAnswer(res, err)
		if r, ok := a.(*wamp.Result); ok && m.Procedure == "wamp.registration.match" && firstArg(a) != nil {
			// For mergeSpecific on the asking node.
			id, _ := toInt(firstArg(a))
			if reg := rl.dealer.byID[wamp.ID(id)]; reg != nil {
				r.ArgumentsKw = wamp.Dict{"uri": string(reg.uri), "match": reg.match}
			}
		}
		rl.mu.Unlock()
	}
	setRequest(a, m.Request)
	return a
}
