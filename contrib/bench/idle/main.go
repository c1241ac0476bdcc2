// Command idle measures what an idle connection costs Portico in resident memory: N WAMP
// sessions over WebSocket (json; HELLO, WELCOME, then nothing), and N HTTP keep-alive
// connections (one request each, then nothing). Each kind runs against a node of its own
// (a fresh `portico start`), so that memory freed by one kind is not reused by the next.
//
// For each kind it opens a warm-up batch first (the realm, the pools and the runtime's first
// arenas are not per connection), reads VmRSS from /proc/PID/status, opens the N
// connections, then polls VmRSS until it settles (garbage of the handshakes is collected and
// given back in the background) and prints the growth divided by N.
//
//	go run ./contrib/bench/idle                        # builds portico, 10000 of each
//	go run ./contrib/bench/idle -portico bin/portico -n 10000 -kinds ws,http -limit 20k
//
// It exits 1 when a connection fails or a figure is above -limit.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"portico/contrib/bench/benchkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

type options struct {
	bin     string
	n       int
	warmup  int
	conc    int
	settle  time.Duration
	profile string
	verbose bool
	churn   bool
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "portico", "", "portico binary (default: go build the module into a temporary directory)")
	flag.IntVar(&o.n, "n", 10000, "idle connections of each kind")
	flag.IntVar(&o.warmup, "warmup", 200, "connections opened before the first reading")
	flag.IntVar(&o.conc, "c", 32, "connections opened at once")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "longest wait for VmRSS to settle")
	flag.StringVar(&o.profile, "profile", "", "directory for portico's heap and goroutine profiles with the connections open (PORTICO_PPROF)")
	flag.BoolVar(&o.verbose, "v", false, "show portico's log")
	flag.BoolVar(&o.churn, "churn", false, "open and close N connections after the first reading, before the N that stay: freed memory is then reused (and zeroed) rather than fresh from the kernel")
	kinds := flag.String("kinds", "ws,http", "what to measure: ws, http or both")
	limitFlag := flag.String("limit", "20k", "bound per connection; above it the run fails (0: none)")
	flag.Parse()
	limit, err := benchkit.ParseSize(*limitFlag)
	if err != nil {
		return fmt.Errorf("-limit: %w", err)
	}
	// Each connection is a descriptor here and one in portico. Go raises the soft limit of
	// both processes to the hard one (since Go 1.19); say so when even that is too low.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(o.n+o.warmup+64) {
		return fmt.Errorf("open files limit %d is below -n + -warmup; raise it (ulimit -Hn) or lower -n", rl.Cur)
	}

	dir, err := os.MkdirTemp("", "portico-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "portico")
		build := exec.Command("go", "build", "-o", o.bin, ".")
		build.Dir, build.Stdout, build.Stderr = benchkit.ModuleRoot(), os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building portico: %w", err)
		}
	}
	fmt.Printf("portico %s, %d idle connections of each kind after %d to warm up, %s, %d CPUs\n",
		o.bin, o.n, o.warmup, runtime.Version(), runtime.NumCPU())
	if o.churn {
		fmt.Printf("churn: %d connections opened and closed before them\n", o.n)
	}
	fmt.Printf("  %-32s %10s %10s %12s\n", "kind", "RSS before", "RSS after", "per conn")
	failed := false
	for _, k := range strings.Split(*kinds, ",") {
		var open func(addr string) (io.Closer, error)
		var label string
		switch k {
		case "ws":
			open, label = openSession, "WAMP session (WebSocket, json)"
		case "http":
			open, label = openKeepAlive, "HTTP keep-alive connection"
		default:
			return fmt.Errorf("-kinds: unknown kind %q", k)
		}
		before, after, err := measure(o, filepath.Join(dir, k), k, open)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		per := float64(after-before) / float64(o.n)
		fmt.Printf("  %-32s %8.1f MiB %6.1f MiB %8.1f KiB\n", label, mib(before), mib(after), per/1024)
		if limit > 0 && per > float64(limit) {
			failed = true
		}
	}
	if limit > 0 {
		if failed {
			return fmt.Errorf("limit %.1f KiB per connection: exceeded", float64(limit)/1024)
		}
		fmt.Printf("limit %.1f KiB per connection: held\n", float64(limit)/1024)
	}
	return nil
}

// measure starts a node in dir, opens the warm-up and the N connections with open and
// returns VmRSS before the N and after they settled.
func measure(o options, dir, kind string, open func(string) (io.Closer, error)) (before, after int64, err error) {
	port, err := benchkit.FreePort()
	if err != nil {
		return 0, 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	// idle_timeout far beyond the run: the keep-alive connections must stay open.
	// No realm configured: realm1 is made on the first HELLO, with an anonymous role.
	cfg := fmt.Sprintf(`[[transport]]
endpoint = { type = "tcp", interface = "127.0.0.1", port = %d }

  [transport.options]
  idle_timeout = "1h"

  [transport.paths."/"]
  type = "json"
  value = "ok"

  [transport.paths.ws]
  type = "websocket"
`, port)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(o.bin, "start", "--cbdir", dir, "--loglevel", "warn")
	cmd.Env = append(os.Environ(), "PORTICO_DIR=")
	pprofAddr := ""
	if o.profile != "" {
		pp, err := benchkit.FreePort()
		if err != nil {
			return 0, 0, err
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
		cmd.Env = append(cmd.Env, "PORTICO_PPROF="+pprofAddr)
	}
	if o.verbose {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	p, err := benchkit.Start(cmd)
	if err != nil {
		return 0, 0, err
	}
	defer p.Stop()
	pid := cmd.Process.Pid
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(addr, p.Exited); err != nil {
		return 0, 0, err
	}
	var conns []io.Closer
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	warm, err := openMany(addr, o.warmup, o.conc, open)
	conns = append(conns, warm...)
	if err != nil {
		return 0, 0, err
	}
	if before, err = settled(pid, o.settle); err != nil {
		return 0, 0, err
	}
	if o.churn {
		gone, err := openMany(addr, o.n, o.conc, open)
		for _, c := range gone {
			_ = c.Close()
		}
		if err != nil {
			return 0, 0, err
		}
	}
	idle, err := openMany(addr, o.n, o.conc, open)
	conns = append(conns, idle...)
	if err != nil {
		return 0, 0, err
	}
	if after, err = settled(pid, o.settle); err != nil {
		return 0, 0, err
	}
	if pprofAddr != "" {
		if err := saveProfiles(o.profile, kind, pprofAddr); err != nil {
			return 0, 0, err
		}
	}
	select {
	case <-p.Exited:
		return 0, 0, errors.New("portico exited")
	default:
	}
	return before, after, nil
}

// openMany opens n connections, conc at a time.
func openMany(addr string, n, conc int, open func(string) (io.Closer, error)) ([]io.Closer, error) {
	var (
		mu    sync.Mutex
		out   = make([]io.Closer, 0, n)
		first error
		wg    sync.WaitGroup
	)
	next := make(chan struct{})
	for range max(conc, 1) {
		wg.Go(func() {
			for range next {
				c, err := open(addr)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if c != nil {
					out = append(out, c)
				}
				mu.Unlock()
			}
		})
	}
	for range n {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return out, first
}

var dialer = websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 30 * time.Second,
	ReadBufferSize: 256, WriteBufferSize: 256}

// openSession joins realm1 and leaves the session idle.
func openSession(addr string) (io.Closer, error) {
	c, _, err := dialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(`[1,"realm1",{"roles":{"subscriber":{},"publisher":{},"caller":{},"callee":{}}}]`)); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil || !bytes.HasPrefix(b, []byte("[2,")) {
		c.Close()
		return nil, fmt.Errorf("join: %q %v", b, err)
	}
	return c.NetConn(), nil
}

// openKeepAlive makes one request on a new connection, reads the whole response and leaves
// the connection open.
func openKeepAlive(addr string) (io.Closer, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: idle\r\nAccept: */*\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Close {
		c.Close()
		return nil, fmt.Errorf("request: %d close=%v %v", resp.StatusCode, resp.Close, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// settled polls VmRSS until it stops falling: the lowest reading, once ten readings half a
// second apart have not gone below it by more than 64 KiB (or after at most d).
func settled(pid int, d time.Duration) (int64, error) {
	low, still := int64(-1), 0
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		v, err := benchkit.ProcStatusBytes(pid, "VmRSS")
		if err != nil {
			return 0, err
		}
		switch {
		case low < 0 || v < low-64<<10:
			low, still = v, 0
		default:
			low = min(low, v)
			still++
		}
		if still >= 10 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return low, nil
}

// saveProfiles writes the heap profile (after a collection) and the goroutine counts.
func saveProfiles(dir, kind, addr string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []struct{ path, file string }{
		{"/debug/pprof/heap?gc=1", kind + ".heap.pb.gz"},
		{"/debug/pprof/heap?debug=1", kind + ".heap.txt"}, // ends with runtime.MemStats
		{"/debug/pprof/goroutine?debug=1", kind + ".goroutines.txt"},
	} {
		resp, err := http.Get("http://" + addr + p.path)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p.file), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("portico exited before it listened")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("portico did not listen within 30s")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
