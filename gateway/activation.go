package gateway

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"portico/config"
)

// Inherited is a listening socket the service manager opened and passed on (systemd socket
// activation, sd_listen_fds(3)): a transport it matches serves it instead of binding its
// endpoint.
type Inherited struct {
	FD   int    // the descriptor number it came as (3, 4, ...)
	Name string // its LISTEN_FDNAMES entry (FileDescriptorName= of the .socket unit)
	Ln   net.Listener
}

func (in Inherited) String() string {
	return fmt.Sprintf("fd %d (name %q, address %s)", in.FD, in.Name, in.Ln.Addr())
}

// Inherit hands the gateway the sockets it was started with; Start matches each to a
// transport (matchInherited). Call it before Start.
func (g *Gateway) Inherit(ls []Inherited) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inherited = append(g.inherited, ls...)
}

// matchInherited assigns each inherited socket to the transport it belongs to, by place: by
// name first (the name is a transport's id), else by address (its local address is the
// transport's endpoint: interface and port, or unix path). A socket that matches no
// transport, or a transport that two sockets match, is an error naming the socket.
func matchInherited(node *config.Node, ls []Inherited) (map[string]net.Listener, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	var ts []*config.Transport
	for i := range node.Workers {
		for j := range node.Workers[i].Transports {
			ts = append(ts, &node.Workers[i].Transports[j])
		}
	}
	out := map[string]net.Listener{}
	by := map[string]Inherited{}
	for _, in := range ls {
		var hit *config.Transport
		for _, t := range ts {
			if t.ID != "" && t.ID == in.Name {
				hit = t
				break
			}
		}
		if hit == nil {
			for _, t := range ts {
				if listensAt(in.Ln.Addr(), t.Endpoint) {
					hit = t
					break
				}
			}
		}
		if hit == nil {
			return nil, fmt.Errorf("inherited socket %s matches no transport: name it by a transport's id (FileDescriptorName= in the .socket unit) or listen at a transport's endpoint", in)
		}
		if prev, ok := by[hit.Place]; ok {
			return nil, fmt.Errorf("inherited sockets %s and %s both match %s: one socket per transport", prev, in, hit.Place)
		}
		by[hit.Place] = in
		out[hit.Place] = in.Ln
	}
	return out, nil
}

// listensAt reports whether a socket bound at addr is the listener endpoint ep opens.
func listensAt(addr net.Addr, ep config.Endpoint) bool {
	switch a := addr.(type) {
	case *net.UnixAddr:
		return ep.Type == "unix" && a.Name != "" && filepath.Clean(a.Name) == filepath.Clean(ep.Path)
	case *net.TCPAddr:
		if ep.Type == "unix" {
			return false
		}
		if ep.PortRange[0] > 0 {
			if a.Port < ep.PortRange[0] || a.Port > ep.PortRange[1] {
				return false
			}
		} else if a.Port != ep.Port {
			return false
		}
		if ep.Interface == "" || net.ParseIP(ep.Interface) != nil && net.ParseIP(ep.Interface).IsUnspecified() {
			// Every address: systemd's ListenStream=PORT binds [::] (both families).
			return a.IP.IsUnspecified()
		}
		if ip := net.ParseIP(strings.Trim(ep.Interface, "[]")); ip != nil {
			return ip.Equal(a.IP)
		}
		ips, err := net.DefaultResolver.LookupIP(context.Background(), "ip", ep.Interface)
		if err != nil {
			return false
		}
		for _, ip := range ips {
			if ip.Equal(a.IP) {
				return true
			}
		}
	}
	return false
}
