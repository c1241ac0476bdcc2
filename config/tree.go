package config

import "strconv"

// kind is the type of a value in the generic tree.
type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kFloat
	kString
	kList
	kMap
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "an integer", "a number", "a string", "a list", "an object"}[k]
}

// value is one node of the generic positioned tree that every front door (JSON, YAML, TOML)
// produces. Decoding into the model works on this tree only, so the three formats share one
// strict decoder and one set of messages, and every message can name a line.
type value struct {
	kind kind
	line int // where the value starts; 0 when unknown
	b    bool
	i    int64
	f    float64
	s    string
	list []*value
	keys []entry // kMap, in source order
	// place overrides the key path of this value in messages; front doors set it when they
	// relocate a value (TOML's top-level [[transport]] becomes workers[0].transports).
	place string
}

// entry is one key of a map, with the line the key is on.
type entry struct {
	key  string
	line int
	val  *value
}

// get returns the entry for key, or nil.
func (v *value) get(key string) *entry {
	for i := range v.keys {
		if v.keys[i].key == key {
			return &v.keys[i]
		}
	}
	return nil
}

// set adds or replaces key in a map value.
func (v *value) set(key string, line int, val *value) {
	if e := v.get(key); e != nil {
		e.val, e.line = val, line
		return
	}
	v.keys = append(v.keys, entry{key: key, line: line, val: val})
}

// remove deletes key from a map value and returns its entry.
func (v *value) remove(key string) (entry, bool) {
	for i := range v.keys {
		if v.keys[i].key == key {
			e := v.keys[i]
			v.keys = append(v.keys[:i], v.keys[i+1:]...)
			return e, true
		}
	}
	return entry{}, false
}

// iface converts the tree to plain Go values (nil, bool, int64, float64, string, []any,
// map[string]any), for opaque parts such as a json service's value.
func (v *value) iface() any {
	switch v.kind {
	case kBool:
		return v.b
	case kInt:
		return v.i
	case kFloat:
		return v.f
	case kString:
		return v.s
	case kList:
		l := make([]any, len(v.list))
		for i, e := range v.list {
			l[i] = e.iface()
		}
		return l
	case kMap:
		m := make(map[string]any, len(v.keys))
		for _, e := range v.keys {
			m[e.key] = e.val.iface()
		}
		return m
	}
	return nil
}

// childPlace is the key path of key inside a value at place.
func childPlace(place, key string) string {
	if place == "" {
		return key
	}
	return place + "." + key
}

// indexPlace is the key path of element i of a list at place.
func indexPlace(place string, i int) string {
	return place + "[" + strconv.Itoa(i) + "]"
}
