package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

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
// It answers its own path only, as Crossbar's JsonResource (crossbar/webservice/misc.py), a
// Twisted Resource that is not a leaf, does: any sub-path, "/info/" and "/info/x" below
// "info" alike, is Twisted's 404 "No Such Resource". On the root path, "/" is answered with
// the value and every other unknown path is a 404 (under Crossbar "/" is a 404 too: Twisted
// asks the root resource for the child "", which JsonResource does not have).
type jsonService struct {
	where   string
	body    []byte
	cors    bool     // allow_cross_origin or allowed_origins
	origins []string // allowed_origins: echoed, with credentials
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
	return &jsonService{where: svc.Place, body: append(b, '\n'), cors: j.AllowCrossOrigin || len(j.AllowedOrigins) > 0,
		origins: j.AllowedOrigins, noCache: j.DiscourageCaching}, nil
}

func (s *jsonService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	// The sub-path is looked up before the method, as Twisted finds the child first.
	if rest := rq.path[rq.mount:]; len(rest) > 0 && (rq.mount > 0 || len(rest) > 1) {
		return errNotFound
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		if ctx.IsOptions() && s.cors {
			s.corsHeaders(ctx)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return nil
		}
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

// corsHeaders answers CORS (Fetch standard, "CORS protocol"). Crossbar's json service
// (crossbar/webservice/base.py set_cross_origin_headers) echoes any Origin and adds
// Access-Control-Allow-Credentials: true, which lets every web page read the answer with the
// visitor's cookies. Portico answers "*" instead, which browsers never combine with
// credentials; only an Origin listed in allowed_origins is echoed with credentials (and any
// other gets no CORS headers, so its page cannot read the answer).
func (s *jsonService) corsHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	if len(s.origins) == 0 {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Vary", "Origin")
		origin := ctx.Request.Header.Peek("Origin")
		if len(origin) == 0 || !corsOriginListed(string(origin), s.origins) {
			return
		}
		h.SetBytesV("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if rh := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(rh) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", rh)
	}
}

// corsOriginListed matches origin against allowed_origins patterns: as websocket
// allowed_origins does (scheme://host:port with the default port filled in), or the Origin as
// sent ("https://app.example.com"). "null" never matches: sandboxed and file: pages all send it.
func corsOriginListed(origin string, patterns []string) bool {
	if originAllowed(origin, patterns, false) {
		return true
	}
	lower := strings.ToLower(origin)
	for _, p := range patterns {
		if lower != "null" && wildcardMatch(strings.ToLower(p), lower) {
			return true
		}
	}
	return false
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
