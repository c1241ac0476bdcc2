package gateway

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRequestHead runs a raw request head through what the gateway does with it before a
// service sees it: fasthttp's parser, the version and header-name check, the framing check,
// the request-target split, path normalisation and the host. Invariants: nothing panics; an
// accepted head is HTTP/1.x and every header name in it is a token; a head with both
// Content-Length and Transfer-Encoding is never accepted as chunked; an accepted authority has
// no userinfo; the host is lower-case without a port; the path is absolute.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET http://Example.COM:8080/a/../b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-length: 5\r\n\r\n",
		"POST /x HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /%2e%2e/%00 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET https://user@host?q HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX Y: 1\r\nZ : 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		if headError(&h) == nil {
			if p := string(h.Protocol()); !strings.HasPrefix(p, "HTTP/1.") || len(p) != 8 {
				t.Fatalf("version %q accepted", p)
			}
			for k := range h.All() {
				if bytes.ContainsAny(k, " \t\r\n:") {
					t.Fatalf("header name %q accepted", k)
				}
			}
		}
		err := framingError(&h)
		if err == nil && h.ContentLength() == -1 {
			for line := range strings.SplitSeq(string(h.RawHeaders()), "\n") {
				name, _, _ := strings.Cut(line, ":")
				if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
					t.Fatalf("chunked request with Content-Length accepted:\n%q", raw)
				}
			}
		}
		target, authority, err := splitAbsolute(h.RequestURI())
		if err != nil {
			return
		}
		if bytes.IndexByte(authority, '@') >= 0 {
			t.Fatalf("authority %q with userinfo accepted", authority)
		}
		if authority != nil && (len(target) == 0 || target[0] != '/') {
			t.Fatalf("absolute form %q split into %q + %q", h.RequestURI(), authority, target)
		}
		if i := bytes.IndexAny(target, "?#"); i >= 0 {
			target = target[:i]
		}
		if p, err := normalizePath(nil, target); err == nil && (len(p) == 0 || p[0] != '/') {
			t.Fatalf("path %q normalised to %q", target, p)
		}
		if authority == nil {
			authority = h.Host()
		}
		host := appendHost(nil, authority)
		if bytes.ContainsAny(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ@") {
			t.Fatalf("host %q from %q", host, authority)
		}
		if len(host) > 0 && host[0] != '[' && bytes.IndexByte(host, ':') >= 0 {
			t.Fatalf("host %q from %q keeps a port", host, authority)
		}
	})
}

// FuzzTokenListed checks the Connection-header token matcher that decides which upstream
// response headers are hop-by-hop: a name is found exactly when it is one of the list's
// comma-separated, space-trimmed tokens (compared ASCII case-insensitively, as header
// tokens are, RFC 9110 section 5.6.2).
func FuzzTokenListed(f *testing.F) {
	f.Add("close, X-Private", "x-private")
	f.Add("keep-alive,,  upgrade ", "Upgrade")
	f.Add("", "a")
	f.Fuzz(func(t *testing.T, list, name string) {
		if name == "" {
			return // a header name is never empty
		}
		want := false
		for tok := range strings.SplitSeq(list, ",") {
			if lowerASCII(strings.Trim(tok, " \t")) == lowerASCII(name) {
				want = true
			}
		}
		if got := tokenListed([]byte(list), []byte(name)); got != want {
			t.Fatalf("tokenListed(%q, %q) = %v, want %v", list, name, got, want)
		}
	})
}

// FuzzParseTrusted: trusted_proxies entries are addresses or CIDR prefixes; whatever is
// accepted is a valid, masked prefix.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:10.0.0.1", "10.1.2.3/8", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parseTrusted([]string{s})
		if err != nil {
			return
		}
		if len(ps) != 1 || !ps[0].IsValid() || ps[0] != ps[0].Masked() {
			t.Fatalf("%q -> %v", s, ps)
		}
	})
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
