package wamp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// wampyFrames are messages wampy 8.0.2 (the version tests/js pins) wrote over msgpack
// (msgpackr) and cbor (cbor-x), captured off the wire. Options it leaves unset are
// JavaScript's undefined: d4 00 00 in msgpack, f7 in CBOR.
var wampyFrames = []struct {
	name  string
	codec Codec
	hex   string
	want  Message
}{
	{"subscribe", MsgPack,
		"942002de0002a56d61746368d40000ac6765745f72657461696e6564d40000a3612e63",
		&Subscribe{Request: 2, Options: Dict{}, Topic: "a.c"}},
	{"subscribe prefix", MsgPack,
		"942003de0002a56d61746368a6707265666978ac6765745f72657461696e6564d40000a161",
		&Subscribe{Request: 3, Options: Dict{"match": "prefix"}, Topic: "a"}},
	{"register", MsgPack,
		"944004de0002a56d61746368a6707265666978a6696e766f6b65aa726f756e64726f62696ea161",
		&Register{Request: 4, Options: Dict{"match": "prefix", "invoke": "roundrobin"}, Procedure: "a"}},
	{"call", MsgPack,
		"953005de0000a3612e62920203",
		&Call{Request: 5, Options: Dict{}, Procedure: "a.b", Arguments: List{int64(2), int64(3)}}},
	{"subscribe", CBOR,
		"84182002b90002656d61746368f76c6765745f72657461696e6564f763612e63",
		&Subscribe{Request: 2, Options: Dict{}, Topic: "a.c"}},
	{"subscribe prefix", CBOR,
		"84182003b90002656d61746368667072656669786c6765745f72657461696e6564f76161",
		&Subscribe{Request: 3, Options: Dict{"match": "prefix"}, Topic: "a"}},
	{"publish", CBOR,
		"851007b900026b61636b6e6f776c65646765f56a6578636c7564655f6d65f563612e63816178",
		&Publish{Request: 7, Options: Dict{"acknowledge": true, "exclude_me": true}, Topic: "a.c", Arguments: List{"x"}}},
}

// TestWampyFrames: what wampy sends over msgpack and cbor decodes as the message its JSON
// serializer would have sent, the unset options absent.
func TestWampyFrames(t *testing.T) {
	for _, fr := range wampyFrames {
		t.Run(fr.codec.Name()+"/"+fr.name, func(t *testing.T) {
			m, err := fr.codec.Decode(mustHex(t, fr.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, fr.want) {
				t.Fatalf("got %#v\nwant %#v", m, fr.want)
			}
		})
	}
}

// TestJavaScriptUndefined: msgpackr's undefined (fixext1 type 0, d4 00 00) and CBOR's
// undefined (f7) decode as nil wherever a value may stand, like null.
func TestJavaScriptUndefined(t *testing.T) {
	tests := []struct {
		c   Codec
		hex string
	}{
		// [48, 1, {}, "a", [undefined, 1], {"k": undefined}]
		{MsgPack, "9630" + "01" + "80" + "a161" + "92d4000001" + "81a16bd40000"},
		{CBOR, "8618" + "30" + "01" + "a0" + "6161" + "82f701" + "a1616bf7"},
		// the same with null
		{MsgPack, "9630" + "01" + "80" + "a161" + "92c001" + "81a16bc0"},
		{CBOR, "8618" + "30" + "01" + "a0" + "6161" + "82f601" + "a1616bf6"},
	}
	want := &Call{Request: 1, Options: Dict{}, Procedure: "a",
		Arguments: List{nil, int64(1)}, ArgumentsKw: Dict{"k": nil}}
	for _, tt := range tests {
		m, err := tt.c.Decode(mustHex(t, tt.hex))
		if err != nil {
			t.Fatalf("%s %s: %v", tt.c.Name(), tt.hex, err)
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s %s: got %#v, want %#v", tt.c.Name(), tt.hex, m, want)
		}
	}
}

// TestNullOptions: a null value of a known option or detail key reads as the key absent, in
// every serializer; a null custom key stays; a known key of the wrong type is still refused.
func TestNullOptions(t *testing.T) {
	accepted := []struct {
		in   string
		want Message
	}{
		{`[32, 1, {"match": null, "get_retained": null}, "a.b"]`,
			&Subscribe{Request: 1, Options: Dict{}, Topic: "a.b"}},
		{`[32, 1, {"match": "prefix", "get_retained": null, "x_custom": null}, "a"]`,
			&Subscribe{Request: 1, Options: Dict{"match": "prefix", "x_custom": nil}, Topic: "a"}},
		{`[64, 1, {"match": null, "invoke": null, "concurrency": null}, "a.b"]`,
			&Register{Request: 1, Options: Dict{}, Procedure: "a.b"}},
		{`[16, 1, {"acknowledge": true, "exclude_me": null, "exclude": null, "eligible_authid": null, "retain": null}, "a.b"]`,
			&Publish{Request: 1, Options: Dict{"acknowledge": true}, Topic: "a.b"}},
		{`[48, 1, {"timeout": null, "receive_progress": null, "disclose_me": null}, "a.b"]`,
			&Call{Request: 1, Options: Dict{}, Procedure: "a.b"}},
		{`[49, 1, {"mode": null}]`, &Cancel{Request: 1, Options: Dict{}}},
		{`[70, 1, {"progress": null}, [1]]`, &Yield{Request: 1, Options: Dict{}, Arguments: List{int64(1)}}},
		{`[36, 1, 2, {"publisher": null, "topic": null}]`,
			&Event{Subscription: 1, Publication: 2, Details: Dict{}}},
		{`[68, 1, 2, {"caller": null, "procedure": null, "timeout": null}]`,
			&Invocation{Request: 1, Registration: 2, Details: Dict{}}},
		{`[50, 1, {"progress": null}]`, &Result{Request: 1, Details: Dict{}}},
		{`[69, 1, {"mode": null, "reason": null}]`, &Interrupt{Request: 1, Options: Dict{}}},
		// A null ppt_scheme is no passthru: the string in the payload's place is refused.
		{`[16, 1, {"ppt_scheme": null}, "a.b", []]`,
			&Publish{Request: 1, Options: Dict{}, Topic: "a.b"}},
	}
	for _, tt := range accepted {
		dec := json.NewDecoder(strings.NewReader(tt.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		l := neutral(t, v).([]any)
		for _, c := range codecs {
			b, err := appendList(c.(encoder), nil, l, 0)
			if err != nil {
				t.Fatalf("%s: encode with %s: %v", tt.in, c.Name(), err)
			}
			m, err := c.Decode(b)
			if err != nil {
				t.Errorf("%s Decode(%s): %v", c.Name(), tt.in, err)
				continue
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("%s Decode(%s) = %#v, want %#v", c.Name(), tt.in, m, tt.want)
			}
		}
	}
	refused := []struct{ in, want string }{
		{`[32, 1, {"match": 5}, "a.b"]`, `"match": expected string, got int`},
		{`[32, 1, {"match": "nearby"}, "a.b"]`, `"match": "nearby" is not one of`},
		{`[16, 1, {"exclude": [null]}, "a.b"]`, `"exclude": item 0`},
		{`[16, 1, {"ppt_scheme": null}, "a.b", "payload"]`, "expected list, got string"},
	}
	for _, tt := range refused {
		_, err := JSON.Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%s) = %v, want error containing %q", tt.in, err, tt.want)
		}
	}
}
