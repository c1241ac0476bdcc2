package wamp

import (
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// TestLibraryInterop reads our msgpack and CBOR encodings with the libraries' generic
// decoders, has the libraries encode the result again (their own choices of heads, float
// widths, map order), and decodes that with our codecs.
func TestLibraryInterop(t *testing.T) {
	cborEnc, err := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sampleMessages() {
		b, err := MsgPack.Encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := msgpack.Unmarshal(b, &v); err != nil {
			t.Fatalf("msgpack.Unmarshal of our %v: %v", m.Type(), err)
		}
		b2, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MsgPack.Decode(b2)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("msgpack %v through vmihailenco/msgpack: %v\n got %#v\nwant %#v", m.Type(), err, got, m)
		}

		b, err = CBOR.Encode(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		v = nil
		if err := cbor.Unmarshal(b, &v); err != nil {
			t.Fatalf("cbor.Unmarshal of our %v: %v", m.Type(), err)
		}
		b2, err = cborEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err = CBOR.Decode(b2)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("cbor %v through fxamacker/cbor: %v\n got %#v\nwant %#v", m.Type(), err, got, m)
		}
	}
}

// TestBinaryDecodeForms: the forms other encoders choose decode to the same neutral values.
func TestBinaryDecodeForms(t *testing.T) {
	want := &Event{Subscription: 1, Publication: 2, Details: Dict{}, Arguments: List{1.5, 0.5, "ab", int64(7), int64(-1)}}
	tests := []struct {
		c   Codec
		hex string
	}{
		// msgpack: float32, str8 for a short string, uint64 and int64 for small numbers.
		{MsgPack, "9524cf0000000000000001d0028095" + "cb3ff8000000000000" + "ca3f000000" + "d9026162" + "cf0000000000000007" + "d3ffffffffffffffff"},
		// CBOR: indefinite-length list and text, float16 and float32, 8-byte heads for small numbers.
		{CBOR, "8518241b000000000000000102a0" + "9f" + "f93e00" + "fa3f000000" + "7f61616162ff" + "1b0000000000000007" + "3b0000000000000000" + "ff"},
	}
	for _, tt := range tests {
		got, err := tt.c.Decode(mustHex(t, tt.hex))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Decode(%s) = %#v, %v; want %#v", tt.c.Name(), tt.hex, got, err, want)
		}
	}
}
