package launch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

func newProc(t *testing.T, c Command) *Supervisor {
	t.Helper()
	if c.Name == "" {
		c.Name, c.ConfigKey, c.Kind = "workers[1]", "workers[1]", "guest"
	}
	s, err := NewProcess(c, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(5 * time.Second) })
	return s
}

// TestProcessStdinRestartStop: a guest reads the JSON written to its stdin (then closed),
// is restarted on failure with the same input, and Stop takes down its whole group.
func TestProcessStdinRestartStop(t *testing.T) {
	dir := t.TempDir()
	script := `n=$(ls "$1" | wc -l); cat > "$1/stdin.$n"; sleep 300 & echo child $!; wait`
	s := newProc(t, Command{Path: "/bin/sh", Args: []string{"-c", script, "sh", dir},
		StdinPipe: true, Stdin: []byte(`{"a":1}`), CloseStdin: true, Restart: RestartOnFailure,
		Env: Environ(true, nil, []string{"X=1"}), Timing: Timing{BackoffMin: 10 * time.Millisecond}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	read := func(name string) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != `{"a":1}` {
			return fmt.Errorf("%s = %q, %v", name, b, err)
		}
		return nil
	}
	testkit.CheckFor(t, 0, func() error { return read("stdin.0") })
	first := s.PID()
	syscall.Kill(first, syscall.SIGKILL) // a failure: restarted
	testkit.CheckFor(t, 0, func() error { return read("stdin.1") })
	pid := s.PID()
	if pid == 0 || pid == first {
		t.Fatalf("pid after restart %d (first %d)", pid, first)
	}
	waitGroupEmpty(t, first)
	testkit.WaitFor(t, 0, "the sleep child", func() bool { return len(groupMembers(pid)) >= 2 })
	if err := s.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Stop has signalled the whole group (SIGKILL to what the shell left); the kernel ends
	// the sleep child on its own schedule.
	waitGroupEmpty(t, pid)
}

// TestProcessNoRestartOnSuccess: RestartOnFailure leaves a process that exited 0 down, and
// Exited says so.
func TestProcessNoRestartOnSuccess(t *testing.T) {
	s := newProc(t, Command{Path: "/bin/sh", Args: []string{"-c", "echo bye"}, Restart: RestartOnFailure})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Exited():
	case <-time.After(time.Minute):
		t.Fatal("not exited")
	}
	if st := s.ExitStatus(); st != "exit status 0" {
		t.Fatalf("status %q", st)
	}
	if err := s.WaitReady(context.Background()); err == nil || !strings.Contains(err.Error(), "not restarted") {
		t.Fatalf("WaitReady = %v", err)
	}
}

// TestProcessOutputClose: stdout "close" gives the process a pipe without a reader, as
// Crossbar's closeStdout does: its write fails.
func TestProcessOutputClose(t *testing.T) {
	s := newProc(t, Command{Path: "/bin/sh", Args: []string{"-c", "trap '' PIPE; echo x || echo write-failed >&2"},
		Stdout: OutputClose})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the exit", func() bool {
		select {
		case <-s.Exited():
			return true
		default:
			return false
		}
	})
	testkit.WaitFor(t, 0, "the failed write reported", func() bool {
		return strings.Contains(strings.Join(s.out.lines(), "\n"), "write-failed")
	})
}

// TestProcessNotifyExit: a process that must notify readiness and exits first fails Start
// with its output.
func TestProcessNotifyExit(t *testing.T) {
	s := newProc(t, Command{Path: "/bin/sh", Args: []string{"-c", "echo broken config >&2; exit 3"},
		Ready: ReadyNotify, NotifyPath: filepath.Join(t.TempDir(), "n.sock")})
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "broken config") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Start = %v", err)
	}
}
