package router

import (
	"errors"
	"sync"
	"testing"

	"portico/router/wamp"
)

// corkingTransport is a CorkTransport over a gated pipe: between Cork and Uncork it holds the
// messages, and Uncork hands them to the pipe in order, noting how many went together. fail,
// when set, is what Uncork returns instead.
type corkingTransport struct {
	*gatedTransport
	mu      sync.Mutex
	corked  bool
	held    [][]byte
	batches []int
	fail    error
}

func (c *corkingTransport) WriteMessage(b []byte) error {
	c.mu.Lock()
	if c.corked {
		c.held = append(c.held, append([]byte(nil), b...)) // b is the writer's buffer
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.gatedTransport.WriteMessage(b)
}

func (c *corkingTransport) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkingTransport) Uncork() error {
	c.mu.Lock()
	held := c.held
	c.corked, c.held = false, nil
	c.batches = append(c.batches, len(held))
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return fail
	}
	for _, b := range held {
		if err := c.gatedTransport.WriteMessage(b); err != nil {
			return err
		}
	}
	return nil
}

func (c *corkingTransport) maxBatch() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := 0
	for _, n := range c.batches {
		m = max(m, n)
	}
	return m
}

// corkedSubscriber joins over a corking transport, subscribes to topic, and stalls the
// router's writes to it.
func corkedSubscriber(t *testing.T, r *Router, c wamp.Codec, topic string) (*corkingTransport, Transport, <-chan error) {
	t.Helper()
	srv, end := Pipe(c, 256)
	ct := &corkingTransport{gatedTransport: &gatedTransport{Transport: srv, gate: make(chan struct{}), closed: make(chan struct{})}}
	served := make(chan error, 1)
	go func() { served <- r.Serve(ct, PeerInfo{Transport: "inprocess"}) }()
	t.Cleanup(func() { _ = end.Close() })
	for _, m := range []wamp.Message{
		&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}},
		&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: wamp.URI(topic)},
	} {
		b, _ := c.Encode(nil, m)
		if err := end.WriteMessage(b); err != nil {
			t.Fatal(err)
		}
		if _, err := end.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	ct.stalled.Store(true)
	return ct, end, served
}

// Events queued for a subscriber while its transport is busy go out corked, several with one
// write, and arrive complete and in order.
func TestQueuedEventsGoOutCorked(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		r := newTestRouter(t, Options{})
		ct, end, _ := corkedSubscriber(t, r, c, "corked")
		pub := join(t, r, wamp.JSON, "realm1")
		const n = 50
		for i := range n {
			pub.publishAck("corked", nil, int64(i))
		}
		close(ct.gate) // every event is queued or held: let them go
		for i := range n {
			b, err := end.ReadMessage()
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			m, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			ev, ok := m.(*wamp.Event)
			if !ok {
				t.Fatalf("message %d is %s, want EVENT", i, describe(m))
			}
			if v := asInt(t, ev.Arguments[0]); v != int64(i) {
				t.Fatalf("event %d carries %d", i, v)
			}
		}
		if m := ct.maxBatch(); m < 2 {
			t.Fatalf("the most messages one uncork sent is %d: queued events went out one by one", m)
		}
	})
}

// A corked write that fails ends the session as a failed write does: the router closes the
// transport, and the client's end reads no more.
func TestCorkedWriteFailureEndsSession(t *testing.T) {
	r := newTestRouter(t, Options{})
	ct, end, _ := corkedSubscriber(t, r, wamp.JSON, "corked")
	ct.mu.Lock()
	ct.fail = errors.New("connection reset")
	ct.mu.Unlock()
	pub := join(t, r, wamp.JSON, "realm1")
	for i := range 10 {
		pub.publishAck("corked", nil, int64(i))
	}
	close(ct.gate)
	// The first event may have gone out alone before the failing batch.
	for {
		if _, err := end.ReadMessage(); err != nil {
			break
		}
	}
	if m := ct.maxBatch(); m < 2 {
		t.Fatalf("no corked write was tried (largest batch %d)", m)
	}
}
