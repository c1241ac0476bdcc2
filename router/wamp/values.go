package wamp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

var typeNames = map[MessageType]string{
	HELLO: "HELLO", WELCOME: "WELCOME", ABORT: "ABORT", CHALLENGE: "CHALLENGE",
	AUTHENTICATE: "AUTHENTICATE", GOODBYE: "GOODBYE", ERROR: "ERROR", PUBLISH: "PUBLISH",
	PUBLISHED: "PUBLISHED", SUBSCRIBE: "SUBSCRIBE", SUBSCRIBED: "SUBSCRIBED",
	UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBSCRIBED: "UNSUBSCRIBED", EVENT: "EVENT", CALL: "CALL",
	CANCEL: "CANCEL", RESULT: "RESULT", REGISTER: "REGISTER", REGISTERED: "REGISTERED",
	UNREGISTER: "UNREGISTER", UNREGISTERED: "UNREGISTERED", INVOCATION: "INVOCATION",
	INTERRUPT: "INTERRUPT", YIELD: "YIELD", EVENT_RECEIVED: "EVENT_RECEIVED",
}

// String returns the spec's name of the message type ("CALL"), or the code for unknown ones.
func (t MessageType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "message type " + strconv.Itoa(int(t))
}

// MaxID is the largest WAMP ID (spec "IDs": IDs are integers in [1, 2^53], so that they are
// exact in IEEE-754 doubles, i.e. in JavaScript).
const MaxID = 1 << 53

// maxDepth bounds the nesting of lists and dicts a decoder accepts. WAMP payloads nest a few
// levels; the bound keeps hostile input from exhausting the stack or the CPU.
const maxDepth = 100

// DecodeError says why bytes are not a valid WAMP message. The router answers every one of them
// with ABORT wamp.error.protocol_violation (spec "Protocol Violations").
type DecodeError struct {
	Type    MessageType // 0 when the type itself could not be read
	Element int         // index in the message list, -1 when not about one element
	Field   string      // the element's name in the spec ("procedure"), or ""
	Err     error
}

func (e *DecodeError) Error() string {
	prefix := "wamp: "
	if e.Type != 0 {
		prefix = e.Type.String() + ": "
	}
	if e.Element >= 0 {
		if e.Field != "" {
			return fmt.Sprintf("%selement %d (%s): %v", prefix, e.Element, e.Field, e.Err)
		}
		return fmt.Sprintf("%selement %d: %v", prefix, e.Element, e.Err)
	}
	return prefix + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// kindName names a decoded value's kind as the error messages do.
func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case int64, uint64:
		return "int"
	case float64:
		return "float"
	case string:
		return "string"
	case []byte:
		return "binary"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

func expected(want string, got any) error {
	return fmt.Errorf("expected %s, got %s", want, kindName(got))
}

var errNotInteger = errors.New("not an integer")

// asID reads a WAMP ID: an integer (never a float) in [1, 2^53].
func asID(v any) (ID, error) {
	switch n := v.(type) {
	case int64:
		if n >= 1 && n <= MaxID {
			return ID(n), nil
		}
		return 0, fmt.Errorf("ID %d out of range [1, 2^53]", n)
	case uint64:
		if n >= 1 && n <= MaxID {
			return ID(n), nil
		}
		return 0, fmt.Errorf("ID %d out of range [1, 2^53]", n)
	}
	return 0, expected("ID (integer)", v)
}

// asInt reads an integer that fits int64.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	}
	return 0, false
}

// normInt is how every decoder stores an integer: int64 when it fits, uint64 above.
func normUint(n uint64) any {
	if n <= math.MaxInt64 {
		return int64(n)
	}
	return n
}
