package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"portico/config"
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
	// restRejoinDelay spaces the attempts to join again after the router ended the session.
	restRejoinDelay = time.Second
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

// startNativeComponent starts c, a router component with RESTCallee or Forwarder set.
func (g *Gateway) startNativeComponent(w *config.Worker, c *config.Component) (*nativeComponent, error) {
	ref, err := g.routerFor(w)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &nativeComponent{place: c.Place, log: g.log.With("component", c.Place), cancel: cancel, done: make(chan struct{}),
		client: &http.Client{Timeout: restHTTPTimeout}, callee: c.RESTCallee, fwd: c.Forwarder}
	n.sess = &bridgeSession{ref: ref, realm: c.Realm, role: c.Role, log: n.log}
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
	conn, err := n.setUp()
	if err != nil {
		cancel()
		n.sess.close()
		return nil, fmt.Errorf("%s: %w", c.Place, err)
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

// keep sets the session up again whenever the router ends it, until the component stops.
func (n *nativeComponent) keep(ctx context.Context, c *bridgeConn) {
	defer close(n.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dead:
		}
		n.log.Warn("the router ended the component's session; joining again")
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(restRejoinDelay):
			}
			var err error
			if c, err = n.setUp(); err == nil {
				break
			}
			n.log.Warn("joining again", "error", err)
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
