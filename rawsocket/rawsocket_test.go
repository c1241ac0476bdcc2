package rawsocket

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseHandshake(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [4]byte
		want Handshake
		code ErrorCode // 0: accepted
		not  bool      // ErrNotRawSocket
	}{
		{"json 16M", [4]byte{0x7F, 0xF1, 0, 0}, Handshake{15, 1}, 0, false},
		{"msgpack 512", [4]byte{0x7F, 0x02, 0, 0}, Handshake{0, 2}, 0, false},
		{"cbor 1M", [4]byte{0x7F, 0xB3, 0, 0}, Handshake{11, 3}, 0, false},
		{"serializer 0", [4]byte{0x7F, 0xF0, 0, 0}, Handshake{15, 0}, ErrSerializerUnsupported, false},
		{"reserved octet 2", [4]byte{0x7F, 0xF1, 1, 0}, Handshake{15, 1}, ErrReservedBits, false},
		{"reserved octet 3", [4]byte{0x7F, 0xF1, 0, 0x80}, Handshake{15, 1}, ErrReservedBits, false},
		{"HTTP", [4]byte{'G', 'E', 'T', ' '}, Handshake{}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHandshake(tc.in)
			var he *HandshakeError
			switch {
			case tc.not:
				if !errors.Is(err, ErrNotRawSocket) {
					t.Fatalf("err %v, want ErrNotRawSocket", err)
				}
				return
			case tc.code != 0:
				if !errors.As(err, &he) || he.Code != tc.code {
					t.Fatalf("err %v, want code %v", err, tc.code)
				}
			case err != nil:
				t.Fatalf("err %v", err)
			}
			if h != tc.want {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
		})
	}
	if got := (Handshake{LengthExp: 15}).MaxMessage(); got != 1<<24 {
		t.Errorf("MaxMessage(15) = %d", got)
	}
}

func TestReplies(t *testing.T) {
	if got := Reply(11, SerializerCBOR); got != [4]byte{0x7F, 0xB3, 0, 0} {
		t.Errorf("Reply = % x", got)
	}
	if got := ErrorReply(ErrMaxConnections); got != [4]byte{0x7F, 0x40, 0, 0} {
		t.Errorf("ErrorReply = % x", got)
	}
}

func TestLengthExpFor(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want uint8
	}{{0, 15}, {1, 0}, {511, 0}, {512, 0}, {1023, 0}, {1024, 1}, {128 << 10, 8}, {1 << 20, 11}, {1<<20 + 1, 11}, {1<<24 - 1, 14}, {1 << 24, 15}, {64 << 20, 15}} {
		if got := LengthExpFor(tc.max); got != tc.want {
			t.Errorf("LengthExpFor(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
}

func TestReader(t *testing.T) {
	var in []byte
	in = append(AppendHeader(in, Message, 5), "hello"...)
	in = append(AppendHeader(in, Ping, 3), "abc"...)
	in = AppendHeader(in, Pong, 0)
	big := bytes.Repeat([]byte{'x'}, 200<<10)
	in = append(AppendHeader(in, Message, len(big)), big...)
	r := &Reader{R: bytes.NewReader(in), Max: 1 << 20}
	for _, want := range []struct {
		t MessageType
		b []byte
	}{{Message, []byte("hello")}, {Ping, []byte("abc")}, {Pong, []byte{}}, {Message, big}} {
		typ, b, err := r.Next()
		if err != nil || typ != want.t || !bytes.Equal(b, want.b) {
			t.Fatalf("Next = %v, %d bytes, %v; want %v, %d bytes", typ, len(b), err, want.t, len(want.b))
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestReaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		long bool
		eof  bool
	}{
		{"over max", append(AppendHeader(nil, Message, 1025), make([]byte, 1025)...), true, false},
		{"reserved type", []byte{0x03, 0, 0, 1, 'x'}, false, false},
		{"reserved bits", []byte{0x80, 0, 0, 1, 'x'}, false, false},
		{"truncated", []byte{0, 0, 0, 9, 'x'}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reader{R: bytes.NewReader(tc.in), Max: 1024}
			_, _, err := r.Next()
			var fe *FrameError
			switch {
			case tc.eof:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("err %v, want io.ErrUnexpectedEOF", err)
				}
			case !errors.As(err, &fe) || fe.TooLong != tc.long:
				t.Fatalf("err %v, want a FrameError (too long %v)", err, tc.long)
			}
		})
	}
}
