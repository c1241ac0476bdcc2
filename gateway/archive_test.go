package gateway

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

// testZip is a web app as it comes in a release archive: under a top directory, some members
// deflated and some stored, with directory entries.
var testZip = []struct {
	name, body string
	store      bool
}{
	{"app-1.0/", "", true},
	{"app-1.0/index.html", "<h1>home</h1>", false},
	{"app-1.0/app.min.js", strings.Repeat("console.log('app');\n", 200), false},
	{"app-1.0/font.woff2", "wOF2 not really", true},
	{"app-1.0/data.unknownext", "raw", true},
	{"app-1.0/sub/", "", true},
	{"app-1.0/sub/index.html", "<h1>sub</h1>", false},
	{"app-1.0/sub/page.html", "<h1>page</h1>", true},
	{"other/secret.txt", "outside the prefix", false},
}

// zipBytes builds testZip (or the given members) as a ZIP file.
func zipBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	for _, m := range testZip {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		if m.store {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeZip(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "app.zip")
	if err := os.WriteFile(p, zipBytes(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type archiveAnswer struct {
	status      int
	body        string
	ctype, etag string
	header      http.Header
}

func archiveGet(t *testing.T, method, url string, hdr ...string) archiveAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return archiveAnswer{resp.StatusCode, string(b), resp.Header.Get("Content-Type"), resp.Header.Get("ETag"), resp.Header}
}

// TestArchiveService: an archive path serves the members under object_prefix as Crossbar's
// ZipArchiveResource does (default_object for "" and ".../", types by the last extension with
// mime_types over the built-in table, 404 for what is no member, directories included), from
// the archive or, with cache, from memory; with an ETag that If-None-Match answers 304, HEAD
// without a body, 405 for other methods, and the mount redirected to its trailing slash.
func TestArchiveService(t *testing.T) {
	t.Parallel()
	for _, cache := range []bool{false, true} {
		t.Run(map[bool]string{false: "from archive", true: "cached"}[cache], func(t *testing.T) {
			dir := t.TempDir()
			a := &config.Archive{File: writeZip(t, dir), Cache: cache, DefaultObject: "index.html", ObjectPrefix: "app-1.0",
				MimeTypes: map[string]string{".woff2": "font/woff2"}}
			node := testNode(t, map[string]*config.Service{
				"/":      {Type: "archive", Archive: a},
				"assets": {Type: "archive", Archive: a},
			})
			base := startGateway(t, node)
			js := strings.Repeat("console.log('app');\n", 200)
			for _, tc := range []struct {
				path, body, ctype string
				status            int
			}{
				{"/", "<h1>home</h1>", "text/html; charset=utf-8", 200},
				{"/index.html", "<h1>home</h1>", "text/html; charset=utf-8", 200},
				{"/app.min.js", js, "text/javascript; charset=utf-8", 200},
				{"/font.woff2", "wOF2 not really", "font/woff2", 200},
				{"/data.unknownext", "raw", "application/octet-stream", 200},
				{"/sub/", "<h1>sub</h1>", "text/html; charset=utf-8", 200},
				{"/sub/page.html", "<h1>page</h1>", "text/html; charset=utf-8", 200},
				{"/sub", "", "", 404}, // a directory entry is no member
				{"/nothing.html", "", "", 404},
				{"/../other/secret.txt", "", "", 400},
				{"/%2e%2e/other/secret.txt", "", "", 400},
				{"/assets/", "<h1>home</h1>", "text/html; charset=utf-8", 200},
				{"/assets/sub/page.html", "<h1>page</h1>", "text/html; charset=utf-8", 200},
			} {
				for range 2 { // with cache, the second answer comes from memory
					got := archiveGet(t, "GET", base+tc.path)
					if got.status != tc.status || (tc.status == 200 && (got.body != tc.body || got.ctype != tc.ctype)) {
						t.Fatalf("GET %s = %d %q %q, want %d %q %q", tc.path, got.status, got.ctype, got.body, tc.status, tc.ctype, tc.body)
					}
				}
			}

			got := archiveGet(t, "GET", base+"/app.min.js")
			if got.etag == "" {
				t.Fatalf("no ETag: %v", got.header)
			}
			if again := archiveGet(t, "GET", base+"/app.min.js", "If-None-Match", got.etag); again.status != 304 || again.body != "" {
				t.Errorf("If-None-Match %s = %d %q", got.etag, again.status, again.body)
			}
			if other := archiveGet(t, "GET", base+"/index.html", "If-None-Match", got.etag); other.status != 200 {
				t.Errorf("another member's ETag = %d", other.status)
			}
			head := archiveGet(t, "HEAD", base+"/app.min.js")
			if head.status != 200 || head.body != "" || head.header.Get("Content-Length") != "4000" || head.etag != got.etag {
				t.Errorf("HEAD = %d %q %v", head.status, head.body, head.header)
			}
			if post := archiveGet(t, "POST", base+"/index.html"); post.status != 405 || post.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("POST = %d %v", post.status, post.header)
			}
			if r := archiveGet(t, "GET", base+"/assets?v=1"); r.status != 301 || r.header.Get("Location") != "/assets/?v=1" {
				t.Errorf("GET /assets = %d %v", r.status, r.header)
			}
		})
	}
}

// TestArchiveDefaultFile: options.default_file is served for a path that names no member (a
// single-page app's routes), found under object_prefix as the members are.
func TestArchiveDefaultFile(t *testing.T) {
	t.Parallel()
	a := &config.Archive{File: writeZip(t, t.TempDir()), ObjectPrefix: "app-1.0", DefaultFile: "index.html"}
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": {Type: "archive", Archive: a}}))
	for _, p := range []string{"/", "/route", "/deep/route/x"} {
		if got := archiveGet(t, "GET", base+p); got.status != 200 || got.body != "<h1>home</h1>" {
			t.Errorf("GET %s = %d %q", p, got.status, got.body)
		}
	}
	if got := archiveGet(t, "GET", base+"/sub/page.html"); got.body != "<h1>page</h1>" {
		t.Errorf("GET /sub/page.html = %d %q", got.status, got.body)
	}
}

// TestArchiveMissing: an archive that does not exist, without download, answers 404 (the
// config warned); the rest of the node is served.
func TestArchiveMissing(t *testing.T) {
	t.Parallel()
	a := &config.Archive{File: filepath.Join(t.TempDir(), "none.zip"), Origin: "http://127.0.0.1:1/none.zip"}
	base := startGateway(t, testNode(t, map[string]*config.Service{
		"/":    {Type: "archive", Archive: a},
		"info": {Type: "json", JSON: &config.JSON{Value: "up"}},
	}))
	if got := archiveGet(t, "GET", base+"/index.html"); got.status != 404 {
		t.Errorf("GET /index.html = %d", got.status)
	}
	if got := archiveGet(t, "GET", base+"/info"); got.status != 200 {
		t.Errorf("GET /info = %d", got.status)
	}
}

// TestArchiveRefused: an archive that exists but is not a ZIP file, or does not match its
// hashes, keeps the node from starting, with the path and the cause, as Crossbar refuses.
func TestArchiveRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notZip := filepath.Join(dir, "not.zip")
	if err := os.WriteFile(notZip, []byte("<html>404</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    *config.Archive
		want string
	}{
		{"not a zip", &config.Archive{File: notZip}, "not.zip: not a ZIP archive"},
		{"hash", &config.Archive{File: writeZip(t, dir), Hashes: []string{strings.Repeat("ab", 32)}}, "is none of the configured hashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(testNode(t, map[string]*config.Service{"/": {Type: "archive", Archive: tc.a}}), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			err = g.Start(context.Background())
			if err == nil {
				ctxShutdown(t, g)
				t.Fatal("started")
			}
			if msg := err.Error(); !strings.Contains(msg, "workers[0].transports[0].paths./.archive: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want the place and %q", msg, tc.want)
			}
		})
	}
	// The right hash is accepted.
	a := &config.Archive{File: writeZip(t, t.TempDir()), Hashes: []string{sha256Hex(zipBytes(t))}, ObjectPrefix: "app-1.0"}
	base := startGateway(t, testNode(t, map[string]*config.Service{"/": {Type: "archive", Archive: a}}))
	if got := archiveGet(t, "GET", base+"/index.html"); got.status != 200 {
		t.Errorf("GET /index.html = %d", got.status)
	}
}

// TestArchiveDownload: with download, an archive that does not exist is fetched from its
// origin while the node serves: 503 with a reason until it is there, then its members; it is
// kept at `archive` for the next start, and nothing else is left beside it.
func TestArchiveDownload(t *testing.T) {
	t.Parallel()
	zb := zipBytes(t)
	release := make(chan struct{})
	var asked sync.WaitGroup
	asked.Add(1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/releases/app-1.0.zip" {
			http.NotFound(w, r)
			return
		}
		asked.Done()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(zb)
	}))
	defer origin.Close()

	dir := t.TempDir()
	a := &config.Archive{File: filepath.Join(dir, "app.zip"), Origin: origin.URL + "/releases/app-1.0.zip", Download: true,
		Cache: true, DefaultObject: "index.html", ObjectPrefix: "app-1.0", Hashes: []string{sha256Hex(zb)}}
	logs := &logBuffer{t: t}
	_, base := startGatewayLogTo(t, testNode(t, map[string]*config.Service{"/": {Type: "archive", Archive: a}}), logs)

	asked.Wait()
	got := archiveGet(t, "GET", base+"/")
	if got.status != 503 || !strings.Contains(got.body, "being downloaded") {
		t.Fatalf("while downloading: %d %q", got.status, got.body)
	}
	close(release)
	testkit.CheckFor(t, 0, func() error {
		if got := archiveGet(t, "GET", base+"/"); got.status != 200 || got.body != "<h1>home</h1>" {
			return fmt.Errorf("the downloaded archive is not served: %d %q", got.status, got.body)
		}
		return nil
	})
	if b, err := os.ReadFile(a.File); err != nil || !bytes.Equal(b, zb) {
		t.Errorf("archive file: %d bytes, %v", len(b), err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("beside the archive: %v", names)
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") {
		t.Errorf("log: %s", l)
	}
}

// TestArchiveDownloadFails: a download that fails (the origin answers an error, sends what is
// no ZIP file, or one that matches none of the hashes, or cannot be reached) leaves the node
// serving, the path answering 503 with a reason, the log saying why, and no file behind.
func TestArchiveDownloadFails(t *testing.T) {
	t.Parallel()
	zb := zipBytes(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html.zip":
			_, _ = io.WriteString(w, "<html>a login page</html>")
		case "/other.zip":
			_, _ = w.Write(zb)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name, origin, log string
		hashes            []string
	}{
		{"status", origin.URL + "/gone.zip", "the origin answered 404 Not Found", nil},
		{"not a zip", origin.URL + "/html.zip", "downloaded 25 bytes: not a ZIP archive", nil},
		{"hash", origin.URL + "/other.zip", "is none of the configured hashes", []string{strings.Repeat("0", 64)}},
		{"unreachable", closed.URL + "/app.zip", "connection refused", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := &config.Archive{File: filepath.Join(dir, "app.zip"), Origin: tc.origin, Download: true, Hashes: tc.hashes}
			logs := &logBuffer{t: t}
			_, base := startGatewayLogTo(t, testNode(t, map[string]*config.Service{
				"/":    {Type: "archive", Archive: a},
				"info": {Type: "json", JSON: &config.JSON{Value: "up"}},
			}), logs)
			testkit.WaitFor(t, 0, "the download's failure in the log", func() bool {
				return strings.Contains(logs.String(), "archive: download failed")
			})
			if l := logs.String(); !strings.Contains(l, tc.log) || !strings.Contains(l, "origin="+tc.origin) {
				t.Errorf("log lacks %q and the origin:\n%s", tc.log, l)
			}
			got := archiveGet(t, "GET", base+"/index.html")
			if got.status != 503 || !strings.Contains(got.body, "could not be downloaded") {
				t.Errorf("GET = %d %q", got.status, got.body)
			}
			if got := archiveGet(t, "GET", base+"/info"); got.status != 200 {
				t.Errorf("GET /info = %d", got.status)
			}
			if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}

// TestArchiveCloseWithStreams: closing the service (a reload) while a member is streamed
// keeps the archive open for that stream, and closes it after.
func TestArchiveCloseWithStreams(t *testing.T) {
	t.Parallel()
	a := &config.Archive{File: writeZip(t, t.TempDir()), ObjectPrefix: "app-1.0"}
	s, err := newArchiveService(&config.Service{Place: "p", Type: "archive", Archive: a}, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	oa := s.state.Load().zip
	m := s.member(oa, "app.min.js")
	if m == nil || !oa.acquire() {
		t.Fatal("no member, or no reference")
	}
	r, err := m.zf.Open()
	if err != nil {
		t.Fatal(err)
	}
	stream := &memberStream{r: r, oa: oa}
	s.close()
	if s.state.Load().zip != nil {
		t.Fatal("a closed service still serves its archive")
	}
	b, err := io.ReadAll(stream)
	if err != nil || len(b) != 4000 {
		t.Fatalf("stream after close: %d bytes, %v", len(b), err)
	}
	stream.Close()
	if _, err := oa.f.Stat(); err == nil {
		t.Error("the archive is still open after its last stream")
	}
	if oa.acquire() {
		t.Error("a closed archive gave a new reference")
	}
}

// BenchmarkArchiveMember measures one GET of a 4000-byte member through the transport
// handler: from memory (cache) and inflated from the archive.
func BenchmarkArchiveMember(b *testing.B) {
	for _, cache := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "from archive"}[cache], func(b *testing.B) {
			t := &testing.T{}
			a := &config.Archive{File: writeZip(t, b.TempDir()), Cache: cache, ObjectPrefix: "app-1.0"}
			node := testNode(t, map[string]*config.Service{"/": {Type: "archive", Archive: a}})
			g, err := New(node, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			tables, err := g.build(b.Context(), node)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				for _, svc := range tables["workers[0].transports[0]"].services {
					svc.close()
				}
			})
			s := &server{g: g, where: "bench"}
			s.table.Store(tables["workers[0].transports[0]"])
			req := []byte("GET /app.min.js HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
			var ctx fasthttp.RequestCtx
			br := bufio.NewReader(nil)
			rd := bytes.NewReader(nil)
			ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				rd.Reset(req)
				br.Reset(rd)
				if err := ctx.Request.ReadLimitBody(br, 0); err != nil {
					b.Fatal(err)
				}
				s.handle(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d", ctx.Response.StatusCode())
				}
				if err := ctx.Response.BodyWriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
				ctx.Response.Reset()
			}
		})
	}
}
