package config

import (
	"slices"
	"strings"
)

// Crossbar's `ciphers` is an OpenSSL cipher string (crossbar/common/twisted/endpoint.py hands it
// to Twisted's AcceptableCiphers.fromOpenSSLCipherString). Go's crypto/tls configures only its
// TLS 1.2 suites (TLS 1.3's are fixed, RFC 8446 section 9.1) and has no finite-field DHE, PSK,
// SRP, DSS, CAMELLIA or anonymous suites. openSSLCiphers evaluates the string over the suites Go
// has, the way OpenSSL's ciphers(1) reads it (CIPHER LIST FORMAT: names and aliases joined by
// ':', ' ' or ','; "A+B" matches what both match; "!X" removes for good, "-X" removes, "+X"
// moves to the end; "@STRENGTH" and "@SECLEVEL=n" are not ordering Go knows), and names the
// parts that match nothing Go implements.

// goSuite is one TLS 1.2 cipher suite of crypto/tls, with the OpenSSL attributes its aliases
// select on.
type goSuite struct {
	openssl string // OpenSSL's name
	name    string // crypto/tls's name (tls.CipherSuiteName)
	attrs   []string
}

// goSuites are crypto/tls's TLS 1.2 suites, in Go's preference order, without RC4 and 3DES
// (RFC 7465; SWEET32, CVE-2016-2183), which current OpenSSL builds do not offer either. Go
// ignores the order of Config.CipherSuites, so what a cipher string selects is a set.
var goSuites = []goSuite{
	{"ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", []string{"kECDHE", "aECDSA", "AESGCM", "AES128", "AEAD", "HIGH"}},
	{"ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", []string{"kECDHE", "aRSA", "AESGCM", "AES128", "AEAD", "HIGH"}},
	{"ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", []string{"kECDHE", "aECDSA", "AESGCM", "AES256", "AEAD", "HIGH"}},
	{"ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", []string{"kECDHE", "aRSA", "AESGCM", "AES256", "AEAD", "HIGH"}},
	{"ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", []string{"kECDHE", "aECDSA", "CHACHA20", "AEAD", "HIGH"}},
	{"ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", []string{"kECDHE", "aRSA", "CHACHA20", "AEAD", "HIGH"}},
	{"ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", []string{"kECDHE", "aECDSA", "AES128", "SHA1", "HIGH"}},
	{"ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", []string{"kECDHE", "aRSA", "AES128", "SHA1", "HIGH"}},
	{"ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", []string{"kECDHE", "aECDSA", "AES256", "SHA1", "HIGH"}},
	{"ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", []string{"kECDHE", "aRSA", "AES256", "SHA1", "HIGH"}},
	{"AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", []string{"kRSA", "aRSA", "AESGCM", "AES128", "AEAD", "HIGH"}},
	{"AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", []string{"kRSA", "aRSA", "AESGCM", "AES256", "AEAD", "HIGH"}},
	{"AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", []string{"kRSA", "aRSA", "AES128", "SHA1", "HIGH"}},
	{"AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", []string{"kRSA", "aRSA", "AES256", "SHA1", "HIGH"}},
	{"ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", []string{"kECDHE", "aECDSA", "AES128", "SHA256", "HIGH"}},
	{"ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", []string{"kECDHE", "aRSA", "AES128", "SHA256", "HIGH"}},
	{"AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", []string{"kRSA", "aRSA", "AES128", "SHA256", "HIGH"}},
}

// cipherAliases maps OpenSSL's aliases to the attribute they select ("" selects every suite).
var cipherAliases = map[string]string{
	"ALL": "", "DEFAULT": "", "HIGH": "HIGH",
	"kECDHE": "kECDHE", "kEECDH": "kECDHE", "ECDHE": "kECDHE", "EECDH": "kECDHE", "ECDH": "kECDHE",
	"kRSA": "kRSA", "RSA": "kRSA", "aRSA": "aRSA", "aECDSA": "aECDSA", "ECDSA": "aECDSA",
	"AES": "AES", "AES128": "AES128", "AES256": "AES256", "AESGCM": "AESGCM", "CHACHA20": "CHACHA20",
	"SHA1": "SHA1", "SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384",
	"TLSv1.2": "", "TLSv1": "SHA1", "SSLv3": "SHA1",
}

// absentCiphers are OpenSSL aliases of what Go's crypto/tls does not implement: they select no
// suite, which is what they mean for Go's side.
var absentCiphers = []string{"DH", "DHE", "EDH", "kDHE", "kEDH", "ADH", "AECDH", "aNULL", "eNULL", "NULL",
	"COMPLEMENTOFALL", "COMPLEMENTOFDEFAULT", "DSS", "aDSS", "PSK", "kPSK", "aPSK", "SRP", "kSRP",
	"CAMELLIA", "ARIA", "SEED", "IDEA", "MD5", "RC4", "RC2", "DES", "3DES", "MEDIUM", "LOW", "CCM", "AESCCM", "AESCCM8", "EXP", "EXPORT", "aGOST", "GOST", "kGOST"}

func (s goSuite) has(attr string) bool {
	switch attr {
	case "":
		return true
	case "AES":
		return slices.Contains(s.attrs, "AES128") || slices.Contains(s.attrs, "AES256")
	case "SHA384":
		return strings.HasSuffix(s.openssl, "SHA384")
	case "SHA256":
		return strings.HasSuffix(s.name, "SHA256")
	}
	return slices.Contains(s.attrs, attr)
}

// selects reports which suites the cipher-string element x (without prefix) selects, and
// whether x names anything at all.
func selects(x string) (func(goSuite) bool, bool) {
	parts := strings.Split(x, "+")
	var preds []func(goSuite) bool
	for _, p := range parts {
		if a, ok := cipherAliases[p]; ok {
			preds = append(preds, func(s goSuite) bool { return s.has(a) })
			continue
		}
		if slices.Contains(absentCiphers, p) || strings.HasPrefix(p, "DHE-") || strings.HasPrefix(p, "EDH-") || strings.HasPrefix(p, "ADH-") {
			preds = append(preds, func(goSuite) bool { return false })
			continue
		}
		i := slices.IndexFunc(goSuites, func(s goSuite) bool { return s.openssl == p })
		if i < 0 {
			return nil, false
		}
		name := goSuites[i].openssl
		preds = append(preds, func(s goSuite) bool { return s.openssl == name })
	}
	return func(s goSuite) bool {
		for _, p := range preds {
			if !p(s) {
				return false
			}
		}
		return true
	}, true
}

// openSSLCiphers evaluates an OpenSSL cipher string over Go's TLS 1.2 suites: the crypto/tls
// names in order, the elements that selected nothing Go has (DHE and the like), and those
// that are not OpenSSL names or aliases at all.
func openSSLCiphers(spec string) (names, empty, unknown []string) {
	var list []goSuite
	banned := map[string]bool{}
	for _, el := range strings.FieldsFunc(spec, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if strings.HasPrefix(el, "@") {
			continue // @STRENGTH, @SECLEVEL=n: Go keeps its own order and security levels
		}
		op := byte(0)
		x := el
		if c := el[0]; c == '!' || c == '-' || c == '+' {
			op, x = c, el[1:]
		}
		sel, ok := selects(x)
		if !ok {
			unknown = append(unknown, el)
			continue
		}
		n := 0
		switch op {
		case 0:
			for _, s := range goSuites {
				if sel(s) && !banned[s.openssl] && !slices.ContainsFunc(list, func(l goSuite) bool { return l.openssl == s.openssl }) {
					list = append(list, s)
					n++
				}
			}
			if n == 0 && !slices.ContainsFunc(goSuites, sel) {
				empty = append(empty, el)
			}
		case '!', '-':
			for _, s := range goSuites {
				if sel(s) && op == '!' {
					banned[s.openssl] = true
				}
			}
			list = slices.DeleteFunc(list, sel)
		case '+':
			var moved []goSuite
			list = slices.DeleteFunc(list, func(s goSuite) bool {
				if sel(s) {
					moved = append(moved, s)
					return true
				}
				return false
			})
			list = append(list, moved...)
		}
	}
	for _, s := range list {
		names = append(names, s.name)
	}
	return names, empty, unknown
}
