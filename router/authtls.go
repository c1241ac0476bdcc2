package router

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"

	"portico/config"
	"portico/router/wamp"
)

// WAMP-TLS: the client is known by the certificate it presented in the TLS handshake
// (crossbar/router/auth/tls.py). The endpoint's ca_certificates verified it; here a static
// principal is picked by its SHA-1 fingerprint, or a dynamic authenticator gets the
// certificate in details.transport. There is no CHALLENGE: the TLS handshake was the proof.

// helloTLS authenticates HELLO m by the client certificate.
func (s *session) helloTLS(m *wamp.Hello, c *config.TLSAuth) (joined bool, err error) {
	cert := s.info.PeerCert
	if cert == nil {
		return false, s.abort(errNotAuthorized, "client did not send a TLS client certificate")
	}
	if c.Dynamic != nil {
		authid, _ := m.Details["authid"].(string)
		var idArg any
		if authid != "" {
			idArg = authid
		}
		pa := &pendingAuth{method: "tls", authid: authid, realm: m.Realm, known: true, dyn: c.Dynamic, defaultRole: c.DefaultRole}
		p, ae := s.callAuthenticator(pa, c.Dynamic, m.Realm, idArg, s.authDetails("tls", m))
		if ae == nil {
			ae = pa.assign(p, c.DefaultRole)
		}
		if ae != nil {
			return false, s.deny(ae)
		}
		s.authextra = pa.extra
		return true, s.join(pa.realm, pa.role, pa.authid, "tls", "dynamic")
	}
	fp := fingerprint(sha1.Sum(cert.Raw))
	for authid, p := range c.Principals {
		if p.CertificateSHA1 != fp {
			continue
		}
		if p.Role == "" {
			return false, s.abort(errNoSuchRole, "no authrole assigned")
		}
		realm := m.Realm
		if p.Realm != "" {
			realm = wamp.URI(p.Realm)
		}
		return true, s.join(realm, p.Role, authid, "tls", "static")
	}
	s.log.Info("router: authentication failed", "authmethod", "tls", "certificate-sha1", fp,
		"subject", cert.Subject.String(), "realm", m.Realm, "peer", s.info.RemoteAddr)
	return false, s.abort(errNotAuthorized, "no principal with certificate-sha1 %s", fp)
}

// fingerprint writes a digest as OpenSSL's X509.digest does: "AA:BB:...".
func fingerprint[T ~[16]byte | ~[20]byte | ~[32]byte](sum T) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(sum); i++ {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(hexdigits[sum[i]>>4])
		b.WriteByte(hexdigits[sum[i]&15])
	}
	return b.String()
}

// peerCertDetails describes a client certificate with the keys of autobahn's
// extract_peer_certificate (transport details `peer_cert`; older Crossbar: `client_cert`).
func peerCertDetails(c *x509.Certificate) wamp.Dict {
	return wamp.Dict{
		"md5":                 fingerprint(md5.Sum(c.Raw)),
		"sha1":                fingerprint(sha1.Sum(c.Raw)),
		"sha256":              fingerprint(sha256.Sum256(c.Raw)),
		"serial":              c.SerialNumber.String(),
		"version":             int64(c.Version),
		"signature_algorithm": c.SignatureAlgorithm.String(),
		"not_before":          c.NotBefore.UTC().Format("20060102150405Z"),
		"not_after":           c.NotAfter.UTC().Format("20060102150405Z"),
		"subject":             nameDetails(c.Subject),
		"issuer":              nameDetails(c.Issuer),
	}
}

// nameDetails is a distinguished name by OpenSSL short name, lower case ("cn", "o", ...).
func nameDetails(n pkix.Name) wamp.Dict {
	short := map[string]string{"2.5.4.3": "cn", "2.5.4.6": "c", "2.5.4.7": "l", "2.5.4.8": "st",
		"2.5.4.10": "o", "2.5.4.11": "ou", "1.2.840.113549.1.9.1": "emailaddress"}
	d := wamp.Dict{}
	for _, a := range n.Names {
		k, ok := short[a.Type.String()]
		if !ok {
			k = a.Type.String()
		}
		if v, ok := a.Value.(string); ok {
			d[k] = v
		}
	}
	return d
}
