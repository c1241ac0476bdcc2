package testkit

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	if err := Poll(time.Minute, func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n.Load() != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, n.Load())
	}
	err := Poll(20*time.Millisecond, func() error { return errors.New("never") })
	if err == nil || err.Error() != "after 20ms: never" {
		t.Fatalf("Poll that never holds = %v", err)
	}
}

func TestAllocs(t *testing.T) {
	var sink []byte
	if n := Allocs(100, func() { sink = make([]byte, 1<<10) }); n != 1 {
		t.Fatalf("one make per call counted as %v", n)
	}
	if n := Allocs(100, func() { sink = sink[:0] }); n != 0 {
		t.Fatalf("nothing allocated counted as %v", n)
	}
}
