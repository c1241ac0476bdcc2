package rawsocket

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRawSocket feeds a connection's bytes to the handshake parser and then the frame reader,
// as the router reads them: the parser must not panic, a frame must never exceed the bound,
// and the reader must consume no more than the frames it returned.
func FuzzRawSocket(f *testing.F) {
	hello := []byte(`[1,"realm1",{"roles":{"caller":{}}}]`)
	seed := func(hs [4]byte, frames ...[]byte) []byte {
		b := hs[:]
		for _, fr := range frames {
			b = append(AppendHeader(b, Message, len(fr)), fr...)
		}
		return b
	}
	f.Add(seed([4]byte{0x7F, 0xF1, 0, 0}, hello))
	f.Add(seed([4]byte{0x7F, 0x02, 0, 0}))
	f.Add(seed([4]byte{0x7F, 0xB3, 0, 0}, []byte{}, hello))
	f.Add(append([]byte{0x7F, 0xF1, 0, 0}, 0x01, 0, 0, 2, 'h', 'i', 0x02, 0, 0, 0))
	f.Add([]byte{0x7F, 0xF1, 0, 1})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(append([]byte{0x7F, 0xF1, 0, 0}, 0x00, 0xFF, 0xFF, 0xFF))
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		h, err := ParseHandshake([4]byte(data[:4]))
		var he *HandshakeError
		switch {
		case errors.Is(err, ErrNotRawSocket):
			if data[0] == Magic {
				t.Fatal("magic octet refused")
			}
			return
		case errors.As(err, &he):
			if he.Code != ErrReservedBits && he.Code != ErrSerializerUnsupported {
				t.Fatalf("unexpected code %v", he.Code)
			}
			return
		case err != nil:
			t.Fatalf("unexpected error %v", err)
		}
		if h.MaxMessage() < 512 || h.MaxMessage() > 1<<24 {
			t.Fatalf("max message %d", h.MaxMessage())
		}
		rest := bytes.NewReader(data[4:])
		r := &Reader{R: rest, Max: max}
		used := 0
		for {
			_, b, err := r.Next()
			if err != nil {
				var fe *FrameError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(b) > max {
				t.Fatalf("frame of %d bytes over the bound %d", len(b), max)
			}
			used += 4 + len(b)
			if used != len(data)-4-rest.Len() {
				t.Fatalf("consumed %d bytes for frames of %d", len(data)-4-rest.Len(), used)
			}
		}
	})
}
