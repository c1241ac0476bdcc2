// Package uwsgitest runs a tiny uwsgi-protocol server on a real unix socket for Go unit tests,
// as net/http/httptest does for HTTP. Like uWSGI it serves one request per connection and
// closes it after the response (see package uwsgiproto's notes on Debian's uWSGI). Use it
// only where running real uWSGI is impractical.
package uwsgitest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"portico/uwsgiproto"
)

// Request is one decoded uwsgi request.
type Request struct {
	Modifier1, Modifier2 uint8
	Vars                 map[string]string
	Keys                 []string  // variable names in the order sent (duplicates repeated)
	Body                 io.Reader // CONTENT_LENGTH bytes of request body (empty without it)
	Conn                 net.Conn  // the raw connection, for tests that misbehave on purpose
}

// Handler writes the raw HTTP response (status line, headers, body) to w.
type Handler func(w io.Writer, r *Request)

// Server is a running test server.
type Server struct {
	Path     string // the unix socket
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	requests atomic.Int64
	tb       testing.TB
}

// Serve starts a server for h on a fresh unix socket; it is closed when the test ends. The
// socket lives in a short os.MkdirTemp directory rather than t.TempDir because sun_path is
// limited to 108 bytes and test names make TempDir paths long.
func Serve(tb testing.TB, h Handler) *Server {
	tb.Helper()
	dir, err := os.MkdirTemp("", "uwt")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("uwsgitest: listen on %s: %v", path, err)
	}
	s := &Server{Path: path, ln: ln, conns: map[net.Conn]struct{}{}, tb: tb}
	s.wg.Add(1)
	go s.accept(h)
	tb.Cleanup(func() {
		s.Close()
		os.RemoveAll(dir)
	})
	return s
}

// Upstream is the address in Portico's config form: "unix:/path/s.sock".
func (s *Server) Upstream() string { return "unix:" + s.Path }

// Requests is the number of requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops accepting, closes live connections and waits for handlers to return.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept(h Handler) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c, h)
		}()
	}
}

func (s *Server) serve(c net.Conn, h Handler) {
	br := bufio.NewReader(c)
	m1, m2, vars, err := uwsgiproto.ReadPacket(br, nil)
	if err != nil {
		return
	}
	r := &Request{Modifier1: m1, Modifier2: m2, Vars: map[string]string{}, Conn: c}
	if err := uwsgiproto.DecodeVars(vars, func(k, v []byte) error {
		r.Vars[string(k)] = string(v)
		r.Keys = append(r.Keys, string(k))
		return nil
	}); err != nil {
		s.tb.Logf("uwsgitest: %v", err)
		return
	}
	n, _ := strconv.ParseInt(r.Vars["CONTENT_LENGTH"], 10, 64)
	r.Body = io.LimitReader(br, n)
	s.requests.Add(1)
	bw := bufio.NewWriter(c)
	h(bw, r)
	bw.Flush()
}

// Respond writes a complete response with a Content-Length; headers are "Name", "value"
// pairs.
func Respond(w io.Writer, status string, body string, headers ...string) {
	fmt.Fprintf(w, "HTTP/1.1 %s\r\n", status)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(w, "%s: %s\r\n", headers[i], headers[i+1])
	}
	fmt.Fprintf(w, "Content-Length: %d\r\n\r\n%s", len(body), body)
}
