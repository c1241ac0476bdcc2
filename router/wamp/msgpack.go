package wamp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpackCodec is wamp.2.msgpack (spec "MessagePack"): str for strings, bin for binary
// (the MessagePack 2013 spec, as Autobahn uses it). Decoding walks the input with
// vmihailenco/msgpack's low-level Decoder, accepting only the types WAMP defines; encoding
// is append-style (the format's heads are a few bytes) so that it does not allocate.
type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }
func (msgpackCodec) Binary() bool { return true }

func (c msgpackCodec) Encode(dst []byte, m Message) ([]byte, error) {
	return appendMessage(c, dst, m)
}

func (msgpackCodec) Decode(b []byte) (Message, error) {
	r := bytes.NewReader(b) // a ByteScanner: the Decoder reads from it without buffering ahead
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	d := &mpDecoder{dec: dec, r: r, b: b, left: maxValues}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("msgpack: %w", err)}
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("msgpack: expected list, got code 0x%02x", c)}
	}
	v, err := d.value(0)
	if err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("msgpack: %w", err)}
	}
	if r.Len() > 0 {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("msgpack: %d bytes of trailing data", r.Len())}
	}
	return fromList(v.([]any))
}

type mpDecoder struct {
	dec  *msgpack.Decoder
	r    *bytes.Reader
	b    []byte // all of the input; r reads it
	left int    // values still allowed in this message (maxValues)
}

// presize is the most items a list or dict is made room for from the count in its head.
// The count is only a claim (a map32 head says 4 billion pairs in 5 bytes); beyond this the
// container grows as its items are actually read, so memory follows the input.
const presize = 64

// value reads one value as a codec-neutral Go value.
func (d *mpDecoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	if d.left--; d.left < 0 {
		return nil, errTooManyValues
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return d.dec.DecodeBool()
	case c <= msgpcode.PosFixedNumHigh, c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32, c == msgpcode.Uint64:
		n, err := d.dec.DecodeUint64()
		return normUint(n), err
	case c >= msgpcode.NegFixedNumLow, c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		return d.dec.DecodeInt64()
	case c == msgpcode.Float || c == msgpcode.Double:
		return d.dec.DecodeFloat64()
	case msgpcode.IsString(c):
		return d.str(c)
	case msgpcode.IsBin(c):
		if err := d.fits(c); err != nil {
			return nil, err
		}
		return d.dec.DecodeBytes()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if n > d.r.Len() { // each item takes at least one byte
			return nil, fmt.Errorf("list of %d items in %d bytes", n, d.r.Len())
		}
		if n > d.left {
			return nil, errTooManyValues
		}
		l := make([]any, 0, min(n, presize))
		for range n {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		if n > d.r.Len()/2 { // each pair takes at least two bytes
			return nil, fmt.Errorf("dict of %d pairs in %d bytes", n, d.r.Len())
		}
		if 2*n > d.left {
			return nil, errTooManyValues
		}
		m := make(map[string]any, min(n, presize))
		for range n {
			kc, err := d.dec.PeekCode()
			if err != nil {
				return nil, err
			}
			if !msgpcode.IsString(kc) {
				return nil, fmt.Errorf("dict key: expected string, got code 0x%02x", kc)
			}
			if d.left--; d.left < 0 {
				return nil, errTooManyValues
			}
			k, err := d.str(kc)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("dict key %q twice", k)
			}
			if m[k], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return m, nil
	case c == msgpcode.FixExt1:
		return nil, d.undefined()
	}
	return nil, fmt.Errorf("unsupported type code 0x%02x", c)
}

// undefined reads JavaScript's undefined as msgpackr (wampy's msgpack serializer) writes it:
// fixext1 of extension type 0 with a zero data byte, d4 00 00 (msgpackr pack.js: "a number
// of implementations use fixext1 with type 0, data 0 to denote undefined"; notepack.io does
// the same). wampy leaves unset options as undefined, e.g. SUBSCRIBE {"match": undefined,
// "get_retained": undefined}, where its JSON serializer drops the keys. It decodes as nil,
// as CBOR's undefined (simple value 23) does; the option checks then take a nil known option
// as absent. Any other extension has no meaning in WAMP and is refused.
func (d *mpDecoder) undefined() error {
	rest := d.b[len(d.b)-d.r.Len():]
	if len(rest) < 3 {
		return errors.New("extension truncated")
	}
	if rest[1] != 0 || rest[2] != 0 {
		return fmt.Errorf("unsupported extension type %d (fixext1, data 0x%02x)", int8(rest[1]), rest[2])
	}
	var b [3]byte
	return d.dec.ReadFull(b[:])
}

// str reads a str. MessagePack's str holds UTF-8 (spec "MessagePack": "str ... UTF-8
// string"); Autobahn's decoder rejects anything else, and so does this one, like the CBOR codec.
func (d *mpDecoder) str(c byte) (string, error) {
	if err := d.fits(c); err != nil {
		return "", err
	}
	s, err := d.dec.DecodeString()
	if err == nil && !utf8.ValidString(s) {
		err = errors.New("string is not valid UTF-8")
	}
	return s, err
}

// fits checks a str/bin length against what is left, before the decoder allocates for it.
func (d *mpDecoder) fits(c byte) error {
	rest := d.b[len(d.b)-d.r.Len():]
	n, head := 0, 1
	switch c {
	case msgpcode.Str8, msgpcode.Bin8:
		head = 2
		if len(rest) >= head {
			n = int(rest[1])
		}
	case msgpcode.Str16, msgpcode.Bin16:
		head = 3
		if len(rest) >= head {
			n = int(binary.BigEndian.Uint16(rest[1:]))
		}
	case msgpcode.Str32, msgpcode.Bin32:
		head = 5
		if len(rest) >= head {
			n = int(binary.BigEndian.Uint32(rest[1:]))
		}
	default:
		n = int(c & msgpcode.FixedStrMask)
	}
	if len(rest) < head || n > len(rest)-head {
		return fmt.Errorf("string or binary truncated")
	}
	return nil
}

func (msgpackCodec) arrayHead(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, msgpcode.FixedArrayLow|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, msgpcode.Array16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, msgpcode.Array32), uint32(n))
}

func (msgpackCodec) mapHead(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, msgpcode.FixedMapLow|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, msgpcode.Map16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, msgpcode.Map32), uint32(n))
}

func (msgpackCodec) arrayEnd(dst []byte) []byte { return dst }
func (msgpackCodec) mapEnd(dst []byte) []byte   { return dst }
func (msgpackCodec) sep(dst []byte) []byte      { return dst }
func (msgpackCodec) null(dst []byte) []byte     { return append(dst, msgpcode.Nil) }

func (c msgpackCodec) key(dst []byte, k string) []byte { return c.str(dst, k) }

func (msgpackCodec) bool(dst []byte, b bool) []byte {
	if b {
		return append(dst, msgpcode.True)
	}
	return append(dst, msgpcode.False)
}

func (msgpackCodec) uint(dst []byte, n uint64) []byte {
	switch {
	case n <= uint64(msgpcode.PosFixedNumHigh):
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, msgpcode.Uint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, msgpcode.Uint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, msgpcode.Uint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, msgpcode.Uint64), n)
}

func (c msgpackCodec) int(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return c.uint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, msgpcode.Int8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, msgpcode.Int16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, msgpcode.Int32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, msgpcode.Int64), uint64(n))
}

func (msgpackCodec) float(dst []byte, f float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(append(dst, msgpcode.Double), math.Float64bits(f)), nil
}

func (msgpackCodec) str(dst []byte, s string) []byte {
	s = validUTF8(s)
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, msgpcode.FixedStrLow|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, msgpcode.Str8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, msgpcode.Str16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, msgpcode.Str32), uint32(n))
	}
	return append(dst, s...)
}

func (msgpackCodec) bin(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, msgpcode.Bin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, msgpcode.Bin16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, msgpcode.Bin32), uint32(n))
	}
	return append(dst, b...)
}

var _ Codec = msgpackCodec{}
