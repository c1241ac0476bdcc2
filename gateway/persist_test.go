package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
)

// persistService launches testdata/persistapp.py (Flask) with the persistent socket, one
// process of two threads. uWSGI's socket timeout is raised to 120 s, so that a worker parked
// on a kept connection would starve a plain-socket request for that long, not for 4 s.
func persistService(t *testing.T, persistent bool) *config.Service {
	svc := launchedService(t)
	w := svc.WSGI
	w.Module, w.Object = "persistapp", "application"
	w.Processes, w.Threads, w.MaxConcurrency = 1, 2, 2
	w.Persistent = persistent
	w.UWSGIArgs = []string{"--socket-timeout", "120"}
	return svc
}

func fetch(t *testing.T, method, url string, hdr map[string]string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// connOf asks /conn which uwsgi connection served it ("inode pid").
func connOf(t *testing.T, base string) (conn, pid string) {
	t.Helper()
	code, _, body := fetch(t, "GET", base+"/conn", nil, nil)
	if code != 200 {
		t.Fatalf("GET /conn: %d %s", code, body)
	}
	c, p, ok := strings.Cut(body, " ")
	if !ok {
		t.Fatalf("GET /conn: %q", body)
	}
	return c, p
}

// countConns makes n requests one after another and counts the uwsgi connections that
// served them.
func countConns(t *testing.T, base string, n int) int {
	seen := map[string]bool{}
	for range n {
		c, _ := connOf(t, base)
		seen[c] = true
	}
	return len(seen)
}

// TestPersistentUWSGI: with uwsgi_persistent, bodyless requests to a launched Flask app share
// kept connections (counted on the uwsgi side by the inode of the accepted socket), and every
// kind of response still arrives whole: streamed without a length, large, HEAD, 304; request
// bodies go to the plain socket and are not starved by workers parked on kept connections.
// It runs with response buffering off and on (buffering reads the body through another path).
func TestPersistentUWSGI(t *testing.T) {
	t.Parallel()
	for _, buffering := range []bool{false, true} {
		t.Run(map[bool]string{false: "unbuffered", true: "buffered"}[buffering], func(t *testing.T) {
			svc := persistService(t, true)
			svc.WSGI.Buffering, svc.WSGI.MaxTempFileSize = buffering, 1<<30
			testPersistent(t, svc)
		})
	}
}

func testPersistent(t *testing.T, svc *config.Service) {
	node := testNode(t, map[string]*config.Service{"/": svc})
	_, base := startGatewayG(t, node)

	if n := countConns(t, base, 20); n > 2 {
		t.Fatalf("20 sequential GETs used %d uwsgi connections, want at most 2 (the uwsgi's threads)", n)
	}

	code, _, body := fetch(t, "GET", base+"/stream", nil, nil)
	var want strings.Builder
	for i := range 50 {
		want.WriteString("line " + itoa(i) + "\n")
	}
	if code != 200 || body != want.String() {
		t.Fatalf("GET /stream: %d %q", code, body)
	}

	code, _, body = fetch(t, "GET", base+"/big?n=1048576", nil, nil)
	wantBig := make([]byte, 1<<20)
	for i := range wantBig {
		wantBig[i] = byte(i % 251)
	}
	if code != 200 || !bytes.Equal([]byte(body), wantBig) {
		t.Fatalf("GET /big: %d, %d bytes, equal %v", code, len(body), bytes.Equal([]byte(body), wantBig))
	}
	code, _, body = fetch(t, "GET", base+"/big?n=40000", nil, nil)
	if code != 200 || !bytes.Equal([]byte(body), wantBig[:40000]) {
		t.Fatalf("GET /big?n=40000: %d, %d bytes", code, len(body))
	}

	code, hdr, body := fetch(t, "HEAD", base+"/conn", nil, nil)
	if code != 200 || body != "" || hdr.Get("Content-Length") == "" {
		t.Fatalf("HEAD /conn: %d %q Content-Length %q", code, body, hdr.Get("Content-Length"))
	}
	code, hdr, body = fetch(t, "GET", base+"/etag", map[string]string{"If-None-Match": `"v1"`}, nil)
	if code != 304 || body != "" {
		t.Fatalf("conditional GET /etag: %d %q", code, body)
	}
	if code, _, body = fetch(t, "GET", base+"/etag", nil, nil); code != 200 || body != "tagged body" {
		t.Fatalf("GET /etag: %d %q", code, body)
	}
	// After all of these the kept connections still carry requests and answers in step.
	if n := countConns(t, base, 10); n > 2 {
		t.Fatalf("10 sequential GETs used %d uwsgi connections, want at most 2", n)
	}

	// Both threads parked on kept connections, then a request with a body: it goes to the
	// plain socket, and a kept connection is given up so that a thread takes it.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, _, body := fetch(t, "GET", base+"/sleep?s=0.3", nil, nil); code != 200 {
				t.Errorf("GET /sleep: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/echo", strings.NewReader("posted body"))
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("POST /echo while the threads hold kept connections: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "posted body" {
		t.Fatalf("POST /echo: %d %q", resp.StatusCode, b)
	}
	if n := countConns(t, base, 10); n > 2 {
		t.Fatalf("after the POST, 10 sequential GETs used %d uwsgi connections, want at most 2", n)
	}
}

// TestPersistentUWSGIOff: without uwsgi_persistent every request has its own connection (the
// control for the count above).
func TestPersistentUWSGIOff(t *testing.T) {
	t.Parallel()
	svc := persistService(t, false)
	node := testNode(t, map[string]*config.Service{"/": svc})
	_, base := startGatewayG(t, node)
	if n := countConns(t, base, 10); n != 10 {
		t.Fatalf("10 sequential GETs used %d uwsgi connections, want 10", n)
	}
}

// TestPersistentUWSGIBroken: kept connections broken by a worker that dies mid-response and by
// a uwsgi reload (SIGHUP) are not passed requests again: the next GETs all succeed (a request
// on a kept connection that turns out dead is sent once more on a new one).
func TestPersistentUWSGIBroken(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"/": persistService(t, true)})
	g, base := startGatewayG(t, node)
	_, pid0 := connOf(t, base)
	countConns(t, base, 4)

	// The app dies after 100 of 1000 bytes: the client sees a cut response, never a whole one.
	req, _ := http.NewRequest("GET", base+"/crash", nil)
	if resp, err := testClient.Do(req); err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == 200 {
			t.Fatalf("GET /crash: a whole 200 response of %d bytes from an app that died", len(b))
		}
	}
	var pid1 string
	testkit.WaitFor(t, 0, "a new uwsgi worker after the crash", func() bool {
		_, pid1 = connOf(t, base) // every request must succeed meanwhile
		return pid1 != pid0
	})
	countConns(t, base, 4)

	// A reload (SIGHUP to the master) replaces the workers and closes their connections.
	master := g.launchedSupervisors()[0].PID()
	if err := syscall.Kill(master, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "new uwsgi workers after the reload", func() bool {
		_, p := connOf(t, base)
		return p != pid1
	})
	if n := countConns(t, base, 10); n > 2 {
		t.Fatalf("after the reload, 10 sequential GETs used %d uwsgi connections, want at most 2", n)
	}
}
