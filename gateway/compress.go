package gateway

import (
	"bytes"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/fasthttp"

	"portico/config"
)

// Response compression (the transport option `compression`): nginx's gzip filter, plus the
// brotli and zstd encodings, and nginx's gzip_static for static paths.
//
// A response is compressed when all of these hold, much as nginx's ngx_http_gzip_filter_module
// decides (README "Compression" lists where it differs): the request is not HEAD and is HTTP/1.1 (nginx gzip_http_version 1.1: an HTTP/1.0
// client cannot take a chunked stream and its proxies may cache one variant for all); the
// status is not 1xx, 204, 206 or 304; the response has no Content-Encoding and no
// Content-Range, no Cache-Control: no-transform (RFC 9110 section 7.7), a Content-Type listed
// in `types` and not text/event-stream, and a Content-Length of at least `min_length` or none
// at all. Such a response gets Vary: Accept-Encoding whatever the client accepts, so that a
// cache keeps the variants apart; the encoding is then negotiated (acceptEncoding).
//
// Server-sent events are never compressed: a compressor holds bytes back until it is flushed,
// and a browser's EventSource would see events late or never if a flush were missed; they are
// small and mostly headers-free anyway.

// compression is one transport's compression settings, ready for the request path.
type compression struct {
	enabled codings // what the config turned on
	min     int64
	types   []string // lower-case; "*", "type/*" or exact
	level   int
}

func newCompression(c *config.Compression) *compression {
	if c == nil || !c.Enabled() {
		return nil
	}
	z := &compression{min: c.MinLength, level: c.Level}
	if c.Gzip {
		z.enabled |= 1 << codingGzip
	}
	if c.Brotli {
		z.enabled |= 1 << codingBrotli
	}
	if c.Zstd {
		z.enabled |= 1 << codingZstd
	}
	if z.level < 1 || z.level > 9 {
		z.level = 1
	}
	for _, t := range c.Types {
		z.types = append(z.types, strings.ToLower(t))
	}
	return z
}

// coding is a content coding Portico produces (RFC 9110 section 8.4.1).
type coding uint8

const (
	codingIdentity coding = iota
	codingGzip
	codingBrotli
	codingZstd
	numCodings
)

// codings is a set of codings, one bit each.
type codings uint8

func (c coding) token() string {
	switch c {
	case codingGzip:
		return "gzip"
	case codingBrotli:
		return "br"
	case codingZstd:
		return "zstd"
	}
	return "identity"
}

// suffix is the file name suffix of a precompressed file (gzip_static; the brotli and zstd
// modules and most build tools use the same ones).
func (c coding) suffix() string {
	switch c {
	case codingGzip:
		return ".gz"
	case codingBrotli:
		return ".br"
	case codingZstd:
		return ".zst"
	}
	return ""
}

// preference orders codings the client weighs alike, best first. zstd first: at the fast
// levels a proxy can afford per request it compresses text as well as gzip at its default
// level for a fraction of the CPU, and decodes fastest (RFC 8878; browsers send it since
// 2024). br next: smaller than gzip at every level. gzip last: understood by everyone.
var preference = [...]coding{codingZstd, codingBrotli, codingGzip}

// acceptEncoding parses an Accept-Encoding value (RFC 9110 section 12.5.3) and returns the
// weight, in thousandths, that it gives each coding Portico produces (0: not acceptable).
// `*` weighs every coding not named; x-gzip is gzip (section 8.4.1.3). A malformed element is
// ignored. An absent header means identity only here (the RFC allows any coding, but clients
// that send none, such as curl without --compressed, expect none).
func acceptEncoding(h []byte) (q [numCodings]int) {
	star := -1
	named := [numCodings]bool{}
	for len(h) > 0 {
		var elem []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			elem, h = h[:i], h[i+1:]
		} else {
			elem, h = h, nil
		}
		name := elem
		params := []byte(nil)
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			name, params = elem[:i], elem[i+1:]
		}
		name = trimOWS(name)
		if len(name) == 0 {
			continue
		}
		w, ok := qvalue(params)
		if !ok {
			continue
		}
		var c coding
		switch {
		case asciiEqualFold(name, "gzip"), asciiEqualFold(name, "x-gzip"):
			c = codingGzip
		case asciiEqualFold(name, "br"):
			c = codingBrotli
		case asciiEqualFold(name, "zstd"):
			c = codingZstd
		case asciiEqualFold(name, "identity"):
			c = codingIdentity
		case len(name) == 1 && name[0] == '*':
			star = w
			continue
		default:
			continue
		}
		// The same coding named twice: the larger weight wins.
		if !named[c] || w > q[c] {
			q[c] = w
		}
		named[c] = true
	}
	for c := range numCodings {
		if !named[c] {
			q[c] = max(star, 0)
		}
	}
	if !named[codingIdentity] && star < 0 {
		q[codingIdentity] = 1 // identity is acceptable unless refused (section 12.5.3)
	}
	return q
}

// qvalue reads the weight from an element's parameters ("q=0.5", RFC 9110 section 12.4.2);
// no q is 1000. Other parameters are skipped.
func qvalue(params []byte) (int, bool) {
	w := 1000
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = trimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
			return 0, false
		}
		n := int(v[0]-'0') * 1000
		if len(v) > 1 {
			if v[1] != '.' {
				return 0, false
			}
			scale := 100
			for _, d := range v[2:] {
				if d < '0' || d > '9' {
					return 0, false
				}
				n += int(d-'0') * scale
				scale /= 10
			}
		}
		if n > 1000 {
			return 0, false
		}
		w = n
	}
	return w, true
}

// choose returns the coding to send among those enabled, or identity.
func choose(q [numCodings]int, enabled codings) coding {
	best, bestQ := codingIdentity, 0
	for _, c := range preference {
		if enabled&(1<<c) != 0 && q[c] > bestQ {
			best, bestQ = c, q[c]
		}
	}
	return best
}

// eligible reports whether the response may be compressed at all (see the top of this file);
// n is its body length, -1 when unknown.
func (z *compression) eligible(ctx *fasthttp.RequestCtx, n int64) bool {
	if z == nil || ctx.IsHead() || !ctx.Request.Header.IsHTTP11() {
		return false
	}
	switch st := ctx.Response.StatusCode(); {
	case st < 200, st == 204, st == 206, st == 304:
		return false
	}
	h := &ctx.Response.Header
	if len(h.ContentEncoding()) > 0 || len(h.Peek("Content-Range")) > 0 {
		return false
	}
	for _, cc := range h.PeekAll("Cache-Control") {
		if containsFold(cc, "no-transform") {
			return false
		}
	}
	if n >= 0 && n < z.min {
		return false
	}
	return z.typeListed(h.ContentType())
}

// containsFold reports whether s occurs in b, ASCII case-insensitively.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func (z *compression) typeListed(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimOWS(ct)
	if len(ct) == 0 || asciiEqualFold(ct, "text/event-stream") {
		return false
	}
	for _, t := range z.types {
		switch {
		case t == "*":
			return true
		case strings.HasSuffix(t, "/*"):
			if len(ct) >= len(t)-1 && asciiEqualFold(ct[:len(t)-1], t[:len(t)-1]) {
				return true
			}
		case asciiEqualFold(ct, t):
			return true
		}
	}
	return false
}

// decide is for a response whose head is complete: it adds Vary when the response is
// eligible, and returns the coding to send (identity when the client accepts none enabled).
func (z *compression) decide(ctx *fasthttp.RequestCtx, n int64) coding {
	if !z.eligible(ctx, n) {
		return codingIdentity
	}
	addVary(&ctx.Response.Header)
	return choose(clientAccepts(&ctx.Request.Header), z.enabled)
}

// clientAccepts weighs the codings of every Accept-Encoding line of the request, taken as one
// list (RFC 9110 section 5.3).
func clientAccepts(h *fasthttp.RequestHeader) [numCodings]int {
	vals := h.PeekAll("Accept-Encoding")
	switch len(vals) {
	case 0:
		return acceptEncoding(nil)
	case 1:
		return acceptEncoding(vals[0])
	}
	var buf [256]byte
	joined := buf[:0]
	for i, v := range vals {
		if i > 0 {
			joined = append(joined, ',')
		}
		joined = append(joined, v...)
	}
	return acceptEncoding(joined)
}

// apply sets the headers of a response sent in coding c.
func apply(ctx *fasthttp.RequestCtx, c coding) {
	h := &ctx.Response.Header
	h.SetContentEncoding(c.token())
	// The bytes differ from the identity ones, so a strong validator would be false (RFC
	// 9110 section 8.8.1); nginx makes it weak likewise (ngx_http_weak_etag).
	if et := h.Peek("ETag"); len(et) > 0 && !bytes.HasPrefix(et, []byte("W/")) {
		h.Set("ETag", "W/"+string(et))
	}
	// Byte ranges of the compressed stream are not offered (as nginx's gzip filter).
	h.Del("Accept-Ranges")
}

// addVary adds Accept-Encoding to Vary unless it is listed already (or Vary is "*").
func addVary(h *fasthttp.ResponseHeader) {
	for _, v := range h.PeekAll("Vary") {
		if tokenListed(v, []byte("Accept-Encoding")) || tokenListed(v, []byte("*")) {
			return
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

// setBodyStream is ctx.SetBodyStream for services: it compresses the stream on the way out
// when the transport's compression applies. n is the body length, -1 when unknown.
func setBodyStream(ctx *fasthttp.RequestCtx, rq *request, r io.Reader, n int) {
	c := rq.compress.decide(ctx, int64(n))
	if c == codingIdentity || !acquireStream() {
		ctx.SetBodyStream(r, n)
		return
	}
	apply(ctx, c)
	ctx.SetBodyStream(newCompressedBody(r, c, rq.compress.level), -1)
}

// maxCompressedStreams bounds the compressed streams in flight in the process. A stream holds
// its encoder until the client has read the whole body, and a slow client takes as long as
// write_timeout allows per write; at level 1 an encoder holds 0.8 MiB (gzip) to 1.5 MiB (zstd),
// up to 5.5 MiB at the higher levels, so 128 of them stay within about 200 MiB at level 1.
// Past the bound a stream is sent uncompressed (still with Vary), which costs bytes, never
// memory; responses held in memory are compressed at once and are not counted.
const maxCompressedStreams = 128

var compressedStreams atomic.Int64

func acquireStream() bool {
	if compressedStreams.Add(1) > maxCompressedStreams {
		compressedStreams.Add(-1)
		return false
	}
	return true
}

// compressBody compresses a response body held in memory (json services, small wsgi
// responses, listings); streams were handled by setBodyStream.
func compressBody(ctx *fasthttp.RequestCtx, rq *request) {
	resp := &ctx.Response
	if rq.compress == nil || resp.IsBodyStream() || ctx.Hijacked() {
		return
	}
	body := resp.Body()
	c := rq.compress.decide(ctx, int64(len(body)))
	if c == codingIdentity {
		return
	}
	apply(ctx, c)
	out := compressedBufPool.Get().(*bytes.Buffer)
	out.Reset()
	enc := acquireEncoder(c, rq.compress.level, out)
	_, _ = enc.Write(body)
	_ = enc.Close()
	releaseEncoder(c, rq.compress.level, enc)
	old := resp.SwapBody(out.Bytes())
	if cap(old) > maxPooledBody {
		// A large body's buffer is left to the collector, not kept for every later response.
		old = nil
	}
	*out = *bytes.NewBuffer(old[:0])
	compressedBufPool.Put(out)
}

// maxPooledBody bounds the buffers kept in compressedBufPool.
const maxPooledBody = 1 << 20

var compressedBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encoder is what the three codecs have in common.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

type zstdEncoder struct{ *zstd.Encoder }

func (z zstdEncoder) Reset(w io.Writer) { z.Encoder.Reset(w) }

// encoderPools keep encoders per coding and level: each holds its window and tables (from
// about 300 KiB for gzip to a few MiB for brotli), too much to make per response.
var encoderPools [numCodings][10]sync.Pool

// Window sizes bound the memory of one stream: brotli's 512 KiB is the nginx brotli module's
// default (brotli_window), zstd's 1 MiB is well under the 8 MiB a browser accepts (RFC 9659
// section 3).
const (
	brotliLGWin    = 19
	zstdWindowSize = 1 << 20
)

// maxBrotliQuality caps brotli's quality: from 7 up an encoder takes 10 to 34 MiB, for a few
// percent; 6 is the nginx brotli module's default (brotli_comp_level) and takes 4 MiB.
const maxBrotliQuality = 6

func acquireEncoder(c coding, level int, w io.Writer) encoder {
	if e, ok := encoderPools[c][level].Get().(encoder); ok {
		e.Reset(w)
		return e
	}
	var e encoder
	switch c {
	case codingGzip:
		g, _ := gzip.NewWriterLevel(w, level) // level is in 1..9
		e = g
	case codingBrotli:
		b, _ := brotli.NewWriterOptions(w, min(level, maxBrotliQuality), brotli.WriterOptions{LGWin: brotliLGWin})
		e = b
	case codingZstd:
		z, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindowSize), zstd.WithLowerEncoderMem(true))
		e = zstdEncoder{z}
	}
	e.Reset(w) // a brotli writer keeps its tables across Close only once it was reset
	return e
}

func releaseEncoder(c coding, level int, e encoder) {
	e.Reset(nil)
	encoderPools[c][level].Put(e)
}

// compressedBody compresses a response stream. Each read from the source is compressed and
// flushed at once, so that a streamed response (chunked or close-delimited from uwsgi) still
// reaches the client piece by piece; fasthttp sends each piece as one chunk.
type compressedBody struct {
	src   io.Reader
	c     coding
	level int
	enc   encoder
	out   bytes.Buffer // compressed bytes not yet handed on
	in    *[]byte
	eof   bool
}

func newCompressedBody(src io.Reader, c coding, level int) *compressedBody {
	b := &compressedBody{src: src, c: c, level: level, in: copyBufPool.Get().(*[]byte)}
	b.enc = acquireEncoder(c, level, &b.out)
	return b
}

// fill reads once from the source and compresses what came.
func (b *compressedBody) fill() error {
	n, err := b.src.Read(*b.in)
	if n > 0 {
		if _, werr := b.enc.Write((*b.in)[:n]); werr != nil {
			return werr
		}
		if werr := b.enc.Flush(); werr != nil {
			return werr
		}
	}
	if err == io.EOF {
		b.eof = true
		return b.enc.Close()
	}
	return err
}

func (b *compressedBody) Read(p []byte) (int, error) {
	for b.out.Len() == 0 {
		if b.eof {
			return 0, io.EOF
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	return b.out.Read(p)
}

// WriteTo hands fasthttp the compressed bytes of one source read at a time.
func (b *compressedBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if b.out.Len() == 0 && b.eof {
			return total, nil
		}
		err := b.fill()
		if b.out.Len() > 0 {
			m, werr := w.Write(b.out.Bytes())
			total += int64(m)
			b.out.Reset()
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			return total, err
		}
	}
}

// SupportsBodyWriteTo: WriteTo yields what Read would.
func (b *compressedBody) SupportsBodyWriteTo() bool { return true }

// Close closes the source (an upstream connection, a file) and gives the encoder back.
func (b *compressedBody) Close() error {
	var err error
	if c, ok := b.src.(io.Closer); ok {
		err = c.Close()
	}
	if b.enc != nil {
		releaseEncoder(b.c, b.level, b.enc)
		b.enc = nil
	}
	if b.in != nil {
		copyBufPool.Put(b.in)
		b.in = nil
		compressedStreams.Add(-1)
	}
	return err
}

// precompressed serves a file's precompressed sibling (name.zst, name.br, name.gz) when the
// client accepts its coding (nginx gzip_static on, and the brotli module's brotli_static).
// The Content-Type stays the original's (set before); Last-Modified and ETag follow from the
// sibling, so that each encoding has its own validator. A range request gets the original.
func (s *staticService) precompressed(ctx *fasthttp.RequestCtx, rq *request, rel string, f *os.File, fi os.FileInfo) (*os.File, os.FileInfo) {
	z := rq.compress
	if z == nil || len(ctx.Request.Header.Peek("Range")) > 0 {
		return f, fi
	}
	q := clientAccepts(&ctx.Request.Header)
	best, bestQ, found := codingIdentity, 0, false
	for _, c := range preference {
		if z.enabled&(1<<c) == 0 {
			continue
		}
		if sfi, err := s.statRel(rel + c.suffix()); err != nil || !sfi.Mode().IsRegular() {
			continue
		}
		found = true // Vary is due even to a client that gets the original
		if q[c] > bestQ {
			best, bestQ = c, q[c]
		}
	}
	if !found {
		return f, fi
	}
	addVary(&ctx.Response.Header)
	if best == codingIdentity {
		return f, fi
	}
	sf, err := s.open(rel + best.suffix())
	if err != nil {
		return f, fi
	}
	sfi, err := sf.Stat()
	if err != nil || !sfi.Mode().IsRegular() {
		sf.Close()
		return f, fi
	}
	ctx.Response.Header.SetContentEncoding(best.token())
	f.Close()
	return sf, sfi
}

// statRel stats a path under the static directory as open would find it.
func (s *staticService) statRel(rel string) (os.FileInfo, error) {
	if s.symlinks {
		return os.Stat(path.Join(s.dir, rel))
	}
	root, err := s.openRoot()
	if err != nil {
		return nil, err
	}
	return root.Stat(rel)
}

var (
	_ fasthttp.BodyWriterTo = (*compressedBody)(nil)
	_ io.Closer             = (*compressedBody)(nil)
)
