package cluster

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"portico/router/wamp"
)

// The meta API across nodes (router/cluster_meta.go): a scatter-gather on NATS. The asking
// node sends the meta CALL once to base.<realm>.meta, with base.node.<node>.meta as the reply
// subject; every other node answers there with its part (Router.MetaPart), a RESULT or ERROR
// with the CALL's request ID. The asking node waits for the nodes alive when it asked, at
// most node_timeout (a node that stopped answering is dropped from the table within that
// time anyway), and goes on without the ones that did not answer, logging them. The meta
// events (on_join, on_register, ...) need nothing here: the router passes them to Published,
// as publications.
//
// Lock order: Meta runs under the router's realm.mu and takes Node.mu, then Node.gmu, each
// alone; neither is held while calling into the router (await calls done without them).

// gather is one meta call waiting for the other nodes' parts.
type gather struct {
	proc wamp.URI
	want map[string]bool // the nodes alive when it asked
	got  map[string]wamp.Message
	// waiting counts the wanted nodes that have not answered; full is closed when it is 0.
	waiting int
	full    chan struct{}
}

// metaSubject is the subject of realm's meta calls; replySubject this node's answers'.
func (n *Node) metaSubject(realm wamp.URI) string { return n.base + "." + realmToken(realm) + ".meta" }
func (n *Node) replySubject() string              { return n.base + ".node." + n.cfg.Node + ".meta" }

// Meta implements router.Cluster: it sends m to the other nodes and calls done with their
// parts.
func (n *Node) Meta(realm wamp.URI, m *wamp.Call, done func([]wamp.Message)) bool {
	if n.peers.Load() == 0 || n.nc == nil {
		return false
	}
	g := &gather{proc: m.Procedure, want: map[string]bool{}, got: map[string]wamp.Message{}, full: make(chan struct{})}
	n.mu.Lock()
	for name := range n.nodes {
		g.want[name] = true
	}
	n.mu.Unlock()
	if len(g.want) == 0 {
		return false
	}
	g.waiting = len(g.want)
	n.gmu.Lock()
	n.gseq++
	corr := wamp.ID(n.gseq)
	n.gathers[corr] = g
	n.gmu.Unlock()
	q := *m
	q.Request = corr
	b, err := n.encode(realm, &q)
	if err == nil && !n.enqueue(outMsg{subj: n.metaSubject(realm), reply: n.replySubject(), data: b}, wamp.CALL) {
		err = errors.New("the send queue is full or closed")
	}
	if err != nil {
		n.gmu.Lock()
		delete(n.gathers, corr)
		n.gmu.Unlock()
		n.log.Warn("cluster: cannot send a meta call; answering with this node's part", "procedure", m.Procedure, "err", err)
		return false
	}
	go n.await(corr, g, done)
	return true
}

// await waits for g's parts, at most node_timeout, and hands them to done.
func (n *Node) await(corr wamp.ID, g *gather, done func([]wamp.Message)) {
	t := time.NewTimer(n.cfg.NodeTimeout)
	defer t.Stop()
	select {
	case <-g.full:
	case <-t.C:
	case <-n.stop:
	}
	n.gmu.Lock()
	delete(n.gathers, corr)
	names := make([]string, 0, len(g.got))
	var missing []string
	for name := range g.got {
		names = append(names, name)
	}
	for name := range g.want {
		if g.got[name] == nil {
			missing = append(missing, name)
		}
	}
	slices.Sort(names)
	parts := make([]wamp.Message, len(names))
	for i, name := range names {
		parts[i] = g.got[name]
	}
	n.gmu.Unlock()
	if len(missing) > 0 {
		slices.Sort(missing)
		n.log.Warn("cluster: nodes did not answer a meta call within node_timeout; answering without them", "procedure", g.proc, "missing", missing)
	}
	done(parts)
}

// onMetaCall answers another node's meta call with this node's part.
func (n *Node) onMetaCall(msg *nats.Msg) {
	if n.onMsg != nil {
		n.onMsg(msg.Subject)
	}
	from, realm, m, err := n.envelope(msg.Data)
	if err != nil {
		n.log.Warn("cluster: bad meta call", "subject", msg.Subject, "err", err)
		return
	}
	c, ok := m.(*wamp.Call)
	if !ok || from == n.cfg.Node || msg.Reply == "" {
		return
	}
	n.send(msg.Reply, realm, n.r.MetaPart(realm, c))
}

// onMetaAnswer files another node's part of one of this node's meta calls.
func (n *Node) onMetaAnswer(msg *nats.Msg) {
	from, _, m, err := n.envelope(msg.Data)
	if err != nil {
		n.log.Warn("cluster: bad meta answer", "subject", msg.Subject, "err", err)
		return
	}
	var req wamp.ID
	switch a := m.(type) {
	case *wamp.Result:
		req = a.Request
	case *wamp.Error:
		req = a.Request
	default:
		return
	}
	n.gmu.Lock()
	defer n.gmu.Unlock()
	g := n.gathers[req]
	if g == nil || g.got[from] != nil {
		return // late (the caller has its answer) or repeated
	}
	g.got[from] = m
	if g.want[from] {
		g.waiting--
		if g.waiting == 0 {
			close(g.full)
		}
	}
}

// metaState is the Node's table of meta calls in flight.
type metaState struct {
	gmu     sync.Mutex
	gseq    uint64
	gathers map[wamp.ID]*gather
}
