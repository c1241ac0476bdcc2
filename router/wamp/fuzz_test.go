package wamp

import (
	"bytes"
	"reflect"
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
	for _, fr := range wampyFrames {
		if fr.codec == c {
			f.Add(mustHex(f, fr.hex))
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
	seedClaims(f, JSON)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, JSON, b) })
}

func FuzzDecodeMsgPack(f *testing.F) {
	seedDecode(f, MsgPack)
	seedClaims(f, MsgPack)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, MsgPack, b) })
}

func FuzzDecodeUBJSON(f *testing.F) {
	seedDecode(f, UBJSON)
	// Draft 12 forms the encoder never writes: no-ops, counted and typed containers, H.
	for _, s := range []string{
		"[U\x10NU\x01{}SU\x03a.bN]", "[#U\x04U\x10U\x01{#U\x00SU\x03a.b", "[$U#U\x02\x10\x01",
		"[U\x10U\x01{$T#U\x01U\x01aSU\x03a.b]", "[U\x10HU\x0218{}SU\x03a.b]",
		"[U\x10U\x01{}SU\x03a.b[$[#U\x01]]", "[U\x10U\x01{}SU\x03a.b[$Z#U\x05]",
		"[U\x10U\x01{}SU\x03a.b[[$U#U\x02ab]]", "[U\x10U\x01{}Ca]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, UBJSON, b) })
}

func FuzzDecodeCBOR(f *testing.F) {
	seedDecode(f, CBOR)
	seedClaims(f, CBOR)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecode(t, CBOR, b) })
}

// FuzzSplitBatched: never panics; a frame it splits is the concatenation of its messages,
// framed again (text separators written as 0x18).
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
		want := frame
		if !c.Binary() {
			// Text messages are split on 0x18 and 0x1e alike and framed again with 0x18
			// (batched.go: autobahn-python's separator).
			want = bytes.ReplaceAll(frame, []byte{0x1e}, []byte{recordSeparator})
		}
		if err == nil && !bytes.Equal(again, want) {
			t.Fatalf("split and framed again:\n%q\n%q", again, want)
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

// fuzzKeys are the option and detail keys the validator knows, plus one it does not.
var fuzzKeys = []string{"acknowledge", "exclude_me", "exclude", "exclude_authid", "eligible", "retain",
	"match", "get_retained", "publisher", "topic", "timeout", "receive_progress", "mode", "progress",
	"invoke", "concurrency", "caller", "forward_for", "enc_algo", "enc_serializer", "x_custom"}

// fuzzList builds a message list from a byte program, so that the fuzzer reaches the
// validator's checks without having to find a serialization's syntax first.
func fuzzList(prog []byte) []any {
	if len(prog) == 0 {
		return nil
	}
	codes := []int64{1, 2, 3, 4, 5, 6, 8, 16, 17, 32, 33, 34, 35, 36, 48, 49, 50, 64, 65, 66, 67, 68, 69, 70, 337, 0, 7}
	l := []any{codes[int(prog[0])%len(codes)]}
	next := func(i *int) byte {
		*i++
		if *i < len(prog) {
			return prog[*i]
		}
		return 0
	}
	var value func(i *int, depth int) any
	value = func(i *int, depth int) any {
		b := next(i)
		switch b % 10 {
		case 0:
			return int64(next(i))
		case 1:
			return normUint(uint64(MaxID) + uint64(next(i)) - 128)
		case 2:
			return []string{"com.x", "", "wamp.error.x", "exact", "prefix", "kill", "cryptobox", "single"}[next(i)%8]
		case 3:
			return map[string]any{}
		case 4:
			if depth > 3 {
				return nil
			}
			return map[string]any{fuzzKeys[int(next(i))%len(fuzzKeys)]: value(i, depth+1)}
		case 5:
			if depth > 3 {
				return List{}
			}
			return []any{value(i, depth+1), value(i, depth+1)}
		case 6:
			return []byte{next(i)}
		case 7:
			return float64(next(i)) / 4
		case 8:
			return b > 128
		}
		return nil
	}
	for i := 0; i < len(prog) && len(l) < 8; {
		l = append(l, value(&i, 0))
	}
	return l
}

// FuzzValidate: the validator never panics, and what it accepts every codec encodes and
// decodes back to the same message.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{14, 0, 7, 4, 10, 0, 2, 0, 5, 0, 1, 0, 2})
	f.Add([]byte{13, 0, 1, 0, 2, 3, 5, 2, 1, 0, 9})
	f.Add([]byte{9, 0, 7, 4, 0, 5, 0, 3, 2, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		m, err := fromList(fuzzList(prog))
		if err != nil {
			return
		}
		for _, c := range codecs {
			b, err := c.Encode(nil, m)
			if err != nil {
				t.Fatalf("%s: validated %#v does not encode: %v", c.Name(), m, err)
			}
			m2, err := c.Decode(b)
			if err != nil || !reflect.DeepEqual(m2, m) {
				t.Fatalf("%s: round trip of %#v: %v\n got %#v", c.Name(), m, err, m2)
			}
		}
	})
}
