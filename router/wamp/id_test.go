package wamp

import (
	"sync"
	"testing"
)

func TestNewGlobalID(t *testing.T) {
	seen := map[ID]bool{}
	var high bool
	for range 10000 {
		id := NewGlobalID()
		if id < 1 || id > MaxID {
			t.Fatalf("NewGlobalID() = %d, out of [1, 2^53]", id)
		}
		if seen[id] {
			t.Fatalf("NewGlobalID() repeated %d within 10000 draws", id)
		}
		seen[id] = true
		high = high || id > MaxID/2
	}
	if !high {
		t.Error("no ID in the upper half of the range in 10000 draws: not uniform over [1, 2^53]")
	}
}

func TestIDGen(t *testing.T) {
	var g IDGen
	for want := ID(1); want <= 3; want++ {
		if got := g.Next(); got != want {
			t.Fatalf("Next() = %d, want %d", got, want)
		}
	}
	g.last.Store(MaxID - 1)
	if got := g.Next(); got != MaxID {
		t.Fatalf("Next() = %d, want 2^53", got)
	}
	if got := g.Next(); got != 1 {
		t.Fatalf("Next() after 2^53 = %d, want 1", got)
	}

	// Concurrent callers get distinct IDs.
	var g2 IDGen
	const workers, each = 8, 1000
	res := make([][]ID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				res[w] = append(res[w], g2.Next())
			}
		})
	}
	wg.Wait()
	seen := map[ID]bool{}
	for _, r := range res {
		for _, id := range r {
			if seen[id] {
				t.Fatalf("ID %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each || !seen[1] || !seen[workers*each] {
		t.Fatalf("got %d distinct IDs, want 1..%d", len(seen), workers*each)
	}
}
