package router

import (
	"log/slog"

	"portico/router/wamp"
)

// RetainRemote keeps m, a publication with retain made on some node of the cluster (the
// cluster's retained events, router/cluster), as realm's retained event on m.Topic, replacing
// the one before as a local PUBLISH with retain would, without delivering it: its
// subscribers had it when it was published. m.Request is its publication ID; its options are
// those of the PUBLISH (eligible, exclude, ... as the publisher gave them) and
// ClusterPublisher when disclosed. The topic's retained event is left alone when it is this
// publication already, and a realm this node does not have is skipped.
func (r *Router) RetainRemote(realm wamp.URI, m *wamp.Publish) {
	rl := r.existing(realm)
	if rl == nil {
		return
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.retainRemote(m, r.log)
}

// retainRemote keeps m as RetainRemote says (under rl.mu, or before rl is shared).
func (rl *realm) retainRemote(m *wamp.Publish, log *slog.Logger) {
	o, bad := parsePublishOpts(m.Options)
	if bad != "" {
		log.Warn("router: a retained event from the cluster has a bad option, dropped", "realm", rl.name, "topic", m.Topic, "option", bad)
		return
	}
	o.excludeMe = false
	ev := &retainedEvent{publication: m.Request, args: m.Arguments, kwargs: m.ArgumentsKw, payload: m.Payload, opts: o}
	if o.disclose {
		ev.publisher = identity(m.Options[ClusterPublisher])
	}
	if old := rl.broker.retained[m.Topic]; old != nil && old.publication == m.Request {
		return
	}
	rl.retain(m.Topic, ev)
}
