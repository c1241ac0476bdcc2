package gateway

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
)

// channelBinding says whether a connection is TLS and gives its tls-unique channel ID as
// autobahn computes it for WAMP-Cryptosign channel binding (autobahn/twisted/util.py
// transport_channel_id): SHA-256 of the first Finished message of the handshake (RFC 5929
// tls-unique; crypto/tls's ConnectionState.TLSUnique). TLS 1.3 defines no tls-unique
// (RFC 8446 section C.5), and Go gives none: the ID is then nil and the router refuses a
// client that asks for the binding.
func channelBinding(cs *tls.ConnectionState) (secure bool, id []byte) {
	if cs == nil {
		return false, nil
	}
	if len(cs.TLSUnique) == 0 {
		return true, nil
	}
	sum := sha256.Sum256(cs.TLSUnique)
	return true, sum[:]
}

// peerCert is the client's certificate of a TLS connection, nil when it presented none.
func peerCert(cs *tls.ConnectionState) *x509.Certificate {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}

// connState is the TLS state of a connection that has one (*tls.Conn).
type connState interface{ ConnectionState() tls.ConnectionState }
