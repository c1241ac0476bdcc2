package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The HTTP bridge answers with the JSON Crossbar writes, byte for byte where Go can know the
// bytes: Crossbar's dump_json (compact separators, non-ASCII as is) for its own answers and
// Python's json.dumps defaults (", " and ": ", non-ASCII escaped) for a WAMP error
// (crossbar/bridge/rest/common.py _fail_request). Dict keys come out sorted, where Python
// keeps the order the callee sent them in: the router's dicts have no order.

// pyStyle is one of Python's json.dumps settings.
type pyStyle struct {
	compact bool // separators (",", ":") instead of (", ", ": ")
	ascii   bool // ensure_ascii: non-ASCII as \uXXXX
}

var (
	dumpJSON   = pyStyle{compact: true} // crossbar._util.dump_json(obj, True)
	pythonJSON = pyStyle{ascii: true}   // json.dumps(obj)
	errDepth   = errors.New("nested too deeply")
)

// appendPy appends v, a codec-neutral value (nil, bool, int64, uint64, float64, string,
// []byte, []any, map[string]any), as Python's json.dumps writes it.
func appendPy(dst []byte, v any, st pyStyle, depth int) ([]byte, error) {
	if depth > maxBridgeDepth {
		return dst, errDepth
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float64:
		return appendPyFloat(dst, x), nil
	case string:
		return appendPyString(dst, x, st.ascii), nil
	case []byte:
		// What a JSON WAMP peer sends for binary (spec "Binary support in JSON"); Python's
		// json cannot write bytes at all.
		return appendPyString(dst, "\x00"+base64.StdEncoding.EncodeToString(x), st.ascii), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = st.sep(dst)
			}
			var err error
			if dst, err = appendPy(dst, e, st, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = st.sep(dst)
			}
			dst = appendPyString(dst, k, st.ascii)
			dst = append(dst, ':')
			if !st.compact {
				dst = append(dst, ' ')
			}
			var err error
			if dst, err = appendPy(dst, x[k], st, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return dst, errors.New("value of no JSON type")
}

func (st pyStyle) sep(dst []byte) []byte {
	if st.compact {
		return append(dst, ',')
	}
	return append(dst, ',', ' ')
}

// appendPyFloat writes f as Python's float.__repr__: the shortest digits that read back, a
// ".0" on integral values, the exponent form below 1e-4 and from 1e16.
func appendPyFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if f == 0 || (math.Abs(f) >= 1e-4 && math.Abs(f) < 1e16) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		if bytes.IndexByte(dst[start:], '.') < 0 {
			dst = append(dst, '.', '0')
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'e', -1, 64) // "1e+16", "1.5e-07", as Python
}

// appendPyString writes s as a JSON string the way Python's json module does: \" \\ \n \r
// \t \b \f by name, other control characters as \u00XX, and with ascii also DEL and every
// non-ASCII character as \uXXXX (surrogate pairs above U+FFFF). Invalid UTF-8 cannot reach
// here: bodies are checked, and the router's codecs give valid strings.
func appendPyString(dst []byte, s string, ascii bool) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r < 0x20 || (ascii && r >= 0x7f):
			if r > 0xffff {
				r -= 0x10000
				hi, lo := 0xd800+(r>>10), 0xdc00+(r&0x3ff)
				dst = append(dst, '\\', 'u', hex[hi>>12], hex[hi>>8&15], hex[hi>>4&15], hex[hi&15])
				dst = append(dst, '\\', 'u', hex[lo>>12], hex[lo>>8&15], hex[lo>>4&15], hex[lo&15])
				continue
			}
			dst = append(dst, '\\', 'u', hex[r>>12], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// maxBridgeDepth bounds the nesting of a request body: the router's codecs refuse deeper
// values (router/wamp maxDepth is 100; the message itself and its args list take two).
const maxBridgeDepth = 96

// errBadJSON is a body that is not JSON (Crossbar: AR453).
var errBadJSON = errors.New("invalid JSON")

// decodeBridgeJSON reads a request body into codec-neutral values: integers stay integers
// (int64, or uint64 above it), other numbers are float64. It refuses what Python's json.loads
// refuses, and also integers beyond 64 bits and nesting deeper than maxBridgeDepth, which no
// WAMP codec here carries.
func decodeBridgeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errBadJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBadJSON // trailing data ("{} {}"); Python: "Extra data"
	}
	return neutral(v, 0)
}

func neutral(v any, depth int) (any, error) {
	if depth > maxBridgeDepth {
		return nil, errBadJSON
	}
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				return n, nil
			}
			return nil, errBadJSON
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errBadJSON // out of range: Python gives inf, no codec takes it
		}
		return f, nil
	case []any:
		for i, e := range x {
			n, err := neutral(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case map[string]any:
		for k, e := range x {
			n, err := neutral(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	}
	return v, nil
}
