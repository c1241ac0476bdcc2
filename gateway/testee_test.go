package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"

	"portico/config"
)

// readAllChunks runs readEcho over b delivered in chunks of n bytes.
func readAllChunks(b []byte, n int) error {
	var dst bytes.Buffer
	r := iotest.OneByteReader(bytes.NewReader(b))
	if n > 1 {
		r = &chunkReader{b: b, n: n}
	}
	return readEcho(&dst, r, true, func() {})
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(c.b), len(p))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// TestEchoUTF8: a text message is UTF-8 or refused, however its bytes are cut into reads
// (frames), and an impossible sequence is refused at once, before the message ends.
func TestEchoUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"", true},
		{"plain", true},
		{"héllo wörld ✓ 𝄞", true},
		{"\xff", false},
		{"ok\xc3", false},           // ends inside a character
		{"\xed\xa0\x80", false},     // a surrogate
		{"\xf4\x90\x80\x80", false}, // above U+10FFFF
		{"\xc0\xaf", false},         // overlong
		{"\xe0\x80\xaf", false},     // overlong
	} {
		for _, n := range []int{1, 2, 3, 100} {
			err := readAllChunks([]byte(tc.in), n)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errInvalidUTF8)) {
				t.Errorf("%q in reads of %d: %v, want ok=%v", tc.in, n, err, tc.ok)
			}
		}
	}
	// Fail fast: the prefix "\xf4\x90" can begin no character.
	if _, ok := utf8Prefix([]byte("abc\xf4\x90"), 0); ok {
		t.Error("\\xf4\\x90 accepted as the start of a character")
	}
	if n, ok := utf8Prefix([]byte("abc\xe2\x9c"), 0); !ok || n != 3 {
		t.Errorf("a character cut by the read: %d %v", n, ok)
	}
}

// FuzzEchoUTF8: checking a message read by read says what utf8.Valid says of the whole.
func FuzzEchoUTF8(f *testing.F) {
	for _, s := range []string{"", "héllo", "\xff", "ok\xc3", "\xed\xa0\x80", "𝄞𝄞", "\xf0\x9d\x84"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		err := readAllChunks(b, int(n%16)+1)
		if (err == nil) != utf8.Valid(b) {
			t.Fatalf("%q in reads of %d: %v, utf8.Valid %v", b, int(n%16)+1, err, utf8.Valid(b))
		}
	})
}

// TestEchoShutdown: Shutdown says goodbye (1001) to a testee's live connections and ends them.
func TestEchoShutdown(t *testing.T) {
	t.Parallel()
	node := testNode(t, map[string]*config.Service{"/": {Type: "websocket-testee", WebSocket: &config.WebSocket{
		Options: config.WebSocketOptions{MaxMessageSize: 1 << 20, EnableWebStatus: true, CloseHandshakeTimeout: time.Second}}}})
	g, base := startGatewayG(t, node)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if typ, b, err := c.ReadMessage(); err != nil || typ != websocket.TextMessage || string(b) != "hi" {
		t.Fatalf("echo: %d %q %v", typ, b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after Shutdown: %v, want close 1001", err)
	}
}
