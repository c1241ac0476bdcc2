package wamp

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// cborCodec is wamp.2.cbor (spec "CBOR", RFC 8949). Decoding uses fxamacker/cbor in a strict
// mode (no tags, no duplicate keys, valid UTF-8, string keys only, bounded nesting); encoding
// is append-style with the shortest heads (RFC 8949 section 4.2.1 "preferred serialization").
type cborCodec struct{}

func (cborCodec) Name() string { return "cbor" }
func (cborCodec) Binary() bool { return true }

func (c cborCodec) Encode(dst []byte, m Message) ([]byte, error) {
	return appendMessage(c, dst, m)
}

var cborDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels: maxDepth + 1, // the message list itself is one level
		// fxamacker/cbor makes a slice or map as large as its head claims (once the
		// claimed items are known to be there); cborScan bounds the sum over the message.
		MaxArrayElements: maxValues,
		MaxMapPairs:      maxValues / 2,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsForbidden,
		IntDec:           cbor.IntDecConvertNone,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic("wamp: cbor options: " + err.Error())
	}
	return dm
}()

func (cborCodec) Decode(b []byte) (Message, error) {
	if err := cborScan(b); err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("cbor: %w", err)}
	}
	var v any
	if err := cborDec.Unmarshal(b, &v); err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("cbor: %w", err)}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, &DecodeError{Element: -1, Err: expected("list", v)}
	}
	if err := cborNeutral(l); err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("cbor: %w", err)}
	}
	return fromList(l)
}

// cborNeutral rewrites, in place, the integers fxamacker/cbor returns (uint64 for every
// non-negative one) into the codec-neutral form, and rejects what WAMP has no use for
// (simple values other than true/false/null/undefined, integers beyond 64 bits).
func cborNeutral(l []any) error {
	for i, e := range l {
		n, err := cborValue(e)
		if err != nil {
			return err
		}
		l[i] = n
	}
	return nil
}

func cborValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return v, nil
	case uint64:
		return normUint(x), nil
	case []any:
		return x, cborNeutral(x)
	case map[string]any:
		for k, e := range x {
			n, err := cborValue(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// Major types, RFC 8949 section 3.1.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborArray = 4 << 5
	cborMap   = 5 << 5
)

// head writes a data item head with the shortest argument (RFC 8949 section 3).
func cborHead(dst []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(dst, major|byte(n))
	case n <= math.MaxUint8:
		return append(dst, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, major|27), n)
}

func (cborCodec) arrayHead(dst []byte, n int) []byte { return cborHead(dst, cborArray, uint64(n)) }
func (cborCodec) mapHead(dst []byte, n int) []byte   { return cborHead(dst, cborMap, uint64(n)) }
func (cborCodec) arrayEnd(dst []byte) []byte         { return dst }
func (cborCodec) mapEnd(dst []byte) []byte           { return dst }
func (cborCodec) sep(dst []byte) []byte              { return dst }
func (cborCodec) null(dst []byte) []byte             { return append(dst, 0xf6) }
func (cborCodec) uint(dst []byte, n uint64) []byte   { return cborHead(dst, cborUint, n) }

func (c cborCodec) key(dst []byte, k string) []byte { return c.str(dst, k) }

func (cborCodec) bool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 0xf5)
	}
	return append(dst, 0xf4)
}

func (cborCodec) int(dst []byte, n int64) []byte {
	if n >= 0 {
		return cborHead(dst, cborUint, uint64(n))
	}
	return cborHead(dst, cborNeg, uint64(-1-n))
}

func (cborCodec) float(dst []byte, f float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(append(dst, 0xfb), math.Float64bits(f)), nil
}

func (cborCodec) str(dst []byte, s string) []byte {
	s = validUTF8(s)
	return append(cborHead(dst, cborText, uint64(len(s))), s...)
}

func (cborCodec) bin(dst []byte, b []byte) []byte {
	return append(cborHead(dst, cborBytes, uint64(len(b))), b...)
}

var _ Codec = cborCodec{}
