package wamp

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckURI checks u against the spec's URI rules (section "URIs"):
//
//   - strict: every component matches [0-9a-z_]+
//     (^([0-9a-z_]+\.)*([0-9a-z_]+)$)
//   - loose: no whitespace, '.' or '#' in a component
//     (^([^\s\.#]+\.)*([^\s\.#]+)$)
//
// With allowEmpty, components may be empty, as wildcard and prefix patterns need
// (^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$ and the loose equivalent); the empty URI then matches
// too. Which rule applies, and whether a URI is a pattern, is the router's decision.
func CheckURI(u URI, strict, allowEmpty bool) error {
	s := string(u)
	if !utf8.ValidString(s) {
		return errors.New("URI is not valid UTF-8")
	}
	if s == "" {
		if allowEmpty {
			return nil
		}
		return errors.New("empty URI")
	}
	rest := s
	for i := 0; ; i++ {
		comp, tail, more := strings.Cut(rest, ".")
		rest = tail
		if comp == "" {
			if !allowEmpty {
				return fmt.Errorf("URI %q: component %d is empty", s, i+1)
			}
			if !more {
				break
			}
			continue
		}
		for _, r := range comp {
			if !uriRune(r, strict) {
				rule := "loose"
				if strict {
					rule = "strict"
				}
				return fmt.Errorf("URI %q: %q is not allowed in a component (%s rules)", s, r, rule)
			}
		}
		if !more {
			break
		}
	}
	return nil
}

func uriRune(r rune, strict bool) bool {
	if strict {
		return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r == '_'
	}
	return r != '#' && !unicode.IsSpace(r)
}
