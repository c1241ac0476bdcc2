package router

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"portico/router/wamp"
)

// retainedLines returns the log lines about dropped retained events.
func (h *logCapture) retainedLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if strings.Contains(r.Message, "retained events") {
			out = append(out, r.Message)
		}
	}
	return out
}

// retainedTopics subscribes to prefix with get_retained and returns the topics of the retained
// events that come, in order, up to the router's answer to a meta call sent after.
func retainedTopics(t *testing.T, cl *client, prefix string) []string {
	t.Helper()
	cl.subscribe(prefix, wamp.Dict{"match": "prefix", "get_retained": true})
	req := cl.nextReq()
	cl.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	var topics []string
	for {
		switch m := cl.recv().(type) {
		case *wamp.Event:
			if m.Details["retained"] != true {
				t.Fatalf("event %+v is not retained", m)
			}
			topics = append(topics, m.Details["topic"].(string))
		case *wamp.Result:
			return topics
		default:
			t.Fatalf("got %s", describe(m))
		}
	}
}

// A realm keeps at most max_retained_events retained events: past it the oldest are dropped
// (one log line), and the newest are what a new subscriber gets.
func TestRetainedEventsBoundedByCount(t *testing.T) {
	logs := &logCapture{}
	r := newTestRouter(t, Options{MaxRetainedEvents: 100, Log: slog.New(logs)})
	pub := join(t, r, wamp.JSON, "realm1")
	for i := 0; i < 250; i++ {
		pub.publishAck(fmt.Sprintf("ret.t%d", i), wamp.Dict{"retain": true}, int64(i))
	}
	pub.publishAck("ret.t160", wamp.Dict{"retain": true}, "again") // now the newest
	pub.goodbye()

	topics := retainedTopics(t, join(t, r, wamp.JSON, "realm1"), "ret.")
	if len(topics) != 100 {
		t.Fatalf("%d retained events, want 100", len(topics))
	}
	if topics[0] != "ret.t150" || topics[98] != "ret.t249" || topics[99] != "ret.t160" {
		t.Fatalf("retained events %v..., want the newest, oldest first", topics[:3])
	}
	if lines := logs.retainedLines(); len(lines) != 1 {
		t.Fatalf("log lines about dropped retained events: %q", lines)
	}
}

// The byte bound holds large events to max_retained_bytes; an event larger than the bound
// alone is not retained.
func TestRetainedEventsBoundedByBytes(t *testing.T) {
	const bound = 64 << 10
	r := newTestRouter(t, Options{MaxRetainedBytes: bound})
	pub := join(t, r, wamp.MsgPack, "realm1")
	big := strings.Repeat("x", 4000)
	for i := 0; i < 100; i++ {
		pub.publishAck(fmt.Sprintf("big.t%d", i), wamp.Dict{"retain": true}, big)
	}
	topics := retainedTopics(t, join(t, r, wamp.MsgPack, "realm1"), "big.")
	if len(topics) == 0 || len(topics) > bound/4000 || topics[len(topics)-1] != "big.t99" {
		t.Fatalf("retained %d events (last %v), want at most %d, the newest", len(topics), topics[len(topics)-1:], bound/4000)
	}
	pub.publishAck("huge", wamp.Dict{"retain": true}, strings.Repeat("y", bound))
	if topics := retainedTopics(t, join(t, r, wamp.MsgPack, "realm1"), "huge"); len(topics) != 0 {
		t.Fatalf("an event over the byte bound was retained: %v", topics)
	}
	if again := retainedTopics(t, join(t, r, wamp.MsgPack, "realm1"), "big."); len(again) != len(topics) {
		t.Fatalf("an event over the byte bound dropped the others: %d retained, were %d", len(again), len(topics))
	}
	rl, _ := r.realm("realm1", false)
	rl.mu.Lock()
	n := rl.broker.retainedBytes
	rl.mu.Unlock()
	if n > bound {
		t.Fatalf("the realm holds %d bytes of retained events, bound %d", n, bound)
	}
}

// Thousands of retained events reach a new pattern subscriber at its pace, not as one burst
// that would disconnect it; an exact subscriber of the same realm gets its one event.
func TestRetainedBacklogPaced(t *testing.T) {
	logs := &logCapture{}
	r := newTestRouter(t, Options{OutQueueLimit: 16, Log: slog.New(logs)})
	pub := join(t, r, wamp.CBOR, "realm1")
	const n = 3000
	if err := <-burst(pub, "flood.t", 1, wamp.Dict{"retain": true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Options: wamp.Dict{"retain": true},
			Topic: wamp.URI(fmt.Sprintf("flood.p%d", i)), Arguments: wamp.List{int64(i)}})
	}
	pub.quiet()
	topics := retainedTopics(t, join(t, r, wamp.CBOR, "realm1"), "flood.")
	if len(topics) != n+1 || topics[0] != "flood.t" || topics[n] != fmt.Sprintf("flood.p%d", n-1) {
		t.Fatalf("%d retained events, want %d in the order retained", len(topics), n+1)
	}
	ex := join(t, r, wamp.CBOR, "realm1")
	ex.subscribe("flood.t", wamp.Dict{"get_retained": true})
	if ev := expect[*wamp.Event](ex); asInt(t, ev.Arguments[0]) != 0 {
		t.Fatalf("retained event %v", ev.Arguments)
	}
	if lines := logs.slowConsumerLines(); len(lines) != 0 {
		t.Fatalf("slow consumer log lines: %q", lines)
	}
}

// A flood of retained events (40000 topics with 1 KiB each: 40 MiB of values) leaves the
// router's heap within the default bound, after the publisher left.
func TestRetainedFloodMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory changes the heap figures")
	}
	r := newTestRouter(t, Options{})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	pub := join(t, r, wamp.JSON, "realm1")
	payload := strings.Repeat("z", 1024)
	for i := 0; i < 40000; i++ {
		pub.send(&wamp.Publish{Request: wamp.ID(i + 1), Options: wamp.Dict{"retain": true},
			Topic: wamp.URI(fmt.Sprintf("mem.t%d", i)), Arguments: wamp.List{payload}})
	}
	pub.quiet()
	pub.goodbye()
	grown := int64(heap()) - int64(before)
	t.Logf("heap grew by %d KiB for 40000 retained events of 1 KiB", grown>>10)
	if limit := int64(DefaultMaxRetainedBytes) * 3 / 2; grown > limit {
		t.Fatalf("heap grew by %d bytes, want at most %d (max_retained_bytes %d and slack)", grown, limit, DefaultMaxRetainedBytes)
	}
}
