package wamp

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestUBJSONForms decodes the draft 12 forms that the encoder never writes but other
// implementations may: no-ops, C chars, H numbers, float32, counted and typed containers.
func TestUBJSONForms(t *testing.T) {
	// PUBLISH [16, 1, {}, "a.b", <args>]
	pub := func(args string) []byte { return []byte("[U\x10U\x01{}SU\x03a.b" + args + "]") }
	tests := []struct {
		name string
		b    []byte
		args List
		opts Dict
	}{
		{"no-ops", []byte("N[NU\x10NU\x01N{N}NSU\x03a.bN]")[1:], nil, Dict{}},
		{"char", pub("[CxC7]"), List{"x", "7"}, Dict{}},
		{"int markers", pub("[i\xffU\xffI\x80\x00l\x00\x01\x00\x00L\x7f\xff\xff\xff\xff\xff\xff\xff]"),
			List{int64(-1), int64(255), int64(math.MinInt16), int64(65536), int64(math.MaxInt64)}, Dict{}},
		{"float32", pub("[d\x3f\xc0\x00\x00]"), List{1.5}, Dict{}},
		{"high precision", pub("[HU\x0218HU\x1418446744073709551615HU\x032.5]"), List{int64(18), uint64(math.MaxUint64), 2.5}, Dict{}},
		{"counted list", pub("[#U\x02TF"), List{true, false}, Dict{}},
		{"typed list", pub("[$i#U\x03\x01\x02\xff"), List{int64(1), int64(2), int64(-1)}, Dict{}},
		{"typed nulls", pub("[$Z#U\x03"), List{nil, nil, nil}, Dict{}},
		{"typed lists", pub("[$[#U\x02]$U#U\x01z"), List{List{}, []byte("z")}, Dict{}},
		{"binary", pub("[[$U#U\x03abc]"), List{[]byte("abc")}, Dict{}},
		{"empty binary", pub("[[$U#U\x00]"), List{[]byte{}}, Dict{}},
		{"uint8 list uncounted", pub("[[U\x01U\x02]]"), List{List{int64(1), int64(2)}}, Dict{}},
		{"counted dict", []byte("[U\x10U\x01{#U\x01U\x0backnowledgeTSU\x03a.b]"), nil, Dict{"acknowledge": true}},
		{"typed dict", []byte("[U\x10U\x01{$T#U\x02U\x01aU\x01bSU\x03a.b]"), nil, Dict{"a": true, "b": true}},
		{"typed dict of ints", []byte("[U\x10U\x01{$U#U\x01U\x01a\x05SU\x03a.b]"), nil, Dict{"a": int64(5)}},
		{"dict with no-ops", []byte("[U\x10U\x01{NU\x01aNTN}SU\x03a.b]"), nil, Dict{"a": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UBJSON.Decode(tt.b)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.b, err)
			}
			p, ok := m.(*Publish)
			if !ok || p.Topic != "a.b" {
				t.Fatalf("got %#v", m)
			}
			if !reflect.DeepEqual(p.Arguments, tt.args) || !reflect.DeepEqual(p.Options, tt.opts) {
				t.Errorf("args %#v options %#v, want %#v %#v", p.Arguments, p.Options, tt.args, tt.opts)
			}
		})
	}
}

// TestUBJSONEncoding pins the bytes the router writes to py-ubjson's choices.
func TestUBJSONEncoding(t *testing.T) {
	m := &Event{Subscription: 300, Publication: 70000, Details: Dict{},
		Arguments: List{int64(-1), int64(-200), int64(255), "x", "", 1.5, nil, true, []byte{1, 2}, uint64(math.MaxUint64)}}
	got, err := UBJSON.Encode(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	want := "[U\x24I\x01\x2cl\x00\x01\x11\x70{}[i\xffI\xff\x38U\xffCxSU\x00D\x3f\xf8\x00\x00\x00\x00\x00\x00ZT[$U#U\x02\x01\x02HU\x1418446744073709551615]]"
	if string(got) != want {
		t.Errorf("Encode:\n got %q\nwant %q", got, want)
	}
}

func TestUBJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "expected list"},
		{"{}", "expected list"},
		{"[", "truncated"},
		{"[U\x10", "truncated"},
		{"[U\x35]", "unknown message type 53"},
		{"[U\x24U\x01U\x02{}]]", "trailing data"},
		{"[U\x24U\x01U\x02{}Q]", "unsupported marker 0x51"},
		{"[U\x24U\x01U\x02{}S\x01]", "expected an integer marker"},
		{"[U\x24U\x01U\x02{}Si\xff]", "length -1 out of range"},
		{"[U\x24U\x01U\x02{}SU\x05ab]", "truncated"},
		{"[U\x24U\x01U\x02{}SU\x02\xff\xfe]", "not valid UTF-8"},
		{"[U\x24U\x01U\x02{}C\xe9]", "not ASCII"},
		{"[U\x24U\x01U\x02{}HU\x02zz]", "not a number"},
		{"[U\x24U\x01U\x02{U\x01aTU\x01aF}]", `dict key "a" twice`},
		{"[U\x24U\x01U\x02{SU\x01aT}]", "dict key: expected an integer marker"},
		{"[U\x24U\x01U\x02{$Q#U\x01}]", "invalid container type"},
		{"[U\x24U\x01U\x02{$T}]", "container type without count"},
		{"[U\x24U\x01U\x02[#l\x00\x10\x00\x00]", "container of 1048576 items in 1 bytes"},
		{"[U\x24U\x01U\x02[$Z#l\x7f\xff\xff\xff]", "values in one message"},
		{"[U\x24U\x01U\x02[$U#U\x09ab]", "container of 9 items in 3 bytes"},
		{"[U\x24U\x01U\x02{}SU\x09ab]", "truncated"},
		{"[U\x24U\x01U\x02[#L\x7f\xff\xff\xff\xff\xff\xff\xff", "out of range"},
		{"[U\x24U\x01U\x02U\x05]", "EVENT: element 3 (details): expected dict, got int"},
	}
	for _, tt := range tests {
		_, err := UBJSON.Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v, want error containing %q", tt.in, err, tt.want)
		}
		if _, ok := err.(*DecodeError); err != nil && !ok {
			t.Errorf("Decode(%q): error %T is not a *DecodeError", tt.in, err)
		}
	}
}

// TestUBJSONBounds: nesting stops at maxDepth and many cheap values stop at maxValues, at a
// cost that follows the input (TestDecodeAllocsFollowInput measures it for the claims).
func TestUBJSONBounds(t *testing.T) {
	deep := bytes.Repeat([]byte("["), 1<<20)
	if _, err := UBJSON.Decode(deep); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep: %v", err)
	}
	nulls := append([]byte("[U\x24U\x01U\x02{}["), bytes.Repeat([]byte("Z"), maxValues)...)
	if _, err := UBJSON.Decode(append(nulls, "]]"...)); err == nil || !strings.Contains(err.Error(), "values in one message") {
		t.Errorf("many nulls: %v", err)
	}
}
