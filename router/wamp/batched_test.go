package wamp

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBatched(t *testing.T) {
	for _, c := range codecs {
		var frame []byte
		var want []Message
		for _, m := range sampleMessages() {
			b, err := c.Encode(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			frame = AppendBatched(frame, c, b)
			want = append(want, m)
		}
		var got []Message
		err := SplitBatched(c, frame, func(msg []byte) error {
			m, err := c.Decode(msg)
			got = append(got, m)
			return err
		})
		if err != nil {
			t.Fatalf("%s: SplitBatched: %v", c.Name(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: batched round trip differs", c.Name())
		}
	}
	// The wire form (spec "Batched WebSocket transport"). JSON: autobahn-python's separator
	// 0x18 written (its '\30' is octal), and both 0x18 and the spec's 0x1e read.
	if got := string(AppendBatched([]byte("x"), JSON, []byte("[1]"))); got != "x[1]\x18" {
		t.Errorf("JSON framing = %q", got)
	}
	var msgs []string
	if err := SplitBatched(JSON, []byte("[1]\x18[2]\x1e[3]\x18"), func(m []byte) error { msgs = append(msgs, string(m)); return nil }); err != nil ||
		!reflect.DeepEqual(msgs, []string{"[1]", "[2]", "[3]"}) {
		t.Errorf("JSON split of mixed separators = %q, %v", msgs, err)
	}
	if got := string(AppendBatched(nil, CBOR, []byte("ab"))); got != "\x00\x00\x00\x02ab" {
		t.Errorf("CBOR framing = %q", got)
	}
}

func TestSplitBatchedErrors(t *testing.T) {
	tests := []struct {
		c     Codec
		frame string
		want  string
		n     int // messages passed to fn before the error
	}{
		{JSON, "", "empty", 0},
		{JSON, "[1]", "without a closing 0x18 or 0x1e", 0},
		{JSON, "[1]\x1e[2]", "message 1: 3 bytes without a closing", 1},
		{JSON, "[1]\x1e\x1e", "message 1 is empty", 1},
		{MsgPack, "", "empty", 0},
		{MsgPack, "\x00\x00\x00", "length prefix takes 4", 0},
		{MsgPack, "\x00\x00\x00\x05abc", "length 5, only 3 bytes left", 0},
		{CBOR, "\x00\x00\x00\x01a\x00\x00\x00\x00", "message 1 is empty", 1},
		{CBOR, "\x00\x00\x00\x01a\xff\xff\xff\xffa", "length 4294967295", 1},
	}
	for _, tt := range tests {
		n := 0
		err := SplitBatched(tt.c, []byte(tt.frame), func([]byte) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) || n != tt.n {
			t.Errorf("%s SplitBatched(%q) = %v after %d messages, want %q after %d", tt.c.Name(), tt.frame, err, n, tt.want, tt.n)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := SplitBatched(JSON, []byte("[1]\x1e[2]\x1e"), func([]byte) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("SplitBatched does not stop at fn's error: %v after %d", err, n)
	}
}
