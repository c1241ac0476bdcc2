package gateway

import (
	"strings"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// serverName is the Server header of Portico's responses, unless the upstream sent its own
// or `headers.remove` names Server. fasthttp's own default is off (newServer): it would put the
// header back after the handler removed it.
const serverName = "Portico"

// headerRules is `headers` (config.Headers) of a transport, merged with a path's: applied to
// every response of the path after the service and the error writer are done, so that
// Portico's own error pages and redirects carry them too (nginx `add_header ... always`:
// security headers such as X-Frame-Options and Content-Security-Policy matter on an error
// page as much as on any other).
type headerRules struct {
	remove   []string
	set, add []config.Header
	noServer bool // remove lists Server
}

func newHeaderRules(h *config.Headers) *headerRules {
	if h.Empty() {
		return nil
	}
	r := &headerRules{set: h.Set, add: h.Add}
	for _, name := range h.Remove {
		if strings.EqualFold(name, "Server") {
			r.noServer = true
			continue
		}
		r.remove = append(r.remove, name)
	}
	return r
}

// applyHeaders finishes the response head: Server, then r's Remove, Set and Add. It does not
// allocate: fasthttp copies names and values into the header's own buffers.
func applyHeaders(rh *fasthttp.ResponseHeader, r *headerRules) {
	if r == nil {
		if len(rh.Server()) == 0 {
			rh.SetServer(serverName)
		}
		return
	}
	if r.noServer {
		rh.Del(fasthttp.HeaderServer)
	} else if len(rh.Server()) == 0 {
		rh.SetServer(serverName)
	}
	for _, name := range r.remove {
		rh.Del(name)
	}
	for _, h := range r.set {
		rh.Set(h.Name, h.Value)
	}
	for _, h := range r.add {
		rh.Add(h.Name, h.Value)
	}
}
