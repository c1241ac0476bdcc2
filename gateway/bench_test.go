package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

// TestMain runs the fixed responder when the test binary is re-executed as a separate upstream
// process (see fixedUpstreamProcess), so that its allocations are not counted as the
// gateway's.
func TestMain(m *testing.M) {
	if sock := os.Getenv("PORTICO_FIXED_UPSTREAM"); sock != "" {
		serveFixed(sock)
		return
	}
	os.Exit(m.Run())
}

func serveFixed(sock string) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.Exit(3)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!")
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var h [4]byte
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, c, int64(binary.LittleEndian.Uint16(h[1:3]))); err != nil {
				return
			}
			_, _ = c.Write(resp)
		}()
	}
}

// fixedUpstreamProcess starts this test binary as a fixed responder on a unix socket.
func fixedUpstreamProcess(tb testing.TB) string {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "fixed.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PORTICO_FIXED_UPSTREAM="+sock)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testkit.WaitDial(tb, "unix", sock, func() string { return "the fixed upstream process" })
	return sock
}

// upstreamAllocs is the allocation budget of one proxied request on the gateway's side: the
// upstream connection and nothing else. That is its fdConn (one object), and the *os.File
// (two more) when a read or write has to wait and the socket joins the poller (fdconn.go);
// how often a call waits depends on how busy the machine is, so the budget is the worst case.
const upstreamAllocs = 3

// TestProxyAllocs: one proxied request allocates no more than its upstream connection.
func TestProxyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, fixedUpstreamProcess(t))
	one := proxyOnce(t, s, func(ctx *fasthttp.RequestCtx) {
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "Hello, world!" {
			t.Fatalf("%d %q", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	})
	const budget = upstreamAllocs
	if n := testkit.Allocs(200, one); n > budget {
		t.Fatalf("%v allocations per proxied request, budget %d", n, budget)
	}
}

// TestProxyAllocsCounted: counting the request in the metrics, writing its JSON access log
// line and making its request ID add no allocation to TestProxyAllocs's budget.
func TestProxyAllocsCounted(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for name, opts := range map[string]func(*config.WebOptions){"metrics": withMetrics, "json log": withJSONLog(t)} {
		t.Run(name, func(t *testing.T) {
			s := benchServerWith(t, fixedUpstreamProcess(t), opts)
			one := proxyOnce(t, s, func(ctx *fasthttp.RequestCtx) {
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("%d %q", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			})
			const budget = upstreamAllocs
			if n := testkit.Allocs(200, one); n > budget {
				t.Fatalf("%v allocations per proxied request, budget %d", n, budget)
			}
			st := s.table.Load().stats
			if len(st) == 0 {
				t.Fatal("nothing is counted")
			}
		})
	}
}

// proxyOnce returns a function that serves benchRequest through s's handler and checks the
// response; it has run once (the context's fake connection is allocated then), so that what
// it allocates afterwards is the request's own.
func proxyOnce(t *testing.T, s *server, check func(*fasthttp.RequestCtx)) func() {
	var ctx fasthttp.RequestCtx
	br := bufio.NewReader(nil)
	rd := bytes.NewReader(nil)
	one := func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		rd.Reset(benchRequest)
		br.Reset(rd)
		if err := ctx.Request.ReadLimitBody(br, 0); err != nil {
			t.Fatal(err)
		}
		s.handle(&ctx)
		check(&ctx)
	}
	initCtx(&ctx, &ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	one()
	return one
}

// fixedUpstream is a minimal uwsgi responder for benchmarks: it reads one request packet and
// answers a fixed response, then closes, as uwsgi does. Real uwsgi would dominate the numbers
// the benchmark is after (the gateway's own cost per request).
func fixedUpstream(tb testing.TB) string {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "bench.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var h [4]byte
				if _, err := io.ReadFull(c, h[:]); err != nil {
					return
				}
				n := int(binary.LittleEndian.Uint16(h[1:3]))
				if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
					return
				}
				_, _ = c.Write(resp)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	return sock
}

// benchServer builds the transport handler for one wsgi path at "/" without listening.
func benchServer(tb testing.TB, sock string) *server {
	return benchServerWith(tb, sock, nil)
}

// benchServerWith is benchServer with a `metrics` path when opts is not nil, and opts applied
// to the transport's options (access log, request IDs).
func benchServerWith(tb testing.TB, sock string, opts func(*config.WebOptions)) *server {
	tb.Helper()
	paths := map[string]*config.Service{"/": wsgiUpstream(sock)}
	if opts != nil {
		paths["metrics"] = &config.Service{Type: "metrics"}
	}
	node := testNode(&testing.T{}, paths)
	if opts != nil {
		opts(&node.Workers[0].Transports[0].Options)
	}
	g, err := New(node, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tables, err := g.build(tb.Context(), node)
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{g: g, where: "bench"}
	s.table.Store(tables["workers[0].transports[0]"])
	tb.Cleanup(g.closeSinks)
	return s
}

// withMetrics turns on the counting (a metrics path) and nothing else.
func withMetrics(*config.WebOptions) {}

// withJSONLog adds the JSON access log, to a file of tb's, and request IDs.
func withJSONLog(tb testing.TB) func(*config.WebOptions) {
	return func(o *config.WebOptions) {
		o.AccessLog, o.AccessLogFormat = true, "json"
		o.AccessLogFile = filepath.Join(tb.TempDir(), "access.log")
		o.RequestIDHeader = "X-Request-ID"
	}
}

var benchRequest = []byte("GET /hello/world?name=portico HTTP/1.1\r\nHost: example.com\r\n" +
	"User-Agent: wrk\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nCookie: session=abc\r\n\r\n")

// BenchmarkProxyRequest measures the gateway's own work for one proxied request: path
// resolution, vars, dial, send, response head, body copy. Its allocs/op is the total number
// of allocations per proxied request on the gateway's side (the request reader and the fake
// client connection are set up once, as fasthttp keeps them per connection).
func BenchmarkProxyRequest(b *testing.B) {
	benchProxy(b, benchServer(b, fixedUpstreamProcess(b)))
}

// BenchmarkProxyRequestCounted is BenchmarkProxyRequest without and with the metrics
// counting, and with the JSON access log and request IDs on top: the difference between the
// sub-benchmarks is their cost per request.
func BenchmarkProxyRequestCounted(b *testing.B) {
	sock := fixedUpstreamProcess(b)
	b.Run("off", func(b *testing.B) { benchProxy(b, benchServer(b, sock)) })
	b.Run("metrics", func(b *testing.B) { benchProxy(b, benchServerWith(b, sock, withMetrics)) })
	b.Run("metrics+json_log", func(b *testing.B) {
		log := withJSONLog(b)
		benchProxy(b, benchServerWith(b, sock, log))
	})
}

func benchProxy(b *testing.B, s *server) {
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	br := bufio.NewReader(nil)
	rd := bytes.NewReader(nil)
	initCtx(&ctx, &ctx.Request, remote)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		rd.Reset(benchRequest)
		br.Reset(rd)
		if err := ctx.Request.ReadLimitBody(br, 0); err != nil {
			b.Fatal(err)
		}
		s.handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
		if err := ctx.Response.BodyWriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
		ctx.Response.Reset() // closes the body stream: connection and slot released
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// TestBuildVarsAllocs holds the vars encode path (CGI variables and every header) to zero
// allocations per request once its buffers are warm.
func TestBuildVarsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, filepath.Join(t.TempDir(), "unused.sock"))
	tab := s.table.Load()
	svc, _ := tab.root.lookup([]byte("/"))
	ws := svc.(*wsgiService)
	// Read into a request of its own: Init copies it into ctx.Request, which it resets first.
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufioReader(benchRequest), 0); err != nil {
		t.Fatal(err)
	}
	initCtx(&ctx, &req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	if ctx.Request.Header.Len() == 0 {
		t.Fatal("the request under test has no headers")
	}
	rq := &request{}
	rq.path, _ = normalizePath(nil, []byte("/hello/world"))
	rq.requestURI = ctx.Request.Header.RequestURI()
	rq.host = []byte("example.com")
	ps := &proxyState{}
	if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
		t.Fatal(err)
	}
	allocs := testkit.Allocs(200, func() {
		if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("buildVars: %v allocations per request, want 0", allocs)
	}
}

func BenchmarkBuildVars(b *testing.B) {
	s := benchServer(b, filepath.Join(b.TempDir(), "unused.sock"))
	svc, _ := s.table.Load().root.lookup([]byte("/"))
	ws := svc.(*wsgiService)
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufioReader(benchRequest), 0); err != nil {
		b.Fatal(err)
	}
	initCtx(&ctx, &req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	rq := &request{requestURI: ctx.Request.Header.RequestURI(), host: []byte("example.com")}
	rq.path, _ = normalizePath(nil, []byte("/hello/world"))
	ps := &proxyState{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpstreamQueue measures a slot taken and given back when more requests want the
// upstream than it may have (the wait queue path: 256 client connections on a
// max_concurrency of 64 queue most requests).
func BenchmarkUpstreamQueue(b *testing.B) {
	u := &upstream{label: "bench", max: 4}
	deadline := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := u.acquire(deadline); err != nil {
				b.Error(err)
				return
			}
			u.release()
		}
	})
}

// BenchmarkMetricsObserve is the counting's own cost per request (status class, duration
// histogram, body bytes), to set against the CPU a proxied request takes in all (contrib/bench:
// about 40 µs on the reference machine).
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics()
	st := m.service("bench", "bench.paths./", "wsgi")
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufioReader(benchRequest), 0); err != nil {
		b.Fatal(err)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ctx.SetBodyString("Hello, world!")
	b.ReportAllocs()
	for b.Loop() {
		st.observe(&ctx)
	}
}

// BenchmarkAccessLogJSON is the cost of one JSON access log line on the request path
// (formatting and queueing; the background writer does the write).
func BenchmarkAccessLogJSON(b *testing.B) {
	s := benchServerWith(b, filepath.Join(b.TempDir(), "unused.sock"), withJSONLog(b))
	tab := s.table.Load()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufioReader(benchRequest), 0); err != nil {
		b.Fatal(err)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ctx.SetBodyString("Hello, world!")
	rq := &request{host: []byte("example.com"), requestID: []byte("0123456789abcdef0123456789abcdef")}
	b.ReportAllocs()
	for b.Loop() {
		s.logAccess(&ctx, tab, rq, "bench")
	}
}

// initCtx is fasthttp's RequestCtx.Init with a connection whose deadlines can be set: the
// handler bounds its writes to the client by write_timeout (a transport's default is 60 s),
// and Init's stand-in connection has no deadlines to set.
func initCtx(ctx *fasthttp.RequestCtx, req *fasthttp.Request, remote net.Addr) {
	ctx.Init2(&handlerConn{remote: remote, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}}, nopLogger{}, true)
	if req != &ctx.Request {
		req.CopyTo(&ctx.Request)
	}
}

// handlerConn is the client connection of a handler called directly: it has addresses and
// accepts deadlines; nothing reads or writes it.
type handlerConn struct {
	net.Conn
	remote, local net.Addr
}

func (c *handlerConn) RemoteAddr() net.Addr             { return c.remote }
func (c *handlerConn) LocalAddr() net.Addr              { return c.local }
func (c *handlerConn) SetDeadline(time.Time) error      { return nil }
func (c *handlerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *handlerConn) SetWriteDeadline(time.Time) error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
