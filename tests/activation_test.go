package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// envApp answers with what a launched app sees of systemd's socket activation variables.
const envApp = `import os

def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [repr([os.environ.get(k) for k in ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES')]).encode()]
`

// activated is a portico command started the way systemd starts a socket-activated service:
// files as fds 3, 4, ..., LISTEN_FDS and LISTEN_FDNAMES, and LISTEN_PID set to the pid that
// portico runs as (known only after the fork: sh sets it and execs, keeping pid and fds).
func activated(dir string, names []string, files ...*os.File) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, portico, "start")
	cmd.Dir = dir
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), "PORTICO_DIR=", fmt.Sprintf("LISTEN_FDS=%d", len(files)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
	return cmd
}

func listenerFile(t *testing.T, ln net.Listener) *os.File {
	t.Helper()
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestSocketActivation: a node started with a TCP and a unix listening socket the way systemd
// passes them serves on both: the TCP one (TLS on top) found by its name, a transport's id,
// though the transport's configured port differs; the unix one by its path. Portico bound
// neither anew (nothing listens on the configured port; the socket file is the test's), the
// launched uwsgi app sees no LISTEN_* variable, and both sockets keep serving after a
// SIGHUP reload.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	cb := filepath.Join(dir, ".crossbar")
	if err := os.MkdirAll(cb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "envapp.py"), []byte(envApp), 0o644); err != nil {
		t.Fatal(err)
	}
	cert := issue(t, "127.0.0.1", nil, false, nil, x509.ExtKeyUsageServerAuth)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(cb, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writePEM(t, filepath.Join(cb, "server.crt"), cert.pem)

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sock := filepath.Join(cb, "web.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	var before syscall.Stat_t
	if err := syscall.Stat(sock, &before); err != nil {
		t.Fatal(err)
	}
	configured := freePort(t) // what the node would bind, had it not inherited the socket
	cfg := fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "options": {"pythonpath": [".."]},
  "transports": [
    {"type": "web", "id": "public", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d,
       "tls": {"key": "server.key", "certificate": "server.crt"}},
     "paths": {"/": {"type": "wsgi", "module": "envapp", "object": "app"}}},
    {"type": "web", "id": "local", "endpoint": {"type": "unix", "path": "web.sock"},
     "paths": {"/": {"type": "json", "value": {"over": "unix"}}}}
  ]}]}`, configured)
	if err := os.WriteFile(filepath.Join(cb, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// systemd names a socket without FileDescriptorName= by its unit: no transport's id.
	n := startCmd(t, activated(dir, []string{"public", "portico.socket"}, listenerFile(t, tcp), listenerFile(t, unix)))

	roots := x509.NewCertPool()
	roots.AddCert(cert.cert)
	https := &http.Client{Timeout: testkit.Patience, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer https.CloseIdleConnections()
	overUnix := &http.Client{Timeout: testkit.Patience, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	defer overUnix.CloseIdleConnections()
	fetch := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %.200q", url, resp.StatusCode, b)
		}
		return string(b)
	}
	check := func(when string) {
		t.Helper()
		if got := fetch(https, "https://"+tcp.Addr().String()+"/"); got != "[None, None, None]" {
			t.Errorf("%s: the launched app sees LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES = %s, want none", when, got)
		}
		if got := strings.TrimSpace(fetch(overUnix, "http://portico/")); got != `{"over":"unix"}` {
			t.Errorf("%s: over the inherited unix socket: %q", when, got)
		}
	}
	check("at start")
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", configured), testkit.Patience); err == nil {
		c.Close()
		t.Errorf("the configured port %d listens: the node bound its endpoint besides the inherited socket", configured)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(sock, &after); err != nil || after.Ino != before.Ino {
		t.Errorf("the unix socket file was made anew (inode %d, was %d; %v)", after.Ino, before.Ino, err)
	}
	for _, want := range []string{"transport=workers[0].transports[0] addr=" + tcp.Addr().String(), "transport=workers[0].transports[1] addr=" + sock} {
		if !strings.Contains(n.logs.String(), "msg=\"serving an inherited socket instead of binding\" "+want) {
			t.Errorf("no log line of the inherited socket with %q", want)
		}
	}

	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 0, "the reload is logged", func() bool { return strings.Contains(n.logs.String(), "msg=reloaded") })
	check("after a reload")
}

// TestSocketActivationStray: an inherited socket that matches no transport by name or address
// stops the start with an error naming its fd, name and address.
func TestSocketActivationStray(t *testing.T) {
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	stray, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	dir := writeJSONNode(t, fmt.Sprintf(`{"version": 2, "workers": [{"type": "router", "transports": [
    {"type": "web", "id": "public", "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": %d},
     "paths": {"/": {"type": "json", "value": "ok"}}}]}]}`, good.Addr().(*net.TCPAddr).Port))
	cmd := activated(dir, []string{"unnamed", "stray"}, listenerFile(t, good), listenerFile(t, stray))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatalf("portico started and ended well with a stray inherited socket:\n%s", out.String())
		}
	case <-time.After(testkit.Patience):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("portico did not stop on a stray inherited socket:\n%s", out.String())
	}
	want := fmt.Sprintf(`inherited socket fd 4 (name \"stray\", address %s) matches no transport`, stray.Addr())
	if !strings.Contains(out.String(), want) {
		t.Errorf("no %q in the output:\n%s", want, out.String())
	}
}
