package router

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router/wamp"
)

// rawPeer is a benchmark client: it speaks through the pipe directly, and its reader only
// counts frames (a client's decoding is the client's cost, not the router's).
type rawPeer struct {
	end Transport
	c   wamp.Codec
}

func rawJoin(tb testing.TB, r *Router, c wamp.Codec, depth int) (*rawPeer, chan error) {
	tb.Helper()
	srv, end := Pipe(c, depth)
	served := make(chan error, 1)
	go func() { served <- r.Serve(srv, PeerInfo{Transport: "inprocess"}) }()
	p := &rawPeer{end: end, c: c}
	if _, ok := p.roundTrip(tb, &wamp.Hello{Realm: "bench", Details: wamp.Dict{"roles": clientRoles()}}).(*wamp.Welcome); !ok {
		tb.Fatal("no WELCOME")
	}
	return p, served
}

func (p *rawPeer) write(tb testing.TB, m wamp.Message) {
	b, err := p.c.Encode(nil, m)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.end.WriteMessage(b); err != nil {
		tb.Fatal(err)
	}
}

func (p *rawPeer) read(tb testing.TB) wamp.Message {
	b, err := p.end.ReadMessage()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := p.c.Decode(b)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func (p *rawPeer) roundTrip(tb testing.TB, m wamp.Message) wamp.Message {
	p.write(tb, m)
	return p.read(tb)
}

// BenchmarkPublish measures fan-out: one publisher, N subscribers on one topic. One op is one
// PUBLISH delivered to all N subscribers; events/s is reported. The publisher keeps at most a
// window of publications ahead of the slowest delivery.
func BenchmarkPublish(b *testing.B) {
	for _, c := range codecs {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/subscribers=%d", c.Name(), n), func(b *testing.B) { benchPublish(b, c, n) })
		}
	}
}

func benchPublish(b *testing.B, c wamp.Codec, n int) {
	const window = 128
	// The queue bound is far above the window, so that no subscriber is ever disconnected.
	r := New(Options{Log: quietLog(), OutQueueLimit: 1 << 16})
	defer r.Close(time.Second)
	var delivered atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		p, _ := rawJoin(b, r, c, 64)
		if _, ok := p.roundTrip(b, &wamp.Subscribe{Request: 1, Options: wamp.Dict{}, Topic: "bench.topic"}).(*wamp.Subscribed); !ok {
			b.Fatal("no SUBSCRIBED")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := p.end.ReadMessage(); err != nil {
					return
				}
				delivered.Add(1)
			}
		}()
		defer p.end.Close()
	}
	pub, _ := rawJoin(b, r, c, 256)
	defer pub.end.Close()
	frame, err := c.Encode(nil, &wamp.Publish{Request: 1, Options: wamp.Dict{}, Topic: "bench.topic",
		Arguments: wamp.List{"hello", int64(42)}, ArgumentsKw: wamp.Dict{"temperature": 21.5}})
	if err != nil {
		b.Fatal(err)
	}
	waitFor := func(want int64) {
		deadline := time.Now().Add(guard)
		for delivered.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events delivered", delivered.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= window {
			waitFor(int64(i-window) * int64(n))
		}
		if err := pub.end.WriteMessage(frame); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(int64(b.N) * int64(n))
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
	r.Close(time.Second)
	wg.Wait()
}

// BenchmarkCall measures a call round trip: caller -> router -> callee -> router -> caller, one
// call at a time.
func BenchmarkCall(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.Name(), func(b *testing.B) {
			r := New(Options{Log: quietLog()})
			defer r.Close(time.Second)
			callee, _ := rawJoin(b, r, c, 64)
			defer callee.end.Close()
			if _, ok := callee.roundTrip(b, &wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: "bench.add"}).(*wamp.Registered); !ok {
				b.Fatal("no REGISTERED")
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					bs, err := callee.end.ReadMessage()
					if err != nil {
						return
					}
					m, err := c.Decode(bs)
					if err != nil {
						panic(err)
					}
					inv, ok := m.(*wamp.Invocation)
					if !ok {
						continue // GOODBYE when the router closes
					}
					y, _ := c.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{int64(5)}})
					if callee.end.WriteMessage(y) != nil {
						return
					}
				}
			}()
			caller, _ := rawJoin(b, r, c, 64)
			defer caller.end.Close()
			frame, _ := c.Encode(nil, &wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "bench.add",
				Arguments: wamp.List{int64(2), int64(3)}})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// The request ID is reused: each call is answered before the next is made.
				if err := caller.end.WriteMessage(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := caller.end.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			r.Close(time.Second)
			<-done
		})
	}
}

// benchRealm builds a realm with sessions that have queues but no transports, so that the
// router's own allocations can be counted.
func benchRealm(subscribers int, c wamp.Codec) (*realm, []*session) {
	r := New(Options{Log: quietLog(), OutQueueLimit: 1 << 20})
	rl := newRealm("bench", map[string]*role{"anonymous": allowAll()}, time.Now)
	var ss []*session
	for i := 0; i < subscribers; i++ {
		s := &session{r: r, codec: c, log: r.log, id: wamp.ID(i + 1), realm: rl, authid: "a", authrole: "anonymous",
			subs: map[wamp.ID]*subscription{}, lim: withDefaults(config.SessionLimits{})}
		s.out.init(1<<20, 1<<30, 0, nil)
		ss = append(ss, s)
	}
	return rl, ss
}

func TestPublishAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rl, ss := benchRealm(100, wamp.JSON)
	rl.mu.Lock()
	defer rl.mu.Unlock()
	// Pattern subscriptions that the topic below does not match, so that the walk has work.
	for _, p := range []string{"com.other.", "com.app.x", "org."} {
		rl.broker.subscription(wamp.URI(p), matchPrefix, rl)
	}
	rl.broker.subscription("com..never", matchWildcard, rl)
	rl.broker.subscription("com.app.other", matchExact, rl)

	o := publishOpts{}
	args := wamp.List{"x"}
	if n := testkit.Allocs(200, func() {
		rl.publishLocked(nil, "com.app.topic", args, nil, nil, &o)
	}); n != 0 {
		t.Errorf("a publish nobody subscribed to allocates %v times, want 0", n)
	}

	sub, _ := rl.broker.subscription("com.app.topic", matchExact, rl)
	for _, s := range ss {
		sub.subscribers = append(sub.subscribers, s)
	}
	fanout := func() {
		rl.publishLocked(nil, "com.app.topic", args, nil, nil, &o)
		for _, s := range ss {
			s.out.items = s.out.items[:0]
		}
	}
	fanout()
	// One encoding per serializer (the shared bytes) plus the encoder's own work; nothing per
	// receiver.
	n := testkit.Allocs(100, fanout)
	t.Logf("publish to 100 subscribers: %v allocations", n)
	if n > 3 {
		t.Errorf("a publish to 100 subscribers allocates %v times, want at most 3", n)
	}
}

func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rl, ss := benchRealm(2, wamp.MsgPack)
	caller, callee := ss[0], ss[1]
	for _, s := range ss {
		s.role = rl.roles["anonymous"]
		s.regs, s.calls, s.invs = map[wamp.ID]*registration{}, map[wamp.ID]*invocation{}, map[wamp.ID]*invocation{}
		rl.sessions[s.id] = s
	}
	callee.register(&wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: "com.app.add"})
	callee.out.items = callee.out.items[:0]
	call := &wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: "com.app.add", Arguments: wamp.List{int64(2), int64(3)}}
	yield := &wamp.Yield{Options: wamp.Dict{}, Arguments: wamp.List{int64(5)}}
	roundTrip := func() {
		if err := caller.call(call); err != nil {
			t.Fatal(err)
		}
		yield.Request = callee.nextInv
		callee.yield(yield)
		if len(caller.out.items) != 1 || caller.out.items[0].msg.Type() != wamp.RESULT {
			t.Fatalf("caller queue %v", caller.out.items)
		}
		caller.out.items = caller.out.items[:0]
		callee.out.items = callee.out.items[:0]
	}
	roundTrip()
	n := testkit.Allocs(200, roundTrip)
	t.Logf("router allocations per call round trip: %v", n)
	// The call's bookkeeping, the INVOCATION and the RESULT.
	if n > 3 {
		t.Errorf("a call round trip allocates %v times in the router, want at most 3", n)
	}
}
