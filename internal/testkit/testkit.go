// Package testkit holds the waiting and counting helpers every test package shares, so that a
// test on a busy machine waits for a condition rather than for a guess of how long it takes,
// and an allocation budget counts the code under test rather than whatever else ran meanwhile.
//
// It is imported by tests only.
package testkit

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Patience is the default bound of a wait: long enough for a loaded shared machine, since the
// assertion is on what happens, not on how fast. PORTICO_TEST_PATIENCE (a Go duration)
// overrides it.
var Patience = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PORTICO_TEST_PATIENCE")); err == nil && d > 0 {
		return d
	}
	return 60 * time.Second
}()

// pollEvery is how often a condition is looked at again.
const pollEvery = 5 * time.Millisecond

// Poll calls check until it returns nil or within has passed (0: Patience), and returns
// check's last error, wrapped with the time waited, if it never did. It never sleeps past the
// deadline by more than one poll interval.
func Poll(within time.Duration, check func() error) error {
	if within <= 0 {
		within = Patience
	}
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", within, err)
		}
		time.Sleep(pollEvery)
	}
}

// CheckFor fails the test when check has not returned nil within the given time (0:
// Patience), as nats-server's checkFor does; the failure names check's last error.
func CheckFor(tb testing.TB, within time.Duration, check func() error) {
	tb.Helper()
	if err := Poll(within, check); err != nil {
		tb.Fatal(err)
	}
}

// WaitFor fails the test with "what" when cond has not held within the given time (0:
// Patience).
func WaitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	CheckFor(tb, within, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("still waiting: %s", what)
	})
}

// Allocs is the allocations per call of f, the fewest seen over three counts of
// testing.AllocsPerRun. The counters AllocsPerRun reads are the whole process's: a goroutine
// the scheduler runs meanwhile (a client reading its socket, a timer) adds to them, never
// takes away, so the smallest of several counts is the one nearest to f's own. Code that
// really allocates does so in every count.
func Allocs(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for range 2 {
		if least == 0 {
			break
		}
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}

// Budget fails the test when f allocates more than budget times per call (see Allocs).
func Budget(tb testing.TB, what string, budget int, runs int, f func()) float64 {
	tb.Helper()
	n := Allocs(runs, f)
	if n > float64(budget) {
		tb.Errorf("%s: %v allocations per call, budget %d", what, n, budget)
	}
	return n
}

// Load runs one request function from several goroutines until Stop, counting what they
// return: nil is served, an error failed. A test moves on when the load has really done
// something (Served), not when a guessed time has passed, so a slow machine only makes it
// slower.
type Load struct {
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64

	mu    sync.Mutex
	first error // the first failure, for the report
}

// StartLoad starts workers goroutines calling request in a loop. Stop ends them; it is also
// registered as the test's cleanup.
func StartLoad(tb testing.TB, workers int, request func() error) *Load {
	l := &Load{stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := request(); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.first == nil {
						l.first = err
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		})
	}
	tb.Cleanup(l.Stop)
	return l
}

// Served waits until n more requests than now have been served.
func (l *Load) Served(tb testing.TB, n int64, what string) {
	tb.Helper()
	target := l.ok.Load() + n
	WaitFor(tb, 0, what, func() bool { return l.ok.Load() >= target })
}

// Stop ends the load and waits for the requests in flight.
func (l *Load) Stop() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Counts returns how many requests were served and how many failed, and the first failure.
func (l *Load) Counts() (ok, failed int64, first error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.first
}

// WaitDial waits until addr accepts a connection; the failure shows logs(), the output of
// whatever should be listening there.
func WaitDial(tb testing.TB, network, addr string, logs func() string) {
	tb.Helper()
	if err := Poll(0, func() error {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		tb.Fatalf("%s %s not accepting: %v\n%s", network, addr, err, logs())
	}
}
