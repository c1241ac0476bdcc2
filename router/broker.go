package router

import (
	"log/slog"
	"time"

	"portico/router/wamp"
)

// subscription is one topic pattern of a realm with its subscribers. All sessions that subscribe
// to the same URI with the same match policy share it and its ID (spec, "Subscription
// Identifiers").
type subscription struct {
	id          wamp.ID
	uri         wamp.URI
	match       string
	created     time.Time
	subscribers []*session // in subscription order
	// history is the event history the realm's store keeps for this subscription (store.go),
	// nil for most. Such a subscription lives as long as the realm, with or without
	// subscribers, as Crossbar's store is one of its observers.
	history *historyLog
}

type patternKey struct {
	uri   wamp.URI
	match string
}

// retainedEvent is the last event published with retain: true on a topic (spec, "Event
// Retention"), kept with its publisher's identity and eligibility options.
type retainedEvent struct {
	publication wamp.ID
	args        wamp.List
	kwargs      wamp.Dict
	payload     []byte     // payload passthru mode
	publisher   *publisher // nil when not disclosed
	opts        publishOpts

	// The realm's retained events in the order they were retained (oldest first), for the
	// bound; size estimates the memory the event holds.
	topic      wamp.URI
	size       int
	prev, next *retainedEvent
}

// retainedItem is one retained event still to be sent to a get_retained subscriber.
type retainedItem struct {
	topic wamp.URI
	r     *retainedEvent
	sub   *subscription
}

// publisher is a disclosed publisher's identity, copied so that a retained event does not keep
// the publisher's session, and its connection, alive after it left.
type publisher struct {
	id               wamp.ID
	authid, authrole string
}

// broker is a realm's pub/sub state, guarded by realm.mu.
type broker struct {
	exact    map[wamp.URI]*subscription
	patterns map[patternKey]*subscription
	trie     patternTrie[*subscription]
	byID     map[wamp.ID]*subscription
	retained map[wamp.URI]*retainedEvent

	// Retained events are bounded per realm (MaxRetainedEvents, MaxRetainedBytes): WAMP keeps
	// them after their publisher left, so without a bound any publisher could fill the
	// router's memory for good. Past the bound the oldest are dropped, so that a realm flooded
	// once recovers as its publishers retain again; the flood cannot keep a topic's newest
	// event from being retained.
	oldest, newest   *retainedEvent
	retainedBytes    int
	maxRetained      int
	maxRetainedBytes int
	evicted          int       // since the last log line
	evictLogged      time.Time // last log line about evictions
	log              *slog.Logger

	matched []*subscription // scratch for publishLocked
	ev      wamp.Event      // scratch for publishLocked
}

func (b *broker) init() {
	b.exact = make(map[wamp.URI]*subscription)
	b.patterns = make(map[patternKey]*subscription)
	b.byID = make(map[wamp.ID]*subscription)
	b.retained = make(map[wamp.URI]*retainedEvent)
	b.bound(DefaultMaxRetainedEvents, DefaultMaxRetainedBytes, slog.Default())
}

// bound sets the bounds of the realm's retained events and the log that tells when they drop
// some.
func (b *broker) bound(events, bytes int, log *slog.Logger) {
	b.maxRetained, b.maxRetainedBytes, b.log = events, bytes, log
}

// retainedOverhead estimates what a retained event costs besides its values: the map entry,
// the event and its options.
const retainedOverhead = 256

// retain keeps r as topic's retained event, replacing the one before, then drops the oldest
// events while the realm is over a bound. An event larger than the byte bound alone is not
// retained, and the topic keeps none (the one before is out of date); the others stay.
func (rl *realm) retain(topic wamp.URI, r *retainedEvent) {
	b := &rl.broker
	if old := b.retained[topic]; old != nil {
		b.unlinkRetained(old)
	}
	r.topic = topic
	r.size = retainedOverhead + len(topic) + valueSize(r.args) + valueSize(r.kwargs) + len(r.payload)
	if r.size > b.maxRetainedBytes {
		b.evicted++
		rl.logEvictions()
		return
	}
	b.retained[topic] = r
	b.retainedBytes += r.size
	r.prev = b.newest
	if b.newest != nil {
		b.newest.next = r
	} else {
		b.oldest = r
	}
	b.newest = r
	for b.oldest != nil && (len(b.retained) > b.maxRetained || b.retainedBytes > b.maxRetainedBytes) {
		b.unlinkRetained(b.oldest)
		b.evicted++
	}
	rl.logEvictions()
}

// logEvictions says, at most once a minute per realm, how many retained events the bounds
// dropped.
func (rl *realm) logEvictions() {
	b := &rl.broker
	if b.evicted > 0 {
		if now := rl.now(); now.Sub(b.evictLogged) >= time.Minute {
			b.log.Warn("router: retained events over the realm's bound, the oldest were dropped",
				"realm", rl.name, "dropped", b.evicted, "retained", len(b.retained), "bytes", b.retainedBytes,
				"max_retained_events", b.maxRetained, "max_retained_bytes", b.maxRetainedBytes)
			b.evicted, b.evictLogged = 0, now
		}
	}
}

func (b *broker) unlinkRetained(r *retainedEvent) {
	delete(b.retained, r.topic)
	b.retainedBytes -= r.size
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		b.oldest = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		b.newest = r.prev
	}
	r.prev, r.next = nil, nil
}

// valueSize estimates the memory a decoded WAMP value holds (Go's string, slice and map
// headers included).
func valueSize(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		return 16 + len(v)
	case []byte:
		return 24 + len(v)
	case []any:
		n := 24
		for _, x := range v {
			n += 16 + valueSize(x)
		}
		return n
	case map[string]any:
		n := 48
		for k, x := range v {
			n += 16 + len(k) + 16 + valueSize(x)
		}
		return n
	}
	return 16
}

// emptyDict is the Details of events that carry none. It is shared and never modified.
var emptyDict = wamp.Dict{}

// publishOpts are PUBLISH.Options as the broker uses them (spec, "Subscriber Black- and
// Whitelisting", "Publisher Exclusion", "Publisher Identification", "Event Retention").
type publishOpts struct {
	acknowledge bool
	excludeMe   bool
	disclose    bool
	retain      bool

	exclude, eligible                               []wamp.ID
	excludeAuthID, eligibleAuthID                   []string
	excludeAuthRole, eligibleAuthRole               []string
	hasEligible, hasEligibleAuthID, hasEligibleRole bool

	// ppt holds the payload passthru keys (pptOptions), forwarded in every EVENT's Details;
	// nil without a passthru payload.
	ppt wamp.Dict

	// A publication of another node (DeliverRemote): remote set, its publication ID, and its
	// publisher when disclosed.
	remote bool
	id     wamp.ID
	from   *publisher
}

// parsePublishOpts reads PUBLISH.Options; the error names the bad option.
func parsePublishOpts(d wamp.Dict) (o publishOpts, bad string) {
	o.excludeMe = true // spec: exclude_me defaults to true
	for _, k := range [...]string{"acknowledge", "exclude_me", "disclose_me", "retain"} {
		x, present := d[k]
		if !present {
			continue
		}
		v, ok := x.(bool)
		if !ok {
			return o, k
		}
		switch k {
		case "acknowledge":
			o.acknowledge = v
		case "exclude_me":
			o.excludeMe = v
		case "disclose_me":
			o.disclose = v
		case "retain":
			o.retain = v
		}
	}
	var ok bool
	if o.exclude, _, ok = optIDs(d, "exclude"); !ok {
		return o, "exclude"
	}
	if o.eligible, o.hasEligible, ok = optIDs(d, "eligible"); !ok {
		return o, "eligible"
	}
	if o.excludeAuthID, _, ok = optStrings(d, "exclude_authid"); !ok {
		return o, "exclude_authid"
	}
	if o.eligibleAuthID, o.hasEligibleAuthID, ok = optStrings(d, "eligible_authid"); !ok {
		return o, "eligible_authid"
	}
	if o.excludeAuthRole, _, ok = optStrings(d, "exclude_authrole"); !ok {
		return o, "exclude_authrole"
	}
	if o.eligibleAuthRole, o.hasEligibleRole, ok = optStrings(d, "eligible_authrole"); !ok {
		return o, "eligible_authrole"
	}
	o.ppt = pptOptions(d)
	return o, ""
}

// receives reports whether subscriber s gets an event published by pub with these options.
// All lists apply together, as in Crossbar: a receiver must pass every whitelist and no
// blacklist.
func (o *publishOpts) receives(pub, s *session) bool {
	if o.excludeMe && s == pub {
		return false
	}
	if o.hasEligible && !containsID(o.eligible, s.id) ||
		o.hasEligibleAuthID && !containsString(o.eligibleAuthID, s.authid) ||
		o.hasEligibleRole && !containsString(o.eligibleAuthRole, s.authrole) {
		return false
	}
	return !containsID(o.exclude, s.id) && !containsString(o.excludeAuthID, s.authid) &&
		!containsString(o.excludeAuthRole, s.authrole)
}

// eventEncoding caches an EVENT's encoding per codec, so that N receivers cost one encoding per
// serializer in use.
type eventEncoding struct {
	n     int
	names [3]string
	bytes [3][]byte
}

func (e *eventEncoding) get(c wamp.Codec, ev *wamp.Event) ([]byte, error) {
	name := c.Name()
	for i := 0; i < e.n; i++ {
		if e.names[i] == name {
			return e.bytes[i], nil
		}
	}
	b, err := c.Encode(nil, ev)
	if err != nil {
		return nil, err
	}
	if e.n < len(e.names) {
		e.names[e.n], e.bytes[e.n] = name, b
		e.n++
	}
	return b, nil
}

// match collects the subscriptions that topic matches into b.matched.
func (b *broker) match(topic wamp.URI) []*subscription {
	b.matched = b.matched[:0]
	if sub := b.exact[topic]; sub != nil {
		b.matched = append(b.matched, sub)
	}
	b.trie.matchPrefix(string(topic), b.collect)
	b.trie.matchWildcard(string(topic), b.collect)
	return b.matched
}

func (b *broker) collect(sub *subscription) bool {
	b.matched = append(b.matched, sub)
	return true
}

// publishLocked delivers an event on topic to every matching subscriber and returns the
// publication ID. pub is the publishing session (nil for the router's meta events).
func (rl *realm) publishLocked(pub *session, topic wamp.URI, args wamp.List, kwargs wamp.Dict, payload []byte, o *publishOpts) wamp.ID {
	b := &rl.broker
	pubID := o.id
	if pubID == 0 {
		pubID = globalID()
	}
	subs := b.match(topic)
	ev := &b.ev
	var stored wamp.Dict // the publication as event histories keep it, built once
	var storedSize int
	for _, sub := range subs {
		if sub.history != nil && o.kept(pub, topic, payload) {
			if stored == nil {
				stored, storedSize = rl.historyEvent(pub, pubID, topic, args, kwargs, o)
			}
			rl.storeEvent(sub, stored, storedSize)
		}
		details := emptyDict
		if o.ppt != nil {
			details = o.ppt // shared by the events of this publication, never modified
		}
		if sub.match != matchExact || o.disclose && (pub != nil || o.from != nil) {
			details = make(wamp.Dict, 4+len(o.ppt))
			if sub.match != matchExact {
				details["topic"] = string(topic)
			}
			if o.disclose && pub != nil {
				discloseInto(details, "publisher", pub)
			} else if p := o.from; o.disclose && p != nil {
				details["publisher"], details["publisher_authid"], details["publisher_authrole"] = uint64(p.id), p.authid, p.authrole
			}
			addPPT(details, o.ppt)
		}
		*ev = wamp.Event{Subscription: sub.id, Publication: pubID, Details: details, Arguments: args, ArgumentsKw: kwargs, Payload: payload}
		var enc eventEncoding
		for _, s := range sub.subscribers {
			if !o.receives(pub, s) {
				continue
			}
			bs, err := enc.get(s.codec, ev)
			if err != nil {
				rl.logEncodeError(s, topic, err)
				continue
			}
			if s.sendBytes(wamp.EVENT, bs) && pub != nil {
				pub.noteCongested(s)
			}
		}
	}
	*ev = wamp.Event{}
	clear(b.matched)
	if o.retain {
		r := &retainedEvent{publication: pubID, args: args, kwargs: kwargs, payload: payload, opts: *o}
		if o.disclose && pub != nil {
			r.publisher = &publisher{id: pub.id, authid: pub.authid, authrole: pub.authrole}
		} else if o.disclose {
			r.publisher = o.from
		}
		rl.retain(topic, r)
	}
	return pubID
}

func (rl *realm) logEncodeError(s *session, topic wamp.URI, err error) {
	s.log.Error("router: cannot encode an event for a subscriber", "session", s.id, "topic", topic, "err", err)
}

// discloseInto adds the identity of s under key ("publisher" or "caller") with its authid and
// authrole (spec, "Publisher Identification", "Caller Identification").
func discloseInto(d wamp.Dict, key string, s *session) {
	d[key] = uint64(s.id)
	d[key+"_authid"] = s.authid
	d[key+"_authrole"] = s.authrole
}

func (s *session) publish(m *wamp.Publish) {
	o, bad := parsePublishOpts(m.Options)
	// Spec, "Publishing": the broker answers a PUBLISH only when acknowledge is true, errors
	// included.
	fail := func(uri wamp.URI, format string, args ...any) {
		if o.acknowledge {
			s.sendError(wamp.PUBLISH, m.Request, uri, format, args...)
		}
	}
	if bad != "" {
		fail(errInvalidArgument, "invalid PUBLISH option %q", bad)
		return
	}
	if s.uriTooLong(m.Topic) {
		if o.acknowledge {
			s.sendTooLong(wamp.PUBLISH, m.Request, "topic", m.Topic)
		}
		return
	}
	if err := checkURI(m.Topic, false, matchExact); err != nil {
		fail(errInvalidURI, "invalid topic URI %q: %v", m.Topic, err)
		return
	}
	if restrictedURI(m.Topic) {
		fail(errInvalidURI, "publish with restricted topic URI %q", m.Topic)
		return
	}
	ok, disclose, err := s.authorize(actPublish, m.Topic, m.Options)
	if err != nil {
		if o.acknowledge {
			s.sendAuthzFailure(wamp.PUBLISH, m.Request, actPublish, m.Topic, err)
		}
		return
	}
	if !ok {
		fail(errNotAuthorized, "session is not authorized to publish to topic %q", m.Topic)
		return
	}
	o.disclose = o.disclose || disclose
	rl := s.realm
	rl.mu.Lock()
	id := rl.publishLocked(s, m.Topic, m.Arguments, m.ArgumentsKw, m.Payload, &o)
	rl.mu.Unlock()
	if rl.cluster != nil {
		var p *Publisher
		if o.disclose {
			p = &Publisher{ID: s.id, AuthID: s.authid, AuthRole: s.authrole}
		}
		rl.cluster.Published(rl.name, m, id, p)
	}
	if o.acknowledge {
		s.send(&wamp.Published{Request: m.Request, Publication: id})
	}
}

// matchOption reads the match option of SUBSCRIBE/REGISTER.
func matchOption(d wamp.Dict) (string, bool) {
	x, present := d["match"]
	if !present {
		return matchExact, true
	}
	m, _ := x.(string)
	switch m {
	case matchExact, matchPrefix, matchWildcard:
		return m, true
	}
	return "", false
}

func (s *session) subscribe(m *wamp.Subscribe) {
	match, ok := matchOption(m.Options)
	if !ok {
		s.sendError(wamp.SUBSCRIBE, m.Request, errInvalidArgument, "invalid match policy %v", m.Options["match"])
		return
	}
	if s.uriTooLong(m.Topic) {
		s.sendTooLong(wamp.SUBSCRIBE, m.Request, "topic", m.Topic)
		return
	}
	if err := checkURI(m.Topic, false, match); err != nil {
		s.sendError(wamp.SUBSCRIBE, m.Request, errInvalidURI, "invalid topic URI %q: %v", m.Topic, err)
		return
	}
	if ok, _, err := s.authorize(actSubscribe, m.Topic, m.Options); err != nil {
		s.sendAuthzFailure(wamp.SUBSCRIBE, m.Request, actSubscribe, m.Topic, err)
		return
	} else if !ok {
		s.sendError(wamp.SUBSCRIBE, m.Request, errNotAuthorized, "session is not authorized to subscribe to topic %q", m.Topic)
		return
	}
	getRetained, _ := optBool(m.Options, "get_retained")

	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	b := &rl.broker
	if n := s.lim.MaxSubscriptions; len(s.subs) >= n && !b.subscribes(s, m.Topic, match) {
		s.sendLimitError(wamp.SUBSCRIBE, m.Request, "max_subscriptions", n,
			"this session has %d subscriptions, the bound of max_subscriptions", n)
		return
	}
	sub, created := b.subscription(m.Topic, match, rl)
	if s.subs[sub.id] == nil {
		sub.subscribers = append(sub.subscribers, s)
		s.subs[sub.id] = sub
		s.send(&wamp.Subscribed{Request: m.Request, Subscription: sub.id})
		if created {
			rl.metaEvent(sub.uri, "wamp.subscription.on_create", wamp.List{uint64(s.id), sub.details()})
		}
		rl.metaEvent(sub.uri, "wamp.subscription.on_subscribe", wamp.List{uint64(s.id), uint64(sub.id)})
	} else {
		s.send(&wamp.Subscribed{Request: m.Request, Subscription: sub.id})
	}
	if getRetained {
		b.queueRetained(s, sub)
		b.sendBacklog(s)
	}
}

// subscribes reports whether s is subscribed to uri with match already.
func (b *broker) subscribes(s *session, uri wamp.URI, match string) bool {
	sub := b.exact[uri]
	if match != matchExact {
		sub = b.patterns[patternKey{uri, match}]
	}
	return sub != nil && s.subs[sub.id] != nil
}

// subscription returns the subscription for uri and match, creating it.
func (b *broker) subscription(uri wamp.URI, match string, rl *realm) (*subscription, bool) {
	var sub *subscription
	if match == matchExact {
		sub = b.exact[uri]
	} else {
		sub = b.patterns[patternKey{uri, match}]
	}
	if sub != nil {
		return sub, false
	}
	sub = &subscription{uri: uri, match: match, created: rl.now()}
	for {
		sub.id = globalID()
		if b.byID[sub.id] == nil {
			break
		}
	}
	b.byID[sub.id] = sub
	switch match {
	case matchExact:
		b.exact[uri] = sub
	case matchPrefix:
		b.patterns[patternKey{uri, match}] = sub
		b.trie.insertPrefix(string(uri), sub)
	case matchWildcard:
		b.patterns[patternKey{uri, match}] = sub
		b.trie.insertWildcard(string(uri), sub)
	}
	return sub, true
}

func (b *broker) deleteSubscription(sub *subscription) {
	delete(b.byID, sub.id)
	switch sub.match {
	case matchExact:
		delete(b.exact, sub.uri)
	case matchPrefix:
		delete(b.patterns, patternKey{sub.uri, sub.match})
		b.trie.removePrefix(string(sub.uri), sub)
	case matchWildcard:
		delete(b.patterns, patternKey{sub.uri, sub.match})
		b.trie.removeWildcard(string(sub.uri))
	}
}

// queueRetained adds the retained events that sub matches to s's backlog (spec, "Event
// Retention": sent after SUBSCRIBED, with details.retained = true).
func (b *broker) queueRetained(s *session, sub *subscription) {
	if sub.match == matchExact {
		if r := b.retained[sub.uri]; r != nil {
			s.backlog = append(s.backlog, retainedItem{topic: sub.uri, r: r, sub: sub})
		}
		return
	}
	for r := b.oldest; r != nil; r = r.next {
		if sub.matches(r.topic) {
			s.backlog = append(s.backlog, retainedItem{topic: r.topic, r: r, sub: sub})
		}
	}
}

// sendBacklog queues s's backlog of retained events until s's queue passes its high-water
// mark; the reader sends the rest once the queue drained (session.flowWait), so that many
// retained events reach a new subscriber at the pace it reads them instead of as one burst
// that would disconnect it. An event replaced since (the subscriber got the newer one as it
// was published) or dropped by the bound is skipped, as is a subscription ended meanwhile.
func (b *broker) sendBacklog(s *session) {
	for s.backlogNext < len(s.backlog) {
		it := s.backlog[s.backlogNext]
		s.backlog[s.backlogNext] = retainedItem{}
		s.backlogNext++
		r := it.r
		if b.retained[it.topic] != r || s.subs[it.sub.id] != it.sub || !r.opts.receives(nil, s) {
			continue
		}
		d := wamp.Dict{"retained": true}
		if it.sub.match != matchExact {
			d["topic"] = string(it.topic)
		}
		if p := r.publisher; p != nil {
			d["publisher"], d["publisher_authid"], d["publisher_authrole"] = uint64(p.id), p.authid, p.authrole
		}
		addPPT(d, r.opts.ppt)
		if s.push(outItem{msg: &wamp.Event{Subscription: it.sub.id, Publication: r.publication, Details: d,
			Arguments: r.args, ArgumentsKw: r.kwargs, Payload: r.payload}, size: r.size}) {
			break
		}
	}
	if s.backlogNext >= len(s.backlog) {
		s.dropBacklog()
	}
}

// dropBacklog forgets the backlog (a large one's memory too).
func (s *session) dropBacklog() {
	clear(s.backlog)
	if cap(s.backlog) > 64 {
		s.backlog = nil
	}
	s.backlog, s.backlogNext = s.backlog[:0], 0
}

// matches reports whether topic matches the subscription's pattern.
func (sub *subscription) matches(topic wamp.URI) bool {
	switch sub.match {
	case matchPrefix:
		return len(topic) >= len(sub.uri) && topic[:len(sub.uri)] == sub.uri
	case matchWildcard:
		return wildcardMatch(string(sub.uri), string(topic))
	}
	return topic == sub.uri
}

func (sub *subscription) details() wamp.Dict {
	return wamp.Dict{"id": uint64(sub.id), "created": sub.created.UTC().Format(isoMillis),
		"uri": string(sub.uri), "match": sub.match}
}

// isoMillis is the timestamp format of Crossbar's meta API ("2017-03-21T11:52:28.346Z").
const isoMillis = "2006-01-02T15:04:05.000Z"

func (s *session) unsubscribe(m *wamp.Unsubscribe) {
	rl := s.realm
	rl.mu.Lock()
	defer rl.mu.Unlock()
	sub := s.subs[m.Subscription]
	if sub == nil {
		s.sendError(wamp.UNSUBSCRIBE, m.Request, errNoSuchSubscription, "no subscription with ID %d for this session", m.Subscription)
		return
	}
	s.send(&wamp.Unsubscribed{Request: m.Request})
	rl.broker.removeSubscriber(rl, sub, s)
}

// removeSubscriber takes s off sub, with the meta events, and deletes sub when it is empty.
func (b *broker) removeSubscriber(rl *realm, sub *subscription, s *session) {
	delete(s.subs, sub.id)
	for i, x := range sub.subscribers {
		if x == s {
			sub.subscribers = append(sub.subscribers[:i], sub.subscribers[i+1:]...)
			break
		}
	}
	rl.metaEvent(sub.uri, "wamp.subscription.on_unsubscribe", wamp.List{uint64(s.id), uint64(sub.id)})
	if len(sub.subscribers) == 0 && sub.history == nil {
		b.deleteSubscription(sub)
		rl.metaEvent(sub.uri, "wamp.subscription.on_delete", wamp.List{uint64(s.id), uint64(sub.id)})
	}
}

func (b *broker) sessionLeft(rl *realm, s *session) {
	for _, sub := range s.subs {
		b.removeSubscriber(rl, sub, s)
	}
}
