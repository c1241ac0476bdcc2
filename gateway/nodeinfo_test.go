package gateway

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"portico/config"
)

// TestNodeinfo: Crossbar's `nodeinfo` page names the node, the process and the client's own
// address, answers GET and HEAD only, and is never cached.
func TestNodeinfo(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"info": {Type: "nodeinfo"}})
	node.Controller.ID = "node-<1>"
	base := startGateway(t, node)

	resp, err := http.Get(base + "/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{`<td id="node">node-&lt;1&gt;</td>`, `<td id="pid">` + strconv.Itoa(os.Getpid()) + `</td>`,
		`<td id="workers">1</td>`, `<td id="peer">127.0.0.1:`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	resp, err = http.Post(base+"/info", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
