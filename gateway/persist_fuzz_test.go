package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
)

// FuzzChunkedUpstreamBody feeds arbitrary bytes to the decoder of bodies framed in chunks by
// the launched app's wrapper (launch/persist.py): no panic, and a body reported whole has
// consumed its trailer section, so that a kept connection is in step for the next response.
func FuzzChunkedUpstreamBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT"))
	f.Add([]byte("0\r\n\r\n"))
	f.Add([]byte("zz\r\n"))
	f.Add([]byte("5\r\nhel"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		b := &upstreamBody{br: br, remaining: -1}
		b.chunked = httputil.NewChunkedReader(br)
		buf := make([]byte, 7)
		for range len(in) + 8 {
			_, err := b.read(buf)
			if err == io.EOF {
				if b.remaining != 0 {
					t.Fatalf("EOF with remaining %d", b.remaining)
				}
				rest, _ := io.ReadAll(br)
				used := in[:len(in)-len(rest)]
				if !bytes.HasSuffix(used, []byte("\n\r\n")) && !bytes.HasSuffix(used, []byte("\n\n")) {
					t.Fatalf("the body ended before the empty line that closes its trailer: %q", used)
				}
				return
			}
			if err != nil {
				if b.remaining == 0 {
					t.Fatalf("error %v after the body was complete", err)
				}
				return
			}
		}
	})
}
