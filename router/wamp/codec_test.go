package wamp

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

var codecs = []Codec{JSON, MsgPack, CBOR, UBJSON}

// sampleMessages has every message type, with the optional parts present and absent.
func sampleMessages() []Message {
	details := Dict{"a": int64(1), "b": "x", "nested": Dict{"l": List{true, false, nil, 1.5}}}
	args := List{int64(1), "two", []byte{0, 1, 2, 0xff}, List{}, Dict{}, int64(-5), uint64(math.MaxUint64)}
	kw := Dict{"k": "v", "bin": []byte("raw"), "f": 2.0, "neg": int64(math.MinInt64)}
	return []Message{
		&Hello{Realm: "realm1", Details: Dict{"roles": Dict{"caller": Dict{}}}},
		&Welcome{Session: MaxID, Details: Dict{"roles": Dict{"dealer": Dict{}}}},
		&Abort{Details: Dict{"message": "no"}, Reason: "wamp.error.no_such_realm"},
		&Challenge{AuthMethod: "wampcra", Extra: Dict{"challenge": "c"}},
		&Authenticate{Signature: "sig", Extra: Dict{}},
		&Goodbye{Details: Dict{}, Reason: "wamp.close.normal"},
		&Error{RequestType: CALL, Request: 7, Details: Dict{}, Error: "wamp.error.no_such_procedure"},
		&Error{RequestType: INVOCATION, Request: 7, Details: Dict{}, Error: "app.error", Arguments: args},
		&Error{RequestType: CALL, Request: 7, Details: Dict{}, Error: "app.error", ArgumentsKw: kw},
		&Publish{Request: 1, Options: Dict{"acknowledge": true}, Topic: "com.topic"},
		&Publish{Request: 1, Options: Dict{}, Topic: "com.topic", Arguments: args, ArgumentsKw: kw},
		&Publish{Request: 1, Options: Dict{"enc_algo": "cryptobox"}, Topic: "com.topic", Payload: []byte{1, 2, 3}},
		&Published{Request: 1, Publication: 2},
		&Subscribe{Request: 1, Options: Dict{"match": "prefix"}, Topic: "com."},
		&Subscribed{Request: 1, Subscription: 2},
		&Unsubscribe{Request: 1, Subscription: 2},
		&Unsubscribed{Request: 1},
		&Unsubscribed{Request: 0, Details: Dict{"subscription": int64(5), "reason": "wamp.error.revoked"}},
		&Event{Subscription: 1, Publication: 2, Details: details},
		&Event{Subscription: 1, Publication: 2, Details: Dict{}, Arguments: args},
		&Event{Subscription: 1, Publication: 2, Details: Dict{}, ArgumentsKw: kw},
		&Call{Request: 1, Options: Dict{"timeout": int64(1000)}, Procedure: "com.proc"},
		&Call{Request: 1, Options: Dict{}, Procedure: "com.proc", Arguments: args, ArgumentsKw: kw},
		&Cancel{Request: 1, Options: Dict{"mode": "kill"}},
		&Result{Request: 1, Details: Dict{"progress": true}},
		&Result{Request: 1, Details: Dict{}, Arguments: args},
		&Register{Request: 1, Options: Dict{"invoke": "roundrobin"}, Procedure: "com.proc"},
		&Registered{Request: 1, Registration: 2},
		&Unregister{Request: 1, Registration: 2},
		&Unregistered{Request: 1},
		&Unregistered{Request: 0, Details: Dict{"registration": int64(5)}},
		&Invocation{Request: 1, Registration: 2, Details: Dict{"caller": int64(3)}, Arguments: args, ArgumentsKw: kw},
		&Interrupt{Request: 1, Options: Dict{"mode": "killnowait"}},
		&Yield{Request: 1, Options: Dict{"progress": true}, Arguments: args},
		&Yield{Request: 1, Options: Dict{}},
		&EventReceived{Publication: 99},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range codecs {
		for _, m := range sampleMessages() {
			t.Run(c.Name()+"/"+m.Type().String(), func(t *testing.T) {
				b, err := c.Encode(nil, m)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				got, err := c.Decode(b)
				if err != nil {
					t.Fatalf("Decode(%q): %v", b, err)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("round trip of %q:\n got %#v\nwant %#v", b, got, m)
				}
				// Deterministic: the same message encodes to the same bytes.
				b2, _ := c.Encode(nil, got)
				if string(b) != string(b2) {
					t.Fatalf("encodings differ:\n%q\n%q", b, b2)
				}
			})
		}
	}
}

// TestJSONEncoding pins the JSON bytes: trailing empty Arguments/ArgumentsKw are omitted,
// Arguments is present when ArgumentsKw is, binary is "\u0000" + base64, keys are sorted.
func TestJSONEncoding(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{&Event{Subscription: 1, Publication: 2}, `[36,1,2,{}]`},
		{&Event{Subscription: 1, Publication: 2, Details: Dict{}, Arguments: List{}, ArgumentsKw: Dict{}}, `[36,1,2,{}]`},
		{&Event{Subscription: 1, Publication: 2, Arguments: List{"a"}}, `[36,1,2,{},["a"]]`},
		{&Event{Subscription: 1, Publication: 2, ArgumentsKw: Dict{"k": 1}}, `[36,1,2,{},[],{"k":1}]`},
		{&Call{Request: MaxID, Procedure: "p", Arguments: List{[]byte{0x10, 0x11}}}, `[48,9007199254740992,{},"p",["\u0000EBE="]]`},
		{&Result{Request: 1, Details: Dict{"z": 1, "a": 2.0, "m": -1.5e300}}, `[50,1,{"a":2.0,"m":-1.5e+300,"z":1}]`},
		{&Publish{Request: 1, Topic: "t", Arguments: List{"q\"\\\n\x01\xff☺"}}, `[16,1,{},"t",["q\"\\\n\u0001\ufffd☺"]]`},
		{&Publish{Request: 1, Options: Dict{"enc_algo": "cryptobox"}, Topic: "t", Payload: []byte{1}}, `[16,1,{"enc_algo":"cryptobox"},"t","\u0000AQ=="]`},
		{&Unsubscribed{Request: 0, Details: Dict{"reason": "r"}}, `[35,0,{"reason":"r"}]`},
		{&Event{Subscription: 1, Publication: 2, Details: Dict{"publisher": ID(5), "topic": URI("a.b"), "l": []string{"x"}, "n": int32(-3)}},
			`[36,1,2,{"l":["x"],"n":-3,"publisher":5,"topic":"a.b"}]`},
		{&Event{Subscription: 1, Publication: 2, Arguments: List{map[string]string{"k": "v"}, json.RawMessage("x"), [2]uint8{1, 2}, (*int)(nil), &[]ID{3}}},
			`[36,1,2,{},[{"k":"v"},"\u0000eA==",[1,2],null,[3]]]`},
	}
	for _, tt := range tests {
		got, err := JSON.Encode(nil, tt.m)
		if err != nil {
			t.Errorf("Encode(%#v): %v", tt.m, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Encode(%#v)\n got %s\nwant %s", tt.m, got, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{&Published{Request: 0, Publication: 1}, "ID out of range"},
		{&Published{Request: 1, Publication: MaxID + 1}, "ID out of range"},
		{&Event{Subscription: 1, Publication: 2, Arguments: List{math.NaN()}}, "NaN"},
		{&Event{Subscription: 1, Publication: 2, Arguments: List{make(chan int)}}, "unsupported"},
		{&Event{Subscription: 1, Publication: 2, Payload: []byte{1}, Arguments: List{1}}, "payload"},
		{&Error{RequestType: 99, Request: 1, Error: "e"}, "request type"},
		{&Error{RequestType: HELLO, Request: 1, Error: "e"}, "HELLO is not a request type"},
		{nil, "nil message"},
	}
	for _, tt := range tests {
		b, err := JSON.Encode([]byte("keep"), tt.m)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Encode(%#v) = %v, want error containing %q", tt.m, err, tt.want)
		}
		if string(b) != "keep" {
			t.Errorf("Encode(%#v) failed, but changed dst to %q", tt.m, b)
		}
	}
	deep := List{}
	for range maxDepth + 5 {
		deep = List{deep}
	}
	for _, c := range codecs {
		if _, err := c.Encode(nil, &Yield{Request: 1, Arguments: deep}); err == nil || !strings.Contains(err.Error(), "nested") {
			t.Errorf("%s: Encode of a deep list = %v, want a nesting error", c.Name(), err)
		}
	}
}

// TestDecodeNumbers: integers stay integers in every codec, floats stay floats.
func TestDecodeNumbers(t *testing.T) {
	in := List{int64(0), int64(-1), int64(math.MaxInt64), uint64(math.MaxUint64), int64(math.MinInt64), 1.0, 0.5, int64(1 << 53)}
	for _, c := range codecs {
		b, err := c.Encode(nil, &Yield{Request: 1, Arguments: in})
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		if got := m.(*Yield).Arguments; !reflect.DeepEqual(got, in) {
			t.Errorf("%s: got %#v, want %#v", c.Name(), got, in)
		}
	}
	m, err := JSON.Decode([]byte(`[70,1,{},[1,1.0,1e2,-0,18446744073709551615,9223372036854775807,-9223372036854775808]]`))
	if err != nil {
		t.Fatal(err)
	}
	want := List{int64(1), 1.0, 100.0, int64(0), uint64(math.MaxUint64), int64(math.MaxInt64), int64(math.MinInt64)}
	if got := m.(*Yield).Arguments; !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{``, "json"},
		{`{}`, "expected list, got dict"},
		{`[]`, "empty message list"},
		{`["x"]`, "element 0 (type): expected message type (integer), got string"},
		{`[1.0,"realm",{}]`, "element 0 (type): expected message type (integer), got float"},
		{`[999,1]`, "unknown message type 999"},
		{`[48,1,{},"p"] x`, "trailing data"},
		{`[48,1,{},"p"][]`, "trailing data"},
		{`[48,1,{},5]`, "CALL: element 3 (procedure): expected string, got int"},
		{`[48,"1",{},"p"]`, "CALL: element 1 (request): expected ID (integer), got string"},
		{`[48,1.5,{},"p"]`, "CALL: element 1 (request): expected ID (integer), got float"},
		{`[48,1.0,{},"p"]`, "CALL: element 1 (request): expected ID (integer), got float"},
		{`[48,0,{},"p"]`, "CALL: element 1 (request): ID 0 out of range"},
		{`[48,9007199254740993,{},"p"]`, "out of range"},
		{`[48,-1,{},"p"]`, "out of range"},
		{`[48,1,[],"p"]`, "CALL: element 2 (options): expected dict, got list"},
		{`[48,1,{},"p",{}]`, "CALL: element 4 (arguments): expected list, got dict"},
		{`[48,1,{},"p",[],[]]`, "CALL: element 5 (arguments_kw): expected dict, got list"},
		{`[48,1,{},"p",[],{},1]`, "CALL: 7 elements, want 4 to 6"},
		{`[48,1,{}]`, "CALL: 3 elements, want 4 to 6"},
		{`[48,1,{},"p","payload"]`, "CALL: element 4 (arguments): expected list, got string"},
		{`[48,1,{"timeout":"x"},"p"]`, `CALL: element 2 (options): "timeout": expected integer, got string`},
		{`[48,1,{"timeout":-1},"p"]`, `"timeout": -1 out of range`},
		{`[32,1,{"match":"regex"},"t"]`, `"match": "regex" is not one of exact, prefix, wildcard`},
		{`[16,1,{"exclude":[1,"a"]},"t"]`, `"exclude": item 1: expected ID`},
		{`[8,99,1,{},"e"]`, "ERROR: element 1 (request_type): 99 is not a request type that an ERROR answers"},
		{`[8,1,1,{},"e"]`, "ERROR: element 1 (request_type): 1 is not a request type"},
		{`[1,"realm",[]]`, "HELLO: element 2 (details): expected dict, got list"},
		{`[35,0]`, "UNSUBSCRIBED: element 1 (request): ID 0 out of range"},
		{`[36,1,2,{},["\u0000***"]]`, "binary string"},
		{`[36,1,2,{},[123456789012345678901234567890]]`, "integer out of the 64-bit range"},
		{`[36,1,2,{},[1e999]]`, "value out of range"},
		{strings.Repeat("[", maxDepth+10) + strings.Repeat("]", maxDepth+10), "nested"},
	}
	for _, tt := range tests {
		_, err := JSON.Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%.60s) = %v, want error containing %q", tt.in, err, tt.want)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("Decode(%.60s): error %T is not a *DecodeError", tt.in, err)
		}
	}
}

// TestBinaryDecodeErrors runs malformed inputs through the binary decoders.
func TestBinaryDecodeErrors(t *testing.T) {
	tests := []struct {
		c    Codec
		hex  string
		want string
	}{
		{MsgPack, "", "EOF"},
		{MsgPack, "80", "expected list"},
		{MsgPack, "9130", "CALL: 1 elements, want 4 to 6"},
		{MsgPack, "9135", "unknown message type 53"},
		{MsgPack, "923501c0", "trailing data"},
		{MsgPack, "9123", "UNSUBSCRIBED: 1 elements"},
		{MsgPack, "9223", "list of 2 items in 1 bytes"},
		{MsgPack, "dd7fffffff", "list of"},
		{MsgPack, "9230db7fffffff", "truncated"},
		{MsgPack, "92d40101", "unsupported extension type 1"},
		{MsgPack, "92d4ff00", "unsupported extension type -1"},
		{MsgPack, "92d40001", "unsupported extension type 0 (fixext1, data 0x01)"},
		{MsgPack, "92d400", "extension truncated"},
		{MsgPack, "92d5000000", "unsupported type code 0xd5"},
		{MsgPack, "92c7010000", "unsupported type code 0xc7"},
		{MsgPack, "932201" + "81" + "01" + "01", "dict key: expected string"},
		{MsgPack, "952401020fc0", "EVENT: element 3 (details): expected dict, got int"},
		{CBOR, "", "EOF"},
		{CBOR, "a0", "expected list"},
		{CBOR, "811835", "unknown message type 53"},
		{CBOR, "8235", "unexpected EOF"},
		{CBOR, "82182301" + "00", "extraneous data"},
		{CBOR, "c1821823" + "01", "tag"},
		{CBOR, "83182201a10101", "cbor"},
		{CBOR, "8418240102a2616101616101", "duplicate map key"},
		{CBOR, "9bffffffffffffffff", "cbor"},
		{CBOR, "8218 23 3bffffffffffffffff", "cbor"},
	}
	for _, tt := range tests {
		b := mustHex(t, strings.ReplaceAll(tt.hex, " ", ""))
		_, err := tt.c.Decode(b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s Decode(%s) = %v, want error containing %q", tt.c.Name(), tt.hex, err, tt.want)
		}
	}
}

func TestLookupSubprotocol(t *testing.T) {
	for _, p := range Subprotocols {
		c, batched, ok := LookupSubprotocol(p)
		if !ok {
			t.Fatalf("LookupSubprotocol(%q) not ok", p)
		}
		if want := "wamp.2." + c.Name(); strings.TrimSuffix(p, ".batched") != want || batched != strings.HasSuffix(p, ".batched") {
			t.Errorf("LookupSubprotocol(%q) = %s, %v", p, c.Name(), batched)
		}
	}
	for _, p := range []string{"", "wamp.2", "wamp.2.", "wamp.2.flatbuffers", "wamp.2.json.", "wamp.2.jsonbatched", "wamp.1.json", "WAMP.2.JSON", "wamp.2.batched"} {
		if _, _, ok := LookupSubprotocol(p); ok {
			t.Errorf("LookupSubprotocol(%q) ok, want not ok", p)
		}
	}
	for _, n := range []string{"json", "msgpack", "cbor", "ubjson"} {
		if c, ok := CodecByName(n); !ok || c.Name() != n {
			t.Errorf("CodecByName(%q) = %v, %v", n, c, ok)
		}
	}
	if _, ok := CodecByName("flatbuffers"); ok {
		t.Error("CodecByName(flatbuffers) ok")
	}
	if JSON.Binary() || !MsgPack.Binary() || !CBOR.Binary() || !UBJSON.Binary() {
		t.Error("Binary() wrong")
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}
