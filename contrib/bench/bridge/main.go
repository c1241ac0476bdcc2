// Command bridge measures Portico's HTTP bridge next to direct WAMP: HTTP POSTs to the
// publisher and caller services (wrk with publish.lua and call.lua, keep-alive connections),
// then the same publishes (acknowledged) and calls from WAMP sessions over WebSocket
// (wampload), at the same concurrency. The callee is a Go session (wampload) in both cases,
// so that the figures are the router's and the bridge's, not a Python callee's.
//
// Usage (from the repository root): go run ./contrib/bench/bridge [-d 10s] [-c 8,64]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"portico/contrib/bench/wampload"
	"portico/router/wamp"
)

func main() {
	dur := flag.Duration("d", 10*time.Second, "measured duration of each run")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up before each run")
	conns := flag.String("c", "8,64", "concurrencies: HTTP connections, and as many WAMP sessions")
	bin := flag.String("portico", "", "portico binary (default: built from this tree)")
	flag.Parse()
	if err := run(*dur, *warm, *conns, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

const config = `{"version": 2, "workers": [{"type": "router",
  "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
    {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
  "transports": [{"type": "web", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
    "paths": {"ws": {"type": "websocket"},
      "publish": {"type": "publisher", "realm": "realm1", "role": "anonymous"},
      "call": {"type": "caller", "realm": "realm1", "role": "anonymous"}}}]}]}`

func run(dur, warm time.Duration, conns, bin string) error {
	dir, err := os.MkdirTemp("", "portico-bridge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "portico")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), fmt.Appendf(nil, config, port), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "start")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ready := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(ready) {
			return fmt.Errorf("portico does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	o := wampload.Options{URL: "ws://" + addr + "/ws", Realm: "realm1", Codec: wamp.JSON, Duration: dur, Warmup: warm}
	stop, err := wampload.Callee(ctx, o, "bench.bridge_echo")
	if err != nil {
		return err
	}
	defer stop()
	here, _ := os.Getwd()
	scripts := filepath.Join(here, "contrib", "bench", "bridge")

	fmt.Printf("| concurrency | HTTP bridge publish/s | WAMP publish/s | HTTP bridge call/s | WAMP call/s |\n|---|---|---|---|---|\n")
	for _, cs := range strings.Split(conns, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil {
			return fmt.Errorf("-c: %w", err)
		}
		pub, err := wrk(addr, "/publish", filepath.Join(scripts, "publish.lua"), c, dur, warm)
		if err != nil {
			return err
		}
		wpub, err := wampload.Publish(ctx, o, c)
		if err != nil {
			return fmt.Errorf("WAMP publish: %w", err)
		}
		call, err := wrk(addr, "/call", filepath.Join(scripts, "call.lua"), c, dur, warm)
		if err != nil {
			return err
		}
		wcall, err := wampload.RPC(ctx, o, c)
		if err != nil {
			return fmt.Errorf("WAMP RPC: %w", err)
		}
		fmt.Printf("| %d | %.0f | %.0f (p99 %v) | %.0f | %.0f (p99 %v) |\n", c, pub, wpub.Rate(), wpub.P99.Round(10*time.Microsecond),
			call, wcall.Rate(), wcall.P99.Round(10*time.Microsecond))
	}
	return nil
}

var (
	rateRE  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	non2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockErr = regexp.MustCompile(`Socket errors: .*`)
)

// wrk warms up, then measures requests/s; any non-2xx answer or socket error fails the run.
func wrk(addr, path, script string, c int, dur, warm time.Duration) (float64, error) {
	args := func(d time.Duration) []string {
		return []string{"-t2", "-c" + strconv.Itoa(c), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "-s", script, "http://" + addr + path}
	}
	if warm >= time.Second {
		if out, err := exec.Command("wrk", args(warm)...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("wrk: %v\n%s", err, out)
		}
	}
	out, err := exec.Command("wrk", args(dur)...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if m := non2xx.FindSubmatch(out); m != nil {
		return 0, fmt.Errorf("wrk %s: %s non-2xx answers\n%s", path, m[1], out)
	}
	if m := sockErr.Find(out); m != nil {
		return 0, fmt.Errorf("wrk %s: %s", path, m)
	}
	m := rateRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no rate in\n%s", path, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
