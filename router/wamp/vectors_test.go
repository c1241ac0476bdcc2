package wamp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The golden vectors of the WAMP specification's testsuite (testdata/wamp-testsuite, see its
// README.md and SCHEMA.json). Single-message files list samples of two kinds: serialization
// samples (bytes per serializer plus the attributes they decode to) and validation samples (a
// wire message that must be accepted, or rejected with an error naming a field).

type vectorFile struct {
	path     string
	Type     string            `json:"wamp_message_type"`
	Code     int               `json:"wamp_message_code"`
	Samples  []vectorSample    `json:"samples"`
	Sessions []json.RawMessage `json:"sessions"`
	Sequence []struct {
		Step    int            `json:"step"`
		Message map[string]any `json:"message"`
	} `json:"sequence"`
}

type vectorSample struct {
	Description string                     `json:"description"`
	Serializers map[string][]vectorBytes   `json:"serializers"`
	Expected    map[string]any             `json:"expected_attributes"`
	Wmsg        []any                      `json:"wmsg"`
	ExpectedErr *struct{ Contains string } `json:"expected_error"`
}

type vectorBytes struct {
	Note   string  `json:"note"`
	Bytes  *string `json:"bytes"`
	Hex    *string `json:"bytes_hex"`
	Base64 *string `json:"bytes_base64"`
}

func (v vectorBytes) decode() ([]byte, error) {
	switch {
	case v.Hex != nil:
		return hex.DecodeString(*v.Hex)
	case v.Base64 != nil:
		return base64.StdEncoding.DecodeString(*v.Base64)
	case v.Bytes != nil:
		return []byte(*v.Bytes), nil
	}
	return nil, fmt.Errorf("no bytes")
}

// loadVectors reads every vector file; numbers stay json.Number until neutral() converts them.
func loadVectors(t testing.TB) []vectorFile {
	t.Helper()
	var files []vectorFile
	err := filepath.WalkDir("testdata/wamp-testsuite", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") || d.Name() == "SCHEMA.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var f vectorFile
		if err := dec.Decode(&f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		f.path = path
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d vector files in testdata/wamp-testsuite, want the whole suite", len(files))
	}
	return files
}

// neutral converts a value of a vector file (json.Number inside) into codec-neutral values.
func neutral(t testing.TB, v any) any {
	t.Helper()
	n, err := jsonNeutral(v, 0)
	if err != nil {
		t.Fatalf("vector value %v: %v", v, err)
	}
	return n
}

// attrs lists a message's attributes under the testsuite's names (Autobahn's).
func attrs(m Message) map[string]any {
	num := func(id ID) any { return normUint(uint64(id)) }
	dict := func(d Dict) any {
		if d == nil {
			return nil
		}
		return d
	}
	args := func(l List) any {
		if l == nil {
			return nil
		}
		return l
	}
	payload := func(p []byte) any {
		if p == nil {
			return nil
		}
		return hex.EncodeToString(p)
	}
	a := map[string]any{"message_type": int64(m.Type())}
	switch x := m.(type) {
	case *Hello:
		a["realm"], a["details"], a["roles"] = string(x.Realm), dict(x.Details), x.Details["roles"]
	case *Welcome:
		a["session_id"], a["details"], a["roles"] = num(x.Session), dict(x.Details), x.Details["roles"]
	case *Abort:
		a["details"], a["reason"] = dict(x.Details), string(x.Reason)
	case *Goodbye:
		a["details"], a["reason"] = dict(x.Details), string(x.Reason)
	case *Challenge:
		a["method"], a["extra"] = x.AuthMethod, dict(x.Extra)
	case *Authenticate:
		a["signature"], a["extra"] = x.Signature, dict(x.Extra)
	case *Error:
		a["request_type"], a["request_id"], a["details"], a["error"] = int64(x.RequestType), num(x.Request), dict(x.Details), string(x.Error)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Publish:
		a["request_id"], a["options"], a["topic"] = num(x.Request), dict(x.Options), string(x.Topic)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Published:
		a["request_id"], a["publication_id"] = num(x.Request), num(x.Publication)
	case *Subscribe:
		a["request_id"], a["options"], a["topic"] = num(x.Request), dict(x.Options), string(x.Topic)
	case *Subscribed:
		a["request_id"], a["subscription_id"] = num(x.Request), num(x.Subscription)
	case *Unsubscribe:
		a["request_id"], a["subscription_id"] = num(x.Request), num(x.Subscription)
	case *Unsubscribed:
		a["request_id"], a["details"] = num(x.Request), dict(x.Details)
	case *Event:
		a["subscription"], a["publication"], a["details"] = num(x.Subscription), num(x.Publication), dict(x.Details)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Call:
		a["request_id"], a["options"], a["procedure"] = num(x.Request), dict(x.Options), string(x.Procedure)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Cancel:
		a["request_id"], a["options"] = num(x.Request), dict(x.Options)
	case *Result:
		a["request_id"], a["details"] = num(x.Request), dict(x.Details)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Register:
		a["request_id"], a["options"], a["procedure"] = num(x.Request), dict(x.Options), string(x.Procedure)
	case *Registered:
		a["request_id"], a["registration_id"] = num(x.Request), num(x.Registration)
	case *Unregister:
		a["request_id"], a["registration_id"] = num(x.Request), num(x.Registration)
	case *Unregistered:
		a["request_id"], a["details"] = num(x.Request), dict(x.Details)
	case *Invocation:
		a["request_id"], a["registration_id"], a["details"] = num(x.Request), num(x.Registration), dict(x.Details)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *Interrupt:
		a["request_id"], a["options"] = num(x.Request), dict(x.Options)
	case *Yield:
		a["request_id"], a["options"] = num(x.Request), dict(x.Options)
		a["args"], a["kwargs"], a["payload"] = args(x.Arguments), dict(x.ArgumentsKw), payload(x.Payload)
	case *EventReceived:
		a["publication_id"] = num(x.Publication)
	}
	return a
}

// TestVectors decodes every json, msgpack, cbor and ubjson representation of every
// serialization sample, compares it with the expected attributes, and round-trips the decoded
// message through all four codecs. The suite's flatbuffers samples are ignored: the router
// does not serve that serializer.
func TestVectors(t *testing.T) {
	checked, exact, total := 0, 0, 0
	for _, f := range loadVectors(t) {
		for i, s := range f.Samples {
			if s.Serializers == nil {
				continue
			}
			want := neutral(t, s.Expected).(map[string]any)
			for ser, reps := range s.Serializers {
				c, ok := CodecByName(ser)
				if !ok {
					continue
				}
				for j, rep := range reps {
					if ser == "ubjson" && strings.Contains(rep.Note, "BJData") {
						// BJData writes its numbers little-endian where UBJSON draft 12
						// has them big-endian: the same markers mean other values, so one
						// decoder cannot read both. The router speaks UBJSON, as
						// py-ubjson (Debian's python3-ubjson) does.
						continue
					}
					name := fmt.Sprintf("%s#%d/%s#%d", f.path, i, ser, j)
					b, err := rep.decode()
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					m, err := c.Decode(b)
					if err != nil {
						t.Errorf("%s (%s): Decode: %v", name, s.Description, err)
						continue
					}
					got := attrs(m)
					for k, w := range want {
						if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
							t.Errorf("%s (%s): %s = %#v, want %#v", name, s.Description, k, g, w)
						}
					}
					for _, c2 := range codecs {
						enc, err := c2.Encode(nil, m)
						if err != nil {
							t.Errorf("%s: %s Encode: %v", name, c2.Name(), err)
							continue
						}
						m2, err := c2.Decode(enc)
						if err != nil || !reflect.DeepEqual(m2, m) {
							t.Errorf("%s: %s round trip: %v\n got %#v\nwant %#v", name, c2.Name(), err, m2, m)
						}
						if c2 == c {
							total++
							if bytes.Equal(enc, b) {
								exact++
							} else if os.Getenv("WAMP_VECTORS_DIFF") != "" {
								t.Logf("%s: re-encoded differently:\n got %x\nwant %x", name, enc, b)
							}
						}
					}
					checked++
				}
			}
		}
	}
	// json 45, msgpack 28, cbor 28 representations in the suite as copied.
	if checked < 100 {
		t.Errorf("checked %d representations, want the whole suite", checked)
	}
	t.Logf("checked %d json/msgpack/cbor/ubjson representations; %d of %d re-encode byte for byte", checked, exact, total)
}

// TestVectorValidation runs the validation samples: each wire message, encoded with every
// codec, must decode, or fail with an error that names the field when the sample expects a
// protocol violation.
func TestVectorValidation(t *testing.T) {
	n := 0
	for _, f := range loadVectors(t) {
		for i, s := range f.Samples {
			if s.Wmsg == nil {
				continue
			}
			wmsg := neutral(t, s.Wmsg).([]any)
			for _, c := range codecs {
				b, err := appendList(c.(encoder), nil, wmsg, 0)
				if err != nil {
					t.Fatalf("%s#%d: %v", f.path, i, err)
				}
				_, err = c.Decode(b)
				name := fmt.Sprintf("%s#%d %s (%s)", f.path, i, c.Name(), s.Description)
				switch {
				case s.ExpectedErr == nil && err != nil:
					t.Errorf("%s: rejected: %v", name, err)
				case s.ExpectedErr != nil && err == nil:
					t.Errorf("%s: accepted, want an error naming %q", name, s.ExpectedErr.Contains)
				case s.ExpectedErr != nil && !strings.Contains(err.Error(), s.ExpectedErr.Contains):
					t.Errorf("%s: error %q does not name %q", name, err, s.ExpectedErr.Contains)
				}
				n++
			}
		}
	}
	if n < 3*60 {
		t.Errorf("ran %d validation samples, want the whole suite", n)
	}
	t.Logf("ran %d validation samples (x3 codecs)", n/3)
}

// fromAttrs builds a message from a multi-session step (type name plus attributes).
func fromAttrs(t *testing.T, a map[string]any) Message {
	t.Helper()
	id := func(k string) ID {
		v, err := asID(a[k])
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	d := func(k string) Dict {
		if v, ok := a[k].(map[string]any); ok {
			return v
		}
		return Dict{}
	}
	l := func(k string) List {
		v, _ := a[k].([]any)
		return v
	}
	kw := func() Dict {
		v, _ := a["kwargs"].(map[string]any)
		return v
	}
	u := func(k string) URI { s, _ := a[k].(string); return URI(s) }
	switch a["type"] {
	case "SUBSCRIBE":
		return &Subscribe{Request: id("request_id"), Options: d("options"), Topic: u("topic")}
	case "SUBSCRIBED":
		return &Subscribed{Request: id("request_id"), Subscription: id("subscription_id")}
	case "PUBLISH":
		return &Publish{Request: id("request_id"), Options: d("options"), Topic: u("topic"), Arguments: l("args"), ArgumentsKw: kw()}
	case "PUBLISHED":
		return &Published{Request: id("request_id"), Publication: id("publication_id")}
	case "EVENT":
		return &Event{Subscription: id("subscription_id"), Publication: id("publication_id"), Details: d("details"), Arguments: l("args"), ArgumentsKw: kw()}
	}
	t.Fatalf("step message type %v not handled", a["type"])
	return nil
}

// TestVectorSequences encodes and decodes every message of the multi-session sequences: the
// flows themselves are the router's to test.
func TestVectorSequences(t *testing.T) {
	n := 0
	for _, f := range loadVectors(t) {
		for _, step := range f.Sequence {
			m := fromAttrs(t, neutral(t, step.Message).(map[string]any))
			for _, c := range codecs {
				b, err := c.Encode(nil, m)
				if err != nil {
					t.Fatalf("%s step %d: %s: %v", f.path, step.Step, c.Name(), err)
				}
				m2, err := c.Decode(b)
				if err != nil || !reflect.DeepEqual(m2, m) {
					t.Errorf("%s step %d: %s round trip: %v\n got %#v\nwant %#v", f.path, step.Step, c.Name(), err, m2, m)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no multi-session steps found")
	}
}
