//go:build race

package gateway

// raceEnabled: the race detector allocates on its own, so allocation budgets are checked in
// runs without it (make test runs the budget tests a second time without -race).
const raceEnabled = true
