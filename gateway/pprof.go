package gateway

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
)

// pprofOnce starts the profiling listener at most once per process.
var pprofOnce sync.Once

// startPprof serves Go's runtime profiles (net/http/pprof) on the address in PORTICO_PPROF,
// e.g. "127.0.0.1:6060", so that the gateway can be profiled under real load
// (contrib/bench/run -profile DIR). Unset, nothing listens and the request path is untouched.
// It is a debugging aid: bind it to loopback, it has no authentication.
func startPprof(log *slog.Logger) {
	addr := os.Getenv("PORTICO_PPROF")
	if addr == "" {
		return
	}
	pprofOnce.Do(func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Warn("pprof listener", "addr", addr, "error", err)
			return
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		log.Warn("serving runtime profiles (PORTICO_PPROF)", "addr", ln.Addr().String())
		go func() { _ = http.Serve(ln, mux) }()
	})
}
