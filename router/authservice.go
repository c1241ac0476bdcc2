package router

import (
	"errors"
	"fmt"
	"sync"

	"portico/router/wamp"
)

// The router's own sessions that call dynamic authenticators: one per (realm, authrole), made
// on first use and kept, as Crossbar's realm service session (crossbar/router/auth/pending.py
// _init_dynamic_authenticator, RouterRealmContainer.get_service_session). Each is an ordinary
// session over an in-process pipe, joined with a trusted role, so that its calls go through
// the dealer like anyone's: the callee's invocation policy, call timeouts, and the callee
// leaving all apply.

// authService is one such session, seen from its client end.
type authService struct {
	t     Transport
	codec wamp.Codec
	ready chan struct{} // closed once WELCOME (or the end) came
	done  chan struct{} // closed once the session is over

	mu      sync.Mutex
	joinErr error // why the session did not join or ended; set before ready or done closes
	next    wamp.ID
	calls   map[wamp.ID]chan wamp.Message
}

type authServiceKey struct {
	realm wamp.URI
	role  string
}

// authServices are a router's authenticator sessions.
type authServices struct {
	mu sync.Mutex
	m  map[authServiceKey]*authService
}

// authError is a denial: the ABORT reason and message the client gets.
type authError struct {
	reason wamp.URI
	msg    string
}

func (e *authError) Error() string { return string(e.reason) + ": " + e.msg }

// authService returns the running service session of realm under role, starting it when
// there is none or the last one ended.
func (r *Router) authService(realm wamp.URI, role string) *authService {
	k := authServiceKey{realm, role}
	r.auth.mu.Lock()
	defer r.auth.mu.Unlock()
	if a := r.auth.m[k]; a != nil {
		select {
		case <-a.done:
		default:
			return a
		}
	}
	if r.auth.m == nil {
		r.auth.m = make(map[authServiceKey]*authService)
	}
	codec, _ := wamp.CodecByName("json")
	client, server := Pipe(codec, 64)
	a := &authService{t: client, codec: codec, ready: make(chan struct{}), done: make(chan struct{}),
		calls: make(map[wamp.ID]chan wamp.Message)}
	r.auth.m[k] = a
	go func() {
		err := r.Serve(server, PeerInfo{Transport: "inprocess", TrustedRole: role})
		if err != nil && !errors.Is(err, errSessionAborted) {
			a.fail(fmt.Errorf("the router's authenticator session on realm %q ended: %w", realm, err))
		}
	}()
	go a.readLoop()
	b, _ := codec.Encode(nil, &wamp.Hello{Realm: realm, Details: wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{
		"features": wamp.Dict{"call_timeout": true, "call_canceling": true}}}}})
	if err := client.WriteMessage(b); err != nil {
		a.fail(fmt.Errorf("the router's authenticator session on realm %q: %w", realm, err))
	}
	return a
}

// fail records why the session cannot serve (the first reason counts).
func (a *authService) fail(err error) {
	a.mu.Lock()
	if a.joinErr == nil {
		a.joinErr = err
	}
	a.mu.Unlock()
}

func (a *authService) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.joinErr
}

// readLoop takes the router's messages to the service session: WELCOME, then the answers to
// its calls, until the session ends.
func (a *authService) readLoop() {
	welcomed := false
	defer func() {
		a.fail(errors.New("the router's authenticator session ended"))
		if !welcomed {
			close(a.ready)
		}
		close(a.done)
		_ = a.t.Close()
	}()
	for {
		b, err := a.t.ReadMessage()
		if err != nil {
			return
		}
		m, err := a.codec.Decode(b)
		if err != nil {
			a.fail(fmt.Errorf("the router's authenticator session: %w", err))
			return
		}
		switch m := m.(type) {
		case *wamp.Welcome:
			if !welcomed {
				welcomed = true
				close(a.ready)
			}
		case *wamp.Abort:
			msg, _ := m.Details["message"].(string)
			a.fail(&authError{reason: m.Reason, msg: msg})
			return
		case *wamp.Goodbye:
			// The router is closing: answer, then go.
			b, _ := a.codec.Encode(nil, &wamp.Goodbye{Details: wamp.Dict{}, Reason: closeGoodbyeAndOut})
			_ = a.t.WriteMessage(b)
			return
		case *wamp.Result:
			a.answer(m.Request, m)
		case *wamp.Error:
			a.answer(m.Request, m)
		}
	}
}

func (a *authService) answer(req wamp.ID, m wamp.Message) {
	a.mu.Lock()
	ch := a.calls[req]
	delete(a.calls, req)
	a.mu.Unlock()
	if ch != nil {
		ch <- m // buffered: never waits
	}
}

// call calls procedure and returns its RESULT or ERROR; it gives up when cancel closes (the
// authenticating session's end) or the service session ends. timeoutMs is the CALL's timeout,
// which the dealer enforces (answering wamp.error.canceled).
func (a *authService) call(procedure wamp.URI, args wamp.List, timeoutMs int64, cancel <-chan struct{}) (wamp.Message, error) {
	select {
	case <-a.ready:
	case <-cancel:
		return nil, errCanceledWait
	}
	select {
	case <-a.done:
		return nil, a.err()
	default:
	}
	ch := make(chan wamp.Message, 1)
	a.mu.Lock()
	if a.joinErr != nil {
		a.mu.Unlock()
		return nil, a.joinErr
	}
	a.next++
	req := a.next
	a.calls[req] = ch
	a.mu.Unlock()
	forget := func() {
		a.mu.Lock()
		delete(a.calls, req)
		a.mu.Unlock()
	}
	opts := wamp.Dict{}
	if timeoutMs > 0 {
		opts["timeout"] = timeoutMs
	}
	b, err := a.codec.Encode(nil, &wamp.Call{Request: req, Options: opts, Procedure: procedure, Arguments: args})
	if err != nil {
		forget()
		return nil, fmt.Errorf("encoding the authenticator call: %w", err)
	}
	if err := a.t.WriteMessage(b); err != nil {
		forget()
		return nil, fmt.Errorf("the router's authenticator session: %w", err)
	}
	select {
	case m := <-ch:
		return m, nil
	case <-a.done:
		forget()
		return nil, a.err()
	case <-cancel:
		forget()
		return nil, errCanceledWait
	}
}

// errCanceledWait: the authenticating session ended while its authenticator was asked.
var errCanceledWait = errors.New("the session ended while its authenticator was asked")
