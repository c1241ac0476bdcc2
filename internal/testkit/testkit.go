// Package testkit holds the waiting and counting helpers every test package shares, so that a
// test on a busy machine waits for a condition rather than for a guess of how long it takes,
// and an allocation budget counts the code under test rather than whatever else ran meanwhile.
//
// It is imported by tests only.
package testkit

import (
	"fmt"
	"os"
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
