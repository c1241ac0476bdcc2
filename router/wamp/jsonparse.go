package wamp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonParser reads one JSON text (RFC 8259) straight into codec-neutral values: []any,
// map[string]any, string, []byte (spec "Binary support in JSON"), int64/uint64/float64, bool
// and nil. It accepts exactly what encoding/json accepts and decodes it to the same values as
// encoding/json with UseNumber followed by jsonNeutral did, without the boxing of json.Number
// and the decoder's state: a CALL costs a handful of allocations instead of dozens.
// jsonScan has bounded the nesting and the count of values before it runs.
type jsonParser struct {
	b     []byte
	off   int
	buf   []byte // scratch for strings with escapes or invalid UTF-8
	items []any  // stack of the items of the open lists: each list is allocated once, at its size
}

var errJSONEnd = errors.New("unexpected end of JSON input")

func (p *jsonParser) syntax(what string) error {
	if p.off >= len(p.b) {
		return errJSONEnd
	}
	return fmt.Errorf("invalid character %q %s at offset %d", p.b[p.off], what, p.off)
}

func (p *jsonParser) space() {
	for p.off < len(p.b) {
		switch p.b[p.off] {
		case ' ', '\t', '\r', '\n':
			p.off++
		default:
			return
		}
	}
}

// document parses one value and allows only whitespace after it.
func (p *jsonParser) document() (any, error) {
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.off < len(p.b) {
		return nil, fmt.Errorf("%d bytes of trailing data", len(p.b)-p.off)
	}
	return v, nil
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errDepth
	}
	if p.off >= len(p.b) {
		return nil, errJSONEnd
	}
	switch c := p.b[p.off]; {
	case c == '[':
		return p.array(depth)
	case c == '{':
		return p.object(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if len(s) > 0 && s[0] == 0 {
			return jsonBinary(s)
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.syntax("looking for beginning of value")
}

func (p *jsonParser) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if p.off >= len(p.b) || p.b[p.off] != lit[i] {
			return p.syntax("in literal " + lit)
		}
		p.off++
	}
	return nil
}

func (p *jsonParser) array(depth int) (any, error) {
	p.off++ // '['
	p.space()
	if p.off < len(p.b) && p.b[p.off] == ']' {
		p.off++
		return []any{}, nil
	}
	mark := len(p.items)
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.items = append(p.items, v)
		p.space()
		if p.off >= len(p.b) {
			return nil, errJSONEnd
		}
		switch p.b[p.off] {
		case ',':
			p.off++
		case ']':
			p.off++
			l := make([]any, len(p.items)-mark)
			copy(l, p.items[mark:])
			clear(p.items[mark:])
			p.items = p.items[:mark]
			return l, nil
		default:
			return nil, p.syntax("after array element")
		}
	}
}

func (p *jsonParser) object(depth int) (any, error) {
	p.off++ // '{'
	m := make(map[string]any)
	p.space()
	if p.off < len(p.b) && p.b[p.off] == '}' {
		p.off++
		return m, nil
	}
	for {
		p.space()
		if p.off >= len(p.b) {
			return nil, errJSONEnd
		}
		if p.b[p.off] != '"' {
			return nil, p.syntax("looking for beginning of object key string")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.off >= len(p.b) {
			return nil, errJSONEnd
		}
		if p.b[p.off] != ':' {
			return nil, p.syntax("after object key")
		}
		p.off++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v // a repeated key: the last one wins, as in encoding/json
		p.space()
		if p.off >= len(p.b) {
			return nil, errJSONEnd
		}
		switch p.b[p.off] {
		case ',':
			p.off++
		case '}':
			p.off++
			return m, nil
		default:
			return nil, p.syntax("after object key:value pair")
		}
	}
}

// str reads a string. Invalid UTF-8 and lone surrogates become U+FFFD, as in encoding/json.
func (p *jsonParser) str() (string, error) {
	p.off++ // '"'
	start := p.off
	// Fast path: printable ASCII up to the closing quote.
	for p.off < len(p.b) {
		c := p.b[p.off]
		if c == '"' {
			s := string(p.b[start:p.off])
			p.off++
			return s, nil
		}
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRune(p.b[p.off:]); r != utf8.RuneError || size != 1 {
				p.off += size
				continue
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.off++
	}
	buf := append(p.buf[:0], p.b[start:p.off]...)
	for {
		if p.off >= len(p.b) {
			return "", errJSONEnd
		}
		c := p.b[p.off]
		switch {
		case c == '"':
			p.off++
			p.buf = buf
			return string(buf), nil
		case c < 0x20:
			return "", p.syntax("in string literal")
		case c == '\\':
			p.off++
			if p.off >= len(p.b) {
				return "", errJSONEnd
			}
			e := p.b[p.off]
			p.off++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.syntax("in \\u hexadecimal character escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair only when a low surrogate escape follows; otherwise U+FFFD and the
					// next escape is read on its own.
					r2 := rune(-1)
					if p.off+1 < len(p.b) && p.b[p.off] == '\\' && p.b[p.off+1] == 'u' {
						save := p.off
						p.off += 2
						var ok2 bool
						if r2, ok2 = p.hex4(); !ok2 {
							return "", p.syntax("in \\u hexadecimal character escape")
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							buf = utf8.AppendRune(buf, d)
							continue
						}
						p.off = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.off--
				return "", p.syntax("in string escape code")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.off++
		default:
			r, size := utf8.DecodeRune(p.b[p.off:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, p.b[p.off:p.off+size]...)
			}
			p.off += size
		}
	}
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.off+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.off : p.off+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.off += 4
	return r, true
}

// number checks the grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and converts with
// jsonNumber.
func (p *jsonParser) number() (any, error) {
	start := p.off
	if p.b[p.off] == '-' {
		p.off++
	}
	digits := func() bool {
		s := p.off
		for p.off < len(p.b) && p.b[p.off] >= '0' && p.b[p.off] <= '9' {
			p.off++
		}
		return p.off > s
	}
	if p.off < len(p.b) && p.b[p.off] == '0' {
		p.off++
	} else if !digits() {
		return nil, p.syntax("in numeric literal")
	}
	if p.off < len(p.b) && p.b[p.off] == '.' {
		p.off++
		if !digits() {
			return nil, p.syntax("after decimal point in numeric literal")
		}
	}
	if p.off < len(p.b) && (p.b[p.off] == 'e' || p.b[p.off] == 'E') {
		p.off++
		if p.off < len(p.b) && (p.b[p.off] == '+' || p.b[p.off] == '-') {
			p.off++
		}
		if !digits() {
			return nil, p.syntax("in exponent of numeric literal")
		}
	}
	return jsonNumberBytes(p.b[start:p.off])
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

// jsonNumberBytes is jsonNumber for a number the grammar has accepted; integers that fit an
// int64 are read without converting the bytes to a string.
func jsonNumberBytes(b []byte) (any, error) {
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) <= 18 { // 18 decimal digits always fit an int64
		var n int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				return jsonNumber(string(b))
			}
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	return jsonNumber(string(b))
}
