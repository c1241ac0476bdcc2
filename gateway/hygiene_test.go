package gateway

import (
	"testing"

	"portico/config"
)

// TestRequestFraming sends the requests nginx refuses for their framing and checks that they
// are refused the same way and never reach the app.
func TestRequestFraming(t *testing.T) {
	sock := startUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	tests := []struct {
		name, req string
		status    int
	}{
		{"CL with TE", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"TE with CL", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"duplicate differing CL", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"unknown coding", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"NUL in path", "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"above root", "GET /%2e%2e/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
		{"chunked ok", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, base, tt.req)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
