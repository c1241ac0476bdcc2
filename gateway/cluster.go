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
			return cluster.New(*n.Cluster, g.log.With("worker", w.Place))
		}
	}
	return nil
}
