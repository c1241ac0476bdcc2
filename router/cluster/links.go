package cluster

import (
	"maps"
	"slices"
	"sync"

	"portico/router/wamp"
)

// The link sessions, one per realm this node has. A configured realm's link opens at Start
// and lives as long as the node. A realm created on a client's HELLO (no realms configured)
// gets its link when the router creates it (RealmCreated) and loses it when the router frees
// or drops it (RealmDropped): a node has a link, and so calls across nodes, exactly on the
// realms it has, which are the realms where it has callers or callees. The link session is
// no member of the realm (router.Router.realm): it neither keeps the realm alive nor takes a
// slot of the router's bound on realms created on HELLO.
//
// The router tells of a realm under its Router.mu, where nothing may block: RealmCreated and
// RealmDropped only queue the change, and manageLinks opens and closes the links, one change
// at a time in the order they came (a realm dropped and created again gets a new link, in the
// new realm).
//
// Lock order: lmu is a leaf, taken under the router's Router.mu (and realm.mu); no link's
// lock is taken under it, nor is it held while calling into the router or NATS.

// linkState is the Node's table of link sessions.
type linkState struct {
	lmu     sync.Mutex
	links   map[wamp.URI]*link
	changes []realmChange
	lwake   chan struct{}
}

// realmChange is a realm created on HELLO (open) or dropped.
type realmChange struct {
	realm wamp.URI
	open  bool
}

// RealmCreated implements router.Cluster: it queues the link's opening and returns the
// cluster's retained events of realm.
func (n *Node) RealmCreated(realm wamp.URI) []*wamp.Publish {
	n.queueChange(realmChange{realm, true})
	return n.ret.retainedOf(realm)
}

// RealmDropped implements router.Cluster: it queues the link's closing.
func (n *Node) RealmDropped(realm wamp.URI) { n.queueChange(realmChange{realm, false}) }

func (n *Node) queueChange(c realmChange) {
	n.lmu.Lock()
	n.changes = append(n.changes, c)
	n.lmu.Unlock()
	select {
	case n.lwake <- struct{}{}:
	default:
	}
}

// manageLinks opens and closes the links of the realms created on HELLO until the node
// closes.
func (n *Node) manageLinks() {
	defer n.wg.Done()
	for {
		n.lmu.Lock()
		cs := n.changes
		n.changes = nil
		n.lmu.Unlock()
		opened := false
		for _, c := range cs {
			n.lmu.Lock()
			l := n.links[c.realm]
			if c.open && l == nil {
				n.links[c.realm] = n.openLink(c.realm, true)
				opened = true
			}
			if !c.open && l != nil && l.dynamic {
				delete(n.links, c.realm)
			} else {
				l = nil
			}
			n.lmu.Unlock()
			if l != nil {
				l.close()
				n.log.Debug("cluster: link session closed: the realm created on HELLO was dropped", "realm", c.realm)
			}
		}
		if opened {
			n.changed() // a heartbeat with the new realms' procedures, if any
		}
		select {
		case <-n.stop:
			return
		case <-n.lwake:
		}
	}
}

// linkOf returns realm's link, nil when this node has not the realm.
func (n *Node) linkOf(realm wamp.URI) *link {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	return n.links[realm]
}

// linkList returns the links.
func (n *Node) linkList() []*link {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	out := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		out = append(out, l)
	}
	return out
}

// linkRealms returns the realms that have a link.
func (n *Node) linkRealms() []wamp.URI {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	return slices.Collect(maps.Keys(n.links))
}

// linkCount returns how many link sessions the node has.
func (n *Node) linkCount() int {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	return len(n.links)
}
