package gateway

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"portico/uwsgiproto"
)

// FuzzAppHandOver runs a uwsgi response head through what decides whether the app handed its
// answer over to the proxy: whether it is buffered (X-Accel-Buffering, an event stream), the
// hand-over headers (X-Accel-Redirect, X-Sendfile) and the redirect target. Invariants:
// nothing panics; an event stream or X-Accel-Buffering: no is never buffered; a hand-over is
// found exactly when the head names one (a 304 with X-Sendfile only passes on); a target
// either fails or is an absolute path without dot segments or NUL; no header the app
// addresses to the proxy is ever one the client may see.
func FuzzAppHandOver(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Accel-Buffering: No\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nX-Accel-Redirect: /protected/f.pdf?x=1\r\nContent-Disposition: attachment\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Accel-Redirect: /p/%2e%2e/%2e%2e/etc/passwd\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nX-Sendfile: /srv/f\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Sendfile: /srv/../etc/passwd\r\nSet-Cookie: a=1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Accel-Redirect: @named\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var head uwsgiproto.ResponseHead
		if uwsgiproto.ReadResponseHead(bufioReader(raw), 64<<10, &head) != nil {
			return
		}
		var es, no, redirect, sendfile bool
		for _, hv := range head.Headers {
			es = es || (asciiEqualFold(hv.Name, "Content-Type") && isEventStream(hv.Value))
			no = no || (asciiEqualFold(hv.Name, "X-Accel-Buffering") && asciiEqualFold(trimOWS(hv.Value), "no"))
			redirect = redirect || asciiEqualFold(hv.Name, "X-Accel-Redirect")
			sendfile = sendfile || asciiEqualFold(hv.Name, "X-Sendfile")
			if appToProxy(hv.Name) != (strings.HasPrefix(strings.ToLower(string(hv.Name)), "x-accel-") && len(hv.Name) > 8 ||
				strings.EqualFold(string(hv.Name), "X-Sendfile")) {
				t.Fatalf("appToProxy(%q) wrong", hv.Name)
			}
		}
		if (es || no) && shouldBuffer(true, &head) {
			t.Fatal("an event stream or X-Accel-Buffering: no buffered")
		}
		a := findAccel(&head)
		if want := redirect || (sendfile && head.StatusCode != 304); (a != nil) != want {
			t.Fatalf("hand-over found %v, want %v", a != nil, want)
		}
		if a == nil || a.redirect == "" {
			return
		}
		p, _, err := accelTarget(a.redirect)
		if err != nil {
			if !errors.Is(err, errAccelRedirect) && !errors.Is(err, errNotFound) {
				t.Fatalf("target %q: %v", a.redirect, err)
			}
			return
		}
		if len(p) == 0 || p[0] != '/' || bytes.Contains(p, []byte("/../")) || bytes.HasSuffix(p, []byte("/..")) || bytes.IndexByte(p, 0) >= 0 {
			t.Fatalf("target %q became %q", a.redirect, p)
		}
	})
}
