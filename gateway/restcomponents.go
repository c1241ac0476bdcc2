package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// Crossbar's HTTP bridge router components, run in Go over the in-process transport instead
// of in the Python component runner: RESTCallee (WAMP calls become HTTP requests,
// crossbar/bridge/rest/callee.py) and MessageForwarder (WAMP events become HTTP POSTs,
// crossbar/bridge/rest/subscriber.py). Each is a session of the worker's router with the
// component's realm and role; when the router ends it, it joins again and registers or
// subscribes anew.

const (
	// restHTTPTimeout bounds one HTTP exchange of a native component (treq has no bound).
	restHTTPTimeout = 60 * time.Second
	// restMaxResponse bounds the body a RESTCallee reads into its result.
	restMaxResponse = 16 << 20
	// restCalleeConcurrency bounds the calls a RESTCallee serves at once; past it, the
	// session's reader waits, and the router paces the callers.
	restCalleeConcurrency = 64
	// restForwardQueue bounds the events a MessageForwarder holds before its reader waits.
	restForwardQueue = 1024
	// restRejoinDelay and restRejoinMax space the attempts to join again after the session
	// ended or could not be set up.
	restRejoinDelay = time.Second
	restRejoinMax   = 30 * time.Second
)

// nativeComponent is one running RESTCallee or MessageForwarder.
type nativeComponent struct {
	place  string
	sess   *bridgeSession
	client *http.Client
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	callee *config.RESTCallee
	sem    chan struct{}

	fwd    *config.MessageForwarder
	events chan *wamp.Event
	urls   map[wamp.ID]string // subscription -> URL, of the live session
	urlsMu sync.Mutex
}

// runsNative reports whether component c of worker w runs in Go: a RESTCallee or
// MessageForwarder of a router worker, or of a container worker that connects over plain
// WebSocket (one over RawSocket stays in Python).
func runsNative(w *config.Worker, c *config.Component) bool {
	if c.RESTCallee == nil && c.Forwarder == nil {
		return false
	}
	if w.Type == "router" {
		return true
	}
	t := c.Transport
	return w.Type == "container" && t != nil && t.Type == "websocket" && strings.HasPrefix(t.URL, "ws://")
}

// startNativeComponent starts component c of worker w (runsNative).
func (g *Gateway) startNativeComponent(w *config.Worker, c *config.Component) (*nativeComponent, error) {
	ctx, cancel := context.WithCancel(context.Background())
	n := &nativeComponent{place: c.Place, log: g.log.With("component", c.Place), cancel: cancel, done: make(chan struct{}),
		client: &http.Client{Timeout: restHTTPTimeout}, callee: c.RESTCallee, fwd: c.Forwarder}
	n.sess = &bridgeSession{realm: c.Realm, role: c.Role, log: n.log}
	if w.Type == "router" {
		ref, err := g.routerFor(w)
		if err != nil {
			cancel()
			return nil, err
		}
		n.sess.ref = ref
	} else {
		t := *c.Transport
		n.sess.dial = func() (router.Transport, error) { return dialWAMP(t) }
	}
	if n.callee != nil {
		n.sem = make(chan struct{}, restCalleeConcurrency)
		n.sess.onInvocation = n.invoke
	} else {
		n.events = make(chan *wamp.Event, restForwardQueue)
		n.sess.onEvent = func(e *wamp.Event) {
			select {
			case n.events <- e:
			case <-ctx.Done():
			}
		}
		go n.forward(ctx)
	}
	// A component that cannot join or register yet (its router path refuses it, the
	// procedure is taken) is retried, as a Python component is restarted; never a reason
	// for the node not to start.
	conn, err := n.setUp()
	if err != nil {
		n.log.Warn("component not ready, retrying", "error", err)
	}
	go n.keep(ctx, conn)
	return n, nil
}

// setUp joins and registers the procedure or subscribes to the topics.
func (n *nativeComponent) setUp() (*bridgeConn, error) {
	c, err := n.sess.get()
	if err != nil {
		return nil, err
	}
	if n.callee != nil {
		a, err := c.request(&wamp.Register{Options: wamp.Dict{}, Procedure: wamp.URI(n.callee.Procedure)})
		if err != nil {
			return nil, err
		}
		if e, ok := a.(*wamp.Error); ok {
			return nil, fmt.Errorf("registering %s: %s %v", n.callee.Procedure, e.Error, e.Arguments)
		}
		return c, nil
	}
	urls := map[wamp.ID]string{}
	for _, s := range n.fwd.Subscriptions {
		a, err := c.request(&wamp.Subscribe{Options: wamp.Dict{"match": s.Match}, Topic: wamp.URI(s.Topic)})
		if err != nil {
			return nil, err
		}
		switch m := a.(type) {
		case *wamp.Subscribed:
			urls[m.Subscription] = s.URL
		case *wamp.Error:
			return nil, fmt.Errorf("subscribing to %s: %s %v", s.Topic, m.Error, m.Arguments)
		}
	}
	n.urlsMu.Lock()
	n.urls = urls
	n.urlsMu.Unlock()
	return c, nil
}

// keep sets the session up again whenever the router ends it (or it could not be set up),
// until the component stops; the wait between attempts doubles up to restRejoinMax.
func (n *nativeComponent) keep(ctx context.Context, c *bridgeConn) {
	defer close(n.done)
	for {
		if c != nil {
			select {
			case <-ctx.Done():
				return
			case <-c.dead:
			}
			n.log.Warn("the component's session ended; joining again")
		}
		delay := restRejoinDelay
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			var err error
			if c, err = n.setUp(); err == nil {
				break
			}
			delay = min(2*delay, restRejoinMax)
			n.log.Warn("component not ready, retrying", "error", err, "retry_in", delay)
		}
	}
}

func (n *nativeComponent) stop() {
	n.cancel()
	n.sess.close()
	<-n.done
}

// invoke serves one call on its own goroutine, at most restCalleeConcurrency at once.
func (n *nativeComponent) invoke(c *bridgeConn, inv *wamp.Invocation) {
	n.sem <- struct{}{}
	go func() {
		defer func() { <-n.sem }()
		res, errURI, errMsg := n.callHTTP(inv.Arguments, inv.ArgumentsKw)
		var m wamp.Message
		if errURI != "" {
			m = &wamp.Error{RequestType: wamp.INVOCATION, Request: inv.Request, Details: wamp.Dict{}, Error: wamp.URI(errURI), Arguments: wamp.List{errMsg}}
		} else {
			m = &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: wamp.List{res}}
		}
		if err := c.send(m); err != nil {
			n.log.Info("answering a call", "error", err)
		}
	}()
}

// callHTTP is callee.py on_call(method, url, body="", headers={}, params={}).
func (n *nativeComponent) callHTTP(args []any, kwargs map[string]any) (res map[string]any, errURI, errMsg string) {
	names := []string{"method", "url", "body", "headers", "params"}
	p := map[string]any{}
	if len(args) > len(names) {
		return nil, "wamp.error.invalid_argument", fmt.Sprintf("on_call() takes at most 5 arguments (%d given)", len(args))
	}
	for i, a := range args {
		p[names[i]] = a
	}
	for k, v := range kwargs {
		if !strings.Contains(" method url body headers params ", " "+k+" ") {
			return nil, "wamp.error.invalid_argument", fmt.Sprintf("on_call() got an unexpected keyword argument '%s'", k)
		}
		if _, dup := p[k]; dup {
			return nil, "wamp.error.invalid_argument", fmt.Sprintf("on_call() got multiple values for argument '%s'", k)
		}
		p[k] = v
	}
	method, _ := p["method"].(string)
	rel, okURL := p["url"].(string)
	body, okBody := p["body"].(string)
	if p["body"] == nil {
		okBody = true
	}
	if method == "" || !okURL || !okBody {
		return nil, "wamp.error.invalid_argument", "method and url must be strings, body a string"
	}
	base, err := url.Parse(n.callee.BaseURL)
	if err != nil {
		return nil, "wamp.error.runtime_error", err.Error()
	}
	ref, err := url.Parse(rel)
	if err != nil {
		return nil, "wamp.error.invalid_argument", fmt.Sprintf("url %q: %v", rel, err)
	}
	target := base.ResolveReference(ref)
	if params, ok := p["params"].(map[string]any); ok && len(params) > 0 {
		q := target.Query()
		for k, v := range params {
			s, ok := v.(string)
			if !ok {
				return nil, "wamp.error.invalid_argument", "params values must be strings"
			}
			q.Add(k, s)
		}
		target.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), restHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target.String(), strings.NewReader(body))
	if err != nil {
		return nil, "wamp.error.invalid_argument", err.Error()
	}
	if hs, ok := p["headers"].(map[string]any); ok {
		for k, v := range hs {
			switch x := v.(type) {
			case string:
				req.Header.Add(k, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						req.Header.Add(k, s)
					}
				}
			}
		}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, "wamp.error.runtime_error", err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, restMaxResponse+1))
	if err != nil {
		return nil, "wamp.error.runtime_error", err.Error()
	}
	if len(b) > restMaxResponse {
		return nil, "wamp.error.runtime_error", fmt.Sprintf("response body over %d bytes", restMaxResponse)
	}
	headers := map[string]any{}
	for k, vs := range resp.Header {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		headers[k] = l
	}
	return map[string]any{"code": int64(resp.StatusCode), "content": textContent(resp.Header.Get("Content-Type"), b), "headers": headers}, "", ""
}

// textContent decodes a body as treq.text_content does: by the Content-Type's charset, else
// ISO-8859-1.
func textContent(ctype string, b []byte) string {
	_, params, _ := mime.ParseMediaType(ctype)
	switch strings.ToLower(params["charset"]) {
	case "utf-8", "utf8":
		if utf8.Valid(b) {
			return string(b)
		}
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// forward POSTs the events in the order they came, one at a time (subscriber.py on_event).
func (n *nativeComponent) forward(ctx context.Context) {
	for {
		var e *wamp.Event
		select {
		case <-ctx.Done():
			return
		case e = <-n.events:
		}
		n.urlsMu.Lock()
		u := n.urls[e.Subscription]
		n.urlsMu.Unlock()
		if u == "" {
			continue
		}
		args, kwargs := e.Arguments, e.ArgumentsKw
		if args == nil {
			args = []any{}
		}
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		body, err := appendPy(nil, map[string]any{"args": args, "kwargs": kwargs}, dumpJSON, 0)
		if err != nil {
			n.log.Warn("event not forwarded", "url", u, "error", err)
			continue
		}
		n.post(ctx, u, body)
	}
}

func (n *nativeComponent) post(ctx context.Context, u string, body []byte) {
	ctx, cancel := context.WithTimeout(ctx, restHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, n.fwd.Method, u, bytes.NewReader(body))
	if err != nil {
		n.log.Warn("event not forwarded", "url", u, "error", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		n.log.Warn("event not forwarded", "url", u, "error", err)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if n.fwd.ExpectedCode != 0 && resp.StatusCode != n.fwd.ExpectedCode {
		n.log.Warn("event forwarded, unexpected answer", "url", u, "status", resp.StatusCode, "expected", n.fwd.ExpectedCode)
	}
	if n.fwd.Debug {
		n.log.Info("event forwarded", "url", u, "status", resp.StatusCode, "body", string(b))
	}
}

// dialWAMP opens a container component's WebSocket transport (JSON): to the endpoint, with
// the URL in the handshake, as Crossbar's component client does.
func dialWAMP(t config.ComponentTransport) (router.Transport, error) {
	timeout := time.Duration(t.Endpoint.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: timeout,
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			if t.Endpoint.Type == "unix" {
				return nd.DialContext(ctx, "unix", t.Endpoint.Path)
			}
			return nd.DialContext(ctx, "tcp", net.JoinHostPort(t.Endpoint.Host, strconv.Itoa(t.Endpoint.Port)))
		}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, resp, err := d.DialContext(ctx, t.URL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %w (HTTP %d)", t.URL, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket %s: %w", t.URL, err)
	}
	if c.Subprotocol() != "wamp.2.json" {
		c.Close()
		return nil, fmt.Errorf("websocket %s: the router chose subprotocol %q", t.URL, c.Subprotocol())
	}
	return &wsClient{c: c}, nil
}

// wsClient is the client end of a WebSocket WAMP transport.
type wsClient struct {
	c  *websocket.Conn
	mu sync.Mutex // one writer at a time
}

func (w *wsClient) Codec() wamp.Codec { return wamp.JSON }

func (w *wsClient) ReadMessage() ([]byte, error) {
	_, b, err := w.c.ReadMessage()
	return b, err
}

func (w *wsClient) WriteMessage(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.c.SetWriteDeadline(time.Now().Add(restHTTPTimeout))
	return w.c.WriteMessage(websocket.TextMessage, b)
}

func (w *wsClient) Close() error { return w.c.Close() }

var _ router.Transport = (*wsClient)(nil)
