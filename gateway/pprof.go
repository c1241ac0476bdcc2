package gateway

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// pprofServer serves Go's runtime profiles for one gateway; Shutdown stops it.
type pprofServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// startPprof serves Go's runtime profiles (net/http/pprof) on the address in PORTICO_PPROF,
// e.g. "127.0.0.1:6060", so that the gateway can be profiled under real load
// (contrib/bench/run -profile DIR). Unset, nothing listens and the request path is untouched.
// It is a debugging aid: bind it to loopback, it has no authentication. The gateway owns it:
// Shutdown closes the listener and the profile requests still running.
func startPprof(log *slog.Logger) *pprofServer {
	addr := os.Getenv("PORTICO_PPROF")
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("pprof listener", "addr", addr, "error", err)
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("serving runtime profiles (PORTICO_PPROF)", "addr", ln.Addr().String())
	p := &pprofServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "error", err)
		}
	}()
	return p
}

// close stops the profile server: a profile or trace being taken is cut (it is only a
// debugging aid), and the serving goroutine has returned when close does.
func (p *pprofServer) close() {
	if p == nil {
		return
	}
	_ = p.srv.Close() // the listener and every connection
	<-p.done
}
