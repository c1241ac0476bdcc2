package uwsgiproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxVarsSize is the largest vars block a uwsgi packet can describe: the header's datasize
// field is a 16-bit little-endian integer, and so is every key and value length inside the
// block (uWSGI docs, "The uwsgi Protocol"). Nothing may be wrapped to 16 bits: a wrapped
// length makes uwsgi parse the rest of the block, or the request body, as variables.
const MaxVarsSize = 0xffff

// HeaderSize is the size of the packet header: modifier1, datasize (uint16 LE), modifier2.
const HeaderSize = 4

// ErrVarsTooLarge is returned (wrapped, with the sizes) when a vars block, or one key or
// value in it, does not fit the protocol's 16-bit lengths.
var ErrVarsTooLarge = errors.New("uwsgiproto: vars block too large")

// ErrBadPacket is returned (wrapped) by DecodeVars and ReadPacket for malformed packets.
var ErrBadPacket = errors.New("uwsgiproto: malformed packet")

// Encoder builds one uwsgi request packet: the 4-byte header followed by the vars block.
// The zero value is ready after Reset; an Encoder is reused across requests and does not
// allocate once its buffer has grown to the largest packet seen. Not safe for concurrent use.
type Encoder struct {
	buf []byte
	err error
}

// Reset starts a new packet with the given modifiers (0, 0 for a WSGI request; uWSGI docs,
// "uwsgi packet header" modifier table).
func (e *Encoder) Reset(modifier1, modifier2 uint8) {
	e.buf = append(e.buf[:0], modifier1, 0, 0, modifier2)
	e.err = nil
}

// Add appends one variable. Once a size limit is hit the Encoder remembers the first error,
// ignores further variables and Packet reports it.
func (e *Encoder) Add(key, value string) {
	if e.check(len(key), len(value), key) {
		e.buf = appendVar(e.buf, key, value)
	}
}

// AddBytes is Add for byte slices (e.g. header values straight from a request buffer).
func (e *Encoder) AddBytes(key, value []byte) {
	if e.check(len(key), len(value), "") {
		e.buf = binary.LittleEndian.AppendUint16(e.buf, uint16(len(key)))
		e.buf = append(e.buf, key...)
		e.buf = binary.LittleEndian.AppendUint16(e.buf, uint16(len(value)))
		e.buf = append(e.buf, value...)
	}
}

func (e *Encoder) check(klen, vlen int, key string) bool {
	if e.err != nil {
		return false
	}
	if len(e.buf) < HeaderSize {
		// Used without Reset: behave as Reset(0, 0).
		e.buf = append(e.buf[:0], 0, 0, 0, 0)
	}
	if klen > MaxVarsSize || vlen > MaxVarsSize {
		e.err = fmt.Errorf("%w: variable %s has a %d-byte key and a %d-byte value, each is limited to %d bytes",
			ErrVarsTooLarge, quoteKey(key, klen), klen, vlen, MaxVarsSize)
		return false
	}
	if n := len(e.buf) - HeaderSize + 4 + klen + vlen; n > MaxVarsSize {
		e.err = fmt.Errorf("%w: variable %s makes the block %d bytes, the limit is %d",
			ErrVarsTooLarge, quoteKey(key, klen), n, MaxVarsSize)
		return false
	}
	return true
}

func quoteKey(key string, klen int) string {
	if key == "" {
		return fmt.Sprintf("(%d-byte key)", klen)
	}
	if len(key) > 40 {
		key = key[:40] + "..."
	}
	return fmt.Sprintf("%q", key)
}

// Packet fills in the header's datasize and returns the whole packet (header + vars). The
// slice is owned by the Encoder and valid until the next Reset.
func (e *Encoder) Packet() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	if len(e.buf) < HeaderSize {
		e.buf = append(e.buf[:0], 0, 0, 0, 0)
	}
	binary.LittleEndian.PutUint16(e.buf[1:3], uint16(len(e.buf)-HeaderSize))
	return e.buf, nil
}

// Len is the size of the vars block built so far.
func (e *Encoder) Len() int { return max(len(e.buf)-HeaderSize, 0) }

// AppendVar appends one key/value pair in vars-block encoding to dst. It is the low-level
// helper without a running total: the caller keeps the block within MaxVarsSize. A key or
// value longer than MaxVarsSize makes it panic rather than write a wrapped length.
func AppendVar(dst []byte, key, value string) []byte {
	if len(key) > MaxVarsSize || len(value) > MaxVarsSize {
		panic(fmt.Sprintf("uwsgiproto.AppendVar: %d-byte key / %d-byte value exceed %d bytes", len(key), len(value), MaxVarsSize))
	}
	return appendVar(dst, key, value)
}

func appendVar(dst []byte, key, value string) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// DecodeVars calls fn for every key/value pair of a vars block, in order. The slices alias
// block. A length running past the end of the block is an error wrapping ErrBadPacket; an
// error from fn stops the walk and is returned as is.
func DecodeVars(block []byte, fn func(key, value []byte) error) error {
	for off := 0; off < len(block); {
		if len(block)-off < 2 {
			return fmt.Errorf("%w: truncated key length at offset %d of a %d-byte vars block", ErrBadPacket, off, len(block))
		}
		kl := int(binary.LittleEndian.Uint16(block[off:]))
		off += 2
		if len(block)-off < kl {
			return fmt.Errorf("%w: key of %d bytes at offset %d runs past the %d-byte vars block", ErrBadPacket, kl, off, len(block))
		}
		key := block[off : off+kl : off+kl]
		off += kl
		if len(block)-off < 2 {
			return fmt.Errorf("%w: truncated value length for key %q at offset %d", ErrBadPacket, truncate(key), off)
		}
		vl := int(binary.LittleEndian.Uint16(block[off:]))
		off += 2
		if len(block)-off < vl {
			return fmt.Errorf("%w: value of %d bytes for key %q at offset %d runs past the %d-byte vars block", ErrBadPacket, vl, truncate(key), off, len(block))
		}
		value := block[off : off+vl : off+vl]
		off += vl
		if err := fn(key, value); err != nil {
			return err
		}
	}
	return nil
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// ReadPacket reads one packet (header + vars block) from r. The vars are read into buf when it
// has room for them (cap(buf) >= datasize), else into a new slice. A short read is an error
// wrapping io.ErrUnexpectedEOF (io.EOF when r ends before the first byte).
func ReadPacket(r io.Reader, buf []byte) (modifier1, modifier2 uint8, vars []byte, err error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return 0, 0, nil, io.EOF
		}
		return 0, 0, nil, fmt.Errorf("uwsgiproto: reading packet header: %w", err)
	}
	size := int(binary.LittleEndian.Uint16(hdr[1:3]))
	if cap(buf) >= size {
		vars = buf[:size]
	} else {
		vars = make([]byte, size)
	}
	if _, err := io.ReadFull(r, vars); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, fmt.Errorf("uwsgiproto: reading %d-byte vars block: %w", size, err)
	}
	return hdr[0], hdr[3], vars, nil
}
