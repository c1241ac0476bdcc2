package gateway

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/uwsgiproto"
)

// A wsgi path's `vars` (nginx uwsgi_param NAME VALUE): sent after the variables Portico builds.
// As nginx, Portico does not remove a CGI variable of the same name: both are sent and uwsgi
// keeps the last (its environ is filled in packet order), so the configured value wins. An
// HTTP_* var replaces the request header of that name, which nginx then does not send either
// (ngx_http_uwsgi_module: the headers_names hash of HTTP_ params).

// httpVarNames lists the HTTP_* names among vars.
func httpVarNames(vars []config.Var) []string {
	var out []string
	for _, v := range vars {
		if strings.HasPrefix(v.Name, "HTTP_") {
			out = append(out, v.Name)
		}
	}
	return out
}

// varOverrides reports whether a configured var replaces the HTTP_* variable name.
func (s *wsgiService) varOverrides(name []byte) bool {
	for _, n := range s.varsHTTP {
		if string(name) == n {
			return true
		}
	}
	return false
}

// addConfiguredVars appends the path's vars, placeholders expanded, to e. remote is the
// client's address as REMOTE_ADDR has it ($remote_addr). sc is scratch; the grown scratch is
// returned. Nothing is allocated once sc has grown to the longest value.
func (s *wsgiService) addConfiguredVars(e *uwsgiproto.Encoder, ctx *fasthttp.RequestCtx, rq *request, remote netip.Addr, sc []byte) []byte {
	for i := range s.vars {
		v := &s.vars[i]
		sc = sc[:0]
		for _, p := range v.Parts {
			switch p.Ref {
			case "":
				sc = append(sc, p.Lit...)
			case "host", "server_name":
				sc = append(sc, rq.host...)
			case "remote_addr":
				sc = remote.AppendTo(sc)
			case "scheme":
				if s.env.tls {
					sc = append(sc, "https"...)
				} else {
					sc = append(sc, "http"...)
				}
			case "request_uri":
				sc = append(sc, rq.requestURI...)
			case "server_port":
				sc = strconv.AppendUint(sc, uint64(addrPort(ctx.LocalAddr()).Port()), 10)
			}
		}
		addB(e, v.Name, sc)
	}
	return sc
}
