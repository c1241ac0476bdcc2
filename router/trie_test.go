package router

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"portico/config"
	"portico/router/wamp"
)

func TestTrieMatches(t *testing.T) {
	type pat struct{ uri, match string }
	pats := []pat{
		{"a", "prefix"}, {"a.b", "prefix"}, {"a.", "prefix"}, {"", "prefix"}, {"a.bc", "prefix"},
		{"a..c", "wildcard"}, {".b.", "wildcard"}, {"a.b.c", "wildcard"}, {"..", "wildcard"}, {"a.", "wildcard"},
	}
	tests := []struct {
		topic string
		want  []string // "uri/match"
	}{
		{"a.b.c", []string{"a/prefix", "a.b/prefix", "a./prefix", "/prefix", "a..c/wildcard", ".b./wildcard", "a.b.c/wildcard", "../wildcard"}},
		{"a.bc", []string{"a/prefix", "a.b/prefix", "a./prefix", "/prefix", "a.bc/prefix", "a./wildcard"}},
		{"ab", []string{"a/prefix", "/prefix"}},
		{"a", []string{"a/prefix", "/prefix"}},
		{"x.b.y", []string{"/prefix", ".b./wildcard", "../wildcard"}},
		{"a.b.c.d", []string{"a/prefix", "a.b/prefix", "a./prefix", "/prefix"}},
	}
	var tr patternTrie[*subscription]
	for _, p := range pats {
		sub := &subscription{uri: wamp.URI(p.uri), match: p.match}
		if p.match == matchPrefix {
			tr.insertPrefix(p.uri, sub)
		} else {
			tr.insertWildcard(p.uri, sub)
		}
	}
	for _, tt := range tests {
		var got []string
		collect := func(s *subscription) bool { got = append(got, string(s.uri)+"/"+s.match); return true }
		tr.matchPrefix(tt.topic, collect)
		tr.matchWildcard(tt.topic, collect)
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s matches %v, want %v", tt.topic, got, tt.want)
		}
	}
}

// TestTrieAgainstScan compares the trie with matching every pattern one by one, over random
// patterns and topics, with patterns added and removed in between.
func TestTrieAgainstScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "ab", "ba", ""}
	randURI := func(allowEmpty bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			w := words[rng.IntN(len(words))]
			for w == "" && !allowEmpty {
				w = words[rng.IntN(len(words))]
			}
			parts[i] = w
		}
		return strings.Join(parts, ".")
	}
	var tr patternTrie[*subscription]
	live := map[patternKey]*subscription{}
	for round := 0; round < 3000; round++ {
		match := matchPrefix
		if rng.IntN(2) == 0 {
			match = matchWildcard
		}
		u := randURI(true)
		if match == matchPrefix && checkURI(wamp.URI(u), false, matchPrefix) != nil {
			continue
		}
		k := patternKey{wamp.URI(u), match}
		if s := live[k]; s != nil {
			delete(live, k)
			if match == matchPrefix {
				tr.removePrefix(u, s)
			} else {
				tr.removeWildcard(u)
			}
		} else {
			s := &subscription{uri: k.uri, match: match}
			live[k] = s
			if match == matchPrefix {
				tr.insertPrefix(u, s)
			} else {
				tr.insertWildcard(u, s)
			}
		}
		topic := randURI(false)
		var got, want []*subscription
		collect := func(s *subscription) bool { got = append(got, s); return true }
		tr.matchPrefix(topic, collect)
		tr.matchWildcard(topic, collect)
		for _, s := range live {
			if s.matches(wamp.URI(topic)) {
				want = append(want, s)
			}
		}
		byURI := func(a, b *subscription) int { return strings.Compare(string(a.uri)+a.match, string(b.uri)+b.match) }
		slices.SortFunc(got, byURI)
		slices.SortFunc(want, byURI)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: %q matched %d patterns, the scan %d", round, topic, len(got), len(want))
		}
	}
	// Removing everything leaves empty roots (pruned nodes).
	for k, s := range live {
		if k.match == matchPrefix {
			tr.removePrefix(string(k.uri), s)
		} else {
			tr.removeWildcard(string(k.uri))
		}
	}
	if !tr.prefix.empty() || !tr.wildcard.empty() {
		t.Fatal("nodes left after removing every pattern")
	}
}

func TestPermissionMatch(t *testing.T) {
	r := newRole(realmWith("r",
		permission("com.app.proc", "exact", true),
		permission("com.app.", "prefix", false),
		permission("com.", "", true), // prefix by default (ends in ".")
		permission("com..admin", "wildcard", false),
		permission("", "prefix", false),
	).Roles[0])
	tests := []struct {
		uri  string
		want string
	}{
		{"com.app.proc", "com.app.proc"},
		{"com.app.other", "com.app."},
		{"com.x", "com."},
		{"com.x.admin", "com."}, // a prefix wins over a wildcard, as in Crossbar
		{"org.x", ""},
	}
	for _, tt := range tests {
		if p := r.permission(wamp.URI(tt.uri)); p == nil || p.URI != tt.want {
			t.Errorf("%s governed by %+v, want %q", tt.uri, p, tt.want)
		}
	}
}

func permission(uri, match string, call bool) config.Permission {
	return config.Permission{URI: uri, Match: match, Allow: config.Allow{Call: call}}
}
