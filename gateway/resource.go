package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/gateway/launch"
)

// Bounds of a resource path's exchange with its process.
const (
	resourceTimeout     = 60 * time.Second // one request, sent and answered (nginx proxy_read_timeout)
	maxResourceResponse = 64 << 20         // bytes of one answer, held in memory
)

// resourceService is Crossbar's `resource` path service (crossbar/webservice/base.py
// RouterWebServiceTwistedWeb): a Twisted Web resource class. Crossbar renders it in its router
// process; Portico runs it in a Python process of its own (launch/resource.py), made and
// supervised as a container is (restarted when it dies, stopped with the node, never
// orphaned), serving the class with Twisted Web on a private unix socket at the path's place
// in its resource tree, so that the resource sees the request as it would in Crossbar. The
// path's requests are passed to it over that socket as HTTP, the client's address in
// X-Portico-Client (the process reports it as the request's client), and the answer comes
// back whole (at most maxResourceResponse bytes).
type resourceService struct {
	where   string
	sup     *launch.Supervisor
	sock    string
	client  *fasthttp.HostClient
	maxBody int64
	// stopTimeout: the gateway's, see Gateway.stopTimeout.
	stopTimeout time.Duration
}

func (g *Gateway) newResourceService(ctx context.Context, node *config.Node, w *config.Worker, t *config.Transport, svc *config.Service, mount []string, log *slog.Logger) (*resourceService, error) {
	script := filepath.Join(g.runtimeDir, "portico-resource.py")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, launch.ResourceScript, 0o600); err != nil {
			return nil, fmt.Errorf("writing the resource host: %w", err)
		}
	}
	seq := strconv.Itoa(g.launchSeq)
	g.launchSeq++
	sock := filepath.Join(g.runtimeDir, "resource"+seq+".sock")
	in, err := json.Marshal(map[string]any{
		"place": svc.Place, "classname": svc.Resource.Classname, "extra": svc.Resource.Extra,
		"mount": mount, "pythonpath": w.Options.PythonPath, "socket": sock,
	})
	if err != nil {
		return nil, fmt.Errorf("%s.extra: %w", svc.Place, err)
	}
	py := w.Options.Python
	if py == "" {
		py = defaultPython
	}
	pyPath, err := exec.LookPath(py)
	if err != nil {
		return nil, fmt.Errorf("%s: interpreter %q not found (%v); install python3 with the Debian package python3-twisted, or set the worker's options.python", svc.Place, py, err)
	}
	sup, err := launch.NewProcess(launch.Command{
		Name: svc.Place, ConfigKey: svc.Place, Kind: "resource",
		Path: pyPath, Args: []string{script}, Dir: node.Dir,
		Env:       envVars(w.Options.Env),
		StdinPipe: true, Stdin: in, CloseStdin: true,
		Ready:       launch.ReadyNotify,
		Socket:      sock,
		NotifyPath:  filepath.Join(g.runtimeDir, "resource"+seq+".notify"),
		Restart:     launch.RestartAlways,
		ExplainExit: launch.ExplainRunnerExit(svc.Place),
		Timing:      g.launchTiming,
	}, log)
	if err != nil {
		return nil, err
	}
	if err := sup.Start(ctx); err != nil {
		return nil, err
	}
	s := &resourceService{where: svc.Place, sup: sup, sock: sock, maxBody: t.Options.MaxBodySize, stopTimeout: g.stopTimeout}
	s.client = &fasthttp.HostClient{
		Addr:                svc.Place,
		Dial:                func(string) (net.Conn, error) { return net.DialTimeout("unix", sock, 10*time.Second) },
		ReadTimeout:         resourceTimeout,
		WriteTimeout:        resourceTimeout,
		MaxResponseBodySize: maxResourceResponse,
		MaxConns:            256,
		MaxConnWaitTimeout:  resourceTimeout,
		// Header names go to Twisted as the client wrote them.
		DisableHeaderNamesNormalizing: true,
		NoDefaultUserAgentHeader:      true,
	}
	return s, nil
}

func (s *resourceService) place() string { return s.where }

func (s *resourceService) close() {
	s.client.CloseIdleConnections()
	_ = s.sup.Stop(s.stopTimeout)
}

func (s *resourceService) serve(ctx *fasthttp.RequestCtx, _ *request) error {
	up := "unix:" + s.sock
	// While the process restarts, requests wait for it (as for a launched uwsgi).
	wait, cancel := context.WithTimeout(context.Background(), resourceTimeout)
	err := s.sup.WaitReady(wait)
	cancel()
	if err != nil {
		return &upstreamError{upstream: up, op: "wait ready", err: err}
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	ctx.Request.Header.CopyTo(&req.Header)
	body, err := s.readBody(ctx)
	if err != nil {
		return err
	}
	req.SetBodyRaw(body)
	// Set, not added: a client cannot name itself.
	req.Header.Set("X-Portico-Client", ctx.RemoteAddr().String())
	if err := s.client.DoTimeout(req, resp, resourceTimeout); err != nil {
		return &upstreamError{upstream: up, op: "request", err: err}
	}
	resp.CopyTo(&ctx.Response)
	return nil
}

// readBody reads the request body, at most the transport's max_body_size.
func (s *resourceService) readBody(ctx *fasthttp.RequestCtx) ([]byte, error) {
	if !ctx.Request.IsBodyStream() {
		return ctx.Request.Body(), nil
	}
	limit := s.maxBody
	if limit <= 0 {
		limit = 1 << 62
	}
	b, err := io.ReadAll(io.LimitReader(ctx.RequestBodyStream(), limit+1))
	if err != nil {
		return nil, &clientError{err: err}
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

var _ service = (*resourceService)(nil)
