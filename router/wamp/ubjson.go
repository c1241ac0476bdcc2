package wamp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ubjsonCodec is wamp.2.ubjson (spec "Serializations"; Universal Binary JSON draft 12,
// ubjson.org, the version py-ubjson implements and Autobahn uses). No maintained Go UBJSON
// library exists, and the format is small: this file is the whole codec.
//
// Encoding follows py-ubjson's choices so that the router's bytes match Autobahn's: the
// smallest integer marker (U for 0..255, i for -128..-1, then I, l, L; H for integers beyond
// int64), D for floats, S with a length for strings, containers without counts, and binary
// as the strongly typed uint8 array [$U#<n><bytes>, which py-ubjson reads back as bytes.
//
// Decoding accepts all of draft 12: no-op markers (N) between values, C chars, H
// high-precision numbers (read as an integer when they are one, else as a float), counted
// containers (#) and typed ones ($, with the markers of the items left out). A counted uint8
// array is binary, as py-ubjson reads it; every other container is a list or dict.
type ubjsonCodec struct{}

// UBJSON is the fourth serializer; see ubjsonCodec.
var UBJSON Codec = ubjsonCodec{}

func (ubjsonCodec) Name() string { return "ubjson" }
func (ubjsonCodec) Binary() bool { return true }

func (c ubjsonCodec) Encode(dst []byte, m Message) ([]byte, error) {
	return appendMessage(c, dst, m)
}

func (ubjsonCodec) Decode(b []byte) (Message, error) {
	if len(b) == 0 || b[0] != '[' {
		return nil, &DecodeError{Element: -1, Err: errors.New("ubjson: expected list")}
	}
	// A dry pass first checks the shape and the bounds without building anything, so that
	// refusing an uncounted list of a million nulls costs no memory (as jsonScan and
	// cborScan do for the other codecs).
	var v any
	var err error
	for _, dry := range []bool{true, false} {
		d := ubDecoder{b: b, left: maxValues, dry: dry}
		v, err = d.value(0)
		if err == nil && d.pos < len(d.b) {
			err = fmt.Errorf("%d bytes of trailing data", len(d.b)-d.pos)
		}
		if err != nil {
			return nil, &DecodeError{Element: -1, Err: fmt.Errorf("ubjson: %w", err)}
		}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, &DecodeError{Element: -1, Err: expected("list", v)}
	}
	return fromList(l)
}

var errUBTruncated = errors.New("truncated")

type ubDecoder struct {
	b    []byte
	pos  int
	left int  // values still allowed in this message (maxValues)
	dry  bool // check only: build no values
}

func (d *ubDecoder) byte() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, errUBTruncated
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

func (d *ubDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.pos {
		return nil, errUBTruncated
	}
	p := d.b[d.pos : d.pos+n]
	d.pos += n
	return p, nil
}

// marker reads the next marker, skipping no-ops.
func (d *ubDecoder) marker() (byte, error) {
	for {
		c, err := d.byte()
		if err != nil || c != 'N' {
			return c, err
		}
	}
}

// value reads one value, marker included.
func (d *ubDecoder) value(depth int) (any, error) {
	c, err := d.marker()
	if err != nil {
		return nil, err
	}
	return d.valueOf(c, depth)
}

// valueOf reads the rest of a value whose marker c was read (or given by a typed container).
func (d *ubDecoder) valueOf(c byte, depth int) (any, error) {
	if d.left--; d.left < 0 {
		return nil, errTooManyValues
	}
	if d.dry && c != '[' && c != '{' {
		return nil, d.skip(c)
	}
	switch c {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L':
		return d.int(c)
	case 'd':
		p, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), nil
	case 'D':
		p, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case 'H':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return highPrecision(s)
	case 'C':
		p, err := d.take(1)
		if err != nil {
			return nil, err
		}
		if p[0] >= utf8.RuneSelf {
			return nil, fmt.Errorf("char 0x%02x is not ASCII", p[0])
		}
		return string(p), nil
	case 'S':
		return d.str()
	case '[':
		if depth >= maxDepth {
			return nil, errDepth
		}
		return d.array(depth)
	case '{':
		if depth >= maxDepth {
			return nil, errDepth
		}
		return d.object(depth)
	}
	return nil, fmt.Errorf("unsupported marker 0x%02x at byte %d", c, d.pos-1)
}

// skip checks a scalar without building its value (the dry pass).
func (d *ubDecoder) skip(c byte) error {
	var err error
	switch c {
	case 'Z', 'T', 'F':
	case 'i', 'U', 'I', 'l', 'L':
		_, err = d.int(c)
	case 'd':
		_, err = d.take(4)
	case 'D':
		_, err = d.take(8)
	case 'C':
		var p []byte
		if p, err = d.take(1); err == nil && p[0] >= utf8.RuneSelf {
			err = fmt.Errorf("char 0x%02x is not ASCII", p[0])
		}
	case 'H', 'S':
		var n int
		if n, err = d.length(); err == nil {
			_, err = d.take(n)
		}
	default:
		err = fmt.Errorf("unsupported marker 0x%02x at byte %d", c, d.pos-1)
	}
	return err
}

func (d *ubDecoder) int(c byte) (int64, error) {
	switch c {
	case 'i':
		p, err := d.take(1)
		if err != nil {
			return 0, err
		}
		return int64(int8(p[0])), nil
	case 'U':
		p, err := d.take(1)
		if err != nil {
			return 0, err
		}
		return int64(p[0]), nil
	case 'I':
		p, err := d.take(2)
		if err != nil {
			return 0, err
		}
		return int64(int16(binary.BigEndian.Uint16(p))), nil
	case 'l':
		p, err := d.take(4)
		if err != nil {
			return 0, err
		}
		return int64(int32(binary.BigEndian.Uint32(p))), nil
	case 'L':
		p, err := d.take(8)
		if err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint64(p)), nil
	}
	return 0, fmt.Errorf("expected an integer marker, got 0x%02x", c)
}

// length reads a count or length: an integer value, marker included, not negative.
func (d *ubDecoder) length() (int, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	n, err := d.int(c)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("length %d out of range", n)
	}
	return int(n), nil
}

// str reads a length and that many bytes of UTF-8.
func (d *ubDecoder) str() (string, error) {
	n, err := d.length()
	if err != nil {
		return "", err
	}
	p, err := d.take(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(p) {
		return "", errors.New("string is not valid UTF-8")
	}
	return string(p), nil
}

// highPrecision reads H's decimal string: an integer when it is one that fits 64 bits, else a
// float (py-ubjson reads it as a Decimal; WAMP's values have no such type).
func highPrecision(s string) (any, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return normUint(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("high-precision number %q: not a number", s)
	}
	return f, nil
}

// params reads a container's optional $type and #count (draft 12 "Optimized Format"). typ is
// 0 when untyped; n is -1 when not counted.
func (d *ubDecoder) params() (typ byte, n int, err error) {
	if d.pos < len(d.b) && d.b[d.pos] == '$' {
		d.pos++
		if typ, err = d.byte(); err != nil {
			return 0, 0, err
		}
		switch typ {
		case 'Z', 'T', 'F', 'i', 'U', 'I', 'l', 'L', 'd', 'D', 'H', 'C', 'S', '[', '{':
		default:
			return 0, 0, fmt.Errorf("invalid container type 0x%02x", typ)
		}
		if d.pos >= len(d.b) || d.b[d.pos] != '#' {
			return 0, 0, errors.New("container type without count")
		}
	}
	if d.pos < len(d.b) && d.b[d.pos] == '#' {
		d.pos++
		if n, err = d.length(); err != nil {
			return 0, 0, err
		}
		// Items of Z, T and F take no bytes; any other takes at least one.
		if typ != 'Z' && typ != 'T' && typ != 'F' && n > len(d.b)-d.pos {
			return 0, 0, fmt.Errorf("container of %d items in %d bytes", n, len(d.b)-d.pos)
		}
		if n > d.left {
			return 0, 0, errTooManyValues
		}
		return typ, n, nil
	}
	return 0, -1, nil
}

func (d *ubDecoder) array(depth int) (any, error) {
	typ, n, err := d.params()
	if err != nil {
		return nil, err
	}
	if typ == 'U' { // binary (py-ubjson's bytes)
		p, err := d.take(n)
		if err != nil {
			return nil, err
		}
		if d.dry {
			return nil, nil
		}
		return append(make([]byte, 0, len(p)), p...), nil
	}
	if d.dry {
		for i := 0; n < 0 || i < n; i++ {
			c := typ
			if c == 0 {
				if c, err = d.marker(); err != nil {
					return nil, err
				}
				if n < 0 && c == ']' {
					break
				}
			}
			if _, err := d.valueOf(c, depth+1); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if n < 0 {
		l := make([]any, 0, 8)
		for {
			c, err := d.marker()
			if err != nil {
				return nil, err
			}
			if c == ']' {
				return l, nil
			}
			v, err := d.valueOf(c, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
	}
	l := make([]any, 0, min(n, presize))
	for range n {
		var v any
		if typ != 0 {
			v, err = d.valueOf(typ, depth+1)
		} else {
			v, err = d.value(depth + 1)
		}
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
	return l, nil
}

func (d *ubDecoder) object(depth int) (any, error) {
	typ, n, err := d.params()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if !d.dry {
		m = make(map[string]any, min(max(n, 0), presize))
	}
	for i := 0; n < 0 || i < n; i++ {
		c, err := d.marker()
		if err != nil {
			return nil, err
		}
		if n < 0 && c == '}' {
			return m, nil
		}
		d.pos-- // c is the key length's marker
		if d.left--; d.left < 0 {
			return nil, errTooManyValues
		}
		if d.dry {
			if err := d.skip('S'); err != nil {
				return nil, fmt.Errorf("dict key: %w", err)
			}
			c := typ
			if c == 0 {
				if c, err = d.marker(); err != nil {
					return nil, err
				}
			}
			if _, err := d.valueOf(c, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		k, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("dict key: %w", err)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("dict key %q twice", k)
		}
		var v any
		if typ != 0 {
			v, err = d.valueOf(typ, depth+1)
		} else {
			v, err = d.value(depth + 1)
		}
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

func (ubjsonCodec) arrayHead(dst []byte, _ int) []byte { return append(dst, '[') }
func (ubjsonCodec) arrayEnd(dst []byte) []byte         { return append(dst, ']') }
func (ubjsonCodec) mapHead(dst []byte, _ int) []byte   { return append(dst, '{') }
func (ubjsonCodec) mapEnd(dst []byte) []byte           { return append(dst, '}') }
func (ubjsonCodec) sep(dst []byte) []byte              { return dst }
func (ubjsonCodec) null(dst []byte) []byte             { return append(dst, 'Z') }

func (ubjsonCodec) bool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 'T')
	}
	return append(dst, 'F')
}

// int writes n with the smallest marker, in py-ubjson's order (U before i).
func (ubjsonCodec) int(dst []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= math.MaxUint8:
		return append(dst, 'U', byte(n))
	case n >= math.MinInt8 && n < 0:
		return append(dst, 'i', byte(n))
	case n >= math.MinInt16 && n <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(dst, 'I'), uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(dst, 'l'), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 'L'), uint64(n))
}

func (c ubjsonCodec) uint(dst []byte, n uint64) []byte {
	if n <= math.MaxInt64 {
		return c.int(dst, int64(n))
	}
	// Beyond int64 UBJSON has only the high-precision number, a decimal string.
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], n, 10)
	return append(append(dst, 'H', 'U', byte(len(s))), s...)
}

func (ubjsonCodec) float(dst []byte, f float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(append(dst, 'D'), math.Float64bits(f)), nil
}

// key writes a dict key: its length (U below 256, else the smallest integer marker) and its
// bytes, with no S marker (draft 12 "Object").
func (c ubjsonCodec) key(dst []byte, k string) []byte {
	k = validUTF8(k)
	return append(c.int(dst, int64(len(k))), k...)
}

// str writes a one-byte string as a C char and any other as S, as py-ubjson does.
func (c ubjsonCodec) str(dst []byte, s string) []byte {
	s = validUTF8(s)
	if len(s) == 1 {
		return append(dst, 'C', s[0])
	}
	return c.key(append(dst, 'S'), s)
}

func (c ubjsonCodec) bin(dst []byte, b []byte) []byte {
	return append(c.int(append(dst, '[', '$', 'U', '#'), int64(len(b))), b...)
}

var _ Codec = ubjsonCodec{}
