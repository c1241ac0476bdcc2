package router

import (
	"sync"

	"portico/router/wamp"
)

// outItem is one queued outbound message: either a message the session's writer encodes with
// the session's codec, or bytes already encoded (an EVENT encoded once per codec and shared by
// every receiver that uses it; shared bytes are never modified).
type outItem struct {
	msg wamp.Message
	b   []byte
}

// outQueue is a session's bounded outbound queue, drained by the session's one writer
// goroutine (nats-server's client writeLoop shape). Pushing never blocks: a session whose queue
// is full is a slow consumer, and the queue is then marked overflowed and closed so that the
// writer disconnects it (the policy in push); nothing is silently dropped while the session
// lives.
type outQueue struct {
	mu       sync.Mutex
	items    []outItem
	limit    int
	closed   bool // no more pushes; the writer drains what is queued and ends
	overflow bool // closed because the limit was hit
	wake     chan struct{}
}

func (q *outQueue) init(limit int) {
	q.limit = limit
	q.wake = make(chan struct{}, 1)
}

// pushResult says what push did.
type pushResult int

const (
	pushed       pushResult = iota
	pushClosed              // the queue was already closed: the session is going away
	pushOverflow            // this push found the queue full and closed it
)

// push queues it. On overflow, the queued items are released (the session is disconnected, so
// they would never be written) and the writer is woken to abort and close the transport.
func (q *outQueue) push(it outItem) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	if len(q.items) >= q.limit {
		q.closed, q.overflow = true, true
		clear(q.items)
		q.items = q.items[:0]
		q.mu.Unlock()
		q.signal()
		return pushOverflow
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.signal()
	return pushed
}

// close stops further pushes; the writer writes what is queued, then closes the transport.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take swaps the queued items into spare (which it reuses) and reports the queue's state.
func (q *outQueue) take(spare []outItem) (items []outItem, closed, overflow bool) {
	q.mu.Lock()
	items, q.items = q.items, spare[:0]
	closed, overflow = q.closed, q.overflow
	q.mu.Unlock()
	return items, closed, overflow
}

func (q *outQueue) overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}
