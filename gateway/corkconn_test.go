package gateway

import (
	"bytes"
	"net"
	"testing"
)

// writesConn records each Write it is given.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// Corked writes reach the connection as one write, in order; uncorked ones one by one.
func TestCorkConnOneWrite(t *testing.T) {
	w := &writesConn{}
	c := &corkConn{Conn: w}
	c.cork()
	for _, s := range []string{"a", "bb", "ccc"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("corked Write(%q) = %d, %v", s, n, err)
		}
	}
	if len(w.writes) != 0 {
		t.Fatalf("corked writes reached the connection: %q", w.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || !bytes.Equal(w.writes[0], []byte("abbccc")) {
		t.Fatalf("after uncork the connection got %q, want one write \"abbccc\"", w.writes)
	}
	_, _ = c.Write([]byte("d"))
	if err := c.uncork(); err != nil { // nothing held: no write
		t.Fatal(err)
	}
	if len(w.writes) != 2 || string(w.writes[1]) != "d" {
		t.Fatalf("uncorked write: the connection got %q", w.writes)
	}
}
