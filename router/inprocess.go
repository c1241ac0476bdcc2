package router

import (
	"errors"
	"sync"

	"portico/router/wamp"
)

// ErrPipeClosed is returned by an in-process transport once either end closed the pipe.
var ErrPipeClosed = errors.New("router: in-process pipe closed")

// Pipe returns the two ends of an in-process transport that carries messages encoded with
// codec: hand one to Router.Serve (PeerInfo.Transport "inprocess") and speak WAMP on the other.
// Each direction buffers up to depth messages; a writer waits when the reader is that far
// behind, as it would on a socket. Closing either end closes both; messages already written are
// still read before the reader sees ErrPipeClosed.
func Pipe(codec wamp.Codec, depth int) (Transport, Transport) {
	if depth < 1 {
		depth = 1
	}
	a2b, b2a := make(chan []byte, depth), make(chan []byte, depth)
	p := &pipeState{closed: make(chan struct{})}
	return &pipeEnd{codec: codec, in: b2a, out: a2b, p: p}, &pipeEnd{codec: codec, in: a2b, out: b2a, p: p}
}

type pipeState struct {
	once   sync.Once
	closed chan struct{}
}

type pipeEnd struct {
	codec wamp.Codec
	in    <-chan []byte
	out   chan<- []byte
	p     *pipeState
}

func (e *pipeEnd) Codec() wamp.Codec { return e.codec }

func (e *pipeEnd) ReadMessage() ([]byte, error) {
	// Prefer data over the close signal, so that what was written before Close is delivered.
	select {
	case b := <-e.in:
		return b, nil
	default:
	}
	select {
	case b := <-e.in:
		return b, nil
	case <-e.p.closed:
		select {
		case b := <-e.in:
			return b, nil
		default:
			return nil, ErrPipeClosed
		}
	}
}

// WriteMessage copies b (the router reuses its encoding buffer) and passes it to the other end.
func (e *pipeEnd) WriteMessage(b []byte) error {
	select {
	case <-e.p.closed:
		return ErrPipeClosed
	default:
	}
	c := make([]byte, len(b))
	copy(c, b)
	select {
	case e.out <- c:
		return nil
	case <-e.p.closed:
		return ErrPipeClosed
	}
}

func (e *pipeEnd) Close() error {
	e.p.once.Do(func() { close(e.p.closed) })
	return nil
}

var _ Transport = (*pipeEnd)(nil)
