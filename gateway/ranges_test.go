package gateway

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRanges(t *testing.T) {
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
