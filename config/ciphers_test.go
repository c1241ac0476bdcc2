package config

import (
	"crypto/tls"
	"reflect"
	"testing"
)

// TestOpenSSLCiphers evaluates the cipher strings of the public Crossbar nodes and Crossbar's
// default over Go's TLS 1.2 suites.
func TestOpenSSLCiphers(t *testing.T) {
	tests := []struct {
		spec                  string
		names, empty, unknown []string
	}{
		{
			// Crossbar's default (crossbar/common/twisted/endpoint.py).
			spec:  "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:DHE-RSA-AES128-SHA:",
			names: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
			empty: []string{"DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES128-SHA256", "DHE-RSA-AES128-SHA"},
		},
		{
			// crossbar-examples encryption/tls.
			spec: "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:ECDH+3DES:DH+3DES:RSA+AES:RSA+3DES:!ADH:!AECDH:!MD5:!DSS",
			names: []string{
				"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
				"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
				"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
				"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
				"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
				"TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
				"TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256",
			},
			empty: []string{"DH+AESGCM", "DH+AES256", "DH+AES", "ECDH+3DES", "DH+3DES", "RSA+3DES"},
		},
		{spec: "HIGH:!aNULL:!3DES:-kRSA:@STRENGTH", names: []string{
			"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
			"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
			"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
			"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
			"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
			"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
		}},
		{spec: "AES128-SHA:+AES128-SHA:FOO-BAR", names: []string{"TLS_RSA_WITH_AES_128_CBC_SHA"}, unknown: []string{"FOO-BAR"}},
	}
	known := map[string]bool{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[s.Name] = true
	}
	for _, s := range goSuites {
		if !known[s.name] {
			t.Errorf("%s is not a crypto/tls suite", s.name)
		}
	}
	for _, tt := range tests {
		names, empty, unknown := openSSLCiphers(tt.spec)
		if !reflect.DeepEqual(names, tt.names) || !reflect.DeepEqual(empty, tt.empty) || !reflect.DeepEqual(unknown, tt.unknown) {
			t.Errorf("%q:\n got %q %q %q\nwant %q %q %q", tt.spec, names, empty, unknown, tt.names, tt.empty, tt.unknown)
		}
	}
}

func FuzzOpenSSLCiphers(f *testing.F) {
	f.Add("ECDH+AESGCM:DH+AESGCM:!ADH:-kRSA:+AES128-SHA:@STRENGTH")
	f.Add("!")
	f.Fuzz(func(t *testing.T, spec string) {
		names, _, _ := openSSLCiphers(spec)
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Fatalf("%q: %s twice", spec, n)
			}
			seen[n] = true
		}
	})
}
