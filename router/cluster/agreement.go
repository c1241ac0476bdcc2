package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"portico/config"
)

// ConfigHash is a hash of the realm and role configuration the nodes of a cluster must agree
// on: the realms (roles, permissions, authorizers, stores) and the authentication methods of
// the router's transports. It is computed on a canonical encoding of the config structs
// (JSON with sorted keys, without the `Place` key paths, the auth methods as a sorted set),
// not on the file bytes, so that a JSON and a YAML or TOML file saying the same thing agree.
// Secrets in the auth methods go into the hash, never onto NATS as such.
func ConfigHash(realms []config.Realm, auths []*config.Auth) string {
	var set []string
	for _, a := range auths {
		if a != nil {
			set = append(set, canonical(a))
		}
	}
	slices.Sort(set)
	set = slices.Compact(set)
	h := sha256.New()
	h.Write([]byte(canonical(realms)))
	for _, s := range set {
		h.Write([]byte{'\n'})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// canonical is v as JSON with sorted object keys and without the `Place` fields (key paths
// in the file, which may differ between nodes saying the same thing).
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "!" + err.Error()
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return "!" + err.Error()
	}
	b, _ = json.Marshal(dropPlace(x))
	return string(b)
}

func dropPlace(x any) any {
	switch x := x.(type) {
	case map[string]any:
		delete(x, "Place")
		for k, v := range x {
			x[k] = dropPlace(v)
		}
	case []any:
		for i, v := range x {
			x[i] = dropPlace(v)
		}
	}
	return x
}

// SetConfigHash sets the ConfigHash this node sends in its heartbeats (before Start).
func (n *Node) SetConfigHash(h string) { n.config = h }

// ConfigMismatches returns how many live peers run another realm and role configuration.
func (n *Node) ConfigMismatches() int { return int(n.mismatched.Load()) }

// agree compares a peer's ConfigHash with this node's as its heartbeat comes (n.mu held):
// a difference is logged at Error once per peer and hash, and counted while it lasts. A node
// that sends no hash (or this one, without one) is not compared.
func (n *Node) agree(name string, p *peer, hash string) {
	if hash == p.config {
		return
	}
	p.config = hash
	bad := hash != "" && n.config != "" && hash != n.config
	was := p.mismatch
	switch {
	case bad && !p.mismatch:
		n.mismatched.Add(1)
	case !bad && p.mismatch:
		n.mismatched.Add(-1)
	}
	p.mismatch = bad
	if bad {
		n.log.Error("cluster: a node runs another realm and role configuration; every node must run the same realms, roles, permissions and auth methods",
			"peer", name, "peer_config_hash", hash, "config_hash", n.config)
	} else if was {
		n.log.Info("cluster: the node's realm and role configuration agrees again", "peer", name, "config_hash", hash)
	}
}
