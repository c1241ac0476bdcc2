package cluster

import (
	"portico/router/wamp"
)

// Progressive call invocations across nodes (spec, "Progressive Call Invocations"): the link
// session announces the callee feature, so that a local caller's progressive call reaches it
// as any call; the dealer passes each later CALL of the caller to the link as one more
// INVOCATION with the first one's request ID. The link sends it to the node the first went
// to, as a CALL with the same correlation ID marked as a continuation; there the link makes
// it a CALL with the request ID of the call it made for the first, which the dealer passes on
// to the same callee as the same INVOCATION. Whether the callee supports them, cancel and
// timeouts are the callee node's dealer's business, as on one node.

// continuation marks, on NATS, a later CALL of a progressive call invocation.
const continuation = "x_cluster_continue"

// continueInvocation sends a later CALL of a local caller's progressive call invocation (m,
// the dealer's INVOCATION with the first one's request ID) to the node of the first.
func (l *link) continueInvocation(c outCall, m *wamp.Invocation) {
	opts := make(wamp.Dict, len(m.Details)+1)
	for k, v := range m.Details {
		opts[k] = v // progress while more are to come, and the payload passthru keys
	}
	opts[continuation] = true
	l.to(c.node, &wamp.Call{Request: m.Request, Options: opts, Procedure: c.proc,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}

// remoteContinue passes a later CALL of another node's caller to the call made here for its
// first; one for a call that has ended here is dropped (its caller's node has the answer).
func (l *link) remoteContinue(from string, m *wamp.Call) {
	l.mu.Lock()
	req, ok := l.byOrigin[origin{from, m.Request}]
	l.mu.Unlock()
	if !ok {
		return
	}
	opts := make(wamp.Dict, len(m.Options))
	for k, v := range m.Options {
		if k != continuation {
			opts[k] = v
		}
	}
	l.write(&wamp.Call{Request: req, Options: opts, Procedure: m.Procedure,
		Arguments: m.Arguments, ArgumentsKw: m.ArgumentsKw, Payload: m.Payload})
}
