package router

import (
	"errors"
	"testing"

	"portico/router/wamp"
)

func TestPipe(t *testing.T) {
	a, b := Pipe(wamp.JSON, 4)
	if a.Codec() != wamp.JSON || b.Codec() != wamp.JSON {
		t.Fatal("codec not carried")
	}
	buf := []byte("one")
	if err := a.WriteMessage(buf); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X' // the pipe copied: the writer may reuse its buffer
	if err := a.WriteMessage([]byte("two")); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	// What was written before Close is still read, in order; then the end.
	for _, want := range []string{"one", "two"} {
		got, err := b.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := b.ReadMessage(); !errors.Is(err, ErrPipeClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := b.WriteMessage([]byte("x")); !errors.Is(err, ErrPipeClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
