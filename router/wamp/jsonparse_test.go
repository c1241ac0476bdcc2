package wamp

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonReference decodes as the JSON codec did before fastjson: encoding/json with UseNumber,
// then jsonNeutral.
func jsonReference(b []byte) (any, error) {
	if err := jsonScan(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, errTrailing
	}
	return jsonNeutral(v, 0)
}

var errTrailing = json.Unmarshal([]byte("x"), new(any))

func jsonParse(b []byte) (any, error) {
	if err := jsonScan(b); err != nil {
		return nil, err
	}
	return jsonDecode(b)
}

// checkJSONDecoder: jsonDecode accepts exactly what the reference accepts, with equal values.
func checkJSONDecoder(t *testing.T, b []byte) {
	t.Helper()
	want, werr := jsonReference(b)
	got, gerr := jsonParse(b)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: decoder error %v, encoding/json error %v", b, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoder %#v, encoding/json %#v", b, got, want)
	}
}

var jsonDecoderCases = []string{
	``, ` `, `[]`, ` [ ] `, `[1]x`, `[1] `, `[1],`, `{}`, `{"a":1,"a":2}`, `"x"`, `1`, `-0`, `01`, `-`, `1.`, `.5`,
	`1e`, `1e+`, `1E-2`, `1.5e3`, `-12.25`, `9223372036854775807`, `9223372036854775808`,
	`-9223372036854775808`, `-9223372036854775809`, `18446744073709551615`, `18446744073709551616`,
	`999999999999999999`, `-999999999999999999`, `1e999`, `[true,false,null]`, `[tru]`, `[nul]`, `[True]`,
	`["a\"b\\c\/d\b\f\n\r\t"]`, `["\u00e9\u20AC"]`, `["\ud83d\ude00"]`, `["\ud83d"]`, `["\ud83dx"]`,
	`["\ud83d\u0041"]`, `["\ude00\ud83d"]`, `["\ud83d\uzzzz"]`, `["\uzzzz"]`, `["\u12"]`, `["\x"]`,
	"[\"\x01\"]", "[\"\xff\"]", "[\"a\xc3\"]", "[\"é€😀\"]", "[\"\xed\xa0\x80\"]", `["\u0000AAEC"]`,
	`["\u0000AAE"]`, `["\u0000***"]`, `{"\u0000AA":1}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{a:1}`,
	`{"a":1,}`, `[[[[]]]]`, `[48,1,{"receive_progress":true},"p",[2,3],{"k":[1.5,"s"]}]`, "\t[1]\r\n",
	`["unterminated`, `[1 2]`, `{"a":1 "b":2}`, "[\"\u2028\"]",
	// Where fastjson alone is lenient: number forms, escapes, control characters, ill-formed text.
	`[NaN]`, `[nan]`, `[Infinity]`, `[-Inf]`, `[inf]`, `[+1]`, `[0x10]`, `[-01]`, `[1.5E+3]`, `[1e5]`, `[1E400]`,
	`[-]`, `[1.e5]`, `["\U0041"]`, `["\a"]`, `["\u00e9x"]`, `["\\ud83d"]`, `["\\\ud83d"]`,
	`["\ud83d\ude00\ud83d"]`, `["\ude00\ude00"]`, `["\ud83d\ud83d\ude00"]`, `["\ud83d\"]`,
	`{"\ud83d":1}`, `{"a\nb":1}`, "{\"a\x01\":1}", "[\"\xff\",\"\\ud83d\"]", "{\"\xff\":1}",
	`["\u0000"]`, `{"a\u0000":1}`, `{"k":1,"k":[2],"k":{"x":null}}`, `["\ud800\udc00"]`, `["\uDBFF\uDFFF"]`,
	`["\uD83D\uDE00"]`, `[1,2}`, `{"a":1]`, "[\"\x7f\"]", "\"\x19\\b\"", "{\"\x19\\n\":1}",
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2),
}

func TestJSONParserMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonDecoderCases {
		checkJSONDecoder(t, []byte(c))
	}
}

// FuzzJSONParser: the fastjson decoder and encoding/json agree on every input.
func FuzzJSONParser(f *testing.F) {
	for _, c := range jsonDecoderCases {
		f.Add([]byte(c))
	}
	seedDecode(f, JSON)
	f.Fuzz(func(t *testing.T, b []byte) { checkJSONDecoder(t, b) })
}
