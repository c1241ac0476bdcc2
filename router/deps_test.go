package router

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the router free of HTTP and WebSocket packages (tailscale's
// tstest/deptest): a session runs over the Transport interface, so that WebSocket, RawSocket
// and in-process peers share one router. Only gateway/ may import fasthttp and websocket.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "fasthttp") || strings.Contains(pkg, "websocket") ||
			pkg == "portico/gateway" || strings.HasPrefix(pkg, "portico/gateway/") {
			t.Errorf("the router depends on %s", pkg)
		}
	}
}
