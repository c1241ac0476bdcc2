package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/config"
)

// TestClientLimits covers the client-side limits: a body over max_body_size is refused before
// it is read, a client that stops sending its head or its body is cut off, and a head larger
// than max_header_size is 431.
func TestClientLimits(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	capped := wsgiUpstream(sock)
	capped.WSGI.MaxBodySize = 1000
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock), "capped": capped})
	o := &node.Workers[0].Transports[0].Options
	o.HeaderReadTimeout = 300 * time.Millisecond
	o.BodyReadTimeout = 300 * time.Millisecond
	o.MaxHeaderSize = 4096
	base := startGateway(t, node)
	addr := strings.TrimPrefix(base, "http://")

	t.Run("max_body_size", func(t *testing.T) {
		resp := rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("x", 5000))
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
		// With Expect: 100-continue the answer comes before the body is sent.
		resp = rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("with Expect: status %d, want 413", resp.StatusCode)
		}
		// A chunked body has no length up front: it is refused once it grows past the bound.
		resp = rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"3e8\r\n"+strings.Repeat("x", 1000)+"\r\n1\r\nx\r\n0\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("chunked: status %d, want 413", resp.StatusCode)
		}
		resp = rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"3e8\r\n"+strings.Repeat("x", 1000)+"\r\n0\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("chunked at the bound: status %d, want 200", resp.StatusCode)
		}
		resp = rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("small body: status %d", resp.StatusCode)
		}
	})

	t.Run("slow head", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Closed before the default header_read_timeout (60 s) could have done it: the
		// configured one did.
		_, _ = io.WriteString(c, "GET /env HTTP/1.1\r\nHost: h\r\n")
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = io.ReadAll(c) // the server closes the connection
		if err != nil {
			t.Fatalf("connection not closed by the server: %v", err)
		}
	})

	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 10))
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 408 {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
	})

	t.Run("head too large", func(t *testing.T) {
		resp := rawRequest(t, base, "GET /env HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("a", 8000)+"\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != 431 {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
}

// TestWriteTimeoutPerWrite: write_timeout bounds each write, not the whole response, so an
// event stream longer than it still reaches the client whole.
func TestWriteTimeoutPerWrite(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	node.Workers[0].Transports[0].Options.WriteTimeout = time.Second
	base := startGateway(t, node)
	resp, err := testClient.Get(base + "/stream?n=5&delay=0.5")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(b), "event 4") {
		t.Fatalf("stream cut: %v %q", err, b)
	}
}

// TestSlowloris: clients that trickle their request heads a byte at a time are cut off when
// header_read_timeout runs out (a bound on the whole head, not on each read), and a normal
// client is served meanwhile.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	node.Workers[0].Transports[0].Options.HeaderReadTimeout = 500 * time.Millisecond
	base := startGateway(t, node)
	addr := strings.TrimPrefix(base, "http://")

	const n = 40
	cut := make(chan error, n)
	stop := make(chan struct{})
	defer close(stop)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			// One byte of an endless header every 50 ms: each read makes progress, so only
			// a deadline on the whole head cuts it off.
			_, _ = io.WriteString(c, "GET /env HTTP/1.1\r\nHost: h\r\nX-Slow: ")
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					cut <- nil
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte("a")); err != nil {
					cut <- err
					return
				}
			}
		}()
	}
	// Served while the slow clients hang on.
	resp, err := testClient.Get(base + "/env")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("normal client: status %d", resp.StatusCode)
	}
	deadline := time.After(20 * time.Second)
	for i := range n {
		select {
		case err := <-cut:
			if err == nil {
				t.Fatalf("slow client %d not cut off", i)
			}
		case <-deadline:
			t.Fatalf("only %d of %d slow clients cut off after 20s", i, n)
		}
	}
}

// TestIdleTimeout: a keep-alive connection with no next request is closed after idle_timeout
// (nginx keepalive_timeout).
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	node.Workers[0].Transports[0].Options.IdleTimeout = 300 * time.Millisecond
	base := startGateway(t, node)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /env HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the first response closed the connection; nothing to test")
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d bytes, %v; want EOF (closed by the server)", n, err)
	}
}

// TestMaxConnections: past max_connections a new connection is refused with 503 and closed,
// with the transport's error page and headers, and the held ones are still served.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	o := &node.Workers[0].Transports[0].Options
	o.MaxConnections = 3
	page := filepath.Join(node.Dir, "busy.html")
	if err := os.WriteFile(page, []byte("<h1>busy</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.ErrorPages = map[int]string{503: page}
	o.Headers = &config.Headers{Set: []config.Header{{Name: "X-Frame-Options", Value: "DENY"}}}
	base := startGateway(t, node)
	addr := strings.TrimPrefix(base, "http://")
	var held []net.Conn
	var readers []*bufio.Reader
	get := func(c net.Conn, br *bufio.Reader) (int, error) {
		if _, err := io.WriteString(c, "GET /env HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		if s, err := get(c, br); err != nil || s != 200 {
			t.Fatalf("connection within the limit: %d, %v", s, err)
		}
		held, readers = append(held, c), append(readers, br)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	// The refusal is written as soon as the connection is accepted, before its request is read:
	// read it first (a request sent to a connection closed unread may reset it).
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("connection past the limit: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(b) != "<h1>busy</h1>" || resp.Header.Get("X-Frame-Options") != "DENY" ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !resp.Close {
		t.Fatalf("connection past the limit: %d %q %v; want 503 with the page and the headers, closing", resp.StatusCode, b, resp.Header)
	}
	for i, c := range held {
		if s, err := get(c, readers[i]); err != nil || s != 200 {
			t.Fatalf("held connection %d after the refusal: %d, %v", i, s, err)
		}
	}
}

// TestMaxConnectionsReason: without an error page for 503, the refusal past max_connections
// names its cause, as the other 503s do.
func TestMaxConnectionsReason(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	node := testNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)})
	node.Workers[0].Transports[0].Options.MaxConnections = 1
	base := startGateway(t, node)
	addr := strings.TrimPrefix(base, "http://")
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_ = held.SetDeadline(time.Now().Add(20 * time.Second))
	// A request answered on the held connection: it is counted from then on.
	if _, err := io.WriteString(held, "GET /env HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("connection within the limit: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatalf("connection past the limit: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(b), "max_connections") || !resp.Close {
		t.Fatalf("connection past the limit: %d %q; want 503 naming max_connections, closing", resp.StatusCode, b)
	}
}
