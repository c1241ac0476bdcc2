package wamp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// jsonDecoder reads one JSON text (RFC 8259) into codec-neutral values: []any,
// map[string]any, string, []byte (spec "Binary support in JSON"), int64/uint64/float64, bool
// and nil. It accepts exactly what encoding/json accepts and gives the same values as
// encoding/json with UseNumber followed by jsonNeutral (FuzzJSONParser holds it to that).
//
// valyala/fastjson parses into its own tree of Values, which a reused Parser keeps, so the
// only allocations are the neutral values themselves. fastjson is lenient where encoding/json
// is not, and the gaps are closed here:
//   - grammar (number forms such as 01, 1. and NaN, unknown escapes, trailing data):
//     fastjson.ValidateBytes, which is strict, runs first;
//   - depth and the count of values: jsonScan has bounded them before (maxDepth is far below
//     fastjson.MaxDepth);
//   - duplicate keys: the last one wins, as in encoding/json;
//   - control characters: fastjson.ValidateBytes misses one in a string when an escape
//     follows it (`"<0x19>\b"`), so a message with any byte below 0x20 (compact JSON, what
//     WAMP clients send, has none, not even as whitespace) is decoded by encoding/json
//     (jsonFallback);
//   - text that is not well formed (invalid UTF-8, and \u escapes of a surrogate that is not
//     half of a pair): fastjson keeps it as it stands, encoding/json writes U+FFFD; such a
//     message, rare and already broken, is decoded by encoding/json (jsonFallback).
type jsonDecoder struct {
	p   fastjson.Parser // reused: its Values and its copy of the text
	num []byte          // scratch for a number's text
}

var jsonDecoders = sync.Pool{New: func() any { return new(jsonDecoder) }}

// jsonMaxPooled: a parser that read more than this is dropped, so that a huge message does
// not pin its copy of the text in the pool.
const jsonMaxPooled = 64 << 10

// jsonDecode decodes b, which jsonScan has accepted.
func jsonDecode(b []byte) (any, error) {
	if err := fastjson.ValidateBytes(b); err != nil {
		// The error is encoding/json's, which says what and where as this decoder always has.
		if _, jerr := jsonFallback(b); jerr != nil {
			return nil, jerr
		}
		return nil, err
	}
	if !utf8.Valid(b) || jsonHasControl(b) || jsonIllFormedEscape(b) {
		return jsonFallback(b)
	}
	d := jsonDecoders.Get().(*jsonDecoder)
	v, err := d.p.ParseBytes(b)
	var out any
	if err == nil {
		out, err = d.value(v)
	}
	if len(b) <= jsonMaxPooled {
		jsonDecoders.Put(d)
	}
	return out, err
}

func (d *jsonDecoder) value(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeArray:
		items, _ := v.Array()
		l := make([]any, len(items))
		for i, e := range items {
			x, err := d.value(e)
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		return l, nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		var err error
		o.Visit(func(k []byte, e *fastjson.Value) {
			if err != nil {
				return
			}
			var x any
			if x, err = d.value(e); err == nil {
				m[string(k)] = x // a repeated key: the last one wins, as in encoding/json
			}
		})
		if err != nil {
			return nil, err
		}
		return m, nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		if len(s) > 0 && s[0] == 0 {
			return jsonBinary(string(s))
		}
		return string(s), nil
	case fastjson.TypeNumber:
		d.num = v.MarshalTo(d.num[:0]) // a number marshals as its text
		if bytes.ContainsAny(d.num, ".eE") {
			return jsonNumber(string(d.num))
		}
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		if n, err := v.Uint64(); err == nil {
			return n, nil
		}
		// An integer no 64-bit type holds: turning it into a float would change it silently.
		return nil, fmt.Errorf("number %s: %w", d.num, errIntRange)
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	}
	return nil, nil // null
}

// jsonHasControl reports whether b holds a byte below 0x20.
func jsonHasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// jsonIllFormedEscape reports whether b, valid JSON, holds a \u escape of a surrogate that is
// not a high surrogate followed by the escape of a low one: encoding/json writes U+FFFD for it
// (and reads a following escape on its own), fastjson keeps the escape's text or takes the
// following escape with it.
func jsonIllFormedEscape(b []byte) bool {
	for i := bytes.IndexByte(b, '\\'); i >= 0; {
		// b[i] is a backslash in a string (valid JSON has none elsewhere).
		if b[i+1] != 'u' {
			i += 2
		} else {
			r := jsonHex4(b[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
					return true
				}
				if r2 := jsonHex4(b[i+2 : i+6]); r2 < 0xdc00 || r2 > 0xdfff {
					return true
				}
				i += 6
			}
		}
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
	}
	return false
}

// jsonHex4 reads the four hex digits of a \u escape that fastjson.ValidateBytes has accepted.
func jsonHex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// jsonFallback decodes, with encoding/json, the valid JSON whose text is not well formed.
func jsonFallback(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes of trailing data", len(rest))
	}
	return jsonNeutral(v, 0)
}

// jsonBinary decodes the spec's "\u0000" + base64 form.
func jsonBinary(s string) (any, error) {
	b, err := base64.StdEncoding.DecodeString(s[1:])
	if err != nil {
		// Some encoders drop the padding.
		var err2 error
		if b, err2 = base64.RawStdEncoding.DecodeString(s[1:]); err2 != nil {
			return nil, fmt.Errorf("binary string: %w", err)
		}
	}
	return b, nil
}
