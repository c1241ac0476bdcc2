// Command portico is a high-throughput edge for Python web apps: it reads a Crossbar.io node
// configuration (or Portico's own TOML), serves `wsgi` paths over the uwsgi protocol (launching
// uwsgi itself when a path names only module and object), routes WAMP at `websocket` paths,
// and serves static files, redirects and JSON.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"portico/config"
	"portico/gateway"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "portico:", err)
		os.Exit(1)
	}
}

// exitCode ends the process with a status and no further message (it was already printed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "portico",
		Short:         "An edge for Python web apps: uwsgi protocol, WAMP router, static files",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)

	var cbdir, cfgFile, logLevel, logFormat string
	nodeFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&cbdir, "cbdir", "", "node directory (default: $PORTICO_DIR, else ./.crossbar if it exists, else .)")
		c.Flags().StringVar(&cfgFile, "config", "", "config file, relative to the node directory (default: first of config.toml, config.yaml, config.json)")
	}

	start := &cobra.Command{
		Use:   "start",
		Short: "Start the node: serve every configured transport",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logLevel, logFormat)
			if err != nil {
				return err
			}
			return runStart(log, stderr, cbdir, cfgFile)
		},
	}
	nodeFlags(start)
	start.Flags().StringVar(&logLevel, "loglevel", "info", "log level: debug, info, warn, error")
	start.Flags().StringVar(&logFormat, "logformat", "text", "log format: text or json")

	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the node configuration and list every problem",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, file, err := config.Locate(cbdir, cfgFile)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitCode(1)
			}
			node, err := config.Load(dir, file)
			if err != nil {
				printProblems(stderr, err)
				return exitCode(1)
			}
			for _, w := range node.Warnings {
				fmt.Fprintln(stderr, "warning: "+w.String())
			}
			fmt.Fprintf(stdout, "%s: ok (%s)\n", file, summary(node))
			return nil
		},
	}
	nodeFlags(check)

	var toml, force bool
	initCmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a working node: a Flask page at / and WAMP at /ws",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runInit(stdout, dir, toml, force)
		},
	}
	initCmd.Flags().BoolVar(&toml, "toml", false, "write Portico's native TOML config instead of Crossbar's JSON")
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprintf(stdout, "portico %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
	root.AddCommand(start, check, initCmd, versionCmd)
	return root
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--loglevel %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--logformat %q: want text or json", format)
}

func printProblems(w io.Writer, err error) {
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.String())
		}
		fmt.Fprintf(w, "%d problem(s)\n", len(ps))
		return
	}
	fmt.Fprintln(w, err)
}

func summary(n *config.Node) string {
	transports, paths := 0, 0
	var count func(m map[string]*config.Service)
	count = func(m map[string]*config.Service) {
		for _, s := range m {
			if s.Type == "path" {
				count(s.Paths)
				continue
			}
			paths++
		}
	}
	containers, guests, components := 0, 0, 0
	for _, w := range n.Workers {
		for _, t := range w.Transports {
			transports++
			count(t.Paths)
		}
		switch w.Type {
		case "container":
			containers++
		case "guest":
			guests++
		}
		components += len(w.Components)
	}
	s := fmt.Sprintf("%d transport(s), %d path service(s)", transports, paths)
	if containers+guests+components > 0 {
		s += fmt.Sprintf(", %d container(s), %d guest(s), %d component(s)", containers, guests, components)
	}
	return s
}

// shutdownGrace bounds how long in-flight requests may finish after SIGTERM/SIGINT.
const shutdownGrace = 30 * time.Second

func runStart(log *slog.Logger, stderr io.Writer, cbdir, cfgFile string) error {
	dir, file, err := config.Locate(cbdir, cfgFile)
	if err != nil {
		return err
	}
	node, err := config.Load(dir, file)
	if err != nil {
		printProblems(stderr, err)
		return exitCode(1)
	}
	logWarnings(log, node)
	inherited, err := inheritedSockets()
	if err != nil {
		return err
	}
	procs := setProcs(node)
	log.Info("starting", "version", buildVersion(), "config", file, "node", dir, "gomaxprocs", procs)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sd := notifier{log: log}
	sd.watchdog(ctx)
	g, err := gateway.New(node, log)
	if err != nil {
		return err
	}
	g.Inherit(inherited)
	startErr := make(chan error, 1)
	go func() { startErr <- g.Start(ctx) }()
	// Reloads run beside the signal loop, one at a time, once the node is ready: a uwsgi they
	// launch may take up to a minute to answer, and SIGTERM must not wait for it (Shutdown
	// abandons the reload). A SIGHUP during a reload asks for one more after it, which reads
	// the config again.
	hups := make(chan struct{}, 1)
	reloading := make(chan struct{})
	reloads := func() {
		defer close(reloading)
		for range hups {
			sd.reloading()
			if err := reload(log, stderr, g, cbdir, cfgFile); err != nil {
				sd.ready("reload refused, the running configuration keeps serving: " + err.Error())
			} else {
				sd.ready("serving, configuration reloaded")
			}
		}
	}
	defer func() {
		close(hups)
		if startErr == nil { // the reloads ran
			<-reloading
		}
	}()
	for {
		select {
		case err := <-startErr:
			if err != nil {
				log.Error("start failed", "error", err)
				sd.send("STATUS=start failed: " + err.Error())
				sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
				_ = g.Shutdown(sctx)
				scancel()
				return exitCode(1)
			}
			log.Info("ready")
			sd.ready("serving")
			startErr = nil
			go reloads()
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				select {
				case hups <- struct{}{}:
				default: // one is already asked for
				}
				continue
			}
			if sig == syscall.SIGUSR1 {
				// logrotate moved the access log files: open them again by name.
				if err := g.ReopenLogs(); err != nil {
					log.Error("reopening access logs", "error", err)
				} else {
					log.Info("access logs reopened")
				}
				continue
			}
			log.Info("stopping", "signal", sig.String())
			sd.stopping()
			cancel()
			sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := g.Shutdown(sctx)
			scancel()
			if err != nil {
				log.Warn("shutdown", "error", err)
			}
			log.Info("stopped")
			return nil
		}
	}
}

// setProcs sizes the Go scheduler. When the app servers run on this machine (a launched
// uwsgi or a unix-socket upstream), Portico takes half the CPUs and leaves the rest to them:
// on a 2-core machine, one P instead of two cut context switches per proxied request from
// about 2 to 0.3 and CPU per request by a fifth under wrk (contrib/bench). GOMAXPROCS in the
// environment wins.
func setProcs(node *config.Node) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	if !localApps(node) {
		return runtime.GOMAXPROCS(0)
	}
	n := max(1, runtime.NumCPU()/2)
	runtime.GOMAXPROCS(n)
	return n
}

func localApps(node *config.Node) bool {
	var walk func(map[string]*config.Service) bool
	walk = func(paths map[string]*config.Service) bool {
		for _, s := range paths {
			switch {
			case s.Type == "path" && walk(s.Paths):
				return true
			case s.Type == "wsgi":
				if len(s.WSGI.Upstreams) == 0 {
					return true
				}
				for _, u := range s.WSGI.Upstreams {
					if strings.HasPrefix(u, "unix:") {
						return true
					}
				}
			}
		}
		return false
	}
	for _, w := range node.Workers {
		for _, t := range w.Transports {
			if walk(t.Paths) {
				return true
			}
		}
	}
	return false
}

func reload(log *slog.Logger, stderr io.Writer, g *gateway.Gateway, cbdir, cfgFile string) error {
	dir, file, err := config.Locate(cbdir, cfgFile)
	if err == nil {
		var node *config.Node
		if node, err = config.Load(dir, file); err == nil {
			logWarnings(log, node)
			err = g.Reload(node)
		}
	}
	if err != nil {
		log.Error("reload refused, the running configuration keeps serving", "error", err)
		return err
	}
	log.Info("reloaded", "config", file)
	return nil
}

// logWarnings logs what the config asks that Portico serves, but perhaps not as meant.
func logWarnings(log *slog.Logger, node *config.Node) {
	for _, w := range node.Warnings {
		log.Warn("config", "problem", w.String())
	}
}

func runInit(stdout io.Writer, dir string, toml, force bool) error {
	files := config.InitFiles(toml)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if !force {
		for _, name := range names {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return fmt.Errorf("%s exists; use --force to overwrite", filepath.Join(dir, name))
			}
		}
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", p)
	}
	fmt.Fprintf(stdout, "start it with: cd %s && portico start\n", dir)
	return nil
}
