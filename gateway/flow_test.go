package gateway

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/config"
	"portico/router"
)

// flowGateway runs a gateway whose one websocket path has options o and returns its URL and
// its log.
func flowGateway(t *testing.T, o config.WebSocketOptions) (string, *logBuffer) {
	t.Helper()
	_, base, logs := startGatewayLog(t, testNode(t, map[string]*config.Service{"ws": wsPath([]string{"json"}, o)}))
	return "ws" + strings.TrimPrefix(base, "http") + "/ws", logs
}

// wampJSON is a WAMP client speaking wamp.2.json over a real WebSocket connection.
type wampJSON struct {
	t *testing.T
	c *websocket.Conn
}

func wampJoinJSON(t *testing.T, url string) *wampJSON {
	t.Helper()
	c, resp, err := dial(t, url, []string{"wamp.2.json"}, nil)
	if err != nil {
		t.Fatalf("dial: %v %s", err, body(resp))
	}
	w := &wampJSON{t: t, c: c}
	w.write(1, "realm1", map[string]any{"roles": map[string]any{"publisher": map[string]any{},
		"subscriber": map[string]any{}, "caller": map[string]any{}, "callee": map[string]any{}}})
	if m := w.read(); m == nil || m[0] != float64(2) {
		t.Fatalf("no WELCOME: %v", m)
	}
	return w
}

func (w *wampJSON) write(msg ...any) {
	w.t.Helper()
	b, _ := json.Marshal(msg)
	if err := w.c.WriteMessage(websocket.TextMessage, b); err != nil {
		w.t.Fatal(err)
	}
}

// read returns the next message, nil once the connection ended.
func (w *wampJSON) read() []any {
	_, b, err := w.c.ReadMessage()
	if err != nil {
		return nil
	}
	var m []any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Errorf("router sent %q: %v", b, err)
		return nil
	}
	return m
}

// roundTrip writes msg and returns the answer.
func (w *wampJSON) roundTrip(msg ...any) []any {
	w.t.Helper()
	w.write(msg...)
	m := w.read()
	if m == nil {
		w.t.Fatalf("no answer to %v", msg[0])
	}
	return m
}

// burst writes every message as a masked text frame (RFC 6455 section 5.2; a zero masking key
// leaves the payload as is) in one write to the socket, as a client that sends a burst does.
// It returns when the router read it all.
func (w *wampJSON) burst(n int, msg func(i int) []any) <-chan error {
	var buf []byte
	for i := 0; i < n; i++ {
		p, _ := json.Marshal(msg(i))
		buf = append(buf, 0x81)
		switch {
		case len(p) < 126:
			buf = append(buf, 0x80|byte(len(p)))
		case len(p) < 1<<16:
			buf = append(buf, 0x80|126)
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(p)))
		default:
			buf = append(buf, 0x80|127)
			buf = binary.BigEndian.AppendUint64(buf, uint64(len(p)))
		}
		buf = append(buf, 0, 0, 0, 0)
		buf = append(buf, p...)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.c.NetConn().Write(buf)
		done <- err
	}()
	return done
}

// collect reads n messages of type typ, whose first argument must count up from 0, and sends
// the count it got (less than n when the connection ended first).
func (w *wampJSON) collect(typ float64, n int, argAt int) <-chan int {
	got := make(chan int, 1)
	go func() {
		i := 0
		defer func() { got <- i }()
		for i < n {
			m := w.read()
			if m == nil {
				return
			}
			if m[0] != typ {
				w.t.Errorf("got %v, want message type %v", m, typ)
				return
			}
			args, _ := m[argAt].([]any)
			if len(args) == 0 || args[0] != float64(i) {
				w.t.Errorf("message %d carries %v", i, m[argAt])
				return
			}
			i++
		}
	}()
	return got
}

// hangGuard bounds the wait for a client's result; it is not a timing assertion.
const hangGuard = 2 * time.Minute

func waitCount(t *testing.T, what string, got <-chan int, want int) {
	t.Helper()
	select {
	case n := <-got:
		if n != want {
			t.Fatalf("%s: got %d of %d", what, n, want)
		}
	case <-time.After(hangGuard):
		t.Fatalf("%s: still running", what)
	}
}

// A burst of PUBLISH in one write, far above out_queue_limit, reaches a subscriber that reads
// promptly in full, and nobody is disconnected: the publisher is paced.
func TestWebSocketBurstToPromptReader(t *testing.T) {
	url, logs := flowGateway(t, wsOptions())
	for _, n := range []int{5000, 50000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sub, pub := wampJoinJSON(t, url), wampJoinJSON(t, url)
			if m := sub.roundTrip(32, 1, map[string]any{}, "burst"); m[0] != float64(33) {
				t.Fatalf("SUBSCRIBE: %v", m)
			}
			events := sub.collect(36, n, 4)
			sent := pub.burst(n, func(i int) []any { return []any{16, i + 1, map[string]any{}, "burst", []any{i}} })
			waitCount(t, "events", events, n)
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if m := pub.roundTrip(16, n+1, map[string]any{"acknowledge": true}, "other", []any{}); m[0] != float64(17) {
				t.Fatalf("PUBLISH after the burst: %v", m)
			}
		})
	}
	if strings.Contains(logs.String(), "slow consumer") {
		t.Fatal("a prompt subscriber was disconnected as a slow consumer")
	}
}

// A burst of CALL in one write reaches a callee that reads (and answers) promptly, and every
// RESULT reaches the caller.
//
// The router reads the burst as fast as the callee's queue drains, and that queue drains into
// the callee's socket buffers (megabytes on loopback), not at the callee's pace: when the
// callee answers more slowly than the router reads (a loaded machine), the calls in flight
// grow towards n. Over max_calls_in_flight a CALL is answered with ERROR limit_exceeded, as
// documented, so the bound is set to n here: what is tested is the queues' flow control, and
// the bound must not be reachable by scheduling (TestMaxCallsInFlight covers it).
func TestWebSocketCallBurstToPromptCallee(t *testing.T) {
	const n = 20000
	o := wsOptions()
	o.MaxCallsInFlight = n
	url, logs := flowGateway(t, o)
	callee, caller := wampJoinJSON(t, url), wampJoinJSON(t, url)
	if m := callee.roundTrip(64, 1, map[string]any{}, "burst.echo"); m[0] != float64(65) {
		t.Fatalf("REGISTER: %v", m)
	}
	// The callee answers from its read loop, each YIELD a blocking write.
	answered := make(chan int, 1)
	go func() {
		i := 0
		defer func() { answered <- i }()
		for i < n {
			m := callee.read()
			if m == nil || m[0] != float64(68) {
				return
			}
			b, _ := json.Marshal([]any{70, m[1], map[string]any{}, m[4]})
			if callee.c.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
			i++
		}
	}()
	results := caller.collect(50, n, 3)
	sent := caller.burst(n, func(i int) []any { return []any{48, i + 1, map[string]any{}, "burst.echo", []any{i}} })
	defer func() {
		if t.Failed() {
			t.Logf("router log:\n%s", logs.String())
		}
	}()
	waitCount(t, "results", results, n)
	waitCount(t, "invocations", answered, n)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "slow consumer") {
		t.Fatal("a prompt callee or caller was disconnected as a slow consumer")
	}
}

// A subscriber that stops reading for good is disconnected, with one log line, once its queue
// has not drained for out_queue_timeout; the publisher was held back that long at most, and a
// prompt subscriber of the same events got all of them.
func TestWebSocketStoppedReaderIsCut(t *testing.T) {
	o := wsOptions()
	o.OutQueueTimeout = time.Second
	url, logs := flowGateway(t, o)
	const n = 30000 // 30 MiB of events: more than the socket buffers of the stopped reader
	payload := strings.Repeat("p", 1024)
	prompt, stopped, pub := wampJoinJSON(t, url), wampJoinJSON(t, url), wampJoinJSON(t, url)
	for _, s := range []*wampJSON{prompt, stopped} {
		if m := s.roundTrip(32, 1, map[string]any{}, "flood"); m[0] != float64(33) {
			t.Fatalf("SUBSCRIBE: %v", m)
		}
	}
	events := prompt.collect(36, n, 4)
	sent := pub.burst(n, func(i int) []any { return []any{16, i + 1, map[string]any{}, "flood", []any{i, payload}} })
	waitCount(t, "events to the prompt subscriber", events, n)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(logs.String(), "disconnecting slow consumer")
	if lines != 1 || !strings.Contains(logs.String(), "not drained for 1s") {
		t.Fatalf("%d slow consumer log lines, want 1 (not drained):\n%s", lines, logs.String())
	}
	// The stopped reader finds, after what was in flight, the end of its session: the ABORT
	// when it found room in the socket before the transport was closed (5 s after the cut),
	// else the close alone, right after the last event that was in flight (on a busy machine
	// the prompt subscriber may take longer than that to get its 30000 events).
	var last []any
	for m := stopped.read(); m != nil; m = stopped.read() {
		last = m
	}
	switch {
	case last == nil:
	case last[0] == float64(3) && last[2] == "portico.error.slow_consumer":
	case last[0] == float64(36):
	default:
		t.Fatalf("the stopped reader's last message %v, want ABORT portico.error.slow_consumer or an event, then the close", last)
	}
}

// A flood of retained events (100000 topics with 1 KiB each) leaves the router holding at
// most max_retained_bytes of them after the publisher left, and a pattern subscriber that asks
// for them gets the newest max_retained_events at its pace, without being disconnected.
func TestWebSocketRetainedFlood(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory changes the heap figures")
	}
	url, logs := flowGateway(t, wsOptions())
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	pub := wampJoinJSON(t, url)
	payload := strings.Repeat("r", 1024)
	const n, chunk = 100000, 10000
	for start := 0; start < n; start += chunk {
		sent := pub.burst(chunk, func(i int) []any {
			return []any{16, start + i + 1, map[string]any{"retain": true}, fmt.Sprintf("flood.t%d", start+i), []any{start + i, payload}}
		})
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	if m := pub.roundTrip(16, n+1, map[string]any{"acknowledge": true}, "other", []any{}); m[0] != float64(17) {
		t.Fatalf("PUBLISH after the flood: %v", m)
	}
	pub.roundTrip(6, map[string]any{}, "wamp.close.close_realm")
	grown := heap() - before
	t.Logf("heap grew by %d KiB for %d retained events of 1 KiB", grown>>10, n)
	if limit := int64(router.DefaultMaxRetainedBytes) * 2; grown > limit {
		t.Fatalf("heap grew by %d bytes, want at most %d", grown, limit)
	}

	sub := wampJoinJSON(t, url)
	if m := sub.roundTrip(32, 1, map[string]any{"match": "prefix", "get_retained": true}, "flood."); m[0] != float64(33) {
		t.Fatalf("SUBSCRIBE: %v", m)
	}
	first := n - router.DefaultMaxRetainedEvents
	got := make(chan int, 1)
	go func() {
		i := 0
		defer func() { got <- i }()
		for ; i < router.DefaultMaxRetainedEvents; i++ {
			m := sub.read()
			if m == nil || m[0] != float64(36) {
				t.Errorf("retained event %d: %v", i, m)
				return
			}
			if args, _ := m[4].([]any); len(args) == 0 || args[0] != float64(first+i) {
				t.Errorf("retained event %d carries %v, want %d", i, m[4], first+i)
				return
			}
		}
	}()
	waitCount(t, "retained events", got, router.DefaultMaxRetainedEvents)
	if strings.Contains(logs.String(), "slow consumer") {
		t.Fatal("the get_retained subscriber was disconnected as a slow consumer")
	}
}
