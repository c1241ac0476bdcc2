package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

func TestAcceptEncoding(t *testing.T) {
	t.Parallel()
	all := codings(1<<codingGzip | 1<<codingBrotli | 1<<codingZstd)
	tests := []struct {
		header  string
		enabled codings
		want    coding
	}{
		{"", all, codingIdentity},
		{"gzip", all, codingGzip},
		{"gzip, deflate, br, zstd", all, codingZstd}, // Chrome's
		{"gzip, deflate, br", all, codingBrotli},
		{"br;q=0.5, gzip", all, codingGzip},
		{"gzip;q=0, *", all, codingZstd},
		{"*;q=0", all, codingIdentity},
		{"*", all, codingZstd},
		{"identity", all, codingIdentity},
		{"GZIP;Q=1.0", all, codingGzip},
		{"x-gzip", all, codingGzip},
		{"gzip;q=1.5", all, codingIdentity},    // malformed weight: the element is ignored
		{"gzip;q=0.1234", all, codingIdentity}, // four decimals
		{"gzip;q=", all, codingIdentity},
		{"zstd;q=0.001, br;q=0.002", all, codingBrotli},
		{"zstd;q=0, br;q=0, gzip;q=0", all, codingIdentity},
		{"gzip;q=0.8, br;q=0.8", all, codingBrotli}, // a tie goes by preference
		{"gzip;q=0.8, zstd;q=0.8, br;q=0.8", all, codingZstd},
		{"br, gzip;q=0.1", 1 << codingGzip, codingGzip},
		{"br, zstd", 1 << codingGzip, codingIdentity},
		{"gzip;level=5;q=0.5, br;q=0.4", all, codingGzip},
		{"deflate, compress", all, codingIdentity},
		{" gzip ; q=0.5 ,, br ; q=0.6 ", all, codingBrotli},
		{"br;q=0, br;q=1", all, codingBrotli}, // named twice: the larger weight
		{"*;q=0.5, zstd;q=0", all, codingBrotli},
	}
	for _, tt := range tests {
		if got := choose(acceptEncoding([]byte(tt.header)), tt.enabled); got != tt.want {
			t.Errorf("%q (enabled %03b): %s, want %s", tt.header, tt.enabled, got.token(), tt.want.token())
		}
	}
	if q := acceptEncoding([]byte("gzip, *;q=0")); q[codingIdentity] != 0 {
		t.Errorf("*;q=0 must refuse identity, got %d", q[codingIdentity])
	}
}

// startCompressApp runs real uwsgi with the compression test app and returns its socket.
func startCompressApp(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "compress.sock")
	runUWSGI(t, sock, "../tests/testdata/compressapp/compressapp.py")
	return sock
}

// compressNode is testNode with `compression = true`.
func compressNode(t *testing.T, paths map[string]*config.Service) *config.Node {
	node := testNode(t, paths)
	tr := &node.Workers[0].Transports[0]
	tr.Options.Compression = config.Compression{Gzip: true, Brotli: true, Zstd: true}
	config.TransportWithDefaults(tr) // min_length, types and level
	return node
}

// noDecompress is a client that sends Accept-Encoding as given and leaves bodies as they came.
var noDecompress = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 2 * time.Minute}

func getEncoded(t *testing.T, method, url, accept string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noDecompress.Do(req)
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

// decoder returns a reader that decodes enc from r.
func decoder(t *testing.T, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	case "":
		return r
	}
	t.Fatalf("unknown encoding %q", enc)
	return nil
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(decoder(t, enc, bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	return out
}

func varies(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}

// TestCompressionWSGI: a page held in memory, a sized stream and a chunked stream from uwsgi
// are sent in the coding the client prefers, decode to the identity bytes, and carry Vary.
func TestCompressionWSGI(t *testing.T) {
	t.Parallel()
	sock := startCompressApp(t)
	base := startGateway(t, compressNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	for _, path := range []string{"/page?n=20000", "/page?n=300000", "/stream?n=300000"} {
		plain, want := getEncoded(t, "GET", base+path, "")
		if ce := plain.Header.Get("Content-Encoding"); ce != "" || !varies(plain) {
			t.Fatalf("%s without Accept-Encoding: Content-Encoding %q, Vary %q", path, ce, plain.Header.Values("Vary"))
		}
		for _, tc := range []struct{ accept, want string }{
			{"gzip", "gzip"}, {"br", "br"}, {"zstd", "zstd"}, {"gzip, deflate, br, zstd", "zstd"},
			{"gzip, br;q=0.9", "gzip"}, {"identity", ""},
		} {
			resp, b := getEncoded(t, "GET", base+path, tc.accept)
			ce := resp.Header.Get("Content-Encoding")
			if ce != tc.want || !varies(resp) {
				t.Errorf("%s, Accept-Encoding %q: Content-Encoding %q (want %q), Vary %q", path, tc.accept, ce, tc.want, resp.Header.Values("Vary"))
				continue
			}
			if got := decode(t, ce, b); !bytes.Equal(got, want) {
				t.Errorf("%s %s: decodes to %d bytes, want the %d identity bytes", path, ce, len(got), len(want))
			}
			if ce != "" && len(b) >= len(want)/2 {
				t.Errorf("%s %s: %d bytes for %d", path, ce, len(b), len(want))
			}
			if resp.ContentLength >= 0 && resp.ContentLength != int64(len(b)) {
				t.Errorf("%s %s: Content-Length %d for %d bytes", path, ce, resp.ContentLength, len(b))
			}
		}
	}
}

// TestCompressionAcceptLines: Accept-Encoding sent on two lines is one list.
func TestCompressionAcceptLines(t *testing.T) {
	t.Parallel()
	sock := startCompressApp(t)
	base := startGateway(t, compressNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	resp := rawRequest(t, base, "GET /page HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip;q=0.5\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n")
	resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "br" {
		t.Errorf("two lines (gzip;q=0.5, then br): Content-Encoding %q, want br", ce)
	}
}

// TestCompressionSkips: what must pass as it is, even to a client that accepts every coding.
func TestCompressionSkips(t *testing.T) {
	t.Parallel()
	sock := startCompressApp(t)
	base := startGateway(t, compressNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	const all = "gzip, br, zstd"
	tests := []struct {
		name, method, path, accept string
		vary                       bool // eligible: Vary: Accept-Encoding even so
	}{
		{"under min_length", "GET", "/page?n=200", all, false},
		{"already encoded", "GET", "/page?content_encoding=gzip", all, false},
		{"no-transform", "GET", "/page?cache_control=public,%20no-transform", all, false},
		{"206", "GET", "/page?status=206%20Partial%20Content&content_range=bytes%200-19999/40000", all, false},
		{"event stream", "GET", "/stream?type=text/event-stream", all, false},
		{"type not listed", "GET", "/page?type=image/png", all, false},
		{"HEAD", "HEAD", "/page", all, false},
		{"404 small", "GET", "/page?status=404%20Not%20Found&n=100", all, false},
		{"only unknown codings", "GET", "/page", "deflate, compress", true},
		{"all refused", "GET", "/page", "gzip;q=0, br;q=0, zstd;q=0", true},
		{"star refused", "GET", "/page", "*;q=0, identity", true},
	}
	for _, tt := range tests {
		resp, b := getEncoded(t, tt.method, base+tt.path, tt.accept)
		if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.Contains(tt.path, "content_encoding") {
			t.Errorf("%s: Content-Encoding %q", tt.name, ce)
		}
		if varies(resp) != tt.vary {
			t.Errorf("%s: Vary %q, want Accept-Encoding: %v", tt.name, resp.Header.Values("Vary"), tt.vary)
		}
		if tt.method == "GET" && resp.ContentLength >= 0 && resp.ContentLength != int64(len(b)) {
			t.Errorf("%s: Content-Length %d for %d bytes", tt.name, resp.ContentLength, len(b))
		}
	}
	// An already encoded body passes byte for byte.
	_, want := getEncoded(t, "GET", base+"/page", "")
	if resp, b := getEncoded(t, "GET", base+"/page?content_encoding=gzip", all); resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, want) {
		t.Errorf("encoded body: Content-Encoding %q, %d bytes, want the app's %d", resp.Header.Get("Content-Encoding"), len(b), len(want))
	}
	// HTTP/1.0 (nginx gzip_http_version 1.1).
	resp := rawRequest(t, base, "GET /page HTTP/1.0\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n")
	resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("HTTP/1.0: Content-Encoding %q", ce)
	}
	// Validators: a strong ETag becomes weak on a compressed answer; Vary keeps the app's.
	resp, _ = getEncoded(t, "GET", base+`/page?etag="abc"&vary=Origin`, "gzip")
	if et := resp.Header.Get("ETag"); resp.Header.Get("Content-Encoding") != "gzip" || et != `W/"abc"` {
		t.Errorf("ETag %q on %q", et, resp.Header.Get("Content-Encoding"))
	}
	if v := strings.Join(resp.Header.Values("Vary"), ", "); !strings.Contains(v, "Origin") || !varies(resp) {
		t.Errorf("Vary %q", v)
	}
	resp, _ = getEncoded(t, "GET", base+`/page?etag="abc"`, "")
	if et := resp.Header.Get("ETag"); et != `"abc"` {
		t.Errorf("identity ETag %q", et)
	}
}

// TestCompressionStreamsLineByLine: a compressed stream still reaches the client piece by piece:
// the app writes line i+1 only after the client has decoded line i (and acknowledged it with a
// file), so the response completes only if each line is flushed through the compressor on its
// own. An event stream is passed uncompressed, event by event.
func TestCompressionStreamsLineByLine(t *testing.T) {
	t.Parallel()
	sock := startCompressApp(t)
	base := startGateway(t, compressNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	for _, tc := range []struct{ typ, accept, enc, line string }{
		{"text/plain", "gzip", "gzip", "line %d\n"},
		{"text/plain", "br", "br", "line %d\n"},
		{"text/plain", "zstd", "zstd", "line %d\n"},
		{"text/event-stream", "gzip, br, zstd", "", "data: event %d\n"},
	} {
		t.Run(tc.typ+"/"+tc.accept, func(t *testing.T) {
			dir := t.TempDir()
			const count = 4
			c := dialBase(t, base)
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			fmt.Fprintf(c, "GET /lockstep?dir=%s&count=%d&wait=10&type=%s HTTP/1.1\r\nHost: h\r\nAccept-Encoding: %s\r\n\r\n", dir, count, tc.typ, tc.accept)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ce := resp.Header.Get("Content-Encoding"); ce != tc.enc {
				t.Fatalf("Content-Encoding %q, want %q", ce, tc.enc)
			}
			br := bufio.NewReader(decoder(t, tc.enc, resp.Body))
			for i := range count {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("line %d did not arrive on its own: %v", i, err)
				}
				if want := fmt.Sprintf(tc.line, i); line != want {
					t.Fatalf("got %q, want %q", line, want)
				}
				if tc.enc == "" {
					_, _ = br.ReadString('\n') // the blank line ending the event
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ack-%d", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after the last line: %q, %v", rest, err)
			}
		})
	}
}

// TestCompressionStatic: precompressed siblings are served as nginx's gzip_static does (the
// original's Content-Type, Vary, an ETag of their own); a file without one is compressed on
// the fly; a range request gets the original's bytes.
func TestCompressionStatic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	js := bytes.Repeat([]byte("function f(a, b) { return a + b; }\n"), 200)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, 9)
	_, _ = zw.Write(js)
	_ = zw.Close()
	brB, err := brotli.Compress(js, 11)
	if err != nil {
		t.Fatal(err)
	}
	write("app.js", js)
	write("app.js.gz", gz.Bytes())
	write("app.js.br", brB)
	write("plain.txt", js)
	write("small.js", []byte("x"))
	write("small.js.gz", gz.Bytes()) // a sibling is served whatever the original's size
	base := startGateway(t, compressNode(t, map[string]*config.Service{
		"/": {Type: "static", Static: &config.Static{Directory: dir}},
	}))

	idResp, idBody := getEncoded(t, "GET", base+"/app.js", "")
	if !bytes.Equal(idBody, js) || !varies(idResp) || idResp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity: %d bytes, Vary %q, Content-Encoding %q", len(idBody), idResp.Header.Values("Vary"), idResp.Header.Get("Content-Encoding"))
	}
	wantType := idResp.Header.Get("Content-Type")
	if !strings.Contains(wantType, "javascript") {
		t.Fatalf("Content-Type %q", wantType)
	}
	etags := map[string]string{"": idResp.Header.Get("ETag")}
	for _, tc := range []struct {
		accept, enc string
		body        []byte
	}{
		{"gzip", "gzip", gz.Bytes()},
		{"gzip, br", "br", brB},
		{"gzip, br, zstd", "br", brB}, // no .zst: the best sibling, not zstd on the fly
		{"br;q=0.5, gzip", "gzip", gz.Bytes()},
	} {
		resp, b := getEncoded(t, "GET", base+"/app.js", tc.accept)
		if ce := resp.Header.Get("Content-Encoding"); ce != tc.enc || !bytes.Equal(b, tc.body) {
			t.Errorf("%q: Content-Encoding %q (want %q), %d bytes (want the sibling's %d)", tc.accept, ce, tc.enc, len(b), len(tc.body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != wantType || !varies(resp) {
			t.Errorf("%q: Content-Type %q, Vary %q", tc.accept, ct, resp.Header.Values("Vary"))
		}
		etags[tc.enc] = resp.Header.Get("ETag")
	}
	if etags[""] == "" || etags[""] == etags["gzip"] || etags[""] == etags["br"] || etags["gzip"] == etags["br"] {
		t.Errorf("ETags per encoding not distinct: %q", etags)
	}
	// Revalidation of the gzip variant.
	if resp, _ := getEncoded(t, "GET", base+"/app.js", "gzip", "If-None-Match", etags["gzip"]); resp.StatusCode != 304 {
		t.Errorf("If-None-Match of the gzip ETag: %d", resp.StatusCode)
	}
	// HEAD tells the sibling's length.
	if resp, _ := getEncoded(t, "HEAD", base+"/app.js", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != int64(gz.Len()) {
		t.Errorf("HEAD: Content-Encoding %q, Content-Length %d", resp.Header.Get("Content-Encoding"), resp.ContentLength)
	}
	// A range is served from the original.
	resp, b := getEncoded(t, "GET", base+"/app.js", "gzip, br", "Range", "bytes=0-9")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, js[:10]) {
		t.Errorf("range: %d, Content-Encoding %q, %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), b)
	}
	// Without a sibling: on the fly, with a weak ETag.
	resp, b = getEncoded(t, "GET", base+"/plain.txt", "zstd")
	if ce := resp.Header.Get("Content-Encoding"); ce != "zstd" || !bytes.Equal(decode(t, ce, b), js) {
		t.Errorf("plain.txt: Content-Encoding %q", ce)
	}
	if et := resp.Header.Get("ETag"); !strings.HasPrefix(et, "W/") || resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("plain.txt compressed: ETag %q, Accept-Ranges %q", et, resp.Header.Get("Accept-Ranges"))
	}
	if resp, _ := getEncoded(t, "GET", base+"/plain.txt", "zstd", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match of the weak ETag: %d", resp.StatusCode)
	}
	if resp, b := getEncoded(t, "GET", base+"/small.js", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, gz.Bytes()) {
		t.Errorf("small.js: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

// TestCompressionJSONAndOff: a json service's answer is compressed; with compression off
// nothing is, and no Vary is added.
func TestCompressionJSONAndOff(t *testing.T) {
	t.Parallel()
	value := map[string]any{}
	for i := range 100 {
		value[fmt.Sprintf("key%03d", i)] = "some value that repeats"
	}
	svc := func() map[string]*config.Service {
		return map[string]*config.Service{"/": {Type: "json", JSON: &config.JSON{Value: value}}}
	}
	on := startGateway(t, compressNode(t, svc()))
	off := startGateway(t, testNode(t, svc()))
	_, want := getEncoded(t, "GET", off+"/", "")
	resp, b := getEncoded(t, "GET", on+"/", "gzip, br")
	if ce := resp.Header.Get("Content-Encoding"); ce != "br" || !bytes.Equal(decode(t, ce, b), want) || !varies(resp) {
		t.Errorf("json: Content-Encoding %q, Vary %q", ce, resp.Header.Values("Vary"))
	}
	resp, _ = getEncoded(t, "GET", off+"/", "gzip, br")
	if resp.Header.Get("Content-Encoding") != "" || varies(resp) {
		t.Errorf("off: Content-Encoding %q, Vary %q", resp.Header.Get("Content-Encoding"), resp.Header.Values("Vary"))
	}
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "gzip;q=0.8, br;q=0.8", "*;q=0", "identity;q=0, *",
		"x-gzip", "br;q=1.000", "gzip;q=0.", "", ",,;;q=,", "zstd;q=0.001"} {
		f.Add(s)
	}
	all := codings(1<<codingGzip | 1<<codingBrotli | 1<<codingZstd)
	f.Fuzz(func(t *testing.T, h string) {
		q := acceptEncoding([]byte(h))
		for c, w := range q {
			if w < 0 || w > 1000 {
				t.Fatalf("%q: weight %d for %s", h, w, coding(c).token())
			}
		}
		c := choose(q, all)
		if c == codingIdentity {
			return
		}
		// A coding is only chosen when the client named it or "*", with a weight above 0.
		lower := strings.ToLower(h)
		if !strings.Contains(lower, c.token()) && !strings.Contains(lower, "*") {
			t.Fatalf("%q: chose %s", h, c.token())
		}
		if slices.ContainsFunc(preference[:], func(o coding) bool { return q[o] > q[c] }) {
			t.Fatalf("%q: chose %s with %d over a heavier coding (%v)", h, c.token(), q[c], q)
		}
	})
}

// TestCompressBodyAllocs: compressing a page held in memory takes its encoder and buffer from
// pools and allocates nothing per response, in every coding.
func TestCompressBodyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	z := newCompression(&config.Compression{Gzip: true, Brotli: true, Zstd: true, MinLength: 256,
		Types: config.DefaultCompressTypes, Level: 1})
	rq := &request{compress: z}
	page := bytes.Repeat([]byte("<tr><td>cell</td><td>another cell</td></tr>\n"), 500)
	for _, enc := range []string{"gzip", "br", "zstd"} {
		var ctx fasthttp.RequestCtx
		one := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.Set("Accept-Encoding", enc)
			ctx.Response.Header.SetContentType("text/html; charset=utf-8")
			ctx.Response.SetBody(page)
			compressBody(&ctx, rq)
			if string(ctx.Response.Header.ContentEncoding()) != enc {
				t.Fatalf("Content-Encoding %q", ctx.Response.Header.ContentEncoding())
			}
		}
		one()
		testkit.Budget(t, enc+" in memory", 0, 100, one)
	}
}

// TestCompressedStreamBound: past maxCompressedStreams a stream goes uncompressed (with Vary),
// and every compressed stream gives its place back when it ends.
func TestCompressedStreamBound(t *testing.T) {
	// Serial: maxCompressedStreams bounds the streams of the whole process, which this test
	// fills and then finds empty.
	sock := startCompressApp(t)
	base := startGateway(t, compressNode(t, map[string]*config.Service{"/": wsgiUpstream(sock)}))
	resp, b := getEncoded(t, "GET", base+"/stream?n=100000", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	want := decode(t, "gzip", b)
	testkit.WaitFor(t, 0, "the stream's place given back", func() bool { return compressedStreams.Load() == 0 })

	compressedStreams.Add(maxCompressedStreams)
	resp, b = getEncoded(t, "GET", base+"/stream?n=100000", "gzip")
	compressedStreams.Add(-maxCompressedStreams)
	if ce := resp.Header.Get("Content-Encoding"); ce != "" || !varies(resp) || !bytes.Equal(b, want) {
		t.Errorf("at the bound: Content-Encoding %q, Vary %q, %d bytes (want %d)", ce, resp.Header.Values("Vary"), len(b), len(want))
	}
	// An in-memory body is not counted.
	compressedStreams.Add(maxCompressedStreams)
	resp, _ = getEncoded(t, "GET", base+"/page?n=20000", "gzip")
	compressedStreams.Add(-maxCompressedStreams)
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("in memory at the bound: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if n := compressedStreams.Load(); n != 0 {
		t.Errorf("%d streams still counted", n)
	}
}
