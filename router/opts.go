package router

import (
	"math"

	"portico/router/wamp"
)

// Helpers that read WAMP Options/Details values. Codecs hand numbers over as int64, uint64 or
// float64 (JSON), so every integer reader accepts all three when the value is integral.

func optBool(d wamp.Dict, key string) (v, ok bool) {
	v, ok = d[key].(bool)
	return v, ok
}

func optString(d wamp.Dict, key string) (string, bool) {
	v, ok := d[key].(string)
	return v, ok
}

func toInt(x any) (int64, bool) {
	switch n := x.(type) {
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || n < -(1<<53) || n > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func toID(x any) (wamp.ID, bool) {
	n, ok := toInt(x)
	if !ok || n < 1 || n > maxID {
		return 0, false
	}
	return wamp.ID(n), true
}

// optIDs reads a list of IDs; ok is false when the key is present but not a list of IDs.
func optIDs(d wamp.Dict, key string) (ids []wamp.ID, present, ok bool) {
	x, present := d[key]
	if !present {
		return nil, false, true
	}
	l, isList := x.([]any)
	if !isList {
		return nil, true, false
	}
	ids = make([]wamp.ID, 0, len(l))
	for _, e := range l {
		id, good := toID(e)
		if !good {
			return nil, true, false
		}
		ids = append(ids, id)
	}
	return ids, true, true
}

// optStrings reads a list of strings; ok is false when the key is present but not a list of
// strings.
func optStrings(d wamp.Dict, key string) (ss []string, present, ok bool) {
	x, present := d[key]
	if !present {
		return nil, false, true
	}
	l, isList := x.([]any)
	if !isList {
		return nil, true, false
	}
	ss = make([]string, 0, len(l))
	for _, e := range l {
		s, good := e.(string)
		if !good {
			return nil, true, false
		}
		ss = append(ss, s)
	}
	return ss, true, true
}

func containsID(l []wamp.ID, id wamp.ID) bool {
	for _, x := range l {
		if x == id {
			return true
		}
	}
	return false
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// argString returns args[i] as a string.
func argString(args wamp.List, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	s, ok := args[i].(string)
	return s, ok
}

// argID returns args[i] as an ID.
func argID(args wamp.List, i int) (wamp.ID, bool) {
	if i >= len(args) {
		return 0, false
	}
	return toID(args[i])
}

// argDict returns args[i] as a dict (nil when absent or null).
func argDict(args wamp.List, i int) (wamp.Dict, bool) {
	if i >= len(args) || args[i] == nil {
		return nil, true
	}
	d, ok := args[i].(map[string]any)
	return d, ok
}

// pptKeys are the Options of payload passthru mode (spec, "Payload Passthru Mode": ppt_scheme,
// ppt_serializer, ppt_cipher, ppt_keyid) and the names Autobahn|Python before 23.1 sends for
// them (enc_algo, enc_serializer, enc_key). The router does not read the payload; it forwards
// these keys from PUBLISH to EVENT, CALL to INVOCATION and YIELD to RESULT, without which the
// receiver cannot tell the payload from Arguments (Autobahn refuses such a message).
var pptKeys = [...]string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid",
	"enc_algo", "enc_serializer", "enc_key"}

// pptOptions returns the passthru keys of o, or nil when o announces no passthru payload (the
// common case costs two map lookups and no allocation).
func pptOptions(o wamp.Dict) wamp.Dict {
	if o["ppt_scheme"] == nil && o["enc_algo"] == nil {
		return nil
	}
	d := make(wamp.Dict, 4)
	for _, k := range pptKeys {
		if v := o[k]; v != nil {
			d[k] = v
		}
	}
	return d
}

// addPPT copies the passthru keys of o into d.
func addPPT(d, o wamp.Dict) {
	for k, v := range o {
		d[k] = v
	}
}
