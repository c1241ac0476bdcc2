package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"portico/router/wamp"
)

// Retained events cluster-wide, on NATS JetStream: one key-value bucket per cluster
// (retainBucket), one key per realm and topic (retainKey), whose value is the last PUBLISH
// with retain of that topic on any node, in the cluster's envelope (the message body on NATS:
// sender, realm, the msgpack PUBLISH with its publication ID and options, the publisher in
// ClusterPublisher when disclosed). The publisher's node puts it, from a goroutine of its own
// (a PUBLISH never waits for JetStream); every node watches the bucket: at start (Start waits
// for the bucket's values, at most retainLoadWait) and after each reconnection it loads every
// value into its broker's retained events (router.RetainRemote), then applies each change as
// it comes. The bucket orders the puts, so every node ends with the same event per topic.
// Without JetStream on the NATS server, each node keeps only the retained events published
// while it is alive (one warning at start).

// retainLoadWait bounds how long Start waits for the bucket's values.
const retainLoadWait = 5 * time.Second

// retainOpTimeout bounds one JetStream request (bucket creation, a put).
const retainOpTimeout = 10 * time.Second

// retainRetry is the pause before opening the bucket again after a failure (JetStream not
// ready: a NATS cluster electing its JetStream leader, say).
const retainRetry = 2 * time.Second

// maxRetainPending bounds the retained events waiting to be put; past it a new topic's event
// is dropped from the bucket (one warning a minute), not from the node.
const maxRetainPending = 10000

// retainBucket names the cluster's bucket: "<subject_prefix>_<name>_retained".
func retainBucket(prefix, name string) string { return prefix + "_" + name + "_retained" }

// retainKey is realm and topic as one key: each base64url without padding (letters,
// digits, '-' and '_', which a key may have), joined with a dot.
func retainKey(realm, topic wamp.URI) string {
	return base64.RawURLEncoding.EncodeToString([]byte(realm)) + "." + base64.RawURLEncoding.EncodeToString([]byte(topic))
}

// retainer keeps the node's part of the cluster's retained events.
type retainer struct {
	n      *Node
	ctx    context.Context // canceled when the node closes: JetStream requests end
	cancel context.CancelFunc
	loaded chan struct{} // closed once the bucket's values were loaded, or without a bucket
	again  chan struct{} // NATS reconnected: load the bucket again

	mu      sync.Mutex
	kv      jetstream.KeyValue // nil until the bucket is there (and without JetStream)
	pending map[string][]byte  // key -> envelope, the newest per key
	order   []string           // pending's keys in the order they came
	wake    chan struct{}
	dropped int
	warned  time.Time
	// putWarned: when a put last failed for want of NATS (logged once a minute).
	putWarned time.Time
}

func newRetainer(n *Node) *retainer {
	ctx, cancel := context.WithCancel(context.Background())
	return &retainer{n: n, ctx: ctx, cancel: cancel, loaded: make(chan struct{}), again: make(chan struct{}, 1), wake: make(chan struct{}, 1), pending: map[string][]byte{}}
}

// active reports whether the bucket is there (puts go to it).
func (rt *retainer) active() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.kv != nil
}

// put queues env, a PUBLISH with retain on realm's topic, for the bucket. It never blocks.
func (rt *retainer) put(realm, topic wamp.URI, env []byte) {
	k := retainKey(realm, topic)
	rt.mu.Lock()
	if _, ok := rt.pending[k]; !ok {
		if len(rt.pending) >= maxRetainPending {
			rt.dropped++
			if now := time.Now(); now.Sub(rt.warned) >= time.Minute {
				rt.n.log.Warn("cluster: retained events waiting for JetStream over the bound; the newest are kept by this node only",
					"dropped", rt.dropped, "bound", maxRetainPending)
				rt.warned, rt.dropped = now, 0
			}
			rt.mu.Unlock()
			return
		}
		rt.order = append(rt.order, k)
	}
	rt.pending[k] = env
	rt.mu.Unlock()
	rt.wakeUp()
}

func (rt *retainer) wakeUp() {
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

// reconnected asks for the bucket to be loaded again.
func (rt *retainer) reconnected() {
	select {
	case rt.again <- struct{}{}:
	default:
	}
}

// run makes or opens the bucket, then watches it (again after each reconnection) until the
// node closes.
func (rt *retainer) run() {
	defer rt.n.wg.Done()
	once := sync.OnceFunc(func() { close(rt.loaded) })
	defer once()
	warned := false
	for {
		kv, err := rt.open()
		if err != nil {
			if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
				if !warned {
					rt.n.log.Warn("cluster: the NATS server has no JetStream (nats-server -js, or jetstream in its config); retained events stay per node: a node has those published while it was alive",
						"nats", rt.n.nc.ConnectedUrl(), "err", err)
					warned = true
				}
				once()
				select {
				case <-rt.n.stop:
					return
				case <-rt.again: // another NATS server, maybe
					continue
				}
			}
			rt.n.log.Warn("cluster: cannot open the retained events' JetStream bucket yet; retained events stay per node meanwhile",
				"bucket", retainBucket(rt.n.cfg.SubjectPrefix, rt.n.cfg.Name), "retry_in", retainRetry, "err", err)
			once()
			select {
			case <-rt.n.stop:
				return
			case <-rt.again:
			case <-time.After(retainRetry):
			}
			continue
		}
		rt.mu.Lock()
		first := rt.kv == nil
		rt.kv = kv
		rt.mu.Unlock()
		if first {
			rt.n.wg.Add(1)
			go rt.putLoop()
		}
		if !rt.watch(kv, once) {
			return
		}
	}
}

func (rt *retainer) open() (jetstream.KeyValue, error) {
	js, err := jetstream.New(rt.n.nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(rt.ctx, retainOpTimeout)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return nil, err
	}
	name := retainBucket(rt.n.cfg.SubjectPrefix, rt.n.cfg.Name)
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
			Description: "Portico cluster " + rt.n.cfg.Name + ": the last retained event per realm and topic"})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, name) // another node made it meanwhile
		}
	}
	return kv, err
}

// watch loads the bucket and follows its changes; it returns true when NATS reconnected (to
// load it again), false when the node closes.
func (rt *retainer) watch(kv jetstream.KeyValue, loaded func()) bool {
	ctx, cancel := context.WithCancel(rt.ctx)
	defer cancel()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		rt.n.log.Warn("cluster: cannot watch the retained events' bucket; retried when NATS reconnects", "err", err)
		loaded()
		select {
		case <-rt.n.stop:
			return false
		case <-rt.again:
			return true
		}
	}
	defer func() { _ = w.Stop() }()
	count := 0
	updates := w.Updates()
	for {
		select {
		case <-rt.n.stop:
			return false
		case <-rt.again:
			return true
		case e, ok := <-updates:
			if !ok {
				updates = nil // the watch ended (NATS closed): wait for a reconnection or the end
				continue
			}
			if e == nil {
				rt.n.log.Info("cluster: retained events loaded from JetStream", "bucket", kv.Bucket(), "events", count)
				loaded()
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if rt.apply(e.Value()) {
				count++
			}
		}
	}
}

// apply gives the router one value of the bucket.
func (rt *retainer) apply(b []byte) bool {
	_, realm, m, err := rt.n.envelope(b)
	if err != nil {
		rt.n.log.Warn("cluster: bad retained event in JetStream", "err", err)
		return false
	}
	p, ok := m.(*wamp.Publish)
	if !ok {
		return false
	}
	rt.n.r.RetainRemote(realm, p)
	return true
}

// putLoop puts the queued retained events into the bucket, one at a time (so that a topic's
// newer event is never overtaken by an older one), until the node closes.
func (rt *retainer) putLoop() {
	defer rt.n.wg.Done()
	for {
		for {
			rt.mu.Lock()
			if len(rt.order) == 0 {
				rt.mu.Unlock()
				break
			}
			k := rt.order[0]
			rt.order = rt.order[1:]
			v := rt.pending[k]
			delete(rt.pending, k)
			kv := rt.kv
			rt.mu.Unlock()
			ctx, cancel := context.WithTimeout(rt.ctx, retainOpTimeout)
			_, err := kv.Put(ctx, k, v)
			cancel()
			if err == nil || rt.ctx.Err() != nil {
				continue
			}
			if !rt.n.nc.IsConnected() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
				errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrConnectionReconnecting) {
				// NATS or JetStream is away: put it again after a pause (unless a newer one
				// came meanwhile).
				rt.mu.Lock()
				if _, ok := rt.pending[k]; !ok {
					rt.pending[k] = v
					rt.order = append(rt.order, k)
				}
				log := time.Since(rt.putWarned) >= time.Minute
				if log {
					rt.putWarned = time.Now()
				}
				rt.mu.Unlock()
				if log {
					rt.n.log.Warn("cluster: cannot put a retained event into JetStream yet; it is put again when NATS is back", "retry_in", retainRetry, "err", err)
				}
				select {
				case <-rt.n.stop:
					return
				case <-time.After(retainRetry):
				}
				continue
			}
			rt.n.log.Warn("cluster: cannot put a retained event into JetStream; nodes that start later will not have it", "err", err)
		}
		select {
		case <-rt.n.stop:
			return
		case <-rt.wake:
		}
	}
}
