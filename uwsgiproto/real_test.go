package uwsgiproto_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
	"portico/uwsgiproto"
)

const realApp = `
def application(environ, start_response):
    p = environ.get('PATH_INFO')
    if p == '/cl':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])
        return [b'hello']
    if p == '/gen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        def g():
            yield b'a'
            yield b'b'
        return g()
    if p == '/big':
        body = b'x' * (1 << 20)
        start_response('200 OK', [('Content-Length', str(len(body)))])
        return [body]
    if p == '/crlf':
        start_response('200 OK', [('X-Bad', 'a\r\nInjected: 1')])
        return [b'x']
    if p == '/lf':
        start_response('200 OK', [('X-Bad', 'a\nInjected: 1')])
        return [b'x']
    if p == '/bare':
        start_response('299', [])
        return [b'']
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'nf']
`

// startRealUWSGI runs Debian's uwsgi (uwsgi-core + uwsgi-plugin-python3, installed by
// `make test`) the way the package notes describe. Its absence is a failure, not a skip.
func startRealUWSGI(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("uwsgi")
	if err != nil {
		t.Fatalf("uwsgi not found (Debian packages uwsgi-core and uwsgi-plugin-python3): %v", err)
	}
	dir, err := os.MkdirTemp("", "uwr") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(realApp), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "x.sock")
	var out bytes.Buffer
	cmd := exec.Command(bin, "--plugin", "python3", "--socket", sock, "--wsgi-file", "app.py",
		"--master", "--processes", "2", "--need-app", "--die-on-term")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	// out is written by cmd's copying goroutine until uwsgi has exited: it is read only then.
	err = testkit.Poll(0, func() error {
		select {
		case <-done:
			return errors.New("uwsgi exited early")
		default:
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return fmt.Errorf("uwsgi socket %s not ready: %v", sock, err)
		}
		c.Close()
		return nil
	})
	if err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%v\n%s", err, out.String())
	}
	return sock
}

type exchange struct {
	conn net.Conn
	br   *bufio.Reader
}

func send(t *testing.T, sock, path, proto string) *exchange {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var e uwsgiproto.Encoder
	e.Reset(0, 0)
	e.Add("REQUEST_METHOD", "GET")
	e.Add("PATH_INFO", path)
	e.Add("REQUEST_URI", path)
	e.Add("SERVER_NAME", "localhost")
	e.Add("SERVER_PORT", "80")
	e.Add("HTTP_CONNECTION", "keep-alive")
	if proto != "" {
		e.Add("SERVER_PROTOCOL", proto)
	}
	p, err := e.Packet()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	return &exchange{c, bufio.NewReader(c)}
}

// TestRealUWSGI pins what the package notes say about Debian's uWSGI: the exact bytes of
// the response head, no chunking, and a closed connection after every response.
func TestRealUWSGI(t *testing.T) {
	sock := startRealUWSGI(t)
	tests := []struct {
		path, proto string
		head        string // exact head bytes
		body        string
	}{
		{"/cl", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n", "hello"},
		{"/gen", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "ab"},
		{"/missing", "", "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", "nf"},
		{"/bare", "HTTP/1.0", "HTTP/1.0 299 Unknown\r\n\r\n", ""},
		{"/crlf", "HTTP/1.1", "HTTP/1.1 200 OK\r\nX-Bad: a\r\nInjected: 1\r\n\r\n", "x"},
		{"/big", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n", strings.Repeat("x", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			x := send(t, sock, tt.path, tt.proto)
			raw, err := io.ReadAll(x.br) // returns only because uwsgi closes the connection
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte(tt.head)) || string(raw[len(tt.head):]) != tt.body {
				t.Fatalf("response %q, want head %q and %d body bytes", raw[:min(len(raw), 200)], tt.head, len(tt.body))
			}
			var h uwsgiproto.ResponseHead
			if err := uwsgiproto.ReadResponseHead(bufio.NewReader(bytes.NewReader(raw)), 0, &h); err != nil {
				t.Fatalf("ReadResponseHead refused real uwsgi's head: %v", err)
			}
			if h.Chunked {
				t.Fatal("uwsgi chunked a response")
			}
		})
	}

	t.Run("bare LF from the app is refused", func(t *testing.T) {
		x := send(t, sock, "/lf", "HTTP/1.1")
		var h uwsgiproto.ResponseHead
		err := uwsgiproto.ReadResponseHead(x.br, 0, &h)
		if !errors.Is(err, uwsgiproto.ErrBadResponse) || !strings.Contains(err.Error(), "bare LF") {
			t.Fatalf("err = %v, want a bare LF ErrBadResponse", err)
		}
	})

	t.Run("no keepalive even with HTTP/1.1 and Content-Length", func(t *testing.T) {
		x := send(t, sock, "/cl", "HTTP/1.1")
		var h uwsgiproto.ResponseHead
		if err := uwsgiproto.ReadResponseHead(x.br, 0, &h); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.ContentLength)
		if _, err := io.ReadFull(x.br, body); err != nil {
			t.Fatal(err)
		}
		// A second request on the same connection is never answered: uwsgi has closed it.
		var e uwsgiproto.Encoder
		e.Reset(0, 0)
		e.Add("PATH_INFO", "/cl")
		p, _ := e.Packet()
		x.conn.Write(p) // may fail with EPIPE; either way no answer comes
		n, err := x.br.Read(make([]byte, 1))
		if n != 0 || err == nil {
			t.Fatalf("read after the response: n=%d err=%v, want EOF or reset", n, err)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("connection kept open after the response")
		}
	})
}
