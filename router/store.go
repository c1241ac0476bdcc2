package router

import (
	"portico/config"
	"portico/router/wamp"
)

// The realm store (Crossbar's realm `store` of type "memory", crossbar/router/realmstore.py):
// event history per configured topic pattern, read with wamp.subscription.get_events, and call
// queues per configured procedure pattern (dealer.go). Everything lives in memory, under
// realm.mu, and is bounded: each history keeps its `limit` newest events, and all of a realm's
// histories together at most `max_bytes` (an estimate), the oldest dropped first. In a
// cluster every node receives every publication of the realm's other nodes (DeliverRemote) and
// keeps it in its histories as it keeps its own sessions' (kept), so each node's history is
// the cluster's, but for what a node missed while it was down or cut off from NATS, and
// get_events answers from the caller's node alone.

// historyLog is the event history of one store subscription.
type historyLog struct {
	limit  int
	events []*storedEvent // oldest first
}

// storedEvent is one event of a history, in Crossbar's shape (the dict get_events returns),
// linked into the realm's list of stored events for the byte bound.
type storedEvent struct {
	log        *historyLog
	ev         wamp.Dict // shared by the logs that keep the same publication; never modified
	size       int
	prev, next *storedEvent
}

// eventStore is a realm's event history.
type eventStore struct {
	maxBytes       int
	bytes          int
	oldest, newest *storedEvent
}

// storedOverhead estimates what a stored event costs besides its values.
const storedOverhead = 384

// initStore sets up the realm's store from its configuration: a subscription, held by the
// store, for each event-history entry, and the call-queue entries.
func (rl *realm) initStore(c *config.RealmStore) {
	if c == nil {
		return
	}
	rl.store = &eventStore{maxBytes: c.MaxBytes}
	if rl.store.maxBytes <= 0 {
		rl.store.maxBytes = 16 << 20
	}
	for _, e := range c.EventHistory {
		sub, _ := rl.broker.subscription(wamp.URI(e.URI), e.Match, rl)
		if sub.history == nil { // the first entry of a pattern wins
			sub.history = &historyLog{limit: max(e.Limit, 1)}
		}
	}
	rl.callQueues = c.CallQueue
}

// storeEvent appends a publication to the history of sub. ev is built once per publication
// by the caller (historyEvent) and shared.
func (rl *realm) storeEvent(sub *subscription, ev wamp.Dict, size int) {
	st, log := rl.store, sub.history
	se := &storedEvent{log: log, ev: ev, size: size}
	log.events = append(log.events, se)
	st.bytes += size
	se.prev = st.newest
	if st.newest != nil {
		st.newest.next = se
	} else {
		st.oldest = se
	}
	st.newest = se
	if len(log.events) > log.limit {
		st.drop(log.events[0])
	}
	for st.bytes > st.maxBytes && st.oldest != nil {
		st.drop(st.oldest)
	}
}

// drop forgets se, which is the oldest event of its log (events enter the realm's list in the
// order they enter their logs, so the realm's oldest is its log's oldest too).
func (st *eventStore) drop(se *storedEvent) {
	log := se.log
	log.events[0] = nil
	log.events = log.events[1:]
	if len(log.events) == 0 {
		log.events = nil // let the backing array go
	}
	st.bytes -= se.size
	if se.prev != nil {
		se.prev.next = se.next
	} else {
		st.oldest = se.next
	}
	if se.next != nil {
		se.next.prev = se.prev
	} else {
		st.newest = se.prev
	}
	se.prev, se.next = nil, nil
}

// historyEvent builds the stored form of a publication, as Crossbar's memory store keeps it
// (time_ns, realm, session_id, authid, authrole, publication, topic, args, kwargs), and its
// size estimate. Unlike Crossbar, the publisher's session, authid and authrole are kept only
// when the publication disclosed the publisher (disclose_me, or the permission's
// disclose.publisher): get_events must not tell more than the events did.
func (rl *realm) historyEvent(pub *session, pubID wamp.ID, topic wamp.URI, args wamp.List, kwargs wamp.Dict, o *publishOpts) (wamp.Dict, int) {
	ev := wamp.Dict{
		"time_ns":     rl.now().UnixNano(),
		"realm":       string(rl.name),
		"session_id":  nil,
		"authid":      nil,
		"authrole":    nil,
		"publication": uint64(pubID),
		"topic":       string(topic),
		"args":        args,
		"kwargs":      kwargs,
	}
	if args == nil {
		ev["args"] = wamp.List{}
	}
	if kwargs == nil {
		ev["kwargs"] = wamp.Dict{}
	}
	if o.disclose && pub != nil {
		ev["session_id"], ev["authid"], ev["authrole"] = uint64(pub.id), pub.authid, pub.authrole
	} else if p := o.from; o.disclose && p != nil {
		ev["session_id"], ev["authid"], ev["authrole"] = uint64(p.id), p.authid, p.authrole
	}
	return ev, storedOverhead + 2*len(topic) + len(rl.name) + valueSize(args) + valueSize(kwargs)
}

// kept reports whether a publication on topic goes into event histories: a local session's or
// another node's (DeliverRemote), not the router's own meta events (those of another node
// come as remote publications on a "wamp." topic, which no client may publish on), not
// events for chosen receivers only (black and white lists: the history is read by any
// session allowed to call get_events), not passthru payloads (the history has no place for
// them, as in Crossbar's store).
func (o *publishOpts) kept(pub *session, topic wamp.URI, payload []byte) bool {
	return (pub != nil || o.remote && !restrictedURI(topic)) && payload == nil && o.ppt == nil &&
		!o.hasEligible && !o.hasEligibleAuthID && !o.hasEligibleRole &&
		len(o.exclude) == 0 && len(o.excludeAuthID) == 0 && len(o.excludeAuthRole) == 0
}

// defaultGetEventsLimit is get_events' limit when the caller gives none (Crossbar's).
const defaultGetEventsLimit = 10

// metaGetEvents is wamp.subscription.get_events(subscription_id, limit=10): the newest events
// of a store subscription's history, newest first, as Crossbar answers it. A session that may
// not subscribe to the subscription's topic may not read its history either.
func metaGetEvents(rl *realm, caller *session, args wamp.List, kw wamp.Dict) (wamp.List, *metaError) {
	if rl.store == nil {
		return nil, metaErr(errHistoryUnavailable, "event history not available or enabled")
	}
	sub, err := rl.subscriptionArg(args)
	if err != nil {
		return nil, err
	}
	limit := int64(defaultGetEventsLimit)
	x, present := kw["limit"]
	if !present && len(args) > 1 {
		x, present = args[1], true
	}
	if present && x != nil {
		n, ok := toInt(x)
		if !ok || n < 0 {
			return nil, metaErr(errInvalidArgument, "limit must be a non-negative integer, got %v", x)
		}
		limit = n
	}
	if restrictedURI(sub.uri) {
		return nil, metaErr(errNotAuthorized, "not authorized to retrieve event history for protected URI %q", sub.uri)
	}
	if ok, _ := caller.role.allowed(actSubscribe, sub.uri); !ok {
		return nil, metaErr(errNotAuthorized, "session is not authorized to subscribe to %q, so not to read its event history", sub.uri)
	}
	if sub.history == nil {
		return nil, metaErr(errHistoryUnavailable, "event history for the given subscription is not available or enabled")
	}
	evs := sub.history.events
	n := int(min(limit, int64(len(evs))))
	out := make([]any, 0, n)
	for i := len(evs) - 1; i >= len(evs)-n; i-- {
		out = append(out, evs[i].ev)
	}
	return wamp.List{out}, nil
}
