package uwsgiproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"portico/internal/testkit"
)

func TestEncoderPacket(t *testing.T) {
	var e Encoder
	e.Reset(0, 0)
	e.Add("REQUEST_METHOD", "GET")
	e.AddBytes([]byte("PATH_INFO"), []byte("/x"))
	e.Add("EMPTY", "")
	p, err := e.Packet()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0}
	want = AppendVar(want, "REQUEST_METHOD", "GET")
	want = AppendVar(want, "PATH_INFO", "/x")
	want = AppendVar(want, "EMPTY", "")
	binary.LittleEndian.PutUint16(want[1:3], uint16(len(want)-4))
	if !bytes.Equal(p, want) {
		t.Fatalf("packet\n got %q\nwant %q", p, want)
	}
	// Reuse with other modifiers.
	e.Reset(5, 7)
	p, _ = e.Packet()
	if !bytes.Equal(p, []byte{5, 0, 0, 7}) {
		t.Fatalf("empty packet %v", p)
	}
}

func TestEncoderLimits(t *testing.T) {
	big := strings.Repeat("v", MaxVarsSize)
	tests := []struct {
		name    string
		add     func(e *Encoder)
		wantErr string
	}{
		{"exactly the limit", func(e *Encoder) { e.Add("", big[:MaxVarsSize-4]) }, ""},
		{"one over the limit", func(e *Encoder) { e.Add("", big[:MaxVarsSize-3]) }, "makes the block 65536 bytes"},
		{"value over 65535", func(e *Encoder) { e.Add("HTTP_COOKIE", big+"x") }, `"HTTP_COOKIE" has a 11-byte key and a 65536-byte value`},
		{"key over 65535", func(e *Encoder) { e.AddBytes([]byte(big+"x"), nil) }, "65536-byte key"},
		{"sum over the limit", func(e *Encoder) {
			for range 20 {
				e.Add("HTTP_X", big[:4000])
			}
		}, `"HTTP_X" makes the block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			e.Reset(0, 0)
			tt.add(&e)
			p, err := e.Packet()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := int(binary.LittleEndian.Uint16(p[1:3])); got != len(p)-4 {
					t.Fatalf("datasize %d, block %d", got, len(p)-4)
				}
				return
			}
			if !errors.Is(err, ErrVarsTooLarge) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrVarsTooLarge containing %q", err, tt.wantErr)
			}
			if p != nil {
				t.Fatal("a packet was returned with the error")
			}
			// The error does not survive Reset.
			e.Reset(0, 0)
			if _, err := e.Packet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAppendVarPanicsInsteadOfTruncating(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a 65536-byte value")
		}
	}()
	AppendVar(nil, "K", strings.Repeat("x", MaxVarsSize+1))
}

func TestEncoderZeroAllocs(t *testing.T) {
	var e Encoder
	val := []byte("text/html,application/xhtml+xml")
	run := func() {
		e.Reset(0, 0)
		e.Add("REQUEST_METHOD", "GET")
		e.Add("REQUEST_URI", "/some/path?x=1")
		e.Add("PATH_INFO", "/some/path")
		e.Add("QUERY_STRING", "x=1")
		e.AddBytes([]byte("HTTP_ACCEPT"), val)
		if _, err := e.Packet(); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testkit.Allocs(100, run); n != 0 {
		t.Fatalf("Encoder allocates %.1f times per packet once warm, want 0", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	var e Encoder
	vars := [][2]string{
		{"QUERY_STRING", "a=1&b=2"}, {"REQUEST_METHOD", "GET"}, {"CONTENT_TYPE", ""},
		{"CONTENT_LENGTH", ""}, {"REQUEST_URI", "/app/items/42?a=1&b=2"}, {"PATH_INFO", "/items/42"},
		{"SCRIPT_NAME", "/app"}, {"DOCUMENT_ROOT", "/usr/share/nginx/html"},
		{"SERVER_PROTOCOL", "HTTP/1.1"}, {"REQUEST_SCHEME", "http"}, {"REMOTE_ADDR", "127.0.0.1"},
		{"REMOTE_PORT", "53412"}, {"SERVER_PORT", "8080"}, {"SERVER_NAME", "localhost"},
		{"HTTP_HOST", "localhost:8080"}, {"HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64)"},
		{"HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"HTTP_COOKIE", "session=0123456789abcdef; theme=dark"},
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(0, 0)
		for _, kv := range vars {
			e.Add(kv[0], kv[1])
		}
		p, err := e.Packet()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(p)))
	}
}

func TestDecodeVars(t *testing.T) {
	block := AppendVar(AppendVar(nil, "A", "1"), "", "")
	var got []string
	err := DecodeVars(block, func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil || strings.Join(got, ",") != "A=1,=" {
		t.Fatalf("got %v, %v", got, err)
	}
	bad := []struct {
		name  string
		block []byte
		want  string
	}{
		{"one byte", []byte{1}, "truncated key length at offset 0"},
		{"key past end", []byte{5, 0, 'a'}, "key of 5 bytes at offset 2 runs past"},
		{"no value length", []byte{1, 0, 'a', 0}, `truncated value length for key "a"`},
		{"value past end", []byte{1, 0, 'a', 9, 0, 'x'}, `value of 9 bytes for key "a"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeVars(tt.block, func(k, v []byte) error { return nil })
			if !errors.Is(err, ErrBadPacket) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	if err := DecodeVars(block, func(k, v []byte) error { return stop }); err != stop {
		t.Fatalf("callback error not returned: %v", err)
	}
}

func TestReadPacket(t *testing.T) {
	var e Encoder
	e.Reset(0, 0)
	e.Add("K", "V")
	p, _ := e.Packet()
	two := append(append([]byte{}, p...), p...)
	r := bytes.NewReader(two)
	buf := make([]byte, 0, 64)
	for i := range 2 {
		m1, m2, vars, err := ReadPacket(r, buf)
		if err != nil || m1 != 0 || m2 != 0 || !bytes.Equal(vars, p[4:]) {
			t.Fatalf("packet %d: %d %d %q %v", i, m1, m2, vars, err)
		}
	}
	if _, _, _, err := ReadPacket(r, buf); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
	// Small buf: a new slice is allocated.
	if _, _, vars, err := ReadPacket(bytes.NewReader(p), nil); err != nil || !bytes.Equal(vars, p[4:]) {
		t.Fatalf("nil buf: %q %v", vars, err)
	}
	for _, cut := range []int{2, 5} {
		_, _, _, err := ReadPacket(bytes.NewReader(p[:cut]), buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
}

func FuzzDecodeVars(f *testing.F) {
	f.Add(AppendVar(AppendVar(nil, "REQUEST_METHOD", "GET"), "PATH_INFO", "/"))
	f.Add([]byte{1, 0, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, block []byte) {
		var e Encoder
		e.Reset(0, 0)
		n := 0
		err := DecodeVars(block, func(k, v []byte) error {
			e.AddBytes(k, v)
			n++
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrBadPacket) {
				t.Fatalf("error without ErrBadPacket: %v", err)
			}
			return
		}
		// A valid block re-encodes to itself (when it fits a packet).
		p, perr := e.Packet()
		if len(block) > MaxVarsSize {
			if perr == nil {
				t.Fatalf("%d-byte block encoded without error", len(block))
			}
			return
		}
		if perr != nil {
			t.Fatal(perr)
		}
		if !bytes.Equal(p[4:], block) {
			t.Fatalf("round trip differs:\n got %q\nwant %q", p[4:], block)
		}
		_, _, vars, err := ReadPacket(bytes.NewReader(p), nil)
		if err != nil || !bytes.Equal(vars, block) {
			t.Fatalf("ReadPacket: %q %v", vars, err)
		}
	})
}

func FuzzReadPacket(f *testing.F) {
	var e Encoder
	e.Reset(0, 0)
	e.Add("QUERY_STRING", "a=1")
	p, _ := e.Packet()
	f.Add(append([]byte{}, p...))
	f.Add([]byte{0, 0xff, 0xff, 0})
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		m1, m2, vars, err := ReadPacket(bytes.NewReader(data), make([]byte, 0, 16))
		if err != nil {
			if len(data) >= 4 && len(data)-4 >= int(binary.LittleEndian.Uint16(data[1:3])) {
				t.Fatalf("complete packet refused: %v", err)
			}
			return
		}
		if m1 != data[0] || m2 != data[3] || !bytes.Equal(vars, data[4:4+len(vars)]) {
			t.Fatal("packet fields differ from input")
		}
		_ = DecodeVars(vars, func(k, v []byte) error { return nil })
	})
}
