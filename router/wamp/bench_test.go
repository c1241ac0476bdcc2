package wamp

import (
	"testing"

	"portico/internal/testkit"
)

// benchEvent and benchCall are typical hot-path messages: a few positional and keyword
// arguments, a small Details/Options dict.
var (
	benchEvent = &Event{
		Subscription: 5512315355, Publication: 4429313566,
		Details:     Dict{"topic": "com.example.sensor.temperature"},
		Arguments:   List{"Hello, world!", int64(42), 23.5},
		ArgumentsKw: Dict{"unit": "celsius", "station": int64(17)},
	}
	benchCall = &Call{
		Request: 7814135, Options: Dict{"timeout": int64(1000), "receive_progress": true},
		Procedure:   "com.example.add",
		Arguments:   List{int64(2), int64(3), "label"},
		ArgumentsKw: Dict{"round": true},
	}
)

func BenchmarkEncode(b *testing.B) {
	for _, c := range codecs {
		for _, m := range []Message{benchEvent, benchCall} {
			b.Run(c.Name()+"/"+m.Type().String(), func(b *testing.B) {
				buf := make([]byte, 0, 512)
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = c.Encode(buf[:0], m); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(buf)))
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range codecs {
		for _, m := range []Message{benchEvent, benchCall} {
			b.Run(c.Name()+"/"+m.Type().String(), func(b *testing.B) {
				enc, err := c.Encode(nil, m)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(enc)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Decode(enc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestEncodeEventAllocs holds EVENT encoding, the fan-out hot path, to its allocation budget:
// none, when the destination buffer has room.
func TestEncodeEventAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, c := range codecs {
		buf := make([]byte, 0, 512)
		allocs := testkit.Allocs(200, func() {
			var err error
			if buf, err = c.Encode(buf[:0], benchEvent); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0 {
			t.Errorf("%s: EVENT encode: %.1f allocations, budget 0", c.Name(), allocs)
		}
	}
}

// TestDecodeAllocs holds decoding to the allocations it takes today for the benchmark EVENT
// and CALL: the values themselves (maps, lists, strings, boxed numbers) plus each library's
// own state.
func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	budgets := map[string]float64{
		"json/EVENT": 22, "json/CALL": 18,
		"msgpack/EVENT": 22, "msgpack/CALL": 19,
		"cbor/EVENT": 31, "cbor/CALL": 28,
		"ubjson/EVENT": 21, "ubjson/CALL": 18,
	}
	for _, c := range codecs {
		for _, m := range []Message{benchEvent, benchCall} {
			name := c.Name() + "/" + m.Type().String()
			enc, err := c.Encode(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			allocs := testkit.Allocs(100, func() {
				if _, err := c.Decode(enc); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s decode: %.0f allocations", name, allocs)
			if allocs > budgets[name] {
				t.Errorf("%s decode: %.0f allocations, budget %.0f", name, allocs, budgets[name])
			}
		}
	}
}
