package gateway

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// errArchiveUnavailable: an archive path whose archive is being downloaded, or could not be.
var errArchiveUnavailable = errors.New("archive not available")

// Bounds of the download of an archive from its origin.
const (
	maxArchiveDownload     = 1 << 30 // bytes: a larger answer is refused, so that a wrong origin cannot fill the disk
	archiveDownloadTimeout = 10 * time.Minute
	// maxCachedMember: a larger member is streamed also with `cache` (memory is for the
	// many small files of a web app, not for one large download).
	maxCachedMember = 16 << 20
)

// archiveService serves the members of a ZIP archive (Crossbar's `archive` path service,
// crossbar/webservice/archive.py): the request path below the mount, after object_prefix,
// names a member. As from Crossbar: default_object is added to a path that is empty or ends in
// "/", options.default_file is served for a path that names no member, a member's type comes
// from its last extension, Range is not honoured (the whole member is sent, 200), and a name
// that is no member is 404. Portico adds an ETag (the member's CRC-32 and size) with
// If-None-Match, and redirects the mount itself ("/app") to "/app/" as a static directory does
// (Crossbar answers 405 there).
//
// The archive is opened once. Without `cache` each request streams the member out of it,
// inflating as it goes; with `cache` a member is inflated once and kept in memory.
type archiveService struct {
	where   string
	cfg     *config.Archive
	mimes   map[string]string
	writeTO time.Duration
	log     *slog.Logger

	state  atomic.Pointer[archiveState]
	cancel context.CancelFunc // ends a download in flight
	done   chan struct{}      // closed when no download runs
}

// archiveState is what an archive path serves: an open archive, or why there is none.
type archiveState struct {
	zip *openArchive // nil unless the archive is served
	// Without zip: downloading, or failed (the download or the archive it brought was
	// refused; the log says why); neither: the archive does not exist (404).
	downloading, failed bool
}

// openArchive is an open ZIP file. The service holds one reference and each member stream in
// flight another, so that a reload, which closes the service, lets the streams it started end.
type openArchive struct {
	f       *os.File
	refs    atomic.Int64
	members map[string]*zipMember
}

type zipMember struct {
	zf     *zip.File
	etag   string
	cached atomic.Pointer[[]byte] // the inflated member, with `cache`, once read
}

func newArchiveService(svc *config.Service, writeTO time.Duration, log *slog.Logger) (*archiveService, error) {
	a := svc.Archive
	s := &archiveService{where: svc.Place, cfg: a, mimes: map[string]string{}, writeTO: writeTO, log: log, done: make(chan struct{})}
	for ext, typ := range a.MimeTypes {
		s.mimes[strings.ToLower(ext)] = typ
	}
	f, err := os.Open(a.File)
	switch {
	case err == nil:
		oa, err := openZip(f, a.Hashes)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s.archive: %s: %w", svc.Place, a.File, err)
		}
		s.state.Store(&archiveState{zip: oa})
		close(s.done)
		log.Info("archive served", "archive", a.File, "members", len(oa.members), "verified", len(a.Hashes) > 0)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s.archive: %w", svc.Place, err)
	case a.Download && a.Origin != "":
		s.state.Store(&archiveState{downloading: true})
		ctx, cancel := context.WithTimeout(context.Background(), archiveDownloadTimeout)
		s.cancel = cancel
		go s.download(ctx)
	default:
		// The config warned: the path answers 404.
		s.state.Store(&archiveState{})
		close(s.done)
	}
	return s, nil
}

// openZip reads the central directory of f, after checking f against hashes (when there are
// any). The members are the archive's files; its directory entries are not served.
func openZip(f *os.File, hashes []string) (*openArchive, error) {
	if len(hashes) > 0 {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
			return nil, err
		}
		if sum := hex.EncodeToString(h.Sum(nil)); !slices.Contains(hashes, sum) {
			return nil, fmt.Errorf("its SHA-256 %s is none of the configured hashes", sum)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("not a ZIP archive: %w", err)
	}
	oa := &openArchive{f: f, members: make(map[string]*zipMember, len(zr.File))}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		// A name given twice is the last one, as Python's zipfile has it.
		oa.members[zf.Name] = &zipMember{zf: zf, etag: fmt.Sprintf("\"%08x-%x\"", zf.CRC32, zf.UncompressedSize64)}
	}
	oa.refs.Store(1)
	return oa, nil
}

// acquire takes a reference for a stream; false once the archive is closed.
func (oa *openArchive) acquire() bool {
	for {
		n := oa.refs.Load()
		if n == 0 {
			return false
		}
		if oa.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (oa *openArchive) release() {
	if oa.refs.Add(-1) == 0 {
		oa.f.Close()
	}
}

// download fetches the origin into the archive file: into a temporary file beside it, checked
// (status 200, size, hashes, ZIP) before it is renamed into place, so that a failed or refused
// download leaves nothing behind for the next start to trust.
func (s *archiveService) download(ctx context.Context) {
	defer close(s.done)
	defer s.cancel()
	start := time.Now()
	s.log.Info("archive: downloading", "origin", s.cfg.Origin, "archive", s.cfg.File)
	oa, err := fetchArchive(ctx, s.cfg)
	if err != nil {
		if ctx.Err() == context.Canceled {
			return // the service was closed (reload, stop)
		}
		s.log.Error("archive: download failed, the path answers 503", "origin", s.cfg.Origin, "archive", s.cfg.File, "error", err)
		s.state.Store(&archiveState{failed: true})
		return
	}
	s.log.Info("archive: downloaded and served", "origin", s.cfg.Origin, "archive", s.cfg.File, "members", len(oa.members), "took", time.Since(start).Round(time.Millisecond))
	s.state.Store(&archiveState{zip: oa})
}

func fetchArchive(ctx context.Context, a *config.Archive) (*openArchive, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Origin, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the origin answered %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.File), "."+filepath.Base(a.File)+".*.part")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxArchiveDownload+1))
	if err != nil {
		return nil, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n > maxArchiveDownload {
		return nil, fmt.Errorf("the archive is larger than %d bytes", int64(maxArchiveDownload))
	}
	oa, err := openZip(tmp, a.Hashes)
	if err != nil {
		return nil, fmt.Errorf("downloaded %d bytes: %w", n, err)
	}
	if err := os.Rename(tmp.Name(), a.File); err != nil {
		return nil, err
	}
	keep = true
	return oa, nil
}

func (s *archiveService) place() string { return s.where }

func (s *archiveService) close() {
	if s.cancel != nil {
		s.cancel()
	}
	<-s.done // the download stored its state, or never will
	if st := s.state.Swap(&archiveState{}); st != nil && st.zip != nil {
		st.zip.release()
	}
}

func (s *archiveService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	urlPath := rq.path[rq.mount:]
	if len(urlPath) == 0 {
		// The mount itself: relative links in its members need the trailing slash.
		redirectSlash(ctx, rq)
		return nil
	}
	st := s.state.Load()
	switch {
	case st.downloading:
		return &clientReason{errArchiveUnavailable, "the archive served here is being downloaded from its origin; try again shortly"}
	case st.failed:
		return &clientReason{errArchiveUnavailable, "the archive served here could not be downloaded from its origin (the server's log says why)"}
	case st.zip == nil:
		return errNotFound
	}
	m := s.member(st.zip, string(urlPath[1:]))
	if m == nil {
		return errNotFound
	}
	h := &ctx.Response.Header
	h.Set("ETag", m.etag)
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagListed(string(inm), m.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	h.SetContentType(contentType(m.zf.Name, s.mimes))
	size := int(m.zf.UncompressedSize64)
	if ctx.IsHead() {
		h.SetContentLength(size)
		ctx.Response.SkipBody = true
		return nil
	}
	cache := s.cfg.Cache && size <= maxCachedMember
	if b := m.cached.Load(); cache && b != nil {
		// Not copied: the cached bytes are never written to, and the compression of an
		// in-memory body reads them and swaps in its own buffer.
		ctx.Response.SetBodyRaw(*b)
		return nil
	}
	if !st.zip.acquire() {
		return errArchiveUnavailable // closed by a reload since the state was loaded
	}
	if cache {
		data, err := readMember(m.zf)
		st.zip.release()
		if err != nil {
			return fmt.Errorf("%s: member %s: %w", s.cfg.File, m.zf.Name, err)
		}
		m.cached.Store(&data)
		ctx.Response.SetBodyRaw(data)
		return nil
	}
	r, err := m.zf.Open()
	if err != nil {
		st.zip.release()
		return fmt.Errorf("%s: member %s: %w", s.cfg.File, m.zf.Name, err)
	}
	setBodyStream(ctx, rq, &memberStream{r: r, oa: st.zip, client: ctx.Conn(), writeTO: s.writeTO}, size)
	return nil
}

// member finds the member a request path names, as Crossbar's ZipArchiveResource.getChild.
func (s *archiveService) member(oa *openArchive, rel string) *zipMember {
	if (rel == "" || strings.HasSuffix(rel, "/")) && s.cfg.DefaultObject != "" {
		rel += s.cfg.DefaultObject
	}
	if m := oa.members[s.prefixed(rel)]; m != nil {
		return m
	}
	if s.cfg.DefaultFile != "" {
		return oa.members[s.prefixed(s.cfg.DefaultFile)]
	}
	return nil
}

// prefixed puts object_prefix before name, as os.path.join does.
func (s *archiveService) prefixed(name string) string {
	p := s.cfg.ObjectPrefix
	if p == "" {
		return name
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + name
}

// readMember inflates a whole member, checked against its CRC-32 by archive/zip.
func readMember(zf *zip.File) ([]byte, error) {
	r, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, zf.UncompressedSize64)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	// archive/zip checks the CRC-32 when the member's end is read.
	if n, err := r.Read(make([]byte, 1)); n > 0 {
		return nil, zip.ErrFormat
	} else if err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// memberStream streams one member to the client and lets go of the archive when fasthttp is
// done with it.
type memberStream struct {
	r       io.ReadCloser
	oa      *openArchive
	client  net.Conn
	writeTO time.Duration
}

func (m *memberStream) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 && m.writeTO > 0 && m.client != nil {
		_ = m.client.SetWriteDeadline(time.Now().Add(m.writeTO)) // bounds the write of these bytes
	}
	return n, err
}

func (m *memberStream) Close() error {
	err := m.r.Close()
	m.oa.release()
	return err
}

var _ service = (*archiveService)(nil)
