package wamp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonCodec is wamp.2.json (spec "JSON"). Decoding (jsonDecode, with valyala/fastjson) keeps integers integers;
// encoding is append-style and writes the few JSON forms WAMP needs
// directly, which keeps the fan-out path free of allocations.
type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }
func (jsonCodec) Binary() bool { return false }

func (c jsonCodec) Encode(dst []byte, m Message) ([]byte, error) {
	return appendMessage(c, dst, m)
}

func (jsonCodec) Decode(b []byte) (Message, error) {
	// Bound nesting and the count of values before anything is built.
	if err := jsonScan(b); err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("json: %w", err)}
	}
	v, err := jsonDecode(b)
	if err != nil {
		return nil, &DecodeError{Element: -1, Err: fmt.Errorf("json: %w", err)}
	}
	l, ok := v.([]any)
	if !ok {
		return nil, &DecodeError{Element: -1, Err: expected("list", v)}
	}
	return fromList(l)
}

// jsonNeutral rewrites, in place, what encoding/json produced into codec-neutral values:
// numbers without fraction or exponent become int64 (uint64 above 2^63-1), others float64;
// strings that start with NUL are binary (spec "Binary support in JSON": "\u0000" followed by
// the base64 of the bytes).
func jsonNeutral(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	switch x := v.(type) {
	case json.Number:
		return jsonNumber(string(x))
	case string:
		if strings.HasPrefix(x, "\x00") {
			return jsonBinary(x)
		}
		return x, nil
	case []any:
		for i, e := range x {
			n, err := jsonNeutral(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case map[string]any:
		for k, e := range x {
			n, err := jsonNeutral(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	}
	return v, nil // nil, bool
}

var errIntRange = errors.New("integer out of the 64-bit range")

func jsonNumber(s string) (any, error) {
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", s, err)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	// An integer no 64-bit type holds: turning it into a float would change it silently.
	return nil, fmt.Errorf("number %s: %w", s, errIntRange)
}

func (jsonCodec) arrayHead(dst []byte, n int) []byte { return append(dst, '[') }
func (jsonCodec) arrayEnd(dst []byte) []byte         { return append(dst, ']') }
func (jsonCodec) mapHead(dst []byte, n int) []byte   { return append(dst, '{') }
func (jsonCodec) mapEnd(dst []byte) []byte           { return append(dst, '}') }
func (jsonCodec) sep(dst []byte) []byte              { return append(dst, ',') }
func (jsonCodec) null(dst []byte) []byte             { return append(dst, "null"...) }
func (jsonCodec) int(dst []byte, n int64) []byte     { return strconv.AppendInt(dst, n, 10) }
func (jsonCodec) uint(dst []byte, n uint64) []byte   { return strconv.AppendUint(dst, n, 10) }

func (c jsonCodec) key(dst []byte, k string) []byte {
	return append(c.str(dst, k), ':')
}

func (jsonCodec) bool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func (jsonCodec) float(dst []byte, f float64) ([]byte, error) {
	if err := checkFloat(f); err != nil {
		return dst, fmt.Errorf("json: %w", err)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	// A float with an integral value must not read back as an integer.
	if bytes.IndexAny(dst[start:], ".e") < 0 {
		dst = append(dst, ".0"...)
	}
	return dst, nil
}

// bin writes binary as the spec's "\u0000" + base64 string.
func (jsonCodec) bin(dst []byte, b []byte) []byte {
	dst = append(dst, `"\u0000`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// str writes a JSON string (RFC 8259 section 7). Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func (jsonCodec) str(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var _ Codec = jsonCodec{}
