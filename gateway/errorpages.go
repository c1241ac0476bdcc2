package gateway

import (
	"fmt"
	"mime"
	"os"
	"path/filepath"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// errorPage is one `error_pages` file, read when the path table is built (start and reload)
// and served from memory (nginx `error_page 502 /502.html`, without the internal redirect:
// the page is a file, not a location).
type errorPage struct {
	body  []byte
	ctype string
}

// loadErrorPages reads a transport's error_pages; config has checked that each file exists
// and is at most config.MaxErrorPage bytes, the bound is checked again on the bytes read.
func loadErrorPages(t *config.Transport) (map[int]*errorPage, error) {
	if len(t.Options.ErrorPages) == 0 {
		return nil, nil
	}
	pages := make(map[int]*errorPage, len(t.Options.ErrorPages))
	for status, file := range t.Options.ErrorPages {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s.options.error_pages.%d: %w", t.Place, status, err)
		}
		if len(b) > config.MaxErrorPage {
			return nil, fmt.Errorf("%s.options.error_pages.%d: %s is %d bytes, above %d", t.Place, status, file, len(b), config.MaxErrorPage)
		}
		ct := mime.TypeByExtension(filepath.Ext(file))
		if ct == "" {
			ct = "text/html; charset=utf-8"
		}
		pages[status] = &errorPage{body: b, ctype: ct}
	}
	return pages, nil
}

// errorPage replaces the body of an error response Portico wrote (fail) by the transport's
// page for its status, when there is one. The status stays.
func (tab *pathTable) errorPage(ctx *fasthttp.RequestCtx) {
	p := tab.pages[ctx.Response.StatusCode()]
	if p == nil {
		return
	}
	ctx.Response.Header.SetContentType(p.ctype)
	ctx.Response.SetBodyRaw(p.body) // shared, never written to
}

// finish ends every response of the transport: the error page of a request refused before a
// service ran, then the `headers` of the service (or of the transport).
func (tab *pathTable) finish(ctx *fasthttp.RequestCtx, svc service, failed bool) {
	if tab == nil {
		applyHeaders(&ctx.Response.Header, nil)
		return
	}
	if failed {
		tab.errorPage(ctx)
	}
	rules := tab.headers
	if svc != nil && tab.pathHeaders != nil {
		if r, ok := tab.pathHeaders[svc]; ok {
			rules = r
		}
	}
	applyHeaders(&ctx.Response.Header, rules)
}
