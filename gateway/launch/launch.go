// Package launch starts and supervises one uWSGI instance for one wsgi path that has no
// `upstream`: a private unix socket, readiness, output into the log, restarts with capped
// backoff, and a stop that leaves no process behind.
//
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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	RuntimeDir  string // directory for the private 0600 socket; created 0700 if missing
	ConfigKey   string // config place named in errors ("workers[0].transports[0].paths./")
}

// Timing knobs; variables so that tests can shorten them.
var (
	// StartTimeout bounds one launch, from fork to ready, when the context has no earlier
	// deadline. Django or a large Flask app can take seconds to import.
	StartTimeout = 60 * time.Second
	// BackoffMin and BackoffMax bound the delay before a restart; it doubles after every
	// failed launch and resets once an instance stayed up for stableAfter.
	BackoffMin  = 100 * time.Millisecond
	BackoffMax  = 5 * time.Second
	stableAfter = 10 * time.Second
)

// ErrStopped is returned by WaitReady and Start once Stop has been called.
var ErrStopped = errors.New("launch: uwsgi supervisor stopped")

const (
	exitNeedApp = 22 // UWSGI_FAILED_APP_CODE: --need-app found no app
	ringLines   = 200
)

// Supervisor runs one uWSGI and keeps it running until Stop.
type Supervisor struct {
	spec   Spec
	log    *slog.Logger
	bin    string
	plugin bool
	sock   string
	notify string
	args   []string
	out    ring

	mu       sync.Mutex
	cur      *proc         // the running instance, nil between instances
	readyCh  chan struct{} // closed while ready; replaced by an open one when not
	started  bool
	stopping bool
	stopCh   chan struct{} // closed by Stop
	loopDone chan struct{} // closed when the supervise loop has ended
	nconn    *net.UnixConn
}

// proc is one launched uWSGI master.
type proc struct {
	pid     int
	began   time.Time
	done    chan struct{} // closed once the master has been reaped
	waitErr error
	ready   chan struct{} // closed when READY=1 arrives
	once    sync.Once
	outDone chan struct{} // closed when the output pipe reached EOF
}

// New checks the spec, finds the binary and whether it needs the python3 plugin. Errors name
// the config key and the Debian packages to install.
func New(spec Spec, log *slog.Logger) (*Supervisor, error) {
	if log == nil {
		log = slog.Default()
	}
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
	s := &Supervisor{
		spec:    spec,
		log:     log.With("uwsgi", spec.Name),
		bin:     bin,
		plugin:  plugin,
		sock:    filepath.Join(spec.RuntimeDir, base+".sock"),
		notify:  filepath.Join(spec.RuntimeDir, base+".notify"),
		readyCh: make(chan struct{}),
		stopCh:  make(chan struct{}),
	}
	// sun_path is 108 bytes including the NUL (unix(7)); Debian's uWSGI 2.0.21 refuses
	// socket paths over 102 bytes with "invalid socket name" (measured).
	if len(s.sock) > 102 || len(s.notify) > 107 {
		return nil, fmt.Errorf("%s: runtime directory %q is too long for the uwsgi socket path %s (%d bytes, uwsgi accepts at most 102)",
			key, spec.RuntimeDir, s.sock, len(s.sock))
	}
	s.args = s.buildArgs()
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
		"--socket", s.sock, "--chmod-socket=600",
		"--module", sp.Module+":"+sp.Object)
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

// Args is the uWSGI command line (without the binary).
func (s *Supervisor) Args() []string { return append([]string(nil), s.args...) }

// Binary is the absolute path of the uWSGI binary.
func (s *Supervisor) Binary() string { return s.bin }

// Upstream is the socket address in config form: "unix:/abs/path.sock".
func (s *Supervisor) Upstream() string { return "unix:" + s.sock }

// PID is the current uWSGI master's pid, 0 while none runs.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pid
}

// Start launches uWSGI and returns when it is ready, or with the first failure: an app that
// cannot be imported gives an error with the Python traceback and the search path. After a
// successful Start the instance is restarted whenever it dies, until Stop.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("launch: Start called twice")
	}
	if s.stopping {
		s.mu.Unlock()
		return ErrStopped
	}
	s.started = true
	s.mu.Unlock()

	if err := os.MkdirAll(s.spec.RuntimeDir, 0o700); err != nil {
		return fmt.Errorf("creating the uwsgi runtime directory: %w", err)
	}
	os.Remove(s.notify)
	nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.notify, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("listening for uwsgi readiness on %s: %w", s.notify, err)
	}
	os.Chmod(s.notify, 0o600)
	s.mu.Lock()
	s.nconn = nconn
	s.mu.Unlock()
	go s.readNotify(nconn)

	p, err := s.launch(ctx)
	if err != nil {
		s.teardown()
		return err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.loopDone = done
	s.mu.Unlock()
	go s.supervise(p, done)
	return nil
}

// WaitReady returns nil at once while uWSGI is ready; during a restart it waits until the
// new instance is ready, ctx ends or Stop is called.
func (s *Supervisor) WaitReady(ctx context.Context) error {
	s.mu.Lock()
	ch, stopped := s.readyCh, s.stopping
	s.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-s.stopCh:
		return ErrStopped
	case <-ctx.Done():
		return fmt.Errorf("waiting for uwsgi %s to become ready: %w", s.spec.Name, ctx.Err())
	}
}

func (s *Supervisor) setReady(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = p
	select {
	case <-s.readyCh:
	default:
		close(s.readyCh)
	}
}

func (s *Supervisor) setNotReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.readyCh:
		s.readyCh = make(chan struct{})
	default:
	}
}

// Stop sends SIGINT to uWSGI's process group, waits up to timeout, then SIGKILLs the group;
// the socket is removed. Calling it again is harmless.
func (s *Supervisor) Stop(timeout time.Duration) error {
	s.mu.Lock()
	if s.stopping {
		loopDone := s.loopDone
		s.mu.Unlock()
		if loopDone != nil {
			<-loopDone
		}
		return nil
	}
	s.stopping = true
	close(s.stopCh)
	p := s.cur
	loopDone := s.loopDone
	s.mu.Unlock()

	var err error
	if p != nil {
		err = s.stopProc(p, timeout)
	}
	if loopDone != nil {
		<-loopDone
	}
	s.teardown()
	return err
}

func (s *Supervisor) stopProc(p *proc, timeout time.Duration) error {
	select {
	case <-p.done:
		killGroup(p.pid, syscall.SIGKILL)
		return nil
	default:
	}
	killGroup(p.pid, syscall.SIGINT)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		// Workers normally exit before the master; anything left in the group goes now.
		killGroup(p.pid, syscall.SIGKILL)
		return nil
	case <-t.C:
	}
	killGroup(p.pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("uwsgi %s (pid %d) did not stop within %v of SIGINT; killed its process group", s.spec.Name, p.pid, timeout)
}

func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

func (s *Supervisor) teardown() {
	s.mu.Lock()
	if s.nconn != nil {
		s.nconn.Close()
		s.nconn = nil
	}
	s.cur = nil
	s.mu.Unlock()
	os.Remove(s.sock)
	os.Remove(s.notify)
}

// supervise waits for the running instance to die and relaunches it with capped backoff.
func (s *Supervisor) supervise(p *proc, done chan struct{}) {
	defer close(done)
	backoff := BackoffMin
	for {
		select {
		case <-p.done:
		case <-s.stopCh:
			return // Stop reaps p itself
		}
		s.setNotReady()
		killGroup(p.pid, syscall.SIGKILL) // orphaned workers would hold the socket
		s.mu.Lock()
		if s.cur == p {
			s.cur = nil
		}
		s.mu.Unlock()
		if s.isStopping() {
			return
		}
		if time.Since(p.began) > stableAfter {
			backoff = BackoffMin
		}
		s.log.Error("uwsgi exited unexpectedly; restarting", "pid", p.pid, "status", exitStatus(p.waitErr), "after", backoff)
		for {
			select {
			case <-time.After(backoff):
			case <-s.stopCh:
				return
			}
			backoff = min(backoff*2, BackoffMax)
			np, err := s.launch(context.Background())
			if err == nil {
				s.log.Info("uwsgi restarted", "pid", np.pid)
				p = np
				break
			}
			if errors.Is(err, ErrStopped) {
				return
			}
			s.log.Error("uwsgi restart failed", "error", err, "retry_in", backoff)
		}
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// launch forks one instance and waits until it is ready or has failed.
func (s *Supervisor) launch(ctx context.Context) (*proc, error) {
	os.Remove(s.sock)
	s.out.reset()
	p, err := s.spawn()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = s.stopProc(p, time.Second)
		return nil, ErrStopped
	}
	s.mu.Unlock()
	if err := s.waitStarted(ctx, p); err != nil {
		_ = s.stopProc(p, 2*time.Second)
		s.mu.Lock()
		if s.cur == p {
			s.cur = nil
		}
		s.mu.Unlock()
		return nil, err
	}
	s.setReady(p)
	return p, nil
}

// spawn starts the master on a dedicated, locked OS thread that stays alive until the
// master has been reaped: PR_SET_PDEATHSIG is tied to the thread that forked (prctl(2)),
// not to the process, and Go may otherwise retire that thread at any time.
func (s *Supervisor) spawn() (*proc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating uwsgi output pipe: %w", err)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = childEnv(s.baseEnv(), s.notify, s.spec.Env)
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe keeps stdout and stderr lines in order
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{done: make(chan struct{}), ready: make(chan struct{}), outDone: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		p.began = time.Now()
		s.mu.Lock()
		s.cur = p // before READY=1 can arrive
		s.mu.Unlock()
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("starting %s: %w", s.bin, err)
	}
	go s.pump(pr, p)
	return p, nil
}

// baseEnv is the part of Portico's environment the child inherits.
func (s *Supervisor) baseEnv() []string {
	env := os.Environ()
	if !s.spec.RestrictEnv {
		return env
	}
	out := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(s.spec.Inherit, name) {
			out = append(out, kv)
		}
	}
	return out
}

// childEnv is Portico's environment plus the spec's, with NOTIFY_SOCKET pointing at the
// supervisor (a NOTIFY_SOCKET inherited from systemd must not receive uWSGI's READY=1).
func childEnv(base []string, notify string, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra)+1)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	if notify == "" {
		return env
	}
	return append(env, "NOTIFY_SOCKET="+notify)
}

// maxLogLine bounds one logged line of uWSGI's output; the rest of a longer line is dropped
// and counted.
const maxLogLine = 16 << 10

// pump logs uWSGI's output line by line and keeps the last lines for error reports. It reads
// until EOF whatever it is sent: a reader that stopped at an over-long line would leave uWSGI
// writing into a closed pipe (SIGPIPE, then EPIPE on every log write, a worker looping at full
// CPU). A line longer than maxLogLine is logged cut, with the number of bytes dropped.
func (s *Supervisor) pump(r io.ReadCloser, p *proc) {
	defer close(p.outDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) == 0 && err != nil {
			return // EOF, or the pipe's read end failed: nothing more will come
		}
		line := strings.TrimRight(string(chunk), "\r\n")
		dropped := 0
		for err == bufio.ErrBufferFull { // the line goes on past the buffer: skip the rest
			chunk, err = br.ReadSlice('\n')
			dropped += len(bytes.TrimRight(chunk, "\r\n"))
		}
		s.out.add(line)
		if dropped > 0 {
			s.log.Info(line, "truncated", dropped)
		} else {
			s.log.Info(line)
		}
	}
}

func (s *Supervisor) readNotify(c *net.UnixConn) {
	buf := make([]byte, 4096)
	for {
		n, _, err := c.ReadFromUnix(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" {
				s.mu.Lock()
				p := s.cur
				s.mu.Unlock()
				if p != nil {
					p.once.Do(func() { close(p.ready) })
				}
			}
		}
	}
}

// waitStarted waits for READY=1 and then for the socket to accept a connection.
func (s *Supervisor) waitStarted(ctx context.Context, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	select {
	case <-p.ready:
	case <-p.done:
		return s.exitError(p)
	case <-s.stopCh:
		return ErrStopped
	case <-ctx.Done():
		return s.timeoutError(ctx, "the app to load (no READY=1 from uwsgi)")
	}
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		c, err := net.DialTimeout("unix", s.sock, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-time.After(delay):
		case <-p.done:
			return s.exitError(p)
		case <-s.stopCh:
			return ErrStopped
		case <-ctx.Done():
			return s.timeoutError(ctx, "socket "+s.sock+" to accept ("+err.Error()+")")
		}
	}
}

func (s *Supervisor) timeoutError(ctx context.Context, what string) error {
	return fmt.Errorf("uwsgi for %s:%s not ready: waited for %s: %w\n%s",
		s.spec.Module, s.spec.Object, what, ctx.Err(), indent(s.out.tail(20)))
}

// exitError explains an exit before readiness. For exit status 22 (--need-app) it shows the
// Python traceback and the search path that was given to uWSGI.
func (s *Supervisor) exitError(p *proc) error {
	select {
	case <-p.outDone: // all output read (workers may hold the pipe: bounded wait)
	case <-time.After(time.Second):
	}
	status := exitStatus(p.waitErr)
	lines := s.out.lines()
	if code := exitCode(p.waitErr); code == exitNeedApp {
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
		s.spec.Module, s.spec.Object, status, s.bin, strings.Join(s.args, " "), indent(lines))
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
	script := strings.TrimSuffix(s.sock, ".sock") + "-syspath.py"
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
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = childEnv(s.baseEnv(), "", s.spec.Env)
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
	return nil, fmt.Errorf("no sys.path in the output of %s %s", s.bin, strings.Join(args, " "))
}

func indent(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("    ")
		b.WriteString(l)
	}
	return b.String()
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return err.Error()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// ring keeps the last ringLines lines of output.
type ring struct {
	mu   sync.Mutex
	buf  []string
	next int
	full bool
}

func (r *ring) add(line string) {
	if len(line) > 2048 {
		line = line[:2048] + "..."
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buf == nil {
		r.buf = make([]string, ringLines)
	}
	r.buf[r.next] = line
	r.next = (r.next + 1) % ringLines
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) reset() {
	r.mu.Lock()
	r.next, r.full = 0, false
	r.mu.Unlock()
}

func (r *ring) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]string(nil), r.buf[:r.next]...)
	}
	return append(append([]string(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

func (r *ring) tail(n int) []string {
	l := r.lines()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return l
}
