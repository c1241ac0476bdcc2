package gateway

import (
	"bytes"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"portico/internal/testkit"
	"portico/router"
)

// TestWebSocketWriteAllocs: writing a message to a client allocates nothing, batched or not
// (the batched frame buffer is reused). The client reads nothing while the writes are counted
// (they wait in the socket buffers, 25 KB): its reading allocates, and the count is the
// process's.
func TestWebSocketWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	msg := []byte(`[36,5512315355,4429313566,{},[1,"two",3.0]]`)
	for _, tc := range []struct {
		proto string
		first []byte
	}{
		{"wamp.2.json", []byte("[1]")},
		{"wamp.2.cbor.batched", []byte{0, 0, 0, 1, 0x80}},
	} {
		proto := tc.proto
		t.Run(proto, func(t *testing.T) {
			result := make(chan float64, 1)
			url := sessionServer(t, nil, wsOptions(), func(tr router.Transport, _ router.PeerInfo) error {
				if _, err := tr.ReadMessage(); err != nil {
					return err
				}
				_ = tr.WriteMessage(msg) // warm up: buffers sized once
				result <- testkit.Allocs(500, func() {
					if err := tr.WriteMessage(msg); err != nil {
						panic(err)
					}
				})
				_, err := tr.ReadMessage()
				return err
			})
			c, _, err := dial(t, url, []string{proto}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WriteMessage(websocket.BinaryMessage, tc.first); err != nil {
				t.Fatal(err)
			}
			select {
			case n := <-result:
				if n > 0 {
					t.Fatalf("%v allocations per WriteMessage, budget 0", n)
				}
			case <-time.After(testkit.Patience):
				t.Fatal("no result")
			}
			c.Close()
		})
	}
}

// BenchmarkWebSocketEcho: one message to the server's transport and back, over loopback TCP,
// through ReadMessage and WriteMessage (the transport's part of a call round trip).
func BenchmarkWebSocketEcho(b *testing.B) {
	url := sessionServer(b, nil, wsOptions(), echoSession)
	c, _, err := dial(b, url, []string{"wamp.2.json"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(`[48,7814135,{},"com.myapp.echo",["Hello, world!"]]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			b.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			b.Fatalf("%v %q", err, got)
		}
	}
}
