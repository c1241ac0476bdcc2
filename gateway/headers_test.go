package gateway

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

// TestResponseHeaders: the transport's and a path's `headers` act on the app's responses
// (remove, set over the app's value, add) and on Portico's own 404 and 502, and a path
// without its own headers gets the transport's.
func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	app := wsgiUpstream(sock)
	app.Headers = &config.Headers{
		Set: []config.Header{{Name: "X-Content-Type-Options", Value: "nosniff"}, {Name: "X-Frame-Options", Value: "SAMEORIGIN"}},
		Add: []config.Header{{Name: "X-Extra", Value: "path"}},
	}
	dead := wsgiUpstream(filepath.Join(t.TempDir(), "nobody.sock"))
	node := testNode(t, map[string]*config.Service{"app": app, "plain": wsgiUpstream(sock), "dead": dead})
	node.Workers[0].Transports[0].Options.Headers = &config.Headers{
		Remove: []string{"Server", "X-Powered-By"},
		Set:    []config.Header{{Name: "X-Frame-Options", Value: "DENY"}, {Name: "Referrer-Policy", Value: "no-referrer"}},
		Add:    []config.Header{{Name: "X-Extra", Value: "transport"}},
	}
	base := startGateway(t, node)

	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	check := func(resp *http.Response, name string, want ...string) {
		t.Helper()
		got := resp.Header.Values(name)
		if len(got) != len(want) {
			t.Errorf("%s %s: %s = %q, want %q", resp.Request.URL.Path, resp.Status, name, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s %s: %s = %q, want %q", resp.Request.URL.Path, resp.Status, name, got, want)
			}
		}
	}

	r := get("/plain/hdrs")
	check(r, "Server")
	check(r, "X-Powered-By")
	check(r, "X-Frame-Options", "DENY")
	check(r, "Referrer-Policy", "no-referrer")
	check(r, "X-Extra", "transport")
	check(r, "X-App", "1")

	r = get("/app/hdrs")
	check(r, "Server")
	check(r, "X-Frame-Options", "SAMEORIGIN") // the path's set replaces the transport's
	check(r, "X-Content-Type-Options", "nosniff")
	check(r, "Referrer-Policy", "no-referrer")
	check(r, "X-Extra", "transport", "path")

	for _, path := range []string{"/nowhere", "/dead/x"} {
		r = get(path)
		if r.StatusCode != 404 && r.StatusCode != 502 {
			t.Fatalf("%s: status %d", path, r.StatusCode)
		}
		check(r, "Server")
		check(r, "X-Frame-Options", "DENY")
		check(r, "X-Extra", "transport")
	}
}

// TestServerHeaderDefault: without `headers`, Portico's responses say Server: Portico and an
// app's own Server header is passed on.
func TestServerHeaderDefault(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	base := startGateway(t, testNode(t, map[string]*config.Service{"app": wsgiUpstream(sock)}))
	for path, want := range map[string]string{"/app/hdrs": "gunicorn", "/app/env": "Portico", "/nowhere": "Portico"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Server"); got != want {
			t.Errorf("%s: Server %q, want %q", path, got, want)
		}
	}
}

// TestProxyAllocsWithHeaders: `headers` on a proxied path cost no allocation: the budget of a
// proxied request stays TestProxyAllocs's.
func TestProxyAllocsWithHeaders(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, fixedUpstreamProcess(t))
	s.table.Load().headers = newHeaderRules(&config.Headers{
		Remove: []string{"Server", "X-Powered-By"},
		Set:    []config.Header{{Name: "X-Frame-Options", Value: "DENY"}, {Name: "Content-Security-Policy", Value: "default-src 'self'"}},
		Add:    []config.Header{{Name: "X-Edge", Value: "1"}},
	})
	one := proxyOnce(t, s, func(ctx *fasthttp.RequestCtx) {
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek("X-Frame-Options")) != "DENY" || len(ctx.Response.Header.Peek("Server")) != 0 {
			t.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Header.String())
		}
	})
	testkit.Budget(t, "proxied request with headers", upstreamAllocs, 200, one)
}
