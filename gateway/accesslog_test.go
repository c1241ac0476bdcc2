package gateway

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"portico/internal/testkit"
)

// logCtx is a request context as the handler leaves it: request read, response set.
func logCtx(t testing.TB, raw string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.ReadLimitBody(bufioReader([]byte(raw)), 0); err != nil {
		t.Fatal(err)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, nil)
	ctx.SetStatusCode(404)
	ctx.SetBodyString("not here\n")
	return &ctx
}

// TestAccessLogLines: a request with quotes, a tab and invalid UTF-8 in its
// headers gives one JSON object that decodes to its fields, and one combined line escaped as
// nginx escapes it.
func TestAccessLogLines(t *testing.T) {
	t.Parallel()
	ctx := logCtx(t, "GET /a%20b?q=\"x\" HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: ua \"q\" \t \xff\r\nReferer: https://r.example/\r\n\r\n")
	rq := &request{host: []byte("example.com"), requestID: []byte("id-1")}
	client := netip.MustParseAddr("::ffff:192.0.2.7")

	line := appendJSONLine(nil, ctx, rq, client)
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	var e map[string]any
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{"remote": "192.0.2.7", "method": "GET", "uri": "/a%20b?q=\"x\"", "status": 404.0,
		"bytes": 9.0, "host": "example.com", "user_agent": "ua \"q\" \t \ufffd", "referer": "https://r.example/",
		"request_id": "id-1", "upstream_time": nil}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %#v, want %#v", k, e[k], v)
		}
	}

	comb := string(appendCombined(nil, ctx, client, &ctx.Request.Header))
	if !strings.HasPrefix(comb, "192.0.2.7 - - [") ||
		!strings.HasSuffix(comb, `] "GET /a%20b?q=\x22x\x22 HTTP/1.1" 404 9 "https://r.example/" "ua \x22q\x22 \x09 \xff"`+"\n") {
		t.Errorf("combined line %q", comb)
	}
}

// FuzzAccessLogJSON: whatever bytes a client puts in its headers, the JSON line is one line of
// valid JSON that gives back the valid UTF-8 it was sent.
func FuzzAccessLogJSON(f *testing.F) {
	f.Add([]byte("Mozilla/5.0 (X11; Linux x86_64)"), []byte("https://example.com/"))
	f.Add([]byte("ua \"q\" \\ \x00\x1f\x7f"), []byte("\xff\xfe"))
	f.Add([]byte("é ü 日本 \U0001F600"), []byte(""))
	f.Fuzz(func(t *testing.T, ua, ref []byte) {
		b := appendJSONString(nil, ua)
		if bytes.IndexByte(b, '\n') >= 0 {
			t.Fatalf("a newline in %q", b)
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%v: %q", err, b)
		}
		if utf8.Valid(ua) && s != string(ua) {
			t.Fatalf("%q came back as %q", ua, s)
		}
		c := appendNginxEscapedOr(nil, ref)
		if bytes.ContainsAny(c, "\"\n") {
			t.Fatalf("combined field %q", c)
		}
	})
}

// TestLogSinkReopen: lines reach the file by the background writer, and after the file is
// renamed and the sink reopened, the next ones go to a new file of the same name.
func TestLogSinkReopen(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "access.log")
	k, err := openSink(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	has := func(name, s string) func() bool {
		return func() bool { b, _ := os.ReadFile(name); return strings.Contains(string(b), s) }
	}
	k.add([]byte("one\n"))
	testkit.WaitFor(t, testkit.Patience, "the first line", has(file, "one\n"))
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := k.Reopen(); err != nil {
		t.Fatal(err)
	}
	k.add([]byte("two\n"))
	testkit.WaitFor(t, testkit.Patience, "the line after reopen", has(file, "two\n"))
	if b, _ := os.ReadFile(file + ".1"); string(b) != "one\n" {
		t.Errorf("the rotated file holds %q", b)
	}
}

// TestTimeCache: the cached formats give what time.Format gives, across seconds and zones.
func TestTimeCache(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 29, 21, 58, 2, 114_000_000, time.FixedZone("x", 3600))
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 886 * time.Millisecond, time.Second, 61*time.Second + 7*time.Millisecond, -time.Hour} {
		at := base.Add(d)
		for _, tc := range []struct {
			c      *timeCache
			layout string
		}{{jsonTime, "2006-01-02T15:04:05.000Z07:00"}, {combinedTime, "02/Jan/2006:15:04:05 -0700"}} {
			if got, want := string(tc.c.append(nil, at)), at.Format(tc.layout); got != want {
				t.Errorf("%v: %q, want %q", at, got, want)
			}
		}
	}
}
