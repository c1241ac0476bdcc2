package gateway

import (
	"log/slog"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// routerRef will hold the worker's WAMP router; websocket paths answer 501 until it is wired.
type routerRef struct{}

func (g *Gateway) routerFor(*config.Worker) *routerRef { return nil }

func (r *routerRef) close() {}

type wsService struct{ where string }

func newWebSocketService(svc *config.Service, _ *routerRef, _ *slog.Logger) (*wsService, error) {
	return &wsService{where: svc.Place}, nil
}

func (s *wsService) serve(*fasthttp.RequestCtx, *request) error { return errNotImplemented }
func (s *wsService) place() string                              { return s.where }
func (s *wsService) close()                                     {}
