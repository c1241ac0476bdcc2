package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/uwsgiproto/uwsgitest"
)

// logBuffer collects the gateway's log lines for assertions (and shows them in -v output).
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGatewayLog is startGatewayG with the log kept for inspection.
func startGatewayLog(t *testing.T, node *config.Node) (*Gateway, string, *logBuffer) {
	t.Helper()
	lb := &logBuffer{t: t}
	g, base := startGatewayLogTo(t, node, lb)
	return g, base, lb
}

// fullBacklog is a TCP listener that never accepts and whose accept queue is full, so a
// connect to it hangs (the kernel drops the SYN) until the dialer's timeout. ok is false when
// this kernel keeps accepting past the backlog, so that no connect hangs.
func fullBacklog(t *testing.T) (addr string, ok bool) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 18 {
		// A connect the queue has room for completes in the kernel at once; one second
		// tells it from a dropped SYN even on a busy machine.
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return addr, true // this one hung: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr, false
}

// deafUpstream accepts connections and never reads from them, so writes to it block once the
// socket buffers are full.
func deafUpstream(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "deaf")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return sock
}

// TestUpstreamFailures: each way an upstream fails gives the status nginx gives (502 or 504),
// or a cut connection once the response has begun, and the log line names the upstream and
// the cause.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)

	// A unix socket file nobody listens on: connect is refused.
	deadDir, err := os.MkdirTemp("", "dead")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(deadDir) })
	deadSock := filepath.Join(deadDir, "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: deadSock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()

	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	hung, hangs := fullBacklog(t)
	deaf := deafUpstream(t)

	up := func(addr string, tune func(*config.WSGI)) *config.Service {
		s := &config.Service{Type: "wsgi", WSGI: &config.WSGI{Upstreams: []string{addr}}}
		if tune != nil {
			tune(s.WSGI)
		}
		return s
	}
	node := testNode(t, map[string]*config.Service{
		"refused-unix": up("unix:"+deadSock, nil),
		"refused-tcp":  up(closedPort, nil),
		"connect":      up(hung, func(w *config.WSGI) { w.ConnectTimeout = 300 * time.Millisecond }),
		"send":         up("unix:"+deaf, func(w *config.WSGI) { w.SendTimeout = 300 * time.Millisecond }),
		"read":         up("unix:"+sock, func(w *config.WSGI) { w.ReadTimeout = 300 * time.Millisecond }),
		"midway":       up("unix:"+sock, nil),
	})
	_, base, logs := startGatewayLog(t, node)

	tests := []struct {
		name, method, path string
		body               int
		status             int
		upstream, cause    string
	}{
		{"refused (unix)", "GET", "/refused-unix/", 0, 502, "unix:" + deadSock, "refused"},
		{"refused (tcp)", "GET", "/refused-tcp/", 0, 502, closedPort, "refused"},
		{"connect timeout", "GET", "/connect/", 0, 504, hung, "timeout"},
		{"send timeout", "POST", "/send/", 16 << 20, 504, "unix:" + deaf, "timeout"},
		{"read timeout", "GET", "/read/sleep?s=3", 0, 504, "unix:" + sock, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.upstream == hung && !hangs {
				t.Skip("the kernel accepts connections past the backlog; cannot make a hanging connect")
			}
			c := dialBase(t, base)
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", tt.method, tt.path, tt.body)
			if tt.body > 0 {
				// The client keeps sending; Portico gives up on the upstream and answers.
				go func() { _, _ = io.Copy(c, io.LimitReader(zeros{}, int64(tt.body))) }()
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			line := fmt.Sprintf("uri=%s ", tt.path)
			if strings.ContainsAny(tt.path, "?=") {
				line = fmt.Sprintf("uri=%q ", tt.path) // slog quotes such values
			}
			testkit.WaitFor(t, 0, "no log line for "+tt.path, func() bool { return strings.Contains(logs.String(), line) })
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, line) {
					if !strings.Contains(l, "cause="+tt.cause) || !strings.Contains(l, "upstream="+tt.upstream) {
						t.Fatalf("log line does not name upstream %s and cause %s: %s", tt.upstream, tt.cause, l)
					}
				}
			}
		})
	}

	t.Run("reset mid-response", func(t *testing.T) {
		// The status and part of the body were sent: the client's connection is cut, never
		// completed with a made-up ending.
		resp, err := testClient.Get(base + "/midway/die-mid-response")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err == nil || n >= 1000000 {
			t.Fatalf("status %d, read %d bytes, err %v: want a 200 cut short", resp.StatusCode, n, err)
		}
		testkit.WaitFor(t, 0, "no log line for the mid-response failure", func() bool {
			return strings.Contains(logs.String(), "upstream failed mid-response") &&
				strings.Contains(logs.String(), "upstream=unix:"+sock)
		})
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestRetryRules: nginx's next_upstream rules. A request goes to another upstream only when
// the first sent nothing back and the request is idempotent and bodyless; once the upstream
// has sent part of a response, or for a POST, the failure is the client's answer.
func TestRetryRules(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	// Reads the request and hangs up without a byte of response.
	silent := uwsgitest.Serve(t, func(_ io.Writer, r *uwsgitest.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Conn.Close()
	})
	// Sends half a status line, then hangs up.
	partial := uwsgitest.Serve(t, func(w io.Writer, _ *uwsgitest.Request) { _, _ = io.WriteString(w, "HTTP/1.1 200") })
	pair := func(first string) *config.Service {
		return &config.Service{Type: "wsgi", WSGI: &config.WSGI{Upstreams: []string{"unix:" + first, "unix:" + sock}}}
	}
	nowhere := filepath.Join(t.TempDir(), "nobody.sock")
	paths := map[string]*config.Service{"silent": pair(silent.Path), "partial": pair(partial.Path), "nowhere": pair(nowhere)}
	node := testNode(t, paths)
	for _, svc := range paths {
		// max_fails 0 (set after the defaults, whose 1 it replaces): the failing upstream
		// stays in the rotation, so every other request lands on it first.
		svc.WSGI.MaxFails = 0
	}
	base := startGateway(t, node)

	do := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body == "" {
			req.Body = nil
		}
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	count := func(method, path, body string, n int) map[int]int {
		out := map[int]int{}
		for range n {
			out[do(method, path, body)]++
		}
		return out
	}

	t.Run("GET retried when nothing was sent", func(t *testing.T) {
		before := silent.Requests()
		if got := count("GET", "/silent/", "", 6); got[200] != 6 {
			t.Fatalf("statuses %v, want 6 x 200", got)
		}
		if silent.Requests() == before {
			t.Fatal("the silent upstream was never tried")
		}
	})
	t.Run("POST not retried", func(t *testing.T) {
		before := silent.Requests()
		got := count("POST", "/silent/", "payload", 6)
		hit := int(silent.Requests() - before)
		if hit == 0 || got[502] != hit || got[200] != 6-hit {
			t.Fatalf("statuses %v with %d requests on the silent upstream: each of those must be 502", got, hit)
		}
	})
	t.Run("bodyless POST not retried", func(t *testing.T) {
		before := silent.Requests()
		got := count("POST", "/silent/", "", 6)
		if hit := int(silent.Requests() - before); hit == 0 || got[502] != hit {
			t.Fatalf("statuses %v with %d requests on the silent upstream", got, hit)
		}
	})
	t.Run("any method moves on when the dial fails", func(t *testing.T) {
		// Nothing reached the upstream, so even a POST with a body is safe to send elsewhere.
		if got := count("POST", "/nowhere/", "payload", 6); got[200] != 6 {
			t.Fatalf("statuses %v, want 6 x 200", got)
		}
	})
	t.Run("GET not retried once bytes came back", func(t *testing.T) {
		before := partial.Requests()
		got := count("GET", "/partial/", "", 6)
		if hit := int(partial.Requests() - before); hit == 0 || got[502] != hit || got[200] != 6-hit {
			t.Fatalf("statuses %v with %d requests on the half-answering upstream", got, hit)
		}
	})
}

// TestLaunchedWorkerDeaths: a launched uwsgi whose worker segfaults or is killed by harakiri
// answers the request in flight with 502 and serves the next ones.
func TestLaunchedWorkerDeaths(t *testing.T) {
	t.Parallel()
	svc := launchedService(t)
	svc.WSGI.Module = "edgeapp"
	// One thread per worker: uwsgi keeps one harakiri timer per worker, which any other
	// request finishing on a sibling thread would reset.
	svc.WSGI.Threads = 1
	svc.WSGI.UWSGIArgs = []string{"--harakiri", "1"}
	svc.WSGI.ReadTimeout = 30 * time.Second
	_, base := startGatewayG(t, testNode(t, map[string]*config.Service{"/": svc}))
	getOK(t, base+"/")
	post := func(path string) int {
		t.Helper()
		resp, err := testClient.Post(base+path, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// POST: not retried, so the one request sees the one death.
	if s := post("/segv"); s != 502 {
		t.Errorf("segfaulting worker: status %d, want 502", s)
	}
	for range 4 {
		getOK(t, base+"/")
	}
	if s := post("/sleep?s=20"); s != 502 {
		t.Errorf("harakiri: status %d, want 502", s)
	}
	for range 4 {
		getOK(t, base+"/")
	}
}

// TestEarlyAnswer: an app that answers without reading the request body (refusing an upload)
// has its answer passed on, as nginx does, although uwsgi closed before taking the body: the
// body buffered whole first, or streaming (request_buffering off, under /stream).
func TestEarlyAnswer(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	streaming := wsgiUpstream(sock)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock), "stream": streaming})
	streaming.WSGI.RequestBuffering = false
	base := startGateway(t, node)
	for _, path := range []string{"/refuse", "/refuse-stream", "/stream/refuse", "/stream/refuse-stream"} {
		for _, size := range []int{100, 64 << 10, 4 << 20} {
			for _, chunked := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s %d bytes, chunked %v", path, size, chunked), func(t *testing.T) {
					earlyAnswer(t, base+path, size, chunked)
				})
			}
		}
	}
}

func earlyAnswer(t *testing.T, url string, size int, chunked bool) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, io.LimitReader(zeros{}, int64(size)))
	req.ContentLength = int64(size)
	if chunked {
		req.ContentLength = -1
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if (resp.StatusCode != 401 && resp.StatusCode != 403) || string(b) != "refused" || err != nil {
		t.Fatalf("status %d %q, %v: want the app's whole answer", resp.StatusCode, b, err)
	}
}

// TestAppErrorRunsOnce: an app that raises before answering makes uwsgi close the connection
// without a byte; the client gets 502 and the app ran once, not once per retry (nginx never
// sends a request to the same upstream twice).
func TestAppErrorRunsOnce(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	runs := filepath.Join(t.TempDir(), "runs")
	resp, err := testClient.Get(base + "/boom?file=" + runs)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b, _ := os.ReadFile(runs)
	if n := strings.Count(string(b), "run"); resp.StatusCode != 502 || n != 1 {
		t.Fatalf("status %d, the app ran %d times; want 502 and once", resp.StatusCode, n)
	}
}
