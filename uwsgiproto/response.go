package uwsgiproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrBadResponse is wrapped by every error ReadResponseHead returns for a response head that
// is malformed or unsafe to pass on; a gateway answers 502 for it. I/O errors (timeouts,
// resets) are returned without it so that they can be told apart.
var ErrBadResponse = errors.New("uwsgiproto: bad response from uwsgi")

// DefaultMaxHeadBytes bounds a response head when the caller gives no limit. uwsgi itself
// caps the headers it builds at 64 KiB (core/writer.c: headers->limit = UMAX16), plus the
// status line.
const DefaultMaxHeadBytes = 64<<10 + 1024

// ResponseHead is the parsed status line + headers of the raw HTTP response uwsgi sends back.
type ResponseHead struct {
	StatusCode    int
	Reason        []byte
	Headers       []Header // in order, name/value slices into internal storage, valid until reuse
	ContentLength int64    // -1 when absent
	Chunked       bool     // Transfer-Encoding: chunked was sent

	buf   []byte // the head's bytes, copied out of the bufio.Reader
	spans []span // header offsets into buf, turned into Headers once buf stops growing

	reasonStart, reasonEnd int
}

// Header is one response header; Name and Value alias the ResponseHead's storage.
type Header struct{ Name, Value []byte }

type span struct{ ns, ne, vs, ve int32 }

func (h *ResponseHead) reset() {
	h.StatusCode = 0
	h.Reason = nil
	h.Headers = h.Headers[:0]
	h.ContentLength = -1
	h.Chunked = false
	h.buf = h.buf[:0]
	h.spans = h.spans[:0]
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadResponse}, args...)...)
}

// ReadResponseHead parses strictly from br (HTTP/1.0 or 1.1 status line; bare CR, LF, NUL in
// names/values, obs-fold, CL+TE together, differing duplicate CL, head over maxBytes -> error
// wrapping ErrBadResponse). h is reset and reused.
//
// What uwsgi sends (proto/base.c uwsgi_proto_base_prepare_headers, core/writer.c): a status
// line made of the request's SERVER_PROTOCOL var verbatim ("HTTP/1.0" when the var is
// missing), a space and the status the app gave start_response ("NNN" alone is completed
// from uwsgi's table, or with "Unknown"); then "Name: value\r\n" per header as the app gave
// them and "\r\n". With --cgi-mode the first line is "Status: NNN reason" instead; that form
// is accepted too. Lines end in CRLF; a bare LF or CR can only come from an app that put a
// newline into a header, which is response splitting, so it is refused, not repaired.
//
// The rules applied are RFC 9112 sections 4 (status line) and 5 (field syntax; obs-fold is
// refused, 5.2), RFC 9110 section 5.5 (field values: no CR, LF, NUL), RFC 9112 section 6.3
// (Content-Length with Transfer-Encoding, differing Content-Lengths). Like nginx, a
// Transfer-Encoding other than exactly "chunked" is refused.
//
// maxBytes <= 0 selects DefaultMaxHeadBytes.
func ReadResponseHead(br *bufio.Reader, maxBytes int, h *ResponseHead) error {
	h.reset()
	if maxBytes <= 0 {
		maxBytes = DefaultMaxHeadBytes
	}
	// Status line.
	start, end, err := h.readLine(br, maxBytes)
	if err != nil {
		return err
	}
	if err := h.parseStatusLine(start, end); err != nil {
		return err
	}
	sawTE := false
	for {
		start, end, err := h.readLine(br, maxBytes)
		if err != nil {
			return err
		}
		if start == end {
			break // the empty line ending the head
		}
		sp, err := h.parseField(start, end)
		if err != nil {
			return err
		}
		h.spans = append(h.spans, sp)
		name := h.buf[sp.ns:sp.ne]
		value := h.buf[sp.vs:sp.ve]
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := parseContentLength(value)
			if err != nil {
				return err
			}
			if h.ContentLength >= 0 && h.ContentLength != n {
				return bad("differing Content-Length headers (%d and %d)", h.ContentLength, n)
			}
			h.ContentLength = n
		case asciiEqualFold(name, "transfer-encoding"):
			if sawTE {
				return bad("more than one Transfer-Encoding header")
			}
			sawTE = true
			if !asciiEqualFold(value, "chunked") {
				return bad("unsupported Transfer-Encoding %q (only \"chunked\" is accepted)", truncate(value))
			}
			h.Chunked = true
		}
	}
	if sawTE && h.ContentLength >= 0 {
		return bad("both Content-Length and Transfer-Encoding sent (RFC 9112 section 6.3)")
	}
	// buf no longer grows: hand out slices.
	for _, sp := range h.spans {
		h.Headers = append(h.Headers, Header{
			Name:  h.buf[sp.ns:sp.ne:sp.ne],
			Value: h.buf[sp.vs:sp.ve:sp.ve],
		})
	}
	h.Reason = h.buf[h.reasonStart:h.reasonEnd:h.reasonEnd]
	return nil
}

// readLine appends the next CRLF-terminated line to h.buf and returns its content's bounds
// (without the CRLF).
func (h *ResponseHead) readLine(br *bufio.Reader, maxBytes int) (start, end int, err error) {
	start = len(h.buf)
	for {
		frag, rerr := br.ReadSlice('\n')
		if len(h.buf)+len(frag) > maxBytes {
			return 0, 0, bad("response head larger than %d bytes", maxBytes)
		}
		h.buf = append(h.buf, frag...)
		if rerr == nil {
			break
		}
		if rerr == bufio.ErrBufferFull {
			continue
		}
		if rerr == io.EOF {
			if len(h.buf) == 0 {
				return 0, 0, fmt.Errorf("%w: connection closed before any response byte: %w", ErrBadResponse, io.ErrUnexpectedEOF)
			}
			return 0, 0, fmt.Errorf("%w: connection closed after %d bytes of the response head: %w", ErrBadResponse, len(h.buf), io.ErrUnexpectedEOF)
		}
		return 0, 0, fmt.Errorf("uwsgiproto: reading response head after %d bytes: %w", len(h.buf), rerr)
	}
	end = len(h.buf) - 1 // at the LF
	if end == start || h.buf[end-1] != '\r' {
		return 0, 0, bad("bare LF in the response head at byte %d", end)
	}
	return start, end - 1, nil
}

func (h *ResponseHead) parseStatusLine(start, end int) error {
	line := h.buf[start:end]
	var rest []byte
	switch {
	case len(line) >= 8 && string(line[:7]) == "HTTP/1." && line[7] >= '0' && line[7] <= '9':
		if len(line) < 12 || line[8] != ' ' {
			return bad("malformed status line %q", truncate(line))
		}
		rest = line[9:]
		start += 9
	case len(line) >= 7 && asciiEqualFold(line[:7], "status:"):
		// --cgi-mode: "Status: NNN reason".
		i := 7
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		rest = line[i:]
		start += i
	default:
		return bad("malformed status line %q (want \"HTTP/1.x NNN reason\")", truncate(line))
	}
	if len(rest) < 3 || !isDigit(rest[0]) || !isDigit(rest[1]) || !isDigit(rest[2]) || rest[0] == '0' {
		return bad("malformed status code in %q", truncate(line))
	}
	h.StatusCode = int(rest[0]-'0')*100 + int(rest[1]-'0')*10 + int(rest[2]-'0')
	reason := rest[3:]
	rs := start + 3
	if len(reason) > 0 {
		if reason[0] != ' ' {
			return bad("malformed status code in %q", truncate(line))
		}
		reason = reason[1:]
		rs++
	}
	for i, c := range reason {
		if c < ' ' && c != '\t' || c == 0x7f {
			return bad("control byte 0x%02x in the reason phrase at byte %d", c, rs+i)
		}
	}
	h.reasonStart, h.reasonEnd = rs, rs+len(reason)
	return nil
}

func (h *ResponseHead) parseField(start, end int) (span, error) {
	line := h.buf[start:end]
	if line[0] == ' ' || line[0] == '\t' {
		return span{}, bad("obsolete line folding at byte %d (RFC 9112 section 5.2)", start)
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return span{}, bad("header line without a colon: %q", truncate(line))
	}
	if colon == 0 {
		return span{}, bad("empty header name at byte %d", start)
	}
	for i, c := range line[:colon] {
		if !isTokenChar(c) {
			return span{}, bad("invalid byte 0x%02x in header name %q at byte %d", c, truncate(line[:colon]), start+i)
		}
	}
	vs, ve := colon+1, len(line)
	for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
		vs++
	}
	for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
		ve--
	}
	for i := vs; i < ve; i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			what := "control byte"
			switch c {
			case 0:
				what = "NUL"
			case '\r':
				what = "bare CR"
			}
			return span{}, bad("%s (0x%02x) in the value of header %q at byte %d", what, c, truncate(line[:colon]), start+i)
		}
	}
	return span{int32(start), int32(start + colon), int32(start + vs), int32(start + ve)}, nil
}

// parseContentLength accepts 1*DIGIT, or a list of identical values ("42, 42", RFC 9110
// section 8.6), and rejects signs, spaces inside numbers and overflow.
func parseContentLength(v []byte) (int64, error) {
	n := int64(-1)
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		part = bytes.Trim(part, " \t")
		if len(part) == 0 || len(part) > 18 {
			return 0, bad("invalid Content-Length %q", truncate(part))
		}
		var x int64
		for _, c := range part {
			if !isDigit(c) {
				return 0, bad("non-numeric Content-Length %q", truncate(part))
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, bad("differing Content-Length values (%d and %d)", n, x)
		}
		n = x
	}
	if n < 0 {
		return 0, bad("empty Content-Length")
	}
	return n, nil
}

// AppendTo appends the head in canonical form ("HTTP/1.1 NNN reason", the headers as
// received, the empty line) to dst.
func (h *ResponseHead) AppendTo(dst []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(h.StatusCode), 10)
	dst = append(dst, ' ')
	dst = append(dst, h.Reason...)
	dst = append(dst, "\r\n"...)
	for _, hd := range h.Headers {
		dst = append(dst, hd.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, hd.Value...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isTokenChar reports whether c may appear in a field name (RFC 9110 section 5.6.2, tchar).
func isTokenChar(c byte) bool { return c < 0x80 && tokenTable[c] }

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-32] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
