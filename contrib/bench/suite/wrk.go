package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkReport is what wrk's done() hook prints (see wrkScript): exact counts and latency
// percentiles in microseconds, rather than the rounded human-readable summary.
type wrkReport struct {
	requests int64
	duration time.Duration
	p50, p99 time.Duration
	errors   int64 // connect + read + write + timeout
	non2xx   int64 // status >= 400 (wrk's "Non-2xx or 3xx responses")
}

func (r wrkReport) rps() float64 {
	if r.duration <= 0 {
		return 0
	}
	return float64(r.requests) / r.duration.Seconds()
}

// wrkScript only defines done(), so wrk keeps its fast path (no per-request Lua).
const wrkScript = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
`

func writeWrkScript(path string) error { return os.WriteFile(path, []byte(wrkScript), 0o644) }

// runWrk runs wrk with conns connections on threads threads for d against url.
func runWrk(ctx context.Context, script, url string, threads, conns int, d time.Duration) (wrkReport, error) {
	threads = min(threads, conns)
	// wrk takes whole seconds (its time units are s, m and h).
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "-s", script, url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return wrkReport{}, fmt.Errorf("wrk: %w: %s%s", err, errb.String(), out.String())
	}
	rep, ok, err := parseWrkReport(out.Bytes())
	if err != nil || ok {
		return rep, err
	}
	return wrkReport{}, fmt.Errorf("wrk printed no report: %s %s", out.String(), errb.String())
}

// parseWrkReport finds the line wrkScript prints. ok is false when there is none.
func parseWrkReport(out []byte) (rep wrkReport, ok bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 || f[0] != "BENCH" {
			continue
		}
		var n [6]int64
		for i := range n {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil || v < 0 {
				return wrkReport{}, false, fmt.Errorf("wrk: bad report %q", sc.Text())
			}
			n[i] = v
		}
		return wrkReport{requests: n[0], duration: time.Duration(n[1]) * time.Microsecond,
			p50: time.Duration(n[2]) * time.Microsecond, p99: time.Duration(n[3]) * time.Microsecond,
			errors: n[4], non2xx: n[5]}, true, nil
	}
	return wrkReport{}, false, nil
}
