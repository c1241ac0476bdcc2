package cluster

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"portico/router/wamp"
)

// What the node sends to NATS goes through one sender goroutine: the router's goroutines
// (a publisher's reader, the realm lock's holder for meta events and testaments, the link
// sessions, the NATS handlers answering meta calls) only append the encoded message to a
// queue bounded in bytes. nats.go's Publish writes to the socket itself, on its caller, once
// its 32 KiB buffer is full; a NATS server that stops reading (stalled, or partitioned with
// the TCP connection open) would hold that caller until the write times out. The sender is
// the only one held: past the bound the queue drops messages (logged, counted in Dropped),
// and local routing goes on.
//
// Order: one sender sends everything in the order it was queued, so the order of each
// subject is kept. Heartbeats are not queued: the latest one waits in a slot of its own that
// the sender looks at before every message, so a node whose queue is full of publications
// still announces itself within a heartbeat period. If the sender itself is held in a write,
// the heartbeats wait too and the other nodes drop this node after node_timeout, as they
// would a partitioned one: nothing from it reaches them. The write's deadline
// (nats.FlusherTimeout, flushTimeout) ends that hold; nats.go then reconnects, and the
// heartbeats after the reconnection bring the node back.

const (
	// sendQueueBytes bounds the messages waiting for the sender (and the one being sent):
	// their bodies, subjects and msgOverhead each.
	sendQueueBytes = 4 << 20
	// msgOverhead is counted for each queued message besides its bytes, so that many tiny
	// messages are bounded too.
	msgOverhead = 64
	// sendLogEvery: dropped or failed sends are logged at most once in this period.
	sendLogEvery = 10 * time.Second
)

// outMsg is one message for NATS: a body for subj, with a reply subject when reply != "".
type outMsg struct {
	subj, reply string
	data        []byte
}

func (m outMsg) cost() int64 { return int64(len(m.subj) + len(m.reply) + len(m.data) + msgOverhead) }

// outHeartbeat is the heartbeat waiting for the sender; testaments says it carries the
// node's testaments.
type outHeartbeat struct {
	data       []byte
	testaments bool
}

// sendQueue is the queue between the node's goroutines and its sender.
type sendQueue struct {
	limit int64
	wake  chan struct{} // capacity 1: something was queued, or the queue closed
	hb    atomic.Pointer[outHeartbeat]
	bytes atomic.Int64 // the cost of the queued messages and of the one being sent

	mu     sync.Mutex
	q      []outMsg
	closed bool

	dropped atomic.Uint64 // messages dropped (queue full) or that failed to send
	// lmu guards the rate limit of the drop log lines: the last one, and the drops since.
	lmu      sync.Mutex
	lastLog  time.Time
	unlogged uint64
}

func newSendQueue(limit int64) *sendQueue {
	return &sendQueue{limit: limit, wake: make(chan struct{}, 1)}
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// put queues m; false when the queue is over its bound (m is dropped and counted) or closed.
// A message is always taken by an empty queue, however large.
func (q *sendQueue) put(m outMsg) bool {
	c := m.cost()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if b := q.bytes.Load(); b > 0 && b+c > q.limit {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	q.q = append(q.q, m)
	q.bytes.Add(c)
	q.mu.Unlock()
	q.signal()
	return true
}

// heartbeat sets the heartbeat to send next, in place of one still waiting. It returns true
// when the one it replaced carried testaments and b does not (the next should then).
func (q *sendQueue) heartbeat(b []byte, testaments bool) (lost bool) {
	old := q.hb.Swap(&outHeartbeat{data: b, testaments: testaments})
	q.signal()
	return old != nil && old.testaments && !testaments
}

// take returns the queued messages, leaving spare (emptied) as the queue, and whether the
// queue is closed.
func (q *sendQueue) take(spare []outMsg) ([]outMsg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.q
	q.q = spare[:0]
	return b, q.closed
}

// close makes put refuse messages; the sender sends those queued and ends.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// logDrop says whether a drop is to be logged now, and how many drops the line reports (this
// one and those not logged since the last line).
func (q *sendQueue) logDrop() (uint64, bool) {
	q.lmu.Lock()
	defer q.lmu.Unlock()
	q.unlogged++
	now := time.Now()
	if !q.lastLog.IsZero() && now.Sub(q.lastLog) < sendLogEvery {
		return 0, false
	}
	d := q.unlogged
	q.lastLog, q.unlogged = now, 0
	return d, true
}

// flushTimeout bounds one write to the NATS connection (nats.FlusherTimeout): half of
// node_timeout, at least 100ms, so that a write held by a NATS server that stopped reading
// ends, and the connection is made again, about when the other nodes drop this one.
func flushTimeout(nodeTimeout time.Duration) time.Duration {
	return max(nodeTimeout/2, 100*time.Millisecond)
}

// pingInterval is how often the NATS client pings the server (nats.PingInterval): every
// node_timeout, so that a connection whose server went silent without stalling a write is
// found stale (two pings unanswered) within a few node_timeouts, not minutes.
func pingInterval(nodeTimeout time.Duration) time.Duration { return nodeTimeout }

// enqueue hands m to the sender; when the queue is full, the drop is counted and logged (at
// most once per sendLogEvery).
func (n *Node) enqueue(m outMsg, typ wamp.MessageType) bool {
	if n.out.put(m) {
		return true
	}
	n.out.mu.Lock()
	closed := n.out.closed
	n.out.mu.Unlock()
	if closed {
		return false
	}
	if d, ok := n.out.logDrop(); ok {
		n.log.Warn("cluster: NATS does not keep up with this node's sends; messages to the other nodes dropped, local routing goes on",
			"subject", m.subj, "type", typ, "dropped", d, "queued_bytes", n.out.bytes.Load(), "limit_bytes", n.out.limit,
			"dropped_total", n.Dropped(), "log_every", sendLogEvery)
	}
	return false
}

// sender sends the queued messages and the heartbeats until the queue is closed and empty.
func (n *Node) sender() {
	defer n.swg.Done()
	q := n.out
	var batch []outMsg
	for {
		n.sendHeartbeat()
		var closed bool
		batch, closed = q.take(batch)
		if len(batch) == 0 {
			if closed {
				return
			}
			<-q.wake
			continue
		}
		for i := range batch {
			n.sendHeartbeat()
			m := &batch[i]
			n.write(m)
			q.bytes.Add(-m.cost())
			*m = outMsg{} // the body goes with it
		}
	}
}

// sendHeartbeat sends the waiting heartbeat, if any.
func (n *Node) sendHeartbeat() {
	if n.out.hb.Load() == nil {
		return
	}
	h := n.out.hb.Swap(nil)
	if h == nil {
		return
	}
	if err := n.nc.Publish(n.base+".hb", h.data); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.log.Warn("cluster: cannot send a heartbeat", "err", err)
		n.writeFailed(err)
	}
}

// write sends m; a failure is counted as a drop and logged (at most once per sendLogEvery).
func (n *Node) write(m *outMsg) {
	var err error
	if m.reply != "" {
		err = n.nc.PublishRequest(m.subj, m.reply, m.data)
	} else {
		err = n.nc.Publish(m.subj, m.data)
	}
	if err == nil || errors.Is(err, nats.ErrConnectionClosed) {
		return
	}
	n.out.dropped.Add(1)
	if d, ok := n.out.logDrop(); ok {
		n.log.Warn("cluster: cannot send to NATS; messages to the other nodes dropped, local routing goes on",
			"subject", m.subj, "err", err, "dropped", d, "dropped_total", n.Dropped(), "log_every", sendLogEvery)
	}
	n.writeFailed(err)
}

// writeFailed makes the NATS connection again after a write that timed out: nats.go closes
// the connection itself when part of the write went out, not when none did.
func (n *Node) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		_ = n.nc.ForceReconnect()
	}
}
