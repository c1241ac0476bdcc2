package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
	"portico/router/wamp"
)

// The queue keeps the order of what was put, refuses (and counts) what goes past its bound in
// bytes, takes one message of any size when empty, and takes again once the sender sent some.
func TestSendQueueOrderAndBound(t *testing.T) {
	msg := func(i, size int) outMsg { return outMsg{subj: fmt.Sprintf("s.%d", i%3), data: make([]byte, size)} }
	per := msg(0, 100).cost()
	q := newSendQueue(10 * per)
	for i := range 10 {
		if !q.put(msg(i, 100)) {
			t.Fatalf("message %d refused under the bound", i)
		}
	}
	if q.put(msg(10, 100)) {
		t.Fatal("a message past the bound was taken")
	}
	if q.put(msg(11, 1)) {
		t.Fatal("a small message past the bound was taken")
	}
	if d := q.dropped.Load(); d != 2 {
		t.Fatalf("dropped %d, want 2", d)
	}
	batch, closed := q.take(nil)
	if closed || len(batch) != 10 {
		t.Fatalf("took %d (closed %v), want 10", len(batch), closed)
	}
	for i, m := range batch {
		if want := fmt.Sprintf("s.%d", i%3); m.subj != want || len(m.data) != 100 {
			t.Fatalf("message %d is %s (%d bytes), want %s: order lost", i, m.subj, len(m.data), want)
		}
	}
	// Taken is not yet sent: the bound still counts them until the sender says so.
	if q.put(msg(12, 100)) {
		t.Fatal("taken but unsent messages were not counted against the bound")
	}
	for i := range batch {
		q.bytes.Add(-batch[i].cost())
	}
	if !q.put(msg(13, 100)) {
		t.Fatal("refused once the sender sent the others")
	}
	next, _ := q.take(batch)
	if len(next) != 1 || next[0].subj != "s.1" {
		t.Fatalf("took %+v, want the one message put since", next)
	}
	q.bytes.Add(-next[0].cost())
	if !q.put(outMsg{subj: "big", data: make([]byte, 20*per)}) {
		t.Fatal("an empty queue refused a message larger than its bound")
	}
	q.close()
	if q.put(msg(14, 1)) {
		t.Fatal("a closed queue took a message")
	}
	if d := q.dropped.Load(); d != 3 {
		t.Fatalf("dropped %d, want 3 (a closed queue's refusals are no drops)", d)
	}
	if b, closed := q.take(nil); !closed || len(b) != 1 || b[0].subj != "big" {
		t.Fatalf("after close took %d (closed %v), want the queued one and closed", len(b), closed)
	}
}

// A heartbeat replaces the one still waiting; replacing one that carried testaments with one
// that does not says so (the next heartbeat then carries them).
func TestSendQueueHeartbeat(t *testing.T) {
	q := newSendQueue(1 << 20)
	if q.heartbeat([]byte("1"), true) {
		t.Fatal("the first heartbeat replaced nothing")
	}
	if !q.heartbeat([]byte("2"), false) {
		t.Fatal("testaments replaced without a word")
	}
	if q.heartbeat([]byte("3"), true) || q.heartbeat([]byte("4"), true) {
		t.Fatal("a heartbeat with testaments lost none")
	}
	if h := q.hb.Swap(nil); h == nil || string(h.data) != "4" {
		t.Fatalf("waiting heartbeat %+v, want the latest", h)
	}
}

func TestSendLogRateLimited(t *testing.T) {
	q := newSendQueue(1)
	if d, ok := q.logDrop(); !ok || d != 1 {
		t.Fatalf("the first drop: logged %v with %d", ok, d)
	}
	for range 5 {
		if _, ok := q.logDrop(); ok {
			t.Fatalf("logged again within %s", sendLogEvery)
		}
	}
	q.lmu.Lock()
	q.lastLog = q.lastLog.Add(-sendLogEvery)
	q.lmu.Unlock()
	if d, ok := q.logDrop(); !ok || d != 6 {
		t.Fatalf("after %s: logged %v with %d, want the 6 since the last line", sendLogEvery, ok, d)
	}
}

// stallProxy relays TCP connections to target; while stalled it stops reading what the
// clients send (the server side still reaches them), as a NATS server that stops reading.
type stallProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	resume chan struct{} // nil: not stalled
	conns  []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: strings.TrimPrefix(target, "nats://")}
	go p.accept()
	t.Cleanup(func() {
		p.stall(false)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *stallProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *stallProxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.resume == nil:
		p.resume = make(chan struct{})
	case !on && p.resume != nil:
		close(p.resume)
		p.resume = nil
	}
}

func (p *stallProxy) held() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume
}

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10) // a small window: the stall shows soon
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		go func() {
			defer s.Close()
			buf := make([]byte, 4<<10)
			for {
				if r := p.held(); r != nil {
					<-r
				}
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// A NATS server that stops reading a node's writes: the node's publisher, whose events go to
// another node, gets every acknowledgement and its local subscriber every event, local calls
// go on; what does not fit the send queue is dropped and counted. Once the server reads
// again, events cross again, in order.
func TestClusterStalledNATSDoesNotBlock(t *testing.T) {
	ra, na := startNode(t, "a", "")
	proxy := newStallProxy(t, na.ClientURL())
	var buf logBuf
	c := config.Cluster{Name: "c1", Node: "b", SubjectPrefix: "portico", NodeTimeout: time.Second}
	c.NATS.URLs = []string{proxy.url()}
	nb := New(c, slog.New(slog.NewTextHandler(&buf, nil)))
	nb.out = newSendQueue(256 << 10)
	rb := router.New(router.Options{Realms: allowAll, Log: quiet(), Cluster: nb})
	if err := nb.Start(rb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close(); rb.Close(guard) })
	testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return na.Peers() == 1 && nb.Peers() == 1 })

	subA, subB, pub := join(t, ra), join(t, rb), join(t, rb)
	for _, s := range []*client{subA, subB} {
		s.send(&wamp.Subscribe{Request: s.next(), Options: wamp.Dict{}, Topic: "com.ex.big"})
		s.expect("SUBSCRIBED")
	}
	// In order across NATS, before the stall.
	testkit.WaitFor(t, guard, "b's events reach a", func() bool {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.big", Arguments: wamp.List{-1}})
		subB.expect("EVENT")
		select {
		case m := <-subA.in:
			return m.Type() == wamp.EVENT
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	for i := range 100 {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.big", Arguments: wamp.List{i}})
	}
	for i := 0; i < 100; {
		ev := subA.expect("EVENT").(*wamp.Event)
		if fmt.Sprint(ev.Arguments[0]) == "-1" {
			continue // a late one of the probes
		}
		if fmt.Sprint(ev.Arguments[0]) != fmt.Sprint(i) {
			t.Fatalf("event %d at a is %v: order lost", i, ev.Arguments[0])
		}
		subB.expect("EVENT")
		i++
	}
	// From here a's subscriber is drained all along; seen closes at the event "after".
	seen := make(chan struct{})
	go func() {
		for m := range subA.in {
			if ev, ok := m.(*wamp.Event); ok && ev.Arguments[0] == "after" {
				close(seen)
				break
			}
		}
		for range subA.in {
		}
	}()

	proxy.stall(true)
	callee, caller := join(t, rb), join(t, rb)
	callee.send(&wamp.Register{Request: callee.next(), Options: wamp.Dict{}, Procedure: "com.ex.local"})
	callee.expect("REGISTERED")
	big := strings.Repeat("x", 32<<10)
	const n = 300 // 9.6 MiB: past the queue, the socket buffers and the proxy's window
	done := make(chan struct{})
	go func() { // the local subscriber on b, all along
		defer close(done)
		for i := range n {
			m := subB.expectAny()
			if ev, ok := m.(*wamp.Event); !ok || fmt.Sprint(ev.Arguments[0]) != fmt.Sprint(i) {
				t.Errorf("local event %d is %+v", i, m)
				return
			}
		}
	}()
	for i := range n {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"acknowledge": true}, Topic: "com.ex.big", Arguments: wamp.List{i, big}})
		pub.expect("PUBLISHED")
		if i%50 == 0 {
			caller.send(&wamp.Call{Request: caller.next(), Options: wamp.Dict{}, Procedure: "com.ex.local"})
			inv := callee.expect("INVOCATION").(*wamp.Invocation)
			callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
			caller.expect("RESULT")
		}
	}
	<-done
	if nb.Dropped() == 0 {
		t.Fatalf("nothing dropped while NATS did not read; log:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "NATS does not keep up") {
		t.Errorf("the drops were not logged:\n%s", buf.String())
	}

	proxy.stall(false)
	testkit.WaitFor(t, guard, "b's events reach a again", func() bool {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{}, Topic: "com.ex.big", Arguments: wamp.List{"after"}})
		subB.expect("EVENT")
		select {
		case <-seen:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
}
