// Command memory measures Portico's peak resident memory while it moves large bodies: a
// download (1 GiB by default) and an upload (512 MiB by default) both with a Content-Length
// and chunked. Portico launches uwsgi with memapp.py, which makes and swallows the bytes; the
// client here streams them without holding them. Before each transfer the kernel's peak-RSS
// mark of the portico process is reset (/proc/PID/clear_refs, "5"), after it VmHWM is read
// from /proc/PID/status, so each line is the peak of that transfer alone.
//
//	go run ./contrib/bench/memory                 # builds portico, runs every transfer
//	go run ./contrib/bench/memory -portico bin/portico -down 1g -up 512m -limit 64m
//
// It exits 1 when a transfer fails or a peak is above -limit.
package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"portico/contrib/bench/benchkit"
)

//go:embed memapp.py
var memapp []byte

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "memory:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("portico", "", "portico binary (default: go build the module into a temporary directory)")
	down := flag.String("down", "1g", "download size")
	up := flag.String("up", "512m", "upload size")
	limitFlag := flag.String("limit", "64m", "peak RSS bound; above it the run fails (0: none)")
	verbose := flag.Bool("v", false, "show portico's log")
	par := flag.Int("parallel", 8, "transfers at once in the parallel rows")
	flag.Parse()
	downN, err := benchkit.ParseSize(*down)
	if err != nil {
		return fmt.Errorf("-down: %w", err)
	}
	upN, err := benchkit.ParseSize(*up)
	if err != nil {
		return fmt.Errorf("-up: %w", err)
	}
	limit, err := benchkit.ParseSize(*limitFlag)
	if err != nil {
		return fmt.Errorf("-limit: %w", err)
	}

	dir, err := os.MkdirTemp("", "portico-memory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "portico")
		build := exec.Command("go", "build", "-o", *bin, ".")
		build.Dir, build.Stdout, build.Stderr = benchkit.ModuleRoot(), os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building portico: %w", err)
		}
	}
	port, err := benchkit.FreePort()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "memapp.py"), memapp, 0o644); err != nil {
		return err
	}
	// One uwsgi process with 8 threads: enough for the parallel transfers, and the app
	// allocates next to nothing, so Portico's own memory is what is measured.
	cfg := fmt.Sprintf(`[router]
pythonpath = ["."]

[[transport]]
endpoint = { type = "tcp", interface = "127.0.0.1", port = %d }

  # Uploads of any -up size: no bound on one body nor on the spool (on disk, in /var/tmp).
  [transport.options]
  max_body_size = 0
  max_spool_size = 0
  max_spool_per_client = 0

  [transport.paths."/"]
  type = "wsgi"
  module = "memapp"
  object = "application"
  processes = 1
  threads = 8
  read_timeout = "120s"
  send_timeout = "120s"
`, port)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return err
	}

	cmd := exec.Command(*bin, "start", "--cbdir", dir, "--loglevel", "warn")
	cmd.Env = append(os.Environ(), "PORTICO_DIR=")
	if *verbose {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	p, err := benchkit.Start(cmd)
	if err != nil {
		return err
	}
	defer p.Stop()
	pid := cmd.Process.Pid
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(base, p.Exited); err != nil {
		<-p.Exited
		return fmt.Errorf("%w (%v)", err, p.Err)
	}
	startup, err := benchkit.ProcStatusBytes(pid, "VmHWM")
	if err != nil {
		return err
	}
	fmt.Printf("portico %s, pid %d; peak RSS per transfer (VmHWM, reset before each):\n", *bin, pid)
	fmt.Printf("  %-34s %8s %9s %10s\n", "transfer", "seconds", "MiB/s", "peak RSS")
	fmt.Printf("  %-34s %8s %9s %10s\n", "startup", "", "", mib(startup))
	overall := startup
	failed := false

	transfers := []struct {
		name string
		do   func() (int64, error)
	}{
		{fmt.Sprintf("download %s, Content-Length", *down), func() (int64, error) { return download(base, downN, true) }},
		{fmt.Sprintf("download %s, close-delimited", *down), func() (int64, error) { return download(base, downN, false) }},
		{fmt.Sprintf("upload %s, Content-Length", *up), func() (int64, error) { return upload(base, upN, true) }},
		{fmt.Sprintf("upload %s, chunked", *up), func() (int64, error) { return upload(base, upN, false) }},
		// Several at once: per-transfer buffers add up, the chunked spools' memory parts too.
		{fmt.Sprintf("%d downloads of %s/%d at once", *par, *down, *par), func() (int64, error) {
			return parallel(*par, func() (int64, error) { return download(base, downN/int64(*par), false) })
		}},
		{fmt.Sprintf("%d chunked uploads of %s/%d", *par, *up, *par), func() (int64, error) {
			return parallel(*par, func() (int64, error) { return upload(base, upN/int64(*par), false) })
		}},
	}
	for _, tr := range transfers {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			return fmt.Errorf("resetting the peak RSS mark: %w", err)
		}
		t0 := time.Now()
		n, err := tr.do()
		secs := time.Since(t0).Seconds()
		peak, herr := benchkit.ProcStatusBytes(pid, "VmHWM")
		if herr != nil {
			return herr
		}
		overall = max(overall, peak)
		mark := ""
		if err != nil {
			mark, failed = "  FAILED: "+err.Error(), true
		} else if limit > 0 && peak > limit {
			mark, failed = "  over the limit", true
		}
		fmt.Printf("  %-34s %8.1f %9.0f %10s%s\n", tr.name, secs, float64(n)/secs/(1<<20), mib(peak), mark)
	}
	fmt.Printf("  %-34s %8s %9s %10s\n", "overall", "", "", mib(overall))
	if limit > 0 {
		fmt.Printf("limit %s: ", mib(limit))
		if overall > limit {
			fmt.Println("exceeded")
		} else {
			fmt.Println("held")
		}
	}
	if failed {
		return errors.New("a transfer failed or went over the limit")
	}
	return nil
}

func download(base string, size int64, sized bool) (int64, error) {
	s := "1"
	if !sized {
		s = "0"
	}
	resp, err := http.Get(fmt.Sprintf("%s/down?size=%d&sized=%s", base, size, s))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return n, err
	}
	if n != size {
		return n, fmt.Errorf("got %d bytes, want %d", n, size)
	}
	return n, nil
}

func upload(base string, size int64, sized bool) (int64, error) {
	body := &pattern{left: size}
	req, err := http.NewRequest("POST", base+"/up", body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	if !sized {
		req.ContentLength = -1 // net/http sends it chunked
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf("%d %d\n", size, size)
	if resp.StatusCode != 200 || string(b) != want {
		return 0, fmt.Errorf("status %d, app saw %q, want %q", resp.StatusCode, b, want)
	}
	return size, nil
}

// parallel runs n copies of do at once and returns the bytes moved, or the first error.
func parallel(n int, do func() (int64, error)) (int64, error) {
	type res struct {
		n   int64
		err error
	}
	ch := make(chan res, n)
	for range n {
		go func() { m, err := do(); ch <- res{m, err} }()
	}
	var total int64
	var first error
	for range n {
		r := <-ch
		total += r.n
		if r.err != nil && first == nil {
			first = r.err
		}
	}
	return total, first
}

// pattern is an upload body of left bytes made on the fly.
type pattern struct{ left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	for i := range b[:n] {
		b[i] = 0x5a
	}
	p.left -= int64(n)
	return n, nil
}

func waitReady(base string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	c := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("portico exited before it was ready (run with -v for its log)")
		default:
		}
		if resp, err := c.Get(base + "/up"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("portico not ready after 60s (run with -v for its log)")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
