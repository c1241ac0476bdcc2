package router

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"portico/router/wamp"
)

// Match policies of subscriptions, registrations and permissions (WAMP spec, "Pattern-based
// Subscriptions").
const (
	matchExact    = "exact"
	matchPrefix   = "prefix"
	matchWildcard = "wildcard"
)

// maxPatternComponents bounds the components of a prefix or wildcard pattern. The spec sets no
// bound, but the pattern trie costs a node per component, some hundred times the component's
// bytes, so a single SUBSCRIBE of a long pattern would grow the heap by a hundred times its
// size (145 MB for a 1 MB "a.a.a...").
const maxPatternComponents = 100

// checkURI applies the WAMP URI rules (spec, "URIs"; the character rules are wamp.CheckURI's):
// loose by default, as Crossbar. Exact URIs have no empty component; a prefix pattern may end
// in an empty component ("com.app." and "" match everything under them); a wildcard pattern
// may have empty components anywhere.
func checkURI(u wamp.URI, strict bool, match string) error {
	if match != matchExact && strings.Count(string(u), ".") >= maxPatternComponents {
		return fmt.Errorf("a pattern has at most %d components", maxPatternComponents)
	}
	switch match {
	case matchWildcard:
		return wamp.CheckURI(u, strict, true)
	case matchPrefix:
		if i := strings.LastIndexByte(string(u), '.'); i >= 0 {
			if err := wamp.CheckURI(u[:i], strict, false); err != nil {
				return err
			}
		}
		return wamp.CheckURI(u, strict, true)
	}
	return wamp.CheckURI(u, strict, false)
}

// restrictedURI reports URIs in the namespace the spec reserves for WAMP itself ("wamp."):
// clients may not publish to them or register them (Crossbar: "restricted topic URI").
func restrictedURI(u wamp.URI) bool {
	return strings.HasPrefix(string(u), "wamp.")
}

// maxID is the largest WAMP ID (spec, "IDs").
const maxID = wamp.MaxID

// globalID draws a global-scope ID (sessions, publications, and, as Crossbar does, subscription
// and registration IDs) at random from [1, 2^53].
func globalID() wamp.ID { return wamp.NewGlobalID() }

// serialChars and anonymousAuthID mimic Crossbar's generate_serial_number for anonymous authids
// ("XXXX-XXXX-XXXX-XXXX-XXXX-XXXX").
const serialChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789"

func anonymousAuthID() string {
	var b [29]byte
	for i := range b {
		if i%5 == 4 {
			b[i] = '-'
			continue
		}
		b[i] = serialChars[rand.IntN(len(serialChars))]
	}
	return string(b[:])
}
