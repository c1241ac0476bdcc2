package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
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

// TestFreePortReserved: a port FreePort gave is outside the kernel's ephemeral range and is
// not given again while the test that has it runs; its cleanup frees it.
func TestFreePortReserved(t *testing.T) {
	low, high := portRange()
	held := map[int]bool{}
	t.Run("hold", func(t *testing.T) {
		for range 300 {
			p := FreePort(t)
			if p < low || p >= high {
				t.Fatalf("port %d outside [%d, %d)", p, low, high)
			}
			if held[p] {
				t.Fatalf("port %d given twice while held", p)
			}
			held[p] = true
		}
	})
	// The subtest's cleanup released them: each can be reserved again.
	for p := range held {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "portico-test-ports", strconv.Itoa(p)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err != nil {
			t.Fatalf("port %d still locked after its test ended: %v", p, err)
		}
	}
}
