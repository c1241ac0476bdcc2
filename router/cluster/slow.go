package cluster

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Pending limits of the node's NATS subscriptions: what nats.go holds for a subscription
// whose handler has not caught up. Past either, NATS drops the messages (a slow consumer)
// and the async error handler logs it. Heartbeats are small and few; publications and
// direct messages (calls, results) may be large: 64 MiB and 65,536 messages per
// subscription bound a node's memory while riding out a burst of a few seconds.
const (
	defaultPendingMsgs  = 65536
	defaultPendingBytes = 64 << 20
	// slowLogEvery: a slow consumer is logged at most once per subject in this period.
	slowLogEvery = 10 * time.Second
)

// slowLog rate-limits the slow-consumer log lines and counts the dropped messages.
type slowLog struct {
	mu      sync.Mutex
	last    map[string]time.Time // subject -> last logged
	dropped map[*nats.Subscription]int
	total   atomic.Uint64 // messages NATS dropped on this node's subscriptions
}

// Dropped returns how many cluster messages this node lost: those NATS dropped on its
// subscriptions because their handlers fell behind (slow consumer), and those it could not
// send because NATS did not keep up (its send queue full, or the write failed; sender.go).
func (n *Node) Dropped() uint64 { return n.slow.total.Load() + n.out.dropped.Load() }

// asyncError is nats.go's ErrorHandler: a slow consumer on one of the node's subscriptions
// (with its subject and pending counts), or another asynchronous error from the server.
func (n *Node) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub == nil || !errors.Is(err, nats.ErrSlowConsumer) {
		n.log.Warn("cluster: NATS error", "err", err)
		return
	}
	subj := sub.Subject
	pm, pb, _ := sub.Pending()
	d, _ := sub.Dropped()
	s := &n.slow
	s.mu.Lock()
	delta := d - s.dropped[sub]
	if delta < 0 {
		delta = 0
	}
	s.dropped[sub] = d
	now := time.Now()
	log := now.Sub(s.last[subj]) >= slowLogEvery
	if log {
		s.last[subj] = now
	}
	s.mu.Unlock()
	s.total.Add(uint64(delta))
	if log {
		lm, lb, _ := sub.PendingLimits()
		n.log.Warn("cluster: slow consumer: this node falls behind on a NATS subscription and NATS drops its messages",
			"subject", subj, "pending_msgs", pm, "pending_bytes", pb, "limit_msgs", lm, "limit_bytes", lb,
			"dropped", d, "log_every", slowLogEvery)
	}
}
