package router

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portico/internal/testkit"
)

// TestWriterPoolRunsEachOnce: every function handed to the pool runs once, whether a parked
// worker or a new goroutine takes it, also while workers park and time out concurrently.
func TestWriterPoolRunsEachOnce(t *testing.T) {
	p := &writerPool{idleFor: time.Millisecond}
	defer p.close()
	const n = 20000
	var ran atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		p.run(func() { ran.Add(1); wg.Done() })
		if i%1000 == 0 {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if got := ran.Load(); got != n {
		t.Fatalf("ran %d functions, want %d", got, n)
	}
}

// TestWriterPoolReuseAllocs: a function handed over after another finished runs on the
// worker that parked (no new goroutine, whose start would allocate), and handing it over
// allocates nothing.
func TestWriterPoolReuseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := &writerPool{}
	defer p.close()
	done := make(chan struct{}, 1)
	f := func() { done <- struct{}{} }
	p.run(f)
	<-done
	testkit.CheckFor(t, 10*time.Second, func() error { return p.wantIdle(1) })
	allocs := testing.AllocsPerRun(100, func() {
		p.run(f)
		<-done
		// The worker parks again after f returns; wait for it so the next run finds it.
		for deadline := time.Now().Add(10 * time.Second); p.idleCount() != 1; {
			if time.Now().After(deadline) {
				panic("the worker did not park again")
			}
			runtime.Gosched()
		}
	})
	if allocs != 0 {
		t.Errorf("run on a parked worker allocates %.1f objects, want 0", allocs)
	}
}

// TestWriterPoolIdleWorkersEnd: a parked worker ends after the idle time, and close ends the
// parked ones at once (goleak in TestMain checks that none is left).
func TestWriterPoolIdleWorkersEnd(t *testing.T) {
	p := &writerPool{idleFor: 20 * time.Millisecond}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		p.run(wg.Done)
	}
	wg.Wait()
	testkit.CheckFor(t, 10*time.Second, func() error { return p.wantIdle(0) })

	q := &writerPool{}
	release := make(chan struct{})
	for range 3 {
		wg.Add(1)
		q.run(func() { <-release; wg.Done() }) // three at once: three workers
	}
	close(release)
	wg.Wait()
	testkit.CheckFor(t, 10*time.Second, func() error { return q.wantIdle(3) })
	q.close()
	if n := q.idleCount(); n != 0 {
		t.Fatalf("%d workers parked after close", n)
	}
	ran := make(chan struct{})
	q.run(func() { close(ran) }) // still runs after close, on a goroutine that then ends
	<-ran
}

// TestWriterPoolBound: no more than maxIdleWriters park.
func TestWriterPoolBound(t *testing.T) {
	p := &writerPool{}
	defer p.close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range maxIdleWriters + 50 {
		wg.Add(1)
		p.run(func() { <-release; wg.Done() })
	}
	close(release)
	wg.Wait()
	testkit.CheckFor(t, 10*time.Second, func() error { return p.wantIdle(maxIdleWriters) })
}

func (p *writerPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func (p *writerPool) wantIdle(n int) error {
	if got := p.idleCount(); got != n {
		return fmt.Errorf("%d workers parked, want %d", got, n)
	}
	return nil
}
