package cluster

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// link is the cluster's own session on one realm (router.PeerInfo.ClusterLink), over an
// in-process pipe. As a callee it holds the procedures of other nodes' callees (the realm's
// remote table): an INVOCATION it gets is a local caller's call, sent to the callee's node.
// As a caller it makes the calls other nodes send here, so that they run through this
// node's dealer as any call: invocation policy, timeouts, cancel, progressive results, the
// callee leaving.
type link struct {
	n     *Node
	realm wamp.URI
	t     router.Transport
	codec wamp.Codec
	done  chan struct{}

	mu   sync.Mutex
	next wamp.ID
	// Remote registrations: wanted, registered (by ID), and REGISTER/UNREGISTER in flight.
	want    map[router.Procedure]bool
	regs    map[router.Procedure]wamp.ID
	byReg   map[wamp.ID]router.Procedure
	pending map[wamp.ID]router.Procedure // REGISTER request -> procedure
	// out: the calls of local callers in flight on other nodes, by INVOCATION request ID
	// (also the correlation ID on NATS).
	out map[wamp.ID]outCall
	// in: the calls of other nodes' callers this link makes here, by its CALL request ID;
	// byOrigin finds them by (node, correlation ID) for a cancel.
	in       map[wamp.ID]origin
	byOrigin map[origin]wamp.ID
}

// outCall is a local caller's call in flight on another node: the node, and the procedure
// called (the later CALLs of a progressive call invocation name it again, progressive.go).
type outCall struct {
	node string
	proc wamp.URI
}

type origin struct {
	node string
	corr wamp.ID
}

// errCallee* are what a local caller gets when its call's node goes away.
const errCanceled = wamp.URI("wamp.error.canceled")

func (n *Node) openLink(realm wamp.URI) *link {
	l := &link{n: n, realm: realm, codec: n.codec, done: make(chan struct{})}
	l.connect()
	go l.run()
	return l
}

// connect starts a fresh link session (the state of the one before, if any, forgotten).
func (l *link) connect() {
	client, server := router.Pipe(l.codec, 256)
	l.mu.Lock()
	gap := l.in // calls other nodes sent while no session was up: they went nowhere
	l.t = client
	l.regs, l.byReg, l.pending = map[router.Procedure]wamp.ID{}, map[wamp.ID]router.Procedure{}, map[wamp.ID]router.Procedure{}
	l.out, l.in, l.byOrigin = map[wamp.ID]outCall{}, map[wamp.ID]origin{}, map[origin]wamp.ID{}
	l.mu.Unlock()
	for _, o := range gap {
		l.to(o.node, &wamp.Error{RequestType: wamp.CALL, Request: o.corr, Details: wamp.Dict{}, Error: errCanceled,
			Arguments: wamp.List{"the cluster link on node " + l.n.cfg.Node + " ended"}})
	}
	lim := config.DefaultSessionLimits()
	lim.MaxRegistrations, lim.MaxCallsInFlight = 1<<30, 1<<30
	go func() {
		err := l.n.r.Serve(server, router.PeerInfo{Transport: "inprocess", TrustedRole: "trusted", ClusterLink: true, Limits: lim})
		if err != nil && !errors.Is(err, router.ErrClosed) {
			l.n.log.Debug("cluster: link session ended", "realm", l.realm, "err", err)
		}
	}()
	features := wamp.Dict{"call_canceling": true, "progressive_call_results": true, "progressive_call_invocations": true,
		"call_timeout": true, "caller_identification": true, "pattern_based_registration": true}
	l.write(&wamp.Hello{Realm: l.realm, Details: wamp.Dict{"roles": wamp.Dict{
		"caller": wamp.Dict{"features": features}, "callee": wamp.Dict{"features": features}}}})
}

// run reads the link session until the node closes, starting it again when it ends before
// (the router cut it: a slow consumer, say). The local callers' calls on other nodes end with
// the session (the router answers them: the callee left); the other nodes' calls made here
// are answered wamp.error.canceled.
func (l *link) run() {
	defer close(l.done)
	for {
		l.readLoop()
		select {
		case <-l.n.stop:
			return
		default:
		}
		l.mu.Lock()
		_ = l.t.Close()
		in := l.in // taken: the calls that arrive until the new session are in a new map
		l.in, l.byOrigin = map[wamp.ID]origin{}, map[origin]wamp.ID{}
		l.mu.Unlock()
		l.n.log.Warn("cluster: the link session ended; starting it again", "realm", l.realm, "calls_canceled", len(in))
		for _, o := range in {
			l.to(o.node, &wamp.Error{RequestType: wamp.CALL, Request: o.corr, Details: wamp.Dict{}, Error: errCanceled,
				Arguments: wamp.List{"the cluster link on node " + l.n.cfg.Node + " ended"}})
		}
		select {
		case <-l.n.stop:
			return
		case <-time.After(100 * time.Millisecond): // no busy loop if it cannot join
		}
		l.connect()
	}
}

func (l *link) close() {
	l.mu.Lock()
	t := l.t
	l.mu.Unlock()
	_ = t.Close()
	<-l.done
}

func (l *link) transport() router.Transport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t
}

func (l *link) write(m wamp.Message) {
	b, err := l.codec.Encode(nil, m)
	if err == nil {
		err = l.transport().WriteMessage(b)
	}
	if err != nil && !errors.Is(err, router.ErrPipeClosed) {
		l.n.log.Warn("cluster: link session write", "realm", l.realm, "type", m.Type(), "err", err)
	}
}

func (l *link) to(node string, m wamp.Message) { l.n.send(l.n.base+".node."+node, l.realm, m) }

// readLoop takes what the router sends the link session, until it ends.
func (l *link) readLoop() {
	t := l.transport()
	for {
		b, err := t.ReadMessage()
		if err != nil {
			return
		}
		m, err := l.codec.Decode(b)
		if err != nil {
			l.n.log.Warn("cluster: link session read", "realm", l.realm, "err", err)
			continue
		}
		switch m := m.(type) {
		case *wamp.Welcome:
			go l.sync(l.n.want(l.realm)) // the remote registrations, into this (new) session
		case *wamp.Abort:
			l.n.log.Error("cluster: the link session was refused; calls across nodes do not work on this realm", "realm", l.realm, "reason", m.Reason, "details", m.Details)
			return
		case *wamp.Goodbye:
			l.write(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.goodbye_and_out"})
			return
		case *wamp.Registered:
			l.registered(m)
		case *wamp.Invocation:
			l.invocation(m)
		case *wamp.Interrupt:
			l.interrupt(m)
		case *wamp.Result:
			l.result(m)
		case *wamp.Error:
			if m.RequestType == wamp.CALL {
				l.callError(m)
			} else if m.RequestType == wamp.REGISTER {
				l.mu.Lock()
				delete(l.pending, m.Request)
				l.mu.Unlock()
			}
		}
	}
}

// sync registers the procedures other nodes have and this link has not, and unregisters
// the ones no node has any more.
func (l *link) sync(want map[router.Procedure]bool) {
	l.mu.Lock()
	l.want = want
	var msgs []wamp.Message
	for p := range want {
		if _, ok := l.regs[p]; ok || l.isPending(p) {
			continue
		}
		l.next++
		l.pending[l.next] = p
		msgs = append(msgs, &wamp.Register{Request: l.next, Options: wamp.Dict{"match": p.Match}, Procedure: p.URI})
	}
	for p, id := range l.regs {
		if !want[p] {
			delete(l.regs, p)
			delete(l.byReg, id)
			l.next++
			msgs = append(msgs, &wamp.Unregister{Request: l.next, Registration: id})
		}
	}
	l.mu.Unlock()
	for _, m := range msgs {
		l.write(m)
	}
}

func (l *link) isPending(p router.Procedure) bool {
	for _, x := range l.pending {
		if x == p {
			return true
		}
	}
	return false
}

func (l *link) registered(m *wamp.Registered) {
	l.mu.Lock()
	p, ok := l.pending[m.Request]
	delete(l.pending, m.Request)
	stale := ok && !l.want[p]
	if ok && !stale {
		l.regs[p] = m.Registration
		l.byReg[m.Registration] = p
	}
	l.next++
	req := l.next
	l.mu.Unlock()
	if stale {
		l.write(&wamp.Unregister{Request: req, Registration: m.Registration})
	}
}

// invocation sends a local caller's call to the node of a callee.
func (l *link) invocation(m *wamp.Invocation) {
	l.mu.Lock()
	p, ok := l.byReg[m.Registration]
	c, more := l.out[m.Request]
	l.mu.Unlock()
	if more {
		l.continueInvocation(c, m) // a later CALL of a progressive call invocation
		return
	}
	node := ""
	if ok {
		node = l.n.target(l.realm, p)
	}
	if node == "" {
		l.write(&wamp.Error{RequestType: wamp.INVOCATION, Request: m.Request, Details: wamp.Dict{},
			Error: "wamp.error.no_such_procedure", Arguments: wamp.List{"no node of the cluster has a callee for it any more"}})
		return
	}
	uri := p.URI
	if s, ok := m.Details["procedure"].(string); ok {
		uri = wamp.URI(s)
	}
	opts := wamp.Dict{}
	if v, _ := m.Details["receive_progress"].(bool); v {
		opts["receive_progress"] = true
	}
	if v, _ := m.Details["progress"].(bool); v {
		opts["progress"] = true // the first CALL of a progressive call invocation
	}
	if t, ok := m.Details["timeout"]; ok {
		opts["timeout"] = t
	}
	if c, ok := m.Details["caller"]; ok {
		opts[router.ClusterCaller] = wamp.List{c, m.Details["caller_authid"], m.Details["caller_authrole"]}
	}
	l.mu.Lock()
	l.out[m.Request] = outCall{node, uri}
	l.mu.Unlock()
	l.to(node, &wamp.Call{Request: m.Request, Options: opts, Procedure: uri,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}

// interrupt passes a local caller's cancel (or the dealer's timeout) to the callee's node.
func (l *link) interrupt(m *wamp.Interrupt) {
	mode, _ := m.Options["mode"].(string)
	l.mu.Lock()
	c, ok := l.out[m.Request]
	if ok && mode != "kill" {
		delete(l.out, m.Request) // the dealer has answered the caller already
	}
	l.mu.Unlock()
	if ok {
		l.to(c.node, &wamp.Cancel{Request: m.Request, Options: wamp.Dict{"mode": mode}})
	}
}

// remoteResult and remoteError answer a local caller's call with what the callee's node sent.
func (l *link) remoteResult(from string, m *wamp.Result) {
	progress, _ := m.Details["progress"].(bool)
	l.mu.Lock()
	c, ok := l.out[m.Request]
	node := c.node
	if ok && node == from && !progress {
		delete(l.out, m.Request)
	}
	l.mu.Unlock()
	if !ok || node != from {
		return
	}
	opts := wamp.Dict{}
	if progress {
		opts["progress"] = true
	}
	l.write(&wamp.Yield{Request: m.Request, Options: opts, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}

func (l *link) remoteError(from string, m *wamp.Error) {
	l.mu.Lock()
	c, ok := l.out[m.Request]
	node := c.node
	if ok && node == from {
		delete(l.out, m.Request)
	}
	l.mu.Unlock()
	if !ok || node != from {
		return
	}
	l.write(&wamp.Error{RequestType: wamp.INVOCATION, Request: m.Request, Details: m.Details, Error: m.Error,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}

// remoteCall makes here the call of another node's caller.
func (l *link) remoteCall(from string, m *wamp.Call) {
	if cont, _ := m.Options[continuation].(bool); cont {
		l.remoteContinue(from, m)
		return
	}
	l.mu.Lock()
	l.next++
	req := l.next
	o := origin{from, m.Request}
	l.in[req] = o
	l.byOrigin[o] = req
	l.mu.Unlock()
	l.write(&wamp.Call{Request: req, Options: m.Options, Procedure: m.Procedure,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}

func (l *link) remoteCancel(from string, m *wamp.Cancel) {
	l.mu.Lock()
	req, ok := l.byOrigin[origin{from, m.Request}]
	l.mu.Unlock()
	if ok {
		l.write(&wamp.Cancel{Request: req, Options: m.Options})
	}
}

// result and callError send the answer of a call made here back to its caller's node.
func (l *link) result(m *wamp.Result) {
	progress, _ := m.Details["progress"].(bool)
	l.mu.Lock()
	o, ok := l.in[m.Request]
	if ok && !progress {
		delete(l.in, m.Request)
		delete(l.byOrigin, o)
	}
	l.mu.Unlock()
	if ok {
		l.to(o.node, &wamp.Result{Request: o.corr, Details: m.Details, Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
	}
}

func (l *link) callError(m *wamp.Error) {
	l.mu.Lock()
	o, ok := l.in[m.Request]
	if ok {
		delete(l.in, m.Request)
		delete(l.byOrigin, o)
	}
	l.mu.Unlock()
	if ok {
		l.to(o.node, &wamp.Error{RequestType: wamp.CALL, Request: o.corr, Details: m.Details, Error: m.Error,
			Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
	}
}

// nodeLost fails the local callers' calls in flight on node, and cancels the calls node's
// callers made here. With inc (the incarnation of node dropped; 0: none, it restarted) it
// tells node both too, as a CANCEL (killnowait) of each of the former and an ERROR answering
// each of the latter: a node that was only stopped or slow, and is still connected to NATS,
// then ends them as well, instead of keeping a callee busy or a caller waiting for a call the
// others forgot (a node that is gone gets nothing; one started since with the same name
// ignores them: Node.forMe).
func (l *link) nodeLost(node string, inc uint64) {
	var fail []wamp.ID
	cancel := map[wamp.ID]origin{}
	l.mu.Lock()
	for id, x := range l.out {
		if x.node == node {
			fail = append(fail, id)
			delete(l.out, id)
		}
	}
	for req, o := range l.in {
		if o.node == node {
			cancel[req] = o
			delete(l.in, req)
			delete(l.byOrigin, o)
		}
	}
	l.mu.Unlock()
	to := strconv.FormatUint(inc, 10)
	for _, id := range fail {
		l.write(&wamp.Error{RequestType: wamp.INVOCATION, Request: id, Details: wamp.Dict{}, Error: errCanceled,
			Arguments: wamp.List{"the callee's node " + node + " left the cluster (no heartbeat within node_timeout)"}})
		if inc != 0 {
			l.to(node, &wamp.Cancel{Request: id, Options: wamp.Dict{"mode": "killnowait", toIncarnation: to}})
		}
	}
	for req, o := range cancel {
		l.write(&wamp.Cancel{Request: req, Options: wamp.Dict{"mode": "killnowait"}})
		if inc != 0 {
			l.to(node, &wamp.Error{RequestType: wamp.CALL, Request: o.corr, Details: wamp.Dict{toIncarnation: to}, Error: errCanceled,
				Arguments: wamp.List{"node " + l.n.cfg.Node + " dropped the caller's node " + node + " (no heartbeat within node_timeout)"}})
		}
	}
}
