package wamp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Batched framing, spec "Batched WebSocket transport": several messages in one WebSocket
// frame. With the binary serializers each message is prefixed by its length as a 4-byte
// big-endian unsigned integer. With JSON each message is followed by a separator: the spec
// names "ASCII record separator, 30" (0x1e), but autobahn-python, the client and serializer
// Crossbar is built on, writes and splits on '\30', which Python reads as octal: 0x18. Portico
// writes 0x18, so that autobahn-python clients (wamp.2.json.batched is offered first by its
// ApplicationRunner) read it, and accepts either when reading (JSON text never holds a raw
// control character: they are escaped inside strings).

const (
	recordSeparator = 0x18 // what autobahn-python and Crossbar write
	separators      = "\x18\x1e"
)

// AppendBatched appends one framed message to dst. msg must be shorter than 4 GiB for the
// binary serializers (WebSocket message limits keep it far below).
func AppendBatched(dst []byte, c Codec, msg []byte) []byte {
	if !c.Binary() {
		dst = append(dst, msg...)
		return append(dst, recordSeparator)
	}
	if uint64(len(msg)) > math.MaxUint32 {
		panic("wamp: batched message longer than 4 GiB")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

var errEmptyBatch = errors.New("batched frame: empty")

// SplitBatched calls fn with each message of a batched frame, in order, and stops at the first
// error fn returns. A frame that is empty, holds an empty message, or ends inside a message
// (JSON text after the last separator, a length beyond the frame) is an error; messages before
// the malformed part have been passed to fn by then.
func SplitBatched(c Codec, frame []byte, fn func(msg []byte) error) error {
	if len(frame) == 0 {
		return errEmptyBatch
	}
	for i := 0; len(frame) > 0; i++ {
		var msg []byte
		if !c.Binary() {
			end := bytes.IndexAny(frame, separators)
			if end < 0 {
				return fmt.Errorf("batched frame: message %d: %d bytes without a closing 0x18 or 0x1e", i, len(frame))
			}
			msg, frame = frame[:end], frame[end+1:]
		} else {
			if len(frame) < 4 {
				return fmt.Errorf("batched frame: message %d: %d bytes left, a length prefix takes 4", i, len(frame))
			}
			n := binary.BigEndian.Uint32(frame)
			if uint64(n) > uint64(len(frame)-4) {
				return fmt.Errorf("batched frame: message %d: length %d, only %d bytes left", i, n, len(frame)-4)
			}
			msg, frame = frame[4:4+n], frame[4+n:]
		}
		if len(msg) == 0 {
			return fmt.Errorf("batched frame: message %d is empty", i)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
	return nil
}
