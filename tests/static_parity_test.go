package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxAndPorticoStatic serves dir (the files in it) with nginx (`root`) and Portico (a static
// path, no caching header, as nginx sends none) and returns both addresses.
func nginxAndPorticoStatic(t *testing.T, dir, www string) (nginx, portico string) {
	t.Helper()
	nginx = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startNginxConf(t, dir, nginx, fmt.Sprintf(`  include /etc/nginx/mime.types;
  server {
    listen %s;
    location / { root %s; }
  }
`, nginx, www))
	nodeDir := filepath.Join(dir, "node")
	if err := os.MkdirAll(nodeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[[transport]]
endpoint = { type = "tcp", port = %d, interface = "127.0.0.1" }

  [transport.paths."/"]
  type = "static"
  directory = %q
  options = { cache_timeout = false }
`, freePort(t), www)
	if err := os.WriteFile(filepath.Join(nodeDir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	portico = strings.TrimPrefix(start(t, nodeDir, "--cbdir", nodeDir).base, "http://")
	return nginx, portico
}

// staticAnswer is what a client can tell of a static answer, boundaries aside.
type staticAnswer struct {
	status  int
	headers map[string]string
	body    string   // the body, or a summary of it
	parts   []string // of a multipart/byteranges body: each part's type, range and bytes
}

func (a staticAnswer) String() string {
	return fmt.Sprintf("%d %v body %q parts %q", a.status, a.headers, a.body, a.parts)
}

func fetchStatic(t *testing.T, addr, method, path string, hdr ...string) staticAnswer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	req := method + " " + path + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
	for i := 0; i+1 < len(hdr); i += 2 {
		req += hdr[i] + ": " + hdr[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", addr, err)
	}
	a := staticAnswer{status: resp.StatusCode, headers: map[string]string{}}
	for _, k := range []string{"Content-Range", "Content-Length", "Accept-Ranges", "ETag", "Last-Modified"} {
		if v := resp.Header.Get(k); v != "" {
			a.headers[k] = v
		}
	}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode >= 400 {
		a.body = "(error page)" // the pages' wording differs by design
		delete(a.headers, "Content-Length")
		return a
	}
	mt, params, _ := mime.ParseMediaType(ct)
	a.headers["Content-Type"] = mt
	if mt != "multipart/byteranges" || method == "HEAD" {
		a.body = string(b)
		return a
	}
	if len(params["boundary"]) != 20 {
		t.Errorf("%s: boundary %q, not 20 characters as nginx's (then Content-Length differs)", addr, params["boundary"])
	}
	if !bytes.HasPrefix(b, []byte("\r\n--"+params["boundary"]+"\r\n")) || !bytes.HasSuffix(b, []byte("\r\n--"+params["boundary"]+"--\r\n")) {
		t.Errorf("%s: multipart body not framed as nginx frames it: %q", addr, b)
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: multipart: %v", addr, err)
		}
		data, _ := io.ReadAll(p)
		a.parts = append(a.parts, fmt.Sprintf("%s | %s | %q", p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), data))
	}
	return a
}

// TestStaticRangesNginxParity: Range, If-Range and conditional requests (If-Match,
// If-Unmodified-Since, If-None-Match, If-Modified-Since) on the same directory, answered by
// nginx and Portico alike: status, validators, Content-Range, Content-Length, Accept-Ranges and
// body; a multipart/byteranges answer has the same parts (type, range, bytes) in the same order.
func TestStaticRangesNginxParity(t *testing.T) {
	t.Parallel()
	dir := nginxReadableTempDir(t)
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	var content []byte
	for i := range 100 {
		content = fmt.Appendf(content, "%09d\n", i) // 1000 bytes, each position distinct
	}
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, b := range map[string][]byte{"f.pdf": content, "empty.pdf": nil} {
		p := filepath.Join(www, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	nginx, portico := nginxAndPorticoStatic(t, dir, www)
	etag := fetchStatic(t, nginx, "GET", "/f.pdf").headers["ETag"]
	if etag == "" {
		t.Fatal("nginx sent no ETag")
	}
	lm := mtime.Format(http.TimeFormat)

	cases := []struct {
		name, method, path string
		hdr                []string
	}{
		{"two ranges", "GET", "/f.pdf", []string{"Range", "bytes=0-1,5-9"}},
		{"two ranges, HEAD", "HEAD", "/f.pdf", []string{"Range", "bytes=0-1,5-9"}},
		{"descending, kept in order", "GET", "/f.pdf", []string{"Range", "bytes=900-909,0-9"}},
		{"overlapping, not merged", "GET", "/f.pdf", []string{"Range", "bytes=0-99,50-149"}},
		{"suffix and open", "GET", "/f.pdf", []string{"Range", "bytes=-5,990-"}},
		{"spaces", "GET", "/f.pdf", []string{"Range", "bytes= 1 - 2 , 4-5"}},
		{"upper case unit", "GET", "/f.pdf", []string{"Range", "BYTES=0-1,3-4"}},
		{"past the end clamped", "GET", "/f.pdf", []string{"Range", "bytes=0-0,995-5000"}},
		{"one unsatisfiable skipped", "GET", "/f.pdf", []string{"Range", "bytes=2000-,10-19"}},
		{"none satisfiable", "GET", "/f.pdf", []string{"Range", "bytes=2000-,3000-3001"}},
		{"more than the file", "GET", "/f.pdf", []string{"Range", "bytes=0-,0-"}},
		{"single", "GET", "/f.pdf", []string{"Range", "bytes=10-19"}},
		{"single suffix", "GET", "/f.pdf", []string{"Range", "bytes=-10"}},
		{"suffix zero", "GET", "/f.pdf", []string{"Range", "bytes=-0"}},
		{"suffix larger than file", "GET", "/f.pdf", []string{"Range", "bytes=-5000"}},
		{"reversed", "GET", "/f.pdf", []string{"Range", "bytes=5-1"}},
		{"trailing comma", "GET", "/f.pdf", []string{"Range", "bytes=0-1,"}},
		{"garbage", "GET", "/f.pdf", []string{"Range", "bytes=abc"}},
		{"overflow", "GET", "/f.pdf", []string{"Range", "bytes=0-99999999999999999999"}},
		{"other unit", "GET", "/f.pdf", []string{"Range", "items=0-1"}},
		{"bytes= alone", "GET", "/f.pdf", []string{"Range", "bytes="}},
		{"empty file", "GET", "/empty.pdf", []string{"Range", "bytes=0-1"}},
		{"empty file, suffix", "GET", "/empty.pdf", []string{"Range", "bytes=-1"}},
		{"If-Range ETag matches", "GET", "/f.pdf", []string{"Range", "bytes=0-1,5-9", "If-Range", etag}},
		{"If-Range ETag differs", "GET", "/f.pdf", []string{"Range", "bytes=0-1,5-9", "If-Range", `"other"`}},
		{"If-Range weak ETag", "GET", "/f.pdf", []string{"Range", "bytes=0-1", "If-Range", "W/" + etag}},
		{"If-Range date matches", "GET", "/f.pdf", []string{"Range", "bytes=0-1", "If-Range", lm}},
		{"If-Range date older", "GET", "/f.pdf", []string{"Range", "bytes=0-1", "If-Range", mtime.Add(-time.Hour).Format(http.TimeFormat)}},
		{"If-Range date newer", "GET", "/f.pdf", []string{"Range", "bytes=0-1", "If-Range", mtime.Add(time.Hour).Format(http.TimeFormat)}},
		{"If-Range garbage", "GET", "/f.pdf", []string{"Range", "bytes=0-1", "If-Range", "yesterday"}},
		{"If-Range without Range", "GET", "/f.pdf", []string{"If-Range", etag}},
		{"If-Match", "GET", "/f.pdf", []string{"If-Match", etag}},
		{"If-Match in a list", "GET", "/f.pdf", []string{"If-Match", `"a", ` + etag + ` , "b"`}},
		{"If-Match star", "GET", "/f.pdf", []string{"If-Match", "*"}},
		{"If-Match differs", "GET", "/f.pdf", []string{"If-Match", `"other"`}},
		{"If-Match weak", "GET", "/f.pdf", []string{"If-Match", "W/" + etag}},
		{"If-Match differs, HEAD", "HEAD", "/f.pdf", []string{"If-Match", `"other"`}},
		{"If-Match with Range", "GET", "/f.pdf", []string{"If-Match", etag, "Range", "bytes=0-1"}},
		{"If-Unmodified-Since same", "GET", "/f.pdf", []string{"If-Unmodified-Since", lm}},
		{"If-Unmodified-Since newer", "GET", "/f.pdf", []string{"If-Unmodified-Since", mtime.Add(time.Hour).Format(http.TimeFormat)}},
		{"If-Unmodified-Since older", "GET", "/f.pdf", []string{"If-Unmodified-Since", mtime.Add(-time.Hour).Format(http.TimeFormat)}},
		{"If-Unmodified-Since garbage", "GET", "/f.pdf", []string{"If-Unmodified-Since", "yesterday"}},
		{"If-None-Match", "GET", "/f.pdf", []string{"If-None-Match", etag}},
		{"If-None-Match weak", "GET", "/f.pdf", []string{"If-None-Match", "W/" + etag}},
		{"If-None-Match differs", "GET", "/f.pdf", []string{"If-None-Match", `"other"`}},
		{"If-Modified-Since same", "GET", "/f.pdf", []string{"If-Modified-Since", lm}},
		{"If-Modified-Since older", "GET", "/f.pdf", []string{"If-Modified-Since", mtime.Add(-time.Hour).Format(http.TimeFormat)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, got := fetchStatic(t, nginx, c.method, c.path, c.hdr...), fetchStatic(t, portico, c.method, c.path, c.hdr...)
			if want.String() != got.String() {
				t.Errorf("\nnginx   %s\nPortico %s", want, got)
			}
		})
	}
}
