package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"portico/router"
	"portico/router/wamp"
)

// bridgeSession is the WAMP session of one HTTP bridge service: a client of the worker's
// router over the in-process transport, joined to the service's realm with its role
// (Crossbar adds the same kind of service session to the router, crossbar/webservice/rest.py
// _create_resource). Many HTTP requests share it: each PUBLISH or CALL gets its own request
// ID, and one reader hands every answer to the request waiting for it.
//
// If the router ends the session (wamp.session.kill, a slow-consumer cut), the next request
// joins again; requests in flight then fail with errSessionGone.
type bridgeSession struct {
	ref   *routerRef
	realm string
	role  string
	log   *slog.Logger

	// onInvocation and onEvent receive what the router sends a callee or subscriber (the
	// native router components, restcomponents.go); nil for the bridge services. They run
	// on the session's reader: they must hand work off, not do it.
	onInvocation func(*bridgeConn, *wamp.Invocation)
	onEvent      func(*wamp.Event)
	// dial, when set, opens the session's transport instead of an in-process pipe to ref's
	// router (a container component's WebSocket connection).
	dial func() (router.Transport, error)

	mu     sync.Mutex
	conn   *bridgeConn // nil until joined, and after the session ended
	closed bool
}

// bridgeJoinTimeout bounds the wait for WELCOME; the router answers an in-process HELLO at
// once unless it is shutting down.
const bridgeJoinTimeout = 10 * time.Second

var (
	errSessionGone = errors.New("the bridge's WAMP session ended")
	errBridgeClose = errors.New("the bridge service was closed")
)

// bridgeConn is one joined session.
type bridgeConn struct {
	t       router.Transport
	ids     wamp.IDGen
	mu      sync.Mutex
	waiting map[wamp.ID]chan wamp.Message
	dead    chan struct{} // closed when the session ended
	buf     sync.Pool     // encoding buffers

	onInvocation func(*bridgeConn, *wamp.Invocation)
	onEvent      func(*wamp.Event)
}

// newBridgeSession joins realm with role at once: a service whose realm cannot be joined
// fails its configuration.
func newBridgeSession(ref *routerRef, realm, role string, log *slog.Logger) (*bridgeSession, error) {
	s := &bridgeSession{ref: ref, realm: realm, role: role, log: log}
	if _, err := s.get(); err != nil {
		return nil, err
	}
	return s, nil
}

// get returns the live session, joining first when there is none.
func (s *bridgeSession) get() (*bridgeConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errBridgeClose
	}
	if c := s.conn; c != nil {
		select {
		case <-c.dead:
		default:
			return c, nil
		}
	}
	c, err := s.join()
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

func (s *bridgeSession) join() (*bridgeConn, error) {
	var mine router.Transport
	if s.dial != nil {
		t, err := s.dial()
		if err != nil {
			return nil, err
		}
		mine = t
	} else {
		var theirs router.Transport
		mine, theirs = router.Pipe(wamp.JSON, 256)
		s.ref.wg.Add(1)
		go func() {
			defer s.ref.wg.Done()
			_ = s.ref.r.Serve(theirs, router.PeerInfo{Transport: "inprocess", TrustedRole: s.role})
		}()
	}
	c := &bridgeConn{t: mine, waiting: map[wamp.ID]chan wamp.Message{}, dead: make(chan struct{}),
		onInvocation: s.onInvocation, onEvent: s.onEvent}
	hello := &wamp.Hello{Realm: wamp.URI(s.realm), Details: wamp.Dict{
		"agent": "portico-http-bridge",
		"roles": wamp.Dict{
			"publisher":  wamp.Dict{"features": wamp.Dict{"subscriber_blackwhite_listing": true, "publisher_exclusion": true}},
			"caller":     wamp.Dict{"features": wamp.Dict{}},
			"callee":     wamp.Dict{"features": wamp.Dict{}},
			"subscriber": wamp.Dict{"features": wamp.Dict{"pattern_based_subscription": true}},
		},
	}}
	if err := c.send(hello); err != nil {
		mine.Close()
		return nil, err
	}
	type answer struct {
		m   wamp.Message
		err error
	}
	got := make(chan answer, 1)
	go func() {
		b, err := mine.ReadMessage()
		if err != nil {
			got <- answer{err: err}
			return
		}
		m, err := wamp.JSON.Decode(b)
		got <- answer{m, err}
	}()
	timer := time.NewTimer(bridgeJoinTimeout)
	defer timer.Stop()
	select {
	case a := <-got:
		switch m := a.m.(type) {
		case *wamp.Welcome:
			go c.read(s.log)
			return c, nil
		case *wamp.Abort:
			mine.Close()
			return nil, fmt.Errorf("joining realm %q with role %q: ABORT %s %v", s.realm, s.role, m.Reason, m.Details["message"])
		}
		mine.Close()
		if a.err != nil {
			return nil, fmt.Errorf("joining realm %q: %w", s.realm, a.err)
		}
		return nil, fmt.Errorf("joining realm %q: the router answered HELLO with %T", s.realm, a.m)
	case <-timer.C:
		mine.Close()
		return nil, fmt.Errorf("joining realm %q: no WELCOME within %v", s.realm, bridgeJoinTimeout)
	}
}

// read hands each answer to its waiting request until the session ends.
func (c *bridgeConn) read(log *slog.Logger) {
	defer c.end()
	for {
		b, err := c.t.ReadMessage()
		if err != nil {
			return
		}
		m, err := wamp.JSON.Decode(b)
		if err != nil {
			log.Warn("bridge session: undecodable message from the router", "error", err)
			return
		}
		var id wamp.ID
		switch x := m.(type) {
		case *wamp.Published:
			id = x.Request
		case *wamp.Result:
			id = x.Request
		case *wamp.Error:
			id = x.Request
		case *wamp.Registered:
			id = x.Request
		case *wamp.Subscribed:
			id = x.Request
		case *wamp.Invocation:
			if c.onInvocation != nil {
				c.onInvocation(c, x)
			}
			continue
		case *wamp.Event:
			if c.onEvent != nil {
				c.onEvent(x)
			}
			continue
		case *wamp.Goodbye:
			// The router is closing (shutdown) or closed this session: say goodbye back,
			// so that its close does not wait for us.
			_ = c.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.goodbye_and_out"})
			return
		case *wamp.Abort:
			log.Warn("bridge session aborted by the router", "reason", x.Reason)
			return
		default:
			continue
		}
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered, one answer per request
		}
	}
}

func (c *bridgeConn) end() {
	c.mu.Lock()
	select {
	case <-c.dead:
	default:
		close(c.dead)
	}
	c.mu.Unlock()
	c.t.Close()
}

func (c *bridgeConn) send(m wamp.Message) error {
	bp, _ := c.buf.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, err := wamp.JSON.Encode((*bp)[:0], m)
	if err == nil {
		err = c.t.WriteMessage(b) // copies b
	}
	*bp = b
	c.buf.Put(bp)
	return err
}

// request sends a PUBLISH (with acknowledge), CALL, REGISTER or SUBSCRIBE and waits for its
// answer: PUBLISHED, RESULT, REGISTERED, SUBSCRIBED or ERROR. It fails with errSessionGone when the session ends first. m's request
// ID is set here.
func (c *bridgeConn) request(m wamp.Message) (wamp.Message, error) {
	id := c.ids.Next()
	switch x := m.(type) {
	case *wamp.Publish:
		x.Request = id
	case *wamp.Call:
		x.Request = id
	case *wamp.Register:
		x.Request = id
	case *wamp.Subscribe:
		x.Request = id
	}
	ch := make(chan wamp.Message, 1)
	c.mu.Lock()
	select {
	case <-c.dead:
		c.mu.Unlock()
		return nil, errSessionGone
	default:
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.send(m); err != nil {
		c.forget(id)
		if errors.Is(err, router.ErrPipeClosed) {
			return nil, errSessionGone
		}
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.dead:
		c.forget(id)
		select {
		case a := <-ch: // answered just before the end
			return a, nil
		default:
		}
		return nil, errSessionGone
	}
}

func (c *bridgeConn) forget(id wamp.ID) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// close leaves the realm; requests in flight fail with errSessionGone.
func (s *bridgeSession) close() {
	s.mu.Lock()
	s.closed = true
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.system_shutdown"})
		c.end()
	}
}
