package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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
// Closing it ends a stalled write, as closing a socket does.
type gatedTransport struct {
	Transport
	stalled   atomic.Bool
	gate      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (g *gatedTransport) WriteMessage(b []byte) error {
	if g.stalled.Load() {
		select {
		case <-g.gate:
		case <-g.closed:
			return ErrPipeClosed
		}
	}
	return g.Transport.WriteMessage(b)
}

func (g *gatedTransport) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Transport.Close()
}

// stalledSubscriber joins, subscribes to topic over a gated transport, and returns the client
// end and Serve's result.
// With gated false, only the pipe's depth holds the router's writer back.
func stalledSubscriber(t *testing.T, r *Router, c wamp.Codec, topic string, depth int, gated bool) (*gatedTransport, Transport, <-chan error) {
	t.Helper()
	return gatedPeer(t, r, c, depth, gated, &wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: wamp.URI(topic)})
}

// gatedPeer joins over a gated transport, sends setup (SUBSCRIBE, REGISTER) and reads its
// answer, then stalls the router's writes when gated.
func gatedPeer(t *testing.T, r *Router, c wamp.Codec, depth int, gated bool, setup wamp.Message) (*gatedTransport, Transport, <-chan error) {
	t.Helper()
	srv, end := Pipe(c, depth)
	g := &gatedTransport{Transport: srv, gate: make(chan struct{}), closed: make(chan struct{})}
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
	switch reply := rt(setup).(type) {
	case *wamp.Subscribed, *wamp.Registered:
	default:
		t.Fatalf("%T answered with %s", setup, describe(reply))
	}
	g.stalled.Store(gated)
	return g, end, served
}

// readAll reads the client end of a pipe until it closes, decoding every message; answer,
// when not nil, may write replies.
func readAll(t *testing.T, c wamp.Codec, end Transport, answer func(wamp.Message)) <-chan []wamp.Message {
	got := make(chan []wamp.Message, 1)
	go func() {
		var ms []wamp.Message
		defer func() { got <- ms }()
		for {
			b, err := end.ReadMessage()
			if err != nil {
				return
			}
			m, err := c.Decode(b)
			if err != nil {
				t.Error(err)
				return
			}
			ms = append(ms, m)
			if answer != nil {
				answer(m)
			}
		}
	}()
	return got
}

// A subscriber that stops reading holds the publisher back (its PUBLISHED stop coming) instead
// of being disconnected by the burst; once it reads again, it gets every event and the
// publisher every acknowledgement. Both bounds pace: messages, and bytes with large events.
func TestPublisherWaitsForSubscriberToDrain(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		arg  string
	}{
		{"messages", Options{OutQueueLimit: 8}, "x"},
		{"bytes", Options{OutQueueLimit: 1024, OutQueueBytes: 8 << 10}, strings.Repeat("x", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forCodecs(t, func(t *testing.T, c wamp.Codec) {
				synctest.Test(t, func(t *testing.T) {
					const n = 40
					logs := &logCapture{}
					tc.o.Log = slog.New(logs)
					r := newTestRouter(t, tc.o)
					g, end, served := stalledSubscriber(t, r, c, "burst", 64, true)
					pub := join(t, r, c, "realm1")
					for i := 0; i < n; i++ {
						pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Options: wamp.Dict{"acknowledge": true},
							Topic: "burst", Arguments: wamp.List{int64(i), tc.arg}})
					}
					synctest.Wait()
					if acks := len(pub.in); acks == 0 || acks >= n {
						t.Fatalf("the publisher got %d of %d PUBLISHED while the subscriber did not read, want it held back", acks, n)
					}
					select {
					case err := <-served:
						t.Fatalf("the subscriber was disconnected: %v", err)
					default:
					}

					got := readAll(t, c, end, nil)
					close(g.gate)
					for i := 0; i < n; i++ {
						if p := expect[*wamp.Published](pub); p.Request != wamp.ID(i+1) {
							t.Fatalf("PUBLISHED for %d, want %d", p.Request, i+1)
						}
					}
					pub.quiet()
					synctest.Wait() // the subscriber's writer has written everything
					_ = end.Close()
					events := <-got
					if len(events) != n {
						t.Fatalf("the subscriber got %d messages, want %d events", len(events), n)
					}
					for i, m := range events {
						if ev, ok := m.(*wamp.Event); !ok || asInt(t, ev.Arguments[0]) != int64(i) {
							t.Fatalf("message %d: %s", i, describe(m))
						}
					}
					if lines := logs.slowConsumerLines(); len(lines) != 0 {
						t.Fatalf("slow consumer log lines: %q", lines)
					}
					<-served
				})
			})
		})
	}
}

// A callee that stops reading holds its caller back: the caller's next message (a meta call)
// is not read until the callee drains.
func TestCallerWaitsForCalleeToDrain(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		synctest.Test(t, func(t *testing.T) {
			const n = 40
			logs := &logCapture{}
			r := newTestRouter(t, Options{OutQueueLimit: 8, Log: slog.New(logs)})
			g, end, served := gatedPeer(t, r, c, 64, true, &wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: "slow.proc"})
			caller := join(t, r, c, "realm1")
			for i := 0; i < n; i++ {
				caller.send(&wamp.Call{Request: wamp.ID(i + 1), Options: wamp.Dict{}, Procedure: "slow.proc", Arguments: wamp.List{int64(i)}})
			}
			caller.send(&wamp.Call{Request: n + 1, Options: wamp.Dict{}, Procedure: "wamp.session.count"})
			synctest.Wait()
			if len(caller.in) != 0 {
				t.Fatalf("the caller got %s while the callee did not read, want it held back", describe(<-caller.in))
			}

			got := readAll(t, c, end, func(m wamp.Message) {
				if inv, ok := m.(*wamp.Invocation); ok {
					b, _ := c.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments})
					_ = end.WriteMessage(b)
				}
			})
			close(g.gate)
			results := map[wamp.ID]bool{}
			for len(results) < n+1 {
				res := expect[*wamp.Result](caller)
				if res.Request <= n && asInt(t, res.Arguments[0]) != int64(res.Request-1) {
					t.Fatalf("RESULT %d carries %v", res.Request, res.Arguments)
				}
				results[res.Request] = true
			}
			_ = end.Close()
			if ms := <-got; len(ms) != n {
				t.Fatalf("the callee got %d messages, want %d INVOCATIONs", len(ms), n)
			}
			if lines := logs.slowConsumerLines(); len(lines) != 0 {
				t.Fatalf("slow consumer log lines: %q", lines)
			}
			<-served
		})
	})
}

// A subscriber that stopped reading for good is disconnected once its queue has not drained
// for out_queue_timeout (a fake clock here), with one log line; the publisher waited that long
// at most, and the other subscriber got every event.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	forCodecs(t, func(t *testing.T, c wamp.Codec) {
		synctest.Test(t, func(t *testing.T) {
			logs := &logCapture{}
			const limit, timeout = 8, 5 * time.Second
			r := newTestRouter(t, Options{OutQueueLimit: limit, OutQueueTimeout: timeout, Log: slog.New(logs)})
			g, end, served := stalledSubscriber(t, r, c, "flood", 64, true)
			pub, fast := join(t, r, c, "realm1"), join(t, r, c, "realm1")
			fast.subscribe("flood", nil)

			start := time.Now()
			for i := 0; i < 4*limit; i++ {
				pub.publishAck("flood", nil, int64(i))
				if ev := expect[*wamp.Event](fast); asInt(t, ev.Arguments[0]) != int64(i) {
					t.Fatalf("fast subscriber got %v, want %d", ev.Arguments, i)
				}
			}
			if waited := time.Since(start); waited > timeout {
				t.Fatalf("the publisher was held %v, want at most out_queue_timeout", waited)
			}
			lines := logs.slowConsumerLines()
			if len(lines) != 1 || !strings.Contains(lines[0], "session=") || !strings.Contains(lines[0], "not drained") {
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
			if lines := logs.slowConsumerLines(); len(lines) != 1 {
				t.Fatalf("slow consumer log lines: %q", lines)
			}
		})
	})
}

// Router-made messages (meta events here) do not wait on anybody: a session that does not read
// them is disconnected when its queue is full, with one log line.
func TestSlowConsumerQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logCapture{}
		r := newTestRouter(t, Options{OutQueueLimit: 4, Log: slog.New(logs)})
		g, _, served := stalledSubscriber(t, r, wamp.JSON, "wamp.session.on_join", 64, true)
		for i := 0; i < 8; i++ {
			join(t, r, wamp.JSON, "realm1")
		}
		close(g.gate)
		if err := <-served; !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Serve = %v, want ErrSlowConsumer", err)
		}
		lines := logs.slowConsumerLines()
		if len(lines) != 1 || !strings.Contains(lines[0], "outbound queue full (4 messages)") {
			t.Fatalf("slow consumer log lines: %q", lines)
		}
	})
}

// A client that never reads again is still disconnected: the transport is closed under its
// blocked writer after the grace period (fake clock).
func TestSlowConsumerNeverReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRouter(t, Options{OutQueueLimit: 4, OutQueueTimeout: 5 * time.Second})
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

// burst writes n PUBLISH to topic from cl without waiting for anything, as a client writing
// them in one go; the pipe holds the writer back when the router does not read.
func burst(cl *client, topic string, n int, opts wamp.Dict) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			b, err := cl.codec.Encode(nil, &wamp.Publish{Request: wamp.ID(i + 1), Options: opts, Topic: wamp.URI(topic), Arguments: wamp.List{int64(i)}})
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
	return done
}

// A subscriber that reads promptly gets every event of a burst far above out_queue_limit, in
// order, and is not disconnected: the publisher is paced instead.
func TestBurstToPromptReader(t *testing.T) {
	for _, n := range []int{5000, 50000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			logs := &logCapture{}
			r := newTestRouter(t, Options{Log: slog.New(logs)})
			sub, pub := join(t, r, wamp.JSON, "realm1"), join(t, r, wamp.JSON, "realm1")
			sub.subscribe("burst", nil)
			done := burst(pub, "burst", n, wamp.Dict{})
			for i := 0; i < n; i++ {
				ev := expect[*wamp.Event](sub)
				if got := asInt(t, ev.Arguments[0]); got != int64(i) {
					t.Fatalf("event %d carries %d", i, got)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sub.quiet()
			if lines := logs.slowConsumerLines(); len(lines) != 0 {
				t.Fatalf("slow consumer log lines: %q", lines)
			}
		})
	}
}

// A session that publishes to itself, and a callee that calls itself, wait on their own queue,
// which their own writer drains: a burst to oneself neither deadlocks nor disconnects.
func TestBurstToSelf(t *testing.T) {
	logs := &logCapture{}
	r := newTestRouter(t, Options{OutQueueLimit: 64, Log: slog.New(logs)})
	cl := join(t, r, wamp.JSON, "realm1")
	cl.subscribe("self", nil)
	const n = 3000
	done := burst(cl, "self", n, wamp.Dict{"exclude_me": false})
	for i := 0; i < n; i++ {
		if ev := expect[*wamp.Event](cl); asInt(t, ev.Arguments[0]) != int64(i) {
			t.Fatalf("event %d carries %v", i, ev.Arguments)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cl.register("self.echo", nil)
	calls := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			b, _ := cl.codec.Encode(nil, &wamp.Call{Request: wamp.ID(1000 + i), Options: wamp.Dict{}, Procedure: "self.echo", Arguments: wamp.List{int64(i)}})
			if err := cl.end.WriteMessage(b); err != nil {
				calls <- err
				return
			}
		}
		calls <- nil
	}()
	// The answers are written by their own goroutine, so that reading never waits on writing:
	// a client that stops reading while its writes are held back would stall itself (and be
	// disconnected after out_queue_timeout), here as over TCP.
	yields := make(chan []byte, n)
	defer close(yields)
	go func() {
		for b := range yields {
			_ = cl.end.WriteMessage(b)
		}
	}()
	for results := 0; results < n; {
		switch m := cl.recv().(type) {
		case *wamp.Invocation:
			b, _ := cl.codec.Encode(nil, &wamp.Yield{Request: m.Request, Options: wamp.Dict{}, Arguments: m.Arguments})
			yields <- b
		case *wamp.Result:
			if asInt(t, m.Arguments[0]) != int64(m.Request-1000) {
				t.Fatalf("RESULT %d carries %v", m.Request, m.Arguments)
			}
			results++
		default:
			t.Fatalf("got %s", describe(m))
		}
	}
	if err := <-calls; err != nil {
		t.Fatal(err)
	}
	cl.quiet()
	if lines := logs.slowConsumerLines(); len(lines) != 0 {
		t.Fatalf("slow consumer log lines: %q", lines)
	}
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
