package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"portico/config"
	"portico/internal/testkit"
)

// upstreamAt returns the first upstream of the wsgi service that serves path.
func upstreamAt(t *testing.T, g *Gateway, path string) *upstream {
	t.Helper()
	svc, _ := g.servers[0].table.Load().root.lookup([]byte(path))
	ws, ok := svc.(*wsgiService)
	if !ok {
		t.Fatalf("%s is not a wsgi path", path)
	}
	return ws.bal.ups[0]
}

func (u *upstream) inUse() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active
}

// respFiles lists this process's open response spool files (unlinked, so only /proc shows
// them).
func respFiles() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(l, "portico-resp-") {
			out = append(out, l)
		}
	}
	return out
}

// stalledReader sends a request and reads nothing back (until the test reads). The kernel
// grows a receive buffer only as its application reads (tcp(7), tcp_moderate_rcvbuf), so it
// stays at its initial size, and the sender's at most 4 MiB: far from a 16 MiB response.
func stalledReader(t *testing.T, base, req string) net.Conn {
	t.Helper()
	c := dialBase(t, base)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowReadersDoNotStarveApp: twenty clients ask for 16 MiB each and read nothing, in front
// of an app with two single-threaded workers. With buffering (the default) every response is
// read from uwsgi into the spool, the workers and slots are free again, and a plain GET is
// answered. Without it (as before), the first two responses hold both workers while their
// clients do not read, the others hold every slot, and the GET is refused (503 after
// queue_timeout); so too when the app says X-Accel-Buffering: no, for an event stream, and
// past max_temp_file_size or the spool bounds. X-Accel-Buffering: yes buffers on a path that
// does not. Whichever way, a stalled client that reads gets its whole response, without the
// X-Accel-Buffering header, and no spool file outlives the clients.
func TestSlowReadersDoNotStarveApp(t *testing.T) {
	cases := []struct {
		name      string
		buffering bool
		query     string
		tune      func(w *config.WSGI, o *config.WebOptions)
		served    bool
	}{
		{name: "buffering", buffering: true, served: true},
		{name: "buffering=false", buffering: false},
		{name: "X-Accel-Buffering: no", buffering: true, query: "&accel=no"},
		{name: "X-Accel-Buffering: yes on buffering=false", buffering: false, query: "&accel=yes", served: true},
		{name: "text/event-stream", buffering: true, query: "&type=text/event-stream"},
		{name: "past max_temp_file_size", buffering: true, tune: func(w *config.WSGI, _ *config.WebOptions) { w.MaxTempFileSize = 1 << 20 }},
		{name: "past max_spool_per_client", buffering: true, tune: func(_ *config.WSGI, o *config.WebOptions) {
			o.MaxSpoolPerClient, o.MaxSpoolSize = 4<<20, 8<<20
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// uwsgi gives up a write that waits 4 s by default (socket-timeout), cutting the
			// response: raised, so that a worker blocked by a client stays blocked.
			sock := startEdgeUWSGI(t, "--processes", "2", "--threads", "1", "--socket-timeout", "120")
			app := wsgiUpstream(sock)
			node := testNode(t, map[string]*config.Service{"/": app})
			app.WSGI.Buffering = tc.buffering
			if tc.served {
				// The requests queued behind the two workers wait while each response ahead
				// of them is read into the spool, 16 MiB at a time: on a loaded machine that
				// takes longer than the tests' queue_timeout (5 s). Where the GET is to be
				// refused, queue_timeout is what refuses it and stays short.
				app.WSGI.QueueTimeout = testkit.Patience
			}
			if tc.tune != nil {
				tc.tune(app.WSGI, &node.Workers[0].Transports[0].Options)
			}
			g, base := startGatewayG(t, node)
			up := upstreamAt(t, g, "/")

			const readers, size = 20, 16 << 20
			log := filepath.Join(t.TempDir(), "log")
			conns := make([]net.Conn, readers)
			for i := range conns {
				conns[i] = stalledReader(t, base, fmt.Sprintf("GET /bytes?n=%d&file=%s%s HTTP/1.1\r\nHost: h\r\n\r\n", size, log, tc.query))
			}
			testkit.WaitFor(t, 0, "every response read from uwsgi (buffered) or every slot held", func() bool {
				b, _ := os.ReadFile(log)
				started, done := strings.Count(string(b), "start"), strings.Count(string(b), "done")
				if tc.served {
					return done == readers && up.inUse() == 0
				}
				return started == 2 && up.inUse() == app.WSGI.MaxConcurrency
			})

			resp, err := testClient.Get(base + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if served := resp.StatusCode == 200 && string(b) == "ok\n"; served != tc.served {
				t.Fatalf("GET while %d clients do not read: status %d %q; want it served: %v", readers, resp.StatusCode, b, tc.served)
			}

			// The stalled clients that read now get all of their responses; without the
			// buffer, those that waited in the queue past queue_timeout got 503 instead, and
			// those that got a slot but waited for a blocked worker past read_timeout 504.
			errs := make(chan error, readers)
			for _, c := range conns {
				go func() {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					if h := resp.Header.Get("X-Accel-Buffering"); h != "" {
						errs <- fmt.Errorf("X-Accel-Buffering %q reached the client", h)
						return
					}
					if (resp.StatusCode == 503 || resp.StatusCode == 504) && !tc.served {
						errs <- nil
						return
					}
					n, err := io.Copy(yOnly{}, resp.Body)
					if resp.StatusCode != 200 || err != nil || n != size {
						err = fmt.Errorf("stalled client: status %d, %d bytes, %v; want %d bytes of y", resp.StatusCode, n, err, size)
					}
					errs <- err
				}()
			}
			for range conns {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			for _, c := range conns {
				c.Close()
			}
			testkit.WaitFor(t, 0, "response spool files closed once their clients left", func() bool {
				return len(respFiles()) == 0 && g.spools[transport0].bytesHeld() == 0
			})
		})
	}
}

// yOnly is a writer that fails on anything but the bytes /bytes sends.
type yOnly struct{}

func (yOnly) Write(p []byte) (int, error) {
	if len(bytes.Trim(p, "y")) != 0 {
		return 0, fmt.Errorf("unexpected bytes in the body")
	}
	return len(p), nil
}

// TestEarlyAnswerFreesSlot: an app that refuses a streamed upload (request_buffering off)
// answers before it read the body, and Portico reads and drops the rest of the body before
// answering (a lingering close). The upstream slot is released before that drain: on a path
// with one slot, a client that sent part of a refused upload and stalls does not keep a GET
// from being served. Once it sends the rest, it gets the app's answer. (With request_buffering
// on, the body is read before uwsgi is contacted, so no slot is held while it arrives:
// TestSlowUploadersDoNotStarveApp.)
func TestEarlyAnswerFreesSlot(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	app := wsgiUpstream(sock)
	node := testNode(t, map[string]*config.Service{"/": app})
	app.WSGI.RequestBuffering = false
	app.WSGI.MaxConcurrency = 1
	g, base := startGatewayG(t, node)
	up := upstreamAt(t, g, "/")

	const total, first = 64 << 20, 8 << 20
	started := filepath.Join(t.TempDir(), "started")
	c := dialBase(t, base)
	sent := make(chan error, 1)
	go func() {
		_, err := fmt.Fprintf(c, "POST /refuse?file=%s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", started, total)
		if err == nil {
			_, err = c.Write(make([]byte, first))
		}
		sent <- err
	}()
	testkit.WaitFor(t, 0, "the app got the upload's request", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	testkit.WaitFor(t, 0, "the slot released while the refused body is still being drained", func() bool {
		return up.inUse() == 0
	})
	getOK(t, base+"/")
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The drain is still going on: had the slot been held through it, the drain would have
	// ended (lingerTime) before the slot was seen free, and the connection closed with it.
	if _, err := c.Write(make([]byte, total-first)); err != nil {
		t.Fatalf("sending the rest of the refused body: %v (the drain had ended before the slot was free)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || string(b) != "refused" {
		t.Fatalf("refused upload: status %d %q, want 401 \"refused\"", resp.StatusCode, b)
	}
}

// TestBufferedPastSpoolBound: past max_spool_per_client a buffered response is read from uwsgi
// as the client takes it. What the client has read is freed from the temporary file and from
// the bound at once, so uwsgi never waits for the client to drain the whole file first (uwsgi
// cuts a write blocked for its socket-timeout, 4 s, and a response without a Content-Length
// then looked complete, cut short). Once the response has filled a 16 MiB bound (and the
// socket buffers to the client, a few MiB), the client reads 12 MiB and stops: uwsgi must
// have handed over about 12 MiB more; then the client reads the rest and gets every byte.
func TestBufferedPastSpoolBound(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t, "--processes", "1", "--threads", "1", "--socket-timeout", "120")
	app := wsgiUpstream(sock)
	app.WSGI.Buffering = true
	node := testNode(t, map[string]*config.Service{"/": app})
	o := &node.Workers[0].Transports[0].Options
	o.MaxSpoolPerClient, o.MaxSpoolSize = 16<<20, 16<<20
	base := startGateway(t, node)
	progress := filepath.Join(t.TempDir(), "progress")
	const size, first = 64 << 20, 12 << 20
	c := dialBase(t, base)
	// A small receive window keeps what the kernel holds for the client to the sender's buffer.
	if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET /bytes?n=%d&sized=0&progress=%s HTTP/1.1\r\nHost: h\r\n\r\n", size, progress); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	handed := func() int64 {
		b, _ := os.ReadFile(progress)
		n, _ := strconv.ParseInt(string(b), 10, 64)
		return n
	}
	// The response fills the bound while the client reads nothing; then it reads 12 MiB.
	testkit.WaitFor(t, 0, "uwsgi handing over the bound's worth", func() bool { return handed() >= 16<<20 })
	if _, err := io.CopyN(io.Discard, resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// The bound plus the socket buffers and memory is under 21 MiB; the 12 MiB the client took
	// make room for as much again.
	testkit.WaitFor(t, 0, "uwsgi handing over as much again as the client took past the bound", func() bool {
		return handed() >= 27<<20
	})
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || first+n != size {
		t.Fatalf("the client got %d of %d bytes: %v", first+n, size, err)
	}
}
