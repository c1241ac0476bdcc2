package router

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"portico/config"
	"portico/router/wamp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// codecs are the serializers every session test runs over: the text one and both binary ones.
var codecs = []wamp.Codec{wamp.JSON, wamp.MsgPack, wamp.CBOR}

// forCodecs runs fn once per serializer.
func forCodecs(t *testing.T, fn func(t *testing.T, c wamp.Codec)) {
	for _, c := range codecs {
		t.Run(c.Name(), func(t *testing.T) { fn(t, c) })
	}
}

// guard bounds how long a test waits for a message that should come; it is a hang guard, not
// a timing assertion.
const guard = 10 * time.Second

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestRouter returns a router that is closed when the test ends.
func newTestRouter(t testing.TB, o Options) *Router {
	t.Helper()
	if o.Log == nil {
		o.Log = quietLog()
	}
	r := New(o)
	t.Cleanup(func() { r.Close(guard) })
	return r
}

// client is a test peer speaking WAMP over an in-process pipe with a real codec.
type client struct {
	t                testing.TB
	codec            wamp.Codec
	end              Transport
	in               chan wamp.Message // decoded messages from the router
	served           chan error        // Serve's result
	id               wamp.ID
	authid, authrole string
	req              wamp.ID
}

// connect starts a session over a fresh pipe, without the handshake.
func connect(t testing.TB, r *Router, c wamp.Codec) *client {
	t.Helper()
	return connectInfo(t, r, c, PeerInfo{Transport: "inprocess", Protocol: "wamp.2." + c.Name()})
}

// connectInfo is connect with the given PeerInfo (a transport's auth config, say).
func connectInfo(t testing.TB, r *Router, c wamp.Codec, info PeerInfo) *client {
	t.Helper()
	srv, end := Pipe(c, 64)
	cl := &client{t: t, codec: c, end: end, in: make(chan wamp.Message, 1024), served: make(chan error, 1)}
	go func() { cl.served <- r.Serve(srv, info) }()
	go func() {
		defer close(cl.in)
		for {
			b, err := end.ReadMessage()
			if err != nil {
				return
			}
			m, err := c.Decode(b)
			if err != nil {
				panic(fmt.Sprintf("router sent what %s cannot decode: %v", c.Name(), err))
			}
			cl.in <- m
		}
	}()
	t.Cleanup(func() { _ = end.Close() })
	return cl
}

// clientRoles announces the client roles and the features the tests use.
func clientRoles() wamp.Dict {
	return wamp.Dict{
		"publisher":  wamp.Dict{"features": wamp.Dict{"publisher_exclusion": true}},
		"subscriber": wamp.Dict{"features": wamp.Dict{"pattern_based_subscription": true}},
		"caller":     wamp.Dict{"features": wamp.Dict{"progressive_call_results": true, "call_canceling": true}},
		"callee":     wamp.Dict{"features": wamp.Dict{"progressive_call_results": true, "call_canceling": true}},
	}
}

// join connects and completes the handshake on realm.
func join(t testing.TB, r *Router, c wamp.Codec, realm string) *client {
	t.Helper()
	return joinRoles(t, r, c, realm, clientRoles())
}

// joinRoles joins announcing the given client roles.
func joinRoles(t testing.TB, r *Router, c wamp.Codec, realm string, roles wamp.Dict) *client {
	t.Helper()
	cl := connect(t, r, c)
	cl.send(&wamp.Hello{Realm: wamp.URI(realm), Details: wamp.Dict{"roles": roles}})
	w := expect[*wamp.Welcome](cl)
	cl.id = w.Session
	cl.authid, _ = w.Details["authid"].(string)
	cl.authrole, _ = w.Details["authrole"].(string)
	return cl
}

func (c *client) send(m wamp.Message) {
	c.t.Helper()
	b, err := c.codec.Encode(nil, m)
	if err != nil {
		c.t.Fatalf("encoding %T: %v", m, err)
	}
	if err := c.end.WriteMessage(b); err != nil {
		c.t.Fatalf("writing %T: %v", m, err)
	}
}

func (c *client) nextReq() wamp.ID { c.req++; return c.req }

// recv returns the next message, or nil when the router closed the session.
func (c *client) recv() wamp.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			return nil
		}
		return m
	case <-time.After(guard):
		c.t.Fatalf("session %d: no message from the router", c.id)
		return nil
	}
}

func expect[T wamp.Message](c *client) T {
	c.t.Helper()
	m := c.recv()
	v, ok := m.(T)
	if !ok {
		var want T
		c.t.Fatalf("session %d: got %s, want %T", c.id, describe(m), want)
	}
	return v
}

func describe(m wamp.Message) string {
	switch m := m.(type) {
	case nil:
		return "the end of the session"
	case *wamp.Error:
		return fmt.Sprintf("ERROR %s %v for %s", m.Error, m.Arguments, m.RequestType)
	case *wamp.Abort:
		return fmt.Sprintf("ABORT %s %v", m.Reason, m.Details)
	}
	return fmt.Sprintf("%T %+v", m, m)
}

// expectError expects an ERROR for a request of type typ with the given URI.
func (c *client) expectError(typ wamp.MessageType, uri wamp.URI) *wamp.Error {
	c.t.Helper()
	e := expect[*wamp.Error](c)
	if e.RequestType != typ || e.Error != uri {
		c.t.Fatalf("got ERROR %s for %s, want %s for %s", e.Error, e.RequestType, uri, typ)
	}
	return e
}

// expectEnd expects the router to close the session, and returns Serve's error.
func (c *client) expectEnd() error {
	c.t.Helper()
	if m := c.recv(); m != nil {
		c.t.Fatalf("session %d: got %s, want the end", c.id, describe(m))
	}
	select {
	case err := <-c.served:
		return err
	case <-time.After(guard):
		c.t.Fatal("Serve did not return")
		return nil
	}
}

// quiet checks that nothing is waiting for the client: a round trip through the router (a
// meta call) comes back before anything else.
func (c *client) quiet() {
	c.t.Helper()
	req := c.nextReq()
	c.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "wamp.session.count"})
	if r := expect[*wamp.Result](c); r.Request != req {
		c.t.Fatalf("got RESULT %d, want %d", r.Request, req)
	}
}

func (c *client) goodbye() {
	c.t.Helper()
	c.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.close_realm"})
	g := expect[*wamp.Goodbye](c)
	if g.Reason != closeGoodbyeReply {
		c.t.Fatalf("GOODBYE reply %s, want %s", g.Reason, closeGoodbyeReply)
	}
	if err := c.expectEnd(); err != nil {
		c.t.Fatalf("Serve after GOODBYE: %v", err)
	}
}

func (c *client) subscribe(topic string, opts wamp.Dict) wamp.ID {
	c.t.Helper()
	if opts == nil {
		opts = wamp.Dict{}
	}
	req := c.nextReq()
	c.send(&wamp.Subscribe{Request: req, Options: opts, Topic: wamp.URI(topic)})
	s := expect[*wamp.Subscribed](c)
	if s.Request != req {
		c.t.Fatalf("SUBSCRIBED for %d, want %d", s.Request, req)
	}
	return s.Subscription
}

func (c *client) register(proc string, opts wamp.Dict) wamp.ID {
	c.t.Helper()
	if opts == nil {
		opts = wamp.Dict{}
	}
	req := c.nextReq()
	c.send(&wamp.Register{Request: req, Options: opts, Procedure: wamp.URI(proc)})
	s := expect[*wamp.Registered](c)
	if s.Request != req {
		c.t.Fatalf("REGISTERED for %d, want %d", s.Request, req)
	}
	return s.Registration
}

// publishAck publishes with acknowledge and waits for PUBLISHED.
func (c *client) publishAck(topic string, opts wamp.Dict, args ...any) wamp.ID {
	c.t.Helper()
	o := wamp.Dict{"acknowledge": true}
	for k, v := range opts {
		o[k] = v
	}
	req := c.nextReq()
	c.send(&wamp.Publish{Request: req, Options: o, Topic: wamp.URI(topic), Arguments: args})
	p := expect[*wamp.Published](c)
	if p.Request != req {
		c.t.Fatalf("PUBLISHED for %d, want %d", p.Request, req)
	}
	return p.Publication
}

// callMeta calls a meta procedure and returns the RESULT's arguments.
func (c *client) call(proc string, args wamp.List, kw wamp.Dict) *wamp.Result {
	c.t.Helper()
	req := c.nextReq()
	c.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(proc), Arguments: args, ArgumentsKw: kw})
	r := expect[*wamp.Result](c)
	if r.Request != req {
		c.t.Fatalf("RESULT for %d, want %d", r.Request, req)
	}
	return r
}

func asInt(t testing.TB, x any) int64 {
	t.Helper()
	n, ok := toInt(x)
	if !ok {
		t.Fatalf("%v (%T) is not an integer", x, x)
	}
	return n
}

// ids reads a list of IDs from a result value.
func ids(t testing.TB, x any) []wamp.ID {
	t.Helper()
	l, ok := x.([]any)
	if !ok {
		t.Fatalf("%v (%T) is not a list", x, x)
	}
	out := make([]wamp.ID, len(l))
	for i, e := range l {
		out[i] = wamp.ID(asInt(t, e))
	}
	return out
}

// realmWith is a configured realm whose anonymous role has the given permissions.
func realmWith(name string, perms ...config.Permission) config.Realm {
	return config.Realm{Name: name, Roles: []config.Role{{Name: "anonymous", Permissions: perms}}}
}

var allowEverything = config.Allow{Call: true, Register: true, Publish: true, Subscribe: true}

// everythingRealm is a configured realm whose anonymous role may do everything, the meta API's
// kill procedures included.
func everythingRealm(name string) config.Realm {
	return realmWith(name, config.Permission{URI: "", Match: matchPrefix, Allow: allowEverything})
}
