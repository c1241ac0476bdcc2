// Command suite measures Portico side by side with nginx, uwsgi's HTTP router and
// twisted.web.wsgi in front of the same uwsgi backend, then Portico's WAMP router, and prints
// Markdown tables. contrib/bench/run builds and runs it; see contrib/bench/RESULTS.md.
//
// Every gateway is measured in turns (A B C D A B C D ...) against the same backend, and
// the comparison is the median over rounds of per-round ratios: on a machine shared with
// other work, a slow moment hits one round of every gateway alike rather than one gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"portico/contrib/bench/benchkit"
)

var (
	flagDuration = flag.Duration("d", 5*time.Second, "duration of one measured wrk round")
	flagRounds   = flag.Int("rounds", 3, "rounds per gateway (interleaved)")
	flagWarmup   = flag.Duration("warmup", time.Second, "wrk warm-up per gateway before each connection count")
	flagConns    = flag.String("c", "32,256", "wrk connection counts, comma-separated")
	flagThreads  = flag.Int("t", 2, "wrk threads")
	flagGateways = flag.String("gateways", "portico,nginx,uwsgi-http,twisted", "gateways to measure, in turn order; portico+VAR=value adds a Portico run with that environment; portico-metrics is Portico with a metrics path (request counting on)")
	flagApps     = flag.String("apps", "hello,flask", "apps: hello (minimal WSGI), flask (Jinja template); empty for none")
	flagPortico  = flag.String("portico", "bin/portico", "the portico binary")
	flagUWSGI    = flag.String("uwsgi", "/usr/bin/uwsgi", "the uwsgi binary")
	flagPython   = flag.String("python", "/usr/bin/python3", "the Python that sees Debian's twisted and flask")
	flagBenchDir = flag.String("dir", "contrib/bench", "the contrib/bench directory")
	flagFlaskDir = flag.String("flask", "contrib/examples/flask", "the Flask example app's directory")
	flagWAMP     = flag.Bool("wamp", true, "run the WAMP half")
	flagWAMPDur  = flag.Duration("wamp-d", 3*time.Second, "duration of one WAMP measurement")
	flagProfile  = flag.String("profile", "", "save Portico's CPU profile of the first round of each app and connection count, and its allocation profile, in this directory (go tool pprof bin/portico FILE); profiling costs that round a little CPU")
	flagOut      = flag.String("o", "", "also write the Markdown report to this file")
	flagKeep     = flag.Bool("keep", false, "keep the temporary directory (configs and logs)")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: contrib/bench/run [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			log.Print("interrupted; everything started was stopped")
			os.Exit(130)
		}
		log.Print(err)
		os.Exit(1)
	}
}

// sample is one gateway's measurement in one round.
type sample struct {
	wrkReport
	cpu     time.Duration // the gateway's tree, over the round
	backend time.Duration // the uwsgi backend's tree, over the round
}

func (s sample) cpuPerReq() float64     { return perReq(s.cpu, s.requests) }
func (s sample) backendPerReq() float64 { return perReq(s.backend, s.requests) }

func perReq(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// series is every round of one gateway at one connection count.
type series struct {
	gateway string
	rounds  []sample
	hwm     int64 // peak RSS of the gateway's tree, bytes (VmHWM is a high-water mark)
}

type result struct {
	app     string
	conns   int
	series  []*series
	backend bool // whether backend CPU is meaningful for each gateway (twisted has none)
}

func run(ctx context.Context) error {
	conns, err := parseInts(*flagConns)
	if err != nil {
		return fmt.Errorf("-c: %w", err)
	}
	gws := strings.Split(*flagGateways, ",")
	tmp, err := os.MkdirTemp("", "portico-bench-")
	if err != nil {
		return err
	}
	if *flagKeep {
		log.Printf("temporary files in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	ps := &procs{}
	defer ps.stopAll()

	benchDir, err := filepath.Abs(*flagBenchDir)
	if err != nil {
		return err
	}
	flaskDir, err := filepath.Abs(*flagFlaskDir)
	if err != nil {
		return err
	}
	portico, err := filepath.Abs(*flagPortico)
	if err != nil {
		return err
	}
	if *flagProfile != "" {
		if err := os.MkdirAll(*flagProfile, 0o755); err != nil {
			return err
		}
	}
	script := filepath.Join(tmp, "report.lua")
	if err := writeWrkScript(script); err != nil {
		return err
	}
	apps := map[string]app{
		"hello": {name: "hello", dir: filepath.Join(benchDir, "apps"), module: "hello", object: "application", expect: "Hello, world!"},
		"flask": {name: "flask", dir: flaskDir, module: "myapp", object: "app", expect: "Hello from Crossbar.io"},
	}

	var out strings.Builder
	out.WriteString(machine(portico))
	var results []*result
	for _, name := range strings.Split(*flagApps, ",") {
		if name == "" {
			continue // -apps= : the WAMP half only
		}
		a, ok := apps[name]
		if !ok {
			return fmt.Errorf("-apps: unknown app %q (hello, flask)", name)
		}
		rs, err := benchApp(ctx, ps, tmp, benchDir, portico, a, gws, conns, script)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range rs {
			fmt.Fprint(os.Stderr, "\n"+r.markdown())
		}
		results = append(results, rs...)
	}
	if len(results) > 0 {
		out.WriteString(httpSection(results))
	}
	if *flagWAMP {
		w, err := wampHalf(ctx, ps, tmp, portico)
		if err != nil {
			return fmt.Errorf("wamp: %w", err)
		}
		out.WriteString("\n" + w)
	}
	fmt.Print("\n" + out.String())
	if *flagOut != "" {
		if err := os.MkdirAll(filepath.Dir(*flagOut), 0o755); err != nil {
			return err
		}
		return os.WriteFile(*flagOut, []byte(out.String()), 0o644)
	}
	return nil
}

func httpSection(results []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## HTTP: WSGI behind each gateway\n\nwrk -t %d, %d rounds of %s per gateway in turn after a %s warm-up; medians over rounds; ratios are medians of per-round ratios.\n",
		*flagThreads, *flagRounds, *flagDuration, *flagWarmup)
	for _, r := range results {
		b.WriteString("\n" + r.markdown())
	}
	b.WriteString("\n" + summary(results))
	return b.String()
}

// benchApp starts the backend and every gateway for one app, then measures them in turns.
func benchApp(ctx context.Context, ps *procs, tmp, benchDir, portico string, a app, gws []string, conns []int, script string) ([]*result, error) {
	e := &env{ctx: ctx, ps: ps, tmp: filepath.Join(tmp, a.name), app: a, portico: portico,
		uwsgi: *flagUWSGI, python: *flagPython, benchDir: benchDir}
	if err := os.MkdirAll(e.tmp, 0o755); err != nil {
		return nil, err
	}
	be, err := e.backend()
	if err != nil {
		return nil, err
	}
	var started []*gateway
	defer func() {
		for _, g := range started {
			g.proc.stop()
		}
		be.stop()
	}()
	for _, name := range gws {
		g, err := e.start(name)
		if err != nil {
			return nil, err
		}
		started = append(started, g)
	}
	var results []*result
	for _, c := range conns {
		r := &result{app: a.name, conns: c}
		for _, g := range started {
			log.Printf("%s, %d connections: warming up %s", a.name, c, g.name)
			if _, err := runWrk(ctx, script, g.url, *flagThreads, c, *flagWarmup); err != nil {
				return nil, err
			}
			r.series = append(r.series, &series{gateway: g.name})
		}
		for round := range *flagRounds {
			for i, g := range started {
				var prof chan error
				if round == 0 && g.pprof != "" {
					prof = make(chan error, 1)
					path := filepath.Join(*flagProfile, fmt.Sprintf("%s-%d-%s.cpu.pprof", a.name, c, g.name))
					secs := max(1, int(flagDuration.Seconds())-1)
					go func() { prof <- saveProfile(ctx, g.pprof, fmt.Sprintf("profile?seconds=%d", secs), path) }()
				}
				s, err := measure(ctx, script, g, be, c)
				if prof != nil {
					if perr := <-prof; perr != nil {
						log.Printf("%s: %v", g.name, perr)
					}
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", g.name, err)
				}
				log.Printf("%s, %d connections, round %d: %-10s %8.0f req/s  p99 %6.2f ms  %5.0f µs CPU/req  errors %d non-2xx %d",
					a.name, c, round+1, g.name, s.rps(), ms(s.p99), s.cpuPerReq(), s.errors, s.non2xx)
				r.series[i].rounds = append(r.series[i].rounds, s)
			}
		}
		for i, g := range started {
			u, err := usage(g.proc.cmd.Process.Pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", g.name, err)
			}
			r.series[i].hwm = u.hwm
		}
		results = append(results, r)
	}
	for _, g := range started {
		if g.pprof != "" {
			path := filepath.Join(*flagProfile, fmt.Sprintf("%s-%s.allocs.pprof", a.name, g.name))
			if err := saveProfile(ctx, g.pprof, "allocs", path); err != nil {
				log.Printf("%s: %v", g.name, err)
			}
		}
	}
	return results, nil
}

func measure(ctx context.Context, script string, g *gateway, be *proc, conns int) (sample, error) {
	if g.proc.exited() {
		return sample{}, fmt.Errorf("exited:\n%s", g.proc.tail())
	}
	g0, err := usage(g.proc.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	b0, err := usage(be.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	rep, err := runWrk(ctx, script, g.url, *flagThreads, conns, *flagDuration)
	if err != nil {
		return sample{}, err
	}
	g1, err := usage(g.proc.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	b1, err := usage(be.cmd.Process.Pid)
	if err != nil {
		return sample{}, err
	}
	s := sample{wrkReport: rep, cpu: g1.cpu - g0.cpu, backend: b1.cpu - b0.cpu}
	if g.name == "twisted" {
		s.backend = 0 // the app runs inside Twisted; the idle uwsgi is not its backend
	}
	return s, nil
}

func (r *result) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s app, %d connections\n\n", r.app, r.conns)
	b.WriteString("| gateway | req/s | p50 ms | p99 ms | non-2xx | errors | gateway CPU µs/req | backend CPU µs/req | peak RSS MiB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.series {
		var non2xx, errs int64
		for _, x := range s.rounds {
			non2xx += x.non2xx
			errs += x.errors
		}
		be := fmt.Sprintf("%.0f", med(s.rounds, sample.backendPerReq))
		if s.gateway == "twisted" {
			be = "(in-process)"
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %d | %d | %.0f | %s | %.1f |\n", s.gateway,
			med(s.rounds, sample.rps), med(s.rounds, func(x sample) float64 { return ms(x.p50) }),
			med(s.rounds, func(x sample) float64 { return ms(x.p99) }), non2xx, errs,
			med(s.rounds, sample.cpuPerReq), be, float64(s.hwm)/(1<<20))
	}
	if base := r.find("portico"); base != nil {
		var parts []string
		for _, s := range r.series {
			if s == base {
				continue
			}
			parts = append(parts, fmt.Sprintf("vs %s: req/s **%.2fx**, CPU/req **%.2fx**, p99 **%.2fx**", s.gateway,
				ratio(base, s, sample.rps), ratio(base, s, sample.cpuPerReq),
				ratio(base, s, func(x sample) float64 { return ms(x.p99) })))
		}
		if len(parts) > 0 {
			b.WriteString("\nPortico " + strings.Join(parts, "; ") + ".\n")
		}
	}
	return b.String()
}

func (r *result) find(name string) *series {
	for _, s := range r.series {
		if s.gateway == name {
			return s
		}
	}
	return nil
}

// summary holds the ratios against the targets.
func summary(results []*result) string {
	var b strings.Builder
	b.WriteString("### Portico against the targets (medians of per-round ratios)\n\n")
	b.WriteString("| app | conns | req/s ÷ nginx | CPU/req ÷ nginx | p99 ÷ nginx | req/s ÷ uwsgi-http | req/s ÷ twisted |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		p := r.find("portico")
		if p == nil {
			continue
		}
		cell := func(other string, f func(sample) float64) string {
			o := r.find(other)
			if o == nil {
				return "-"
			}
			return fmt.Sprintf("%.2f", ratio(p, o, f))
		}
		p99 := func(x sample) float64 { return ms(x.p99) }
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", r.app, r.conns,
			cell("nginx", sample.rps), cell("nginx", sample.cpuPerReq), cell("nginx", p99),
			cell("uwsgi-http", sample.rps), cell("twisted", sample.rps))
	}
	b.WriteString("\nTargets: hello req/s ÷ nginx >= 1.15, CPU/req ÷ nginx <= 0.70, p99 ÷ nginx <= 1; flask req/s ÷ nginx >= 1.1 and ÷ twisted >= 3.\n")
	return b.String()
}

// ratio is the median over rounds of f(a)/f(b), round by round.
func ratio(a, b *series, f func(sample) float64) float64 {
	var rs []float64
	for i := range min(len(a.rounds), len(b.rounds)) {
		if d := f(b.rounds[i]); d != 0 {
			rs = append(rs, f(a.rounds[i])/d)
		}
	}
	return benchkit.Median(rs)
}

func med(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return benchkit.Median(v)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// machine describes where the numbers were taken.
func machine(portico string) string {
	var b strings.Builder
	b.WriteString("## Machine\n\n")
	cpu := "unknown"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(f), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "- CPUs: %d (%s), kernel %s\n", numCPU(), cpu, strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&b, "- %s\n", firstLine(cmdOut("nginx", "-v")))
	fmt.Fprintf(&b, "- uwsgi %s, %s\n", firstLine(cmdOut(*flagUWSGI, "--version")), firstLine(cmdOut(*flagPython, "--version")))
	fmt.Fprintf(&b, "- twisted %s, flask %s\n", firstLine(cmdOut(*flagPython, "-c", "import twisted; print(twisted.__version__)")),
		firstLine(cmdOut(*flagPython, "-c", "import importlib.metadata as m; print(m.version('flask'))")))
	fmt.Fprintf(&b, "- %s\n", firstLine(cmdOut("wrk", "-v")))
	fmt.Fprintf(&b, "- portico: %s (built with %s)\n", firstLine(cmdOut(portico, "version")), goVersion())
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func cmdOut(name string, args ...string) string {
	out, err := execOutput(name, args...)
	if err != nil && out == "" {
		return "unknown (" + err.Error() + ")"
	}
	return out
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func numCPU() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() }
