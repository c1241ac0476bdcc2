package wamp

import (
	"math/rand/v2"
	"sync/atomic"
)

// NewGlobalID returns an ID of the global scope (publications, sessions): drawn randomly from
// a uniform distribution over [1, 2^53] (spec "IDs").
func NewGlobalID() ID {
	return ID(rand.Uint64N(MaxID) + 1)
}

// IDGen hands out IDs of the router or session scope (subscriptions, registrations, request
// IDs the router sends): sequential from 1, and back to 1 after 2^53 (spec "IDs"). The zero
// value is ready; it is safe for concurrent use.
type IDGen struct {
	last atomic.Uint64
}

// Next returns the next ID.
func (g *IDGen) Next() ID {
	for {
		old := g.last.Load()
		next := old + 1
		if next > MaxID {
			next = 1
		}
		if g.last.CompareAndSwap(old, next) {
			return ID(next)
		}
	}
}
