package router

import (
	"maps"
	"slices"

	"portico/router/wamp"
)

// Cluster is what the router tells the link that spreads its realms over other nodes
// (router/cluster). Local traffic never reaches it but for these two calls, and a router
// without one (Options.Cluster nil) pays one nil check per PUBLISH.
type Cluster interface {
	// Published is called after a local session's PUBLISH was delivered to this node's
	// subscribers, outside realm.mu, on the publisher's reader goroutine. id is the
	// publication ID; publisher is the disclosed identity, nil when not disclosed. It must
	// not keep m or block for long.
	Published(realm wamp.URI, m *wamp.Publish, id wamp.ID, publisher *Publisher)
	// Published is also called, under realm.mu, for the testaments of a session that leaves
	// and for the meta events (on_join, on_register, ...; publisher nil) of this node
	// (Published must not call into the router).
	// RegistrationsChanged is called under realm.mu when a registration of a local callee
	// is created or deleted on realm. It must not block (nor call into the router).
	RegistrationsChanged(realm wamp.URI)
	// TestamentsChanged is called under realm.mu when the testaments of local session id
	// change (wamp.session.add_testament, flush_testaments) and when it leaves (ts nil: it
	// leaves normally and this node publishes them). ts are the PUBLISH messages its
	// testaments send (Request 0; a disclosed publisher in ClusterPublisher), which another
	// node publishes should this one die. It must not block (nor call into the router); it
	// may keep ts, which the router does not change.
	TestamentsChanged(realm wamp.URI, id wamp.ID, ts []*wamp.Publish)
	// Meta asks the other live nodes for their part of the answer to meta call m (each
	// answers with its Router.MetaPart) and calls done once, on a goroutine of its own,
	// with their answers (RESULT or ERROR, in node name order) when every node alive when it
	// asked has answered, or when the wait is over (the nodes that did not answer are left
	// out). It returns false, and never calls done, when no other node is alive. It is
	// called under realm.mu: it must not block (nor call into the router), nor keep m.
	Meta(realm wamp.URI, m *wamp.Call, done func(parts []wamp.Message)) bool
	// RealmCreated is called under Router.mu when a realm is created on a client's HELLO (no
	// realms configured), before any session joins it: the cluster opens its link session on
	// it. It returns the cluster's retained events of realm (PUBLISH messages with retain as
	// RetainRemote takes them), which the new realm starts with. RealmDropped is called under
	// Router.mu (and a realm.mu) when such a realm is freed or dropped: the cluster
	// closes its link session there. Neither may block nor call into the router.
	RealmCreated(realm wamp.URI) []*wamp.Publish
	RealmDropped(realm wamp.URI)
}

// Publisher is a disclosed publisher's identity (spec, "Publisher Identification").
type Publisher struct {
	ID               wamp.ID
	AuthID, AuthRole string
}

// Procedure is one registration's procedure pattern.
type Procedure struct {
	URI   wamp.URI
	Match string // "exact", "prefix" or "wildcard"
	// Invoke is the registration's invocation policy ("single", "roundrobin", ...), which
	// spreads the calls of other nodes over the nodes that have it; "" where it plays no part.
	Invoke string `json:",omitempty"`
}

// Options a cluster link puts on the PUBLISH and CALL messages it hands to the router (read
// only from the cluster link's own session, PeerInfo.ClusterLink, or DeliverRemote).
const (
	// ClusterPublisher is [id, authid, authrole] of a remote publisher to disclose.
	ClusterPublisher = "x_cluster_publisher"
	// ClusterCaller is [id, authid, authrole] of a remote caller to disclose.
	ClusterCaller = "x_cluster_caller"
)

// identity reads [id, authid, authrole].
func identity(x any) *publisher {
	l, ok := x.(wamp.List)
	if !ok {
		l2, ok2 := x.([]any)
		if !ok2 {
			return nil
		}
		l = l2
	}
	if len(l) != 3 {
		return nil
	}
	id, ok := toInt(l[0])
	if !ok || id <= 0 {
		return nil
	}
	authid, _ := l[1].(string)
	authrole, _ := l[2].(string)
	return &publisher{id: wamp.ID(id), authid: authid, authrole: authrole}
}

// DeliverRemote delivers a publication of another node (m.Request is its publication ID) to
// this node's subscribers of realm: matching, black- and whitelists by session, authid and
// authrole, retention, event history (store.go), all as for a local PUBLISH; exclude_me
// concerns a session of the other node and so no local one. A realm this node does not have
// is skipped.
func (r *Router) DeliverRemote(realm wamp.URI, m *wamp.Publish) {
	rl := r.existing(realm)
	if rl == nil {
		return
	}
	o, bad := parsePublishOpts(m.Options)
	if bad != "" {
		r.log.Warn("router: a publication from another node has a bad option, dropped", "realm", realm, "option", bad)
		return
	}
	o.excludeMe = false
	o.remote = true
	o.id = m.Request
	if o.disclose {
		o.from = identity(m.Options[ClusterPublisher])
	}
	rl.mu.Lock()
	rl.publishLocked(nil, m.Topic, m.Arguments, m.ArgumentsKw, m.Payload, &o)
	rl.mu.Unlock()
}

// LocalProcedures returns the procedures local callees registered on realm (the cluster
// announces them to the other nodes).
func (r *Router) LocalProcedures(realm wamp.URI) []Procedure {
	rl := r.existing(realm)
	if rl == nil {
		return nil
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	out := make([]Procedure, 0, len(rl.dealer.byID))
	for _, reg := range rl.dealer.byID {
		out = append(out, Procedure{URI: reg.uri, Match: reg.match, Invoke: reg.invoke})
	}
	return out
}

// ConfiguredRealms returns the names of the realms the configuration gives (none when realms
// are made on HELLO).
func (r *Router) ConfiguredRealms() []wamp.URI {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dynamic {
		return nil
	}
	out := make([]wamp.URI, 0, len(r.realms))
	for name := range r.realms {
		out = append(out, name)
	}
	return out
}

// registerRemote records, for the cluster link s, a procedure that callees of other nodes
// registered: in the realm's remote table, which a CALL looks at only when no local callee
// has the procedure (local calls never leave the node).
func (s *session) registerRemote(m *wamp.Register, match string) {
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.remote == nil {
		rl.remote = &dealer{}
		rl.remote.init()
	}
	d := rl.remote
	if d.exact[m.Procedure] != nil && match == matchExact || d.patterns[patternKey{m.Procedure, match}] != nil {
		s.sendError(wamp.REGISTER, m.Request, errProcedureExists, "remote procedure %q is known already", m.Procedure)
		return
	}
	reg := &registration{uri: m.Procedure, match: match, invoke: invokeSingle, created: rl.now(), callees: []*session{s}, remote: true}
	d.addRegistration(reg, &rl.dealer)
	s.regs[reg.id] = reg
	s.send(&wamp.Registered{Request: m.Request, Registration: reg.id})
}

// dealerOf returns the table reg is in.
func (rl *realm) dealerOf(reg *registration) *dealer {
	if reg.remote {
		return rl.remote
	}
	return &rl.dealer
}

// clusterChanged tells the cluster that a local registration came or went.
func (rl *realm) clusterChanged(reg *registration) {
	if rl.cluster != nil && !reg.remote {
		rl.cluster.RegistrationsChanged(rl.name)
	}
}

// clusterTestaments tells the cluster of s's testaments (under rl.mu).
func (rl *realm) clusterTestaments(s *session) {
	if rl.cluster == nil {
		return
	}
	var ts []*wamp.Publish
	for _, scope := range []string{"detached", "destroyed"} {
		for i := range s.testaments[scope] {
			ts = append(ts, s.testamentPublish(&s.testaments[scope][i]))
		}
	}
	rl.cluster.TestamentsChanged(rl.name, s.id, ts)
}

// clusterTestament sends the other nodes the testament of s that this node has just
// published as publication id (s leaves; under rl.mu: Published does not call into the
// router).
func (rl *realm) clusterTestament(s *session, t *testament, id wamp.ID) {
	if rl.cluster == nil {
		return
	}
	m := s.testamentPublish(t)
	var p *Publisher
	if t.opts.disclose {
		p = &Publisher{ID: s.id, AuthID: s.authid, AuthRole: s.authrole}
	}
	delete(m.Options, ClusterPublisher)
	rl.cluster.Published(rl.name, m, id, p)
}

// testamentPublish is t as the PUBLISH another node makes for s: its publish_options, and
// the publisher in ClusterPublisher when disclosed.
func (s *session) testamentPublish(t *testament) *wamp.Publish {
	opts := make(wamp.Dict, len(t.raw)+2)
	for k, v := range t.raw {
		switch k {
		case "acknowledge", "exclude_me", "disclose_me", ClusterPublisher:
		default:
			opts[k] = v
		}
	}
	if t.opts.disclose {
		opts["disclose_me"] = true
		opts[ClusterPublisher] = wamp.List{uint64(s.id), s.authid, s.authrole}
	}
	return &wamp.Publish{Options: opts, Topic: t.topic, Arguments: t.args, ArgumentsKw: t.kwargs}
}

// Realms returns the names of the realms the router has now: the configured ones, or those
// created on HELLO that are alive.
func (r *Router) Realms() []wamp.URI {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.realms))
}
