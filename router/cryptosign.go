package router

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"portico/config"
	"portico/router/wamp"
)

// WAMP-Cryptosign (WAMP spec, "Cryptosign-based Authentication"; crossbar/router/auth/
// cryptosign.py; autobahn/wamp/cryptosign.py for the client's side). The router sends 32
// random bytes in hex; the client answers hex(signature || message), 96 bytes, where message
// is the challenge, XORed with the TLS channel ID when the client asked for channel binding
// "tls-unique". The challenge is fresh from crypto/rand for every login, so a signature seen
// once cannot be replayed; with channel binding it is also bound to one TLS connection, so a
// man in the middle who terminates TLS cannot relay it.

// channelBinding reads HELLO authextra.channel_binding: "" or "tls-unique". A client that
// asks for tls-unique on a connection without one (no TLS, or TLS 1.3, where tls-unique is
// not defined, RFC 9266) is refused: it wants a guarantee the router cannot give. Crossbar
// accepts such a client and drops the binding.
func (s *session) channelBinding(m *wamp.Hello) (string, error) {
	extra, _ := m.Details["authextra"].(map[string]any)
	v, present := extra["channel_binding"]
	if !present || v == nil {
		return "", nil
	}
	b, _ := v.(string)
	if b != "tls-unique" {
		return "", s.abort(errNotAuthorized, "invalid channel binding type %q requested", v)
	}
	if len(s.info.ChannelID) != 32 {
		return "", s.abort(errNotAuthorized, "channel binding tls-unique requested, but this connection has no tls-unique channel ID (it is not TLS, or TLS 1.3)")
	}
	return b, nil
}

// parsePubkey reads an Ed25519 public key in hex.
func parsePubkey(s string) (ed25519.PublicKey, bool) {
	if len(s) != 2*ed25519.PublicKeySize {
		return nil, false
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return ed25519.PublicKey(k), true
}

// helloCryptosign starts a static cryptosign login (cryptosign.py hello, "principals"): the
// client names its authid or only its public key (authextra.pubkey), which must be one of
// the principal's authorized_keys.
func (s *session) helloCryptosign(m *wamp.Hello, c *config.CryptosignAuth) error {
	binding, err := s.channelBinding(m)
	if err != nil {
		return err
	}
	authid, _ := m.Details["authid"].(string)
	extra, _ := m.Details["authextra"].(map[string]any)
	pubkey, _ := extra["pubkey"].(string)
	pubkey = strings.ToLower(pubkey)
	key, ok := parsePubkey(pubkey)
	if !ok {
		return s.abort(errNotAuthorized, "cryptosign authentication needs the client's public key in HELLO authextra.pubkey (64 hex digits)")
	}
	deny := func(format string, args ...any) error {
		s.log.Info("router: authentication failed", "authmethod", "cryptosign", "authid", authid,
			"realm", m.Realm, "peer", s.info.RemoteAddr)
		return s.abort(errNotAuthorized, format, args...)
	}
	if authid == "" {
		for id, p := range c.Principals {
			if hasKey(p.AuthorizedKeys, pubkey) {
				if authid != "" {
					return deny("cannot infer client identity from pubkey: multiple authids in principal database have this pubkey")
				}
				authid = id
			}
		}
		if authid == "" {
			return deny("cannot identify client: no authid requested and no principal found for provided extra.pubkey")
		}
	}
	p, known := c.Principals[authid]
	if !known || !hasKey(p.AuthorizedKeys, pubkey) {
		// One answer for both, so that a client cannot tell which authids exist.
		return deny("no principal with authid %q and the provided extra.pubkey exists", authid)
	}
	pa := &pendingAuth{method: "cryptosign", authid: authid, role: p.Role, realm: m.Realm, known: true, provider: "static"}
	if p.Realm != "" {
		pa.realm = wamp.URI(p.Realm)
	}
	return s.sendCryptosignChallenge(pa, key, binding)
}

func hasKey(keys []string, k string) bool {
	for _, x := range keys {
		if subtle.ConstantTimeCompare([]byte(x), []byte(k)) == 1 {
			return true
		}
	}
	return false
}

// sendCryptosignChallenge sends the CHALLENGE (cryptosign.py _compute_challenge) and keeps
// what the client must sign.
func (s *session) sendCryptosignChallenge(pa *pendingAuth, key ed25519.PublicKey, binding string) error {
	var challenge [32]byte
	_, _ = rand.Read(challenge[:]) // crypto/rand.Read never fails (Go 1.24+)
	pa.method, pa.pubkey, pa.message = "cryptosign", key, challenge
	if binding == "tls-unique" {
		pa.bound = true
		for i := range pa.message {
			pa.message[i] ^= s.info.ChannelID[i]
		}
	}
	if pa.provider == "" {
		pa.provider = "dynamic"
	}
	var b any
	if binding != "" {
		b = binding
	}
	s.pending = pa
	s.send(&wamp.Challenge{AuthMethod: "cryptosign", Extra: wamp.Dict{
		"challenge": hex.EncodeToString(challenge[:]), "channel_binding": b}})
	return nil
}

// authenticateCryptosign checks AUTHENTICATE: hex(signature(64) || message(32)), a valid
// Ed25519 signature by the key, of the message the router expects (cryptosign.py
// authenticate).
func (s *session) authenticateCryptosign(pa *pendingAuth, m *wamp.Authenticate) error {
	signed, err := hex.DecodeString(m.Signature)
	var why string
	switch {
	case err != nil:
		why = "signed message is invalid (not a HEX encoded string)"
	case len(signed) != ed25519.SignatureSize+32:
		why = "signed message has invalid length"
	case !ed25519.Verify(pa.pubkey, signed[ed25519.SignatureSize:], signed[:ed25519.SignatureSize]):
		why = "signed message has invalid signature"
	case subtle.ConstantTimeCompare(signed[ed25519.SignatureSize:], pa.message[:]) != 1 && pa.bound:
		// The signature is good, over the challenge XOR some other channel ID (or none).
		why = "message signed is not the challenge XOR this connection's tls-unique channel ID (SHA-256 of the first TLS Finished message, RFC 5929)"
	case subtle.ConstantTimeCompare(signed[ed25519.SignatureSize:], pa.message[:]) != 1:
		why = "message signed is not the challenge"
	}
	if why != "" {
		s.log.Info("router: authentication failed", "authmethod", "cryptosign", "authid", pa.authid,
			"realm", pa.realm, "peer", s.info.RemoteAddr, "why", why)
		return s.abort(errNotAuthorized, "cryptosign authentication failed: %s", why)
	}
	if pa.role == "" {
		return s.abort(errNoSuchRole, "no authrole assigned")
	}
	s.authextra = pa.extra
	return s.join(pa.realm, pa.role, pa.authid, "cryptosign", pa.provider)
}
