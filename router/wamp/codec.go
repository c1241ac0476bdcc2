package wamp

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// The serializers of the spec ("Serializations"); UBJSON is in ubjson.go. Each is safe for
// concurrent use.
var (
	JSON    Codec = jsonCodec{}
	MsgPack Codec = msgpackCodec{}
	CBOR    Codec = cborCodec{}
)

// Subprotocols lists every WebSocket subprotocol the router serves (spec "WebSocket
// Transport"), in the router's order of preference when a client offers several with no
// order of its own: json, msgpack, cbor, ubjson, then their batched variants.
var Subprotocols = []string{
	"wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor", "wamp.2.ubjson",
	"wamp.2.json.batched", "wamp.2.msgpack.batched", "wamp.2.cbor.batched", "wamp.2.ubjson.batched",
}

// CodecByName returns the codec for a serializer name: "json", "msgpack", "cbor" or "ubjson".
func CodecByName(name string) (Codec, bool) {
	switch name {
	case "json":
		return JSON, true
	case "msgpack":
		return MsgPack, true
	case "cbor":
		return CBOR, true
	case "ubjson":
		return UBJSON, true
	}
	return nil, false
}

// LookupSubprotocol maps a WebSocket subprotocol ("wamp.2.json", "wamp.2.cbor.batched", ...)
// to its codec and tells whether it is the batched variant (spec "Batched WebSocket
// transport").
func LookupSubprotocol(p string) (c Codec, batched bool, ok bool) {
	rest, found := strings.CutPrefix(p, "wamp.2.")
	if !found {
		return nil, false, false
	}
	rest, batched = strings.CutSuffix(rest, ".batched")
	c, ok = CodecByName(rest)
	if !ok {
		return nil, false, false
	}
	return c, batched, true
}

// encoder writes the primitives of one serialization. The message layout (which elements,
// in which order, which are omitted) and the walk over values are shared (appendMessage,
// appendValue), so all serializers agree on them.
type encoder interface {
	arrayHead(dst []byte, n int) []byte
	arrayEnd(dst []byte) []byte
	mapHead(dst []byte, n int) []byte
	mapEnd(dst []byte) []byte
	sep(dst []byte) []byte // between array items and map pairs (JSON's comma)
	key(dst []byte, k string) []byte
	null(dst []byte) []byte
	bool(dst []byte, b bool) []byte
	int(dst []byte, n int64) []byte
	uint(dst []byte, n uint64) []byte
	float(dst []byte, f float64) ([]byte, error)
	str(dst []byte, s string) []byte
	bin(dst []byte, b []byte) []byte
}

// out is one element of a message list, typed so that encoding does not box values.
type out struct {
	kind uint8
	n    uint64
	s    string
	d    Dict
	l    List
	b    []byte
}

const (
	oUint uint8 = iota
	oStr
	oDict
	oList
	oBin
)

var errBadID = errors.New("ID out of range [1, 2^53]")

// appendMessage encodes m with e, appending to dst. On error, dst comes back as it was.
func appendMessage(e encoder, dst []byte, m Message) ([]byte, error) {
	if m == nil || reflect.ValueOf(m).IsNil() {
		return dst, errors.New("wamp: encode: nil message")
	}
	var buf [7]out
	els, err := outline(m, buf[:0])
	if err != nil {
		return dst, fmt.Errorf("%v: %w", m.Type(), err)
	}
	start := len(dst)
	dst = e.arrayHead(dst, len(els)+1)
	dst = e.uint(dst, uint64(m.Type()))
	for i := range els {
		o := &els[i]
		dst = e.sep(dst)
		switch o.kind {
		case oUint:
			dst = e.uint(dst, o.n)
		case oStr:
			dst = e.str(dst, o.s)
		case oDict:
			dst, err = appendDict(e, dst, o.d, 1)
		case oList:
			dst, err = appendList(e, dst, o.l, 1)
		case oBin:
			dst = e.bin(dst, o.b)
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%v: element %d: %w", m.Type(), i+1, err)
		}
	}
	return e.arrayEnd(dst), nil
}

func id(v ID) (out, error) {
	if v < 1 || v > MaxID {
		return out{}, errBadID
	}
	return out{kind: oUint, n: uint64(v)}, nil
}

func ids(els []out, vs ...ID) ([]out, error) {
	for _, v := range vs {
		o, err := id(v)
		if err != nil {
			return els, err
		}
		els = append(els, o)
	}
	return els, nil
}

func str(s string) out { return out{kind: oStr, s: s} }
func dict(d Dict) out  { return out{kind: oDict, d: d} }
func uri(u URI) out    { return out{kind: oStr, s: string(u)} }
func list(l List) out  { return out{kind: oList, l: l} }
func bin(b []byte) out { return out{kind: oBin, b: b} }

// payload appends the optional trailing elements. The spec ("Message Definitions"): Arguments
// is omitted when empty and ArgumentsKw is too; Arguments is present (possibly empty) whenever
// ArgumentsKw is. A passthru payload takes their place (spec "Payload Passthru Mode").
func payload(els []out, args List, kw Dict, p []byte) ([]out, error) {
	if p != nil {
		if len(args) > 0 || len(kw) > 0 {
			return els, errors.New("both a passthru payload and arguments")
		}
		return append(els, bin(p)), nil
	}
	if len(kw) > 0 {
		return append(els, list(args), dict(kw)), nil
	}
	if len(args) > 0 {
		return append(els, list(args)), nil
	}
	return els, nil
}

// outline lists the elements of m after the type code.
func outline(m Message, els []out) ([]out, error) {
	var err error
	switch x := m.(type) {
	case *Hello:
		return append(els, uri(x.Realm), dict(x.Details)), nil
	case *Welcome:
		if els, err = ids(els, x.Session); err != nil {
			return els, err
		}
		return append(els, dict(x.Details)), nil
	case *Abort:
		return append(els, dict(x.Details), uri(x.Reason)), nil
	case *Challenge:
		return append(els, str(x.AuthMethod), dict(x.Extra)), nil
	case *Authenticate:
		return append(els, str(x.Signature), dict(x.Extra)), nil
	case *Goodbye:
		return append(els, dict(x.Details), uri(x.Reason)), nil
	case *Error:
		if !errorRequestType(int64(x.RequestType)) {
			return els, fmt.Errorf("%v is not a request type that an ERROR answers", x.RequestType)
		}
		els = append(els, out{kind: oUint, n: uint64(x.RequestType)})
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		els = append(els, dict(x.Details), uri(x.Error))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Publish:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		els = append(els, dict(x.Options), uri(x.Topic))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Published:
		return ids(els, x.Request, x.Publication)
	case *Subscribe:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		return append(els, dict(x.Options), uri(x.Topic)), nil
	case *Subscribed:
		return ids(els, x.Request, x.Subscription)
	case *Unsubscribe:
		return ids(els, x.Request, x.Subscription)
	case *Unsubscribed:
		return revocable(els, x.Request, x.Details)
	case *Event:
		if els, err = ids(els, x.Subscription, x.Publication); err != nil {
			return els, err
		}
		els = append(els, dict(x.Details))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Call:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		els = append(els, dict(x.Options), uri(x.Procedure))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Cancel:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		return append(els, dict(x.Options)), nil
	case *Result:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		els = append(els, dict(x.Details))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Register:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		return append(els, dict(x.Options), uri(x.Procedure)), nil
	case *Registered:
		return ids(els, x.Request, x.Registration)
	case *Unregister:
		return ids(els, x.Request, x.Registration)
	case *Unregistered:
		return revocable(els, x.Request, x.Details)
	case *Invocation:
		if els, err = ids(els, x.Request, x.Registration); err != nil {
			return els, err
		}
		els = append(els, dict(x.Details))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *Interrupt:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		return append(els, dict(x.Options)), nil
	case *Yield:
		if els, err = ids(els, x.Request); err != nil {
			return els, err
		}
		els = append(els, dict(x.Options))
		return payload(els, x.Arguments, x.ArgumentsKw, x.Payload)
	case *EventReceived:
		return ids(els, x.Publication)
	}
	return els, fmt.Errorf("unsupported message %T", m)
}

// revocable lays out UNSUBSCRIBED/UNREGISTERED: [T, Request] as an answer, or [T, Request|0,
// Details] when the router revokes (spec "Subscription Revocation", "Registration
// Revocation").
func revocable(els []out, req ID, details Dict) ([]out, error) {
	if details == nil {
		return ids(els, req)
	}
	if req > MaxID {
		return els, errBadID
	}
	return append(els, out{kind: oUint, n: uint64(req)}, dict(details)), nil
}

// sortedKeys returns d's keys in order, so that encodings are deterministic. Small dicts
// (most Details and Options) sort in buf without allocating.
func sortedKeys(d Dict, buf []string) []string {
	keys := buf[:0]
	for k := range d {
		keys = append(keys, k)
	}
	if len(keys) > 16 {
		slices.Sort(keys)
		return keys
	}
	for i := 1; i < len(keys); i++ { // insertion sort: small, and it does not allocate
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// appendValue encodes one value of Arguments, ArgumentsKw, Details or Options.
func appendValue(e encoder, dst []byte, v any, depth int) ([]byte, error) {
	// The codec-neutral types first, without the conversions of scalar.
	switch x := v.(type) {
	case string:
		return e.str(dst, x), nil
	case int64:
		return e.int(dst, x), nil
	case Dict:
		return appendDict(e, dst, x, depth+1)
	case List:
		return appendList(e, dst, x, depth+1)
	case bool:
		return e.bool(dst, x), nil
	case nil:
		return e.null(dst), nil
	case float64:
		return e.float(dst, x)
	case uint64:
		return e.uint(dst, x), nil
	case []byte:
		return e.bin(dst, x), nil
	}
	s, err := scalar(v)
	if err != nil {
		return dst, err
	}
	switch x := s.(type) {
	case nil:
		return e.null(dst), nil
	case bool:
		return e.bool(dst, x), nil
	case int64:
		return e.int(dst, x), nil
	case uint64:
		return e.uint(dst, x), nil
	case float64:
		return e.float(dst, x)
	case string:
		return e.str(dst, x), nil
	case []byte:
		return e.bin(dst, x), nil
	case List:
		return appendList(e, dst, x, depth+1)
	case Dict:
		return appendDict(e, dst, x, depth+1)
	case reflect.Value:
		if x.Kind() == reflect.Map {
			return appendDict(e, dst, reflectDict(x), depth+1)
		}
		return appendList(e, dst, reflectList(x), depth+1)
	}
	return dst, fmt.Errorf("unsupported value of type %T", v)
}

func appendList(e encoder, dst []byte, l List, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errDepth
	}
	dst = e.arrayHead(dst, len(l))
	var err error
	for i, v := range l {
		if i > 0 {
			dst = e.sep(dst)
		}
		if dst, err = appendValue(e, dst, v, depth); err != nil {
			return dst, err
		}
	}
	return e.arrayEnd(dst), nil
}

func appendDict(e encoder, dst []byte, d Dict, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errDepth
	}
	dst = e.mapHead(dst, len(d))
	var buf [16]string
	var err error
	for i, k := range sortedKeys(d, buf[:]) {
		if i > 0 {
			dst = e.sep(dst)
		}
		dst = e.key(dst, k)
		if dst, err = appendValue(e, dst, d[k], depth); err != nil {
			return dst, fmt.Errorf("%q: %w", k, err)
		}
	}
	return e.mapEnd(dst), nil
}

var errDepth = fmt.Errorf("nested deeper than %d levels", maxDepth)

// scalar classifies the Go values a message may carry besides the codec-neutral ones, so that
// router code can put an ID, a URI or an int in Details without converting it first.
// It returns one of: nil, bool, int64, uint64, float64, string, []byte, List, Dict, or a
// reflect.Value for slices and string-keyed maps of other element types.
func scalar(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, uint64, float64, string, []byte, List, Dict:
		return v, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint:
		return uint64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case float32:
		return float64(x), nil
	case ID:
		return uint64(x), nil
	case URI:
		return string(x), nil
	case MessageType:
		return int64(x), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes(), nil // a named []byte type is binary too
		}
		return rv, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("unsupported map key type %s", rv.Type().Key())
		}
		if rv.IsNil() {
			return nil, nil
		}
		return rv, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return scalar(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// reflectList and reflectDict convert the rare non-neutral containers (a []string, a
// map[string]string) into neutral ones for encoding. They allocate; the hot paths do not
// use them.
func reflectList(rv reflect.Value) List {
	l := make(List, rv.Len())
	for i := range l {
		l[i] = rv.Index(i).Interface()
	}
	return l
}

func reflectDict(rv reflect.Value) Dict {
	d := make(Dict, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		d[it.Key().String()] = it.Value().Interface()
	}
	return d
}

// validUTF8 makes s valid UTF-8: msgpack and CBOR peers reject text strings that are not.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func checkFloat(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("cannot encode %v", f)
	}
	return nil
}
