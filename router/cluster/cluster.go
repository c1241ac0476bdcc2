// Package cluster spreads a router's configured realms over several Portico nodes through
// NATS (nats.go; an embedded nats-server when configured). It is the router's only importer
// of nats.go.
//
// Subjects, under base = <subject_prefix>.<cluster name>:
//
//	base.hb               heartbeats: node name, incarnation, ConfigHash, its local
//	                      registrations per realm (URI, match, invocation policy)
//	base.<realm>.pub      publications, sent once per PUBLISH (not per subscriber) when another
//	                      node is alive; each node's broker matches them against its own
//	                      subscribers
//	base.node.<node>      calls to a node's callees, their cancels, results and errors
//	base.<realm>.meta     meta API calls (wamp.session.count, ...) asking every other node for
//	                      its part, answered on the asker's base.node.<node>.meta (meta.go);
//	                      the meta events travel on base.<realm>.pub as publications
//
// A message body is "<from node>\n<realm>\n" and one WAMP message in the msgpack serializer
// (PUBLISH, CALL, CANCEL, RESULT, ERROR), so that values keep their types. Local traffic never
// goes through NATS. Retained events are kept, beside, in the JetStream key-value bucket
// <subject_prefix>_<cluster name>_retained, one key per realm and topic, each value such a
// body (retain.go). See the README's Cluster section for what works across nodes.
package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// Node is this Portico node in its cluster. It implements router.Cluster.
type Node struct {
	cfg   config.Cluster
	log   *slog.Logger
	base  string
	inc   uint64 // incarnation: tells a restarted node with the same name from its former self
	codec wamp.Codec

	r      *router.Router
	srv    *server.Server // embedded NATS, nil without one
	nc     *nats.Conn
	links  map[wamp.URI]*link // per configured realm; read-only after Start
	peers  atomic.Int32       // other nodes alive
	change chan struct{}      // a local registration came or went
	stop   chan struct{}
	wg     sync.WaitGroup
	// out queues what the node sends to NATS for the sender goroutine (swg; sender.go).
	out *sendQueue
	swg sync.WaitGroup

	config     string       // ConfigHash of this node's realms and roles ("" unset)
	mismatched atomic.Int32 // live peers whose ConfigHash differs (agreement.go)

	// local: this node's sessions' testaments (testament.go), tdirty: changed since the last
	// heartbeat; resend: the next heartbeat carries them anyway.
	tmu    sync.Mutex
	local  testaments
	tdirty bool
	resend atomic.Bool

	ret *retainer // the cluster's retained events (retain.go)
	// tmpStore is the embedded server's JetStream directory made for a config without
	// store_dir (made in code: tests), removed on Close.
	tmpStore string

	metaState         // meta calls waiting for the other nodes (meta.go)
	slow      slowLog // slow consumers on the NATS subscriptions (slow.go)
	// pendingMsgs and pendingBytes are the subscriptions' pending limits (slow.go).
	pendingMsgs, pendingBytes int
	// onMsg, when set (tests), runs first in each NATS message handler.
	onMsg func(subject string)

	mu    sync.Mutex
	nodes map[string]*peer
	// rr holds the roundrobin counters of the procedures other nodes have (target); scratch
	// is target's list of candidate nodes.
	rr      map[rrKey]uint64
	scratch []string
	// swept is when sweep last ran: a gap of more than node_timeout since says this node
	// itself did not run (stopped, starved), not that the others went silent.
	swept time.Time
}

// peer is another node as its heartbeats describe it.
type peer struct {
	inc   uint64
	seq   uint64
	last  time.Time
	procs map[wamp.URI][]router.Procedure
	// config is the peer's ConfigHash; mismatch says it differs from this node's (logged
	// once per peer and hash).
	config   string
	mismatch bool
	// testaments are the peer's sessions' testaments, as its last heartbeat with them said.
	testaments testaments
}

// heartbeat is the body of a base.hb message.
type heartbeat struct {
	Node   string `json:"node"`
	Inc    uint64 `json:"inc"`
	Seq    uint64 `json:"seq"`
	Config string `json:"config,omitempty"`
	// Testaments, when present (HasTestaments), replace what the node had sent before.
	HasTestaments bool                            `json:"has_testaments,omitempty"`
	Testaments    testaments                      `json:"testaments,omitempty"`
	Realms        map[wamp.URI][]router.Procedure `json:"realms,omitempty"`
}

// New returns the node for cfg (defaults applied); Start connects it.
func New(cfg config.Cluster, log *slog.Logger) *Node {
	var b [8]byte
	_, _ = rand.Read(b[:])
	codec, _ := wamp.CodecByName("msgpack")
	n := &Node{cfg: cfg, log: log.With("cluster", cfg.Name, "node", cfg.Node),
		base: cfg.SubjectPrefix + "." + cfg.Name, inc: binary.LittleEndian.Uint64(b[:]) | 1, codec: codec,
		change: make(chan struct{}, 1), stop: make(chan struct{}), nodes: map[string]*peer{}, rr: map[rrKey]uint64{}, local: testaments{},
		metaState: metaState{gathers: map[wamp.ID]*gather{}}, out: newSendQueue(sendQueueBytes),
		pendingMsgs: defaultPendingMsgs, pendingBytes: defaultPendingBytes,
		slow: slowLog{last: map[string]time.Time{}, dropped: map[*nats.Subscription]int{}}}
	n.ret = newRetainer(n)
	return n
}

// ClientURL is the embedded NATS server's client URL, "" without one.
func (n *Node) ClientURL() string {
	if n.srv == nil {
		return ""
	}
	return n.srv.ClientURL()
}

// Peers returns how many other nodes are alive.
func (n *Node) Peers() int { return int(n.peers.Load()) }

// Start runs the embedded NATS server when configured, connects to NATS, opens one link
// session on each configured realm of r, and starts the heartbeats.
func (n *Node) Start(r *router.Router) error {
	n.r = r
	if e := n.cfg.NATS.Embedded; e != nil {
		if e.StoreDir == "" {
			dir, err := os.MkdirTemp("", "portico-nats-")
			if err != nil {
				return fmt.Errorf("cluster: a JetStream directory for the embedded NATS server: %w", err)
			}
			c := *e
			c.StoreDir, n.tmpStore, e = dir, dir, &c
		}
		if err := os.MkdirAll(e.StoreDir, 0o755); err != nil {
			n.Close()
			return fmt.Errorf("cluster.nats.embedded.store_dir: the embedded NATS server's JetStream directory: %w", err)
		}
		srv, err := startEmbedded(n.cfg.Name, n.cfg.Node, e)
		if err != nil {
			n.Close()
			return err
		}
		n.srv = srv
		if len(n.cfg.NATS.URLs) == 1 && n.cfg.NATS.URLs[0] == "nats://"+e.Listen {
			n.cfg.NATS.URLs = []string{srv.ClientURL()} // the port chosen for ":0"
		}
		n.log.Info("cluster: embedded NATS server ready", "listen", srv.ClientURL(), "cluster_listen", e.ClusterListen, "routes", e.Routes, "jetstream", embeddedJetStream(e))
		if !embeddedJetStream(e) {
			n.log.Warn("cluster: the embedded NATS server runs without JetStream: it has a cluster_listen and no routes, and JetStream in a NATS cluster needs routes (list the others, or its own cluster URL); the cluster's retained events live on the other NATS servers, or per node when none has JetStream")
		}
	}
	opts, err := n.natsOptions()
	if err != nil {
		n.Close()
		return err
	}
	nc, err := nats.Connect(strings.Join(n.cfg.NATS.URLs, ","), opts...)
	if err != nil {
		n.Close()
		return fmt.Errorf("cluster: connecting to NATS at %s: %w", strings.Join(n.cfg.NATS.URLs, ","), err)
	}
	n.nc = nc
	n.swg.Add(1)
	go n.sender()
	n.links = map[wamp.URI]*link{}
	for _, realm := range r.ConfiguredRealms() {
		n.links[realm] = n.openLink(realm)
	}
	subs := []struct {
		subj string
		fn   nats.MsgHandler
	}{
		{n.base + ".hb", n.onHeartbeat},
		{n.base + ".*.pub", n.onPublication},
		{n.base + ".node." + n.cfg.Node, n.onDirect},
		{n.base + ".*.meta", n.onMetaCall},
		{n.replySubject(), n.onMetaAnswer},
	}
	for _, s := range subs {
		sub, err := nc.Subscribe(s.subj, s.fn)
		if err == nil {
			err = sub.SetPendingLimits(n.pendingMsgs, n.pendingBytes)
		}
		if err != nil {
			n.Close()
			return fmt.Errorf("cluster: subscribing to %s: %w", s.subj, err)
		}
	}
	n.wg.Add(2)
	go n.beat()
	go n.ret.run()
	select {
	case <-n.ret.loaded:
	case <-time.After(retainLoadWait):
		n.log.Warn("cluster: the retained events are not loaded from JetStream yet; they come in the background", "waited", retainLoadWait)
	}
	n.log.Info("cluster: joined", "nats", strings.Join(n.cfg.NATS.URLs, ","), "realms", len(n.links), "node_timeout", n.cfg.NodeTimeout)
	return nil
}

// Close leaves the cluster: heartbeats stop (the others drop this node after node_timeout),
// the link sessions end, the sender sends what is queued, the NATS connection and the
// embedded server close.
func (n *Node) Close() {
	select {
	case <-n.stop:
		return
	default:
		close(n.stop)
	}
	if n.ret != nil {
		n.ret.cancel()
	}
	n.wg.Wait()
	for _, l := range n.links {
		l.close()
	}
	n.out.close()
	n.swg.Wait()
	if n.nc != nil {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	if n.tmpStore != "" {
		_ = os.RemoveAll(n.tmpStore)
	}
}

func (n *Node) natsOptions() ([]nats.Option, error) {
	c := n.cfg.NATS
	opts := []nats.Option{nats.Name("portico " + n.cfg.Name + "/" + n.cfg.Node), nats.NoEcho(),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true),
		// A write to a NATS server that stopped reading ends after flushTimeout and the
		// connection is made again (sender.go); a silent one is found by the client's pings.
		nats.FlusherTimeout(flushTimeout(n.cfg.NodeTimeout)), nats.ReconnectOnFlusherError(),
		nats.PingInterval(pingInterval(n.cfg.NodeTimeout)),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn("cluster: disconnected from NATS; local routing goes on", "err", err)
		}),
		nats.ErrorHandler(n.asyncError),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info("cluster: reconnected to NATS", "url", nc.ConnectedUrl())
			n.resend.Store(true)
			n.changed()
			n.ret.reconnected()
		}),
	}
	switch {
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "" || c.Password != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Credentials != "":
		opts = append(opts, nats.UserCredentials(c.Credentials))
	case c.NKeySeed != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("cluster.nats.nkey_seed: %w", err)
		}
		opts = append(opts, o)
	}
	if t := c.TLS; t != nil {
		if len(t.CACertificates) > 0 {
			opts = append(opts, nats.RootCAs(t.CACertificates...))
		}
		if t.Certificate != "" {
			opts = append(opts, nats.ClientCert(t.Certificate, t.Key))
		}
		if len(t.CACertificates) == 0 && t.Certificate == "" {
			opts = append(opts, nats.Secure())
		}
	}
	return opts, nil
}

// startEmbedded runs a NATS server in this process.
func startEmbedded(name, node string, e *config.ClusterEmbedded) (*server.Server, error) {
	host, port, err := hostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster.nats.embedded.listen: %w", err)
	}
	// JetStream keeps the cluster's retained events (retain.go); a NATS cluster's JetStream
	// needs routes (nats-server refuses to start otherwise).
	o := &server.Options{ServerName: "portico-" + name + "-" + node, Host: host, Port: port, NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
		JetStream: embeddedJetStream(e), StoreDir: e.StoreDir}
	if e.ClusterListen != "" {
		ch, cp, err := hostPort(e.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster.nats.embedded.cluster_listen: %w", err)
		}
		o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = "portico-"+name, ch, cp
	}
	if len(e.Routes) > 0 {
		o.Routes = server.RoutesFromStr(strings.Join(e.Routes, ","))
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: embedded NATS server on %s not ready within 10s", e.Listen)
	}
	return srv, nil
}

// embeddedJetStream reports whether the embedded server e runs JetStream: always but with a
// cluster_listen and no routes, which JetStream in a NATS cluster cannot do with.
func embeddedJetStream(e *config.ClusterEmbedded) bool {
	return e.ClusterListen == "" || len(e.Routes) > 0
}

func hostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port (4222, 6222)
	}
	return h, port, nil
}

// --- router.Cluster

// Published sends a local publication to the other nodes: once, on the realm's subject, and
// only while another node is alive. One with retain also goes to the cluster's retained events
// (retain.go), whether another node is alive or not. It only queues them (never waits for
// NATS).
func (n *Node) Published(realm wamp.URI, m *wamp.Publish, id wamp.ID, p *router.Publisher) {
	retain, _ := m.Options["retain"].(bool)
	retain = retain && n.ret != nil && n.ret.active()
	others := n.peers.Load() > 0
	if !others && !retain || n.nc == nil {
		return
	}
	opts := make(wamp.Dict, len(m.Options)+2)
	for k, v := range m.Options {
		switch k {
		case "acknowledge", "exclude_me", "disclose_me":
		default:
			opts[k] = v
		}
	}
	if p != nil {
		opts["disclose_me"] = true
		opts[router.ClusterPublisher] = wamp.List{uint64(p.ID), p.AuthID, p.AuthRole}
	}
	pub := &wamp.Publish{Request: id, Options: opts, Topic: m.Topic, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload}
	b, err := n.encode(realm, pub)
	if err != nil {
		n.log.Warn("cluster: cannot encode a publication", "realm", realm, "topic", m.Topic, "err", err)
		return
	}
	if others {
		n.publish(n.base+"."+realmToken(realm)+".pub", pub, b)
	}
	if retain {
		n.ret.put(realm, m.Topic, b)
	}
}

// RegistrationsChanged asks for a heartbeat now (it carries the registrations).
func (n *Node) RegistrationsChanged(wamp.URI) { n.changed() }

func (n *Node) changed() {
	select {
	case n.change <- struct{}{}:
	default:
	}
}

// realmToken is the realm as one subject token: itself when it is one, else a hash of it.
func realmToken(realm wamp.URI) string {
	if config.SubjectToken(string(realm)) {
		return string(realm)
	}
	h := sha256.Sum256([]byte(realm))
	return "_" + hex.EncodeToString(h[:8])
}

// send queues one WAMP message to subj for the sender (sender.go); a message that cannot
// be encoded or queued is logged (NATS down or too slow: the cluster part is lost, local
// routing goes on).
func (n *Node) send(subj string, realm wamp.URI, m wamp.Message) {
	b, err := n.encode(realm, m)
	if err != nil {
		n.log.Warn("cluster: cannot encode a message for NATS", "subject", subj, "type", m.Type(), "err", err)
		return
	}
	n.publish(subj, m, b)
}

// publish queues b, the body of m, for subj (sender.go).
func (n *Node) publish(subj string, m wamp.Message, b []byte) {
	n.enqueue(outMsg{subj: subj, data: b}, m.Type())
}

// encode makes a message body: "<this node>\n<realm>\n" and m in msgpack.
func (n *Node) encode(realm wamp.URI, m wamp.Message) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, n.cfg.Node...)
	b = append(b, '\n')
	b = append(b, realm...)
	b = append(b, '\n')
	return n.codec.Encode(b, m)
}

// envelope splits a message body.
func (n *Node) envelope(b []byte) (from string, realm wamp.URI, m wamp.Message, err error) {
	i := slices.Index(b, '\n')
	if i < 0 {
		return "", "", nil, errors.New("no sender")
	}
	j := slices.Index(b[i+1:], '\n')
	if j < 0 {
		return "", "", nil, errors.New("no realm")
	}
	from, realm = string(b[:i]), wamp.URI(b[i+1:i+1+j])
	m, err = n.codec.Decode(b[i+2+j:])
	return from, realm, m, err
}

func (n *Node) onPublication(msg *nats.Msg) {
	if n.onMsg != nil {
		n.onMsg(msg.Subject)
	}
	from, realm, m, err := n.envelope(msg.Data)
	if err != nil {
		n.log.Warn("cluster: bad publication", "subject", msg.Subject, "err", err)
		return
	}
	p, ok := m.(*wamp.Publish)
	if !ok || from == n.cfg.Node {
		return
	}
	n.r.DeliverRemote(realm, p)
}

func (n *Node) onDirect(msg *nats.Msg) {
	from, realm, m, err := n.envelope(msg.Data)
	if err != nil {
		n.log.Warn("cluster: bad message", "subject", msg.Subject, "err", err)
		return
	}
	l := n.links[realm]
	if l == nil {
		if c, ok := m.(*wamp.Call); ok {
			n.send(n.base+".node."+from, realm, &wamp.Error{RequestType: wamp.CALL, Request: c.Request, Details: wamp.Dict{},
				Error: "wamp.error.no_such_realm", Arguments: wamp.List{"node " + n.cfg.Node + " has no realm " + string(realm)}})
		}
		return
	}
	if !n.forMe(m) {
		return // meant for a former incarnation of this node (link.nodeLost)
	}
	switch m := m.(type) {
	case *wamp.Call:
		l.remoteCall(from, m)
	case *wamp.Cancel:
		l.remoteCancel(from, m)
	case *wamp.Result:
		l.remoteResult(from, m)
	case *wamp.Error:
		l.remoteError(from, m)
	}
}

// toIncarnation is the key, in a CANCEL's options or an ERROR's details, of the incarnation
// of the node it is for (a decimal string), when the sender has dropped that node
// (link.nodeLost): a node with the same name started since must not take it for its own
// calls, whose request IDs start again from 1.
const toIncarnation = "x_portico_to_incarnation"

// forMe reports whether m, from another node, is for this incarnation, and takes the
// toIncarnation key out of it.
func (n *Node) forMe(m wamp.Message) bool {
	var d wamp.Dict
	switch m := m.(type) {
	case *wamp.Cancel:
		d = m.Options
	case *wamp.Error:
		d = m.Details
	}
	to, ok := d[toIncarnation]
	if !ok {
		return true
	}
	delete(d, toIncarnation)
	return to == strconv.FormatUint(n.inc, 10)
}

// --- heartbeats and the node table

func (n *Node) beat() {
	defer n.wg.Done()
	period := n.cfg.NodeTimeout / 4
	t := time.NewTicker(period)
	defer t.Stop()
	var seq uint64
	for {
		seq++
		hb := heartbeat{Node: n.cfg.Node, Inc: n.inc, Seq: seq, Config: n.config, Realms: map[wamp.URI][]router.Procedure{}}
		for realm := range n.links {
			if p := n.r.LocalProcedures(realm); len(p) > 0 {
				slices.SortFunc(p, cmpProc)
				hb.Realms[realm] = p
			}
		}
		if ts := n.testamentsToSend(seq); ts != nil {
			hb.HasTestaments, hb.Testaments = true, ts
		}
		if b, err := json.Marshal(hb); err == nil && n.out.heartbeat(b, hb.HasTestaments) {
			n.resend.Store(true) // the one it replaced had them
		}
		n.sweep()
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.change:
		}
	}
}

func cmpProc(a, b router.Procedure) int {
	if c := strings.Compare(string(a.URI), string(b.URI)); c != 0 {
		return c
	}
	return strings.Compare(a.Match, b.Match)
}

func (n *Node) onHeartbeat(msg *nats.Msg) {
	var hb heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil || hb.Node == "" {
		n.log.Warn("cluster: bad heartbeat", "err", err)
		return
	}
	if hb.Node == n.cfg.Node {
		if hb.Inc != n.inc {
			n.log.Error("cluster: another node uses this node's name; give each node its own cluster.node", "name", hb.Node)
		}
		return
	}
	n.mu.Lock()
	p := n.nodes[hb.Node]
	restarted := p != nil && p.inc != hb.Inc
	var orphans testaments // the former incarnation's
	if p == nil || restarted {
		n.resend.Store(true) // the new node learns this one's testaments
		n.changed()
		if restarted {
			orphans = p.testaments
		}
		if restarted {
			n.log.Warn("cluster: node restarted", "peer", hb.Node)
		} else {
			n.log.Info("cluster: node joined", "peer", hb.Node)
			n.peers.Add(1)
		}
		if p != nil && p.mismatch {
			n.mismatched.Add(-1)
		}
		p = &peer{inc: hb.Inc}
		n.nodes[hb.Node] = p
	}
	p.last = time.Now()
	if hb.Seq < p.seq {
		n.mu.Unlock()
		return // out of order
	}
	p.seq = hb.Seq
	n.agree(hb.Node, p, hb.Config)
	if hb.HasTestaments {
		p.testaments = hb.Testaments
	}
	same := !restarted && equalProcs(p.procs, hb.Realms)
	p.procs = hb.Realms
	n.mu.Unlock()
	if restarted {
		n.lost(hb.Node, 0) // the former incarnation is gone: nothing to tell
		n.fireTestaments(hb.Node, orphans)
	}
	if !same {
		n.resync()
	}
}

func equalProcs(a, b map[wamp.URI][]router.Procedure) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// sweep drops the nodes whose heartbeats stopped for node_timeout. When this node itself
// did not run for node_timeout (stopped with SIGSTOP, a suspended VM, starved), the others'
// heartbeats may be waiting unread: they get node_timeout again from now instead.
func (n *Node) sweep() {
	now := time.Now()
	var gone []string
	orphans := map[string]testaments{}
	incs := map[string]uint64{}
	n.mu.Lock()
	gap := now.Sub(n.swept)
	stalled := !n.swept.IsZero() && gap > n.cfg.NodeTimeout
	n.swept = now
	for name, p := range n.nodes {
		switch {
		case now.Sub(p.last) <= n.cfg.NodeTimeout:
		case stalled:
			p.last = now
		default:
			orphans[name], incs[name] = p.testaments, p.inc
			if p.mismatch {
				n.mismatched.Add(-1)
			}
			delete(n.nodes, name)
			n.peers.Add(-1)
			gone = append(gone, name)
		}
	}
	n.mu.Unlock()
	if stalled {
		n.log.Warn("cluster: this node did not run for longer than node_timeout; the other nodes get node_timeout again to be heard from", "gap", gap.Round(time.Millisecond))
	}
	for _, name := range gone {
		n.lost(name, incs[name])
		n.fireTestaments(name, orphans[name])
		// Logged once its testaments went (tests wait for this line).
		n.log.Warn("cluster: node left (no heartbeat within node_timeout); its registrations are dropped and calls to it fail", "peer", name)
	}
	if len(gone) > 0 {
		n.resync()
	}
}

// lost ends what was in flight with node name; inc, when not 0, is the incarnation of it to
// tell (link.nodeLost).
func (n *Node) lost(name string, inc uint64) {
	for _, l := range n.links {
		l.nodeLost(name, inc)
	}
}

// resync brings each link's remote registrations in line with the node table.
func (n *Node) resync() {
	for realm, l := range n.links {
		l.sync(n.want(realm))
	}
}

// want returns the procedures other live nodes have on realm.
func (n *Node) want(realm wamp.URI) map[router.Procedure]bool {
	want := map[router.Procedure]bool{}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.nodes {
		for _, x := range p.procs[realm] {
			x.Invoke = "" // one link registration per URI and match, whatever each node's policy
			want[x] = true
		}
	}
	for k := range n.rr {
		if k.realm == realm && !want[k.proc] {
			delete(n.rr, k) // no node has it any more
		}
	}
	return want
}

// target returns the node a call to proc goes to, among the live nodes that registered it,
// by the registration's invocation policy (as the first of those nodes by name announced
// it): single and first take the first node by name, last the last, roundrobin rotates over
// them (one counter per realm and procedure), random takes any. The chosen node's dealer
// then applies the policy among its own callees.
func (n *Node) target(realm wamp.URI, proc router.Procedure) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := n.scratch[:0]
	first, invoke := "", ""
	for name, p := range n.nodes {
		for _, x := range p.procs[realm] {
			if x.URI == proc.URI && x.Match == proc.Match {
				names = append(names, name)
				if first == "" || name < first {
					first, invoke = name, x.Invoke
				}
				break
			}
		}
	}
	n.scratch = names
	switch {
	case len(names) == 0:
		return ""
	case len(names) == 1:
		return names[0]
	}
	switch invoke {
	case "roundrobin":
		slices.Sort(names)
		k := rrKey{realm, proc}
		i := n.rr[k]
		n.rr[k] = i + 1
		return names[i%uint64(len(names))]
	case "random":
		return names[mrand.IntN(len(names))]
	case "last":
		return slices.Max(names)
	default:
		return first
	}
}

// rrKey names a roundrobin counter: a realm's procedure (its URI and match).
type rrKey struct {
	realm wamp.URI
	proc  router.Procedure
}
