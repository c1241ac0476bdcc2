package config

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// parseTOML reads Portico's native TOML into the positioned tree, in the same shape as a
// Crossbar node (see docs/configuration.md for the layout):
//
//	[router]                     -> workers[0] (type "router"), its keys are the worker options
//	[[realm]] / [[realm.role]] / [[realm.role.permission]] -> realms / roles / permissions
//	[[transport]]                -> workers[0].transports (type "web" unless given)
//	[transport.paths."/"]        -> that transport's paths
//
// A file may instead spell the Crossbar layout out (`[[workers]]`), key for key.
//
// BurntSushi/toml does not export key positions, so lines are recovered from the source: keys
// come back from MetaData.Keys in source order, and each is found in a copy of the source with
// comments and value strings blanked out.
func parseTOML(data []byte) (*value, []parseError) {
	var m map[string]any
	md, err := toml.Decode(string(data), &m)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []parseError{{line: max(pe.Position.Line, 1), msg: "TOML syntax: " + pe.Message}}
		}
		return nil, []parseError{{line: 1, msg: "TOML: " + err.Error()}}
	}
	pos := tomlPositions(data, md)
	b := &tomlBuilder{pos: pos}
	root := b.build(m, "", 1, 0)
	if b.err != nil {
		return nil, []parseError{*b.err}
	}
	return tomlToCrossbar(root)
}

const pathSep = "\x00"

// tomlPositions maps each key (indexed path, components joined by pathSep, array-of-tables
// elements as "#i") to the line it is written on.
func tomlPositions(data []byte, md toml.MetaData) map[string]int {
	masked := maskTOML(data)
	lines := newLineIndex(data)
	pos := map[string]int{}
	counts := map[string]int{}
	cursor := 0
	for _, key := range md.Keys() {
		var path string
		for i := range key {
			if i > 0 {
				path += pathSep
			}
			path += key[i]
			if md.Type(key[:i+1]...) == "ArrayHash" {
				if i == len(key)-1 {
					counts[path]++
				}
				path += pathSep + "#" + strconv.Itoa(max(counts[path]-1, 0))
			}
		}
		at, end := findKey(masked, cursor, key[len(key)-1])
		if at < 0 {
			continue
		}
		cursor = end
		pos[path] = lines.line(int64(at))
	}
	return pos
}

// findKey finds the next place from start where name is written as a key (bare or quoted)
// followed by '=', '.' or ']'.
func findKey(src []byte, start int, name string) (int, int) {
	forms := []string{`"` + name + `"`, `'` + name + `'`}
	bare := name != ""
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			bare = false
		}
	}
	if bare {
		forms = append(forms, name)
	}
	best, bestEnd := -1, -1
	for _, f := range forms {
		fb := []byte(f)
		from := start
		for from <= len(src) {
			i := bytes.Index(src[from:], fb)
			if i < 0 {
				break
			}
			at, end := from+i, from+i+len(f)
			from = at + 1
			if f == name { // bare: whole word only
				if at > 0 && isBareKeyChar(src[at-1]) || end < len(src) && isBareKeyChar(src[end]) {
					continue
				}
			}
			j := end
			for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
				j++
			}
			if j < len(src) && (src[j] == '=' || src[j] == '.' || src[j] == ']') {
				if best < 0 || at < best {
					best, bestEnd = at, end
				}
				break
			}
		}
	}
	return best, bestEnd
}

func isBareKeyChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// maskTOML returns a copy of src with comments and the contents of value strings replaced by
// spaces (newlines kept), so that only keys and punctuation can match a key search.
func maskTOML(src []byte) []byte {
	out := append([]byte(nil), src...)
	type frame struct {
		table     bool // inline table (else array)
		expectKey bool
	}
	var stack []frame
	topKey := true // at top level: expecting a key (not after '=')
	expectKey := func() bool {
		if len(stack) == 0 {
			return topKey
		}
		f := stack[len(stack)-1]
		return f.table && f.expectKey
	}
	blank := func(from, to int) {
		for k := from; k < to && k < len(out); k++ {
			if out[k] != '\n' {
				out[k] = ' '
			}
		}
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '#':
			j := i
			for j < len(src) && src[j] != '\n' {
				j++
			}
			blank(i, j)
			i = j
		case c == '\n':
			if len(stack) == 0 {
				topKey = true
			}
			i++
		case c == '"' || c == '\'':
			end := tomlStringEnd(src, i)
			if !expectKey() {
				blank(i+1, end-1)
			}
			i = end
		case c == '=':
			if len(stack) == 0 {
				topKey = false
			} else {
				stack[len(stack)-1].expectKey = false
			}
			i++
		case c == '[' && len(stack) == 0 && topKey:
			// A table header: its quoted parts are keys; it ends at the line's end.
			j := i
			for j < len(src) && src[j] != '\n' && src[j] != '#' {
				if src[j] == '"' || src[j] == '\'' {
					j = tomlStringEnd(src, j)
					continue
				}
				j++
			}
			i = j
		case c == '[':
			stack = append(stack, frame{})
			i++
		case c == '{':
			stack = append(stack, frame{table: true, expectKey: true})
			i++
		case c == ']' || c == '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			i++
		case c == ',':
			if len(stack) > 0 && stack[len(stack)-1].table {
				stack[len(stack)-1].expectKey = true
			}
			i++
		default:
			i++
		}
	}
	return out
}

// tomlStringEnd returns the index just past the string starting at src[i] (basic, literal, and
// their multi-line forms).
func tomlStringEnd(src []byte, i int) int {
	q := src[i]
	triple := i+2 < len(src) && src[i+1] == q && src[i+2] == q
	j := i + 1
	if triple {
		j = i + 3
	}
	for j < len(src) {
		switch {
		case q == '"' && src[j] == '\\':
			j += 2
			continue
		case src[j] == q:
			if !triple {
				return j + 1
			}
			if j+2 < len(src) && src[j+1] == q && src[j+2] == q {
				// Up to two extra quotes may close a multi-line string ("""a"""").
				k := j + 3
				for k < len(src) && k < j+5 && src[k] == q {
					k++
				}
				return k
			}
		case src[j] == '\n' && !triple:
			return j
		}
		j++
	}
	return len(src)
}

type tomlBuilder struct {
	pos   map[string]int
	err   *parseError
	nodes int
}

func (b *tomlBuilder) build(x any, path string, line, depth int) *value {
	b.nodes++
	if depth > maxDepth && b.err == nil {
		b.err = &parseError{line: line, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	if b.err != nil {
		return &value{kind: kNull, line: line}
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + pathSep + k
	}
	switch t := x.(type) {
	case map[string]any:
		v := &value{kind: kMap, line: line}
		for k, cx := range t {
			cp := join(k)
			cl, ok := b.pos[cp]
			if !ok {
				cl = 0
			}
			cv := b.build(cx, cp, max(cl, line), depth+1)
			if cl == 0 {
				cl = firstLine(cv, line)
				cv.line = cl
			}
			v.keys = append(v.keys, entry{key: k, line: cl, val: cv})
		}
		sort.SliceStable(v.keys, func(i, j int) bool {
			if v.keys[i].line != v.keys[j].line {
				return v.keys[i].line < v.keys[j].line
			}
			return v.keys[i].key < v.keys[j].key
		})
		return v
	case []map[string]any:
		v := &value{kind: kList, line: line}
		for i, e := range t {
			ep := path + pathSep + "#" + strconv.Itoa(i)
			el := line
			if l, ok := b.pos[ep]; ok {
				el = l
			}
			v.list = append(v.list, b.build(e, ep, el, depth+1))
		}
		return v
	case []any:
		v := &value{kind: kList, line: line}
		for i, e := range t {
			v.list = append(v.list, b.build(e, path+pathSep+"#"+strconv.Itoa(i), line, depth+1))
		}
		return v
	case string:
		return &value{kind: kString, s: t, line: line}
	case int64:
		return &value{kind: kInt, i: t, line: line}
	case float64:
		return &value{kind: kFloat, f: t, line: line}
	case bool:
		return &value{kind: kBool, b: t, line: line}
	case time.Time:
		return &value{kind: kString, s: t.Format(time.RFC3339Nano), line: line}
	case fmt.Stringer: // toml.LocalDate, LocalTime, LocalDatetime
		return &value{kind: kString, s: t.String(), line: line}
	}
	return &value{kind: kNull, line: line}
}

// firstLine is the smallest known line inside v, or def.
func firstLine(v *value, def int) int {
	best := 0
	for _, e := range v.keys {
		if e.line > 0 && (best == 0 || e.line < best) {
			best = e.line
		}
	}
	if best == 0 {
		return def
	}
	return best
}

// tomlToCrossbar rewrites Portico's TOML layout into the Crossbar tree, keeping the TOML key
// paths for messages.
func tomlToCrossbar(root *value) (*value, []parseError) {
	if root.get("workers") != nil {
		for _, k := range []string{"router", "realm", "transport"} {
			if e := root.get(k); e != nil {
				return nil, []parseError{{line: e.line, msg: fmt.Sprintf("%q cannot be combined with \"workers\": write either Portico's layout ([router], [[realm]], [[transport]]) or Crossbar's ([[workers]])", k)}}
			}
		}
		return root, nil
	}
	worker := &value{kind: kMap, line: 1, place: "router"}
	worker.set("type", 1, &value{kind: kString, s: "router", line: 1})
	hasWorker := false
	if e, ok := root.remove("router"); ok {
		hasWorker = true
		worker.line = e.line
		if e.val.kind == kMap {
			if id, ok := e.val.remove("id"); ok {
				worker.set("id", id.line, id.val)
			}
			e.val.place = "router"
		}
		worker.set("options", e.line, e.val)
	}
	if e, ok := root.remove("realm"); ok {
		hasWorker = true
		e.val.place = "realm"
		for i, r := range e.val.list {
			r.place = indexPlace("realm", i)
			if r.kind != kMap {
				continue
			}
			if re, ok := r.remove("role"); ok {
				re.val.place = r.place + ".role"
				for j, role := range re.val.list {
					role.place = indexPlace(re.val.place, j)
					if role.kind != kMap {
						continue
					}
					if pe, ok := role.remove("permission"); ok {
						pe.val.place = role.place + ".permission"
						for k, perm := range pe.val.list {
							perm.place = indexPlace(pe.val.place, k)
						}
						role.set("permissions", pe.line, pe.val)
					}
				}
				r.set("roles", re.line, re.val)
			}
		}
		worker.set("realms", e.line, e.val)
	}
	if e, ok := root.remove("transport"); ok {
		hasWorker = true
		e.val.place = "transport"
		for i, t := range e.val.list {
			t.place = indexPlace("transport", i)
			if t.kind == kMap && t.get("type") == nil {
				t.set("type", t.line, &value{kind: kString, s: "web", line: t.line})
			}
		}
		worker.set("transports", e.line, e.val)
	}
	if hasWorker {
		root.set("workers", worker.line, &value{kind: kList, line: worker.line, list: []*value{worker}})
	}
	return root, nil
}
