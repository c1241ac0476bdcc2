// Package launch is the one supervisor of every process Portico starts (proc.go): a Command
// with readiness (at once, or READY=1 over the sd_notify protocol), output into the log,
// a restart policy with capped backoff, and a stop by process group that leaves no process
// behind, even when Portico is SIGKILLed. uWSGI (this file), the component runner of
// container workers and router components (runner.py) and guest workers are such commands.
//
// One uWSGI instance serves one wsgi path that has no `upstream`, on a private unix socket.
// Command line (see Supervisor.Args for the exact list):
//
//	uwsgi [--plugin python3] --master --need-app --strict --socket <runtime>/<name>.sock
//	  --chmod-socket=600 --module module:object [--pythonpath P]... [--chdir D]
//	  --processes N --threads T --enable-threads --die-on-term --no-orphans --vacuum
//	  --disable-logging [extra args]
//
// Choices, with the reasons:
//   - No --lazy-apps: the master imports the app once before forking the workers, so a
//     broken app fails the whole start at once (--need-app exits 22, uWSGI docs "Things to
//     know") and readiness below means "the app imported". Apps that open connections or
//     threads at import time and are not fork-safe can add "--lazy-apps" in uwsgi_args;
//     readiness then only means the master is up.
//   - Readiness is two facts: uWSGI sends READY=1 over the sd_notify protocol (NOTIFY_SOCKET,
//     core/notify.c) once the master has loaded the app, and the socket accepts a connection.
//     The socket alone is not enough: uWSGI binds it before importing the app, so it accepts
//     connections for as long as a slow import takes, and then exits 22 if it fails (seen
//     with Debian's uWSGI 2.0.21).
//   - --plugin python3 only when the binary has no Python built in: Debian's split build
//     (uwsgi-core + uwsgi-plugin-python3) needs it, pip's monolithic build does not. Found by
//     asking the binary itself (--plugins-list), cached per binary.
//   - --disable-logging: Portico logs requests itself; uWSGI's per-request lines would
//     double the log volume through a pipe. Errors and tracebacks are still logged.
//   - Signals: SIGINT makes a master shut down; SIGTERM would make it reload (uWSGI docs,
//     "Signals for controlling uWSGI"), so it is never sent. --die-on-term is kept so that a
//     SIGTERM from elsewhere (an init system, a user) stops it instead of reloading.
//   - The child gets its own process group (Setpgid) so that stop signals reach the master
//     and its workers, and a parent-death signal (Pdeathsig SIGKILL) so that it dies with
//     Portico even when Portico is SIGKILLed; --no-orphans takes the workers down with the
//     master. Pdeathsig fires when the creating OS thread exits, so the fork happens on a
//     locked thread that stays alive until the child has been reaped.
package launch

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec describes one uWSGI instance.
type Spec struct {
	Name       string // label for logs, e.g. the service Place
	Binary     string // default "uwsgi"
	Module     string
	Object     string // default "application" (the WSGI convention)
	PythonPath []string
	Chdir      string
	Processes  int      // default 1
	Threads    int      // default 1
	Env        []string // extra KEY=VALUE for the child (added to Portico's env)
	// RestrictEnv limits what the child inherits from Portico's environment to the names in
	// Inherit (Crossbar's worker `options.env.inherit` as false or a list); Env is added.
	RestrictEnv bool
	Inherit     []string
	ExtraArgs   []string
	// Persistent adds a second socket in uWSGI's persistent uwsgi protocol (--puwsgi-socket,
	// proto/puwsgi.c): a connection there carries one request after another, bodyless ones
	// only (uWSGI reads no request body on it). The plain socket stays for everything else.
	Persistent bool
	RuntimeDir string // directory for the private 0600 socket; created 0700 if missing
	ConfigKey  string // config place named in errors ("workers[0].transports[0].paths./")
	// OnRestart, when set, is called after each restart of the uwsgi by its supervisor.
	OnRestart func()
	// Timing bounds launches and restarts; zero fields take the defaults.
	Timing Timing
}

const exitNeedApp = 22 // UWSGI_FAILED_APP_CODE: --need-app found no app

// New checks a uWSGI spec, finds the binary and whether it needs the python3 plugin, and
// prepares its supervision. Errors name the config key and the Debian packages to install.
func New(spec Spec, log *slog.Logger) (*Supervisor, error) {
	if spec.Binary == "" {
		spec.Binary = "uwsgi"
	}
	if spec.Object == "" {
		spec.Object = "application"
	}
	spec.Processes = max(spec.Processes, 1)
	spec.Threads = max(spec.Threads, 1)
	if spec.Name == "" {
		spec.Name = spec.ConfigKey
	}
	key := spec.ConfigKey
	if key == "" {
		key = spec.Name
	}
	if spec.Module == "" {
		return nil, fmt.Errorf("%s: no WSGI module to launch uwsgi with", key)
	}
	if spec.RuntimeDir == "" || !filepath.IsAbs(spec.RuntimeDir) {
		return nil, fmt.Errorf("%s: runtime directory %q for the uwsgi socket must be an absolute path", key, spec.RuntimeDir)
	}
	bin, err := exec.LookPath(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("%s.uwsgi: uwsgi binary %q not found (%v); install the Debian packages uwsgi-core and uwsgi-plugin-python3 (apt-get install uwsgi-core uwsgi-plugin-python3) or set %s.uwsgi to the binary's path",
			key, spec.Binary, err, key)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, fmt.Errorf("%s.uwsgi: %w", key, err)
	}
	plugin, err := needsPlugin(bin)
	if err != nil {
		return nil, fmt.Errorf("%s.uwsgi: %w", key, err)
	}
	base := socketBase(spec.Name)
	sock := filepath.Join(spec.RuntimeDir, base+".sock")
	notify := filepath.Join(spec.RuntimeDir, base+".notify")
	// sun_path is 108 bytes including the NUL (unix(7)); Debian's uWSGI 2.0.21 refuses
	// socket paths over 102 bytes with "invalid socket name" (measured).
	if len(sock)+2 > 102 || len(notify) > 107 { // +2: the persistent socket's "-p"
		return nil, fmt.Errorf("%s: runtime directory %q is too long for the uwsgi socket path %s (%d bytes, uwsgi accepts at most 102)",
			key, spec.RuntimeDir, sock, len(sock))
	}
	env := inheritEnv(!spec.RestrictEnv, spec.Inherit)
	c := Command{
		Name:       spec.Name,
		ConfigKey:  key,
		Kind:       "uwsgi",
		Path:       bin,
		Env:        append(env, spec.Env...),
		Ready:      ReadyNotify,
		Socket:     sock,
		NotifyPath: notify,
		Restart:    RestartAlways,
		// SIGINT makes a master shut down; SIGTERM would make it reload.
		StopSignal: syscall.SIGINT,
		OnRestart:  spec.OnRestart,
		Timing:     spec.Timing,
	}
	s, err := NewProcess(c, log)
	if err != nil {
		return nil, err
	}
	s.spec, s.plugin = spec, plugin
	s.cmd.Args = s.buildArgs()
	s.cmd.ExplainExit = s.explainExit
	return s, nil
}

// socketBase makes a short file name from a config place such as
// "workers[0].transports[0].paths./": the readable part plus a hash that keeps different
// places apart after sanitising.
func socketBase(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	readable := b.String()
	if len(readable) > 16 {
		readable = readable[len(readable)-16:]
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("uwsgi-%s-%08x", strings.Trim(readable, "._-"), h.Sum32())
}

func (s *Supervisor) buildArgs() []string {
	sp := s.spec
	var a []string
	if s.plugin {
		a = append(a, "--plugin", "python3")
	}
	a = append(a, "--master", "--need-app", "--strict",
		"--socket", s.cmd.Socket)
	if sp.Persistent {
		// The app is loaded through persist.py, which frames responses without a length.
		a = append(a, "--puwsgi-socket", s.PersistentSocket(), "--chmod-socket=600",
			"--wsgi-file", s.persistScript(), "--env", "PORTICO_WSGI_APP="+sp.Module+":"+sp.Object)
	} else {
		a = append(a, "--chmod-socket=600", "--module", sp.Module+":"+sp.Object)
	}
	for _, p := range sp.PythonPath {
		a = append(a, "--pythonpath", p)
	}
	if sp.Chdir != "" {
		a = append(a, "--chdir", sp.Chdir)
	}
	a = append(a, "--processes", strconv.Itoa(sp.Processes), "--threads", strconv.Itoa(sp.Threads),
		"--enable-threads", "--die-on-term", "--no-orphans", "--vacuum", "--disable-logging")
	return append(a, sp.ExtraArgs...)
}

// Args is the command line (without the binary).
func (s *Supervisor) Args() []string { return append([]string(nil), s.cmd.Args...) }

// Binary is the absolute path of the binary.
func (s *Supervisor) Binary() string { return s.cmd.Path }

// Upstream is the uWSGI socket address in config form: "unix:/abs/path.sock".
func (s *Supervisor) Upstream() string { return "unix:" + s.cmd.Socket }

// PersistentSocket is the path of the persistent uwsgi socket (Spec.Persistent), next to the
// plain one; "" when there is none.
func (s *Supervisor) PersistentSocket() string {
	if !s.spec.Persistent {
		return ""
	}
	return strings.TrimSuffix(s.cmd.Socket, ".sock") + "-p.sock"
}

func (s *Supervisor) persistScript() string {
	return strings.TrimSuffix(s.cmd.Socket, ".sock") + "-persist.py"
}

// persistPy wraps the app of a uWSGI with a persistent socket: see its header.
//
//go:embed persist.py
var persistPy []byte

// Workers is how many requests the launched uWSGI serves at once (processes x threads).
func (s *Supervisor) Workers() int { return s.spec.Processes * s.spec.Threads }

// explainExit explains a uWSGI exit before readiness. For exit status 22 (--need-app) it
// shows the Python traceback and the search path that was given to uWSGI.
func (s *Supervisor) explainExit(status string, code int, lines []string) error {
	if code == exitNeedApp {
		tb := lines
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.HasPrefix(lines[i], "Traceback (most recent call last)") {
				tb = lines[i:]
				break
			}
		}
		if len(tb) > 60 {
			tb = tb[len(tb)-60:]
		}
		return fmt.Errorf("uwsgi could not load the WSGI app %s:%s (%s; --need-app)\nPython search path: %s\n%s",
			s.spec.Module, s.spec.Object, status, s.searchPath(), indent(tb))
	}
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return fmt.Errorf("uwsgi for %s:%s exited before it was ready (%s): %s %s\n%s",
		s.spec.Module, s.spec.Object, status, s.cmd.Path, strings.Join(s.cmd.Args, " "), indent(lines))
}

// searchPath is sys.path as uWSGI's embedded Python sees it with the same --pythonpath,
// --chdir and environment (uwsgi --pyrun of a two-line script, about 40 ms, run only after
// a failed import), else the configured entries.
func (s *Supervisor) searchPath() string {
	sp, err := s.probeSysPath()
	if err == nil {
		wd := s.spec.Chdir
		if wd == "" {
			wd, _ = os.Getwd()
		}
		for i, e := range sp {
			if e == "." || e == "" {
				sp[i] = e + " (" + wd + ")"
			}
		}
		return strings.Join(sp, ", ")
	}
	s.log.Debug("sys.path probe failed", "error", err)
	parts := append([]string(nil), s.spec.PythonPath...)
	if s.spec.Chdir != "" {
		parts = append(parts, s.spec.Chdir+" (--chdir, the working directory)")
	}
	if len(parts) == 0 {
		return "(no pythonpath given; uwsgi uses the working directory and the interpreter's default sys.path)"
	}
	return strings.Join(parts, ", ") + ", then the interpreter's default sys.path"
}

func (s *Supervisor) probeSysPath() ([]string, error) {
	script := strings.TrimSuffix(s.cmd.Socket, ".sock") + "-syspath.py"
	const marker = "PORTICO_SYSPATH="
	src := "import json, sys\nprint(" + strconv.Quote(marker) + " + json.dumps(sys.path), flush=True)\n"
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(script)
	var args []string
	if s.plugin {
		args = append(args, "--plugin", "python3")
	}
	for _, p := range s.spec.PythonPath {
		args = append(args, "--pythonpath", p)
	}
	if s.spec.Chdir != "" {
		args = append(args, "--chdir", s.spec.Chdir)
	}
	args = append(args, "--pyrun", script)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cmd.Path, args...)
	cmd.Env = childEnv(s.cmd.Env, "", nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, _ := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, marker); ok {
			var sp []string
			if err := json.Unmarshal([]byte(v), &sp); err != nil {
				return nil, err
			}
			// --pyrun puts the script's own directory first; the app does not see it.
			return slices.DeleteFunc(sp, func(e string) bool { return e == filepath.Dir(script) }), nil
		}
	}
	return nil, fmt.Errorf("no sys.path in the output of %s %s", s.cmd.Path, strings.Join(args, " "))
}
