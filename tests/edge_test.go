package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// edgeNode writes a node directory whose "/" is a launched uwsgi running the gateway tests'
// edgeapp.py (processes x 2 threads) and whose /mem is the memory benchmark's memapp.py, and
// returns the directory and its config file.
func edgeNode(t *testing.T, processes int) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"../gateway/testdata/edgeapp.py", "../contrib/bench/memory/memapp.py"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg = filepath.Join(dir, "config.toml")
	writeEdgeConfig(t, cfg, freePort(t), processes)
	return dir, cfg
}

func writeEdgeConfig(t *testing.T, cfg string, port, processes int) {
	t.Helper()
	text := fmt.Sprintf(`[router]
pythonpath = ["."]

[[transport]]
endpoint = { type = "tcp", interface = "127.0.0.1", port = %d }

  # TestPeakRSS uploads 512 MiB, past the default max_body_size.
  [transport.options]
  max_body_size = "1g"
  max_spool_per_client = "1g"
  max_spool_size = "2g"

  [transport.paths."/"]
  type = "wsgi"
  module = "edgeapp"
  object = "application"
  processes = %d
  threads = 2
  queue_timeout = "30s"

  [transport.paths.mem]
  type = "wsgi"
  module = "memapp"
  object = "application"
  processes = 1
  threads = 2
  read_timeout = "120s"
  send_timeout = "120s"
`, port, processes)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// procStatusBytes reads a size field (VmHWM, VmRSS, ...) of /proc/pid/status, in bytes.
func procStatusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no " + field)
	return 0
}

// blocks is an upload body of n bytes copied from one block (no per-byte work, so the race
// detector does not slow the client down).
type blocks struct {
	block []byte
	n     int64
}

func (b *blocks) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(int64(len(p)), b.n)], b.block)
	b.n -= int64(m)
	return m, nil
}

// TestPeakRSS is the memory target: moving 1 GiB down and 512 MiB up, with a Content-Length
// and chunked, Portico's peak RSS (VmHWM) stays under 64 MiB. contrib/bench/memory prints the
// same figures per transfer.
func TestPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB")
	}
	dir, _ := edgeNode(t, 1)
	n := start(t, dir)
	pid := n.cmd.Process.Pid
	const limit = 64 << 20
	down, up := int64(1<<30), int64(512<<20)
	block := make([]byte, 256<<10)
	client := &http.Client{Timeout: 5 * time.Minute}

	transfers := []struct {
		name string
		do   func() error
	}{
		{"download, Content-Length", func() error { return fetch(client, fmt.Sprintf("%s/mem/down?size=%d", n.base, down), down) }},
		{"download, close-delimited", func() error {
			return fetch(client, fmt.Sprintf("%s/mem/down?size=%d&sized=0", n.base, down), down)
		}},
		{"upload, Content-Length", func() error { return send(client, n.base+"/mem/up", &blocks{block, up}, up, up) }},
		{"upload, chunked", func() error { return send(client, n.base+"/mem/up", &blocks{block, up}, -1, up) }},
	}
	for _, tr := range transfers {
		// Reset the peak mark (proc(5), clear_refs "5") so each figure is this transfer's own.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			t.Fatal(err)
		}
		if err := tr.do(); err != nil {
			t.Fatalf("%s: %v", tr.name, err)
		}
		peak := procStatusBytes(t, pid, "VmHWM")
		t.Logf("%-28s peak RSS %.1f MiB", tr.name, float64(peak)/(1<<20))
		if peak > limit {
			t.Errorf("%s: peak RSS %.1f MiB, over 64 MiB", tr.name, float64(peak)/(1<<20))
		}
	}
}

func fetch(c *http.Client, url string, want int64) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	if err != nil || resp.StatusCode != 200 || got != want {
		return fmt.Errorf("status %d, %d of %d bytes, %v", resp.StatusCode, got, want, err)
	}
	return nil
}

func send(c *http.Client, url string, body io.Reader, length, want int64) error {
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		return err
	}
	req.ContentLength = length // -1: chunked
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != fmt.Sprintf("%d %d\n", want, want) {
		return fmt.Errorf("status %d, app saw %q", resp.StatusCode, b)
	}
	return nil
}

// TestGracefulDrain: on SIGTERM or SIGINT Portico stops accepting, lets the request in
// flight finish, stops uwsgi and exits 0.
func TestGracefulDrain(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, _ := edgeNode(t, 1)
			n := start(t, dir)
			uwsgi := uwsgiPIDs(n.cmd.Process.Pid)
			started := filepath.Join(t.TempDir(), "started")
			type result struct {
				status int
				body   string
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.Get(n.base + "/sleep?s=2&file=" + started)
				if err != nil {
					done <- result{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- result{resp.StatusCode, string(b), err}
			}()
			waitFile(t, started)
			if err := n.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// New connections are refused while the request in flight is still running.
			addr := strings.TrimPrefix(n.base, "http://")
			testkit.CheckFor(t, 0, func() error {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return nil
				}
				c.Close()
				return errors.New("still accepting connections after the signal")
			})
			r := <-done
			if r.err != nil || r.status != 200 || r.body != "slept\n" {
				t.Fatalf("request in flight: %d %q %v", r.status, r.body, r.err)
			}
			select {
			case <-n.done:
			case <-time.After(testkit.Patience):
				t.Fatal("portico did not exit")
			}
			if code := n.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			waitGone(t, uwsgi, 0)
		})
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	testkit.CheckFor(t, 0, func() error { _, err := os.Stat(path); return err })
}

// TestLoadAcrossReloadAndCrash: a load loop (4 clients) runs across a SIGHUP that changes the
// launched uwsgi's settings (processes 2 -> 3), and then across a SIGKILL of that uwsgi's
// master. Each step waits for the load to have been served, not for a time, and the loop is
// bounded by those waits. Every request is counted: none may fail before the kill, and after
// it at most the requests that were in flight at that instant.
func TestLoadAcrossReloadAndCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("load loop across a reload and a crash")
	}
	dir, cfg := edgeNode(t, 2)
	n := start(t, dir)
	port, _ := strconv.Atoi(n.base[strings.LastIndexByte(n.base, ':')+1:])

	const clients = 4
	begin := time.Now()
	stop := make(chan struct{})
	var (
		ok, failedBefore, failedAfter, inflight atomic.Int64
		killed                                  atomic.Bool
		wg                                      sync.WaitGroup
		mu                                      sync.Mutex
		failures                                []string
	)
	client := &http.Client{Timeout: 40 * time.Second}
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				inflight.Add(1)
				resp, err := client.Get(n.base + "/sleep?s=0.02")
				status := 0
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				after := killed.Load()
				inflight.Add(-1)
				if err == nil && status == 200 {
					ok.Add(1)
					continue
				}
				if after {
					failedAfter.Add(1)
				} else {
					failedBefore.Add(1)
				}
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%v status %d err %v (after kill: %v)", time.Since(begin).Round(time.Millisecond), status, err, after))
				mu.Unlock()
			}
		})
	}

	// served waits until n more requests than now have been answered 200.
	served := func(n int64, what string) {
		t.Helper()
		target := ok.Load() + n
		testkit.WaitFor(t, 0, what, func() bool { return ok.Load() >= target })
	}

	// Once the load runs: reload with changed uwsgi settings; the old uwsgi drains and goes.
	served(100, "requests before the reload")
	oldMaster := edgeMaster(t, n.cmd.Process.Pid, 2)
	old := append(directChildren(oldMaster), oldMaster)
	writeEdgeConfig(t, cfg, port, 3)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the reload is logged", func() bool { return strings.Contains(n.logs.String(), "msg=reloaded") })
	waitGone(t, old, 0)

	// Once the new uwsgi has served: SIGKILL its master (the edgeapp one: it has 3 workers).
	served(100, "requests after the reload")
	master := edgeMaster(t, n.cmd.Process.Pid, 3)
	atKill := inflight.Load()
	killed.Store(true)
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the killed uwsgi is relaunched", func() bool {
		return strings.Contains(n.logs.String(), "uwsgi exited unexpectedly; restarting")
	})
	served(100, "requests after the relaunch")
	close(stop)
	wg.Wait()

	t.Logf("%v of load: %d ok; failed before the kill (across the reload): %d; failed after the kill: %d (in flight at the kill: %d)",
		time.Since(begin).Round(time.Second), ok.Load(), failedBefore.Load(), failedAfter.Load(), atKill)
	for _, f := range failures {
		t.Log("failed:", f)
	}
	if failedBefore.Load() != 0 {
		t.Errorf("%d requests lost across the reload", failedBefore.Load())
	}
	if failedAfter.Load() > atKill {
		t.Errorf("%d requests failed after the kill, more than the %d in flight", failedAfter.Load(), atKill)
	}
	if status, _ := get(t, n.base+"/"); status != 200 {
		t.Errorf("after the crash: %d", status)
	}
}

// edgeMaster finds the uwsgi master under pid that has the given number of worker children.
func edgeMaster(t *testing.T, pid, workers int) int {
	t.Helper()
	master := 0
	testkit.WaitFor(t, 0, fmt.Sprintf("a uwsgi master with %d workers under %d", workers, pid), func() bool {
		for _, m := range directChildren(pid) {
			if len(directChildren(m)) == workers {
				master = m
				return true
			}
		}
		return false
	})
	return master
}

// TestHygieneParityWithNginx sends the same raw requests to nginx-light (uwsgi_pass with
// Debian's uwsgi_params) and to Portico, both in front of the same uwsgi, and compares the
// status, and PATH_INFO when the request reaches the app: request framing (RFC 9112 section
// 6.3: smuggling), path normalisation, the HTTP version and what makes a request head
// malformed (header names, userinfo) must not differ.
func TestHygieneParityWithNginx(t *testing.T) {
	t.Parallel()
	nginx, portico := nginxAndPortico(t, "")

	const h = "Host: example.com\r\n"
	requests := []struct{ name, req string }{
		{"CL with TE", "POST /x HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"TE with CL", "POST /x HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"duplicate differing CL", "POST /x HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
		{"duplicate equal CL", "POST /x HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
		{"TE on HTTP/1.0", "POST /x HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"unknown coding", "POST /x HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n"},
		{"gzip, chunked", "POST /x HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"chunked", "POST /x HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"negative CL", "POST /x HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\n"},
		{"dot-dot above root", "GET /../x HTTP/1.1\r\n" + h + "\r\n"},
		{"encoded dot-dot above root", "GET /%2e%2e/x HTTP/1.1\r\n" + h + "\r\n"},
		{"encoded dot-dot inside", "GET /a/%2E%2e/b HTTP/1.1\r\n" + h + "\r\n"},
		{"dot-dot inside", "GET /a/b/../c HTTP/1.1\r\n" + h + "\r\n"},
		{"dot segments", "GET /./a/./b/. HTTP/1.1\r\n" + h + "\r\n"},
		{"double slashes", "GET //a///b// HTTP/1.1\r\n" + h + "\r\n"},
		{"encoded slash", "GET /a%2fb HTTP/1.1\r\n" + h + "\r\n"},
		{"encoded NUL", "GET /a%00b HTTP/1.1\r\n" + h + "\r\n"},
		{"trailing dot-dot", "GET /a/b/.. HTTP/1.1\r\n" + h + "\r\n"},
		{"backslash", "GET /a\\..\\b HTTP/1.1\r\n" + h + "\r\n"},
		{"HTTP/2.0 request line", "GET /x HTTP/2.0\r\n" + h + "\r\n"},
		{"HTTP/9.9 request line", "GET /x HTTP/9.9\r\n" + h + "\r\n"},
		{"HTTP/1.2 request line", "GET /x HTTP/1.2\r\n" + h + "\r\n"},
		{"space in a header name", "GET /x HTTP/1.1\r\n" + h + "X Y: 1\r\n\r\n"},
		{"space before the colon", "GET /x HTTP/1.1\r\n" + h + "X-A : 1\r\n\r\n"},
		{"absolute form", "GET http://example.com:81/x HTTP/1.1\r\n" + h + "\r\n"},
		{"absolute form with userinfo", "GET http://user:pw@evil.example:81/x HTTP/1.1\r\n" + h + "\r\n"},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			ns, npath := statusAndPath(t, nginx, rq.req)
			ps, ppath := statusAndPath(t, portico, rq.req)
			if ns != ps || npath != ppath {
				t.Errorf("nginx %d %q, portico %d %q", ns, npath, ps, ppath)
			}
		})
	}
}

// statusAndPath sends req and returns the status and, for a 200 from the env app, PATH_INFO.
func statusAndPath(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	resp := rawResponse(t, addr, req)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, ""
	}
	var env map[string]string
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s: %v: %s", addr, err, b)
	}
	return 200, env["PATH_INFO"] + " body=" + env["_body"]
}

// TestSlowlorisCost: 400 clients that send half a request head and stall cost Portico a
// bounded amount of memory each (a read buffer of max_header_size and a goroutine), and are
// all cut off once header_read_timeout passes.
func TestSlowlorisCost(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`[[transport]]
endpoint = { type = "tcp", interface = "127.0.0.1", port = %d }
options = { header_read_timeout = "3s" }

  [transport.paths."/"]
  type = "json"
  value = "ok"
`, port)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	pid := n.cmd.Process.Pid
	addr := strings.TrimPrefix(n.base, "http://")
	if status, _ := get(t, n.base+"/"); status != 200 {
		t.Fatalf("status %d", status)
	}
	before := procStatusBytes(t, pid, "VmRSS")

	const clients = 400
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	// Connections are accepted in order: once a later one is served, every stalled one has
	// its goroutine and buffer.
	if status, _ := get(t, n.base+"/"); status != 200 {
		t.Fatalf("normal client among the stalled ones: status %d", status)
	}
	during := procStatusBytes(t, pid, "VmRSS")
	per := (during - before) / clients
	t.Logf("RSS %.1f MiB before, %.1f MiB with %d stalled clients: %.1f KiB each",
		float64(before)/(1<<20), float64(during)/(1<<20), clients, float64(per)/1024)
	if per > 64<<10 {
		t.Errorf("a stalled client costs %d KiB, more than 64 KiB", per>>10)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("stalled client %d not cut off: %v", i, err)
		}
	}
}

// TestIdleKeepAliveCost: 2000 keep-alive connections that each made one request (half to a
// wsgi path, half to a json path) and then sit idle cost Portico a bounded amount of memory
// each: the write buffer and the body buffers go back to their pools between requests
// (fasthttp's ReduceMemoryUsage). What stays is the goroutine's stack (8 KiB), the request
// context and the read buffer's touched pages (fasthttp keeps the reader while
// StreamRequestBody is on); without ReduceMemoryUsage an idle connection costs about 19 KiB.
func TestIdleKeepAliveCost(t *testing.T) {
	dir, cfg := edgeNode(t, 2)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "\n  [transport.paths.ok]\n  type = \"json\"\n  value = \"ok\"\n"...)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	pid := n.cmd.Process.Pid
	addr := strings.TrimPrefix(n.base, "http://")
	for _, p := range []string{"/pid", "/ok"} {
		if status, body := get(t, n.base+p); status != 200 {
			t.Fatalf("%s: status %d: %s", p, status, body)
		}
	}
	before := procStatusBytes(t, pid, "VmRSS")

	const clients = 2000
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		p := "/pid"
		if i%2 == 1 {
			p = "/ok"
		}
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("client %d: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
	during := procStatusBytes(t, pid, "VmRSS")
	per := (during - before) / clients
	t.Logf("RSS %.1f MiB before, %.1f MiB with %d idle keep-alive connections: %d bytes each",
		float64(before)/(1<<20), float64(during)/(1<<20), clients, per)
	if per > 17<<10 {
		t.Errorf("an idle keep-alive connection costs %d bytes, more than 17 KiB", per)
	}
	// They are still usable.
	for i, c := range conns[:10] {
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("idle client %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
}
