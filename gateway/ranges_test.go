package gateway

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
)

func TestParseRanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		h       string
		size    int64
		want    string
		outcome int
	}{
		{"bytes=0-1,5-9", 100, "[{0 2} {5 10}]", rangesOK},
		{"bytes=5-9,0-1", 100, "[{5 10} {0 2}]", rangesOK},
		{"bytes=-5", 100, "[{95 100}]", rangesOK},
		{"bytes=95-", 100, "[{95 100}]", rangesOK},
		{"bytes=0-500", 100, "[{0 100}]", rangesOK},
		{"bytes= 1 - 2 , 4-5", 100, "[{1 3} {4 6}]", rangesOK},
		{"Bytes=0-0", 100, "[{0 1}]", rangesOK},
		{"bytes=200-,0-0", 100, "[{0 1}]", rangesOK},
		{"bytes=200-", 100, "[]", rangesUnsatisfiable},
		{"bytes=-0", 100, "[]", rangesUnsatisfiable},
		{"bytes=5-1", 100, "[]", rangesUnsatisfiable},
		{"bytes=0-1,", 100, "[]", rangesUnsatisfiable},
		{"bytes=x", 100, "[]", rangesUnsatisfiable},
		{"bytes=0-1;", 100, "[]", rangesUnsatisfiable},
		{"bytes=9223372036854775808-", 100, "[]", rangesUnsatisfiable},
		{"bytes=0-,0-", 100, "[]", rangesDeclined},
		{"bytes=0-1", 0, "[]", rangesDeclined},
		{"items=0-1", 100, "[]", rangesDeclined},
		{"bytes=", 100, "[]", rangesDeclined},
	}
	for _, c := range cases {
		r, o := parseRanges([]byte(c.h), c.size)
		if got := fmt.Sprint(r); got != c.want || o != c.outcome {
			t.Errorf("parseRanges(%q, %d) = %s, %d; want %s, %d", c.h, c.size, got, o, c.want, c.outcome)
		}
	}
}

func TestIfRangeHolds(t *testing.T) {
	t.Parallel()
	mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	etag := `"66322ec0-3e8"`
	for ir, want := range map[string]bool{
		"":                              true,
		etag:                            true,
		`"other"`:                       false,
		"W/" + etag:                     false,
		"Wed, 01 May 2024 12:00:00 GMT": true,
		"Wed, 01 May 2024 11:00:00 GMT": false,
		"Wed, 01 May 2024 13:00:00 GMT": false,
		"soon":                          false,
	} {
		if got := ifRangeHolds([]byte(ir), etag, mod); got != want {
			t.Errorf("If-Range %q: %v, want %v", ir, got, want)
		}
	}
}

// TestMultipartRangesLength: the Content-Length announced is what Read yields, and the parts
// carry the file's bytes.
func TestMultipartRangesLength(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	content := strings.Repeat("0123456789", 10)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	m := newMultipartRanges(f, []byteRange{{0, 2}, {95, 100}}, "text/plain", 100, nil, 0)
	defer m.Close()
	b, err := io.ReadAll(m)
	if err != nil {
		t.Fatal(err)
	}
	want := "\r\n--" + m.boundary + "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100\r\n\r\n01" +
		"\r\n--" + m.boundary + "\r\nContent-Type: text/plain\r\nContent-Range: bytes 95-99/100\r\n\r\n56789" +
		"\r\n--" + m.boundary + "--\r\n"
	if string(b) != want {
		t.Errorf("body %q\nwant %q", b, want)
	}
	if int64(len(b)) != int64(len(want)) || m.length() != 0 {
		// length is of what is left to read
		t.Errorf("length after reading: %d", m.length())
	}
}

// FuzzParseRanges: any header yields ranges inside the file, adding up to at most its size,
// and only with rangesOK.
func FuzzParseRanges(f *testing.F) {
	for _, s := range []string{"bytes=0-1,5-9", "bytes=-5", "bytes=9-", "bytes= 1 - 2 , 4-5", "bytes=0-,0-", "bytes=1-0", "bytes=-0", "items=1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		r, o := parseRanges([]byte(h), size)
		if (o == rangesOK) != (len(r) > 0) {
			t.Fatalf("%q: outcome %d with %d ranges", h, o, len(r))
		}
		var total int64
		for _, x := range r {
			if x.start < 0 || x.start >= x.end || x.end > size {
				t.Fatalf("%q, size %d: range %v", h, size, x)
			}
			total += x.end - x.start
		}
		if total > size {
			t.Fatalf("%q, size %d: %d bytes of ranges", h, size, total)
		}
	})
}

// recordingReaderFrom records what a ReaderFrom is handed, as the connection under fasthttp's
// bufio.Writer is: net.TCPConn sends an *io.LimitedReader of an *os.File with sendfile.
type recordingReaderFrom struct {
	bytes.Buffer
	handed []string
}

func (r *recordingReaderFrom) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			r.handed = append(r.handed, fmt.Sprintf("file %d", lr.N))
		}
	}
	return r.Buffer.ReadFrom(src)
}

// TestSendFileToHandsOverFile: a file body reaches a ReaderFrom as the shape sendfile takes,
// in chunks of sendfileChunk, from the file's offset; the bytes are the file's.
func TestSendFileToHandsOverFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	content := make([]byte, 2*sendfileChunk+1000)
	_, _ = rand.Read(content)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(500, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	l := &limitedFile{f: f, n: int64(len(content)) - 600}
	var w recordingReaderFrom
	n, err := l.WriteTo(&w)
	if err != nil || n != int64(len(content))-600 || !bytes.Equal(w.Bytes(), content[500:len(content)-100]) {
		t.Fatalf("WriteTo: %d, %v; bytes equal: %v", n, err, bytes.Equal(w.Bytes(), content[500:len(content)-100]))
	}
	want := fmt.Sprint([]string{fmt.Sprintf("file %d", sendfileChunk), fmt.Sprintf("file %d", sendfileChunk), "file 400"})
	if got := fmt.Sprint(w.handed); got != want {
		t.Errorf("handed over %s, want %s", got, want)
	}
	// A file shorter than promised cuts the body.
	if _, err := f.Seek(int64(len(content))-10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	l = &limitedFile{f: f, n: 20}
	if _, err := l.WriteTo(&recordingReaderFrom{}); err != io.ErrUnexpectedEOF {
		t.Errorf("short file: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestStaticLargeFileBytes: files larger than a sendfile chunk arrive whole and in order
// through the gateway, the whole file, one range from an offset and several ranges.
func TestStaticLargeFileBytes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	content := make([]byte, 3*sendfileChunk+12345)
	_, _ = rand.Read(content)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	base := startGateway(t, testNode(t, map[string]*config.Service{
		"/": {Type: "static", Static: &config.Static{Directory: root}},
	}))
	get := func(rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/big.bin", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	if resp, b := get(""); resp.StatusCode != 200 || !bytes.Equal(b, content) {
		t.Errorf("whole file: %d, %d bytes, equal %v", resp.StatusCode, len(b), bytes.Equal(b, content))
	}
	if resp, b := get("bytes=1000-700999"); resp.StatusCode != 206 || !bytes.Equal(b, content[1000:701000]) {
		t.Errorf("range: %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, b := get("bytes=700000-,0-9")
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		d, _ := io.ReadAll(p)
		parts = append(parts, d)
	}
	if resp.StatusCode != 206 || len(parts) != 2 || !bytes.Equal(parts[0], content[700000:]) || !bytes.Equal(parts[1], content[:10]) {
		t.Errorf("ranges: %d, %d parts, Content-Length %s of %d bytes", resp.StatusCode, len(parts), resp.Header.Get("Content-Length"), len(b))
	}
}

func TestPreconditions(t *testing.T) {
	t.Parallel()
	mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	etag := `"66322ec0-3e8"`
	for _, c := range []struct {
		name, value string
		holds       bool
	}{
		{"If-Match", etag, true},
		{"If-Match", `"a",` + etag, true},
		{"If-Match", "*", true},
		{"If-Match", "W/" + etag, false},
		{"If-Match", `"a"`, false},
		{"If-Unmodified-Since", "Wed, 01 May 2024 12:00:00 GMT", true},
		{"If-Unmodified-Since", "Wed, 01 May 2024 13:00:00 GMT", true},
		{"If-Unmodified-Since", "Wed, 01 May 2024 11:59:59 GMT", false},
		{"If-Unmodified-Since", "never", false},
	} {
		var h fasthttp.RequestHeader
		h.Set(c.name, c.value)
		if err := preconditions(&h, etag, mod); (err == nil) != c.holds {
			t.Errorf("%s: %s: %v, want holding %v", c.name, c.value, err, c.holds)
		}
	}
}
