package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Output says what becomes of a launched process's stdout or stderr (Crossbar's guest
// `options.stdout`/`stderr`).
type Output int

const (
	// OutputLog logs every line (the default).
	OutputLog Output = iota
	// OutputDrop discards it: the stream is /dev/null.
	OutputDrop
	// OutputClose gives the process a pipe whose reading end is closed, as Twisted's
	// closeStdout does for Crossbar: a write fails with EPIPE (or SIGPIPE).
	OutputClose
)

// Readiness says when a launched process counts as started.
type Readiness int

const (
	// ReadyStarted: as soon as it has been forked (guest workers; Crossbar knows no more).
	ReadyStarted Readiness = iota
	// ReadyNotify: when it sends READY=1 over the sd_notify protocol to NOTIFY_SOCKET
	// (uWSGI's core/notify.c, Portico's component runner), and, when Command.Socket is set,
	// that socket accepts a connection.
	ReadyNotify
)

// Restart is the policy for a process that exits after it was ready.
type Restart int

const (
	// RestartNever leaves an exited process down (Crossbar's guest workers).
	RestartNever Restart = iota
	// RestartOnFailure restarts it when it exits with a status other than 0 or by a signal.
	RestartOnFailure
	// RestartAlways restarts it whatever its status (uWSGI).
	RestartAlways
)

// Command is one process to start and supervise: uWSGI, a component runner or a guest.
type Command struct {
	Name      string // label for logs, e.g. the config place
	ConfigKey string // config place named in errors ("workers[2]")
	Kind      string // what it is, for logs and errors: "uwsgi", "guest", "container"
	Path      string // the executable, absolute
	Args      []string
	Dir       string // working directory; "" is Portico's
	// Env is the child's whole environment; nil is Portico's own. NOTIFY_SOCKET is always
	// replaced: one inherited from systemd must not receive the child's READY=1.
	Env []string
	// StdinPipe gives the child a pipe as stdin (else /dev/null): Stdin is written to it,
	// then it is closed when CloseStdin is set, else kept open while the process runs, as
	// Crossbar's guest workers have it.
	StdinPipe  bool
	Stdin      []byte
	CloseStdin bool
	Stdout     Output
	Stderr     Output
	Ready      Readiness
	Socket     string // ReadyNotify: a unix socket that must also accept a connection
	NotifyPath string // ReadyNotify: the datagram socket the child notifies
	Restart    Restart
	// StopSignal asks the process group to stop (default SIGTERM); SIGKILL follows after
	// the stop timeout.
	StopSignal syscall.Signal
	// ExplainExit turns an exit before readiness into an error from the exit status and the
	// last lines of output; nil gives a generic message with those lines.
	ExplainExit func(status string, code int, lines []string) error
	// OnRestart, when set, is called after each restart by the restart policy (metrics).
	OnRestart func()
	// Timing bounds launches and restarts; zero fields take the defaults.
	Timing Timing
}

// Timing bounds one supervisor's launches and restarts (Command.Timing, Spec.Timing); a zero
// field takes its default. Each supervisor has its own, so that tests can shorten or
// lengthen them without touching other supervisors.
type Timing struct {
	// StartTimeout bounds one launch, from fork to ready, when the context has no earlier
	// deadline (default DefaultStartTimeout).
	StartTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay before a restart; it doubles after every
	// failed launch and resets once an instance stayed up for stableAfter.
	BackoffMin time.Duration
	BackoffMax time.Duration
}

// Timing defaults. Django or a large Flask app can take seconds to import.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 5 * time.Second
	stableAfter         = 10 * time.Second
)

// withDefaults fills the zero fields of t.
func (t Timing) withDefaults() Timing {
	if t.StartTimeout <= 0 {
		t.StartTimeout = DefaultStartTimeout
	}
	if t.BackoffMin <= 0 {
		t.BackoffMin = DefaultBackoffMin
	}
	if t.BackoffMax <= 0 {
		t.BackoffMax = DefaultBackoffMax
	}
	return t
}

// ErrStopped is returned by WaitReady and Start once Stop has been called.
var ErrStopped = errors.New("launch: supervisor stopped")

const ringLines = 200

// Supervisor runs one process and keeps it running, by its restart policy, until Stop.
type Supervisor struct {
	cmd Command
	log *slog.Logger
	out ring

	// uWSGI only (see New).
	spec   Spec
	plugin bool

	mu       sync.Mutex
	cur      *proc         // the running instance, nil between instances
	starting *proc         // the instance being started, until it is cur
	readyCh  chan struct{} // closed while ready; replaced by an open one when not
	started  bool
	stopping bool
	stopCh   chan struct{} // closed by Stop
	loopDone chan struct{} // closed when the supervise loop has ended
	exited   chan struct{} // closed when the process ended for good (restart policy)
	lastExit string        // exit status of the last instance
	nconn    *net.UnixConn
}

// proc is one launched instance.
type proc struct {
	pid     int
	began   time.Time
	done    chan struct{} // closed once it has been reaped
	waitErr error
	ready   chan struct{} // closed when READY=1 arrives
	once    sync.Once
	outDone chan struct{} // closed when the output pipe reached EOF
}

// NewProcess prepares the supervision of c; nothing runs until Start.
func NewProcess(c Command, log *slog.Logger) (*Supervisor, error) {
	if log == nil {
		log = slog.Default()
	}
	if c.Kind == "" {
		c.Kind = "process"
	}
	if c.Name == "" {
		c.Name = c.ConfigKey
	}
	if c.StopSignal == 0 {
		c.StopSignal = syscall.SIGTERM
	}
	c.Timing = c.Timing.withDefaults()
	if c.Ready == ReadyNotify && (c.NotifyPath == "" || !filepath.IsAbs(c.NotifyPath)) {
		return nil, fmt.Errorf("%s: the readiness socket path %q must be absolute", c.ConfigKey, c.NotifyPath)
	}
	return &Supervisor{
		cmd:     c,
		log:     log.With(c.Kind, c.Name),
		readyCh: make(chan struct{}),
		stopCh:  make(chan struct{}),
		exited:  make(chan struct{}),
	}, nil
}

// PID is the current instance's pid, 0 while none runs.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pid
}

// Exited is closed once the process has ended and its restart policy keeps it down.
func (s *Supervisor) Exited() <-chan struct{} { return s.exited }

// ExitStatus is the last instance's exit status ("exit status 1"), "" while none ended.
func (s *Supervisor) ExitStatus() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastExit
}

// Start launches the process and returns when it is ready, or with the first failure.
// After a successful Start the process is restarted by its policy until Stop.
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

	if s.cmd.Ready == ReadyNotify {
		dir := filepath.Dir(s.cmd.NotifyPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the runtime directory: %w", err)
		}
		os.Remove(s.cmd.NotifyPath)
		nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.cmd.NotifyPath, Net: "unixgram"})
		if err != nil {
			return fmt.Errorf("listening for %s readiness on %s: %w", s.cmd.Kind, s.cmd.NotifyPath, err)
		}
		os.Chmod(s.cmd.NotifyPath, 0o600)
		s.mu.Lock()
		s.nconn = nconn
		s.mu.Unlock()
		go s.readNotify(nconn)
	}

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

// WaitReady returns nil at once while the process is ready; during a restart it waits until
// the new instance is ready, ctx ends or Stop is called.
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
	case <-s.exited:
		return fmt.Errorf("%s %s has exited (%s) and is not restarted", s.cmd.Kind, s.cmd.Name, s.ExitStatus())
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s %s to become ready: %w", s.cmd.Kind, s.cmd.Name, ctx.Err())
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

// Stop sends the stop signal to the process group, waits up to timeout, then SIGKILLs the
// group. Calling it again is harmless.
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
	killGroup(p.pid, s.cmd.StopSignal)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		// Children normally exit before their parent; anything left in the group goes now.
		killGroup(p.pid, syscall.SIGKILL)
		return nil
	case <-t.C:
	}
	killGroup(p.pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s %s (pid %d) did not stop within %v of %v; killed its process group", s.cmd.Kind, s.cmd.Name, p.pid, timeout, s.cmd.StopSignal)
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
	if s.cmd.Socket != "" {
		os.Remove(s.cmd.Socket)
		if ps := s.PersistentSocket(); ps != "" {
			os.Remove(ps)
		}
	}
	if s.cmd.NotifyPath != "" {
		os.Remove(s.cmd.NotifyPath)
	}
}

// supervise waits for the running instance to end and relaunches it, by the restart policy,
// with capped backoff.
func (s *Supervisor) supervise(p *proc, done chan struct{}) {
	defer close(done)
	backoff := s.cmd.Timing.BackoffMin
	for {
		select {
		case <-p.done:
		case <-s.stopCh:
			return // Stop reaps p itself
		}
		s.setNotReady()
		killGroup(p.pid, syscall.SIGKILL) // orphaned children would hold sockets and pipes
		status := exitStatus(p.waitErr)
		s.mu.Lock()
		if s.cur == p {
			s.cur = nil
		}
		s.lastExit = status
		s.mu.Unlock()
		if s.isStopping() {
			return
		}
		failed := p.waitErr != nil
		if s.cmd.Restart == RestartNever || (s.cmd.Restart == RestartOnFailure && !failed) {
			if failed {
				s.log.Error(s.cmd.Kind+" exited; not restarted", "pid", p.pid, "status", status)
			} else {
				s.log.Info(s.cmd.Kind+" exited; not restarted", "pid", p.pid, "status", status)
			}
			close(s.exited)
			return
		}
		if time.Since(p.began) > stableAfter {
			backoff = s.cmd.Timing.BackoffMin
		}
		s.log.Error(s.cmd.Kind+" exited unexpectedly; restarting", "pid", p.pid, "status", status, "after", backoff)
		for {
			select {
			case <-time.After(backoff):
			case <-s.stopCh:
				return
			}
			backoff = min(backoff*2, s.cmd.Timing.BackoffMax)
			np, err := s.launch(context.Background())
			if err == nil {
				s.log.Info(s.cmd.Kind+" restarted", "pid", np.pid)
				if s.cmd.OnRestart != nil {
					s.cmd.OnRestart()
				}
				p = np
				break
			}
			if errors.Is(err, ErrStopped) {
				return
			}
			s.log.Error(s.cmd.Kind+" restart failed", "error", err, "retry_in", backoff)
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
	if s.spec.Persistent {
		if err := os.WriteFile(s.persistScript(), persistPy, 0o600); err != nil {
			return nil, fmt.Errorf("writing the app wrapper for the persistent socket: %w", err)
		}
	}
	if s.cmd.Socket != "" {
		os.Remove(s.cmd.Socket)
		if ps := s.PersistentSocket(); ps != "" {
			os.Remove(ps)
		}
	}
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
	if s.cmd.Ready == ReadyNotify {
		if err := s.waitStarted(ctx, p); err != nil {
			_ = s.stopProc(p, 2*time.Second)
			s.mu.Lock()
			if s.cur == p {
				s.cur = nil
			}
			s.mu.Unlock()
			return nil, err
		}
	}
	s.setReady(p)
	return p, nil
}

// outputFile opens what the child gets as stdout or stderr for mode o; shared is the log
// pipe's writing end (one pipe keeps stdout and stderr lines in order).
func outputFile(o Output, shared *os.File) (*os.File, error) {
	switch o {
	case OutputDrop:
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	case OutputClose:
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		r.Close()
		return w, nil
	}
	return shared, nil
}

// spawn starts the process on a dedicated, locked OS thread that stays alive until the
// process has been reaped: PR_SET_PDEATHSIG is tied to the thread that forked (prctl(2)),
// not to the process, and Go may otherwise retire that thread at any time. The child gets
// its own process group (Setpgid) so that stop signals reach it and its children, and a
// parent-death signal (SIGKILL) so that it dies with Portico even when Portico is SIGKILLed.
func (s *Supervisor) spawn() (*proc, error) {
	c := s.cmd
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating %s output pipe: %w", c.Kind, err)
	}
	var toClose []*os.File
	closeAll := func() {
		for _, f := range toClose {
			f.Close()
		}
	}
	toClose = append(toClose, pw)
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	notify := ""
	if c.Ready == ReadyNotify {
		notify = c.NotifyPath
	}
	cmd.Env = childEnv(env, notify, nil)
	for _, o := range []struct {
		mode Output
		dst  *io.Writer
	}{{c.Stdout, &cmd.Stdout}, {c.Stderr, &cmd.Stderr}} {
		f, err := outputFile(o.mode, pw)
		if err != nil {
			closeAll()
			pr.Close()
			return nil, fmt.Errorf("%s output: %w", c.Kind, err)
		}
		if f != pw {
			toClose = append(toClose, f)
		}
		*o.dst = f
	}
	var stdinW *os.File
	if c.StdinPipe {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			pr.Close()
			return nil, fmt.Errorf("%s stdin: %w", c.Kind, err)
		}
		cmd.Stdin = r
		toClose = append(toClose, r)
		stdinW = w
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{done: make(chan struct{}), ready: make(chan struct{}), outDone: make(chan struct{})}
	// The child may send READY=1 before this goroutine, on a busy machine, gets to publish
	// it as s.cur (the READY=1 was then lost, and the start timed out): readNotify gives it
	// to the starting instance.
	s.mu.Lock()
	s.starting = p
	s.mu.Unlock()
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			s.mu.Lock()
			s.starting = nil
			s.mu.Unlock()
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		p.began = time.Now()
		s.mu.Lock()
		s.cur, s.starting = p, nil
		s.mu.Unlock()
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	closeAll()
	if err != nil {
		pr.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("%s: starting %s: %w", c.ConfigKey, c.Path, err)
	}
	if stdinW != nil {
		go feedStdin(stdinW, c.Stdin, c.CloseStdin, p.done)
	}
	go s.pump(pr, p)
	return p, nil
}

// feedStdin writes data to the child's stdin, then closes it, at once when closeAfter is
// set, else when the child has ended (Crossbar keeps a guest's stdin open unless told).
func feedStdin(w *os.File, data []byte, closeAfter bool, done <-chan struct{}) {
	defer w.Close()
	if len(data) > 0 {
		if _, err := w.Write(data); err != nil {
			return
		}
	}
	if !closeAfter {
		<-done
	}
}

// Environ is the environment of a launched process, as Crossbar's create_process_env makes
// it: Portico's own (all of it when inheritAll, else only the names in inherit), then vars
// (KEY=VALUE), then PYTHONUNBUFFERED=1 unless one of those set it.
func Environ(inheritAll bool, inherit []string, vars []string) []string {
	env := append(inheritEnv(inheritAll, inherit), vars...)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PYTHONUNBUFFERED=") {
			return env
		}
	}
	return append(env, "PYTHONUNBUFFERED=1")
}

// inheritEnv is Portico's environment, all of it or only the names in inherit.
func inheritEnv(all bool, inherit []string) []string {
	env := os.Environ()
	if all {
		return env
	}
	out := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(inherit, name) {
			out = append(out, kv)
		}
	}
	return out
}

// childEnv is base plus extra, with NOTIFY_SOCKET pointing at the supervisor (a
// NOTIFY_SOCKET inherited from systemd must not receive the child's READY=1).
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

// maxLogLine bounds one logged line of output; the rest of a longer line is dropped and
// counted.
const maxLogLine = 16 << 10

// pump logs the process's output line by line and keeps the last lines for error reports. It
// reads until EOF whatever it is sent: a reader that stopped at an over-long line would leave
// the child writing into a closed pipe (SIGPIPE, then EPIPE on every log write, a uWSGI
// worker looping at full CPU). A line longer than maxLogLine is logged cut, with the number
// of bytes dropped.
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
				p := s.starting // a READY=1 while one starts is the starting one's
				if p == nil {
					p = s.cur
				}
				s.mu.Unlock()
				if p != nil {
					p.once.Do(func() { close(p.ready) })
				}
			}
		}
	}
}

// waitStarted waits for READY=1 and then, when a socket is named, for it to accept a
// connection.
func (s *Supervisor) waitStarted(ctx context.Context, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, s.cmd.Timing.StartTimeout)
	defer cancel()
	select {
	case <-p.ready:
	case <-p.done:
		return s.exitError(p)
	case <-s.stopCh:
		return ErrStopped
	case <-ctx.Done():
		return s.timeoutError(ctx, "READY=1")
	}
	if s.cmd.Socket == "" {
		return nil
	}
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		c, err := net.DialTimeout("unix", s.cmd.Socket, time.Second)
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
			return s.timeoutError(ctx, "socket "+s.cmd.Socket+" to accept ("+err.Error()+")")
		}
	}
}

func (s *Supervisor) timeoutError(ctx context.Context, what string) error {
	return fmt.Errorf("%s %s not ready: waited for %s: %w\n%s",
		s.cmd.Kind, s.cmd.Name, what, ctx.Err(), indent(s.out.tail(20)))
}

// exitError explains an exit before readiness.
func (s *Supervisor) exitError(p *proc) error {
	select {
	case <-p.outDone: // all output read (children may hold the pipe: bounded wait)
	case <-time.After(time.Second):
	}
	status := exitStatus(p.waitErr)
	lines := s.out.lines()
	if s.cmd.ExplainExit != nil {
		return s.cmd.ExplainExit(status, exitCode(p.waitErr), lines)
	}
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return fmt.Errorf("%s %s exited before it was ready (%s): %s %s\n%s",
		s.cmd.Kind, s.cmd.Name, status, s.cmd.Path, strings.Join(s.cmd.Args, " "), indent(lines))
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
