package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// The access log: Portico's log line (`access_log: true`, through the node's logger), or
// nginx's combined format or one JSON object per line, written to stdout, stderr or a file by
// a background writer (logSink): the request path only formats its line into a pooled buffer
// and appends it to the sink's backlog under a mutex.

// maxBacklog bounds the lines a sink holds while its file is slow (a full disk, a blocked
// pipe); past it lines are dropped, counted, and the count is logged once written again.
const maxBacklog = 4 << 20

// flushEvery is how long a line may wait in the backlog before it is written.
const flushEvery = 200 * time.Millisecond

// logSink is one access log destination, shared by the transports that name it.
type logSink struct {
	name string // "stdout", "stderr" or an absolute path
	log  *slog.Logger

	mu      sync.Mutex
	backlog []byte
	dropped int
	f       *os.File

	wake   chan struct{} // the backlog passed half of maxBacklog
	reopen chan chan error
	stop   chan struct{}
	done   chan struct{}
}

func openSink(name string, log *slog.Logger) (*logSink, error) {
	if log == nil {
		log = slog.Default()
	}
	k := &logSink{name: name, log: log, wake: make(chan struct{}, 1), reopen: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{})}
	f, err := k.open()
	if err != nil {
		return nil, err
	}
	k.f = f
	go k.run()
	return k, nil
}

func (k *logSink) open() (*os.File, error) {
	switch k.name {
	case "stdout":
		return os.Stdout, nil
	case "stderr":
		return os.Stderr, nil
	}
	f, err := os.OpenFile(k.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access_log_file: %w", err)
	}
	return f, nil
}

// add queues one line.
func (k *logSink) add(line []byte) {
	k.mu.Lock()
	if len(k.backlog)+len(line) > maxBacklog {
		k.dropped++
		k.mu.Unlock()
		return
	}
	k.backlog = append(k.backlog, line...)
	full := len(k.backlog) > maxBacklog/2
	k.mu.Unlock()
	if full {
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
}

// run writes the backlog every flushEvery, sooner when it fills, and reopens the file when
// asked; it swaps two buffers so that add never waits for a write.
func (k *logSink) run() {
	defer close(k.done)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	var spare []byte
	flush := func() {
		k.mu.Lock()
		out, dropped := k.backlog, k.dropped
		k.backlog, k.dropped = spare[:0], 0
		k.mu.Unlock()
		if len(out) > 0 {
			if _, err := k.f.Write(out); err != nil {
				k.log.Warn("access log: write failed", "file", k.name, "error", err)
			}
		}
		if dropped > 0 {
			k.log.Warn("access log: lines dropped, the file did not keep up", "file", k.name, "dropped", dropped)
		}
		spare = out
	}
	for {
		select {
		case <-tick.C:
			flush()
		case <-k.wake:
			flush()
		case reply := <-k.reopen:
			flush()
			f, err := k.open()
			if err == nil {
				if k.f != os.Stdout && k.f != os.Stderr {
					k.f.Close()
				}
				k.f = f
			}
			reply <- err
		case <-k.stop:
			flush()
			if k.f != os.Stdout && k.f != os.Stderr {
				k.f.Close()
			}
			return
		}
	}
}

// Reopen writes what is pending to the old file and opens the file again by its name (after
// logrotate renamed it); on error the old file stays in use.
func (k *logSink) Reopen() error {
	reply := make(chan error)
	select {
	case k.reopen <- reply:
		return <-reply
	case <-k.done:
		return nil
	}
}

func (k *logSink) close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

// sinkFor returns the sink of name, opening it on first use.
func (g *Gateway) sinkFor(name string) (*logSink, error) {
	g.sinkMu.Lock()
	defer g.sinkMu.Unlock()
	if name == "" {
		name = "stderr"
	}
	if k := g.sinks[name]; k != nil {
		return k, nil
	}
	k, err := openSink(name, g.log)
	if err != nil {
		return nil, err
	}
	if g.sinks == nil {
		g.sinks = map[string]*logSink{}
	}
	g.sinks[name] = k
	return k, nil
}

// ReopenLogs reopens every access log file (SIGUSR1, after logrotate moved them).
func (g *Gateway) ReopenLogs() error {
	g.sinkMu.Lock()
	sinks := make([]*logSink, 0, len(g.sinks))
	for _, k := range g.sinks {
		sinks = append(sinks, k)
	}
	g.sinkMu.Unlock()
	var errs []error
	for _, k := range sinks {
		if err := k.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *Gateway) closeSinks() {
	g.sinkMu.Lock()
	defer g.sinkMu.Unlock()
	for name, k := range g.sinks {
		k.close()
		delete(g.sinks, name)
	}
}

// accessLog is a transport's access log settings.
type accessLog struct {
	format string   // "" (the log line), "combined" or "json"
	sink   *logSink // for combined and json
}

var lineBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// logAccess writes the access log entry of a finished request; svc names the service ("" for
// requests answered before one was found).
func (s *server) logAccess(ctx *fasthttp.RequestCtx, tab *pathTable, rq *request, svc string) {
	al := tab.access
	if al == nil {
		return
	}
	if al.format == "" {
		attrs := []any{"method", string(ctx.Method()), "uri", string(ctx.RequestURI()),
			"status", ctx.Response.StatusCode(), "remote", ctx.RemoteAddr().String(), "service", svc}
		// Behind trusted_proxies, the client the app saw as REMOTE_ADDR (nginx logs it as
		// $remote_addr, the proxy as $realip_remote_addr).
		if a, _, fwd := tab.ip.client(addrPort(ctx.RemoteAddr()), &ctx.Request.Header); fwd {
			attrs = append(attrs, "client", a.String())
		}
		if len(rq.requestID) > 0 {
			attrs = append(attrs, "request_id", string(rq.requestID))
		}
		s.g.log.Info("access", attrs...)
		return
	}
	bp := lineBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	client, _, _ := tab.ip.client(addrPort(ctx.RemoteAddr()), &ctx.Request.Header)
	h := &ctx.Request.Header
	if al.format == "json" {
		b = appendJSONLine(b, ctx, rq, client)
	} else {
		b = appendCombined(b, ctx, client, h)
	}
	al.sink.add(b)
	*bp = b
	lineBufPool.Put(bp)
}

// timeCache formats a time to the second once per second, as nginx caches its log times:
// time.AppendFormat was a third of a JSON line's cost.
type timeCache struct {
	layout string
	millis bool // the layout ends in seconds, and ".000" and the zone follow
	last   atomic.Pointer[cachedTime]
}

type cachedTime struct {
	sec        int64
	head, zone []byte // up to the seconds, and the zone after them (millis layouts)
}

var (
	combinedTime = &timeCache{layout: "02/Jan/2006:15:04:05 -0700"}
	jsonTime     = &timeCache{layout: "2006-01-02T15:04:05", millis: true}
)

func (c *timeCache) append(b []byte, t time.Time) []byte {
	sec := t.Unix()
	ct := c.last.Load()
	if ct == nil || ct.sec != sec {
		ct = &cachedTime{sec: sec, head: t.AppendFormat(nil, c.layout)}
		if c.millis {
			ct.zone = t.AppendFormat(nil, "Z07:00")
		}
		c.last.Store(ct)
	}
	b = append(b, ct.head...)
	if c.millis {
		ms := t.Nanosecond() / 1e6
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		b = append(b, ct.zone...)
	}
	return b
}

// bodyBytes is the response body size sent (nginx $body_bytes_sent): the body, or the length
// of a streamed one (0 when unknown).
func bodyBytes(ctx *fasthttp.RequestCtx) int {
	if ctx.Response.SkipBody {
		return 0
	}
	if !ctx.Response.IsBodyStream() {
		return len(ctx.Response.Body())
	}
	if n := ctx.Response.Header.ContentLength(); n > 0 {
		return n
	}
	return 0
}

// appendCombined appends nginx's combined format:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// with nginx's default escaping: `"`, `\` and bytes outside printable ASCII as \xHH.
func appendCombined(b []byte, ctx *fasthttp.RequestCtx, client netip.Addr, h *fasthttp.RequestHeader) []byte {
	b = client.Unmap().AppendTo(b)
	b = append(b, " - - ["...)
	b = combinedTime.append(b, ctx.Time())
	b = append(b, `] "`...)
	b = appendNginxEscaped(b, ctx.Method())
	b = append(b, ' ')
	b = appendNginxEscaped(b, h.RequestURI())
	b = append(b, ' ')
	b = appendNginxEscaped(b, h.Protocol())
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(bodyBytes(ctx)), 10)
	b = append(b, ` "`...)
	b = appendNginxEscapedOr(b, h.Referer())
	b = append(b, `" "`...)
	b = appendNginxEscapedOr(b, h.UserAgent())
	return append(b, "\"\n"...)
}

func appendNginxEscapedOr(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return appendNginxEscaped(b, v)
}

const hexDigits = "0123456789abcdef"

func appendNginxEscaped(b, v []byte) []byte {
	for _, c := range v {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSONLine appends one JSON object and a newline: time (RFC 3339, milliseconds),
// remote, method, uri, status, bytes, duration and upstream_time (seconds; upstream_time null
// when no upstream answered), host, user_agent, referer and request_id (null when absent).
func appendJSONLine(b []byte, ctx *fasthttp.RequestCtx, rq *request, client netip.Addr) []byte {
	h := &ctx.Request.Header
	b = append(b, `{"time":"`...)
	t := ctx.Time()
	b = jsonTime.append(b, t)
	b = append(b, `","remote":"`...)
	b = client.Unmap().AppendTo(b)
	b = append(b, `","method":`...)
	b = appendJSONString(b, ctx.Method())
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, h.RequestURI())
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(bodyBytes(ctx)), 10)
	b = append(b, `,"duration":`...)
	var d time.Duration
	if t := ctx.Time(); !t.IsZero() {
		d = time.Since(t)
	}
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	b = append(b, `,"upstream_time":`...)
	if rq.upstreamTime > 0 {
		b = strconv.AppendFloat(b, rq.upstreamTime.Seconds(), 'f', 6, 64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"host":`...)
	b = appendJSONString(b, rq.host)
	b = append(b, `,"user_agent":`...)
	b = appendJSONOrNull(b, h.UserAgent())
	b = append(b, `,"referer":`...)
	b = appendJSONOrNull(b, h.Referer())
	b = append(b, `,"request_id":`...)
	b = appendJSONOrNull(b, rq.requestID)
	return append(b, "}\n"...)
}

func appendJSONOrNull(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return appendJSONString(b, v)
}

// appendJSONString appends v as a JSON string (RFC 8259 section 7): quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b, v []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, v[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// maxRequestID bounds a request ID taken from the client; a longer one, or one with bytes
// outside visible ASCII, is replaced by Portico's own.
const maxRequestID = 128

// requestID takes the request's ID from header name, or makes one (32 hex digits, 128 random
// bits) and sets the header, so that the app receives it with the other headers.
func requestID(h *fasthttp.RequestHeader, name string, rq *request) {
	if id := h.Peek(name); len(id) > 0 && len(id) <= maxRequestID && visibleASCII(id) {
		rq.requestID = append(rq.requestID[:0], id...)
		return
	}
	id := rq.requestID[:0]
	for range 2 {
		x := rand.Uint64()
		for range 8 {
			id = append(id, hexDigits[x>>4&15], hexDigits[x&15])
			x >>= 8
		}
	}
	rq.requestID = id
	h.SetBytesV(name, id)
}

func visibleASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
