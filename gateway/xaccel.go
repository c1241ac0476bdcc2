package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"

	"portico/uwsgiproto"
)

// X-Accel-Redirect and X-Sendfile: an app answers with a header naming a file instead of the
// file itself, after its own checks (permissions, a download counter), and the proxy sends the
// file. The uwsgi worker and the upstream slot are released before the file is sent, so a
// large download costs the app one short request.
//
// X-Accel-Redirect: /uri?args is nginx's (ngx_http_upstream_process_headers): the request is
// served again, as GET (HEAD stays HEAD), by the service at that path of the same transport,
// typically a static directory marked `internal` that clients cannot reach themselves; its
// status, Range and If-Modified-Since handling are that service's. Of the app's headers only
// those nginx carries over an internal redirect are kept (ngx_http_upstream_headers_in entries
// with redirect set): Content-Type, Content-Disposition, Set-Cookie, Cache-Control, Expires.
// An unsafe URI (one that climbs above the root, or has a NUL) is 404 as in nginx; a named
// location ("@name") has no Portico meaning and is 500.
//
// X-Sendfile: /abs/path is Apache mod_xsendfile's and lighttpd's (Flask's USE_X_SENDFILE,
// django-sendfile2): the file is served as a static file is, if it lies under one of the wsgi
// path's sendfile_roots (opened through os.Root, so a symlink cannot lead out), with the same
// app headers kept. Anything else is 500 and a log line naming sendfile_roots: a header meant
// for a proxy that cannot honour it must not turn into an empty 200.
//
// The other X-Accel-* headers are dropped: X-Accel-Buffering is honoured by response
// buffering; X-Accel-Expires sets the validity in nginx's proxy cache, which Portico does not
// have; X-Accel-Limit-Rate and X-Accel-Charset (nginx's per-response rate limit, and a charset
// for its charset filter) have no Portico counterpart.

// maxInternalRedirects bounds chains of redirects (an internal wsgi path that answers with
// X-Accel-Redirect again), as nginx's NGX_HTTP_MAX_URI_CHANGES (10) does; past it, 500.
const maxInternalRedirects = 10

var (
	errAccelRedirect = errors.New("X-Accel-Redirect cannot be served")
	errSendfile      = errors.New("X-Sendfile outside sendfile_roots")
)

// appToProxy reports a response header the app addresses to the proxy in front of it, never to
// the client: nginx's X-Accel-* family (nginx hides X-Accel-Expires, -Redirect, -Limit-Rate,
// -Buffering and -Charset by default, ngx_http_uwsgi_hide_headers) and X-Sendfile (Apache's
// mod_xsendfile and lighttpd, sent by Flask's USE_X_SENDFILE and django-sendfile2). Every
// X-Accel-* name is dropped, so that one nginx may add later does not leak either.
func appToProxy(name []byte) bool {
	const accel = "X-Accel-"
	if len(name) > len(accel) && asciiEqualFold(name[:len(accel)], accel) {
		return true
	}
	return asciiEqualFold(name, "X-Sendfile")
}

// keptOverRedirect are the app headers nginx copies over an internal redirect.
var keptOverRedirect = [...]string{"Content-Type", "Content-Disposition", "Set-Cookie", "Cache-Control", "Expires"}

// accel is an app's hand-over to the proxy, copied out of the response head (whose buffers go
// back to the pool with the upstream connection).
type accel struct {
	redirect string // X-Accel-Redirect value
	sendfile string // X-Sendfile value
	kept     []hdr
}

// findAccel returns the hand-over in head, if any. X-Accel-Redirect wins over X-Sendfile. A
// 304 with X-Sendfile (werkzeug's conditional answer keeps the header) is the app's own answer
// to a conditional request, passed on as it is.
func findAccel(head *uwsgiproto.ResponseHead) *accel {
	var redirect, sendfile []byte
	for _, hv := range head.Headers {
		switch {
		case asciiEqualFold(hv.Name, "X-Accel-Redirect"):
			redirect = hv.Value
		case asciiEqualFold(hv.Name, "X-Sendfile"):
			sendfile = hv.Value
		}
	}
	if redirect == nil && (sendfile == nil || head.StatusCode == fasthttp.StatusNotModified) {
		return nil
	}
	a := &accel{redirect: string(trimOWS(redirect)), sendfile: string(trimOWS(sendfile))}
	for _, hv := range head.Headers {
		for _, k := range keptOverRedirect {
			if asciiEqualFold(hv.Name, k) {
				a.kept = append(a.kept, hdr{k: []byte(k), v: append([]byte(nil), hv.Value...)})
			}
		}
	}
	return a
}

// serveAccel answers the request with what the app handed over; the upstream is already
// released.
func (s *wsgiService) serveAccel(ctx *fasthttp.RequestCtx, rq *request, a *accel) error {
	var err error
	if a.redirect != "" {
		err = s.internalRedirect(ctx, rq, a.redirect)
	} else {
		err = s.sendfile(ctx, rq, a.sendfile)
	}
	if err != nil {
		return err
	}
	if st := ctx.Response.StatusCode(); st < 400 {
		h := &ctx.Response.Header
		for _, kv := range a.kept {
			if string(kv.k) == "Set-Cookie" {
				h.AddBytesKV(kv.k, kv.v)
			} else {
				h.SetBytesKV(kv.k, kv.v)
			}
		}
		if st == fasthttp.StatusNotModified {
			h.Del("Content-Type") // a 304 describes no body (nginx sends none)
		}
	}
	return nil
}

func (s *wsgiService) internalRedirect(ctx *fasthttp.RequestCtx, rq *request, target string) error {
	if rq.redirects++; rq.redirects > maxInternalRedirects {
		return fmt.Errorf("%w: more than %d internal redirects (to %q)", errAccelRedirect, maxInternalRedirects, target)
	}
	path, args, err := accelTarget(target)
	if err != nil {
		return err
	}
	svc, mount := s.table.lookup(path)
	if in, ok := svc.(internalService); ok {
		svc = in.service
	}
	if svc == nil {
		return errNotFound
	}
	req := &ctx.Request
	if !req.Header.IsHead() {
		req.Header.SetMethod(fasthttp.MethodGet)
	}
	// The body, if any, was the app's; the redirected request has none (a wsgi path behind the
	// redirect must not wait for it again).
	req.Header.SetContentLength(0)
	req.URI().SetQueryString(args)
	rq.path, rq.mount = path, mount
	return svc.serve(ctx, rq)
}

// accelTarget splits an X-Accel-Redirect value into the normalised, percent-decoded path and
// the query. A value that is not a path is errAccelRedirect (nginx's named locations, "@name",
// have no Portico meaning); an unsafe one is errNotFound (nginx: ngx_http_parse_unsafe_uri
// fails, 404).
func accelTarget(target string) (path []byte, args string, err error) {
	if !strings.HasPrefix(target, "/") {
		return nil, "", fmt.Errorf("%w: %q is not a path (named locations are nginx's own)", errAccelRedirect, target)
	}
	uri, args, _ := strings.Cut(target, "?")
	if path, err = normalizePath(nil, []byte(uri)); err != nil {
		return nil, "", errNotFound
	}
	return path, args, nil
}

// sendfile serves the file named by X-Sendfile if it lies under one of sendfile_roots.
func (s *wsgiService) sendfile(ctx *fasthttp.RequestCtx, rq *request, name string) error {
	if !filepath.IsAbs(name) {
		return fmt.Errorf("%w: %q is not an absolute path", errSendfile, name)
	}
	name = filepath.Clean(name)
	for _, st := range s.sendfileRoots {
		rel, ok := strings.CutPrefix(name, st.dir)
		if !ok || (rel != "" && rel[0] != '/' && !strings.HasSuffix(st.dir, "/")) {
			continue
		}
		rel = strings.TrimPrefix(rel, "/")
		root, err := st.openRoot()
		if err != nil {
			return fmt.Errorf("%w: %q: %v", errSendfile, name, err)
		}
		if _, err := root.Stat(rel); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w: %q: %v", errSendfile, name, err) // os.Root: a symlink leads out
		}
		f, err := st.open(rel)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return err
			}
			return fmt.Errorf("%w: %q: %v", errSendfile, name, err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return errNotFound
		}
		return st.sendFile(ctx, rq, rel, f, fi)
	}
	return fmt.Errorf("%w: %q", errSendfile, name)
}

// internalService is a path service marked `internal`: clients get 404, an X-Accel-Redirect
// reaches the service inside.
type internalService struct{ service }

func (internalService) serve(*fasthttp.RequestCtx, *request) error { return errNotFound }

var _ service = internalService{}
