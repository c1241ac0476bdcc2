package router

import "strings"

// patternTrie indexes WAMP prefix and wildcard patterns by URI component, as nats-server's
// sublist indexes subjects, so that matching a concrete URI walks the URI's components once
// instead of scanning every pattern (WAMP spec, "Pattern-based Subscriptions" and "Pattern-based
// Registrations"). Values are subscriptions or registrations; the zero V means "none".
//
// Prefix patterns match by string prefix, not by component: "com.app.top" matches
// "com.app.topic.x". A prefix pattern is stored at the node of its complete components with its
// last, partial component kept beside it ("com.app" + "top"); a walk checks, at each node, the
// partials that the topic's next component starts with. Only patterns that share every complete
// component with the topic are ever looked at.
//
// Wildcard patterns ("com..update": an empty component matches exactly one component) are
// stored one component per level, with the empty components on a separate edge.
//
// A walk allocates nothing: components are substrings of the URI, and map lookups with them do
// not copy. A match cache (as nats has) would add a map write per new topic and invalidation on
// every subscribe; with allocation-free walks there is nothing for it to save.
type patternTrie[V comparable] struct {
	prefix   trieNode[V]
	wildcard trieNode[V]
}

type trieNode[V comparable] struct {
	children map[string]*trieNode[V]
	wild     *trieNode[V] // the edge for an empty (wildcard) component
	prefixes []prefixEntry[V]
	end      V // a wildcard pattern ends here
}

type prefixEntry[V comparable] struct {
	partial string
	v       V
}

// nextComponent splits u at its first dot: the component, the rest, and whether there is a rest.
func nextComponent(u string) (comp, rest string, more bool) {
	i := strings.IndexByte(u, '.')
	if i < 0 {
		return u, "", false
	}
	return u[:i], u[i+1:], true
}

func (n *trieNode[V]) child(comp string, create bool) *trieNode[V] {
	if c := n.children[comp]; c != nil || !create {
		return c
	}
	if n.children == nil {
		n.children = make(map[string]*trieNode[V])
	}
	c := &trieNode[V]{}
	n.children[comp] = c
	return c
}

func (n *trieNode[V]) empty() bool {
	var zero V
	return len(n.children) == 0 && n.wild == nil && len(n.prefixes) == 0 && n.end == zero
}

// insertPrefix adds the prefix pattern p.
func (t *patternTrie[V]) insertPrefix(p string, v V) {
	n := &t.prefix
	full, partial := "", p
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		full, partial = p[:i], p[i+1:]
		for rest, more := full, true; more; {
			var comp string
			comp, rest, more = nextComponent(rest)
			n = n.child(comp, true)
		}
	}
	n.prefixes = append(n.prefixes, prefixEntry[V]{partial: partial, v: v})
}

// removePrefix deletes the prefix pattern p with value v and prunes empty nodes.
func (t *patternTrie[V]) removePrefix(p string, v V) {
	full, partial, hasFull := "", p, false
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		full, partial, hasFull = p[:i], p[i+1:], true
	}
	var del func(n *trieNode[V], rest string, more bool)
	del = func(n *trieNode[V], rest string, more bool) {
		if !more {
			for i, e := range n.prefixes {
				if e.partial == partial && e.v == v {
					n.prefixes = append(n.prefixes[:i], n.prefixes[i+1:]...)
					break
				}
			}
			return
		}
		comp, next, nmore := nextComponent(rest)
		c := n.children[comp]
		if c == nil {
			return
		}
		del(c, next, nmore)
		if c.empty() {
			delete(n.children, comp)
		}
	}
	del(&t.prefix, full, hasFull)
}

// insertWildcard adds the wildcard pattern p.
func (t *patternTrie[V]) insertWildcard(p string, v V) {
	n := &t.wildcard
	for rest, more := p, true; more; {
		var comp string
		comp, rest, more = nextComponent(rest)
		if comp == "" {
			if n.wild == nil {
				n.wild = &trieNode[V]{}
			}
			n = n.wild
		} else {
			n = n.child(comp, true)
		}
	}
	n.end = v
}

// removeWildcard deletes the wildcard pattern p and prunes empty nodes.
func (t *patternTrie[V]) removeWildcard(p string) {
	var del func(n *trieNode[V], rest string)
	del = func(n *trieNode[V], rest string) {
		comp, next, more := nextComponent(rest)
		var c *trieNode[V]
		if comp == "" {
			c = n.wild
		} else {
			c = n.children[comp]
		}
		if c == nil {
			return
		}
		if more {
			del(c, next)
		} else {
			var zero V
			c.end = zero
		}
		if c.empty() {
			if comp == "" {
				n.wild = nil
			} else {
				delete(n.children, comp)
			}
		}
	}
	del(&t.wildcard, p)
}

// matchPrefix calls fn for every prefix pattern that u starts with, shortest first, until fn
// returns false.
func (t *patternTrie[V]) matchPrefix(u string, fn func(V) bool) {
	n := &t.prefix
	for rest := u; n != nil; {
		comp, next, more := nextComponent(rest)
		for _, e := range n.prefixes {
			if strings.HasPrefix(comp, e.partial) && !fn(e.v) {
				return
			}
		}
		if !more {
			return
		}
		n, rest = n.children[comp], next
	}
}

// matchWildcard calls fn for every wildcard pattern that matches u, until fn returns false.
// Patterns with a literal component where another has a wildcard come first (compared from the
// left), which is the order in which the dealer prefers them.
func (t *patternTrie[V]) matchWildcard(u string, fn func(V) bool) {
	t.wildcard.walkWild(u, fn)
}

func (n *trieNode[V]) walkWild(u string, fn func(V) bool) bool {
	comp, rest, more := nextComponent(u)
	if comp == "" {
		return true // a URI with an empty component matches no wildcard pattern
	}
	for _, c := range [2]*trieNode[V]{n.children[comp], n.wild} {
		if c == nil {
			continue
		}
		if more {
			if !c.walkWild(rest, fn) {
				return false
			}
			continue
		}
		var zero V
		if c.end != zero && !fn(c.end) {
			return false
		}
	}
	return true
}
