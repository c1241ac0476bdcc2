package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/config"
	"portico/internal/testkit"
)

// writeModule writes a Python module name.py into a new directory and returns the directory.
func writeModule(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name+".py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// launchedModule is a wsgi path that launches uwsgi for module:application in dir.
func launchedModule(t *testing.T, dir, module string) *config.Service {
	svc := launchedService(t)
	svc.WSGI.Module, svc.WSGI.PythonPath, svc.WSGI.Chdir = module, []string{dir}, dir
	svc.WSGI.Processes, svc.WSGI.Threads = 1, 1
	return svc
}

// readPID waits for file to hold a process id and returns it.
func readPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	testkit.WaitFor(t, 0, file+" written", func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// TestShutdownDuringReload: a reload waiting for a uwsgi whose app is still importing (here
// for an hour) holds up neither Shutdown nor Addrs. Shutdown abandons the reload, which is
// refused, and leaves no uwsgi behind.
func TestShutdownDuringReload(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "importing.pid")
	dir := writeModule(t, "hangs", `
import os, time
with open(os.environ["MARKER"] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(os.environ["MARKER"] + ".tmp", os.environ["MARKER"])
time.sleep(3600)
`)
	g, base := startGatewaySet(t, testNode(t, map[string]*config.Service{"/": launchedService(t)}), testWriter{t},
		func(g *Gateway) { g.launchTiming.StartTimeout = time.Hour })
	getOK(t, base+"/env")

	slow := launchedModule(t, dir, "hangs")
	slow.WSGI.Env = map[string]string{"MARKER": marker}
	reloaded := make(chan error, 1)
	go func() { reloaded <- g.Reload(testNode(t, map[string]*config.Service{"/": slow})) }()
	pid := readPID(t, marker)

	addrs := make(chan int, 1)
	go func() { addrs <- len(g.Addrs()) }()
	testkit.WaitFor(t, 0, "Addrs answers while the reload waits for uwsgi", func() bool { return len(addrs) == 1 })
	getOK(t, base+"/env") // the running configuration serves meanwhile

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- g.Shutdown(ctx)
	}()
	testkit.WaitFor(t, 0, "Shutdown returns while the reload's app still imports", func() bool { return len(stopped) == 1 })
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	testkit.WaitFor(t, 0, "the abandoned reload returns", func() bool { return len(reloaded) == 1 })
	if err := <-reloaded; err == nil {
		t.Error("a reload overtaken by shutdown reported success")
	}
	testkit.WaitFor(t, 0, "the importing uwsgi is gone", func() bool { return !processAlive(pid) })
}

// TestShutdownStopsUWSGIAtOnce: two launched uwsgi servers whose workers ignore the stop
// signal are both killed within Shutdown's deadline, not one after another at stopTimeout
// each (here an hour).
func TestShutdownStopsUWSGIAtOnce(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, "stubborn", `
import os, signal
def application(environ, start_response):
    # uwsgi's master stops its workers with SIGINT and waits for them (measured: more than
    # 30 s with Debian's uWSGI 2.0); this worker ignores it from now on.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(s, signal.SIG_IGN)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`)
	g, base := startGatewaySet(t, testNode(t, map[string]*config.Service{
		"a": launchedModule(t, dir, "stubborn"),
		"b": launchedModule(t, dir, "stubborn"),
	}), testWriter{t}, func(g *Gateway) { g.stopTimeout = time.Hour })
	var pids []int
	for _, p := range []string{"/a/", "/b/"} {
		pid, err := strconv.Atoi(getOK(t, base+p))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, sup := range g.launchedSupervisors() {
		pids = append(pids, sup.PID())
	}
	if len(pids) != 4 {
		t.Fatalf("pids %v, want 2 workers and 2 masters", pids)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		stopped <- g.Shutdown(ctx)
	}()
	testkit.WaitFor(t, 0, "Shutdown returns", func() bool { return len(stopped) == 1 })
	// Shutdown has killed both process groups when it returns; the processes' end (and the
	// reaping of the workers the init process adopts) comes on the kernel's schedule.
	for _, pid := range pids {
		testkit.WaitFor(t, 0, fmt.Sprintf("uwsgi process %d ends after Shutdown", pid), func() bool { return !processAlive(pid) })
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// TestRefusedReloadClosesWhatItBuilt: a reload refused at its second transport (an error
// page file is gone) closes what it built for the first (two sendfile_roots directories held
// open): refused SIGHUPs leak no file descriptors.
func TestRefusedReloadClosesWhatItBuilt(t *testing.T) {
	roots := []string{t.TempDir(), t.TempDir()}
	page := filepath.Join(t.TempDir(), "502.html")
	if err := os.WriteFile(page, []byte("<p>down</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	mk := func() *config.Node {
		app := wsgiUpstream(filepath.Join(t.TempDir(), "none.sock"))
		app.WSGI.SendfileRoots = roots
		n := testNode(t, map[string]*config.Service{"/": app})
		second := n.Workers[0].Transports[0]
		second.Place = "workers[0].transports[1]"
		second.Paths = map[string]*config.Service{"/": {Type: "json", Place: second.Place + ".paths./", JSON: &config.JSON{Value: 1}}}
		second.Options.ErrorPages = map[int]string{502: page}
		n.Workers[0].Transports = append(n.Workers[0].Transports, second)
		return n
	}
	g, _ := startGatewayG(t, mk())
	if err := g.Reload(mk()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(page); err != nil {
		t.Fatal(err)
	}
	const reloads = 10
	before := openFDs(t)
	for range reloads {
		if err := g.Reload(mk()); err == nil || !strings.Contains(err.Error(), "error_pages") {
			t.Fatalf("reload without the error page: %v", err)
		}
	}
	// Each refused reload opened both roots: a leak is 2*reloads descriptors. Slack for what
	// the runtime and the test client open meanwhile.
	if after := openFDs(t); after-before >= reloads {
		t.Errorf("%d file descriptors open after %d refused reloads, %d before", after, reloads, before)
	}
}

// TestShutdownEndsOwnedGoroutines: Shutdown stops what the gateway started beside its
// listeners: a retire still waiting for a replaced uwsgi's request to finish, and the
// PORTICO_PPROF listener.
func TestShutdownEndsOwnedGoroutines(t *testing.T) {
	t.Setenv("PORTICO_PPROF", "127.0.0.1:0")
	mk := func(processes int) *config.Node {
		app := launchedService(t)
		app.WSGI.Processes = processes
		app.WSGI.ReadTimeout = time.Hour // the long request stays in flight, however slow the reload
		return testNode(t, map[string]*config.Service{"/": app})
	}
	g, base := startGatewayG(t, mk(2))
	if g.pprof == nil {
		t.Fatal("PORTICO_PPROF set, no profile listener")
	}
	paddr := g.pprof.ln.Addr().String()
	resp, err := http.Get("http://" + paddr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pprof index: %d", resp.StatusCode)
	}

	// A request the old uwsgi holds keeps retire waiting (up to drainBound).
	go func() {
		if resp, err := testClient.Get(base + "/sleep?s=600"); err == nil {
			resp.Body.Close()
		}
	}()
	old := g.s0Table()
	testkit.WaitFor(t, 0, "the long request reaches uwsgi", func() bool { return wsgiLoad(old) > 0 })
	if err := g.Reload(mk(3)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "retire runs, waiting for the request in flight", retireRunning)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = g.Shutdown(ctx)
	if retireRunning() {
		t.Error("retire still runs after Shutdown returned")
	}
	if c, err := net.Dial("tcp", paddr); err == nil {
		c.Close()
		t.Error("the pprof listener still accepts after Shutdown returned")
	}
}

func (g *Gateway) s0Table() *pathTable {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.servers[0].table.Load()
}

func wsgiLoad(tab *pathTable) int {
	n := 0
	for _, svc := range tab.services {
		if w, ok := svc.(*wsgiService); ok {
			for _, u := range w.bal.ups {
				n += int(u.load())
			}
		}
	}
	return n
}

// retireRunning reports whether a goroutine runs Gateway.retire.
func retireRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "gateway.(*Gateway).retire")
}

// syncLog is a log destination tests read while the gateway writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWebSocketDebug: a websocket path with Crossbar's `debug` logs, at info level, its
// connection, each WAMP message in and out by type and size, and the end; the ticket a
// client authenticates with is not in the log. A path without it logs none of that.
func TestWebSocketDebug(t *testing.T) {
	t.Parallel()
	noisy := wsPath([]string{"json"}, wsOptions())
	noisy.WebSocket.Debug = true
	noisy.WebSocket.Auth = &config.Auth{Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{
		"joe": {Ticket: "secret-ticket-123", Role: "user"}}}}
	quiet := wsPath([]string{"json"}, wsOptions())
	node := testNode(t, map[string]*config.Service{"noisy": noisy, "quiet": quiet})
	node.Workers[0].Realms = []config.Realm{{Name: "realm1", Roles: []config.Role{
		{Name: "user", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}}}},
		{Name: "anonymous", Permissions: []config.Permission{{URI: "", Match: "prefix", Allow: config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}}}},
	}}}
	var logs syncLog
	g, err := New(node, slog.New(slog.NewTextHandler(&logs, nil))) // info: what `portico start` logs
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctxShutdown(t, g) })
	ws := "ws://" + g.Addrs()[0].String()

	session := func(path string, hello, auth string) {
		c, _, err := dial(t, ws+path, []string{"wamp.2.json"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip := func(send, want string) {
			t.Helper()
			if err := c.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(testkit.Patience))
			_, b, err := c.ReadMessage()
			if err != nil || !strings.HasPrefix(string(b), want) {
				t.Fatalf("%s: sent %s, got %s (%v), want %s...", path, send, b, err, want)
			}
		}
		if auth != "" {
			roundTrip(hello, "[4,") // CHALLENGE
			roundTrip(auth, "[2,")  // WELCOME
		} else {
			roundTrip(hello, "[2,")
		}
		roundTrip(`[6,{},"wamp.close.normal"]`, "[6,")
		c.Close()
	}
	session("/noisy", `[1,"realm1",{"authmethods":["ticket"],"authid":"joe","roles":{"subscriber":{}}}]`, `[5,"secret-ticket-123",{}]`)
	testkit.WaitFor(t, 0, "the debug path logs the connection's end", func() bool {
		return strings.Contains(logs.String(), "websocket debug: connection closed")
	})
	out := logs.String()
	for _, want := range []string{
		`msg="websocket debug: connection open"`,
		`msg="websocket debug: message in" service=workers[0].transports[0].paths.noisy remote=127.0.0.1:`,
		"type=HELLO", "type=CHALLENGE", "type=AUTHENTICATE", "type=WELCOME", "type=GOODBYE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-ticket-123") {
		t.Errorf("the ticket is logged:\n%s", out)
	}
	before := strings.Count(out, "websocket debug:")
	session("/quiet", `[1,"realm1",{"roles":{"subscriber":{}}}]`, "")
	getOK(t, "http://"+g.Addrs()[0].String()+"/quiet") // the status page: served after the session ended
	if n := strings.Count(logs.String(), "websocket debug:"); n != before {
		t.Errorf("a path without debug logged %d debug lines:\n%s", n-before, logs.String())
	}
}

// TestRawSocketDebug: a rawsocket transport with `debug` logs its connections and their
// messages at info level, as a websocket path does.
func TestRawSocketDebug(t *testing.T) {
	t.Parallel()
	node := rawNode(t, 1<<20, 5*time.Second)
	node.Workers[0].Transports[0].RawSocket.Debug = true
	var logs syncLog
	g, err := New(node, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctxShutdown(t, g) })
	rc := rawJoin(t, g.Addrs()[0].String(), 11, `"subscriber":{}`)
	rc.send(`[32,1,{},"com.example.topic"]`)
	rc.expect("[33,1,")
	rc.c.Close()
	testkit.WaitFor(t, 0, "the connection's end is logged", func() bool {
		return strings.Contains(logs.String(), "rawsocket debug: connection closed")
	})
	out := logs.String()
	for _, want := range []string{`msg="rawsocket debug: connection open"`, `msg="rawsocket debug: message in"`,
		"type=HELLO", "type=WELCOME", "type=SUBSCRIBE", "type=SUBSCRIBED"} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug log lacks %q:\n%s", want, out)
		}
	}
}
