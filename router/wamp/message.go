// Package wamp holds the WAMP v2 message types, URI and ID rules, and the codecs
// (wamp.2.json, wamp.2.msgpack, wamp.2.cbor) that turn messages into bytes and back.
//
// Decoding validates: every codec turns the bytes into codec-neutral values (nil, bool,
// int64, or uint64 above 2^63-1, float64, string, []byte, []any, map[string]any; integers
// never become floats) and one validator checks the message list (arity, element types, IDs in
// [1, 2^53], the types of the options the spec defines). Any failure is a *DecodeError naming
// the message type and element, which the router answers with wamp.error.protocol_violation.
// Decoded Arguments and ArgumentsKw are nil when absent or empty.
//
// Encoding appends to a caller's buffer without allocating; empty Arguments and ArgumentsKw
// are left out as the spec says, and dict keys are written in sorted order, so one message
// always encodes to the same bytes.
//
// Reference: The Web Application Messaging Protocol, draft-ietf-wamp (https://wamp-proto.org/spec.html).
package wamp

// MessageType is the first element of every WAMP message (spec section "Message Codes and Direction").
type MessageType int

// Message codes.
const (
	HELLO        MessageType = 1
	WELCOME      MessageType = 2
	ABORT        MessageType = 3
	CHALLENGE    MessageType = 4
	AUTHENTICATE MessageType = 5
	GOODBYE      MessageType = 6
	ERROR        MessageType = 8
	PUBLISH      MessageType = 16
	PUBLISHED    MessageType = 17
	SUBSCRIBE    MessageType = 32
	SUBSCRIBED   MessageType = 33
	UNSUBSCRIBE  MessageType = 34
	UNSUBSCRIBED MessageType = 35
	EVENT        MessageType = 36
	CALL         MessageType = 48
	CANCEL       MessageType = 49
	RESULT       MessageType = 50
	REGISTER     MessageType = 64
	REGISTERED   MessageType = 65
	UNREGISTER   MessageType = 66
	UNREGISTERED MessageType = 67
	INVOCATION   MessageType = 68
	INTERRUPT    MessageType = 69
	YIELD        MessageType = 70

	// EVENT_RECEIVED acknowledges the delivery of an EVENT (advanced profile, acknowledged
	// event delivery). 337 is the provisional code Autobahn uses until the spec assigns one.
	EVENT_RECEIVED MessageType = 337
)

// ID is a WAMP ID: an integer in [1, 2^53]. It is never represented as a float.
type ID uint64

// URI is a WAMP URI.
type URI string

// Dict is a WAMP dictionary (Details, Options, ArgumentsKw). Values are the codec-neutral Go
// values: nil, bool, int64/uint64, float64, string, []byte, []any, map[string]any.
type Dict = map[string]any

// List is a WAMP list (Arguments).
type List = []any

// Message is one WAMP message.
type Message interface {
	Type() MessageType
}

type Hello struct {
	Realm   URI
	Details Dict
}

type Welcome struct {
	Session ID
	Details Dict
}

type Abort struct {
	Details Dict
	Reason  URI
}

type Challenge struct {
	AuthMethod string
	Extra      Dict
}

type Authenticate struct {
	Signature string
	Extra     Dict
}

type Goodbye struct {
	Details Dict
	Reason  URI
}

// Error answers a request. Arguments and ArgumentsKw are optional (nil when absent).
type Error struct {
	RequestType MessageType
	Request     ID
	Details     Dict
	Error       URI
	Arguments   List
	ArgumentsKw Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Publish struct {
	Request     ID
	Options     Dict
	Topic       URI
	Arguments   List
	ArgumentsKw Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Published struct {
	Request     ID
	Publication ID
}

type Subscribe struct {
	Request ID
	Options Dict
	Topic   URI
}

type Subscribed struct {
	Request      ID
	Subscription ID
}

type Unsubscribe struct {
	Request      ID
	Subscription ID
}

type Unsubscribed struct {
	Request ID
	Details Dict // router-initiated (revocation) only
}

type Event struct {
	Subscription ID
	Publication  ID
	Details      Dict
	Arguments    List
	ArgumentsKw  Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Call struct {
	Request     ID
	Options     Dict
	Procedure   URI
	Arguments   List
	ArgumentsKw Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Cancel struct {
	Request ID
	Options Dict
}

type Result struct {
	Request     ID
	Details     Dict
	Arguments   List
	ArgumentsKw Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Register struct {
	Request   ID
	Options   Dict
	Procedure URI
}

type Registered struct {
	Request      ID
	Registration ID
}

type Unregister struct {
	Request      ID
	Registration ID
}

type Unregistered struct {
	Request ID
	Details Dict // router-initiated only
}

type Invocation struct {
	Request      ID
	Registration ID
	Details      Dict
	Arguments    List
	ArgumentsKw  Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

type Interrupt struct {
	Request ID
	Options Dict
}

type Yield struct {
	Request     ID
	Options     Dict
	Arguments   List
	ArgumentsKw Dict
	// Payload is the opaque application payload of payload passthru mode (spec "Payload
	// Passthru Mode"), sent in place of Arguments/ArgumentsKw; nil otherwise.
	Payload []byte
}

func (*Hello) Type() MessageType        { return HELLO }
func (*Welcome) Type() MessageType      { return WELCOME }
func (*Abort) Type() MessageType        { return ABORT }
func (*Challenge) Type() MessageType    { return CHALLENGE }
func (*Authenticate) Type() MessageType { return AUTHENTICATE }
func (*Goodbye) Type() MessageType      { return GOODBYE }
func (*Error) Type() MessageType        { return ERROR }
func (*Publish) Type() MessageType      { return PUBLISH }
func (*Published) Type() MessageType    { return PUBLISHED }
func (*Subscribe) Type() MessageType    { return SUBSCRIBE }
func (*Subscribed) Type() MessageType   { return SUBSCRIBED }
func (*Unsubscribe) Type() MessageType  { return UNSUBSCRIBE }
func (*Unsubscribed) Type() MessageType { return UNSUBSCRIBED }
func (*Event) Type() MessageType        { return EVENT }
func (*Call) Type() MessageType         { return CALL }
func (*Cancel) Type() MessageType       { return CANCEL }
func (*Result) Type() MessageType       { return RESULT }
func (*Register) Type() MessageType     { return REGISTER }
func (*Registered) Type() MessageType   { return REGISTERED }
func (*Unregister) Type() MessageType   { return UNREGISTER }
func (*Unregistered) Type() MessageType { return UNREGISTERED }
func (*Invocation) Type() MessageType   { return INVOCATION }
func (*Interrupt) Type() MessageType    { return INTERRUPT }
func (*Yield) Type() MessageType        { return YIELD }

// EventReceived acknowledges an EVENT to the broker (provisional code 337).
type EventReceived struct {
	Publication ID
}

func (*EventReceived) Type() MessageType { return EVENT_RECEIVED }

// Codec turns messages into bytes and back for one serializer. Implementations are safe for
// concurrent use.
type Codec interface {
	// Name is the serializer name as in the subprotocol: "json", "msgpack" or "cbor".
	Name() string
	// Binary reports whether frames are binary (WebSocket opcode 2) rather than text.
	Binary() bool
	// Encode appends the encoding of m to dst.
	Encode(dst []byte, m Message) ([]byte, error)
	// Decode parses one message. Errors name what is wrong (and, where known, the element).
	Decode(b []byte) (Message, error)
}
