package router

import (
	"testing"

	"portico/router/wamp"
)

// Publishers publishing to one topic at once each reach every subscriber with all their events,
// in their order (spec, "Ordering Guarantees"); a subscriber that subscribes meanwhile gets
// SUBSCRIBED before its first EVENT.
func TestConcurrentPublishersKeepTheirOrder(t *testing.T) {
	r := newTestRouter(t, Options{})
	const pubs, n = 4, 200
	subs := []*client{join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.CBOR, "realm1")}
	for _, s := range subs {
		s.subscribe("shared", nil)
	}
	late := join(t, r, wamp.JSON, "realm1")
	done := make(chan error, pubs)
	for p := range pubs {
		cl := join(t, r, wamp.JSON, "realm1")
		go func() {
			for i := range n {
				b, err := cl.codec.Encode(nil, &wamp.Publish{Request: wamp.ID(i + 1), Options: wamp.Dict{},
					Topic: "shared", Arguments: wamp.List{int64(p), int64(i)}})
				if err == nil {
					err = cl.end.WriteMessage(b)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	lateReq := late.nextReq()
	late.send(&wamp.Subscribe{Request: lateReq, Options: wamp.Dict{}, Topic: "shared"})
	if m := late.recv(); m.Type() != wamp.SUBSCRIBED {
		t.Fatalf("the late subscriber got %s before SUBSCRIBED", describe(m))
	}
	for range pubs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		next := make([]int64, pubs)
		for range pubs * n {
			ev := expect[*wamp.Event](s)
			p, i := asInt(t, ev.Arguments[0]), asInt(t, ev.Arguments[1])
			if i != next[p] {
				t.Fatalf("%s subscriber: publisher %d's event %d came when %d was next", s.codec.Name(), p, i, next[p])
			}
			next[p]++
		}
	}
}
