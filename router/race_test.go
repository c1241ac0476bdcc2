//go:build race

package router

// raceEnabled: the race detector allocates on its own, so allocation budgets are checked in
// runs without it (make test-allocs).
const raceEnabled = true
