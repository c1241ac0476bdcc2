package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"maps"

	"portico/router/wamp"
)

// Testaments of the sessions of a node that dies (spec, "Testament Meta API"). Each node
// replicates its sessions' testaments to the others in its heartbeats: the full set, msgpack
// PUBLISH messages by realm and session, in the first heartbeat after a change, after a node
// joins or NATS reconnects, and every eighth heartbeat; a session that leaves normally is
// taken out (its node publishes them itself). When a node is dropped (node_timeout) or comes
// back as a new incarnation, the live node with the lowest name, the dropped one left out,
// publishes its testaments: to its own subscribers and, once, to the other nodes.

// testaments is a node's replicated set: realm -> session -> encoded PUBLISH messages.
type testaments map[wamp.URI]map[wamp.ID][][]byte

// TestamentsChanged records the testaments of local session id (none: forget them). It is
// called under the realm's lock: it encodes and stores, and asks for a heartbeat.
func (n *Node) TestamentsChanged(realm wamp.URI, id wamp.ID, ts []*wamp.Publish) {
	var enc [][]byte
	for _, p := range ts {
		m := *p
		m.Request = 1 // a valid ID; the publishing node gives it its own
		b, err := n.codec.Encode(nil, &m)
		if err != nil {
			n.log.Warn("cluster: a testament cannot be encoded; it fires only on this node", "realm", realm, "session", id, "err", err)
			continue
		}
		enc = append(enc, b)
	}
	n.tmu.Lock()
	if len(enc) == 0 {
		delete(n.local[realm], id)
		if len(n.local[realm]) == 0 {
			delete(n.local, realm)
		}
	} else {
		if n.local[realm] == nil {
			n.local[realm] = map[wamp.ID][][]byte{}
		}
		n.local[realm][id] = enc
	}
	n.tdirty = true
	n.tmu.Unlock()
	n.changed()
}

// testamentsToSend returns the set for heartbeat seq, nil when this heartbeat carries none.
func (n *Node) testamentsToSend(seq uint64) testaments {
	resend := n.resend.Swap(false)
	n.tmu.Lock()
	defer n.tmu.Unlock()
	if !n.tdirty && !resend && seq%8 != 1 {
		return nil
	}
	n.tdirty = false
	out := make(testaments, len(n.local))
	for realm, s := range n.local {
		out[realm] = maps.Clone(s) // the [][]byte are replaced, never changed
	}
	return out
}

// fireTestaments publishes the testaments of node name's sessions, dropped or restarted, when
// this node has the lowest name among the live ones (name left out).
func (n *Node) fireTestaments(name string, ts testaments) {
	if len(ts) == 0 {
		return
	}
	n.mu.Lock()
	for other := range n.nodes {
		if other != name && other < n.cfg.Node {
			n.mu.Unlock()
			return // that node publishes them
		}
	}
	n.mu.Unlock()
	count := 0
	for realm, sessions := range ts {
		for _, enc := range sessions {
			for _, b := range enc {
				m, err := n.codec.Decode(b)
				p, ok := m.(*wamp.Publish)
				if err != nil || !ok {
					n.log.Warn("cluster: a bad testament from a node, dropped", "peer", name, "realm", realm, "err", err)
					continue
				}
				var r [8]byte
				_, _ = rand.Read(r[:])
				p.Request = wamp.ID(binary.LittleEndian.Uint64(r[:])%wamp.MaxID + 1)
				if p.Options == nil {
					p.Options = wamp.Dict{}
				}
				n.r.DeliverRemote(realm, p)
				if n.peers.Load() > 0 {
					n.send(n.base+"."+realmToken(realm)+".pub", realm, p)
				}
				count++
			}
		}
	}
	n.log.Info("cluster: published the testaments of the sessions of a node that left", "peer", name, "testaments", count)
}
