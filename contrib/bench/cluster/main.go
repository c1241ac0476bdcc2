// Command cluster measures WAMP across Portico nodes clustered over NATS: it starts 1, 2 and 3
// `portico start` nodes (node 1 runs the embedded NATS server, the others connect to it), and a
// single node without `cluster` as the baseline, waits until the nodes route to each other,
// and runs the wampload matrix against them:
//
//   - RPC local: callee and callers on node 1 (1, 8, 64 callers);
//   - RPC cross: callee on node 1, callers on node 2;
//   - pub/sub local: publisher and 10 subscribers on node 1;
//   - pub/sub spread: publisher on node 1, 10 and 100 subscribers spread over nodes 1..N;
//   - publish: 8 sessions on node 1 each keeping one acknowledged PUBLISH outstanding.
//
// Each round starts every configuration in turn (the order rotates), so a busy machine
// weighs on all of them alike; the tables give the medians over the rounds.
//
//	go run ./contrib/bench/cluster -portico bin/portico -rounds 3
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
	flagBin    = flag.String("portico", "bin/portico", "the portico binary")
	flagRounds = flag.Int("rounds", 3, "rounds; each runs every configuration once")
	flagDur    = flag.Duration("d", 2*time.Second, "duration of one measurement")
	flagProcs  = flag.Int("procs", 2, "GOMAXPROCS of each node")
	flagNodes  = flag.String("nodes", "1,2,3", "cluster sizes to measure, beside the single node without cluster")
	flagOnly   = flag.String("only", "", "run only the points whose name contains this")
)

// setup is one configuration: nodes clustered nodes, or (nodes 0) one node without cluster.
type setup struct{ nodes int }

func (s setup) String() string {
	if s.nodes == 0 {
		return "single"
	}
	return fmt.Sprintf("cluster×%d", s.nodes)
}

type point struct {
	name     string
	minNodes int // 2 for cross-node points
	run      func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error)
}

func at(o wampload.Options, url string) wampload.Options { o.URL = url; return o }

func matrix() []point {
	var ps []point
	for _, n := range []int{1, 8, 64} {
		ps = append(ps, point{fmt.Sprintf("RPC local %d", n), 0, func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error) {
			return wampload.RPC(ctx, at(o, urls[0]), n)
		}})
	}
	for _, n := range []int{1, 8, 64} {
		ps = append(ps, point{fmt.Sprintf("RPC cross %d", n), 2, func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error) {
			return wampload.RPCAcross(ctx, at(o, urls[0]), at(o, urls[1]), n)
		}})
	}
	ps = append(ps, point{"pub/sub local 1->10", 0, func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error) {
		return wampload.PubSub(ctx, at(o, urls[0]), 10)
	}})
	for _, n := range []int{10, 100} {
		ps = append(ps, point{fmt.Sprintf("pub/sub spread 1->%d", n), 0, func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error) {
			return wampload.PubSubSpread(ctx, at(o, urls[0]), urls, 1, n)
		}})
	}
	ps = append(ps, point{"publish ack 8", 0, func(ctx context.Context, urls []string, o wampload.Options) (wampload.Result, error) {
		return wampload.Publish(ctx, at(o, urls[0]), 8)
	}})
	if *flagOnly != "" {
		ps = slices.DeleteFunc(ps, func(p point) bool { return !strings.Contains(p.name, *flagOnly) })
	}
	return ps
}

// config is node i's (0-based) TOML: node 0 runs the embedded NATS at natsAddr.
func config(s setup, i, port int, natsAddr string) string {
	var b strings.Builder
	if s.nodes > 0 {
		fmt.Fprintf(&b, "[cluster]\nname = \"bench\"\nnode = \"n%d\"\n", i+1)
		if i == 0 {
			fmt.Fprintf(&b, "nats.embedded = { listen = %q }\n", natsAddr)
		} else {
			fmt.Fprintf(&b, "nats.url = %q\n", "nats://"+natsAddr)
		}
	}
	fmt.Fprintf(&b, benchkit.WAMPNode, port)
	return b.String()
}

type sample struct{ rate, cpu, p50, p99 float64 }

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	setups := []setup{{0}}
	for _, f := range strings.Split(*flagNodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-nodes: %q", f)
		}
		setups = append(setups, setup{n})
	}
	ps := matrix()
	res := make([][][]sample, len(setups)) // [setup][point][round]
	for i := range res {
		res[i] = make([][]sample, len(ps))
	}
	for round := range *flagRounds {
		for k := range setups {
			si := (k + round) % len(setups)
			if err := runOne(ctx, setups[si], ps, res[si]); err != nil {
				log.Fatalf("%s: %v", setups[si], err)
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	host, _ := os.Hostname()
	fmt.Printf("\n%s, %d CPUs, load average %s at the end, %s; %d rounds of %s per point, medians; each node GOMAXPROCS=%d, the load generator in the same machine\n",
		host, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), time.Now().UTC().Format("2006-01-02 15:04 UTC"), *flagRounds, *flagDur, *flagProcs)
	fmt.Println("\nops/s (RPC calls, pub/sub deliveries, acknowledged publishes); x/single = that column over the single node without cluster")
	fmt.Print("\n| test |")
	for _, s := range setups {
		fmt.Printf(" %s |", s)
	}
	for _, s := range setups[1:] {
		fmt.Printf(" %s/single |", s)
	}
	fmt.Print("\n|---|")
	fmt.Print(strings.Repeat("---:|", 2*len(setups)-1))
	fmt.Println()
	for pi, pt := range ps {
		fmt.Printf("| %s |", pt.name)
		base := med(res[0][pi])
		for si := range setups {
			if len(res[si][pi]) == 0 {
				fmt.Print(" – |")
				continue
			}
			fmt.Printf(" %.0f |", med(res[si][pi]).rate)
		}
		for si := range setups[1:] {
			if len(res[si+1][pi]) == 0 || len(res[0][pi]) == 0 {
				fmt.Print(" – |")
				continue
			}
			fmt.Printf(" %.2fx |", med(res[si+1][pi]).rate/max(base.rate, 1))
		}
		fmt.Println()
	}
	fmt.Println("\nlatency p50 / p99 in ms (RPC: call to result; pub/sub: publish to delivery; publish: to PUBLISHED), and Portico CPU µs/op summed over the nodes")
	fmt.Print("\n| test |")
	for _, s := range setups {
		fmt.Printf(" %s p50/p99 |", s)
	}
	for _, s := range setups {
		fmt.Printf(" %s µs/op |", s)
	}
	fmt.Print("\n|---|")
	fmt.Print(strings.Repeat("---:|", 2*len(setups)))
	fmt.Println()
	for pi, pt := range ps {
		fmt.Printf("| %s |", pt.name)
		for si := range setups {
			if len(res[si][pi]) == 0 {
				fmt.Print(" – |")
				continue
			}
			m := med(res[si][pi])
			fmt.Printf(" %.2f / %.2f |", m.p50, m.p99)
		}
		for si := range setups {
			if len(res[si][pi]) == 0 {
				fmt.Print(" – |")
				continue
			}
			fmt.Printf(" %.1f |", med(res[si][pi]).cpu)
		}
		fmt.Println()
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
	return sample{pick(func(x sample) float64 { return x.rate }), pick(func(x sample) float64 { return x.cpu }),
		pick(func(x sample) float64 { return x.p50 }), pick(func(x sample) float64 { return x.p99 })}
}

// node is one running portico process.
type node struct {
	cmd *exec.Cmd
	url string
	log string
}

func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
}

func start(dir string, s setup, i int, natsAddr string) (*node, error) {
	port, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	nd := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
	if err := os.MkdirAll(nd, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(nd, "config.toml"), []byte(config(s, i, port, natsAddr)), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(nd, "out.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(*flagBin, "start", "--cbdir", nd, "--loglevel", "warn")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(*flagProcs))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &node{cmd: cmd, url: fmt.Sprintf("ws://127.0.0.1:%d/ws", port), log: logf.Name()}, nil
}

func runOne(ctx context.Context, s setup, ps []point, out [][]sample) error {
	dir, err := os.MkdirTemp("", "benchcluster")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	natsPort, err := benchkit.FreePort()
	if err != nil {
		return err
	}
	natsAddr := fmt.Sprintf("127.0.0.1:%d", natsPort)
	var nodes []*node
	defer func() {
		for _, n := range slices.Backward(nodes) {
			n.stop()
		}
	}()
	o := wampload.Options{Realm: "realm1", Codec: wamp.JSON, Duration: *flagDur, Warmup: 300 * time.Millisecond}
	for i := range max(s.nodes, 1) {
		n, err := start(dir, s, i, natsAddr)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		// Node 1 serves (and so runs NATS) before the others connect to it.
		if err := poll(ctx, 20*time.Second, func() error { return wampload.Probe(ctx, at(o, n.url)) }); err != nil {
			logs, _ := os.ReadFile(n.log)
			return fmt.Errorf("node %d not serving: %w\n%s", i+1, err, logs)
		}
	}
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	if err := joined(ctx, o, urls); err != nil {
		return err
	}
	for i, pt := range ps {
		if s.nodes < pt.minNodes {
			continue
		}
		c0 := cpuTimes(nodes)
		r, err := pt.run(ctx, urls, o)
		if err != nil {
			return fmt.Errorf("%s: %w", pt.name, err)
		}
		c1 := cpuTimes(nodes)
		total := float64(r.Ops) * float64(o.Warmup+o.Duration) / float64(o.Duration)
		sm := sample{rate: r.Rate(), cpu: float64((c1 - c0).Microseconds()) / max(total, 1),
			p50: float64(r.P50) / 1e6, p99: float64(r.P99) / 1e6}
		out[i] = append(out[i], sm)
		log.Printf("%s %s: %.0f ops/s, p50 %.2f ms, p99 %.2f ms, %.1f µs/op", s, pt.name, sm.rate, sm.p50, sm.p99, sm.cpu)
	}
	return nil
}

// joined waits until every node routes calls to and from node 1: a callee on one side, calls
// from the other until one succeeds.
func joined(ctx context.Context, o wampload.Options, urls []string) error {
	for k := 1; k < len(urls); k++ {
		for _, dir := range [][2]string{{urls[0], urls[k]}, {urls[k], urls[0]}} {
			proc := fmt.Sprintf("bench.ready.%d", k)
			stop, err := wampload.Callee(ctx, at(o, dir[0]), proc)
			if err != nil {
				return err
			}
			err = poll(ctx, 30*time.Second, func() error { return wampload.Call(ctx, at(o, dir[1]), proc) })
			stop()
			if err != nil {
				return fmt.Errorf("nodes 1 and %d do not see each other: %w", k+1, err)
			}
		}
	}
	return nil
}

func poll(ctx context.Context, within time.Duration, try func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := try()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cpuTimes(nodes []*node) time.Duration {
	var t time.Duration
	for _, n := range nodes {
		t += benchkit.CPUTime(n.cmd.Process.Pid)
	}
	return t
}
