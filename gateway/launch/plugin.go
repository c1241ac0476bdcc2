package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Whether a uWSGI binary needs "--plugin python3" is asked of the binary itself, once per
// binary (path, size and mtime): `uwsgi --plugins-list` prints the request plugins it has
// loaded, and a build with Python compiled in (pip's monolithic build) lists "0: python"
// (modifier1 0 is WSGI). Debian's uwsgi-core lists none; `--need-plugin python3
// --plugins-list` then shows whether uwsgi-plugin-python3 is installed (--need-plugin makes a
// missing plugin fatal, where --plugin only warns). Both probes exit at once with "The
// -s/--socket option is missing" after printing the list; stdin is /dev/null so that uWSGI
// does not take it for an inherited socket.

type pluginKey struct {
	path  string
	size  int64
	mtime time.Time
}

var pluginCache sync.Map // pluginKey -> bool (needs --plugin python3)

func needsPlugin(bin string) (bool, error) {
	st, err := os.Stat(bin)
	if err != nil {
		return false, fmt.Errorf("uwsgi binary: %w", err)
	}
	key := pluginKey{bin, st.Size(), st.ModTime()}
	if v, ok := pluginCache.Load(key); ok {
		return v.(bool), nil
	}
	out, err := probe(bin, "--plugins-list")
	if err != nil {
		return false, err
	}
	if hasPythonPlugin(out) {
		pluginCache.Store(key, false)
		return false, nil
	}
	out, err = probe(bin, "--need-plugin", "python3", "--plugins-list")
	if err != nil {
		return false, err
	}
	if hasPythonPlugin(out) {
		pluginCache.Store(key, true)
		return true, nil
	}
	return false, fmt.Errorf("uwsgi at %s has no Python built in and cannot load the python3 plugin (%s); install the Debian package uwsgi-plugin-python3 (apt-get install uwsgi-plugin-python3)",
		bin, lastLine(out))
}

func probe(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// No Pdeathsig here: the probe exits by itself within milliseconds, and a parent-death
	// signal tied to an arbitrary thread could kill it midway and fake a missing plugin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		// UWSGI_* variables are read as options (uWSGI docs, "Configuring uWSGI": environment
		// variables); a probe must see the binary's own defaults.
		if !strings.HasPrefix(kv, "UWSGI_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return "", fmt.Errorf("probing %s %s: no answer within 15s", bin, strings.Join(args, " "))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", fmt.Errorf("probing %s: %w", bin, err)
	}
	return string(out), nil
}

// hasPythonPlugin reports whether a --plugins-list output shows the python request plugin.
func hasPythonPlugin(out string) bool {
	in := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "uWSGI loaded request plugins"):
			in = true
		case strings.HasPrefix(line, "--- end of plugins list"), strings.HasPrefix(line, "*** uWSGI loaded"):
			in = false
		case in:
			if _, name, ok := strings.Cut(line, ": "); ok && name == "python" {
				return true
			}
		}
	}
	return false
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "plugin") {
			return strings.TrimSpace(lines[i])
		}
	}
	return "no python plugin listed"
}
