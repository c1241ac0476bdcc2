// Package wampload is a WAMP load client for benchmarks: RPC round trips with N concurrent
// callers against one callee, and pub/sub fan-out from one publisher to N subscribers, over
// WebSocket with any of the router's codecs. It speaks WAMP through portico/router/wamp, so
// the messages on the wire are the ones the router's own codecs produce and accept.
package wampload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"portico/router/wamp"
)

// Options says where and how to connect.
type Options struct {
	URL      string     // ws://127.0.0.1:8080/ws; rs:// or tcp://127.0.0.1:8081 for RawSocket
	Realm    string     // realm1
	Codec    wamp.Codec // wamp.JSON, wamp.CBOR, ...
	Duration time.Duration
	// Warmup runs before the measured Duration; its operations are not counted.
	Warmup time.Duration
}

// Result is one measurement.
type Result struct {
	Ops      int64 // RPC round trips, or events delivered to subscribers
	Elapsed  time.Duration
	P50, P99 time.Duration // RPC: call to result; pub/sub: publish to delivery
}

// Rate is operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// session is one WAMP session over one connection. One goroutine reads; writes are
// serialized by wmu (the callee's answers and its GOODBYE come from different goroutines).
type session struct {
	wmu   sync.Mutex
	c     conn
	codec wamp.Codec
	buf   []byte
	req   wamp.ID
}

// conn carries whole WAMP messages: a WebSocket (wsConn) or a RawSocket (rsConn).
type conn interface {
	WriteMessage(b []byte) error
	ReadMessage() ([]byte, error)
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	Close() error
}

var roles = wamp.Dict{"roles": wamp.Dict{
	"caller": wamp.Dict{}, "callee": wamp.Dict{}, "publisher": wamp.Dict{}, "subscriber": wamp.Dict{},
}}

// dial opens a session: the transport's opening (WebSocket handshake with the codec's
// subprotocol, or RawSocket handshake with its serializer), HELLO, WELCOME.
func dial(ctx context.Context, o Options) (*session, error) {
	var c conn
	var err error
	if strings.HasPrefix(o.URL, "ws://") || strings.HasPrefix(o.URL, "wss://") {
		c, err = dialWS(ctx, o)
	} else {
		c, err = dialRS(ctx, o)
	}
	if err != nil {
		return nil, err
	}
	s := &session{c: c, codec: o.Codec}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := s.send(&wamp.Hello{Realm: wamp.URI(o.Realm), Details: roles}); err != nil {
		c.Close()
		return nil, err
	}
	m, err := s.recv()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("waiting for WELCOME: %w", err)
	}
	if _, ok := m.(*wamp.Welcome); !ok {
		c.Close()
		return nil, fmt.Errorf("HELLO answered with %s", describe(m))
	}
	_ = c.SetReadDeadline(time.Time{})
	return s, nil
}

func (s *session) send(m wamp.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	s.buf, err = s.codec.Encode(s.buf[:0], m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	return s.c.WriteMessage(s.buf)
}

func (s *session) recv() (wamp.Message, error) {
	b, err := s.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	return s.codec.Decode(b)
}

func (s *session) nextID() wamp.ID {
	s.req++
	return s.req
}

// close says GOODBYE and closes the connection without waiting for the router's answer.
func (s *session) close() {
	_ = s.c.SetWriteDeadline(time.Now().Add(time.Second))
	_ = s.send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.close_realm"})
	_ = s.c.Close()
}

// await reads until a message of type T answers request req (ERROR and ABORT are errors).
func await[T wamp.Message](s *session, req wamp.ID) (T, error) {
	var zero T
	for {
		m, err := s.recv()
		if err != nil {
			return zero, err
		}
		switch v := m.(type) {
		case T:
			return v, nil
		case *wamp.Error:
			if v.Request == req {
				return zero, fmt.Errorf("request %d: %s", req, v.Error)
			}
		case *wamp.Abort:
			return zero, fmt.Errorf("aborted: %s", v.Reason)
		case *wamp.Goodbye:
			return zero, fmt.Errorf("router said goodbye: %s", v.Reason)
		}
	}
}

func describe(m wamp.Message) string {
	switch v := m.(type) {
	case *wamp.Abort:
		return "ABORT " + string(v.Reason)
	case nil:
		return "nothing"
	default:
		return fmt.Sprintf("message type %d", m.Type())
	}
}

// Probe opens and closes one session: it fails when nothing serves WAMP at o.URL.
func Probe(ctx context.Context, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := dial(ctx, o)
	if err != nil {
		return err
	}
	s.close()
	return nil
}

// window runs the measurement clock: operations count from Warmup on, for Duration.
type window struct {
	start, end time.Time
}

func newWindow(o Options) window {
	now := time.Now()
	return window{start: now.Add(o.Warmup), end: now.Add(o.Warmup + o.Duration)}
}

func (w window) counts(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// roundTrips runs one closed loop per session: each sends a request and waits for its answer
// (one), back to back, until the window ends, and keeps the latencies inside the window.
func roundTrips(ctx context.Context, w window, sessions []*session, one func(s *session, i int) error) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(sessions))
	errs := make([]error, len(sessions))
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(w.end) {
					return
				}
				if err := one(s, i); err != nil {
					errs[i] = err
					return
				}
				if w.counts(t0) {
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}

const procedure = "bench.echo"

// RPC measures call round trips: one callee session registers an echo procedure, callers
// sessions each keep one call outstanding, back to back, for the duration.
func RPC(ctx context.Context, o Options, callers int) (Result, error) {
	return RPCAcross(ctx, o, o, callers)
}

// RPCAcross is RPC with the callee connected to calleeAt and the callers to o, e.g. another
// node of a cluster: before the clock starts, one caller calls until the registration is
// known where the callers are (bounded by readyWithin).
func RPCAcross(ctx context.Context, calleeAt, o Options, callers int) (Result, error) {
	callee, err := dial(ctx, calleeAt)
	if err != nil {
		return Result{}, err
	}
	defer callee.close()
	req := callee.nextID()
	if err := callee.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: procedure}); err != nil {
		return Result{}, err
	}
	if _, err := await[*wamp.Registered](callee, req); err != nil {
		return Result{}, fmt.Errorf("register: %w", err)
	}
	calleeDone := make(chan error, 1)
	go func() {
		for {
			m, err := callee.recv()
			if err != nil {
				calleeDone <- err
				return
			}
			if inv, ok := m.(*wamp.Invocation); ok {
				if err := callee.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments}); err != nil {
					calleeDone <- err
					return
				}
			}
		}
	}()

	sessions := make([]*session, callers)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	for i := range sessions {
		if sessions[i], err = dial(ctx, o); err != nil {
			return Result{}, err
		}
	}
	if calleeAt.URL != o.URL {
		if err := until(ctx, "the callee's registration to be known at "+o.URL, func() error {
			return sessions[0].call(procedure)
		}); err != nil {
			return Result{}, err
		}
	}
	w := newWindow(o)
	lat, err := roundTrips(ctx, w, sessions, func(s *session, i int) error {
		req := s.nextID()
		if err := s.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: procedure, Arguments: wamp.List{int64(i)}}); err != nil {
			return err
		}
		if _, err := await[*wamp.Result](s, req); err != nil {
			return fmt.Errorf("call: %w", err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	select {
	case err := <-calleeDone:
		return Result{}, fmt.Errorf("callee: %w", err)
	default:
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return summarize(lat, o.Duration), nil
}

const topic = "bench.topic"

// PubSub measures fan-out: subscribers sessions subscribe to one topic, one publisher
// publishes its clock, and every delivery's latency is taken against it. The publisher stays
// at most pubWindow events ahead of the slowest subscriber, so the router is measured at the
// rate its subscribers can take, not pushed into its slow-consumer policy.
func PubSub(ctx context.Context, o Options, subscribers int) (Result, error) {
	return PubSubN(ctx, o, 1, subscribers)
}

// PubSubN is PubSub with publishers sessions publishing to the topic at once, together at most
// pubWindow events per publisher ahead of the slowest subscriber: the router routes several
// publications side by side.
func PubSubN(ctx context.Context, o Options, publishers, subscribers int) (Result, error) {
	return PubSubSpread(ctx, o, nil, publishers, subscribers)
}

// PubSubSpread is PubSubN with the publishers connected to o and subscriber i to
// subAt[i%len(subAt)] (o's URL when subAt is empty), e.g. the nodes of a cluster. When some
// subscriber is elsewhere, the publisher first publishes probes until every subscriber has
// one (bounded by readyWithin), so that the measurement starts once the nodes route to each other.
func PubSubSpread(ctx context.Context, o Options, subAt []string, publishers, subscribers int) (Result, error) {
	const pubWindow = 64
	if len(subAt) == 0 {
		subAt = []string{o.URL}
	}
	subs := make([]*session, subscribers)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.close()
			}
		}
	}()
	var err error
	for i := range subs {
		so := o
		so.URL = subAt[i%len(subAt)]
		if subs[i], err = dial(ctx, so); err != nil {
			return Result{}, err
		}
		req := subs[i].nextID()
		if err := subs[i].send(&wamp.Subscribe{Request: req, Options: wamp.Dict{}, Topic: topic}); err != nil {
			return Result{}, err
		}
		if _, err := await[*wamp.Subscribed](subs[i], req); err != nil {
			return Result{}, fmt.Errorf("subscribe: %w", err)
		}
	}
	pubs := make([]*session, publishers)
	defer func() {
		for _, s := range pubs {
			if s != nil {
				s.close()
			}
		}
	}()
	for i := range pubs {
		if pubs[i], err = dial(ctx, o); err != nil {
			return Result{}, err
		}
	}

	received := make([]atomic.Int64, subscribers)
	probed := make([]atomic.Bool, subscribers)
	// The clock starts after the probes; the subscribers read it from wp.
	var w window
	var wp atomic.Pointer[window]
	var wReady sync.WaitGroup
	wReady.Add(1)
	lat := make([][]time.Duration, subscribers)
	errs := make([]error, subscribers)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			wReady.Wait()
			for {
				m, err := s.recv()
				if err != nil {
					if ctx.Err() == nil && !closedByUs(err) {
						errs[i] = err
					}
					return
				}
				ev, ok := m.(*wamp.Event)
				if !ok || len(ev.Arguments) == 0 {
					continue
				}
				if _, probe := ev.Arguments[0].(string); probe {
					probed[i].Store(true)
					continue
				}
				sent := time.Unix(0, asInt64(ev.Arguments[0]))
				if wp.Load().counts(sent) {
					lat[i] = append(lat[i], time.Since(sent))
				}
				received[i].Add(1)
			}
		})
	}
	minReceived := func() int64 {
		m := received[0].Load()
		for i := range received[1:] {
			m = min(m, received[i+1].Load())
		}
		return m
	}
	spread := slices.ContainsFunc(subAt, func(u string) bool { return u != o.URL })
	if !spread {
		w = newWindow(o)
		wp.Store(&w)
	}
	wReady.Done()
	if spread {
		err := until(ctx, "every subscriber to get a probe publication", func() error {
			if err := pubs[0].send(&wamp.Publish{Request: pubs[0].nextID(), Options: wamp.Dict{}, Topic: topic,
				Arguments: wamp.List{"probe"}}); err != nil {
				return err
			}
			deadline := time.Now().Add(100 * time.Millisecond)
			for time.Now().Before(deadline) {
				all := true
				for i := range probed {
					all = all && probed[i].Load()
				}
				if all {
					return nil
				}
				time.Sleep(time.Millisecond)
			}
			return errors.New("not yet")
		})
		if err != nil {
			for _, s := range subs {
				_ = s.c.SetReadDeadline(time.Now())
			}
			wg.Wait()
			return Result{}, err
		}
		w = newWindow(o)
		wp.Store(&w)
	}
	var published atomic.Int64
	pubErrs := make([]error, publishers)
	var pwg sync.WaitGroup
	for pi, pub := range pubs {
		pwg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(w.end) {
					return
				}
				if published.Load()-minReceived() >= int64(pubWindow*publishers) {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				published.Add(1)
				if err := pub.send(&wamp.Publish{Request: pub.nextID(), Options: wamp.Dict{}, Topic: topic,
					Arguments: wamp.List{now.UnixNano()}}); err != nil {
					published.Add(-1)
					pubErrs[pi] = err
					return
				}
			}
		})
	}
	pwg.Wait()
	pubErr := errors.Join(pubErrs...)
	// Let the last events arrive, then end the subscribers' reads.
	drain := time.Now().Add(5 * time.Second)
	for pubErr == nil && minReceived() < published.Load() && time.Now().Before(drain) {
		time.Sleep(time.Millisecond)
	}
	for _, s := range subs {
		_ = s.c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	if pubErr != nil {
		return Result{}, fmt.Errorf("publish: %w", pubErr)
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if got := minReceived(); got < published.Load() {
		return Result{}, fmt.Errorf("a subscriber received %d of %d events", got, published.Load())
	}
	return summarize(lat, o.Duration), nil
}

// closedByUs: the read deadline set to end the subscribers' loops.
func closedByUs(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// asInt64 reads an integer argument as any codec decodes it.
func asInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case uint64:
		return int64(n)
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}

func summarize(lat [][]time.Duration, d time.Duration) Result {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := Result{Ops: int64(len(all)), Elapsed: d}
	if len(all) == 0 {
		return r
	}
	slices.Sort(all)
	r.P50 = all[len(all)*50/100]
	r.P99 = all[min(len(all)-1, len(all)*99/100)]
	return r
}

// Callee registers procedure (an echo: it yields the call's arguments) on one session and
// answers invocations until stop is called, for load that comes from elsewhere (the HTTP
// bridge's caller service).
func Callee(ctx context.Context, o Options, procedure string) (stop func(), err error) {
	s, err := dial(ctx, o)
	if err != nil {
		return nil, err
	}
	req := s.nextID()
	if err := s.send(&wamp.Register{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(procedure)}); err != nil {
		s.close()
		return nil, err
	}
	if _, err := await[*wamp.Registered](s, req); err != nil {
		s.close()
		return nil, fmt.Errorf("register: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := s.recv()
			if err != nil {
				return
			}
			if inv, ok := m.(*wamp.Invocation); ok {
				if s.send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}, Arguments: inv.Arguments}) != nil {
					return
				}
			}
		}
	}()
	return func() { s.close(); <-done }, nil
}

// Publish measures acknowledged publishes: publishers sessions each keep one PUBLISH
// (acknowledge: true) outstanding, back to back, with no subscriber. It is the direct WAMP
// counterpart of the HTTP bridge's publisher service, which publishes the same way.
func Publish(ctx context.Context, o Options, publishers int) (Result, error) {
	sessions := make([]*session, publishers)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	var err error
	for i := range sessions {
		if sessions[i], err = dial(ctx, o); err != nil {
			return Result{}, err
		}
	}
	w := newWindow(o)
	args := wamp.List{"Hello, world"}
	lat, err := roundTrips(ctx, w, sessions, func(s *session, _ int) error {
		req := s.nextID()
		if err := s.send(&wamp.Publish{Request: req, Options: wamp.Dict{"acknowledge": true}, Topic: topic, Arguments: args}); err != nil {
			return err
		}
		if _, err := await[*wamp.Published](s, req); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return summarize(lat, o.Duration), nil
}

// readyWithin bounds the waits for a cluster's nodes to route to each other.
const readyWithin = 20 * time.Second

// until retries try every 20ms until it succeeds, for at most readyWithin.
func until(ctx context.Context, what string, try func() error) error {
	deadline := time.Now().Add(readyWithin)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call makes one call to procedure and waits for its result.
func (s *session) call(procedure wamp.URI) error {
	req := s.nextID()
	if err := s.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: procedure, Arguments: wamp.List{int64(0)}}); err != nil {
		return err
	}
	_, err := await[*wamp.Result](s, req)
	return err
}

// Call opens a session at o, calls procedure once and closes: it fails while no callee of
// procedure is known there (e.g. before a cluster's nodes see each other).
func Call(ctx context.Context, o Options, procedure string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := dial(ctx, o)
	if err != nil {
		return err
	}
	defer s.close()
	_ = s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return s.call(wamp.URI(procedure))
}
