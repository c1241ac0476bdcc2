package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// spool de-chunks a request body of unknown length so that uwsgi can be given CONTENT_LENGTH:
// up to chunkedMemLimit in memory, the rest in a temporary file that is removed in every
// outcome (reset is deferred by the caller).
type spool struct {
	mem  bytes.Buffer
	file *os.File
	fw   fileWriter
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

// spoolKeep is the largest spool buffer kept for the next chunked request: one that held a
// body up to the memory threshold (it may have doubled once past it).
const spoolKeep = 2*chunkedMemLimit + bytes.MinRead

// fill reads r to EOF. max > 0 bounds the body (errBodyTooLarge past it). It returns the body
// length and a reader over the whole body.
func (s *spool) fill(r io.Reader, max int64, dir string) (int64, io.Reader, error) {
	if r == nil {
		return 0, nil, nil
	}
	limit := int64(chunkedMemLimit)
	if max > 0 && max < limit {
		limit = max
	}
	n, err := s.mem.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return 0, nil, &clientError{err: err}
	}
	if n <= limit {
		return n, bytes.NewReader(s.mem.Bytes()), nil
	}
	if max > 0 && n > max {
		return 0, nil, errBodyTooLarge
	}
	// Past the memory threshold: continue into a file.
	f, err := os.CreateTemp(dir, "portico-body-*")
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	s.file = f
	_ = os.Remove(f.Name()) // unlinked at once: gone even if Portico dies
	if _, err := f.Write(s.mem.Bytes()); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	rest := r
	if max > 0 {
		rest = io.LimitReader(r, max-n+1)
	}
	s.fw = fileWriter{f: f}
	m, err := io.Copy(&s.fw, rest)
	if s.fw.err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, s.fw.err)
	}
	if err != nil {
		return 0, nil, &clientError{err: err}
	}
	total := n + m
	if max > 0 && total > max {
		return 0, nil, errBodyTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errSpool, err)
	}
	return total, f, nil
}

// reset closes the file (the last reference to it: it was unlinked when made) and empties the
// buffer. A buffer grown past spoolKeep is dropped rather than kept in the pooled request
// state: idle request states must not pin large buffers after a burst of chunked uploads.
func (s *spool) reset() {
	if s.mem.Cap() > spoolKeep {
		s.mem = bytes.Buffer{}
	}
	s.mem.Reset()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.fw = fileWriter{}
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
