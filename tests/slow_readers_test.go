package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// TestSlowReadersBehindNginxAndPortico: twenty clients ask for 16 MiB each and stop reading, in
// front of a real uwsgi with two single-threaded workers, first behind nginx, then behind
// Portico (the binary, defaults: response buffering on). Behind either, uwsgi writes all twenty
// answers (each worker notes "done" once uwsgi has written its last byte), which only a
// gateway that takes the answers from uwsgi faster than its clients do lets it do: the kernel
// buffers of a client that does not read hold a few MiB, not 16. Then a 21st client is served
// by one of the two workers the stalled clients no longer hold. uwsgi's socket-timeout is
// raised from 4 s, so that a worker a client blocks stays blocked (an unbuffered gateway fails
// this test: "done" never comes for the stalled ones and the 21st request waits for a worker).
// The stalled clients that then read get their whole answers.
func TestSlowReadersBehindNginxAndPortico(t *testing.T) {
	dir := nginxReadableTempDir(t)
	sock := startAppUWSGI(t, dir, "testdata/envapp/envapp.py", "--socket-timeout", "120")

	nginx := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startNginxConf(t, dir, nginx, fmt.Sprintf(`  uwsgi_temp_path %s/uwsgi-temp;
  server {
    listen %s;
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
  }
`, dir, nginx, sock))

	nodeDir := filepath.Join(dir, "node")
	if err := os.MkdirAll(nodeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }

  [transport.paths."/"]
  type = "wsgi"
  upstream = "unix:%s"
`, freePort(t), sock)
	if err := os.WriteFile(filepath.Join(nodeDir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	portico := strings.TrimPrefix(start(t, nodeDir, "--cbdir", nodeDir).base, "http://")

	for _, gw := range []struct{ name, addr string }{{"nginx", nginx}, {"Portico", portico}} {
		t.Run(gw.name, func(t *testing.T) {
			const readers, size = 20, 16 << 20
			log := filepath.Join(t.TempDir(), "log")
			conns := make([]net.Conn, readers)
			for i := range conns {
				c, err := net.Dial("tcp", gw.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := fmt.Fprintf(c, "GET /_bytes?n=%d&log=%s HTTP/1.1\r\nHost: h\r\n\r\n", size, log); err != nil {
					t.Fatal(err)
				}
				conns[i] = c
			}
			testkit.WaitFor(t, time.Minute, "uwsgi wrote all twenty answers while their clients read nothing", func() bool {
				b, _ := os.ReadFile(log)
				return strings.Count(string(b), "done") == readers
			})

			resp, err := http.Get("http://" + gw.addr + "/_bytes?n=3")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "yyy" {
				t.Fatalf("the 21st client, while %d do not read: %d %q", readers, resp.StatusCode, b)
			}

			errs := make(chan error, readers)
			for _, c := range conns {
				go func() {
					_ = c.SetReadDeadline(time.Now().Add(time.Minute))
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					n, err := io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != 200 || err != nil || n != size {
						err = fmt.Errorf("stalled client: status %d, %d bytes, %v; want %d bytes", resp.StatusCode, n, err, size)
					}
					errs <- err
				}()
			}
			for range conns {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
