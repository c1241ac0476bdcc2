package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"portico/uwsgiproto"
)

// Response buffering (nginx's uwsgi_buffering, on by default there too): a response body is
// read from uwsgi as fast as uwsgi writes it, into memory up to respMemLimit (nginx
// uwsgi_buffers 8 4k|8k, Portico 64 KiB as for request bodies) and past that into an unlinked
// file in the transport's spool_dir (nginx uwsgi_temp_path), while the client is sent what it
// takes at its own pace. The uwsgi connection and the upstream slot are released as soon as
// the app has written its last byte: a client that reads slowly, or not at all, holds its own
// connection and its bytes on disk, never a uwsgi worker. Without it, a handful of clients
// that ask for a large response and stop reading take every worker of the app.
//
// The file is bounded per response by max_temp_file_size (nginx uwsgi_max_temp_file_size,
// 1024m) and, with the request bodies being read, by the transport's max_spool_size and
// max_spool_per_client. The bounds count the bytes the client has not taken yet: what it has
// read is punched out of the file (fallocate PUNCH_HOLE) and given back to the spool bounds at
// once. Past any of them the rest of the response is read from uwsgi as the client takes it
// (nginx does the same past uwsgi_max_temp_file_size): the worker is held again, but neither
// the disk nor the memory grows. Waiting instead until the client had drained the whole file
// stopped reading uwsgi for that long, and uwsgi ends a write blocked for its socket-timeout
// (4 s): a response without a Content-Length then looked complete, cut short.
//
// A response streams as before, without a buffer, when the path sets buffering false, when the
// app sends X-Accel-Buffering: no (nginx honours it too), or when it is text/event-stream:
// server-sent events must reach the client one by one, and nginx users had to remember to add
// the header for them; Portico does not make them.

// respMemLimit is the in-memory part of a buffered response (see chunkedMemLimit for why
// 64 KiB).
const respMemLimit = 64 << 10

// respCopyBufPool holds the buffers fill reads uwsgi into and WriteTo sends the client from:
// 128 KiB, so that a response moving through the file does so in large reads and writes (at
// 32 KiB, a 1 GiB download took twice as long).
var respCopyBufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// respBuffer is a buffered response body: fill (its own goroutine) writes what uwsgi sends,
// fasthttp reads it for the client through Read/WriteTo and closes it when done. The bytes
// are a FIFO of mem[r:w] followed by the file's [fr, fw): fill puts bytes in mem only while
// the file holds none, so mem always holds the oldest.
type respBuffer struct {
	ub   *upstreamBody
	conn upstreamConn // ub's connection, closed by Close to stop fill early
	log  *slog.Logger

	mu        sync.Mutex
	cond      sync.Cond
	mem       []byte
	r, w      int
	file      *os.File
	fr, fw    int64
	fileBusy  bool  // fill writes to the file at fw, outside the lock
	fileMax   int64 // max_temp_file_size (or where the file failed)
	punched   int64 // the file is a hole up to here (what the client took, in whole blocks)
	noPunch   bool  // the file system cannot punch holes: bytes taken stay until it drains
	dir       string
	quota     *spoolQuota
	client    netip.Addr
	held      int64 // charged to quota for the file
	upDone    bool  // fill has finished and released the upstream
	upErr     error // why the upstream body ended early (nil: complete)
	closed    bool  // the client side is done
	clientC   net.Conn
	writeTO   time.Duration
	remaining int64 // what the client is still owed when the length is known, else -1
}

var respBufferPool = sync.Pool{New: func() any {
	b := &respBuffer{mem: make([]byte, respMemLimit)}
	b.cond.L = &b.mu
	return b
}}

// shouldBuffer applies the path's buffering and the app's say in it (X-Accel-Buffering, an
// event stream).
func shouldBuffer(pathDefault bool, head *uwsgiproto.ResponseHead) bool {
	on := pathDefault
	for _, hv := range head.Headers {
		switch {
		case asciiEqualFold(hv.Name, "X-Accel-Buffering"):
			// nginx ngx_http_upstream_process_buffering: "yes" or "no", any case.
			v := trimOWS(hv.Value)
			if asciiEqualFold(v, "no") {
				return false
			}
			if asciiEqualFold(v, "yes") {
				on = true
			}
		case asciiEqualFold(hv.Name, "Content-Type"):
			if isEventStream(hv.Value) {
				return false
			}
		}
	}
	return on
}

func isEventStream(ct []byte) bool {
	ct = trimOWS(ct)
	const es = "text/event-stream"
	if len(ct) < len(es) || !asciiEqualFold(ct[:len(es)], es) {
		return false
	}
	rest := trimOWS(ct[len(es):])
	return len(rest) == 0 || rest[0] == ';'
}

// bufferResponse starts reading ub's body into a respBuffer and returns it, for the client.
// length is the body's length, or -1.
func (s *wsgiService) bufferResponse(ub *upstreamBody, client netip.Addr, clientConn net.Conn, length int64) *respBuffer {
	b := respBufferPool.Get().(*respBuffer)
	b.ub, b.conn, b.log = ub, ub.conn, s.log
	b.r, b.w, b.fr, b.fw, b.punched, b.noPunch = 0, 0, 0, 0, 0, false
	b.fileMax, b.dir = s.maxTempFile, s.spoolDir
	b.quota, b.client, b.held = s.quota, client, 0
	b.upDone, b.upErr, b.closed = false, nil, false
	b.clientC, b.writeTO, b.remaining = clientConn, s.writeTO, length
	go b.fill()
	return b
}

// fill reads the upstream body to its end, then releases the upstream.
func (b *respBuffer) fill() {
	bp := respCopyBufPool.Get().(*[]byte)
	buf := *bp
	var upErr error
	for {
		n, err := b.ub.read(buf)
		if n > 0 && !b.put(buf[:n]) {
			break // the client is gone: nothing more is wanted from uwsgi
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			upErr = err
			break
		}
	}
	respCopyBufPool.Put(bp)
	u := b.ub.u
	b.mu.Lock()
	gone := b.closed
	b.mu.Unlock()
	if upErr != nil && !gone {
		u.failed(time.Now())
		b.log.LogAttrs(context.Background(), slog.LevelWarn, "upstream failed mid-response",
			slog.String("upstream", u.label), slog.String("cause", causeOf(upErr)), slog.String("error", upErr.Error()))
	}
	b.ub.Close() // the uwsgi connection and the slot go back now, whatever the client does
	b.mu.Lock()
	b.upDone, b.upErr, b.ub = true, upErr, nil
	b.cond.Broadcast()
	free := b.closed
	b.mu.Unlock()
	if free {
		b.free()
	}
}

// put appends p to the buffer, waiting while memory and file are full; false when the client
// side closed meanwhile.
func (b *respBuffer) put(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(p) > 0 {
		if b.closed {
			return false
		}
		if b.fr == b.fw {
			if b.w == len(b.mem) && b.r > 0 {
				b.w = copy(b.mem, b.mem[b.r:b.w])
				b.r = 0
			}
			if b.w < len(b.mem) {
				m := copy(b.mem[b.w:], p)
				b.w += m
				p = p[m:]
				b.cond.Broadcast()
				continue
			}
		}
		if k := b.fileRoom(int64(len(p))); k > 0 {
			off := b.fw
			b.fileBusy = true
			b.mu.Unlock()
			err := b.writeFile(p[:k], off)
			b.mu.Lock()
			b.fileBusy = false
			if err != nil {
				// A full disk: the rest streams at the client's pace, as past the bound.
				b.quota.release(b.client, k)
				b.held -= k
				b.fileMax = b.fileHeld()
				b.log.Warn("response temporary file failed: the rest of the response is sent at the client's pace",
					"spool_dir", b.dir, "error", err.Error())
				continue
			}
			b.fw += k
			p = p[k:]
			b.cond.Broadcast()
			continue
		}
		b.cond.Wait() // memory and file full: the client's pace
	}
	return true
}

// fileRoom charges and returns how many of n bytes the file may take now: up to
// max_temp_file_size and what the spool bounds leave, both counting what the file holds.
func (b *respBuffer) fileRoom(n int64) int64 {
	k := min(n, b.fileMax-b.fileHeld())
	for k > 0 {
		if b.quota.charge(b.client, k) == nil {
			b.held += k
			return k
		}
		if k <= 4<<10 {
			return 0
		}
		k /= 2
	}
	return 0
}

// fileHeld is what the file holds on disk: the bytes the client has not taken, and, where
// holes cannot be punched, those it took too.
func (b *respBuffer) fileHeld() int64 {
	if b.noPunch {
		return b.fw
	}
	return b.fw - b.punched
}

// FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE (linux/falloc.h): free the blocks of a range,
// leaving the file's size and the other offsets as they are.
const fallocPunchHole = 0x01 | 0x02

// punchTaken frees the whole blocks of the file that the client has taken and gives them back
// to the spool bounds. b.mu is held; fill writes only past fw, never below fr.
func (b *respBuffer) punchTaken() {
	const block = 64 << 10
	to := b.fr &^ (block - 1)
	if b.noPunch || to <= b.punched {
		return
	}
	if err := syscall.Fallocate(int(b.file.Fd()), fallocPunchHole, b.punched, to-b.punched); err != nil {
		b.noPunch = true // the whole file is given back when it drains
		return
	}
	b.quota.release(b.client, to-b.punched)
	b.held -= to - b.punched
	b.punched = to
	b.cond.Broadcast() // fill may be waiting for room
}

func (b *respBuffer) writeFile(p []byte, off int64) error {
	if b.file == nil {
		f, err := os.CreateTemp(b.dir, "portico-resp-*")
		if err != nil {
			return err
		}
		_ = os.Remove(f.Name()) // unlinked at once: gone even if Portico dies
		b.file = f
	}
	_, err := b.file.WriteAt(p, off)
	return err
}

// errRespSpool is a response temporary file that could not be read back: the client
// connection is cut, as for an upstream that fails mid-response.
var errRespSpool = errors.New("response temporary file")

func (b *respBuffer) Read(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if b.remaining > 0 && int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.take(p)
	if n > 0 {
		if b.remaining > 0 {
			b.remaining -= int64(n)
		}
		if b.writeTO > 0 && b.clientC != nil {
			// fasthttp writes what was read next: bound that write.
			_ = b.clientC.SetWriteDeadline(time.Now().Add(b.writeTO))
		}
	}
	return n, err
}

func (b *respBuffer) take(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.r < b.w {
			m := copy(p, b.mem[b.r:b.w])
			b.r += m
			if b.r == b.w {
				b.r, b.w = 0, 0
			}
			b.cond.Broadcast()
			return m, nil
		}
		if b.fr < b.fw {
			k, off := min(int64(len(p)), b.fw-b.fr), b.fr
			f := b.file
			b.mu.Unlock()
			m, err := f.ReadAt(p[:k], off)
			b.mu.Lock()
			b.fr += int64(m)
			if b.fr == b.fw && !b.fileBusy {
				// Drained: the file's blocks are given back, and memory is used again.
				if f.Truncate(0) == nil {
					b.quota.release(b.client, b.held)
					b.held, b.fr, b.fw, b.punched = 0, 0, 0, 0
				}
			} else {
				b.punchTaken()
			}
			b.cond.Broadcast()
			if m < int(k) {
				return m, errors.Join(errRespSpool, err)
			}
			return m, nil
		}
		if b.upDone {
			if b.upErr != nil {
				return 0, b.upErr
			}
			if b.remaining > 0 {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, io.EOF
		}
		b.cond.Wait()
	}
}

// WriteTo hands fasthttp what is buffered in writes of up to 128 KiB (see upstreamBody.WriteTo).
// The file part is copied, not sent with sendfile (sendfile.go): sendfile leaves references to
// the file's pages in the socket until they are transmitted, and the blocks the client has
// taken are punched out (punchTaken) or the file truncated for reuse before that, which the
// client then received as zeros.
func (b *respBuffer) WriteTo(w io.Writer) (int64, error) {
	bp := respCopyBufPool.Get().(*[]byte)
	defer respCopyBufPool.Put(bp)
	return copyReads(w, b, *bp)
}

// SupportsBodyWriteTo tells fasthttp that WriteTo yields exactly what Read would.
func (b *respBuffer) SupportsBodyWriteTo() bool { return true }

// Close is called by fasthttp once the body is sent, or the client is gone. A fill still
// running is stopped (nginx closes the upstream connection when the client aborts, unless
// uwsgi_ignore_client_abort); the last of the two frees the buffer.
func (b *respBuffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.cond.Broadcast()
	done, conn := b.upDone, b.conn
	b.mu.Unlock()
	if !done {
		// Unblocks fill's read; fill releases the slot and frees b. Closing a connection fill
		// has closed meanwhile does nothing (os.File and net.Conn close once).
		_ = conn.Close()
		return nil
	}
	b.free()
	return nil
}

func (b *respBuffer) free() {
	if b.file != nil {
		b.file.Close() // the last reference: it was unlinked when made
		b.file = nil
	}
	b.quota.release(b.client, b.held)
	b.held = 0
	b.conn, b.log, b.clientC, b.quota, b.upErr = nil, nil, nil, nil, nil
	respBufferPool.Put(b)
}

var _ io.ReadCloser = (*respBuffer)(nil)
