package router

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"portico/router/wamp"
)

// logCapture keeps the router's log records.
type logCapture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCapture) WithGroup(string) slog.Handler      { return h }

// slowConsumerLines returns the log lines about slow consumers, as "session=<id> reason=...".
func (h *logCapture) slowConsumerLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if !strings.Contains(r.Message, "slow consumer") {
			continue
		}
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(a.Key + "=" + a.Value.String() + " ")
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// gatedTransport stalls the router's writes while stalled is set, until gate is closed: a
// client that stopped reading.
type gatedTransport struct {
	Transport
	stalled atomic.Bool
	gate    chan struct{}
}

func (g *gatedTransport) WriteMessage(b []byte) error {
	if g.stalled.Load() {
		<-g.gate
	}
	return g.Transport.WriteMessage(b)
}

// stalledSubscriber joins, subscribes to topic over a gated transport, and returns the client
// end and Serve's result.
// With gated false, only the pipe's depth holds the router's writer back.
func stalledSubscriber(t *testing.T, r *Router, c wamp.Codec, topic string, depth int, gated bool) (*gatedTransport, Transport, <-chan error) {
	t.Helper()
	srv, end := Pipe(c, depth)
	g := &gatedTransport{Transport: srv, gate: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- r.Serve(g, PeerInfo{Transport: "inprocess"}) }()
	t.Cleanup(func() { _ = end.Close() })
	rt := func(m wamp.Message) wamp.Message {
		b, _ := c.Encode(nil, m)
		if err := end.WriteMessage(b); err != nil {
			t.Fatal(err)
		}
		b, err := end.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if _, ok := rt(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}}).(*wamp.Welcome); !ok {
		t.Fatal("no WELCOME")
	}
	if _, ok := rt(&wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: wamp.URI(topic)}).(*wamp.Subscribed); !ok {
		t.Fatal("no SUBSCRIBED")
	}
	g.stalled.Store(gated)
	return g, end, served
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		logs := &logCapture{}
		const limit = 8
		r := newTestRouter(t, Options{OutQueueLimit: limit, Log: slog.New(logs)})
		g, end, served := stalledSubscriber(t, r, c, "flood", 64, true)
		pub, fast := join(t, r, c, "realm1"), join(t, r, c, "realm1")
		fast.subscribe("flood", nil)

		// The publisher is never held up by the stalled subscriber, and the fast one gets every
		// event.
		for i := 0; i < 4*limit; i++ {
			pub.publishAck("flood", nil, int64(i))
			if ev := expect[*wamp.Event](fast); asInt(t, ev.Arguments[0]) != int64(i) {
				t.Fatalf("fast subscriber got %v, want %d", ev.Arguments, i)
			}
		}
		lines := logs.slowConsumerLines()
		if len(lines) != 1 || !strings.Contains(lines[0], "session=") || !strings.Contains(lines[0], "outbound queue full") {
			t.Fatalf("slow consumer log lines: %q", lines)
		}

		close(g.gate) // the client reads again: it gets what was in flight, then ABORT
		var last wamp.Message
		for {
			b, err := end.ReadMessage()
			if err != nil {
				break
			}
			if last, err = c.Decode(b); err != nil {
				t.Fatal(err)
			}
		}
		if a, ok := last.(*wamp.Abort); !ok || a.Reason != errSlowConsumer {
			t.Fatalf("last message %s, want ABORT %s", describe(last), errSlowConsumer)
		}
		if err := <-served; !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Serve = %v, want ErrSlowConsumer", err)
		}
		fast.quiet()
		pub.publishAck("flood", nil, "after")
		expect[*wamp.Event](fast)
	})
}

// A client that never reads again is still disconnected: the transport is closed under its
// blocked writer after the grace period (fake clock).
func TestSlowConsumerNeverReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRouter(t, Options{OutQueueLimit: 4})
		_, _, served := stalledSubscriber(t, r, wamp.CBOR, "flood", 1, false)
		pub := join(t, r, wamp.JSON, "realm1")
		for i := 0; i < 20; i++ {
			pub.publishAck("flood", nil, int64(i))
		}
		if err := <-served; !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Serve = %v, want ErrSlowConsumer", err)
		}
		pub.goodbye()
	})
}

// countingCodec counts the EVENTs it encodes.
type countingCodec struct {
	wamp.Codec
	events *atomic.Int64
}

func (c countingCodec) Encode(dst []byte, m wamp.Message) ([]byte, error) {
	if m.Type() == wamp.EVENT {
		c.events.Add(1)
	}
	return c.Codec.Encode(dst, m)
}

// TestEventEncodedOncePerSerializer publishes to two subscribers per serializer: the router
// encodes the event three times, not six.
func TestEventEncodedOncePerSerializer(t *testing.T) {
	r := newTestRouter(t, Options{})
	var n atomic.Int64
	pub := join(t, r, wamp.JSON, "realm1")
	var subs []*client
	for i := 0; i < 6; i++ {
		cl := join(t, r, countingCodec{codecs[i%3], &n}, "realm1")
		cl.subscribe("shared.bytes", nil)
		subs = append(subs, cl)
	}
	pub.publishAck("shared.bytes", nil, "x")
	for _, cl := range subs {
		if ev := expect[*wamp.Event](cl); ev.Arguments[0] != "x" {
			t.Fatalf("%s subscriber got %v", cl.codec.Name(), ev.Arguments)
		}
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("the event was encoded %d times for 6 subscribers on 3 serializers, want 3", got)
	}
}
