package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

const transport0 = "workers[0].transports[0]"

// startGatewayInfo starts a gateway for node whose log, from level Info, is kept for
// inspection (4xx refusals log at Info).
func startGatewayInfo(t *testing.T, node *config.Node) (*Gateway, string, *logBuffer) {
	t.Helper()
	lb := &logBuffer{t: t}
	g, err := New(node, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctxShutdown(t, g) })
	return g, "http://" + g.Addrs()[0].String(), lb
}

// dialFrom connects to base from the local address src (any of 127/8 reaches the loopback
// interface), so that a test has clients with different addresses.
func dialFrom(t *testing.T, base, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * testkit.Patience))
	return c
}

// TestSlowUploadersDoNotStarveApp: sixteen clients each send the head and 16 KiB of a 1 MiB
// body and then stall, in front of an app with two single-threaded workers and sixteen upstream
// slots. With request buffering the bodies wait in Portico, none reaches the app, and a plain
// GET is still answered. Streaming them (request_buffering off, as before) hands the first two
// to the workers, which then wait on the stalled clients, and the rest take every slot: the GET
// gets 503 or 504.
func TestSlowUploadersDoNotStarveApp(t *testing.T) {
	for _, buffering := range []bool{true, false} {
		t.Run(fmt.Sprintf("request_buffering=%v", buffering), func(t *testing.T) {
			sock := startEdgeUWSGI(t, "--processes", "2", "--threads", "1")
			app := wsgiUpstream(sock)
			node := testNode(t, map[string]*config.Service{"/": app})
			app.WSGI.RequestBuffering = buffering
			// Stalled clients are not cut off while the GET is tried.
			node.Workers[0].Transports[0].Options.BodyReadTimeout = 5 * time.Minute
			g, base := startGatewayG(t, node)

			const uploaders, sent = 16, 16 << 10
			dir := t.TempDir()
			progress := func(i int) string { return filepath.Join(dir, fmt.Sprint(i)) }
			for i := range uploaders {
				c := dialBase(t, base)
				fmt.Fprintf(c, "POST /progress?file=%s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", progress(i), 1<<20)
				if _, err := c.Write(make([]byte, sent)); err != nil {
					t.Fatal(err)
				}
			}
			// Every uploader is in: Portico holds all their bytes, or the app is reading two.
			testkit.WaitFor(t, 0, "the uploads neither held by Portico nor read by the app", func() bool {
				if g.spools[transport0].bytesHeld() == uploaders*sent {
					return true
				}
				reading := 0
				for i := range uploaders {
					if b, _ := os.ReadFile(progress(i)); len(b) > 0 {
						reading++
					}
				}
				return reading == 2
			})

			resp, err := testClient.Get(base + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			served := resp.StatusCode == 200 && string(b) == "ok\n"
			if served != buffering {
				t.Fatalf("GET while %d uploaders stall: status %d %q (request_buffering %v)", uploaders, resp.StatusCode, b, buffering)
			}
			if buffering {
				for i := range uploaders {
					if _, err := os.Stat(progress(i)); err == nil {
						t.Fatalf("uploader %d reached the app before its body was complete", i)
					}
				}
			}
		})
	}
}

// TestSpoolTotalBound: request bodies being read share max_spool_size. A chunked body that
// would go past it is refused with 507 mid-way, logged once naming the key, and its file is
// closed (it was unlinked when made, so its space is free again); a sized body announced over
// what is left is refused before it is read; once the first upload ends, uploads fit again.
func TestSpoolTotalBound(t *testing.T) {
	sock := startEdgeUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	o := &node.Workers[0].Transports[0].Options
	o.MaxSpoolSize, o.MaxSpoolPerClient = 1<<20, 1<<20
	g, base, logs := startGatewayLog(t, node)
	q := g.spools[transport0]

	// A first upload holds 768 KiB, in a spool file, and stalls.
	hold := dialBase(t, base)
	chunk := strings.Repeat("h", 64<<10)
	fmt.Fprintf(hold, "POST /progress?file=%s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", filepath.Join(t.TempDir(), "p"))
	for range 12 {
		fmt.Fprintf(hold, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	testkit.WaitFor(t, 0, "the first upload is not held", func() bool { return q.bytesHeld() == 12*64<<10 })

	t.Run("chunked past the bound", func(t *testing.T) {
		c := dialBase(t, base)
		fmt.Fprintf(c, "POST /progress HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
		done := make(chan *http.Response, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		// 512 KiB in all (it stops at the first write that fails): past the 256 KiB left.
		for range 8 {
			if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				break
			}
		}
		resp := <-done
		if resp == nil || resp.StatusCode != 507 {
			t.Fatalf("response %v, want 507", resp)
		}
		testkit.WaitFor(t, 0, "no log line naming max_spool_size", func() bool {
			return strings.Contains(logs.String(), "status=507") && strings.Contains(logs.String(), "cause=max_spool_size")
		})
		testkit.WaitFor(t, 0, "the refused body's bytes are still held", func() bool { return q.bytesHeld() == 12*64<<10 })
		if n := len(spoolFiles()); n != 1 {
			t.Fatalf("%d spool files open, want only the first upload's", n)
		}
	})
	t.Run("sized over what is left", func(t *testing.T) {
		// fasthttp calls the handler once the first bytes of the body are in.
		resp := rawRequest(t, base, "POST /progress HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n"+strings.Repeat("s", 8<<10))
		resp.Body.Close()
		if resp.StatusCode != 507 {
			t.Fatalf("status %d, want 507", resp.StatusCode)
		}
	})
	t.Run("fits again once the first ends", func(t *testing.T) {
		hold.Close()
		testkit.WaitFor(t, 0, "the first upload's bytes and file are not given back", func() bool {
			return q.bytesHeld() == 0 && len(spoolFiles()) == 0
		})
		resp, err := testClient.Post(base+"/progress?file="+filepath.Join(t.TempDir(), "p"), "application/octet-stream", strings.NewReader(strings.Repeat("x", 900<<10)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"length": %d`, 900<<10)) {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})
}

// TestSpoolPerClientBound: one client address holding max_spool_per_client gets 429 for more,
// logged naming the key, while another address is still taken.
func TestSpoolPerClientBound(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	o := &node.Workers[0].Transports[0].Options
	o.MaxSpoolSize, o.MaxSpoolPerClient = 8<<20, 256<<10
	g, base, logs := startGatewayInfo(t, node)
	q := g.spools[transport0]

	hold := dialFrom(t, base, "127.0.0.1")
	fmt.Fprintf(hold, "POST /progress HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", 256<<10)
	if _, err := hold.Write(make([]byte, 200<<10)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the first upload is not held", func() bool { return q.bytesHeld() == 200<<10 })

	post := func(src string, n int) int {
		t.Helper()
		c := dialFrom(t, base, src)
		fmt.Fprintf(c, "POST /progress?file=%s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", filepath.Join(t.TempDir(), "p"), n)
		go func() { _, _ = c.Write(make([]byte, n)) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("127.0.0.1", 100<<10); st != 429 {
		t.Fatalf("same client: status %d, want 429", st)
	}
	testkit.WaitFor(t, 0, "no log line naming max_spool_per_client", func() bool {
		return strings.Contains(logs.String(), "status=429") && strings.Contains(logs.String(), "cause=max_spool_per_client")
	})
	if st := post("127.0.0.2", 200<<10); st != 200 {
		t.Fatalf("another client: status %d, want 200", st)
	}
}

// TestSpoolClientKey: the per-client bound counts by the TCP peer, by the nearest untrusted
// X-Forwarded-For address behind trusted proxies, and an IPv6 client by its /64.
func TestSpoolClientKey(t *testing.T) {
	t.Parallel()
	trusted, err := parseTrusted([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	s := &wsgiService{env: &envConfig{ip: realIP{trusted: trusted}}}
	for _, tt := range []struct{ peer, xff, want string }{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1"}, // not a trusted peer: XFF ignored
		{"10.0.0.1:5000", "203.0.113.9", "203.0.113.9"},
		{"10.0.0.1:5000", "198.51.100.1, 203.0.113.9, 10.1.1.1", "203.0.113.9"},
		{"10.0.0.1:5000", "junk", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "", "2001:db8:1:2::"},
	} {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		initCtx(&ctx, &req, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.peer)))
		if got := s.clientKey(&ctx).String(); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: key %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}

// TestSpoolDir: the default spool directory is a private (0700) directory on disk, removed at
// stop; a spool_dir on a tmpfs (/dev/shm) draws a warning at start naming the key.
func TestSpoolDir(t *testing.T) {
	t.Parallel()
	up := startEdgeUWSGI(t)
	t.Run("default", func(t *testing.T) {
		node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(up)})
		node.Workers[0].Transports[0].Options.SpoolDir = ""
		g, err := New(node, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		dir := g.spools[transport0].dir
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(dir, defaultSpoolBase+"/") {
			t.Errorf("default spool dir %s: %v, %v; want a 0700 directory under %s", dir, fi.Mode(), err, defaultSpoolBase)
		}
		if onTmpfs(dir) {
			t.Errorf("default spool dir %s is on a tmpfs", dir)
		}
		ctxShutdown(t, g)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("spool dir %s left after stop: %v", dir, err)
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		if !onTmpfs("/dev/shm") {
			t.Skip("/dev/shm is not a tmpfs here")
		}
		shm, err := os.MkdirTemp("/dev/shm", "portico-test-")
		if err != nil {
			t.Skip("cannot write /dev/shm:", err)
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(up)})
		node.Workers[0].Transports[0].Options.SpoolDir = filepath.Join(shm, "spool")
		_, _, logs := startGatewayLog(t, node)
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "tmpfs") || !strings.Contains(l, "spool_dir="+shm) {
			t.Fatalf("no tmpfs warning naming spool_dir in:\n%s", l)
		}
		if fi, err := os.Stat(filepath.Join(shm, "spool")); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("spool_dir not made 0700: %v %v", fi, err)
		}
	})
}

// TestBufferedBodyAllocs: a small request body read whole into the pooled spool before it is
// sent costs no allocation beyond a bodyless request's (the upstream connection's,
// upstreamAllocs).
func TestBufferedBodyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, fixedUpstreamProcess(t))
	s.table.Load().services[0].(*wsgiService).bodyTimeout = 0 // the fake connection has no deadlines
	var ctx fasthttp.RequestCtx
	br := bufio.NewReader(nil)
	head := bytes.NewReader(nil)
	body := bytes.NewReader(nil)
	payload := bytes.Repeat([]byte("b"), 2000)
	req := []byte("POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2000\r\n\r\n")
	one := func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		head.Reset(req)
		br.Reset(head)
		if err := ctx.Request.Header.Read(br); err != nil {
			t.Fatal(err)
		}
		body.Reset(payload)
		ctx.Request.SetBodyStream(body, len(payload)) // as fasthttp's StreamRequestBody gives it
		s.handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("%d %q", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	initCtx(&ctx, &ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	one()
	testkit.Budget(t, "buffered POST", upstreamAllocs, 200, one)
}

// TestRefusedReloadKeepsSpoolLimits: a reload that lowers max_spool_size but is refused for
// another key (a static path whose directory is a file, found after the spool is planned)
// leaves the running limit in force: a 64 KiB body the old limit takes is still taken. The
// same lower limit in a reload that is applied refuses it (507), so the request tells the two
// limits apart.
func TestRefusedReloadKeepsSpoolLimits(t *testing.T) {
	sock := startEdgeUWSGI(t)
	files := &config.Service{Type: "static", Static: &config.Static{Directory: t.TempDir()}}
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock), "files": files})
	o := &node.Workers[0].Transports[0].Options
	o.MaxSpoolSize, o.MaxSpoolPerClient = 1<<20, 1<<20
	g, base := startGatewayG(t, node)
	post := func() int {
		t.Helper()
		resp, err := testClient.Post(base+"/", "application/octet-stream", bytes.NewReader(make([]byte, 64<<10)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(); st != 200 {
		t.Fatalf("64 KiB body under max_spool_size 1 MiB: %d, want 200", st)
	}

	dir := files.Static.Directory
	notDir := filepath.Join(node.Dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o.MaxSpoolSize, o.MaxSpoolPerClient = 1<<10, 1<<10
	files.Static.Directory = notDir
	if err := g.Reload(node); err == nil || !strings.Contains(err.Error(), "files.directory") {
		t.Fatalf("reload with a static directory that is a file: %v, want it refused naming files.directory", err)
	}
	if st := post(); st != 200 {
		t.Fatalf("64 KiB body after a refused reload to max_spool_size 1 KiB: %d, want 200 (the running 1 MiB)", st)
	}

	files.Static.Directory = dir
	if err := g.Reload(node); err != nil {
		t.Fatal(err)
	}
	if st := post(); st != http.StatusInsufficientStorage {
		t.Fatalf("64 KiB body after a reload to max_spool_size 1 KiB: %d, want 507", st)
	}
}
