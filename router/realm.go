package router

import (
	"sort"
	"strings"
	"sync"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// Lock order (as nats-server's locksordering.txt):
//
//	realm.mu         everything of one realm (below)
//	Router.mu        realms and live sessions; never held while taking another lock but
//	                 the cluster's own leaf locks (Cluster.RealmCreated, RealmDropped), and
//	                 taken under realm.mu only to count the members of a realm created on
//	                 HELLO (Router.leaveRealm)
//	session.joinMu   WELCOME and the established and expired flags, against Router.Close and
//	                 auth_timeout; taken under realm.mu when a session joins
//	outQueue.mu      one session's outbound queue; a leaf, taken under realm.mu
//
// No path holds two realms' locks, or two queues' locks, at once. realm.mu guards the broker,
// the dealer, the realm's sessions and their subscriptions, registrations, calls in flight and
// testaments; call-timeout timers take it from their own goroutine. Queue pushes happen under
// realm.mu so that every receiver's messages are queued in the order the realm decided them
// (SUBSCRIBED before the first EVENT of that subscription). Nothing under realm.mu blocks:
// pushes never wait, transports are read and written only by a session's own reader and
// writer, and closed outside realm.mu.

// realm is one WAMP realm: its roles, sessions, broker and dealer.
type realm struct {
	name  wamp.URI
	roles map[string]*role // read-only after creation
	now   func() time.Time
	// dynamic: created on a client's HELLO, not configured (read-only). Such a realm does not
	// give the kill procedures or peers' addresses to clients that did not authenticate.
	dynamic bool
	members int // sessions joined or joining, of a dynamic realm; guarded by Router.mu

	// authorizers are the dynamic authorizer procedures its roles name (read-only).
	authorizers map[wamp.URI]*authorizer

	mu       sync.Mutex
	sessions map[wamp.ID]*session
	broker   broker
	dealer   dealer
	// regWake is closed when a registration gains a callee: requests waiting for their
	// authorizer to register look again (authorizer.go). Nil when none waits.
	regWake chan struct{}
	// store is the realm's event history (store.go); nil without a configured store.
	// callQueues are the store's call-queue entries (dealer.go). Both set at creation.
	store      *eventStore
	callQueues []config.StoreEntry
	// cluster is the router's cluster link (Options.Cluster), nil on a single node; remote
	// holds the procedures of other nodes' callees, registered by the link's session (nil
	// until it registers one). A CALL looks there only when no local callee has the procedure.
	cluster Cluster
	remote  *dealer
}

func newRealm(name wamp.URI, roles map[string]*role, now func() time.Time) *realm {
	r := &realm{name: name, roles: roles, now: now, sessions: make(map[wamp.ID]*session)}
	r.broker.init()
	r.dealer.init()
	return r
}

// role is an authrole with its static permissions, indexed for lookup (exact by map, prefixes
// longest first, wildcards in configuration order).
type role struct {
	name     string
	exact    map[string]*config.Permission
	prefix   []*config.Permission
	wildcard []*config.Permission
	// authz is the role's dynamic authorizer (config Role.Authorizer); nil for static
	// permissions.
	authz *authorizer
}

func newRole(c config.Role) *role {
	r := &role{name: c.Name, exact: make(map[string]*config.Permission)}
	for i := range c.Permissions {
		p := &c.Permissions[i]
		switch permMatch(p) {
		case matchPrefix:
			r.prefix = append(r.prefix, p)
		case matchWildcard:
			r.wildcard = append(r.wildcard, p)
		default:
			if _, dup := r.exact[p.URI]; !dup {
				r.exact[p.URI] = p
			}
		}
	}
	sort.SliceStable(r.prefix, func(i, j int) bool { return len(r.prefix[i].URI) > len(r.prefix[j].URI) })
	return r
}

// permMatch is the permission's match policy; config leaves it empty when not given, and then
// Crossbar's default applies: prefix for "" and URIs ending in ".", else exact.
func permMatch(p *config.Permission) string {
	if p.Match != "" {
		return p.Match
	}
	if p.URI == "" || strings.HasSuffix(p.URI, ".") {
		return matchPrefix
	}
	return matchExact
}

// allowAll is the anonymous role of a realm created on first HELLO (no realms configured).
func allowAll() *role {
	return newRole(config.Role{Name: "anonymous", Permissions: []config.Permission{{
		URI: "", Match: matchPrefix,
		Allow: config.Allow{Call: true, Register: true, Publish: true, Subscribe: true},
	}}})
}

// permission returns the permission that governs u: an exact one, else the longest prefix, else
// the first matching wildcard, as Crossbar's static authorizer picks; nil when none does.
func (r *role) permission(u wamp.URI) *config.Permission {
	s := string(u)
	if p := r.exact[s]; p != nil {
		return p
	}
	for _, p := range r.prefix {
		if strings.HasPrefix(s, p.URI) {
			return p
		}
	}
	for _, p := range r.wildcard {
		if wildcardMatch(p.URI, s) {
			return p
		}
	}
	return nil
}

// wildcardMatch reports whether u matches the wildcard pattern p component by component.
func wildcardMatch(p, u string) bool {
	for {
		pc, prest, pmore := nextComponent(p)
		uc, urest, umore := nextComponent(u)
		if uc == "" || pc != "" && pc != uc || pmore != umore {
			return false
		}
		if !pmore {
			return true
		}
		p, u = prest, urest
	}
}

type action int

const (
	actCall action = iota
	actRegister
	actPublish
	actSubscribe
)

// allowed reports whether the role may do a on u, and whether the permission discloses the
// caller (call) or publisher (publish).
func (r *role) allowed(a action, u wamp.URI) (ok, disclose bool) {
	p := r.permission(u)
	if p == nil {
		return false, false
	}
	switch a {
	case actCall:
		return p.Allow.Call, p.Disclose.Caller
	case actRegister:
		return p.Allow.Register, false
	case actPublish:
		return p.Allow.Publish, p.Disclose.Publisher
	case actSubscribe:
		return p.Allow.Subscribe, false
	}
	return false, false
}
