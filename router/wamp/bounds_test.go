package wamp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

// claimInputs are messages whose heads claim far more than the bytes behind them hold, or
// that pack many cheap values into few bytes: each must be refused at a cost proportional to
// what is there, not to what is claimed.
func claimInputs() []struct {
	name string
	c    Codec
	b    []byte
	want string
} {
	const size = 8 << 20
	nils := func(code byte, n int) []byte { return bytes.Repeat([]byte{code}, n) }
	be32 := func(head []byte, n uint32) []byte { return binary.BigEndian.AppendUint32(head, n) }
	return []struct {
		name string
		c    Codec
		b    []byte
		want string
	}{
		// [map32 of 4Mi pairs] with no valid key behind it.
		{"msgpack map32 claim", MsgPack, append(be32([]byte{0x91, 0xdf}, size/2-8), nils(0xc0, size-8)...), "values in one message"},
		// The same within the value bound: the decoder reaches the first key.
		{"msgpack map32 claim in bound", MsgPack, append(be32([]byte{0x91, 0xdf}, maxValues/4), nils(0xc0, size-8)...), "dict key"},
		// [array32 of 8Mi items] whose first item is an invalid code, and one within the bound.
		{"msgpack array32 claim", MsgPack, append(be32([]byte{0x91, 0xdd}, size-8), nils(0xc1, size-8)...), "values in one message"},
		{"msgpack array32 claim in bound", MsgPack, append(be32([]byte{0x91, 0xdd}, maxValues/2), nils(0xc1, size-8)...), "unsupported type code"},
		// [map32 of 4Mi pairs] of real (duplicate) keys: the pairs are there.
		{"msgpack map32 pairs", MsgPack, append(be32([]byte{0x91, 0xdf}, size/4), bytes.Repeat([]byte{0xa0, 0xc0}, size/4)...), "values in one message"},
		// [8Mi nils]: each one byte.
		{"msgpack many nils", MsgPack, append(be32([]byte{0xdd}, size), nils(0xc0, size)...), "values in one message"},
		// [array of 2^32 items] in a few bytes.
		{"cbor array 2^32 claim", CBOR, append([]byte{0x81, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0}, nils(0xf6, 64)...), "claimed"},
		// [array of 8Mi nulls], all there.
		{"cbor many nulls", CBOR, append(be32([]byte{0x9a}, size), nils(0xf6, size)...), "values in one message"},
		// [map of 2Mi pairs ""->null], all there (with duplicate keys).
		{"cbor map claim", CBOR, append(be32([]byte{0x81, 0xba}, size/4), bytes.Repeat([]byte{0x60, 0xf6}, size/4)...), "values in one message"},
		// [{},{},...]: a map per three bytes.
		{"json empty objects", JSON, []byte("[" + strings.Repeat("{},", size/3) + "{}]"), "values in one message"},
		// [[[[...]]]]: nesting.
		{"json deep", JSON, []byte(strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)), "nested deeper"},
		{"msgpack deep", MsgPack, nils(0x91, 1<<20), "nested deeper"},
		{"cbor deep", CBOR, nils(0x81, 1<<20), "nest"},
		// UBJSON: [#l<1Mi>] of nothing, [$Z#l<2^31-1>] (nulls take no bytes), 8Mi Z's, deep.
		{"ubjson count claim", UBJSON, append(be32([]byte("[#l"), size), nils('Z', 64)...), "items in"},
		{"ubjson typed null claim", UBJSON, be32([]byte("[U\x24U\x01U\x02{}[$Z#l"), math.MaxInt32), "values in one message"},
		{"ubjson many nulls", UBJSON, append([]byte("[U\x24U\x01U\x02{}["), nils('Z', size)...), "values in one message"},
		{"ubjson deep", UBJSON, nils('[', 1<<20), "nested deeper"},
	}
}

// TestDecodeAllocsFollowInput: a decoder never allocates from a claimed count before the items
// are there, nests no deeper than maxDepth and builds at most maxValues values, so refusing
// any of claimInputs allocates a small part of the input's size.
func TestDecodeAllocsFollowInput(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, tt := range claimInputs() {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := tt.c.Decode(tt.b)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v, want an error containing %q", err, tt.want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d input bytes, %d allocated", len(tt.b), alloc)
			if limit := max(uint64(len(tt.b))/4, 64<<10); alloc > limit {
				t.Errorf("refusing %d bytes allocated %d bytes, over %d", len(tt.b), alloc, limit)
			}
		})
	}
}

// TestDecodeManyValues: a message at the value bound decodes in every codec; one more value
// is refused with an error that says so.
func TestDecodeManyValues(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a million values per codec")
	}
	// [EVENT, sub, pub, {}, [0, 0, ...]]: the list's values fill the message's budget.
	args := make(List, maxValues-6)
	for i := range args {
		args[i] = int64(0)
	}
	for _, c := range codecs {
		m := &Event{Subscription: 1, Publication: 2, Details: Dict{}, Arguments: args}
		b, err := c.Encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(b)
		if err != nil {
			t.Fatalf("%s: %d values: %v", c.Name(), maxValues, err)
		}
		if n := len(got.(*Event).Arguments); n != len(args) {
			t.Fatalf("%s: %d args back, want %d", c.Name(), n, len(args))
		}
		m.Arguments = append(args, int64(0))
		if b, err = c.Encode(nil, m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(b); err == nil || !strings.Contains(err.Error(), "values in one message") {
			t.Errorf("%s: %d values: %v, want the value bound", c.Name(), maxValues+1, err)
		}
	}
}

// seedClaims adds small inputs whose heads claim far more than follows, and deep nesting.
func seedClaims(f *testing.F, c Codec) {
	switch c {
	case MsgPack:
		f.Add([]byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 0xc0})
		f.Add([]byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0})
		f.Add([]byte{0xdd, 0x00, 0x00, 0x00, 0x03, 0x10, 0x01, 0x80})
		f.Add([]byte{0x92, 0x10, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'})
		f.Add(bytes.Repeat([]byte{0x91}, 200))
	case CBOR:
		f.Add([]byte{0x81, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0xf6})
		f.Add([]byte{0x81, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x60, 0xf6})
		f.Add([]byte{0x83, 0x10, 0x01, 0x7b, 0, 0, 0, 1, 0, 0, 0, 0, 'x'})
		f.Add([]byte{0x9f, 0x10, 0x01, 0xbf, 0x61, 'a', 0xf6, 0xff, 0xff})
		f.Add([]byte{0x82, 0x10, 0x7f, 0x61, 'a', 0x62, 'b', 'c', 0xff})
		f.Add(bytes.Repeat([]byte{0x81}, 200))
	case JSON:
		f.Add([]byte(strings.Repeat("[", 200) + strings.Repeat("]", 200)))
		f.Add([]byte(`[16, 1, {}, "a", [` + strings.Repeat("{},", 100) + `{}]]`))
		f.Add([]byte(`[16, 1, {"a\"[": "]\\"}, "a"]`))
	}
}

// FuzzScan: the scans before decoding refuse only what is over a bound or not well-formed:
// whatever fxamacker/cbor finds well-formed (with the codec's options) and encoding/json finds
// valid passes them, unless it nests too deep or holds too many values.
func FuzzScan(f *testing.F) {
	seedDecode(f, CBOR)
	seedClaims(f, CBOR)
	seedDecode(f, JSON)
	seedClaims(f, JSON)
	f.Fuzz(func(t *testing.T, b []byte) {
		bound := func(err error) bool { return errors.Is(err, errDepth) || errors.Is(err, errTooManyValues) }
		if cborDec.Wellformed(b) == nil {
			if err := cborScan(b); err != nil && !bound(err) {
				t.Errorf("cbor %x is well-formed, the scan says %v", b, err)
			}
		}
		if json.Valid(b) {
			if err := jsonScan(b); err != nil && !bound(err) {
				t.Errorf("json %q is valid, the scan says %v", b, err)
			}
		}
	})
}
