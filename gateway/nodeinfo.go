package gateway

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// nodeinfoService answers a small HTML page about the node (Crossbar's `nodeinfo` path service,
// crossbar/webservice/misc.py NodeInfoResource: node, process, the client's own address). It
// tells nothing a client could not learn by connecting, except the pid and the worker count,
// as Crossbar's page does; a node that wants neither known leaves the service out.
type nodeinfoService struct {
	where   string
	node    string
	workers int
	started time.Time
	version string
}

func newNodeinfoService(svc *config.Service, node *config.Node) *nodeinfoService {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return &nodeinfoService{where: svc.Place, node: node.Controller.ID, workers: len(node.Workers),
		started: time.Now().UTC(), version: v}
}

func (s *nodeinfoService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	node := s.node
	if node == "" {
		node = "(unnamed)"
	}
	fmt.Fprintf(ctx, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Portico node %s</title></head>
<body><h1>Portico node %s</h1>
<table>
<tr><th>Node</th><td id="node">%s</td></tr>
<tr><th>Portico</th><td id="version">%s</td></tr>
<tr><th>Process</th><td id="pid">%d</td></tr>
<tr><th>Workers</th><td id="workers">%d</td></tr>
<tr><th>Started</th><td id="started">%s</td></tr>
<tr><th>Your address</th><td id="peer">%s</td></tr>
</table></body></html>
`, htmlEscape(node), htmlEscape(node), htmlEscape(node), htmlEscape(s.version), os.Getpid(), s.workers,
		s.started.Format(time.RFC3339), htmlEscape(ctx.RemoteAddr().String()))
	return nil
}

func (s *nodeinfoService) place() string { return s.where }
func (s *nodeinfoService) close()        {}

var _ service = (*nodeinfoService)(nil)
