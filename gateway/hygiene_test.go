package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/config"
)

// TestRequestFraming sends the requests nginx refuses for their framing and checks that they
// are refused the same way and never reach the app.
func TestRequestFraming(t *testing.T) {
	t.Parallel()
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

// TestForwardedHeaders: X-Forwarded-For/-Proto/-Host sent by a client are replaced by what
// Portico saw, and the other forwarding headers (Forwarded, X-Real-IP, X-Forwarded-Port,
// -Prefix, ...) dropped, unless the peer is in trusted_proxies; underscore spellings (which a
// CGI name would turn into the same HTTP_X_FORWARDED_FOR) and Proxy (httpoxy, CVE-2016-5385)
// never reach the app.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	plain := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	trusting := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	trusting.Workers[0].Transports[0].Options.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1"}
	elsewhere := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	elsewhere.Workers[0].Transports[0].Options.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	const req = "GET /env HTTP/1.1\r\nHost: real.example\r\nX-Forwarded-For: 203.0.113.9\r\n" +
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: forged.example\r\nX_Forwarded_For: 6.6.6.6\r\n" +
		"X-Forwarded_Proto: ftp\r\nProxy: http://evil:3128\r\nForwarded: for=6.6.6.7;proto=https\r\n" +
		"X-Real-IP: 6.6.6.8\r\nX-Forwarded-Port: 4443\r\nX-Forwarded-Prefix: /evil\r\n" +
		"X-Forwarded-Server: evil.example\r\nFront-End-Https: on\r\n\r\n"
	forwarding := []string{"HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PORT",
		"HTTP_X_FORWARDED_PREFIX", "HTTP_X_FORWARDED_SERVER", "HTTP_FRONT_END_HTTPS"}
	tests := []struct {
		name          string
		node          *config.Node
		xff, xfp, xfh string
	}{
		{"untrusted peer", plain, "127.0.0.1", "http", "real.example"},
		{"peer outside trusted_proxies", elsewhere, "127.0.0.1", "http", "real.example"},
		{"trusted peer", trusting, "203.0.113.9, 127.0.0.1", "https", "forged.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := getEnv(t, rawRequest(t, startGateway(t, tt.node), req))
			got := [3]string{env["HTTP_X_FORWARDED_FOR"], env["HTTP_X_FORWARDED_PROTO"], env["HTTP_X_FORWARDED_HOST"]}
			if want := [3]string{tt.xff, tt.xfp, tt.xfh}; got != want {
				t.Errorf("X-Forwarded-For/-Proto/-Host = %q, want %q", got, want)
			}
			for _, k := range forwarding {
				if _, ok := env[k]; ok != (tt.name == "trusted peer") {
					t.Errorf("%s passed: %v, want %v (%q)", k, ok, !ok, env[k])
				}
			}
			if v, ok := env["HTTP_PROXY"]; ok {
				t.Errorf("HTTP_PROXY reached the app: %q", v)
			}
			for k, v := range env {
				if strings.Contains(v, "6.6.6.6") || v == "ftp" {
					t.Errorf("an underscore header reached the app as %s=%q", k, v)
				}
			}
		})
	}
}

// TestStaticConfinement: a static path never serves a file outside its directory, whether
// the request climbs out (plain or percent-encoded dot segments, encoded slashes) or a
// symlink (to a file or a directory) points out; with follow_symlinks the symlinks are
// served, and climbing out is still refused.
func TestStaticConfinement(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	root := filepath.Join(parent, "www")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(root, "sub"), 0o755),
		os.WriteFile(filepath.Join(root, "sub", "ok.txt"), []byte("ok"), 0o644),
		os.WriteFile(filepath.Join(parent, "sibling.txt"), []byte("secret"), 0o644),
		os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "file-link")),
		os.Symlink(outside, filepath.Join(root, "dir-link")),
		os.Symlink("../../sibling.txt", filepath.Join(root, "sub", "rel-link")),
		os.Symlink("ok.txt", filepath.Join(root, "sub", "inside-link")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	node := testNode(t, map[string]*config.Service{
		"strict":  {Type: "static", Static: &config.Static{Directory: root}},
		"follows": {Type: "static", Static: &config.Static{Directory: root, FollowSymlinks: true}},
	})
	base := startGateway(t, node)
	tests := []struct {
		path   string
		status int
	}{
		{"/strict/sub/ok.txt", 200},
		{"/strict/sub/inside-link", 200},
		{"/strict/file-link", 404},
		{"/strict/dir-link/secret.txt", 404},
		{"/strict/sub/rel-link", 404},
		{"/strict/../sibling.txt", 404}, // normalised to /sibling.txt, which has no service
		{"/strict/sub/../../sibling.txt", 404},
		{"/strict/%2e%2e/sibling.txt", 404},
		{"/strict/sub/..%2f..%2fsibling.txt", 404},
		{"/%2e%2e/sibling.txt", 400},
		{"/strict/sub/%2e%2e/%2e%2e/%2e%2e/sibling.txt", 400},
		{"/follows/file-link", 200},
		{"/follows/dir-link/secret.txt", 200},
		{"/follows/sub/rel-link", 200},
		{"/follows/sub/..%2f..%2f..%2fsibling.txt", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := rawRequest(t, base, "GET "+tt.path+" HTTP/1.1\r\nHost: h\r\n\r\n")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.status, b)
			}
			if strings.HasPrefix(tt.path, "/strict/") && strings.Contains(string(b), "secret") {
				t.Fatalf("served a file outside the directory: %q", b)
			}
		})
	}
}

// TestRequestHead sends request heads that nginx refuses before any location runs (a version
// other than HTTP/1.x, a header name that is not a token, userinfo in an absolute-form target)
// and checks the status and that the app never ran: /mark appends a line to a file for every
// request the app sees.
func TestRequestHead(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	tests := []struct {
		name, line, headers string
		status              int
	}{
		{"HTTP/1.1", "GET %s HTTP/1.1", "", 200},
		{"HTTP/1.0", "GET %s HTTP/1.0", "", 200},
		{"HTTP/1.2 is served as 1.1 (RFC 9110 2.5)", "GET %s HTTP/1.2", "", 200},
		{"HTTP/2.0", "GET %s HTTP/2.0", "", 505},
		{"HTTP/9.9", "GET %s HTTP/9.9", "", 505},
		{"HTTP/0.9", "GET %s HTTP/0.9", "", 505},
		{"POST HTTP/2.0 with a body", "POST %s HTTP/2.0", "Content-Length: 5\r\n", 505},
		{"POST HTTP/2.0 expecting 100-continue", "POST %s HTTP/2.0", "Content-Length: 5\r\nExpect: 100-continue\r\n", 505},
		{"space in a header name, expecting 100-continue", "POST %s HTTP/1.1", "Content-Length: 5\r\nExpect: 100-continue\r\nX Y: 1\r\n", 400},
		{"userinfo, expecting 100-continue", "POST http://u@h%s HTTP/1.1", "Content-Length: 5\r\nExpect: 100-continue\r\n", 400},
		{"space in a header name", "GET %s HTTP/1.1", "X Y: 1\r\n", 400},
		{"space before the colon", "GET %s HTTP/1.1", "X-A : 1\r\n", 400},
		{"absolute form", "GET http://h.example:81%s HTTP/1.1", "", 200},
		{"absolute form with userinfo", "GET http://user:pw@evil.example:81%s HTTP/1.1", "", 400},
		{"absolute form with user", "GET https://user@h.example%s HTTP/1.1", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marks := filepath.Join(t.TempDir(), "marks")
			target := "/mark?f=" + marks
			req := fmt.Sprintf(tt.line, target) + "\r\nHost: h\r\n" + tt.headers + "\r\n"
			if strings.HasPrefix(tt.line, "POST") {
				req += "hello"
			}
			resp := rawRequest(t, base, req)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			b, err := os.ReadFile(marks)
			ran := err == nil && len(b) > 0
			if ran != (tt.status == 200) {
				t.Errorf("app ran: %v (%q), want %v", ran, b, tt.status == 200)
			}
		})
	}
}

// TestStaticFIFO: a FIFO in a static directory is not found, as nginx answers, and a request
// for it never blocks: open(2) on a FIFO without a writer would hold an OS thread per request.
func TestStaticFIFO(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fifo := filepath.Join(root, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "dir", "index.html"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Had a request blocked in open(2), a writer releases its thread.
		for _, p := range []string{fifo, filepath.Join(root, "dir", "index.html")} {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	})
	node := testNode(t, map[string]*config.Service{
		"/":       {Type: "static", Static: &config.Static{Directory: root}},
		"follows": {Type: "static", Static: &config.Static{Directory: root, FollowSymlinks: true}},
	})
	base := startGateway(t, node)
	before := threads(t)

	const requests = 200
	paths := []string{"/fifo", "/follows/fifo", "/dir/", "/follows/dir/"}
	statuses := make(chan string, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			p := paths[i%len(paths)]
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				statuses <- err.Error()
				return
			}
			defer c.Close()
			// A bound for the test, not an assertion on time: a blocked request never answers.
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
				statuses <- err.Error()
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				statuses <- p + ": " + err.Error()
				return
			}
			resp.Body.Close()
			statuses <- fmt.Sprintf("%s: %d", p, resp.StatusCode)
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if !strings.HasSuffix(s, ": 404") {
			t.Errorf("%s, want 404", s)
		}
	}
	if after := threads(t); after > before+20 {
		t.Errorf("%d OS threads after %d requests for a FIFO, %d before", after, requests, before)
	}
}

// threads is this process's OS thread count (/proc/self/status Threads).
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads in /proc/self/status")
	return 0
}

// TestJSONCORS: allow_cross_origin answers "*" and never allows credentials, whatever Origin
// is sent (Crossbar echoes any Origin with credentials, which lets any page read the answer
// with the visitor's cookies); allowed_origins echoes only a listed Origin, with credentials.
func TestJSONCORS(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{
		"/":      {Type: "json", JSON: &config.JSON{Value: "open", AllowCrossOrigin: true}},
		"listed": {Type: "json", JSON: &config.JSON{Value: "listed", AllowedOrigins: []string{"https://app.example", "https://*.example.org:443"}}},
		"plain":  {Type: "json", JSON: &config.JSON{Value: "plain"}},
	})
	base := startGateway(t, node)
	tests := []struct {
		method, path, origin string
		acao, acac, vary     string
	}{
		{"GET", "/", "", "*", "", ""},
		{"GET", "/", "https://evil.example", "*", "", ""},
		{"OPTIONS", "/", "https://evil.example", "*", "", ""},
		{"GET", "/listed", "https://app.example", "https://app.example", "true", "Origin"},
		{"OPTIONS", "/listed", "https://app.example", "https://app.example", "true", "Origin"},
		{"GET", "/listed", "https://a.example.org", "https://a.example.org", "true", "Origin"},
		{"GET", "/listed", "https://evil.example", "", "", "Origin"},
		{"GET", "/listed", "null", "", "", "Origin"},
		{"GET", "/listed", "", "", "", "Origin"},
		{"GET", "/plain", "https://evil.example", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.origin, func(t *testing.T) {
			req := tt.method + " " + tt.path + " HTTP/1.1\r\nHost: h\r\nAccess-Control-Request-Headers: x-a\r\n"
			if tt.origin != "" {
				req += "Origin: " + tt.origin + "\r\n"
			}
			resp := rawRequest(t, base, req+"\r\n")
			resp.Body.Close()
			got := [3]string{resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"), resp.Header.Get("Vary")}
			if want := [3]string{tt.acao, tt.acac, tt.vary}; got != want {
				t.Errorf("status %d, Allow-Origin, Allow-Credentials, Vary = %q, want %q", resp.StatusCode, got, want)
			}
		})
	}
}
