package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// TestPyJSON: the bridge writes JSON as Python's json.dumps does (Crossbar's answers are
// made by it), in both of the styles Crossbar uses.
func TestPyJSON(t *testing.T) {
	t.Parallel()
	v := map[string]any{"b": []any{int64(1), 1.0, 1.5, 1e16, 1e-5, 0.0001, math.Copysign(0, -1), uint64(1 << 63), nil, true},
		"a": "é\"\\\n\x01\x7f😀"}
	for _, c := range []struct {
		st   pyStyle
		want string
	}{
		{dumpJSON, `{"a":"é\"\\\n\u0001` + "\x7f" + `😀","b":[1,1.0,1.5,1e+16,1e-05,0.0001,-0.0,9223372036854775808,null,true]}`},
		{pythonJSON, `{"a": "\u00e9\"\\\n\u0001\u007f\ud83d\ude00", "b": [1, 1.0, 1.5, 1e+16, 1e-05, 0.0001, -0.0, 9223372036854775808, null, true]}`},
	} {
		got, err := appendPy(nil, v, c.st, 0)
		if err != nil || string(got) != c.want {
			t.Errorf("appendPy(%+v) = %s, %v\nwant %s", c.st, got, err, c.want)
		}
	}
}

func TestBridgeTimestamp(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]string{
		"2011-10-14T16:59:51.123Z":     "2011-10-14T16:59:51.123Z",
		"2011-1-4T6:9:1.5Z":            "2011-01-04T06:09:01.5Z",
		"2026-11-29T21:00:00.123456Z":  "2026-11-29T21:00:00.123456Z",
		"2011-10-14T16:59:51Z":         "",
		"2011-10-14T16:59:51.1234567Z": "",
		"2011-02-30T16:59:51.1Z":       "",
		"2011-10-14T16:59:60.1Z":       "",
		"11-10-14T16:59:51.1Z":         "",
		"2011-10-14 16:59:51.1Z":       "",
		"2011-10-14T16:59:51.1":        "",
	} {
		ts, ok := parseBridgeTimestamp([]byte(s))
		got := ""
		if ok {
			got = ts.Format("2006-01-02T15:04:05.999999Z")
		}
		if got != want {
			t.Errorf("parseBridgeTimestamp(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestPyInt(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"1": true, " -12 ": true, "+3": true, "1_000": true, "": false,
		"1__0": false, "_1": false, "1_": false, "abc": false, "1.0": false, "0x10": false, "-": false} {
		if pyInt([]byte(s)) != want {
			t.Errorf("pyInt(%q) = %v", s, !want)
		}
	}
}

// TestNonceMemory: a nonce is refused again within the window, accepted once the window has
// passed, and a full memory refuses rather than forgets.
func TestNonceMemory(t *testing.T) {
	t.Parallel()
	m := newNonceMemory(time.Minute, 3)
	t0 := time.Unix(1_000_000, 0)
	if m.add([]byte("1"), t0) != nonceNew || m.add([]byte("1"), t0.Add(59*time.Second)) != nonceSeen {
		t.Fatal("a nonce was accepted twice within the window")
	}
	m.add([]byte("2"), t0.Add(time.Second))
	m.add([]byte("3"), t0.Add(2*time.Second))
	if r := m.add([]byte("4"), t0.Add(30*time.Second)); r != nonceFull {
		t.Fatalf("full memory answered %v", r)
	}
	if r := m.add([]byte("1"), t0.Add(61*time.Second)); r != nonceNew {
		t.Fatalf("a nonce out of the window answered %v", r)
	}
	if r := m.add([]byte("4"), t0.Add(63*time.Second)); r != nonceNew {
		t.Fatalf("after expiry answered %v", r)
	}
}

// FuzzBridgeJSON: whatever a client POSTs, decoding never panics, what is accepted encodes
// back in both Python styles, and Go's own decoder agrees with what was accepted.
func FuzzBridgeJSON(f *testing.F) {
	for _, s := range []string{
		`{"topic": "com.example.topic1", "args": ["Hello, world"]}`,
		`{"procedure": "com.example.add2", "args": [1, 2], "kwargs": {"x": 1.5e300}}`,
		`{"topic": "t", "options": {"exclude": [123], "eligible": 7}}`,
		`[1, 2]`, `{"a": 18446744073709551615}`, `{"a": 18446744073709551616}`, `{} x`, `{"a":"\ud800"}`,
		strings.Repeat("[", 200) + strings.Repeat("]", 200), `{"a": -0.0, "b": 1E-7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeBridgeJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		for _, st := range []pyStyle{dumpJSON, pythonJSON} {
			out, err := appendPy(nil, v, st, 0)
			if err != nil {
				t.Fatalf("appendPy(%q): %v", b, err)
			}
			if !json.Valid(out) {
				t.Fatalf("appendPy(%q) wrote invalid JSON %q", b, out)
			}
		}
	})
}

func benchBridge(b *testing.B, kind, body string, extra func(*routerRef)) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ref := &routerRef{r: router.New(router.Options{Log: log}), conns: map[cutter]struct{}{}}
	defer ref.close()
	if extra != nil {
		extra(ref)
	}
	svc, err := newBridgeService(&config.Service{Place: "bench", Type: kind,
		Bridge: &config.Bridge{Realm: "realm1", Role: "anonymous", TimestampDeltaLimit: 300}}, &config.Transport{}, ref, log)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.close()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBodyString(body)
		if err := svc.serve(&ctx, nil); err != nil || ctx.Response.StatusCode() != 200 {
			b.Fatalf("serve: %v, %d %s", err, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// BenchmarkBridgePublish: one publisher request through the router (no subscriber).
func BenchmarkBridgePublish(b *testing.B) {
	benchBridge(b, "publisher", `{"topic": "bench.topic", "args": ["Hello, world"], "kwargs": {"n": 1}}`, nil)
}

// BenchmarkBridgeCall: one caller request through the router to an in-process echo callee.
func BenchmarkBridgeCall(b *testing.B) {
	benchBridge(b, "caller", `{"procedure": "bench.echo", "args": ["Hello, world", 1]}`, func(ref *routerRef) {
		mine, theirs := router.Pipe(wamp.JSON, 64)
		go func() { _ = ref.r.Serve(theirs, router.PeerInfo{Transport: "inprocess"}) }()
		send := func(m wamp.Message) {
			buf, err := wamp.JSON.Encode(nil, m)
			if err == nil {
				err = mine.WriteMessage(buf)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		recv := func() wamp.Message {
			buf, err := mine.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			m, err := wamp.JSON.Decode(buf)
			if err != nil {
				b.Fatal(err)
			}
			return m
		}
		send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": wamp.Dict{"callee": wamp.Dict{}}}})
		recv()
		send(&wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: "bench.echo"})
		if _, ok := recv().(*wamp.Registered); !ok {
			b.Fatal("not registered")
		}
		go func() {
			for {
				buf, err := mine.ReadMessage()
				if err != nil {
					return
				}
				m, _ := wamp.JSON.Decode(buf)
				if inv, ok := m.(*wamp.Invocation); ok {
					out, _ := wamp.JSON.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments})
					if mine.WriteMessage(out) != nil {
						return
					}
				}
			}
		}()
	})
}
