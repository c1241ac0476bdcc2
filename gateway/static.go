package gateway

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// staticService serves files under one directory (Crossbar's `static` path service).
//
// Files are opened through os.Root, which refuses any path, symlinks included, that resolves
// outside the directory; with follow_symlinks the directory is joined the plain way (the
// request path is already normalised, so ".." cannot appear in it).
type staticService struct {
	where    string
	dir      string
	root     atomic.Pointer[os.Root] // nil while the directory does not exist
	listing  bool
	index    string
	cache    string // Cache-Control value, "" for none
	mimes    map[string]string
	symlinks bool
	writeTO  time.Duration
}

func newStaticService(svc *config.Service, writeTO time.Duration) (*staticService, error) {
	st := svc.Static
	s := &staticService{
		where: svc.Place, dir: st.Directory, listing: st.EnableDirectoryListing,
		index: st.DefaultFile, mimes: map[string]string{}, symlinks: st.FollowSymlinks, writeTO: writeTO,
	}
	// A directory that does not exist yet is served as 404 until it appears, as Crossbar
	// does (the config warns about it).
	if _, err := s.openRoot(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s.directory: %w", svc.Place, err)
	}
	if s.index == "" {
		s.index = "index.html"
	}
	if st.CacheTimeout != nil {
		if *st.CacheTimeout > 0 {
			s.cache = "public, max-age=" + strconv.Itoa(*st.CacheTimeout)
		} else {
			s.cache = "no-cache"
		}
	}
	for ext, typ := range st.MimeTypes {
		if !strings.HasPrefix(ext, ".") {
			ext = "." + ext
		}
		s.mimes[strings.ToLower(ext)] = typ
	}
	return s, nil
}

func (s *staticService) place() string { return s.where }

func (s *staticService) close() {
	if r := s.root.Swap(nil); r != nil {
		_ = r.Close()
	}
}

// openRoot returns the served directory, opening it the first time it exists.
func (s *staticService) openRoot() (*os.Root, error) {
	if r := s.root.Load(); r != nil {
		return r, nil
	}
	r, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, err
	}
	if !s.root.CompareAndSwap(nil, r) {
		r.Close() // another request opened it first
		return s.root.Load(), nil
	}
	return r, nil
}

// redirectSlash answers 301 to the request's path with a "/" added, query kept.
func redirectSlash(ctx *fasthttp.RequestCtx, rq *request) {
	loc := string(rq.path) + "/"
	if q := ctx.URI().QueryString(); len(q) > 0 {
		loc += "?" + string(q)
	}
	ctx.Response.Header.Set("Location", loc)
	ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
}

// open opens a regular file or a directory under the root; anything else (a FIFO, a socket,
// a device) is not found, as nginx answers (ngx_http_static_handler: "is not a regular file",
// 404). The type is checked before opening, and the open itself is non-blocking, as nginx's
// (ngx_open_file_wrapper, NGX_FILE_NONBLOCK): open(2) on a FIFO without a writer would
// otherwise hold an OS thread until one appears, one thread per request, until Go gives up at
// 10,000 threads. The opened file is checked again, in case the name was replaced between
// the two.
func (s *staticService) open(rel string) (*os.File, error) {
	if rel == "" {
		rel = "."
	}
	const flags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	var f *os.File
	var err error
	if s.symlinks {
		name := filepath.Join(s.dir, filepath.FromSlash(rel))
		var fi os.FileInfo
		if fi, err = os.Stat(name); err == nil {
			if !servable(fi) {
				return nil, errNotFound
			}
			f, err = os.OpenFile(name, flags, 0)
		}
	} else {
		var fi os.FileInfo
		var root *os.Root
		if root, err = s.openRoot(); err != nil {
			return nil, errNotFound
		}
		if fi, err = root.Stat(rel); err == nil {
			if !servable(fi) {
				return nil, errNotFound
			}
			f, err = root.OpenFile(rel, flags, 0)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// os.Root reports an escaping path or symlink as a plain error: not found for the client.
			return nil, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
		}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !servable(fi) {
		f.Close()
		return nil, errNotFound
	}
	return f, nil
}

// servable: a static path serves regular files and lists directories, nothing else.
func servable(fi os.FileInfo) bool { return fi.Mode().IsRegular() || fi.IsDir() }

func (s *staticService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	urlPath := string(rq.path[rq.mount:])
	rel := strings.TrimPrefix(urlPath, "/")
	f, err := s.open(rel)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(urlPath, "/") {
			// Relative links in the index need the trailing slash (as nginx and Twisted do).
			redirectSlash(ctx, rq)
			return nil
		}
		if f, err = s.open(path.Join(rel, s.index)); err == nil {
			if fi, err = f.Stat(); err == nil && !fi.IsDir() {
				return s.sendFile(ctx, rq, path.Join(rel, s.index), f, fi)
			}
			f.Close()
		}
		if s.listing {
			return s.list(ctx, rel, listingTitle(rq))
		}
		return errNotFound
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return errNotFound
	}
	return s.sendFile(ctx, rq, rel, f, fi)
}

func (s *staticService) contentType(name string) string { return contentType(name, s.mimes) }

// contentType is the type of a file by its last extension: the path's mime_types (keys
// lower-case), else the built-in table, else application/octet-stream.
func contentType(name string, mimes map[string]string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mimes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (s *staticService) sendFile(ctx *fasthttp.RequestCtx, rq *request, rel string, f *os.File, fi os.FileInfo) error {
	h := &ctx.Response.Header
	// The type is the requested file's, also when a precompressed sibling is sent.
	ctype := s.contentType(fi.Name())
	f, fi = s.precompressed(ctx, rq, rel, f, fi)
	mod := fi.ModTime().UTC().Truncate(time.Second)
	h.Set("Last-Modified", mod.Format(http.TimeFormat))
	// nginx's ETag (ngx_http_set_etag): mtime and size in hex, of the file sent, so that a
	// precompressed sibling has its own.
	etag := fmt.Sprintf("\"%x-%x\"", fi.ModTime().Unix(), fi.Size())
	h.Set("ETag", etag)
	if s.cache != "" {
		h.Set("Cache-Control", s.cache)
	}
	// If-Unmodified-Since and If-Match (RFC 9110 sections 13.1.4 and 13.1.1) are checked
	// first, and both when both are sent, as nginx's not-modified filter checks them: a
	// client that would overwrite or resume from another version of the file gets 412.
	if err := preconditions(&ctx.Request.Header, etag, mod); err != nil {
		f.Close()
		return err
	}
	// If-None-Match, when sent, decides instead of If-Modified-Since (RFC 9110 section 13.2.2).
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 {
		if etagListed(string(inm), etag) {
			f.Close()
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return nil
		}
	} else if ims := ctx.Request.Header.Peek("If-Modified-Since"); len(ims) > 0 {
		if t, err := http.ParseTime(string(ims)); err == nil && !mod.After(t) {
			f.Close()
			ctx.SetStatusCode(fasthttp.StatusNotModified)
			return nil
		}
	}
	// Content-Type and Accept-Ranges go with a body: a 304 has neither (as from nginx), and a
	// 206 does not announce ranges again (nginx's range filter drops it).
	h.SetContentType(ctype)
	size := fi.Size()
	outcome, ranges := rangesDeclined, []byteRange(nil)
	if rg := ctx.Request.Header.Peek("Range"); len(rg) > 0 && ifRangeHolds(ctx.Request.Header.Peek("If-Range"), etag, mod) {
		ranges, outcome = parseRanges(rg, size)
	}
	var body io.ReadCloser
	length := size
	switch {
	case outcome == rangesUnsatisfiable:
		f.Close()
		// An error answer: no validators of a body it does not carry (nginx's 416 has none).
		h.Del("ETag")
		h.Del("Last-Modified")
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
		return nil
	case outcome == rangesDeclined:
		h.Set("Accept-Ranges", "bytes")
		body = &limitedFile{f: f, n: size, client: ctx.Conn(), writeTO: s.writeTO}
	case len(ranges) == 1:
		r := ranges[0]
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", r.start, r.end-1, size))
		length = r.end - r.start
		if r.start > 0 && !ctx.IsHead() {
			if _, err := f.Seek(r.start, io.SeekStart); err != nil {
				f.Close()
				return err
			}
		}
		body = &limitedFile{f: f, n: length, client: ctx.Conn(), writeTO: s.writeTO}
	default:
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		mb := newMultipartRanges(f, ranges, ctype, size, ctx.Conn(), s.writeTO)
		h.SetContentType("multipart/byteranges; boundary=" + mb.boundary)
		body, length = mb, mb.length()
	}
	if ctx.IsHead() {
		body.Close()
		h.SetContentLength(int(length))
		ctx.Response.SkipBody = true
		return nil
	}
	setBodyStream(ctx, rq, body, int(length))
	return nil
}

// preconditions is errPrecondition when If-Unmodified-Since names a time before the file's
// Last-Modified (or is not a date), or If-Match lists neither "*" nor the file's ETag, compared
// strongly (a W/ tag never matches), as nginx's ngx_http_test_if_unmodified and
// ngx_http_test_if_match decide.
func preconditions(h *fasthttp.RequestHeader, etag string, mod time.Time) error {
	if ius := h.Peek("If-Unmodified-Since"); len(ius) > 0 {
		if t, err := http.ParseTime(string(ius)); err != nil || t.Unix() < mod.Unix() {
			return errPrecondition
		}
	}
	if im := h.Peek("If-Match"); len(im) > 0 && string(im) != "*" {
		for t := range strings.SplitSeq(string(im), ",") {
			if strings.Trim(t, " \t") == etag {
				return nil
			}
		}
		return errPrecondition
	}
	return nil
}

// etagListed compares an If-None-Match list with etag weakly (RFC 9110 section 8.8.3.2): a
// weak W/"x" from a compressed answer matches "x".
func etagListed(list, etag string) bool {
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func (s *staticService) list(ctx *fasthttp.RequestCtx, rel, title string) error {
	var entries []fs.DirEntry
	var err error
	rel = strings.TrimSuffix(rel, "/")
	if rel == "" {
		rel = "."
	}
	if s.symlinks {
		entries, err = os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(rel)))
	} else {
		root, rerr := s.openRoot()
		if rerr != nil {
			return errNotFound
		}
		entries, err = fs.ReadDir(root.FS(), rel)
	}
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, "<!DOCTYPE html>\n<html><head><title>%s</title></head><body><h1>%s</h1><ul>\n",
		htmlEscape(title), htmlEscape(title))
	for _, n := range names {
		fmt.Fprintf(ctx, "<li><a href=\"%s\">%s</a></li>\n", htmlEscape(pathEscape(n)), htmlEscape(n))
	}
	fmt.Fprint(ctx, "</ul></body></html>\n")
	return nil
}

// listingTitle is the title of a directory listing: Twisted's (twisted/web/static.py
// DirectoryLister.render, which Crossbar's static service uses), "Directory listing for " and
// the request URI as the client sent it, percent-decoded: the full path, whatever path the
// service is mounted at, and the query.
func listingTitle(rq *request) string {
	uri := string(rq.requestURI)
	if u, err := url.PathUnescape(uri); err == nil {
		uri = u
	}
	return "Directory listing for " + uri
}

func pathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c <= ' ' || c == '%' || c == '?' || c == '#' || c == '"' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

var _ service = (*staticService)(nil)
