package gateway

import (
	"errors"
	"sync"
	"testing"
	"time"

	"portico/internal/testkit"
)

func TestUpstreamQueueFIFO(t *testing.T) {
	t.Parallel()
	u := &upstream{label: "test", max: 1}
	if err := u.acquire(far); err != nil {
		t.Fatal(err)
	}
	const n = 5
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.acquire(far); err != nil {
				t.Error(err)
				return
			}
			order <- i
			u.release()
		}()
		// Wait until the goroutine is queued so that arrival order is known.
		testkit.WaitFor(t, 0, "the waiter is queued", func() bool { return u.load() == 2+i })
	}
	u.release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("slot handed to waiter %d, want %d (FIFO)", got, want)
		}
		want++
	}
	if u.load() != 0 {
		t.Fatalf("load after all released = %d", u.load())
	}
}

func TestUpstreamQueueTimeout(t *testing.T) {
	t.Parallel()
	u := &upstream{label: "test", max: 1}
	if err := u.acquire(far); err != nil {
		t.Fatal(err)
	}
	if err := u.acquire(time.Now().Add(20 * time.Millisecond)); !errors.Is(err, errQueueTimeout) {
		t.Fatalf("acquire on a full upstream = %v, want errQueueTimeout", err)
	}
	if statusOf(errQueueTimeout) != 503 {
		t.Fatalf("queue timeout maps to %d", statusOf(errQueueTimeout))
	}
	u.release()
	if u.load() != 0 {
		t.Fatalf("timed-out waiter leaked a slot: load %d", u.load())
	}
}

func TestMaxFails(t *testing.T) {
	t.Parallel()
	a := &upstream{label: "a", max: 1, maxFails: 2, failTimeout: time.Minute}
	b := &upstream{label: "b", max: 1, maxFails: 2, failTimeout: time.Minute}
	bal := &balancer{ups: []*upstream{a, b}}
	now := time.Now()
	a.failed(now)
	if !a.available(now) {
		t.Fatal("down after 1 of 2 failures")
	}
	a.failed(now)
	for range 4 {
		if i := bal.pick(0); i != 1 {
			t.Fatalf("picked %d while a is down", i)
		}
	}
	// Only a left untried and down: used anyway rather than refusing.
	if i := bal.pick(1 << 1); i != 0 {
		t.Fatalf("fallback pick = %d, want 0", i)
	}
	if i := bal.pick(1<<0 | 1<<1); i != -1 {
		t.Fatalf("pick with all tried = %d", i)
	}
}

func TestLeastConn(t *testing.T) {
	t.Parallel()
	a := &upstream{label: "a", max: 10}
	b := &upstream{label: "b", max: 10}
	bal := &balancer{ups: []*upstream{a, b}, leastConn: true}
	_ = a.acquire(far)
	_ = a.acquire(far)
	_ = b.acquire(far)
	for range 3 {
		if i := bal.pick(0); i != 1 {
			t.Fatalf("least_conn picked %d", i)
		}
	}
}

var far = time.Now().Add(time.Hour)
