package gateway

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portico/config"
)

// TestErrorPages: Portico's own 404 and 502 are answered with the transport's error_pages with
// their status; a wsgi path with intercept_errors answers an upstream error that has a page
// with the page, passes one without a page on, and a path without intercept_errors passes the
// app's error on.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	intercepting := wsgiUpstream(sock)
	intercepting.WSGI.InterceptErrors = true
	dead := wsgiUpstream(filepath.Join(t.TempDir(), "nobody.sock"))
	capped := wsgiUpstream(sock)
	capped.WSGI.MaxBodySize = 10
	node := testNode(t, map[string]*config.Service{"app": wsgiUpstream(sock), "icpt": intercepting, "dead": dead, "capped": capped})
	pages := map[int]string{}
	for status, body := range map[int]string{404: "<h1>not here</h1>", 502: "<h1>down</h1>", 500: "{\"error\": 500}", 431: "too big", 413: "<p>smaller, please</p>"} {
		name := filepath.Join(node.Dir, map[int]string{404: "404.html", 502: "502.html", 500: "500.json", 431: "431.txt", 413: "413.html"}[status])
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		pages[status] = name
	}
	node.Workers[0].Transports[0].Options.ErrorPages = pages
	node.Workers[0].Transports[0].Options.Headers = &config.Headers{Set: []config.Header{{Name: "X-Frame-Options", Value: "DENY"}}}
	base := startGateway(t, node)

	for _, tt := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/nowhere", "text/html; charset=utf-8", "<h1>not here</h1>", 404},
		{"/dead/x", "text/html; charset=utf-8", "<h1>down</h1>", 502},
		{"/icpt/status?code=500", "application/json", "{\"error\": 500}", 500},
		{"/icpt/status?code=418", "text/plain", "status\n", 418},
		{"/app/status?code=500", "text/plain", "status\n", 500},
		{"/icpt/env", "application/json", "", 200},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.ctype || (tt.body != "" && string(b) != tt.body) {
			t.Errorf("%s: %d %q %q, want %d %q %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.status, tt.ctype, tt.body)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: the transport's headers are missing", tt.path)
		}
		if tt.status == 500 && strings.HasPrefix(tt.path, "/icpt") && resp.Header.Get("X-Multi") != "" {
			t.Errorf("%s: the app's headers came with the intercepted page", tt.path)
		}
	}

	// A head over max_header_size is refused by the HTTP parser, before any path: the page and
	// the headers still apply.
	resp := rawRequest(t, base, "GET /app/env HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("b", 20<<10)+"\r\n\r\n")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 431 || string(b) != "too big" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("oversized head: %d %q %q, want 431 with the page and the headers", resp.StatusCode, b, resp.Header)
	}

	// A body announced too large with Expect: 100-continue is refused before it is sent, by
	// the hook fasthttp runs instead of the handler: the page and the headers still apply.
	resp = rawRequest(t, base, "POST /capped/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(b) != "<p>smaller, please</p>" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Expect: 100-continue over max_body_size: %d %q %q, want 413 with the page and the headers", resp.StatusCode, b, resp.Header)
	}
}

// TestErrorPagesReload: error pages are read when the configuration is (re)loaded, not per
// request: a changed file is served after a reload, and a file that grew past the bound fails
// the reload, leaving the running pages in place.
func TestErrorPagesReload(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"x": {Type: "json", JSON: &config.JSON{Value: 1}}})
	page := filepath.Join(node.Dir, "404.html")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(page, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var base string
	get := func() string {
		t.Helper()
		resp, err := http.Get(base + "/nowhere")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return string(b)
	}
	write("first")
	node.Workers[0].Transports[0].Options.ErrorPages = map[int]string{404: page}
	g, b := startGatewayG(t, node)
	base = b
	if got := get(); got != "first" {
		t.Fatalf("page %q, want first", got)
	}
	write("second")
	if got := get(); got != "first" {
		t.Fatalf("page %q before the reload, want the one read at start", got)
	}
	if err := g.Reload(node); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "second" {
		t.Fatalf("page %q after the reload, want second", got)
	}
	write(strings.Repeat("x", config.MaxErrorPage+1))
	if err := g.Reload(node); err == nil || !strings.Contains(err.Error(), "error_pages.404") {
		t.Fatalf("reload with an oversized page: %v, want an error naming error_pages.404", err)
	}
	if got := get(); got != "second" {
		t.Fatalf("page %q after the failed reload, want second", got)
	}
}
