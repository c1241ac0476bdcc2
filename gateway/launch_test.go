package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
)

func launchedService(t *testing.T) *config.Service {
	t.Helper()
	td, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return &config.Service{Type: "wsgi", WSGI: &config.WSGI{
		Module: "app", Object: "application", PythonPath: []string{td}, Chdir: td,
		Processes: 2, Threads: 2, MaxConcurrency: 4, UWSGI: "uwsgi",
		QueueTimeout: 60 * time.Second, ConnectTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, SendTimeout: 10 * time.Second,
		MaxFails: 1, FailTimeout: 10 * time.Second,
	}}
}

func getOK(t *testing.T, url string) string {
	t.Helper()
	resp, err := testClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLaunchedUWSGI: a wsgi path with module/object and no upstream makes the gateway launch
// uwsgi; when uwsgi is SIGKILLed, requests wait for the relaunch instead of failing, and
// shutdown leaves no uwsgi behind.
func TestLaunchedUWSGI(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"/": launchedService(t)})
	g, base := startGatewayG(t, node)
	if body := getOK(t, base+"/env"); !strings.Contains(body, `"SCRIPT_NAME": ""`) {
		t.Fatalf("environ: %s", body)
	}
	var sup = g.launchedSupervisors()
	if len(sup) != 1 {
		t.Fatalf("%d launched uwsgi, want 1", len(sup))
	}
	pid := sup[0].PID()
	if pid <= 0 || !processAlive(pid) {
		t.Fatalf("uwsgi pid %d not running", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The supervisor kills the dead master's orphaned workers; a request one of them took
	// before that is a request in flight at the crash, which may fail. Requests made once they
	// are gone wait in the queue for the relaunch.
	testkit.WaitFor(t, 0, "the killed uwsgi's workers are gone", func() bool { return syscall.Kill(-pid, 0) != nil })
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 4 {
		wg.Go(func() {
			resp, err := testClient.Get(base + "/env")
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 4 requests failed across the relaunch", n)
	}
	var newPID int
	testkit.WaitFor(t, 0, "uwsgi relaunched", func() bool {
		newPID = sup[0].PID()
		return newPID > 0 && newPID != pid && processAlive(newPID)
	})
	getOK(t, base+"/env")
	ctxShutdown(t, g)
	testkit.WaitFor(t, 0, "the relaunched uwsgi is gone after shutdown", func() bool { return !processAlive(newPID) })
}

// startLoad keeps workers clients sending GET url until the load is stopped: 200 is served,
// anything else failed.
func startLoad(t *testing.T, workers int, url string) *testkit.Load {
	return testkit.StartLoad(t, workers, func() error {
		resp, err := testClient.Get(url)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	})
}

// TestReloadUnderLoad swaps the configuration while requests are running: the changed uwsgi
// is started before the switch and the old one drains, so no request is lost.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	mk := func(value, processes int) *config.Node {
		app := launchedService(t)
		app.WSGI.Processes = processes
		n := testNode(t, map[string]*config.Service{
			"/":    app,
			"info": {Type: "json", JSON: &config.JSON{Value: value}},
		})
		return n
	}
	g, base := startGatewayG(t, mk(1, 2))
	if got := strings.TrimSpace(getOK(t, base+"/info")); got != "1" {
		t.Fatalf("/info = %q", got)
	}
	oldPID := g.launchedSupervisors()[0].PID()

	l := startLoad(t, 4, base+"/sleep?s=0.05")
	l.Served(t, 8, "requests before the reload")
	if err := g.Reload(mk(2, 3)); err != nil {
		t.Fatal(err)
	}
	l.Served(t, 8, "requests after the reload")
	l.Stop()
	if ok, failed, first := l.Counts(); failed != 0 {
		t.Fatalf("across the reload: %d ok, %d failed, the first: %v", ok, failed, first)
	}
	if got := strings.TrimSpace(getOK(t, base+"/info")); got != "2" {
		t.Fatalf("/info after reload = %q", got)
	}
	sups := g.launchedSupervisors()
	if len(sups) != 1 || sups[0].PID() == oldPID {
		t.Fatalf("after reload: %d supervisors, pid %d (old %d)", len(sups), sups[0].PID(), oldPID)
	}
	testkit.WaitFor(t, drainBound+testkit.Patience, "the old uwsgi stops after the drain", func() bool { return !processAlive(oldPID) })

	// A reload that cannot start its uwsgi is refused and the old configuration keeps serving.
	bad := mk(3, 2)
	bad.Workers[0].Transports[0].Paths["/"].WSGI.Module = "no_such_module"
	if err := g.Reload(bad); err == nil {
		t.Fatal("reload with a broken app accepted")
	}
	if got := strings.TrimSpace(getOK(t, base+"/info")); got != "2" {
		t.Fatalf("/info after refused reload = %q", got)
	}
}

// TestCrashUnderLoad kills the launched uwsgi while requests run: only requests in flight at
// that instant may fail (at most the concurrency of the load), and serving resumes.
func TestCrashUnderLoad(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"/": launchedService(t)})
	g, base := startGatewayG(t, node)
	getOK(t, base+"/env")
	pid := g.launchedSupervisors()[0].PID()

	const workers = 4
	l := startLoad(t, workers, base+"/sleep?s=0.02")
	l.Served(t, 8, "requests before the crash")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sup := g.launchedSupervisors()[0]
	testkit.WaitFor(t, 0, "uwsgi relaunched", func() bool { p := sup.PID(); return p > 0 && p != pid })
	l.Served(t, 8, "requests after the relaunch")
	l.Stop()
	ok, failed, first := l.Counts()
	if failed > workers {
		t.Fatalf("%d requests failed across the crash (%d ok); at most the %d in flight may; the first: %v", failed, ok, workers, first)
	}
	getOK(t, base+"/env")
	t.Logf("across the crash: %d ok, %d failed", ok, failed)
}

// TestLaunchedEnv: the worker's options.env decides what the launched uwsgi inherits
// (Crossbar semantics), and the path's env is added.
func TestLaunchedEnv(t *testing.T) {
	t.Setenv("PORTICO_TEST_SECRET", "must-not-leak")
	t.Setenv("PORTICO_TEST_KEEP", "kept")
	svc := launchedService(t)
	svc.WSGI.Env = map[string]string{"APP_MODE": "staging"}
	svc.WSGI.WorkerEnv = config.Env{Inherit: []string{"PATH", "PORTICO_TEST_KEEP"}}
	_, base := startGatewayG(t, testNode(t, map[string]*config.Service{"/": svc}))
	body := getOK(t, base+"/osenv")
	var env map[string]string
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	if env["APP_MODE"] != "staging" || env["PORTICO_TEST_KEEP"] != "kept" {
		t.Errorf("APP_MODE=%q PORTICO_TEST_KEEP=%q", env["APP_MODE"], env["PORTICO_TEST_KEEP"])
	}
	if v, ok := env["PORTICO_TEST_SECRET"]; ok {
		t.Errorf("PORTICO_TEST_SECRET inherited (%q) though not listed", v)
	}
}

// TestReloadKeepsUnchangedUWSGI: a reload that does not touch a launched uwsgi's settings
// swaps the path table (the new value is served) and leaves that uwsgi running as it was.
func TestReloadKeepsUnchangedUWSGI(t *testing.T) {
	t.Parallel()
	mk := func(value int) *config.Node {
		return testNode(t, map[string]*config.Service{
			"/":    launchedService(t),
			"info": {Type: "json", JSON: &config.JSON{Value: value}},
		})
	}
	g, base := startGatewayG(t, mk(1))
	getOK(t, base+"/env")
	pid := g.launchedSupervisors()[0].PID()
	if err := g.Reload(mk(2)); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(getOK(t, base+"/info")); got != "2" {
		t.Fatalf("/info after reload = %q", got)
	}
	// The replaced table is retired once idle; the uwsgi it shares with the new one stays.
	for range 20 {
		getOK(t, base+"/env")
	}
	sups := g.launchedSupervisors()
	if len(sups) != 1 || sups[0].PID() != pid || !processAlive(pid) {
		t.Fatalf("after a reload that kept the wsgi settings: %d supervisors, pid %d (was %d, alive %v)",
			len(sups), sups[0].PID(), pid, processAlive(pid))
	}
}

// TestQueueTimeoutWhileRelaunching: requests that arrive while a killed uwsgi is being
// relaunched wait for it up to queue_timeout; one whose wait runs out gets 503 (not a 502
// at once), and serving resumes when uwsgi is back.
func TestQueueTimeoutWhileRelaunching(t *testing.T) {
	t.Parallel()
	svc := launchedService(t)
	svc.WSGI.QueueTimeout = 500 * time.Millisecond
	// A long restart delay keeps uwsgi down for longer than the queue timeout.
	g, base := startGatewaySet(t, testNode(t, map[string]*config.Service{"/": svc}), testWriter{t},
		func(g *Gateway) { g.launchTiming.BackoffMin = 6 * time.Second })
	getOK(t, base+"/env")
	sup := g.launchedSupervisors()[0]
	pid := sup.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "uwsgi not seen dead", func() bool { return !processAlive(pid) })
	start := time.Now()
	resp, err := testClient.Get(base + "/env")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waited := time.Since(start)
	if resp.StatusCode != 503 {
		t.Fatalf("while uwsgi is down past queue_timeout: status %d, want 503", resp.StatusCode)
	}
	if waited < svc.WSGI.QueueTimeout {
		t.Fatalf("failed after %v, before queue_timeout (%v): the request did not wait", waited, svc.WSGI.QueueTimeout)
	}
	testkit.WaitFor(t, 0, "uwsgi not back", func() bool {
		resp, err := testClient.Get(base + "/env")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
