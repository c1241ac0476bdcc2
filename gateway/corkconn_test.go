package gateway

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
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
	if err := c.uncork(nil); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 || !bytes.Equal(w.writes[0], []byte("abbccc")) {
		t.Fatalf("after uncork the connection got %q, want one write \"abbccc\"", w.writes)
	}
	_, _ = c.Write([]byte("d"))
	if err := c.uncork(nil); err != nil { // nothing held: no write
		t.Fatal(err)
	}
	if len(w.writes) != 2 || string(w.writes[1]) != "d" {
		t.Fatalf("uncorked write: the connection got %q", w.writes)
	}
}

// corkDeadlineConn records the write deadlines it is given.
type corkDeadlineConn struct {
	writesConn
	deadlines []time.Time
}

func (c *corkDeadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

// While corked, write deadlines are noted and the last one applied once at uncork; a
// connection cut meanwhile gets neither the held frames nor a deadline that would undo the cut
// before them.
func TestCorkConnDeadlinesAndCut(t *testing.T) {
	d := &corkDeadlineConn{}
	c := &corkConn{Conn: d}
	c.cork()
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	_ = c.SetWriteDeadline(t1)
	_, _ = c.Write([]byte("x"))
	_ = c.SetWriteDeadline(t2)
	_, _ = c.Write([]byte("y"))
	if len(d.deadlines) != 0 {
		t.Fatalf("corked deadlines reached the connection: %v", d.deadlines)
	}
	if err := c.uncork(func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	if len(d.deadlines) != 1 || !d.deadlines[0].Equal(t2) || len(d.writes) != 1 {
		t.Fatalf("after uncork: deadlines %v, writes %q; want [%v] and one write", d.deadlines, d.writes, t2)
	}
	c.cork()
	_, _ = c.Write([]byte("z"))
	if err := c.uncork(func() bool { return true }); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("uncork after a cut: %v, want net.ErrClosed", err)
	}
	if len(d.writes) != 1 {
		t.Fatalf("a cut connection was written to: %q", d.writes)
	}
}
