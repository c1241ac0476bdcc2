package gateway

import (
	"io"
	"net"
	"os"
	"time"
)

// Files go to the client with sendfile(2), as nginx's `sendfile on` sends them: static files,
// what X-Accel-Redirect and X-Sendfile name, and the part of a buffered response that was
// spilled to its temporary file. The bytes go from the page cache to the socket without
// passing through Portico's memory.
//
// fasthttp writes a body through a bufio.Writer over the client connection; its ReadFrom,
// once its buffer is flushed, hands an *io.LimitedReader of an *os.File to the connection's
// ReadFrom, which for a TCP connection is sendfile (net/sendfile_linux.go). A body that is an
// io.WriterTo gets the writer, so the file is handed over sendfileChunk bytes at a time: each
// hand-over moves the write deadline, as each write does for other bodies, so write_timeout
// stays the longest a client may stall (nginx send_timeout), not the longest a download may
// take. Where the connection is not plain TCP (TLS, a unix socket in front of which sendfile
// does not apply, a PROXY protocol connection) the same calls copy through a buffer.

// sendfileChunk is what one hand-over to sendfile may send: a client has write_timeout to take
// this much. 256 KiB keeps a client at 4.4 KB/s within the default 60 s, and a 1 GiB file
// takes 4096 hand-overs instead of 32768 reads and writes of 32 KiB.
const sendfileChunk = 256 << 10

// sendFileTo sends n bytes of f from its current offset to w: with sendfile when w leads to a
// TCP connection, else by reads and writes. client's write deadline is moved before each
// chunk. It returns what was sent; a file shorter than n is io.ErrUnexpectedEOF.
func sendFileTo(w io.Writer, f *os.File, n int64, client net.Conn, writeTO time.Duration) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		bp := respCopyBufPool.Get().(*[]byte)
		defer respCopyBufPool.Put(bp)
		sent, err := copyReads(w, &writeDeadlineReader{r: io.LimitReader(f, n), client: client, writeTO: writeTO}, *bp)
		if err == nil && sent < n {
			err = io.ErrUnexpectedEOF
		}
		return sent, err
	}
	var sent int64
	lr := io.LimitedReader{R: f}
	for sent < n {
		if writeTO > 0 && client != nil {
			_ = client.SetWriteDeadline(time.Now().Add(writeTO))
		}
		lr.N = min(n-sent, sendfileChunk)
		k, err := rf.ReadFrom(&lr)
		sent += k
		if err != nil {
			return sent, err
		}
		if k == 0 {
			return sent, io.ErrUnexpectedEOF // the file shrank under us: the connection is cut
		}
	}
	return sent, nil
}

// writeDeadlineReader moves client's write deadline before the bytes it read are written.
type writeDeadlineReader struct {
	r       io.Reader
	client  net.Conn
	writeTO time.Duration
}

func (d *writeDeadlineReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 && d.writeTO > 0 && d.client != nil {
		_ = d.client.SetWriteDeadline(time.Now().Add(d.writeTO))
	}
	return n, err
}

// limitedFile is the body of a file answer: n bytes of f from its offset. fasthttp calls
// WriteTo (sendfile) to send it plainly, Read when it compresses it; it closes f when done.
type limitedFile struct {
	f       *os.File
	n       int64
	client  net.Conn
	writeTO time.Duration
}

func (l *limitedFile) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	if n > 0 && l.writeTO > 0 && l.client != nil {
		_ = l.client.SetWriteDeadline(time.Now().Add(l.writeTO)) // bounds the write of these bytes
	}
	return n, err
}

func (l *limitedFile) WriteTo(w io.Writer) (int64, error) {
	n, err := sendFileTo(w, l.f, l.n, l.client, l.writeTO)
	l.n -= n
	return n, err
}

func (l *limitedFile) Close() error { return l.f.Close() }

var (
	_ io.ReadCloser = (*limitedFile)(nil)
	_ io.WriterTo   = (*limitedFile)(nil)
)
