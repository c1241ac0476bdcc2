package config

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder turns the positioned tree into the model. It never stops at the first problem: each
// one is recorded with its line and key path and decoding goes on with the next key.
type decoder struct {
	file  string
	cbdir string // the node directory, for paths the decoders resolve (decodeNode)
	probs Problems
	warns Problems          // what is served, but perhaps not as meant: Node.Warnings
	lines map[string]int    // key path -> line, for checks made after decoding
	raws  map[string]*value // key path -> source of a worker's part, see mergeShared
	// proxies are the proxy workers by place, for resolveProxies.
	proxies map[string]*proxyWorker
	// proxyAuths are the anonymous-proxy and cryptosign-proxy methods of transports, for
	// resolveProxies.
	proxyAuths []proxyAuth
	// fabricUplink is set when the controller names a management uplink (decodeFabric).
	fabricUplink bool
	// webOpts are the key paths of the web transports' `options`, by transport place, for
	// the checks after the defaults.
	webOpts map[string]string
}

func (d *decoder) add(line int, place, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Path: place, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(line int, place, format string, args ...any) {
	d.warns = append(d.warns, Problem{File: d.file, Line: line, Path: place, Msg: fmt.Sprintf(format, args...)})
}

// envRef matches a value that names an environment variable: "$VAR" (Crossbar's _readenv, for
// a listening port) or "${VAR}" (its maybe_from_env, for tickets and secrets). Portico reads
// both forms in both places.
var envRef = regexp.MustCompile(`^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$`)

// fromEnv resolves a string value that names an environment variable; other values come back
// as they are. An unset variable is a problem naming it and the key (Crossbar only logs a
// warning for a secret, and then refuses every login that needs it).
func (d *decoder) fromEnv(s string, line int, place string) (string, bool) {
	m := envRef.FindStringSubmatch(s)
	if m == nil {
		return s, true
	}
	name := m[1] + m[2]
	v, ok := os.LookupEnv(name)
	if !ok {
		d.add(line, place, "environment variable %s is not set (the value %q reads it)", name, s)
		return "", false
	}
	return v, true
}

// obj walks the keys of one object strictly: every key must be claimed with take (or ignore)
// before done, which reports the rest as unknown attributes, as Crossbar's checkconfig does.
type obj struct {
	d     *decoder
	v     *value
	place string
	seen  map[string]bool
}

// object starts the strict walk of v at place; a v that is not an object is reported and yields
// an empty walk, so callers never need to check.
func (d *decoder) object(v *value, place string) *obj {
	if v.place != "" {
		place = v.place
	}
	o := &obj{d: d, v: v, place: place, seen: map[string]bool{}}
	if v.kind != kMap {
		d.add(v.line, place, "want an object, got %s", v.kind)
		o.v = &value{kind: kMap, line: v.line}
	}
	return o
}

// take returns the value of key (nil when absent) and its key path.
func (o *obj) take(key string) (*value, string) {
	o.seen[key] = true
	e := o.v.get(key)
	if e == nil {
		return nil, childPlace(o.place, key)
	}
	if e.val.line == 0 {
		e.val.line = e.line
	}
	p := childPlace(o.place, key)
	if e.val.place != "" {
		p = e.val.place
	}
	return e.val, p
}

// has reports whether key is present (and not null).
func (o *obj) has(key string) bool {
	e := o.v.get(key)
	return e != nil && e.val.kind != kNull
}

// ignore accepts keys that Crossbar knows but that mean nothing to Portico (for example
// Twisted reactor options), so that Crossbar configs load unchanged.
func (o *obj) ignore(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
	}
}

// unsupported reports keys that Crossbar knows and Portico does not implement yet.
func (o *obj) unsupported(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
		if e := o.v.get(k); e != nil {
			o.d.add(e.line, o.place, "attribute %q is not supported yet", k)
		}
	}
}

func (o *obj) done() {
	for _, e := range o.v.keys {
		if !o.seen[e.key] {
			o.d.add(e.line, o.place, "unknown attribute %q", e.key)
		}
	}
}

func (o *obj) line() int { return o.v.line }

// --- scalars. Each returns ok=false when the key is absent or null (nothing reported) or of
// the wrong type (reported).

func (o *obj) str(key string) (string, bool) {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return "", false
	}
	if v.kind != kString {
		o.d.add(v.line, p, "want a string, got %s", v.kind)
		return "", false
	}
	return v.s, true
}

func (o *obj) boolean(key string, dst *bool) {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return
	}
	if v.kind != kBool {
		o.d.add(v.line, p, "want true or false, got %s", v.kind)
		return
	}
	*dst = v.b
}

// integer reads an integer in [lo, hi] into dst.
func (o *obj) integer(key string, lo, hi int64, dst *int) bool {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return false
	}
	n, ok := o.d.intValue(v, p)
	if !ok {
		return false
	}
	if n < lo || n > hi {
		o.d.add(v.line, p, "%d is out of range [%d, %d]", n, lo, hi)
		return false
	}
	*dst = int(n)
	return true
}

func (d *decoder) intValue(v *value, place string) (int64, bool) {
	switch v.kind {
	case kInt:
		return v.i, true
	case kFloat:
		if v.f == math.Trunc(v.f) && math.Abs(v.f) < 1<<53 {
			return int64(v.f), true
		}
	}
	d.add(v.line, place, "want an integer, got %s", v.kind)
	return 0, false
}

// strList reads a list of strings; a single string is accepted as a list of one when one is true.
func (o *obj) strList(key string, one bool) ([]string, bool) {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return nil, false
	}
	if one && v.kind == kString {
		return []string{v.s}, true
	}
	if v.kind != kList {
		if one {
			o.d.add(v.line, p, "want a string or a list of strings, got %s", v.kind)
		} else {
			o.d.add(v.line, p, "want a list of strings, got %s", v.kind)
		}
		return nil, false
	}
	out := make([]string, 0, len(v.list))
	ok := true
	for i, e := range v.list {
		if e.kind != kString {
			o.d.add(e.line, indexPlace(p, i), "want a string, got %s", e.kind)
			ok = false
			continue
		}
		out = append(out, e.s)
	}
	return out, ok
}

// strMap reads an object of string values.
func (o *obj) strMap(key string) (map[string]string, bool) {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return nil, false
	}
	if v.kind != kMap {
		o.d.add(v.line, p, "want an object of strings, got %s", v.kind)
		return nil, false
	}
	out := make(map[string]string, len(v.keys))
	for _, e := range v.keys {
		switch e.val.kind {
		case kString:
			out[e.key] = e.val.s
		case kInt:
			// Environment values are often written as bare numbers in YAML/TOML.
			out[e.key] = strconv.FormatInt(e.val.i, 10)
		case kBool:
			out[e.key] = strconv.FormatBool(e.val.b)
		default:
			o.d.add(e.line, childPlace(p, e.key), "want a string, got %s", e.val.kind)
		}
	}
	return out, true
}

// duration reads a timeout: an integer is milliseconds (Crossbar's convention for
// auto_ping_interval and friends), a string is a Go duration ("30s", "1m30s", "250ms").
func (o *obj) duration(key string, dst *time.Duration) bool {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return false
	}
	var dur time.Duration
	switch v.kind {
	case kInt:
		if v.i < 0 || v.i > math.MaxInt64/int64(time.Millisecond) {
			o.d.add(v.line, p, "%d ms is out of range", v.i)
			return false
		}
		dur = time.Duration(v.i) * time.Millisecond
	case kString:
		var err error
		dur, err = time.ParseDuration(v.s)
		if err != nil {
			o.d.add(v.line, p, "%q is not a duration (write milliseconds as an integer, or a string like \"30s\")", v.s)
			return false
		}
		if dur < 0 {
			o.d.add(v.line, p, "%s is negative", v.s)
			return false
		}
	default:
		o.d.add(v.line, p, "want milliseconds (an integer) or a duration string like \"30s\", got %s", v.kind)
		return false
	}
	*dst = dur
	return true
}

// size reads a byte count: an integer, or a string with a binary unit as nginx writes them
// ("16k", "10m", "1g"; also "16KiB", "10MB" — every unit is a power of 1024).
func (o *obj) size(key string, dst *int64) bool {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return false
	}
	switch v.kind {
	case kInt:
		if v.i < 0 {
			o.d.add(v.line, p, "%d is negative", v.i)
			return false
		}
		*dst = v.i
		return true
	case kString:
		n, ok := parseSize(v.s)
		if !ok {
			o.d.add(v.line, p, "%q is not a size (want bytes, or a number with k, m or g)", v.s)
			return false
		}
		*dst = n
		return true
	}
	o.d.add(v.line, p, "want a size in bytes, got %s", v.kind)
	return false
}

func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	var mul int64
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
		mul = 1
	case "k", "kb", "kib":
		mul = 1 << 10
	case "m", "mb", "mib":
		mul = 1 << 20
	case "g", "gb", "gib":
		mul = 1 << 30
	default:
		return 0, false
	}
	if n > math.MaxInt64/mul {
		return 0, false
	}
	return n * mul, true
}

// list returns the elements of a list key (nil when absent).
func (o *obj) list(key string) ([]*value, string) {
	v, p := o.take(key)
	if v == nil || v.kind == kNull {
		return nil, p
	}
	if v.kind != kList {
		o.d.add(v.line, p, "want a list, got %s", v.kind)
		return nil, p
	}
	return v.list, p
}

// elemPlace is the key path of element i of a list value at place.
func elemPlace(e *value, place string, i int) string {
	if e.place != "" {
		return e.place
	}
	return indexPlace(place, i)
}

// oneOf reports whether s is one of the allowed values, reporting otherwise.
func (d *decoder) oneOf(line int, place, what, s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	d.add(line, place, "%s %q is not one of %s", what, s, strings.Join(allowed, ", "))
	return false
}

// sortedKeys returns the keys of m in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
