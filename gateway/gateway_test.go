package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
)

// startUWSGI runs Debian's uwsgi with testdata/app.py on a unix socket and returns the
// socket path. It is stopped (SIGINT to its process group) when the test ends.
func startUWSGI(t *testing.T, extra ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "app.sock")
	runUWSGI(t, sock, "testdata/app.py", extra...)
	return sock
}

// runUWSGI runs Debian's uwsgi with the WSGI file app (relative to the package directory) on
// the unix socket sock and waits until it accepts. It is stopped (SIGINT to its process group)
// when the test ends.
func runUWSGI(t *testing.T, sock, app string, extra ...string) {
	t.Helper()
	app, err := filepath.Abs(app)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--plugin", "python3", "--master", "--processes", "2", "--threads", "4",
		"--socket", sock, "--wsgi-file", app, "--need-app", "--disable-logging", "--die-on-term"}, extra...)
	cmd := exec.Command("uwsgi", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("uwsgi (Debian packages uwsgi-core, uwsgi-plugin-python3): %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	testkit.WaitDial(t, "unix", sock, func() string { return out.String() })
}

// testNode is a node with one web transport on 127.0.0.1:0 and the given paths, with config's
// defaults applied (config.WithDefaults) as Load applies them; the tests' shorter timeouts and
// smaller pools are set before, anything a test wants at a zero value after.
func testNode(t *testing.T, paths map[string]*config.Service) *config.Node {
	t.Helper()
	dir := t.TempDir()
	for k, s := range paths {
		if s.Place == "" {
			s.Place = "workers[0].transports[0].paths." + k
		}
		if s.WSGI != nil {
			w := s.WSGI
			if w.QueueTimeout == 0 {
				w.QueueTimeout = 5 * time.Second
			}
			if w.ConnectTimeout == 0 {
				w.ConnectTimeout = 5 * time.Second
			}
			if w.ReadTimeout == 0 {
				w.ReadTimeout = 10 * time.Second
			}
			if w.SendTimeout == 0 {
				w.SendTimeout = 10 * time.Second
			}
			if w.MaxConcurrency == 0 {
				w.MaxConcurrency = 16
			}
		}
	}
	return config.WithDefaults(&config.Node{
		Dir: dir, Version: 2,
		Workers: []config.Worker{{
			Place: "workers[0]", Type: "router",
			Transports: []config.Transport{{
				Place: "workers[0].transports[0]", Type: "web",
				Endpoint: config.Endpoint{Type: "tcp", Interface: "127.0.0.1", Port: 0},
				Paths:    paths,
				Options: config.WebOptions{
					HeaderReadTimeout: 10 * time.Second, BodyReadTimeout: 10 * time.Second,
					IdleTimeout: 30 * time.Second, SpoolDir: filepath.Join(dir, "spool"),
				},
			}},
		}},
	})
}

func startGateway(t *testing.T, node *config.Node) string {
	t.Helper()
	_, base := startGatewayG(t, node)
	return base
}

func ctxShutdown(t *testing.T, g *Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func startGatewayG(t *testing.T, node *config.Node) (*Gateway, string) {
	t.Helper()
	return startGatewayLogTo(t, node, testWriter{t})
}

// startGatewayLogTo starts a gateway for node that logs warnings and errors, as text, to w.
// It is shut down when the test ends.
func startGatewayLogTo(t *testing.T, node *config.Node, w io.Writer) (*Gateway, string) {
	t.Helper()
	return startGatewaySet(t, node, w, nil)
}

// startGatewaySet is startGatewayLogTo with set, when not nil, called on the gateway before
// it starts (its timing fields).
func startGatewaySet(t *testing.T, node *config.Node, w io.Writer, set func(*Gateway)) (*Gateway, string) {
	t.Helper()
	g, err := New(node, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(g)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctxShutdown(t, g) })
	return g, "http://" + g.Addrs()[0].String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func wsgiUpstream(sock string) *config.Service {
	return &config.Service{Type: "wsgi", WSGI: &config.WSGI{Upstreams: []string{"unix:" + sock}, MaxFails: 1, FailTimeout: 10 * time.Second}}
}

// rawRequest sends one raw HTTP/1.1 request and returns the response.
func rawRequest(t *testing.T, base, req string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func getEnv(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	env := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestWSGIEnviron(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock), "app": wsgiUpstream(sock)})
	base := startGateway(t, node)
	port := strings.Split(base, ":")[2]

	env := getEnv(t, rawRequest(t, base, "GET /app/a%20b/../c%2Fd/env?x=%2F1&y HTTP/1.1\r\nHost: Example.COM:8080\r\n"+
		"X_Spoof: 1\r\nProxy: http://evil\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n"+
		"Accept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"))
	want := map[string]string{
		"REQUEST_METHOD":         "GET",
		"SCRIPT_NAME":            "/app",
		"PATH_INFO":              "/c/d/env",
		"REQUEST_URI":            "/app/a%20b/../c%2Fd/env?x=%2F1&y",
		"QUERY_STRING":           "x=%2F1&y",
		"SERVER_PROTOCOL":        "HTTP/1.1",
		"REQUEST_SCHEME":         "http",
		"REMOTE_ADDR":            "127.0.0.1",
		"SERVER_PORT":            port,
		"SERVER_NAME":            "example.com",
		"HTTP_HOST":              "Example.COM:8080",
		"CONTENT_TYPE":           "",
		"CONTENT_LENGTH":         "",
		"HTTP_ACCEPT":            "a, b",
		"HTTP_COOKIE":            "a=1; b=2",
		"HTTP_X_FORWARDED_FOR":   "127.0.0.1",
		"HTTP_X_FORWARDED_HOST":  "example.com",
		"HTTP_X_FORWARDED_PROTO": "http",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"HTTP_X_SPOOF", "HTTP_PROXY", "HTTPS"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s present (%q), must be absent", k, v)
		}
	}

	// At the root mount SCRIPT_NAME is empty and PATH_INFO is the whole path.
	env = getEnv(t, rawRequest(t, base, "GET /env HTTP/1.1\r\nHost: h\r\n\r\n"))
	if env["SCRIPT_NAME"] != "" || env["PATH_INFO"] != "/env" {
		t.Errorf("root mount: SCRIPT_NAME=%q PATH_INFO=%q", env["SCRIPT_NAME"], env["PATH_INFO"])
	}

	// A path above the root is refused before it reaches the app, as nginx does.
	resp := rawRequest(t, base, "GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("/../etc/passwd: status %d, want 400", resp.StatusCode)
	}
}

func TestWSGITrustedProxy(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	node.Workers[0].Transports[0].Options.TrustedProxies = []string{"127.0.0.0/8"}
	base := startGateway(t, node)
	env := getEnv(t, rawRequest(t, base, "GET /env HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\r\n"))
	if env["HTTP_X_FORWARDED_FOR"] != "203.0.113.9, 127.0.0.1" || env["HTTP_X_FORWARDED_PROTO"] != "https" {
		t.Errorf("from a trusted proxy: XFF=%q XFP=%q", env["HTTP_X_FORWARDED_FOR"], env["HTTP_X_FORWARDED_PROTO"])
	}
}

func TestWSGIBodies(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	base := startGateway(t, node)

	body := make([]byte, 3<<20+123)
	_, _ = rand.Read(body)
	sum := sha256.Sum256(body)
	check := func(name string, resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		var got struct {
			Length        int    `json:"length"`
			SHA256        string `json:"sha256"`
			ContentLength string `json:"content_length"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Length != len(body) || got.SHA256 != hex.EncodeToString(sum[:]) || got.ContentLength != fmt.Sprint(len(body)) {
			t.Fatalf("%s: app got %+v, want length %d", name, got, len(body))
		}
	}
	resp, err := http.Post(base+"/echo", "application/octet-stream", strings.NewReader(string(body)))
	check("sized", resp, err)

	// Chunked: net/http sends chunked when the length is unknown.
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(body); off += 100000 {
			end := min(off+100000, len(body))
			_, _ = pw.Write(body[off:end])
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", base+"/echo", pr)
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	check("chunked", resp, err)
}

func TestWSGIStreamingResponse(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	base := startGateway(t, node)

	start := time.Now()
	resp, err := http.Get(base + "/stream?n=4&delay=0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Hop") != "1" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("headers: %v", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: event 0\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// The first event arrives while the app is still producing the rest (3 more events,
	// 0.3 s apart): had the response been buffered, everything would arrive at once.
	first := time.Now()
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "event 3") {
		t.Errorf("rest of stream: %q", rest)
	}
	if gap := time.Since(first); gap < 600*time.Millisecond {
		t.Errorf("first event only %v before the end: response was buffered", gap)
	}
	_ = start
}

func TestWSGIStatusAndHeaders(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	base := startGateway(t, node)
	resp := rawRequest(t, base, "GET /status?code=418 HTTP/1.1\r\nHost: h\r\n\r\n")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 418 || resp.Status != "418 Custom Reason" || string(b) != "status\n" {
		t.Errorf("got %q %q", resp.Status, b)
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 {
		t.Errorf("X-Multi = %v, want both values", got)
	}
	resp = rawRequest(t, base, "HEAD /env HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestWSGIFailures(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	missing := filepath.Join(t.TempDir(), "nobody.sock")
	slow := wsgiUpstream(sock)
	slow.WSGI.ReadTimeout = 300 * time.Millisecond
	queued := wsgiUpstream(sock)
	queued.WSGI.MaxConcurrency = 1
	queued.WSGI.QueueTimeout = 200 * time.Millisecond
	node := testNode(t, map[string]*config.Service{
		"/":      wsgiUpstream(sock),
		"gone":   wsgiUpstream(missing),
		"slow":   slow,
		"queued": queued,
	})
	g, base := startGatewayG(t, node)

	tests := []struct {
		name, path string
		status     int
	}{
		{"socket missing", "/gone/env", 502},
		{"read timeout", "/slow/sleep?s=2", 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}

	t.Run("queue timeout", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Get(base + "/queued/sleep?s=3")
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		// The second request is sent once the first holds the only slot.
		svc, _ := g.servers[0].table.Load().root.lookup([]byte("/queued/env"))
		up := svc.(*wsgiService).bal.ups[0]
		testkit.WaitFor(t, 0, "the first request holds the upstream's slot", func() bool {
			up.mu.Lock()
			defer up.mu.Unlock()
			return up.active == 1
		})
		resp, err := http.Get(base + "/queued/env")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("second request: %d, want 503", resp.StatusCode)
		}
		if s := <-done; s != 200 {
			t.Errorf("first request: %d, want 200", s)
		}
	})

	t.Run("vars too large", func(t *testing.T) {
		// The client head (72 KB) is within a raised max_header_size, so the limit hit is
		// the uwsgi vars block's own (65535 bytes): 431, never a truncated length.
		big := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
		big.Workers[0].Transports[0].Options.MaxHeaderSize = 128 << 10
		bigBase := startGateway(t, big)
		req, _ := http.NewRequest("GET", bigBase+"/env", nil)
		for i := range 9 {
			req.Header.Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("v", 8000))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 431 {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
}

func TestStaticAndSimpleServices(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>home</h1>"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sub", "a.txt"), []byte("0123456789"), 0o644))
	secret := filepath.Join(t.TempDir(), "secret.txt")
	must(os.WriteFile(secret, []byte("secret"), 0o644))
	must(os.Symlink(secret, filepath.Join(root, "sub", "link.txt")))
	cache := 60
	node := testNode(t, map[string]*config.Service{
		"/":      {Type: "static", Static: &config.Static{Directory: root, EnableDirectoryListing: true, CacheTimeout: &cache}},
		"old":    {Type: "redirect", Redirect: &config.Redirect{URL: "https://example.org/new"}},
		"info":   {Type: "json", JSON: &config.JSON{Value: map[string]any{"ok": true, "n": 1}}},
		"nolist": {Type: "static", Static: &config.Static{Directory: filepath.Join(root, "sub")}},
	})
	base := startGateway(t, node)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("/"); resp.StatusCode != 200 || body != "<h1>home</h1>" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("/: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := get("/sub/a.txt", "Range", "bytes=2-4"); resp.StatusCode != 206 || body != "234" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/sub"); resp.StatusCode != 301 || resp.Header.Get("Location") != "/sub/" {
		t.Errorf("/sub: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/sub/"); resp.StatusCode != 200 || !strings.Contains(body, "a.txt") {
		t.Errorf("listing: %d %q", resp.StatusCode, body)
	}
	if resp, body := get("/sub/link.txt"); resp.StatusCode != 404 || strings.Contains(body, "secret") {
		t.Errorf("symlink out of the directory: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/nolist/"); resp.StatusCode != 404 {
		t.Errorf("listing disabled: %d", resp.StatusCode)
	}
	if resp, _ := get("/old/x"); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.org/new" {
		t.Errorf("redirect: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/info"); resp.StatusCode != 200 || strings.TrimSpace(body) != `{"n":1,"ok":true}` {
		t.Errorf("json: %d %q", resp.StatusCode, body)
	}
}

// TestJSONSubPaths: a json service answers its own path only, as Crossbar's JsonResource (a
// Twisted Resource that is not a leaf) does: every sub-path, a trailing slash included, is a
// 404, also before the method is looked at. On the root path "/" itself is answered.
func TestJSONSubPaths(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{
		"/":    {Type: "json", JSON: &config.JSON{Value: "root"}},
		"info": {Type: "json", JSON: &config.JSON{Value: map[string]any{"ok": true}}},
	})
	base := startGateway(t, node)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, `"root"`},
		{"HEAD", "/", 200, ""},
		{"GET", "/x", 404, ""},
		{"GET", "/x/", 404, ""},
		{"GET", "/x/y", 404, ""},
		{"GET", "/x/y/", 404, ""},
		{"GET", "/info", 200, `{"ok":true}`},
		{"GET", "/info?a=1", 200, `{"ok":true}`},
		{"GET", "/info/", 404, ""},
		{"GET", "/info/x", 404, ""},
		{"GET", "/info/x/", 404, ""},
		{"GET", "/info/x/y", 404, ""},
		{"POST", "/info/x", 404, ""},
		{"POST", "/info", 405, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d (%q)", tc.method, tc.path, resp.StatusCode, tc.status, b)
			continue
		}
		ct := resp.Header.Get("Content-Type")
		switch {
		case tc.status == 200 && !strings.HasPrefix(ct, "application/json"):
			t.Errorf("%s %s: Content-Type %q, want application/json", tc.method, tc.path, ct)
		case tc.status != 200 && strings.HasPrefix(ct, "application/json"):
			t.Errorf("%s %s: the %d is answered with the JSON type", tc.method, tc.path, tc.status)
		case tc.body != "" && strings.TrimSpace(string(b)) != tc.body:
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, b, tc.body)
		}
	}
}

// TestStaticListingTitle: a directory listing is titled as Twisted's DirectoryLister, which
// Crossbar's static service uses, titles it: "Directory listing for " and the request URI,
// decoded, whatever path the service is mounted at.
func TestStaticListingTitle(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sub dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	node := testNode(t, map[string]*config.Service{
		"/":     {Type: "static", Static: &config.Static{Directory: root, EnableDirectoryListing: true}},
		"files": {Type: "static", Static: &config.Static{Directory: root, EnableDirectoryListing: true}},
	})
	base := startGateway(t, node)
	for path, want := range map[string]string{
		"/":                   "Directory listing for /",
		"/sub%20dir/":         "Directory listing for /sub dir/",
		"/files/":             "Directory listing for /files/",
		"/files/sub%20dir/":   "Directory listing for /files/sub dir/",
		"/files/?q=%3Cb%3E":   "Directory listing for /files/?q=&lt;b&gt;",
		"/files/sub%20dir/?a": "Directory listing for /files/sub dir/?a",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<title>"+want+"</title>") || !strings.Contains(string(b), "<h1>"+want+"</h1>") {
			t.Errorf("%s: %d, want title and heading %q:\n%s", path, resp.StatusCode, want, b)
		}
	}
}
