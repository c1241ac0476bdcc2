package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// redirectService answers every request with a redirect to a fixed URL (Crossbar's
// `redirect` path service).
type redirectService struct {
	where string
	url   string
	code  int
}

func newRedirectService(svc *config.Service) *redirectService {
	code := svc.Redirect.Code
	if code == 0 {
		code = fasthttp.StatusFound
	}
	return &redirectService{where: svc.Place, url: svc.Redirect.URL, code: code}
}

func (s *redirectService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	ctx.Response.Header.Set("Location", s.url)
	ctx.SetStatusCode(s.code)
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, "<html><body>Moved to <a href=\"%s\">%s</a></body></html>\n", htmlEscape(s.url), htmlEscape(s.url))
	return nil
}

func (s *redirectService) place() string { return s.where }
func (s *redirectService) close()        {}

// jsonService answers a fixed JSON value, encoded once at start (Crossbar's `json` service).
type jsonService struct {
	where   string
	body    []byte
	cors    bool
	noCache bool
}

func newJSONService(svc *config.Service) (*jsonService, error) {
	j := svc.JSON
	var b []byte
	var err error
	if j.Prettify {
		b, err = json.MarshalIndent(j.Value, "", "  ")
	} else {
		b, err = json.Marshal(j.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("%s.value: %w", svc.Place, err)
	}
	return &jsonService{where: svc.Place, body: append(b, '\n'), cors: j.AllowCrossOrigin, noCache: j.DiscourageCaching}, nil
}

func (s *jsonService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		if ctx.IsOptions() && s.cors {
			s.corsHeaders(ctx)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return nil
		}
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		return errMethod
	}
	ctx.SetContentType("application/json; charset=utf-8")
	if s.cors {
		s.corsHeaders(ctx)
	}
	if s.noCache {
		ctx.Response.Header.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
		ctx.Response.Header.Set("Pragma", "no-cache")
		ctx.Response.Header.Set("Expires", "0")
	}
	ctx.SetBody(s.body)
	return nil
}

func (s *jsonService) corsHeaders(ctx *fasthttp.RequestCtx) {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	} else {
		ctx.Response.Header.SetBytesV("Access-Control-Allow-Origin", origin)
		ctx.Response.Header.Set("Access-Control-Allow-Credentials", "true")
		ctx.Response.Header.Set("Vary", "Origin")
	}
	if h := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(h) > 0 {
		ctx.Response.Header.SetBytesV("Access-Control-Allow-Headers", h)
	}
}

func (s *jsonService) place() string { return s.where }
func (s *jsonService) close()        {}

func htmlEscape(s string) string {
	var b bytes.Buffer
	for _, c := range []byte(s) {
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var (
	_ service = (*redirectService)(nil)
	_ service = (*jsonService)(nil)
)
