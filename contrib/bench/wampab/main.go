// Command wampab compares two Portico binaries on the wampload matrix in one run: RPC with 1,
// 8 and 64 callers, pub/sub 1 -> 10 and 1 -> 100 subscribers, json and cbor. Each round starts
// each binary in turn (the order alternates), at each GOMAXPROCS given, and runs the whole
// matrix against it; the table gives the medians over the rounds and new/old. On a shared
// machine, alternating in one run is what makes the ratio worth reading. The clients speak
// WebSocket, or RawSocket over TCP with -transport rawsocket.
//
//	go run ./contrib/bench/wampab -old /tmp/portico.main -new bin/portico -rounds 5 -procs 1,2
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"portico/contrib/bench/benchkit"
	"portico/contrib/bench/wampload"
	"portico/router/wamp"
)

var (
	flagOld    = flag.String("old", "", "the baseline portico binary")
	flagNew    = flag.String("new", "bin/portico", "the portico binary under test")
	flagRounds = flag.Int("rounds", 3, "rounds; each runs every binary once per GOMAXPROCS")
	flagDur    = flag.Duration("d", 2*time.Second, "duration of one measurement")
	flagProcs  = flag.String("procs", "2", "GOMAXPROCS values for Portico, comma-separated")
	flagOnly   = flag.String("only", "", "run only the matrix points whose name contains this")
	flagTrans  = flag.String("transport", "websocket", "websocket or rawsocket: what the clients speak")
	flagPubs   = flag.Int("publishers", 0, "with more than 1, also pub/sub from this many publishers at once to 10 and 100 subscribers")
)

type point struct {
	codec wamp.Codec
	name  string
	run   func(context.Context, wampload.Options) (wampload.Result, error)
}

func matrix() []point {
	var ps []point
	for _, c := range []wamp.Codec{wamp.JSON, wamp.CBOR} {
		for _, n := range []int{1, 8, 64} {
			ps = append(ps, point{c, fmt.Sprintf("RPC %d", n), func(ctx context.Context, o wampload.Options) (wampload.Result, error) {
				return wampload.RPC(ctx, o, n)
			}})
		}
		for _, n := range []int{10, 100} {
			ps = append(ps, point{c, fmt.Sprintf("pub/sub 1->%d", n), func(ctx context.Context, o wampload.Options) (wampload.Result, error) {
				return wampload.PubSub(ctx, o, n)
			}})
			if p := *flagPubs; p > 1 {
				ps = append(ps, point{c, fmt.Sprintf("pub/sub %d->%d", p, n), func(ctx context.Context, o wampload.Options) (wampload.Result, error) {
					return wampload.PubSubN(ctx, o, p, n)
				}})
			}
		}
	}
	if *flagOnly != "" {
		ps = slices.DeleteFunc(ps, func(p point) bool { return !strings.Contains(p.codec.Name()+" "+p.name, *flagOnly) })
	}
	return ps
}

type sample struct{ rate, cpu, p99 float64 }

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *flagOld == "" {
		log.Fatal("-old is required")
	}
	if *flagTrans != "websocket" && *flagTrans != "rawsocket" {
		log.Fatalf("-transport: %q, want websocket or rawsocket", *flagTrans)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var procs []int
	for _, f := range strings.Split(*flagProcs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-procs: %q", f)
		}
		procs = append(procs, n)
	}
	bins := []string{*flagOld, *flagNew}
	ps := matrix()
	// res[procs][binary][point] are the samples of every round.
	res := map[int][2][][]sample{}
	for _, p := range procs {
		res[p] = [2][][]sample{make([][]sample, len(ps)), make([][]sample, len(ps))}
	}
	for round := range *flagRounds {
		for _, p := range procs {
			order := []int{0, 1}
			if round%2 == 1 {
				order = []int{1, 0}
			}
			for _, bi := range order {
				if err := runOne(ctx, bins[bi], p, ps, res[p][bi]); err != nil {
					log.Fatalf("%s GOMAXPROCS=%d: %v", bins[bi], p, err)
				}
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("\n%s, %d CPUs, %s, %s, %d rounds of %s per point, medians; ops/s (RPC calls, pub/sub deliveries), Portico CPU µs/op, p99 ms\n\n",
		host, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), *flagTrans, *flagRounds, *flagDur)
	fmt.Println("| GOMAXPROCS | serializer | test | old ops/s | new ops/s | new/old | old µs/op | new µs/op | old p99 | new p99 |")
	fmt.Println("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range procs {
		for i, pt := range ps {
			o, n := med(res[p][0][i]), med(res[p][1][i])
			fmt.Printf("| %d | %s | %s | %.0f | %.0f | %.2fx | %.1f | %.1f | %.2f | %.2f |\n", p, pt.codec.Name(), pt.name,
				o.rate, n.rate, n.rate/max(o.rate, 1), o.cpu, n.cpu, o.p99, n.p99)
		}
	}
}

func med(s []sample) sample {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		return benchkit.Median(v)
	}
	return sample{pick(func(x sample) float64 { return x.rate }), pick(func(x sample) float64 { return x.cpu }), pick(func(x sample) float64 { return x.p99 })}
}

func runOne(ctx context.Context, bin string, procs int, ps []point, out [][]sample) error {
	dir, err := os.MkdirTemp("", "wampab")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := benchkit.FreePort()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(benchkit.WAMPNode, port)
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	if *flagTrans == "rawsocket" {
		rsPort, err := benchkit.FreePort()
		if err != nil {
			return err
		}
		cfg += fmt.Sprintf(benchkit.WAMPRawSocket, rsPort)
		url = fmt.Sprintf("rs://127.0.0.1:%d", rsPort)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "start", "--cbdir", dir, "--loglevel", "warn")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	o := wampload.Options{URL: url, Realm: "realm1", Duration: *flagDur, Warmup: 300 * time.Millisecond}
	deadline := time.Now().Add(20 * time.Second)
	for {
		o.Codec = wamp.JSON
		if err = wampload.Probe(ctx, o); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not serving: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, pt := range ps {
		o.Codec = pt.codec
		c0 := benchkit.CPUTime(cmd.Process.Pid)
		r, err := pt.run(ctx, o)
		if err != nil {
			return fmt.Errorf("%s %s: %w", pt.codec.Name(), pt.name, err)
		}
		c1 := benchkit.CPUTime(cmd.Process.Pid)
		total := float64(r.Ops) * float64(o.Warmup+o.Duration) / float64(o.Duration)
		s := sample{rate: r.Rate(), cpu: float64((c1 - c0).Microseconds()) / max(total, 1), p99: float64(r.P99) / 1e6}
		out[i] = append(out[i], s)
		log.Printf("%s P=%d %s %s: %.0f ops/s %.1f µs/op p99 %.2f ms", filepath.Base(bin), procs, pt.codec.Name(), pt.name, s.rate, s.cpu, s.p99)
	}
	return nil
}
