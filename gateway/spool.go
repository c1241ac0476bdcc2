package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// spool holds a request body read whole before uwsgi is contacted (request buffering, and
// every chunked body, whose length uwsgi needs up front): up to chunkedMemLimit in memory, the
// rest in a temporary file that is unlinked at once and closed in every outcome (reset is
// deferred by the caller). Every byte read is charged to the transport's spoolQuota first.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	fw   fileWriter
	br   bytes.Reader
	src  chargedReader
	lim  io.LimitedReader

	quota  *spoolQuota
	client netip.Addr
	held   int64 // charged to quota, given back by reset
}

// chargedReader charges what it reads to the spool's quota before it is kept; past the quota
// it fails with the quota's error and the bytes read are dropped.
type chargedReader struct {
	r io.Reader
	s *spool
}

func (c *chargedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.s.quota != nil {
		if qerr := c.s.quota.charge(c.s.client, int64(n)); qerr != nil {
			return 0, qerr
		}
		c.s.held += int64(n)
	}
	return n, err
}

// fileWriter writes to the spool file and keeps its error, so that a failing file (a full
// disk) is told apart from a failing client body in the copy between them.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// errSpool is a failure of the temporary file itself: Portico's own fault, 500 (nginx answers
// so when it cannot write client_body_temp_path), not the 404 or 403 the file error would map
// to in statusOf.
var errSpool = errors.New("request body temporary file")

// spoolKeep is the largest spool buffer kept for the next request: one that held a body up to
// the memory threshold (it may have doubled once past it).
const spoolKeep = 2*chunkedMemLimit + bytes.MinRead

// fill reads r to its end: size bytes, or to EOF when size is -1 (chunked). max > 0 bounds the
// body (errBodyTooLarge past it). It returns the body length and a reader over the whole body.
func (s *spool) fill(r io.Reader, size, max int64, dir string) (int64, io.Reader, error) {
	if r == nil {
		if size > 0 {
			return 0, nil, &clientError{err: io.ErrUnexpectedEOF}
		}
		return 0, nil, nil
	}
	s.src = chargedReader{r: r, s: s}
	limit := int64(chunkedMemLimit)
	if max > 0 && max < limit {
		limit = max
	}
	if size >= 0 && size < limit {
		limit = size
	}
	s.lim = io.LimitedReader{R: &s.src, N: limit + 1}
	n, err := s.mem.ReadFrom(&s.lim)
	if err != nil {
		return 0, nil, readFailed(err)
	}
	if n <= limit && (size < 0 || n == size) {
		s.br.Reset(s.mem.Bytes())
		return n, &s.br, nil
	}
	if n <= limit { // a sized body that ended early
		return 0, nil, &clientError{err: io.ErrUnexpectedEOF}
	}
	if max > 0 && n > max {
		return 0, nil, errBodyTooLarge
	}
	// Past the memory threshold: the rest goes into a file, through the memory buffer, which
	// is not needed for anything else now.
	f, err := os.CreateTemp(dir, "portico-body-*")
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	s.file = f
	_ = os.Remove(f.Name()) // unlinked at once: gone even if Portico dies
	s.fw = fileWriter{f: f}
	if _, err := s.fw.Write(s.mem.Bytes()); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	s.mem.Reset()
	buf := s.mem.AvailableBuffer()
	buf = buf[:cap(buf)]
	total := n
	for {
		want := int64(len(buf))
		if size >= 0 {
			want = min(want, size-total+1)
		} else if max > 0 {
			want = min(want, max-total+1)
		}
		m, rerr := s.src.Read(buf[:want])
		if m > 0 {
			total += int64(m)
			if (max > 0 && total > max) || (size >= 0 && total > size) {
				return 0, nil, errBodyTooLarge
			}
			if _, err := s.fw.Write(buf[:m]); err != nil {
				return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, nil, readFailed(rerr)
		}
	}
	if size >= 0 && total < size {
		return 0, nil, &clientError{err: io.ErrUnexpectedEOF}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	return total, f, nil
}

// readFailed tells a full spool (the quota's own errors) from a client whose body broke off.
func readFailed(err error) error {
	if errors.Is(err, errSpoolFull) || errors.Is(err, errClientSpoolFull) {
		return err
	}
	return &clientError{err: err}
}

// reset closes the file (the last reference to it: it was unlinked when made), gives the bytes
// held back to the quota and empties the buffer. A buffer grown past spoolKeep is dropped
// rather than kept in the pooled request state: idle request states must not pin large
// buffers after a burst of uploads.
func (s *spool) reset() {
	if s.mem.Cap() > spoolKeep {
		s.mem = bytes.Buffer{}
	}
	s.mem.Reset()
	s.br.Reset(nil)
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.fw = fileWriter{}
	if s.quota != nil {
		s.quota.release(s.client, s.held)
	}
	s.quota, s.held, s.src, s.lim = nil, 0, chargedReader{}, io.LimitedReader{}
}

// lingerTime bounds how long the rest of a request body is read and dropped after the app
// answered without reading it (nginx lingering_time).
const lingerTime = 30 * time.Second

// lingerDiscard reads and drops what the client still sends of a streamed body the app did
// not take, for up to lingerTime, and closes the connection after the response. Closing at
// once with unread data would make the kernel reset the connection, and the client would
// likely see the reset instead of the answer (nginx's lingering close, for the same reason).
func lingerDiscard(ctx *fasthttp.RequestCtx, streamed bool) {
	ctx.SetConnectionClose()
	if !streamed {
		return // a chunked body was read whole into the spool already
	}
	r := ctx.RequestBodyStream()
	c := ctx.Conn()
	if r == nil || c == nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, r)
}
