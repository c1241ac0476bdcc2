package router

import (
	"runtime"
	"strings"
	"testing"
	"weak"

	"portico/config"
	"portico/router/wamp"
)

func TestSubscribePublish(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		pub := join(t, r, c, "realm1")
		a := join(t, r, c, "realm1")
		b := join(t, r, c, "realm1")
		sa := a.subscribe("com.app.topic", nil)
		sb := b.subscribe("com.app.topic", nil)
		if sa != sb {
			t.Fatalf("same topic, two subscription IDs: %d and %d", sa, sb)
		}
		if again := a.subscribe("com.app.topic", nil); again != sa {
			t.Fatalf("subscribing twice gave %d, want %d", again, sa)
		}
		if other := a.subscribe("com.app.topic", wamp.Dict{"match": "prefix"}); other == sa {
			t.Fatal("prefix subscription shares the exact subscription's ID")
		}
		pubID := pub.publishAck("com.app.topic", nil, "hello", int64(42), []byte{0, 1, 2})
		for _, cl := range []*client{a, b} {
			ev := expect[*wamp.Event](cl)
			if ev.Subscription == sa {
				if ev.Publication != pubID || len(ev.Arguments) != 3 || ev.Arguments[0] != "hello" ||
					asInt(t, ev.Arguments[1]) != 42 || string(ev.Arguments[2].([]byte)) != "\x00\x01\x02" {
					t.Fatalf("EVENT %+v", ev)
				}
				if _, ok := ev.Details["publisher"]; ok {
					t.Error("publisher disclosed without being asked")
				}
			}
			if cl == a { // a also has the prefix subscription
				expect[*wamp.Event](cl)
			}
		}
		pub.quiet() // exclude_me defaults to true: no event for the publisher

		req := b.nextReq()
		b.send(&wamp.Unsubscribe{Request: req, Subscription: sb})
		if u := expect[*wamp.Unsubscribed](b); u.Request != req {
			t.Fatalf("UNSUBSCRIBED for %d", u.Request)
		}
		b.send(&wamp.Unsubscribe{Request: b.nextReq(), Subscription: sb})
		b.expectError(wamp.UNSUBSCRIBE, errNoSuchSubscription)
		pub.publishAck("com.app.topic", nil)
		b.quiet()
		expect[*wamp.Event](a)
		expect[*wamp.Event](a)
	})
}

func TestPublishMixedSerializers(t *testing.T) {
	r := newTestRouter(t, Options{})
	pub := join(t, r, wamp.JSON, "realm1")
	var subs []*client
	for i := 0; i < 2; i++ {
		for _, c := range codecs {
			s := join(t, r, c, "realm1")
			s.subscribe("mixed.topic", nil)
			subs = append(subs, s)
		}
	}
	pub.publishAck("mixed.topic", nil, "x", 1.5, map[string]any{"k": []any{true, nil}})
	for _, s := range subs {
		ev := expect[*wamp.Event](s)
		if ev.Arguments[0] != "x" || ev.Arguments[1] != 1.5 {
			t.Fatalf("%s subscriber got %+v", s.codec.Name(), ev.Arguments)
		}
		kv := ev.Arguments[2].(map[string]any)["k"].([]any)
		if kv[0] != true || kv[1] != nil {
			t.Fatalf("%s subscriber got %+v", s.codec.Name(), kv)
		}
	}
}

func TestPublishOptions(t *testing.T) {
	// Three subscribers a, b, c and the publisher p, all subscribed; each case says who gets
	// the event.
	tests := []struct {
		name string
		opts func(p, a, b, c *client) wamp.Dict
		want string
	}{
		{"default excludes the publisher", func(p, a, b, c *client) wamp.Dict { return nil }, "abc"},
		{"exclude_me false", func(p, a, b, c *client) wamp.Dict { return wamp.Dict{"exclude_me": false} }, "pabc"},
		{"exclude", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"exclude": []any{uint64(a.id), uint64(c.id)}}
		}, "b"},
		{"eligible", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible": []any{uint64(a.id), uint64(p.id)}}
		}, "a"},
		{"eligible and exclude", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible": []any{uint64(a.id), uint64(b.id)}, "exclude": []any{uint64(a.id)}}
		}, "b"},
		{"exclude_authid", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"exclude_authid": []any{b.authid}}
		}, "ac"},
		{"eligible_authid", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible_authid": []any{b.authid, c.authid}, "exclude_me": false}
		}, "bc"},
		{"exclude_authrole", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"exclude_authrole": []any{"anonymous"}, "exclude_me": false}
		}, ""},
		{"eligible_authrole", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible_authrole": []any{"anonymous"}}
		}, "abc"},
		{"eligible_authrole other", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible_authrole": []any{"admin"}}
		}, ""},
		{"empty eligible list", func(p, a, b, c *client) wamp.Dict {
			return wamp.Dict{"eligible": []any{}}
		}, ""},
	}
	forCodecs(t, func(t *testing.T, codec wamp.Codec) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newTestRouter(t, Options{})
				p, a, b, c := join(t, r, codec, "realm1"), join(t, r, codec, "realm1"), join(t, r, codec, "realm1"), join(t, r, codec, "realm1")
				all := map[byte]*client{'p': p, 'a': a, 'b': b, 'c': c}
				for _, cl := range all {
					cl.subscribe("opts.topic", nil)
				}
				req := p.nextReq()
				o := wamp.Dict{"acknowledge": true}
				for k, v := range tt.opts(p, a, b, c) {
					o[k] = v
				}
				p.send(&wamp.Publish{Request: req, Options: o, Topic: "opts.topic"})
				for name, cl := range all {
					want := false
					for i := 0; i < len(tt.want); i++ {
						want = want || tt.want[i] == name
					}
					if want {
						expect[*wamp.Event](cl)
					}
					if cl == p {
						expect[*wamp.Published](p)
					}
					cl.quiet()
				}
			})
		}
	})
}

func TestPublisherDisclosure(t *testing.T) {
	tests := []struct {
		name     string
		disclose bool // by the role's permission
		opts     wamp.Dict
		want     bool
	}{
		{"not disclosed", false, nil, false},
		{"disclose_me", false, wamp.Dict{"disclose_me": true}, true},
		{"by role", true, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter(t, Options{Realms: []config.Realm{realmWith("realm1", config.Permission{
				URI: "", Match: "prefix", Allow: allowEverything, Disclose: config.Disclose{Publisher: tt.disclose}})}})
			p, s := join(t, r, wamp.CBOR, "realm1"), join(t, r, wamp.JSON, "realm1")
			s.subscribe("disc.topic", nil)
			p.publishAck("disc.topic", tt.opts)
			ev := expect[*wamp.Event](s)
			_, has := ev.Details["publisher"]
			if has != tt.want {
				t.Fatalf("details %v: publisher disclosed = %v, want %v", ev.Details, has, tt.want)
			}
			if tt.want && (wamp.ID(asInt(t, ev.Details["publisher"])) != p.id ||
				ev.Details["publisher_authid"] != p.authid || ev.Details["publisher_authrole"] != "anonymous") {
				t.Fatalf("details %v, publisher is %d %s", ev.Details, p.id, p.authid)
			}
		})
	}
}

func TestPatternSubscriptions(t *testing.T) {
	type sub struct {
		uri, match string
	}
	subs := []sub{
		{"com.app.topic", "exact"},
		{"com.app", "prefix"},
		{"com.app.top", "prefix"},
		{"com.app.", "prefix"},
		{"com..", "wildcard"},
		{"com..topic", "wildcard"},
		{"com.app.", "wildcard"},
		{".app.topic", "wildcard"},
		{"", "prefix"}, // last: it also gets the meta events of the subscriptions above
	}
	tests := []struct {
		topic string
		want  []int // indexes into subs
	}{
		{"com.app.topic", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"com.app.topics", []int{1, 2, 3, 8, 6, 4}},
		{"com.application.x", []int{1, 8, 4}},
		{"com.app", []int{1, 8}},
		{"org.app.topic", []int{8, 7}},
		{"com.app.topic.deep", []int{1, 2, 3, 8}},
		{"com.x.topic", []int{8, 5, 4}},
	}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		p := join(t, r, c, "realm1")
		s := join(t, r, c, "realm1")
		subIDs := map[wamp.ID]int{}
		for i, x := range subs {
			subIDs[s.subscribe(x.uri, wamp.Dict{"match": x.match})] = i
		}
		// The last subscription matches its own meta events.
		for _, want := range []string{"wamp.subscription.on_create", "wamp.subscription.on_subscribe"} {
			if ev := expect[*wamp.Event](s); ev.Details["topic"] != want {
				t.Fatalf("got %v, want the meta event %s", ev.Details, want)
			}
		}
		for _, tt := range tests {
			p.publishAck(tt.topic, nil)
			got := map[int]bool{}
			for range tt.want {
				ev := expect[*wamp.Event](s)
				i, ok := subIDs[ev.Subscription]
				if !ok || got[i] {
					t.Fatalf("%s: event for subscription %d", tt.topic, ev.Subscription)
				}
				got[i] = true
				topic, has := ev.Details["topic"]
				if subs[i].match == "exact" && has || subs[i].match != "exact" && topic != tt.topic {
					t.Fatalf("%s via %v: details.topic = %v", tt.topic, subs[i], topic)
				}
			}
			s.quiet()
			for _, i := range tt.want {
				if !got[i] {
					t.Fatalf("%s: no event for %v", tt.topic, subs[i])
				}
			}
		}
	})
}

func TestRetainedEvents(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		p := join(t, r, c, "realm1")
		p.publishAck("ret.a", wamp.Dict{"retain": true}, "first")
		p.publishAck("ret.a", wamp.Dict{"retain": true, "disclose_me": true}, "second")
		p.publishAck("ret.b", wamp.Dict{"retain": true}, "b")
		p.publishAck("ret.c", nil, "not retained")
		p.publishAck("ret.d", wamp.Dict{"retain": true, "eligible": []any{uint64(1)}}, "not for you")

		s := join(t, r, c, "realm1")
		s.subscribe("ret.a", wamp.Dict{"get_retained": true})
		ev := expect[*wamp.Event](s)
		if ev.Arguments[0] != "second" || ev.Details["retained"] != true || wamp.ID(asInt(t, ev.Details["publisher"])) != p.id {
			t.Fatalf("retained event %+v", ev)
		}
		s.subscribe("ret.c", wamp.Dict{"get_retained": true})
		s.subscribe("ret.d", wamp.Dict{"get_retained": true})
		s.subscribe("ret.b", nil) // no get_retained
		s.quiet()

		s.subscribe("ret.", wamp.Dict{"match": "prefix", "get_retained": true})
		got := map[string]bool{}
		for i := 0; i < 2; i++ {
			ev := expect[*wamp.Event](s)
			got[ev.Details["topic"].(string)] = true
		}
		if !got["ret.a"] || !got["ret.b"] {
			t.Fatalf("prefix subscription got retained events for %v", got)
		}
		s.quiet()
	})
}

func TestPublishErrors(t *testing.T) {
	realms := []config.Realm{realmWith("realm1",
		config.Permission{URI: "open.", Allow: config.Allow{Publish: true, Subscribe: true}},
		config.Permission{URI: "ro.", Allow: config.Allow{Subscribe: true}},
	)}
	tests := []struct {
		name  string
		topic string
		opts  wamp.Dict
		want  wamp.URI
	}{
		{"invalid URI", "open.bad topic", nil, errInvalidURI},
		{"empty component", "open..x", nil, errInvalidURI},
		{"restricted", "wamp.session.on_join", nil, errInvalidURI},
		{"not authorized", "ro.topic", nil, errNotAuthorized},
		{"no permission", "other.topic", nil, errNotAuthorized},
	}
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{Realms: realms})
		p := join(t, r, c, "realm1")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p.send(&wamp.Publish{Request: p.nextReq(), Options: wamp.Dict{}, Topic: wamp.URI(tt.topic)})
				p.send(&wamp.Publish{Request: p.nextReq(), Options: wamp.Dict{"acknowledge": true}, Topic: wamp.URI(tt.topic)})
				e := p.expectError(wamp.PUBLISH, tt.want)
				if e.Request != p.req {
					t.Fatalf("error for request %d, want %d (only acknowledged publishes are answered)", e.Request, p.req)
				}
			})
		}
		t.Run("subscribe", func(t *testing.T) {
			p.send(&wamp.Subscribe{Request: p.nextReq(), Options: wamp.Dict{}, Topic: "other.topic"})
			p.expectError(wamp.SUBSCRIBE, errNotAuthorized)
			p.send(&wamp.Subscribe{Request: p.nextReq(), Options: wamp.Dict{}, Topic: "open.#x"})
			p.expectError(wamp.SUBSCRIBE, errInvalidURI)
			p.send(&wamp.Subscribe{Request: p.nextReq(), Options: wamp.Dict{"match": "wildcard"}, Topic: "open..x"})
			expect[*wamp.Subscribed](p)
		})
	})
}

func TestRealmsAreIsolated(t *testing.T) {
	r := newTestRouter(t, Options{})
	a1, a2 := join(t, r, wamp.JSON, "realm.a"), join(t, r, wamp.MsgPack, "realm.a")
	b1 := join(t, r, wamp.CBOR, "realm.b")
	a2.subscribe("same.topic", nil)
	b1.subscribe("same.topic", nil)
	b1.register("same.proc", nil)
	a1.publishAck("same.topic", nil, "for a")
	if ev := expect[*wamp.Event](a2); ev.Arguments[0] != "for a" {
		t.Fatalf("EVENT %v", ev.Arguments)
	}
	b1.quiet()
	a1.send(&wamp.Call{Request: 9, Options: wamp.Dict{}, Procedure: "same.proc"})
	a1.expectError(wamp.CALL, errNoSuchProcedure)
	if n := asInt(t, a1.call("wamp.session.count", nil, nil).Arguments[0]); n != 2 {
		t.Fatalf("realm.a counts %d sessions, want 2", n)
	}
}

// A retained event discloses its publisher after the publisher left, from a copy of its
// identity: the event must not keep the session (and through it the connection) alive for as
// long as the topic is retained.
func TestRetainedEventReleasesPublisher(t *testing.T) {
	r := newTestRouter(t, Options{})
	p := join(t, r, wamp.JSON, "realm1")
	p.publishAck("ret.a", wamp.Dict{"retain": true, "disclose_me": true}, "x")
	rl, err := r.realm("realm1", false)
	if err != nil {
		t.Fatal(err)
	}
	rl.mu.Lock()
	gone := weak.Make(rl.sessions[p.id])
	rl.mu.Unlock()
	p.goodbye()
	for i := 0; i < 10 && gone.Value() != nil; i++ {
		runtime.GC()
	}
	if gone.Value() != nil {
		t.Fatal("the retained event keeps its publisher's session alive")
	}

	s := join(t, r, wamp.JSON, "realm1")
	s.subscribe("ret.a", wamp.Dict{"get_retained": true})
	ev := expect[*wamp.Event](s)
	if wamp.ID(asInt(t, ev.Details["publisher"])) != p.id || ev.Details["publisher_authid"] != p.authid ||
		ev.Details["publisher_authrole"] != p.authrole {
		t.Fatalf("retained event details %v, want the publisher %d %s %s", ev.Details, p.id, p.authid, p.authrole)
	}
	s.quiet()
}

// A pattern costs a trie node per component, some hundred times its bytes; a bound on the
// components keeps one SUBSCRIBE or REGISTER from growing the heap by that much more than it
// carried.
func TestPatternComponentBound(t *testing.T) {
	r := newTestRouter(t, Options{})
	c := join(t, r, wamp.JSON, "realm1")
	long := wamp.URI(strings.Repeat("a.", maxPatternComponents) + "a") // one too many
	okURI := wamp.URI(strings.Repeat("a.", maxPatternComponents-1) + "a")
	for _, match := range []string{matchPrefix, matchWildcard} {
		c.send(&wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": match}, Topic: long})
		c.expectError(wamp.SUBSCRIBE, errInvalidURI)
		c.send(&wamp.Register{Request: 2, Options: wamp.Dict{"match": match}, Procedure: long})
		c.expectError(wamp.REGISTER, errInvalidURI)
		c.subscribe(string(okURI), wamp.Dict{"match": match})
		c.register(string(okURI), wamp.Dict{"match": match})
	}
	c.subscribe(string(long), nil) // an exact URI costs no trie nodes
	c.goodbye()
}
