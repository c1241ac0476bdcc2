package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"portico/contrib/bench/benchkit"
	"portico/contrib/bench/wampload"
	"portico/router/wamp"
)

// wampHalf starts a Portico that routes WAMP at /ws and measures RPC round trips (1, 8 and 64
// concurrent callers, one callee) and pub/sub fan-out (1 publisher, 10 and 100 subscribers) with
// each serializer. When the router does not serve sessions, it says so instead of numbers.
func wampHalf(ctx context.Context, ps *procs, tmp, portico string) (string, error) {
	dir := filepath.Join(tmp, "wamp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	port, err := benchkit.FreePort()
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(benchkit.WAMPNode, port)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return "", err
	}
	p, err := ps.start("portico (wamp)", dir, filepath.Join(dir, "out.log"), nil, portico, "start", "--cbdir", dir, "--loglevel", "warn")
	if err != nil {
		return "", err
	}
	defer p.stop()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitDial(ctx, p, "tcp", addr, startWithin); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("## WAMP: Portico's router over WebSocket\n\n")
	base := wampload.Options{URL: "ws://" + addr + "/ws", Realm: "realm1", Codec: wamp.JSON,
		Duration: *flagWAMPDur, Warmup: 500 * time.Millisecond}
	if err := wampload.Probe(ctx, base); err != nil {
		log.Printf("wamp: %v", err)
		fmt.Fprintf(&b, "WAMP: router not available (%v)\n", err)
		return b.String(), nil
	}
	fmt.Fprintf(&b, "%s per measurement after a %s warm-up; RPC: one callee echoing, each caller one call outstanding; pub/sub: publisher at most 64 events ahead of the slowest subscriber. Portico CPU from /proc, per operation (per delivered event for pub/sub).\n\n",
		base.Duration, base.Warmup)
	b.WriteString("| serializer | test | ops/s | p50 ms | p99 ms | Portico CPU µs/op |\n|---|---|---:|---:|---:|---:|\n")
	for _, c := range []wamp.Codec{wamp.JSON, wamp.CBOR} {
		o := base
		o.Codec = c
		type test struct {
			name string
			run  func() (wampload.Result, error)
		}
		tests := []test{
			{"RPC, 1 caller", func() (wampload.Result, error) { return wampload.RPC(ctx, o, 1) }},
			{"RPC, 8 callers", func() (wampload.Result, error) { return wampload.RPC(ctx, o, 8) }},
			{"RPC, 64 callers", func() (wampload.Result, error) { return wampload.RPC(ctx, o, 64) }},
			{"pub/sub, 1 -> 10 subscribers", func() (wampload.Result, error) { return wampload.PubSub(ctx, o, 10) }},
			{"pub/sub, 1 -> 100 subscribers", func() (wampload.Result, error) { return wampload.PubSub(ctx, o, 100) }},
		}
		for _, t := range tests {
			u0, err := usage(p.cmd.Process.Pid)
			if err != nil {
				return "", err
			}
			r, err := t.run()
			if err != nil {
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				log.Printf("wamp %s %s: %v", c.Name(), t.name, err)
				fmt.Fprintf(&b, "| %s | %s | failed: %v | | | |\n", c.Name(), t.name, err)
				continue
			}
			u1, err := usage(p.cmd.Process.Pid)
			if err != nil {
				return "", err
			}
			// The CPU delta spans warm-up and set-up too: count every operation of the run.
			total := float64(r.Ops) * float64(o.Warmup+o.Duration) / float64(o.Duration)
			cpu := float64((u1.cpu - u0.cpu).Microseconds()) / max(total, 1)
			log.Printf("wamp %s %s: %.0f ops/s p50 %.2f ms p99 %.2f ms", c.Name(), t.name, r.Rate(), ms(r.P50), ms(r.P99))
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.2f | %.1f |\n", c.Name(), t.name, r.Rate(), ms(r.P50), ms(r.P99), cpu)
		}
	}
	return b.String(), nil
}
