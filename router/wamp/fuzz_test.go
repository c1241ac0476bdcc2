package wamp

import (
	"bytes"
	"regexp"
	"testing"
	"unicode/utf8"
)

// seedDecode adds every representation of the golden vectors for codec c, the validation
// samples encoded with c, and the sample messages.
func seedDecode(f *testing.F, c Codec) {
	for _, vf := range loadVectors(f) {
		for _, s := range vf.Samples {
			for _, rep := range s.Serializers[c.Name()] {
				if b, err := rep.decode(); err == nil {
					f.Add(b)
				}
			}
			if s.Wmsg != nil {
				if b, err := appendList(c.(encoder), nil, neutral(f, s.Wmsg).([]any), 0); err == nil {
					f.Add(b)
				}
			}
		}
	}
	for _, m := range sampleMessages() {
		if b, err := c.Encode(nil, m); err == nil {
			f.Add(b)
		}
	}
}

// fuzzDecode: Decode never panics; what it accepts encodes, and the encoding decodes to a
// message that encodes to the same bytes again.
func fuzzDecode(t *testing.T, c Codec, b []byte) {
	m, err := c.Decode(b)
	if err != nil {
		if _, ok := err.(*DecodeError); !ok {
			t.Fatalf("error %T (%v) is not a *DecodeError", err, err)
		}
		return
	}
	enc, err := c.Encode(nil, m)
	if err != nil {
		t.Fatalf("Decode accepted %q, Encode of %#v fails: %v", b, m, err)
	}
	m2, err := c.Decode(enc)
	if err != nil {
		t.Fatalf("Encode wrote %q, which does not decode: %v", enc, err)
	}
	enc2, err := c.Encode(nil, m2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("re-encoding differs (%v):\n%q\n%q", err, enc, enc2)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	seedDecode(f, JSON)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, JSON, b) })
}

func FuzzDecodeMsgPack(f *testing.F) {
	seedDecode(f, MsgPack)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, MsgPack, b) })
}

func FuzzDecodeCBOR(f *testing.F) {
	seedDecode(f, CBOR)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, CBOR, b) })
}

// FuzzSplitBatched: never panics; a frame it splits is the concatenation of its messages,
// framed again.
func FuzzSplitBatched(f *testing.F) {
	for i, c := range codecs {
		var frame []byte
		for _, m := range sampleMessages()[:5] {
			b, _ := c.Encode(nil, m)
			frame = AppendBatched(frame, c, b)
		}
		f.Add(uint8(i), frame)
	}
	f.Add(uint8(0), []byte("[1]\x1e\x1e"))
	f.Add(uint8(1), []byte("\x00\x00\x00\x05abc"))
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		c := codecs[int(which)%len(codecs)]
		var again []byte
		err := SplitBatched(c, frame, func(msg []byte) error {
			if len(msg) == 0 {
				t.Fatal("empty message passed on")
			}
			again = AppendBatched(again, c, msg)
			return nil
		})
		if err == nil && !bytes.Equal(again, frame) {
			t.Fatalf("split and framed again:\n%q\n%q", again, frame)
		}
	})
}

// The spec's regular expressions ("URIs") are the oracle for the strict rules; the loose rules
// use Unicode whitespace (Python's \s), which Go's RE2 \s does not cover, so they are checked
// by their relations instead.
var (
	strictRE      = regexp.MustCompile(`^([0-9a-z_]+\.)*([0-9a-z_]+)$`)
	strictEmptyRE = regexp.MustCompile(`^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$`)
)

func FuzzCheckURI(f *testing.F) {
	for _, s := range []string{"com.myapp.topic1", "com..x", "com.", "", "a b", "a#b", "A.b", "x.\u00a0", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := URI(s)
		strict, loose := CheckURI(u, true, false) == nil, CheckURI(u, false, false) == nil
		strictE, looseE := CheckURI(u, true, true) == nil, CheckURI(u, false, true) == nil
		if strict != strictRE.MatchString(s) || strictE != strictEmptyRE.MatchString(s) {
			t.Fatalf("%q: strict %v (regex %v), strict with empty %v (regex %v)", s, strict, strictRE.MatchString(s), strictE, strictEmptyRE.MatchString(s))
		}
		if strict && !loose || strictE && !looseE || loose && !looseE || strict && !strictE {
			t.Fatalf("%q: strict %v loose %v strictEmpty %v looseEmpty %v: a stricter rule passed where a laxer failed", s, strict, loose, strictE, looseE)
		}
		if looseE && !utf8.ValidString(s) {
			t.Fatalf("%q: invalid UTF-8 accepted", s)
		}
	})
}
