package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// maxDepth bounds nesting in every front door, so that a hostile file cannot make decoding
// recurse without end. Real node configs nest fewer than 20 levels.
const maxDepth = 200

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int // offsets of '\n'

func newLineIndex(data []byte) lineIndex {
	var nl lineIndex
	for i, c := range data {
		if c == '\n' {
			nl = append(nl, i)
		}
	}
	return nl
}

func (li lineIndex) line(off int64) int {
	return 1 + sort.SearchInts(li, int(off))
}

// parseError is a syntax error of a front door, with the line it was found on.
type parseError struct {
	line int
	path string // key path when known
	msg  string
}

func (e *parseError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseJSON reads a JSON document into the positioned tree. Besides syntax errors it rejects
// duplicate keys: Python's json (and so Crossbar) silently keeps the last one, which hides typos.
func parseJSON(data []byte) (*value, []parseError) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), lines: newLineIndex(data)}
	p.dec.UseNumber()
	v, err := p.value(0, "")
	if err != nil {
		return nil, []parseError{*p.wrap(err)}
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, []parseError{{line: p.lines.line(p.dec.InputOffset()), msg: "unexpected data after the top-level value"}}
	}
	if len(p.dups) > 0 {
		return nil, p.dups
	}
	return v, nil
}

type jsonParser struct {
	dec   *json.Decoder
	lines lineIndex
	dups  []parseError
}

func (p *jsonParser) wrap(err error) *parseError {
	var pe *parseError
	if errors.As(err, &pe) {
		return pe
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &parseError{line: p.lines.line(max(se.Offset-1, 0)), msg: "JSON syntax: " + se.Error()}
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &parseError{line: p.lines.line(p.dec.InputOffset()), msg: "JSON syntax: unexpected end of file"}
	}
	return &parseError{line: p.lines.line(p.dec.InputOffset()), msg: "JSON: " + err.Error()}
}

// here is the line of the token just read.
func (p *jsonParser) here() int { return p.lines.line(max(p.dec.InputOffset()-1, 0)) }

func (p *jsonParser) value(depth int, place string) (*value, error) {
	if depth > maxDepth {
		return nil, &parseError{line: p.lines.line(p.dec.InputOffset()), msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	v := &value{line: p.here()}
	switch t := tok.(type) {
	case nil:
		v.kind = kNull
	case bool:
		v.kind, v.b = kBool, t
	case string:
		v.kind, v.s = kString, t
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			v.kind, v.i = kInt, i
		} else if f, err := strconv.ParseFloat(string(t), 64); err == nil {
			v.kind, v.f = kFloat, f
		} else {
			return nil, &parseError{line: v.line, msg: fmt.Sprintf("number %s out of range", t)}
		}
	case json.Delim:
		switch t {
		case '[':
			v.kind = kList
			for p.dec.More() {
				e, err := p.value(depth+1, indexPlace(place, len(v.list)))
				if err != nil {
					return nil, err
				}
				v.list = append(v.list, e)
			}
		case '{':
			v.kind = kMap
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				kline := p.here()
				e, err := p.value(depth+1, childPlace(place, key))
				if err != nil {
					return nil, err
				}
				if v.get(key) != nil {
					p.dups = append(p.dups, parseError{line: kline, path: place, msg: fmt.Sprintf("duplicate key %q", key)})
					continue
				}
				v.keys = append(v.keys, entry{key: key, line: kline, val: e})
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return v, nil
}
