package router

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"portico/router/wamp"
)

// outItem is one queued outbound message: either a message the session's writer encodes with
// the session's codec, or bytes already encoded (an EVENT encoded once per codec and shared by
// every receiver that uses it; shared bytes are never modified). size is what the item counts
// against the queue's byte bound: len(b), or for a message an estimate (the size of the
// client message it was made from, or msgSizeHint for the router's own small replies).
type outItem struct {
	msg  wamp.Message
	b    []byte
	size int
	typ  wamp.MessageType // b's message type (msg has its own), for Metrics.Sent
}

// maxSpareItems bounds the slices of items an idle queue keeps for its next writer.
const maxSpareItems = 16

// msgSizeHint is what a message the router makes itself (SUBSCRIBED, an ERROR, a meta API
// result) counts against the byte bound: its encoding is not known before the writer makes it.
const msgSizeHint = 64

// outQueue is a session's bounded outbound queue, drained by the session's one writer
// (nats-server's client writeLoop shape). The writer runs only while there is something to
// write: a push into an idle queue starts it (on a goroutine of the router's writerPool), and
// it ends when it finds the queue empty, so that an idle session holds no goroutine (and no
// stack) for writing; at most
// one runs at a time (writing). Pushing never blocks. The bounds, after
// nats-server's slow consumer rules (client.go: max_pending bytes, write_deadline):
//
//   - limit messages and maxBytes bytes, counting those queued and the one being written. A push
//     over either is refused and the session is a slow consumer; an item is always taken into
//     an empty queue, so that one event larger than maxBytes does not cut a prompt reader.
//   - the high-water mark is half of either bound, the low-water mark a quarter of both. A
//     queue over the high-water mark must be back at the low-water mark within timeout, or the
//     session is a slow consumer. The clock is read only while the queue is over the mark.
//
// A slow consumer's queue is marked overflowed and closed, its items released, and its writer
// disconnects it (session.push). Meanwhile the sessions whose messages filled it wait before
// reading their next message (session.flowWait): a prompt reader sets the pace of those who
// send to it instead of being disconnected by their bursts. Nothing is silently dropped while
// the session lives.
type outQueue struct {
	mu       sync.Mutex
	items    []outItem
	limit    int           // messages
	maxBytes int           // bytes
	timeout  time.Duration // to drain from the high-water mark to the low-water mark
	hwmN     int           // high-water mark: limit/2 messages
	hwmBytes int           // or maxBytes/2 bytes
	lwmN     int           // low-water mark: limit/4 messages
	lwmBytes int           // and maxBytes/4 bytes
	n        int           // messages queued or being written
	bytes    int           // their sizes
	// above is set when the queue passes the high-water mark, at aboveSince, and cleared when
	// it is back at the low-water mark; drained, made by a waiting sender, is closed then (or
	// when the queue closes).
	above      bool
	aboveFlag  atomic.Bool // above, for the reader's check after each message
	aboveSince time.Time
	drained    chan struct{}
	closed     bool   // no more pushes; the writer drains what is queued and ends
	overflow   bool   // closed because a bound was hit
	reason     string // which bound, for the log line
	// writing is set while a writer runs (or is about to): the push that finds the queue
	// idle starts one with start. It stays set once the writer ended for good (closed,
	// overflowed or a failed write).
	writing bool
	start   func()
	// spare is the writer's second slice of items, kept while it does not run (when small),
	// so that items and spare alternate as with a writer that never ends.
	spare []outItem
}

// init sets the bounds; start runs the writer on a goroutine other than the caller's (nil: no
// writer, the items stay queued, as in the benchmarks).
func (q *outQueue) init(limit, maxBytes int, timeout time.Duration, start func()) {
	if limit <= 0 {
		limit = DefaultOutQueueLimit
	}
	if maxBytes <= 0 {
		maxBytes = DefaultOutQueueBytes
	}
	q.limit, q.maxBytes, q.timeout = limit, maxBytes, timeout
	q.hwmN, q.hwmBytes, q.lwmN, q.lwmBytes = limit/2, maxBytes/2, limit/4, maxBytes/4
	q.start = start
}

// pushResult says what push did.
type pushResult int

const (
	pushed       pushResult = iota
	pushClosed              // the queue was already closed: the session is going away
	pushOverflow            // this push found a bound exceeded and closed the queue
)

// push queues it. On overflow, the queued items are released (the session is disconnected, so
// they would never be written) and the writer is woken to abort and close the transport.
// congested reports that the queue is over its high-water mark after the push: the sender
// should wait for it to drain before sending more.
func (q *outQueue) push(it outItem) (res pushResult, congested bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed, false
	}
	if q.above || q.n >= q.hwmN || q.bytes+it.size > q.hwmBytes {
		// Over the high-water mark (or about to be): the bounds apply.
		switch {
		case q.n >= q.limit:
			q.overflowLocked(fmt.Sprintf("outbound queue full (%d messages)", q.limit))
		case q.n > 0 && q.bytes+it.size > q.maxBytes:
			q.overflowLocked(fmt.Sprintf("outbound queue full (%d bytes)", q.maxBytes))
		case q.above && q.timeout > 0 && time.Since(q.aboveSince) >= q.timeout:
			q.overflowLocked(q.stallReason())
		}
		if q.overflow {
			kick := q.kickLocked()
			q.mu.Unlock()
			q.run(kick)
			return pushOverflow, false
		}
		if !q.above {
			q.above, q.aboveSince = true, time.Now()
			q.aboveFlag.Store(true)
		}
		congested = true
	}
	q.items = append(q.items, it)
	q.n++
	q.bytes += it.size
	kick := q.kickLocked()
	q.mu.Unlock()
	q.run(kick)
	return pushed, congested
}

func (q *outQueue) stallReason() string {
	return fmt.Sprintf("outbound queue not drained for %v", q.timeout)
}

// overflowLocked closes the queue for a slow consumer and releases what it holds.
func (q *outQueue) overflowLocked(reason string) {
	q.closed, q.overflow, q.reason = true, true, reason
	clear(q.items)
	q.items = q.items[:0]
	q.n, q.bytes = 0, 0
	q.wakeSendersLocked()
}

func (q *outQueue) wakeSendersLocked() {
	q.above = false
	q.aboveFlag.Store(false)
	if q.drained != nil {
		close(q.drained)
		q.drained = nil
	}
}

// release accounts for n items of size bytes in all that the writer wrote (or dropped). It
// reports false once the queue overflowed: the writer stops writing and aborts.
func (q *outQueue) release(n, size int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.overflow {
		return false
	}
	q.n -= n
	q.bytes -= size
	if q.above && q.n <= q.lwmN && q.bytes <= q.lwmBytes {
		q.wakeSendersLocked()
	}
	return true
}

// congestion returns, while the queue is over its high-water mark, a channel closed when it is
// back at the low-water mark or closed, and the time by which it must be. It returns a nil
// channel when there is nothing to wait for.
func (q *outQueue) congestion() (<-chan struct{}, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || !q.above {
		return nil, time.Time{}
	}
	if q.drained == nil {
		q.drained = make(chan struct{})
	}
	var deadline time.Time
	if q.timeout > 0 {
		deadline = q.aboveSince.Add(q.timeout)
	}
	return q.drained, deadline
}

// checkStall applies the time bound: a queue over its high-water mark for timeout overflows.
// It reports whether this call made it overflow.
func (q *outQueue) checkStall() bool {
	q.mu.Lock()
	if q.closed || !q.above || q.timeout <= 0 || time.Since(q.aboveSince) < q.timeout {
		q.mu.Unlock()
		return false
	}
	q.overflowLocked(q.stallReason())
	kick := q.kickLocked()
	q.mu.Unlock()
	q.run(kick)
	return true
}

// close stops further pushes; the writer writes what is queued, then closes the transport.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.wakeSendersLocked()
	kick := q.kickLocked()
	q.mu.Unlock()
	q.run(kick)
}

// kickLocked reports whether the caller must start the writer: there is work (items, or the
// queue closed) and none runs. It marks the writer running.
func (q *outQueue) kickLocked() bool {
	if q.writing || q.start == nil || len(q.items) == 0 && !q.closed {
		return false
	}
	q.writing = true
	return true
}

func (q *outQueue) run(kick bool) {
	if kick {
		q.start()
	}
}

// take swaps the queued items into spare (which it reuses) and reports the queue's state. The
// items still count against the bounds until the writer releases them. idle reports an empty
// open queue: the writer must end (take marked it ended; the next push starts another).
func (q *outQueue) take(spare []outItem) (items []outItem, closed, overflow, idle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if spare == nil {
		spare, q.spare = q.spare, nil
	}
	if len(q.items) == 0 && !q.closed {
		q.writing = false
		// Kept for the next run when small; a larger one (after a burst) is left to the GC.
		if cap(spare) <= maxSpareItems {
			if cap(q.items) == 0 {
				q.items = spare[:0]
			} else {
				q.spare = spare[:0]
			}
		}
		return nil, false, false, true
	}
	items, q.items = q.items, spare[:0]
	closed, overflow = q.closed, q.overflow
	return items, closed, overflow, false
}

func (q *outQueue) overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}

// overflowReason is the bound that was hit.
func (q *outQueue) overflowReason() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reason
}
