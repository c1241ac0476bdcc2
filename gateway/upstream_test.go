package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/uwsgiproto/uwsgitest"
)

// TestMalformedUpstreamResponses: what Debian's uwsgi refuses to send (it checks header
// values for bare CR/LF/NUL) but a broken or hostile upstream could: each is a 502, never
// passed on. A test server stands in for uwsgi because uwsgi cannot be made to emit these.
func TestMalformedUpstreamResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, resp string
		status     int
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200},
		{"bare LF in value", "HTTP/1.1 200 OK\r\nX-A: a\nInjected: 1\r\n\r\n", 502},
		{"bare CR in value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", 502},
		{"NUL in value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", 502},
		{"CL with TE", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok", 502},
		{"bad status line", "HTTP/1.1 2x0 OK\r\n\r\n", 502},
		{"oversized head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 502},
		{"closed before head", "HTTP/1.1 200", 502},
	}
	paths := map[string]*config.Service{}
	for i, tt := range tests {
		resp := tt.resp
		srv := uwsgitest.Serve(t, func(w io.Writer, _ *uwsgitest.Request) { _, _ = io.WriteString(w, resp) })
		paths["p"+string(rune('a'+i))] = wsgiUpstream(srv.Path)
	}
	node := testNode(t, paths)
	for _, svc := range paths {
		svc.WSGI.MaxFails = 0 // after the defaults: 0 is one
	}
	base := startGateway(t, node)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Get(base + "/p" + string(rune('a'+i)) + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.status, b)
			}
			if resp.Header.Get("Injected") != "" || resp.Header.Get("X-A") != "" {
				t.Fatalf("malformed header passed on: %v", resp.Header)
			}
		})
	}
}
