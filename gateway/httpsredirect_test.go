package gateway

import (
	"testing"

	"portico/config"
)

// TestRedirectHTTPS: redirect_https answers every path with a permanent redirect to the same
// host (nginx's $host), path and query over HTTPS: 301 for GET and HEAD, 308 for the other
// methods, with the configured port when it is not 443, and the transport's headers.
func TestRedirectHTTPS(t *testing.T) {
	t.Parallel()
	for _, port := range []int{443, 8443} {
		node := testNode(t, map[string]*config.Service{"/": {Type: "json", JSON: &config.JSON{Value: "never"}}})
		node.Workers[0].Transports[0].Options.RedirectHTTPS = port
		node.Workers[0].Transports[0].Options.Headers = &config.Headers{Add: []config.Header{{Name: "X-Edge", Value: "1"}}}
		base := startGateway(t, node)
		suffix := ""
		if port != 443 {
			suffix = ":8443"
		}
		for _, tt := range []struct {
			req, loc string
			status   int
		}{
			{"GET /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n", "https://example.com" + suffix + "/a/b%20c?x=1&y=%2F", 301},
			{"HEAD / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "https://example.com" + suffix + "/", 301},
			{"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1", "https://example.com" + suffix + "/form", 308},
			{"GET http://other.example/p?q HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "https://other.example" + suffix + "/p?q", 301},
			{"GET /x HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n", "https://[::1]" + suffix + "/x", 301},
			{"GET /old HTTP/1.0\r\n\r\n", "https://127.0.0.1" + suffix + "/old", 301},
			{"GET /x HTTP/1.1\r\nHost: evil.example/phish\r\nConnection: close\r\n\r\n", "", 400},
			{"GET /x HTTP/1.1\r\nHost: a\"b\r\nConnection: close\r\n\r\n", "", 400},
		} {
			resp := rawRequest(t, base, tt.req)
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.loc || resp.Header.Get("X-Edge") != "1" {
				t.Errorf("port %d: %q: %d %q (X-Edge %q), want %d %q", port, tt.req, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("X-Edge"), tt.status, tt.loc)
			}
		}
	}
}
