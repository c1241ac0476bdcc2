package gateway

import (
	"net"
	"testing"

	"portico/config"
)

func TestListensAt(t *testing.T) {
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	for _, tc := range []struct {
		addr net.Addr
		ep   config.Endpoint
		want bool
	}{
		{tcp("127.0.0.1", 8080), config.Endpoint{Type: "tcp", Interface: "127.0.0.1", Port: 8080}, true},
		{tcp("127.0.0.1", 8081), config.Endpoint{Type: "tcp", Interface: "127.0.0.1", Port: 8080}, false},
		{tcp("127.0.0.2", 8080), config.Endpoint{Type: "tcp", Interface: "127.0.0.1", Port: 8080}, false},
		{tcp("::", 8080), config.Endpoint{Type: "tcp", Port: 8080}, true}, // ListenStream=8080
		{tcp("0.0.0.0", 8080), config.Endpoint{Type: "tcp", Interface: "::", Port: 8080, Version: 6}, true},
		{tcp("127.0.0.1", 8080), config.Endpoint{Type: "tcp", Port: 8080}, false},
		{tcp("::1", 8080), config.Endpoint{Type: "tcp", Interface: "::1", Port: 8080, Version: 6}, true},
		{tcp("127.0.0.1", 8085), config.Endpoint{Type: "tcp", Interface: "127.0.0.1", PortRange: [2]int{8080, 8090}}, true},
		{tcp("127.0.0.1", 8091), config.Endpoint{Type: "tcp", Interface: "127.0.0.1", PortRange: [2]int{8080, 8090}}, false},
		{&net.UnixAddr{Name: "/run/portico/web.sock", Net: "unix"}, config.Endpoint{Type: "unix", Path: "/run/portico//web.sock"}, true},
		{&net.UnixAddr{Name: "/run/portico/web.sock", Net: "unix"}, config.Endpoint{Type: "unix", Path: "/run/portico/other.sock"}, false},
		{&net.UnixAddr{Name: "/run/portico/web.sock", Net: "unix"}, config.Endpoint{Type: "tcp", Port: 8080}, false},
		{tcp("127.0.0.1", 8080), config.Endpoint{Type: "unix", Path: "/run/portico/web.sock"}, false},
	} {
		if got := listensAt(tc.addr, tc.ep); got != tc.want {
			t.Errorf("listensAt(%s, %+v) = %v, want %v", tc.addr, tc.ep, got, tc.want)
		}
	}
}
