package uwsgitest

import (
	"bufio"
	"io"
	"net"
	"testing"

	"portico/uwsgiproto"
)

func TestServe(t *testing.T) {
	s := Serve(t, func(w io.Writer, r *Request) {
		body, _ := io.ReadAll(r.Body)
		Respond(w, "200 OK", r.Vars["PATH_INFO"]+":"+string(body), "X-Order", r.Keys[0])
	})
	c, err := net.Dial("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var e uwsgiproto.Encoder
	e.Reset(0, 0)
	e.Add("PATH_INFO", "/p")
	e.Add("CONTENT_LENGTH", "3")
	p, _ := e.Packet()
	c.Write(append(p, "abc"...))
	br := bufio.NewReader(c)
	var h uwsgiproto.ResponseHead
	if err := uwsgiproto.ReadResponseHead(br, 0, &h); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(br) // ends at close, as with uWSGI
	if h.StatusCode != 200 || string(body) != "/p:abc" || string(h.Headers[0].Value) != "PATH_INFO" {
		t.Fatalf("got %d %q %q", h.StatusCode, body, h.Headers)
	}
	if s.Requests() != 1 || s.Upstream() != "unix:"+s.Path {
		t.Fatal("bookkeeping")
	}
}
