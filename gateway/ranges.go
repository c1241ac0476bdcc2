package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Byte ranges of a static file (RFC 9110 section 14), decided as nginx's range filter
// decides them (ngx_http_range_filter_module.c), so that a client sees the same answer from
// either: one satisfiable range is a 206 with Content-Range; several are one 206
// multipart/byteranges body, the parts in the order asked, overlaps not merged; a list whose
// ranges add up to more than the file is answered with the whole file (nginx's guard against
// "bytes=0-,0-,0-..." multiplying a download); a list with no satisfiable range is 416; a
// header nginx cannot parse is 416 as well, one that does not start with "bytes=" is ignored.

// byteRange is [start, end) of a file.
type byteRange struct{ start, end int64 }

// The outcomes of a Range header.
const (
	rangesOK            = iota // serve ranges
	rangesDeclined             // serve the whole file (200)
	rangesUnsatisfiable        // 416
)

// parseRanges parses a Range header against a file of size bytes, following
// ngx_http_range_parse: spaces (only) around the numbers, "a-", "a-b" and "-n" specs
// separated by commas, ranges that start past the end skipped, the end clamped to the file.
func parseRanges(h []byte, size int64) ([]byteRange, int) {
	const prefix = "bytes="
	if len(h) <= len(prefix) || !asciiEqualFold(h[:len(prefix)], prefix) {
		return nil, rangesDeclined
	}
	p := h[len(prefix):]
	i := 0
	at := func() byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	skipSpaces := func() {
		for at() == ' ' {
			i++
		}
	}
	number := func() (int64, bool) {
		if c := at(); c < '0' || c > '9' {
			return 0, false
		}
		var n int64
		for c := at(); c >= '0' && c <= '9'; c = at() {
			if n > (1<<63-1-int64(c-'0'))/10 {
				return 0, false // past off_t: nginx answers 416
			}
			n = n*10 + int64(c-'0')
			i++
		}
		return n, true
	}
	var ranges []byteRange
	var total int64
	for {
		var start, end int64
		skipSpaces()
		open := false
		if at() != '-' {
			var ok bool
			if start, ok = number(); !ok {
				return nil, rangesUnsatisfiable
			}
			skipSpaces()
			if at() != '-' {
				return nil, rangesUnsatisfiable
			}
			i++
			skipSpaces()
			if c := at(); c == ',' || c == 0 {
				end, open = size, true
			}
			if !open {
				var ok bool
				if end, ok = number(); !ok {
					return nil, rangesUnsatisfiable
				}
			}
		} else {
			i++
			n, ok := number()
			if !ok {
				return nil, rangesUnsatisfiable
			}
			start, end = max(size-n, 0), size-1
		}
		if !open {
			skipSpaces()
			if c := at(); c != ',' && c != 0 {
				return nil, rangesUnsatisfiable
			}
			if end >= size {
				end = size
			} else {
				end++
			}
		}
		if start < end {
			ranges = append(ranges, byteRange{start, end})
			total += end - start // both within the file: no overflow
		} else if start == 0 {
			return nil, rangesDeclined // an empty file, or "-0"
		}
		if at() != ',' || i >= len(p) {
			break
		}
		i++
	}
	if len(ranges) == 0 {
		return nil, rangesUnsatisfiable
	}
	if total > size {
		return nil, rangesDeclined
	}
	return ranges, rangesOK
}

// ifRangeHolds applies If-Range (RFC 9110 section 13.1.5) as nginx does: an entity tag must
// equal the file's ETag exactly, a date its Last-Modified to the second; otherwise the Range
// is ignored and the whole file sent. An absent If-Range holds.
func ifRangeHolds(ir []byte, etag string, mod time.Time) bool {
	if len(ir) == 0 {
		return true
	}
	if len(ir) >= 2 && ir[len(ir)-1] == '"' {
		return string(ir) == etag
	}
	t, err := http.ParseTime(string(ir))
	return err == nil && t.Unix() == mod.Unix()
}

// multipartRanges is the body of a 206 multipart/byteranges answer (RFC 9110 section 14.6),
// laid out as nginx lays it out: before each part CRLF, the boundary, the part's Content-Type
// and Content-Range; after the last CRLF and the closing boundary. The file is read with
// pread, part after part; each read moves the client's write deadline (write_timeout).
type multipartRanges struct {
	f        *os.File
	boundary string
	segs     []segment
	client   net.Conn
	writeTO  time.Duration
}

// segment is a run of text, or of the file when file is set.
type segment struct {
	text   string
	file   bool
	off, n int64
}

func newMultipartRanges(f *os.File, ranges []byteRange, ctype string, size int64, client net.Conn, writeTO time.Duration) *multipartRanges {
	var rnd [10]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand)
	m := &multipartRanges{f: f, boundary: hex.EncodeToString(rnd[:]), client: client, writeTO: writeTO}
	m.segs = make([]segment, 0, 2*len(ranges)+1)
	total := "/" + strconv.FormatInt(size, 10) + "\r\n\r\n"
	for _, r := range ranges {
		m.segs = append(m.segs,
			segment{text: "\r\n--" + m.boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: bytes " +
				strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.end-1, 10) + total},
			segment{file: true, off: r.start, n: r.end - r.start})
	}
	m.segs = append(m.segs, segment{text: "\r\n--" + m.boundary + "--\r\n"})
	return m
}

// length is the body's Content-Length.
func (m *multipartRanges) length() int64 {
	var n int64
	for _, s := range m.segs {
		if s.file {
			n += s.n
		} else {
			n += int64(len(s.text))
		}
	}
	return n
}

func (m *multipartRanges) Read(p []byte) (int, error) {
	for len(m.segs) > 0 {
		s := &m.segs[0]
		if !s.file {
			if s.text == "" {
				m.segs = m.segs[1:]
				continue
			}
			n := copy(p, s.text)
			s.text = s.text[n:]
			return n, nil
		}
		if s.n == 0 {
			m.segs = m.segs[1:]
			continue
		}
		k := min(int64(len(p)), s.n)
		n, err := m.f.ReadAt(p[:k], s.off)
		s.off += int64(n)
		s.n -= int64(n)
		if n > 0 {
			if m.writeTO > 0 && m.client != nil {
				_ = m.client.SetWriteDeadline(time.Now().Add(m.writeTO)) // bounds the write of these bytes
			}
			return n, nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF // the file shrank under us: the connection is cut
		}
		return 0, err
	}
	return 0, io.EOF
}

func (m *multipartRanges) Close() error { return m.f.Close() }

var _ io.ReadCloser = (*multipartRanges)(nil)
