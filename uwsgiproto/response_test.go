package uwsgiproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"portico/internal/testkit"
)

func parse(t testing.TB, raw string, max int) (*ResponseHead, string, error) {
	var h ResponseHead
	br := bufio.NewReaderSize(strings.NewReader(raw), 16)
	err := ReadResponseHead(br, max, &h)
	rest, _ := io.ReadAll(br)
	return &h, string(rest), err
}

func TestReadResponseHeadValid(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		code    int
		reason  string
		headers string // "name=value|..."
		cl      int64
		chunked bool
	}{
		{"uwsgi with content-length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
			200, "OK", "Content-Type=text/plain|Content-Length=5", 5, false},
		{"no protocol var", "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnf", 404, "Not Found", "Content-Type=text/plain", -1, false},
		{"unknown status", "HTTP/1.0 299 Unknown\r\n\r\n", 299, "Unknown", "", -1, false},
		{"no reason", "HTTP/1.1 204\r\n\r\n", 204, "", "", -1, false},
		{"empty reason", "HTTP/1.1 204 \r\n\r\n", 204, "", "", -1, false},
		{"cgi mode", "Status: 302 Found\r\nLocation: /x\r\n\r\n", 302, "Found", "Location=/x", -1, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 200, "OK", "Transfer-Encoding=Chunked", -1, true},
		{"ows trimmed, empty value, tab", "HTTP/1.1 200 OK\r\nX-A:  a b\t\r\nX-E:\r\nX-T: \tq\r\n\r\n", 200, "OK", "X-A=a b|X-E=|X-T=q", -1, false},
		{"same content-length twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", 200, "OK", "Content-Length=3|content-length=3", 3, false},
		{"content-length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", 200, "OK", "Content-Length=3, 3", 3, false},
		{"obs-text in value", "HTTP/1.1 200 OK\r\nX-U: caf\xc3\xa9\r\n\r\n", 200, "OK", "X-U=caf\xc3\xa9", -1, false},
		{"long line over bufio size", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("z", 100) + "\r\n\r\n", 200, "OK", "X-Long=" + strings.Repeat("z", 100), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, err := parse(t, tt.raw, 4096)
			if err != nil {
				t.Fatal(err)
			}
			var hs []string
			for _, hd := range h.Headers {
				hs = append(hs, string(hd.Name)+"="+string(hd.Value))
			}
			if h.StatusCode != tt.code || string(h.Reason) != tt.reason || strings.Join(hs, "|") != tt.headers ||
				h.ContentLength != tt.cl || h.Chunked != tt.chunked {
				t.Fatalf("got %d %q %q cl=%d chunked=%v", h.StatusCode, h.Reason, hs, h.ContentLength, h.Chunked)
			}
			if !strings.HasSuffix(tt.raw, "\r\n\r\n"+rest) {
				t.Fatalf("body left in reader %q", rest)
			}
		})
	}
}

func TestReadResponseHeadInvalid(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"http/2 status line", "HTTP/2.0 200 OK\r\n\r\n", `malformed status line "HTTP/2.0 200 OK"`},
		{"garbage", "hello\r\n\r\n", "malformed status line"},
		{"two-digit code", "HTTP/1.1 20 OK\r\n\r\n", "malformed status code"},
		{"code 099", "HTTP/1.1 099 X\r\n\r\n", "malformed status code"},
		{"code with letters", "HTTP/1.1 2x0 OK\r\n\r\n", "malformed status code"},
		{"four digits", "HTTP/1.1 2000 OK\r\n\r\n", "malformed status code"},
		{"ctl in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", "control byte 0x01 in the reason phrase"},
		{"bare LF ending", "HTTP/1.1 200 OK\n\n", "bare LF"},
		{"bare LF in header", "HTTP/1.1 200 OK\r\nX-A: a\nB: c\r\n\r\n", "bare LF"},
		{"bare CR in value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", `bare CR (0x0d) in the value of header "X-A"`},
		{"NUL in value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", `NUL (0x00) in the value of header "X-A"`},
		{"ctl in value", "HTTP/1.1 200 OK\r\nX-A: a\x1bb\r\n\r\n", "control byte (0x1b)"},
		{"NUL in name", "HTTP/1.1 200 OK\r\nX\x00A: a\r\n\r\n", "invalid byte 0x00 in header name"},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n", "invalid byte 0x20 in header name"},
		{"bad token char", "HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n", "invalid byte 0x28 in header name"},
		{"empty name", "HTTP/1.1 200 OK\r\n: a\r\n\r\n", "empty header name"},
		{"no colon", "HTTP/1.1 200 OK\r\nX-A a\r\n\r\n", "header line without a colon"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", "obsolete line folding"},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"},
		{"TE and CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "both Content-Length and Transfer-Encoding"},
		{"differing CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "differing Content-Length headers (3 and 4)"},
		{"differing CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", "differing Content-Length values (3 and 4)"},
		{"non-numeric CL", "HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\n", `non-numeric Content-Length "3a"`},
		{"negative CL", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "non-numeric Content-Length"},
		{"empty CL", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "empty Content-Length"},
		{"huge CL", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "invalid Content-Length"},
		{"gzip TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", `unsupported Transfer-Encoding "gzip, chunked"`},
		{"two TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "more than one Transfer-Encoding"},
		{"too large", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 200) + "\r\n\r\n", "response head larger than 128 bytes"},
		{"eof before anything", "", "connection closed before any response byte"},
		{"eof in head", "HTTP/1.1 200 OK\r\nX-A: b", "connection closed after 23 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, tt.raw, 128)
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant ErrBadResponse containing %q", err, tt.want)
			}
		})
	}
}

func TestReadResponseHeadIOError(t *testing.T) {
	boom := errors.New("read timeout")
	br := bufio.NewReader(io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"), errReader{boom}))
	var h ResponseHead
	err := ReadResponseHead(br, 0, &h)
	if !errors.Is(err, boom) || errors.Is(err, ErrBadResponse) {
		t.Fatalf("err = %v, want the I/O error and not ErrBadResponse", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadResponseHeadReuse(t *testing.T) {
	var h ResponseHead
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 201 Created\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n"))
	if err := ReadResponseHead(br, 0, &h); err != nil {
		t.Fatal(err)
	}
	br.Reset(strings.NewReader("HTTP/1.0 200 OK\r\nC: 3\r\n\r\n"))
	if err := ReadResponseHead(br, 0, &h); err != nil {
		t.Fatal(err)
	}
	if h.StatusCode != 200 || len(h.Headers) != 1 || string(h.Headers[0].Name) != "C" || h.ContentLength != -1 {
		t.Fatalf("stale state after reuse: %+v", h)
	}
}

var typicalHead = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 1234\r\n" +
	"Set-Cookie: session=0123456789abcdef; HttpOnly; Path=/\r\nVary: Cookie\r\nX-Frame-Options: DENY\r\n\r\n"

func TestReadResponseHeadAllocs(t *testing.T) {
	var h ResponseHead
	r := strings.NewReader(typicalHead)
	br := bufio.NewReader(r)
	run := func() {
		r.Reset(typicalHead)
		br.Reset(r)
		if err := ReadResponseHead(br, 0, &h); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testkit.Allocs(100, run); n != 0 {
		t.Fatalf("ReadResponseHead allocates %.1f times per head once warm, want 0", n)
	}
}

func BenchmarkReadResponseHead(b *testing.B) {
	var h ResponseHead
	r := strings.NewReader(typicalHead)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalHead)))
	for b.Loop() {
		r.Reset(typicalHead)
		br.Reset(r)
		if err := ReadResponseHead(br, 0, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzReadResponseHead(f *testing.F) {
	f.Add([]byte(typicalHead))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.0 299 Unknown\r\n\r\n"))
	f.Add([]byte("Status: 302 Found\r\nLocation: /x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h ResponseHead
		err := ReadResponseHead(bufio.NewReaderSize(bytes.NewReader(data), 16), 4096, &h)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error without ErrBadResponse: %v", err)
			}
			return
		}
		// An accepted head re-serialises to a head that parses to the same fields.
		out := h.AppendTo(nil)
		var h2 ResponseHead
		if err := ReadResponseHead(bufio.NewReader(bytes.NewReader(out)), 8192, &h2); err != nil {
			t.Fatalf("re-serialised head %q refused: %v", out, err)
		}
		if h.StatusCode != h2.StatusCode || !bytes.Equal(h.Reason, h2.Reason) || h.ContentLength != h2.ContentLength ||
			h.Chunked != h2.Chunked || len(h.Headers) != len(h2.Headers) {
			t.Fatalf("round trip differs: %q", out)
		}
		for i := range h.Headers {
			if !bytes.Equal(h.Headers[i].Name, h2.Headers[i].Name) || !bytes.Equal(h.Headers[i].Value, h2.Headers[i].Value) {
				t.Fatalf("header %d differs: %q", i, out)
			}
		}
	})
}
