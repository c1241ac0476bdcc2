package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/uwsgiproto/uwsgitest"
)

// startEdgeUWSGI runs real uwsgi with testdata/edgeapp.py on a unix socket and returns the
// socket path; it is stopped when the test ends.
func startEdgeUWSGI(t *testing.T, extra ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "edge") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	runUWSGI(t, sock, "testdata/edgeapp.py", extra...)
	return sock
}

func dialBase(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// TestSizedBodyStreams: with request_buffering off, a body with Content-Length reaches the app
// while the client is still sending it. The client sends a quarter of the body and waits until
// the app has read exactly that much; a proxy that collected the body first would never get
// there.
func TestSizedBodyStreams(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	streaming := wsgiUpstream(sock)
	node := testNode(t, map[string]*config.Service{"/": streaming})
	streaming.WSGI.RequestBuffering = false
	base := startGateway(t, node)
	progress := filepath.Join(t.TempDir(), "progress")
	const total, first = 4 << 20, 1 << 20
	c := dialBase(t, base)
	head := fmt.Sprintf("POST /progress?file=%s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", progress, total)
	chunk := strings.Repeat("b", first)
	if _, err := io.WriteString(c, head+chunk); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the app did not see the first part of the body before the rest was sent", func() bool {
		b, _ := os.ReadFile(progress)
		return string(b) == strconv.Itoa(first)
	})
	for range (total - first) / first {
		if _, err := io.WriteString(c, chunk); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Length        int    `json:"length"`
		ContentLength string `json:"content_length"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Length != total || got.ContentLength != strconv.Itoa(total) {
		t.Fatalf("app got %+v, want %d bytes", got, total)
	}
}

// spoolFiles lists this process's open file descriptors on request-body spool files (they
// are unlinked at once, so the directory alone cannot show them).
func spoolFiles() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(l, "portico-body-") {
			out = append(out, l)
		}
	}
	return out
}

// TestChunkedSpoolRemoved: a chunked body past the memory threshold goes to a temporary file,
// the app gets the real CONTENT_LENGTH, and the file is gone (closed and unlinked) whatever
// the outcome: success, an upstream that fails while the body is sent, a client that leaves
// in the middle of its body.
func TestChunkedSpoolRemoved(t *testing.T) {
	sock := startEdgeUWSGI(t)
	// An upstream that reads the request head and hangs up before taking the body.
	hangup := uwsgitest.Serve(t, func(_ io.Writer, r *uwsgitest.Request) { r.Conn.Close() })
	broken := wsgiUpstream(hangup.Path)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock), "broken": broken})
	broken.WSGI.MaxFails = 0 // after the defaults: 0 is one
	g, base := startGatewayG(t, node)

	chunk := strings.Repeat("c", 64<<10)
	const chunks = 40 // 2.5 MiB, past chunkedMemLimit
	sendBody := func(c net.Conn, path string) {
		t.Helper()
		if _, err := io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		for range chunks {
			if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				t.Fatal(err)
			}
		}
		// The body is past the threshold: it is in a file now.
		testkit.WaitFor(t, 0, "no spool file for a chunked body past the memory threshold", func() bool { return len(spoolFiles()) > 0 })
	}
	gone := func(outcome string) {
		t.Helper()
		testkit.WaitFor(t, 0, "spool file left after "+outcome, func() bool { return len(spoolFiles()) == 0 })
		ents, _ := filepath.Glob(filepath.Join(g.spools["workers[0].transports[0]"].dir, "*"))
		if len(ents) > 0 {
			t.Fatalf("spool files in the directory after %s: %v", outcome, ents)
		}
	}

	t.Run("success", func(t *testing.T) {
		c := dialBase(t, base)
		sendBody(c, "/progress?file="+filepath.Join(t.TempDir(), "p"))
		_, _ = io.WriteString(c, "0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`{"length": %d, "content_length": "%d"}`, chunks*len(chunk), chunks*len(chunk))
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("status %d, app answered %s, want %s", resp.StatusCode, b, want)
		}
		gone("success")
	})
	t.Run("upstream fails", func(t *testing.T) {
		c := dialBase(t, base)
		sendBody(c, "/broken/progress")
		_, _ = io.WriteString(c, "0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
		gone("an upstream failure")
	})
	t.Run("client aborts", func(t *testing.T) {
		c := dialBase(t, base)
		sendBody(c, "/progress?file="+filepath.Join(t.TempDir(), "p"))
		c.Close()
		gone("a client abort")
	})
}

// TestChunkedSpoolFails: when the temporary file for a chunked body cannot be made (here its
// directory is gone, as when a /tmp cleaner removed it), that is Portico's own failure: 500,
// logged as a warning, not the 404 or 403 its file error would otherwise map to.
func TestChunkedSpoolFails(t *testing.T) {
	t.Parallel()
	up := uwsgitest.Serve(t, func(w io.Writer, _ *uwsgitest.Request) {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	g, base := startGatewayG(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(up.Path)}))
	if err := os.RemoveAll(g.spools["workers[0].transports[0]"].dir); err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("c", chunkedMemLimit)
	resp := rawRequest(t, base, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk)+"1\r\nc\r\n0\r\n\r\n")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(b) != "500 Internal Server Error\n" {
		t.Fatalf("status %d, body %q; want 500 with the status text only", resp.StatusCode, b)
	}
}

// TestChunkedSpoolWriteFails: a temporary file that cannot take the rest of a chunked body
// (here the file size limit, as a full disk would) is 500, not the 400 of a client whose body
// broke off. Go ignores SIGXFSZ, so the write past RLIMIT_FSIZE fails with EFBIG.
func TestChunkedSpoolWriteFails(t *testing.T) {
	t.Parallel()
	up := uwsgitest.Serve(t, func(w io.Writer, _ *uwsgitest.Request) {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	_, base := startGatewayG(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(up.Path)}))
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 2 * chunkedMemLimit // the memory part fits, the rest does not
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip("cannot lower RLIMIT_FSIZE:", err)
	}
	defer func() { _ = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }()
	chunk := strings.Repeat("c", chunkedMemLimit)
	req := "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	for range 4 {
		req += fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk)
	}
	resp := rawRequest(t, base, req+"0\r\n\r\n")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(b) != "500 Internal Server Error\n" {
		t.Fatalf("status %d, body %q; want 500 with the status text only", resp.StatusCode, b)
	}
}

// TestSSEEventByEvent: each event of a WSGI generator reaches the client on its own. The app
// yields the next event only after the client has acknowledged the previous one, so the
// stream can only complete if nothing between them holds events back: not for an event
// stream, which is never buffered, nor for another type of stream, which response buffering
// reads into its buffer and passes on as soon as it arrives.
func TestSSEEventByEvent(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	for _, ct := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(ct, func(t *testing.T) {
			dir := t.TempDir()
			const n = 5
			c := dialBase(t, base)
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "GET /lockstep?dir=%s&n=%d&type=%s HTTP/1.1\r\nHost: h\r\n\r\n", dir, n, ct)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Type"); got != ct {
				t.Fatalf("Content-Type %q", got)
			}
			br := bufio.NewReader(resp.Body)
			for i := range n {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("event %d did not arrive on its own: %v", i, err)
				}
				if want := fmt.Sprintf("data: event %d\n", i); line != want {
					t.Fatalf("got %q, want %q", line, want)
				}
				_, _ = br.ReadString('\n') // the blank line ending the event
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ack-%d", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the last event: %q, %v", rest, err)
			}
		})
	}
}

// TestSSEGaps: a generator that yields an event every 200 ms reaches the client with the
// events spread out as the app made them. The inter-arrival gaps are measured (not the total
// time); a buffering proxy would deliver them together, with gaps near zero.
func TestSSEGaps(t *testing.T) {
	t.Parallel()
	sock := startEdgeUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	const n = 6
	resp, err := testClient.Get(base + fmt.Sprintf("/sse?n=%d&delay=0.2", n))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var arrivals []time.Time
	for i := range n {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		arrivals = append(arrivals, time.Now())
		_, _ = br.ReadString('\n')
	}
	var gaps []time.Duration
	for i := 1; i < len(arrivals); i++ {
		gaps = append(gaps, arrivals[i].Sub(arrivals[i-1]))
	}
	t.Logf("inter-arrival gaps: %v", gaps)
	// The median, so that one scheduling hiccup on a loaded machine cannot fail the test,
	// while a buffered stream (every gap near zero) always does.
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	if med := sorted[len(sorted)/2]; med < 100*time.Millisecond {
		t.Fatalf("median gap %v between events yielded 200 ms apart: the stream was buffered", med)
	}
}

// testClient bounds every request of these tests, so that a hang fails the test that hung
// with its own message instead of the whole package at its timeout.
var testClient = &http.Client{Timeout: 60 * time.Second}

// TestAppChunkedOnce: an app that frames its body in chunks itself (Transfer-Encoding:
// chunked through uwsgi) reaches the client chunked once: the client decodes exactly the
// app's body, not the app's chunk framing as data. Small (read whole) and large (streamed)
// bodies both.
func TestAppChunkedOnce(t *testing.T) {
	sock := startEdgeUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	for _, n := range []int{1, 5000} {
		resp := rawRequest(t, base, fmt.Sprintf("GET /chunked?n=%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", n))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		want := strings.Repeat("hello, chunked world\n", n)
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("n=%d: status %d, body %d bytes %.80q, want %d bytes", n, resp.StatusCode, len(body), body, len(want))
		}
	}
}
