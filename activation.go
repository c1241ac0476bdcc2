package main

import (
	"fmt"
	"net"

	"github.com/coreos/go-systemd/v22/activation"

	"portico/gateway"
)

// inheritedSockets takes the listening sockets systemd passed (socket activation,
// sd_listen_fds(3): LISTEN_PID is this process, LISTEN_FDS counts them from fd 3,
// LISTEN_FDNAMES names them). LISTEN_* leave the environment either way, so that launched
// children (uwsgi, Python) do not take them for theirs; the descriptors are close-on-exec.
func inheritedSockets() ([]gateway.Inherited, error) {
	files := activation.Files(true)
	var out []gateway.Inherited
	for i, f := range files {
		ln, err := net.FileListener(f)
		fd := 3 + i // SD_LISTEN_FDS_START; f.Fd() would make the shared socket blocking
		f.Close()   // FileListener made its own descriptor
		if err != nil {
			for _, in := range out {
				in.Ln.Close()
			}
			return nil, fmt.Errorf("inherited socket fd %d (name %q): not a listening stream socket: %w", fd, f.Name(), err)
		}
		out = append(out, gateway.Inherited{FD: fd, Name: f.Name(), Ln: ln})
	}
	return out, nil
}
