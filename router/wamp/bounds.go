package wamp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxValues bounds the values (list items, dict keys and values, the containers themselves)
// of one decoded message. A decoded value costs far more than its bytes: a JSON `{}` is three
// bytes on the wire and a map of some 50 bytes plus its 16-byte slot once decoded, a msgpack
// nil one byte and 16. The transport's max_message_size bounds the input; this bounds what
// the decoder builds from it, whatever the limit was raised to. One WAMP message with more
// than a million values is better sent in parts (progressive call results); a message of
// the default max_message_size (1 MiB) of JSON cannot reach it, since every JSON value but
// the first takes at least two bytes.
const maxValues = 1 << 20

var errTooManyValues = fmt.Errorf("more than %d values in one message", maxValues)

// jsonScan checks, before encoding/json allocates anything, that b nests no deeper than
// maxDepth and holds at most maxValues values (counting object keys). It does not validate
// the JSON: encoding/json does, after it; it only counts the places where a value starts
// (the first byte of the message, and the first non-blank byte after '[', '{', ',' and ':'
// that does not close a container).
func jsonScan(b []byte) error {
	depth, values := 0, 0
	expect := true // a value (or key) may start at the next non-blank byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		if expect && c != ']' && c != '}' {
			values++
			if values > maxValues {
				return errTooManyValues
			}
		}
		expect = false
		switch c {
		case '[', '{':
			// The message list is depth 0; its items are at depth 1, as in jsonNeutral.
			if depth > maxDepth {
				return errDepth
			}
			depth++
			expect = true
		case ']', '}':
			depth--
		case ',', ':':
			expect = true
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return nil
}

// cborScan walks the data items of b (RFC 8949 section 3) without decoding them, before
// fxamacker/cbor allocates anything: every claimed length must fit in the bytes that are
// left (an item takes at least one byte, a pair two), nesting stops at maxDepth and the
// items number at most maxValues. fxamacker/cbor sizes a slice or map from the count in its
// head; its per-container bounds (MaxArrayElements, MaxMapPairs) do not bound the sum over
// many containers, which this does. Well-formedness beyond that is left to the decoder.
func cborScan(b []byte) error {
	if len(b) == 0 {
		return io.EOF
	}
	s := cborScanner{b: b, left: maxValues}
	if err := s.item(0); err != nil {
		return err
	}
	return nil
}

type cborScanner struct {
	b    []byte
	off  int
	left int // values still allowed
}

var errCBORTruncated = io.ErrUnexpectedEOF

// head reads an item head: major type, additional info, argument.
func (s *cborScanner) head() (major, info byte, arg uint64, err error) {
	if s.off >= len(s.b) {
		return 0, 0, 0, errCBORTruncated
	}
	c := s.b[s.off]
	s.off++
	major, info = c>>5, c&0x1f
	var n int
	switch {
	case info < 24:
		return major, info, uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	case info == 31:
		return major, info, 0, nil // indefinite length, or a break
	default:
		return 0, 0, 0, fmt.Errorf("reserved additional information %d", info)
	}
	if len(s.b)-s.off < n {
		return 0, 0, 0, errCBORTruncated
	}
	switch n {
	case 1:
		arg = uint64(s.b[s.off])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(s.b[s.off:]))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(s.b[s.off:]))
	case 8:
		arg = binary.BigEndian.Uint64(s.b[s.off:])
	}
	s.off += n
	return major, info, arg, nil
}

var errCBORBreak = errors.New("unexpected break")

// item scans one data item at the given depth (the message list is depth 0).
func (s *cborScanner) item(depth int) error {
	if s.left--; s.left < 0 {
		return errTooManyValues
	}
	major, info, arg, err := s.head()
	if err != nil {
		return err
	}
	rest := uint64(len(s.b) - s.off)
	switch major {
	case 0, 1: // integers
		return nil
	case 2, 3: // byte and text strings
		if info == 31 {
			return s.chunks(major)
		}
		if arg > rest {
			return fmt.Errorf("string of %d bytes in %d: %w", arg, rest, io.ErrUnexpectedEOF)
		}
		s.off += int(arg)
		return nil
	case 4, 5: // arrays, maps
		if depth >= maxDepth+1 {
			return errDepth
		}
		per := uint64(1)
		if major == 5 {
			per = 2
		}
		if info == 31 {
			for {
				if s.off < len(s.b) && s.b[s.off] == 0xff {
					s.off++
					return nil
				}
				for range per {
					if err := s.item(depth + 1); err != nil {
						return err
					}
				}
			}
		}
		if arg > rest/per {
			return fmt.Errorf("%d entries claimed in %d bytes: %w", arg, rest, io.ErrUnexpectedEOF)
		}
		for range arg * per {
			if err := s.item(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case 6: // tags: refused by the decoder, scanned here only to stay in step
		return s.item(depth)
	}
	// Major type 7: simple values and floats; the head carried them.
	if info == 31 {
		return errCBORBreak
	}
	return nil
}

// chunks scans the definite-length chunks of an indefinite-length string up to its break.
func (s *cborScanner) chunks(major byte) error {
	for {
		if s.off < len(s.b) && s.b[s.off] == 0xff {
			s.off++
			return nil
		}
		m, info, arg, err := s.head()
		if err != nil {
			return err
		}
		if m != major || info == 31 {
			return errors.New("bad chunk in an indefinite-length string")
		}
		if arg > uint64(len(s.b)-s.off) {
			return errCBORTruncated
		}
		s.off += int(arg)
	}
}
