// Package rawsocket is the wire format of WAMP's RawSocket transport (WAMP spec, section
// "RawSocket Transport"): the 4-octet opening handshake and its replies, and the framing of
// messages with a 4-octet header (message type and 24-bit length). It knows nothing of WAMP
// messages or of sessions, and imports the standard library only.
//
// Handshake, client to router:
//
//	octet 0: 0x7F (magic)
//	octet 1: high nibble LENGTH, the client's maximum message length 2^(9+LENGTH) (512 B to
//	         16 MiB); low nibble SERIALIZER: 1 JSON, 2 MessagePack, 3 CBOR, 4 UBJSON,
//	         5 FlatBuffers (0 is illegal)
//	octets 2, 3: reserved, must be 0
//
// The router answers with the same form (its own LENGTH, the client's SERIALIZER echoed) or
// with an error: 0x7F, the error code in the high nibble of octet 1 and zeros.
//
// Frame: octet 0 holds 5 reserved bits (0) and 3 bits of message type (0 a WAMP message, 1
// PING, 2 PONG); octets 1..3 the payload length, big-endian. A PONG echoes its PING's payload.
package rawsocket

import (
	"errors"
	"fmt"
	"io"
)

// Magic is the first octet of a RawSocket handshake and of its reply.
const Magic = 0x7F

// Serializer IDs of the handshake's low nibble (spec, "Serialization").
const (
	SerializerJSON        = 1
	SerializerMsgPack     = 2
	SerializerCBOR        = 3
	SerializerUBJSON      = 4
	SerializerFlatBuffers = 5
)

// SerializerID returns the handshake ID of a serializer name ("json", "msgpack", "cbor", ...).
func SerializerID(name string) (uint8, bool) {
	switch name {
	case "json":
		return SerializerJSON, true
	case "msgpack":
		return SerializerMsgPack, true
	case "cbor":
		return SerializerCBOR, true
	case "ubjson":
		return SerializerUBJSON, true
	case "flatbuffers":
		return SerializerFlatBuffers, true
	}
	return 0, false
}

// ErrorCode is a handshake error, sent in the high nibble of the reply's second octet.
type ErrorCode uint8

// The spec's handshake errors; 0 is illegal, 5..15 are reserved.
const (
	ErrSerializerUnsupported ErrorCode = 1
	ErrMaxLengthUnacceptable ErrorCode = 2
	ErrReservedBits          ErrorCode = 3
	ErrMaxConnections        ErrorCode = 4
)

func (c ErrorCode) String() string {
	switch c {
	case ErrSerializerUnsupported:
		return "serializer unsupported"
	case ErrMaxLengthUnacceptable:
		return "maximum message length unacceptable"
	case ErrReservedBits:
		return "use of reserved bits (unsupported feature)"
	case ErrMaxConnections:
		return "maximum connection count reached"
	}
	return fmt.Sprintf("error %d", uint8(c))
}

// MaxLength is the largest payload a frame carries: 2^24 - 1 octets (a 24-bit length). A
// handshake may announce 2^24, which no frame reaches.
const MaxLength = 1<<24 - 1

// Handshake is a parsed opening handshake.
type Handshake struct {
	// LengthExp is the LENGTH nibble: the peer accepts messages of up to 2^(9+LengthExp) octets.
	LengthExp uint8
	// Serializer is the SERIALIZER nibble (the error code nibble in an error reply is in
	// LengthExp, with Serializer 0).
	Serializer uint8
}

// MaxMessage is the largest message the peer accepts, 2^(9+LengthExp).
func (h Handshake) MaxMessage() int { return 1 << (9 + int(h.LengthExp)) }

// ErrNotRawSocket is returned when the first octet is not Magic: the peer does not speak
// RawSocket at all, and gets no reply.
var ErrNotRawSocket = errors.New("rawsocket: first octet is not 0x7F")

// HandshakeError is a handshake the router refuses with Code.
type HandshakeError struct {
	Code   ErrorCode
	Detail string
}

func (e *HandshakeError) Error() string {
	return "rawsocket handshake: " + e.Code.String() + ": " + e.Detail
}

// ParseHandshake checks a client's 4-octet handshake. A first octet other than Magic is
// ErrNotRawSocket; reserved octets that are not zero are ErrReservedBits, and serializer 0
// ErrSerializerUnsupported (a *HandshakeError). Whether the serializer is one the router
// serves is the caller's decision.
func ParseHandshake(b [4]byte) (Handshake, error) {
	if b[0] != Magic {
		return Handshake{}, ErrNotRawSocket
	}
	h := Handshake{LengthExp: b[1] >> 4, Serializer: b[1] & 0x0F}
	if b[2] != 0 || b[3] != 0 {
		return h, &HandshakeError{Code: ErrReservedBits, Detail: fmt.Sprintf("reserved octets are 0x%02x%02x", b[2], b[3])}
	}
	if h.Serializer == 0 {
		return h, &HandshakeError{Code: ErrSerializerUnsupported, Detail: "serializer 0 is illegal"}
	}
	return h, nil
}

// Reply is the router's accepting reply: its own length exponent and the serializer.
func Reply(lengthExp, serializer uint8) [4]byte {
	return [4]byte{Magic, lengthExp<<4 | serializer&0x0F, 0, 0}
}

// ErrorReply is the router's refusing reply.
func ErrorReply(code ErrorCode) [4]byte {
	return [4]byte{Magic, uint8(code) << 4, 0, 0}
}

// LengthExpFor is the LENGTH nibble to announce for a bound of max octets per message: the
// largest 2^(9+n) not above max, so that the peer is never invited to send a message the
// router refuses. A bound below 512 announces 512 (the least the handshake can say) and the
// bound is enforced on frames; 0 (no bound) and bounds from 16 MiB on announce 16 MiB.
func LengthExpFor(max int) uint8 {
	if max <= 0 || max >= 1<<24 {
		return 15
	}
	n := uint8(0)
	for n < 15 && 1<<(9+int(n)+1) <= max {
		n++
	}
	return n
}

// MessageType is the type in a frame header.
type MessageType uint8

// Frame types; 3..7 are reserved.
const (
	Message MessageType = 0
	Ping    MessageType = 1
	Pong    MessageType = 2
)

// FrameError is a frame header the router does not accept: reserved bits set, a reserved
// message type, or a length over the bound.
type FrameError struct {
	Type    MessageType
	Length  int
	Max     int  // the bound, when the length is over it
	TooLong bool // the length is over Max
	Octet0  byte
}

func (e *FrameError) Error() string {
	if e.TooLong {
		return fmt.Sprintf("rawsocket frame of %d octets is over the maximum message size %d", e.Length, e.Max)
	}
	return fmt.Sprintf("rawsocket frame header 0x%02x: reserved bits or message type %d", e.Octet0, e.Octet0&0x07)
}

// ParseHeader decodes a frame header. Reserved bits, reserved types and a length over max
// (when max > 0) are a *FrameError; the length is returned with it.
func ParseHeader(h [4]byte, max int) (MessageType, int, error) {
	typ := MessageType(h[0] & 0x07)
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if h[0]&0xF8 != 0 || typ > Pong {
		return typ, n, &FrameError{Type: typ, Length: n, Octet0: h[0]}
	}
	if max > 0 && n > max {
		return typ, n, &FrameError{Type: typ, Length: n, Max: max, TooLong: true, Octet0: h[0]}
	}
	return typ, n, nil
}

// AppendHeader appends the header of a frame of type t with an n-octet payload. n must not
// be over MaxLength.
func AppendHeader(dst []byte, t MessageType, n int) []byte {
	return append(dst, byte(t)&0x07, byte(n>>16), byte(n>>8), byte(n))
}

// Reader reads frames from a stream.
type Reader struct {
	R io.Reader
	// Max bounds a frame's payload (0: MaxLength). A longer frame is refused from its header,
	// before any of its payload is read or buffered.
	Max int
	hdr [4]byte
}

// Next reads one frame. The payload is a fresh slice the caller may keep. A stream that ends
// between frames is io.EOF; inside one, io.ErrUnexpectedEOF.
func (r *Reader) Next() (MessageType, []byte, error) {
	if _, err := io.ReadFull(r.R, r.hdr[:]); err != nil {
		return 0, nil, err
	}
	typ, n, err := ParseHeader(r.hdr, r.Max)
	if err != nil {
		return typ, nil, err
	}
	// The buffer grows as the payload arrives: a header announcing megabytes that never come
	// holds no more than what did.
	b := make([]byte, 0, min(n, initialBuffer))
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(r.R, b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return typ, nil, err
		}
	}
	return typ, b, nil
}

// initialBuffer is the first allocation for a frame's payload; larger ones double from it.
const initialBuffer = 64 << 10
