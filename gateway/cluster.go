package gateway

import (
	"portico/config"
	"portico/router/cluster"
)

// clusterFor returns the cluster node for router worker w, nil when the node has no `cluster`
// section or w is not its first router worker: the cluster shares the realms of one router
// worker. It is made with the router and lives as long (a reload keeps it; a change of the
// `cluster` section takes a restart, as a change of realms does).
func (g *Gateway) clusterFor(w *config.Worker) *cluster.Node {
	n := g.node
	if n == nil || n.Cluster == nil {
		return nil
	}
	for i := range n.Workers {
		if n.Workers[i].Type == "router" {
			if n.Workers[i].Place != w.Place {
				return nil
			}
			cn := cluster.New(*n.Cluster, g.log.With("worker", w.Place))
			cn.SetConfigHash(cluster.ConfigHash(w.Realms, routerAuths(w)))
			g.metrics.clusterNode(cn)
			return cn
		}
	}
	return nil
}

// routerAuths returns the `auth` of every WAMP endpoint of w (websocket paths, RawSocket),
// which the nodes of a cluster must agree on with the realms.
func routerAuths(w *config.Worker) []*config.Auth {
	var auths []*config.Auth
	var walk func(paths map[string]*config.Service)
	walk = func(paths map[string]*config.Service) {
		for _, s := range paths {
			if s == nil {
				continue
			}
			if s.WebSocket != nil {
				auths = append(auths, s.WebSocket.Auth)
			}
			walk(s.Paths)
		}
	}
	for _, t := range w.Transports {
		walk(t.Paths)
		if t.RawSocket != nil {
			auths = append(auths, t.RawSocket.Auth)
		}
	}
	return auths
}
