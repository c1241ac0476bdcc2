package launch

import (
	"testing"

	"go.uber.org/goleak"
)

// Every supervisor goroutine (exec/wait, output pump, notify reader, restart loop) ends
// with Stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
