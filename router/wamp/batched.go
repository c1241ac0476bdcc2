package wamp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Batched framing, spec "Batched WebSocket transport": several messages in one WebSocket
// frame. With JSON each message is followed by the ASCII record separator 0x1e (JSON text never
// holds a raw 0x1e: control characters are escaped inside strings); with the binary
// serializers each message is prefixed by its length as a 4-byte big-endian unsigned integer.

const recordSeparator = 0x1e

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
			end := bytes.IndexByte(frame, recordSeparator)
			if end < 0 {
				return fmt.Errorf("batched frame: message %d: %d bytes without a closing 0x1e", i, len(frame))
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
