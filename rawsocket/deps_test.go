package rawsocket

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package to the standard library: it is the wire format only,
// so that any transport (the gateway's listeners, a test client) can use it.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "portico/rawsocket" {
			t.Errorf("rawsocket depends on %s", pkg)
		}
	}
}
