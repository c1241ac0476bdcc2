package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/valyala/fasthttp"

	"portico/config"
)

// Request buffering (nginx's uwsgi_request_buffering, on by default there too): a request body
// is read whole from the client, in memory up to chunkedMemLimit and then in an unlinked file in
// the transport's spool_dir, before an upstream slot is taken and uwsgi is dialed. A client
// that sends its body at one byte a second then holds its own connection and its own bytes,
// never an upstream slot or a uwsgi worker: sixteen such clients in front of an app with a few
// workers would otherwise make it unavailable to everyone else. With request_buffering off, a
// body with a Content-Length streams to the app as it arrives (for apps that process uploads
// on the fly); a chunked body is read whole either way, since uwsgi needs CONTENT_LENGTH.
//
// What is held while bodies are read is bounded per transport (max_spool_size, 507) and per
// client address (max_spool_per_client, 429), memory and files together, so that neither many
// clients nor one can fill the disk, or the RAM when the spool is on a tmpfs.

var (
	errSpoolFull       = errors.New("request bodies being read fill max_spool_size")
	errClientSpoolFull = errors.New("this client's request bodies being read fill max_spool_per_client")
)

// spoolQuota counts the request body bytes a transport holds while reading them. One quota per
// transport lives across reloads (Gateway.spools), so requests read under the old path table
// and the new one share it.
type spoolQuota struct {
	mu        sync.Mutex
	held      int64
	perClient map[netip.Addr]int64
	maxTotal  int64 // 0: unlimited
	maxClient int64 // 0: unlimited
	dir       string
}

func (q *spoolQuota) setLimits(total, client int64) {
	q.mu.Lock()
	q.maxTotal, q.maxClient = total, client
	q.mu.Unlock()
}

// charge takes n more bytes for client, or refuses them without taking any.
func (q *spoolQuota) charge(client netip.Addr, n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.perClient[client]
	if q.maxTotal > 0 && q.held+n > q.maxTotal {
		return fmt.Errorf("%w (%d bytes held, bound %d)", errSpoolFull, q.held, q.maxTotal)
	}
	if q.maxClient > 0 && c+n > q.maxClient {
		return fmt.Errorf("%w (%d bytes held for %s, bound %d)", errClientSpoolFull, c, client, q.maxClient)
	}
	q.held += n
	if q.perClient == nil {
		q.perClient = map[netip.Addr]int64{}
	}
	q.perClient[client] = c + n
	return nil
}

// fits reports whether a body of n bytes could be taken now, for a body whose length is known
// up front: refused at once rather than after the client sent what cannot be kept.
func (q *spoolQuota) fits(client netip.Addr, n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.maxTotal > 0 && q.held+n > q.maxTotal {
		return fmt.Errorf("%w (%d bytes held, %d announced, bound %d)", errSpoolFull, q.held, n, q.maxTotal)
	}
	if c := q.perClient[client]; q.maxClient > 0 && c+n > q.maxClient {
		return fmt.Errorf("%w (%d bytes held for %s, %d announced, bound %d)", errClientSpoolFull, c, client, n, q.maxClient)
	}
	return nil
}

func (q *spoolQuota) release(client netip.Addr, n int64) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	q.held -= n
	if c := q.perClient[client] - n; c > 0 {
		q.perClient[client] = c
	} else {
		delete(q.perClient, client)
	}
	q.mu.Unlock()
}

// bytesHeld is what the transport holds now (for tests and the refusal's log line).
func (q *spoolQuota) bytesHeld() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held
}

// readBody reads the request body whole (request_buffering), or only a chunked one, and
// returns its length and a reader over it; the reader is the client's stream when the body is
// to stream through. The spool is reset by the caller in every outcome.
func (s *wsgiService) readBody(ctx *fasthttp.RequestCtx, sp *spool, cl int64) (int64, io.Reader, error) {
	switch {
	case cl == 0 || cl < -1:
		return 0, nil, nil
	case cl > 0 && !s.buffering:
		return cl, s.clientBody(ctx), nil
	}
	client := s.clientKey(ctx)
	if cl > 0 {
		if err := s.quota.fits(client, cl); err != nil {
			return 0, nil, err
		}
	}
	sp.quota, sp.client = s.quota, client
	return sp.fill(s.clientBody(ctx), cl, s.maxBody, s.spoolDir)
}

// clientKey is the address the per-client bound counts by: the request's client address
// (realIP.client: the peer, or behind trusted_proxies the forwarded address, as REMOTE_ADDR).
// An IPv6 client counts by its /64, the smallest block one subscriber usually gets, so that
// it cannot take a fresh share with each of its addresses.
func (s *wsgiService) clientKey(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _, _ := s.env.ip.client(addrPort(ctx.RemoteAddr()), &ctx.Request.Header)
	a = a.Unmap()
	if a.Is6() {
		a = netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// spoolPlan is a transport's spool as a configuration being built sets it: the quota (the
// transport's own, which lives across reloads) and the limits and directory that
// commitSpools puts in force once that configuration is, so that a refused reload leaves the
// running ones as they are.
type spoolPlan struct {
	q             *spoolQuota
	total, client int64
	dir           string
}

// spoolFor plans the transport's spool quota with its limits and directory as configured
// now, making the directory when needed; the services built read the plan
// (g.spoolPlans). Called once per transport when a path table is built.
func (g *Gateway) spoolFor(t *config.Transport) (*spoolPlan, error) {
	o := &t.Options
	dir := o.SpoolDir
	if dir == "" {
		d, err := g.defaultSpoolDir()
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s.options.spool_dir: %w", t.Place, err)
	}
	if onTmpfs(dir) {
		g.log.Warn("request and response bodies are spooled to a tmpfs, which is RAM: set spool_dir to a directory on disk",
			"transport", t.Place, "spool_dir", dir, "max_spool_size", o.MaxSpoolSize)
	}
	q := g.spools[t.Place]
	if q == nil {
		q = &spoolQuota{}
	}
	p := &spoolPlan{q: q, total: o.MaxSpoolSize, client: o.MaxSpoolPerClient, dir: dir}
	if g.spoolPlans == nil {
		g.spoolPlans = map[string]*spoolPlan{}
	}
	g.spoolPlans[t.Place] = p
	return p, nil
}

// commitSpools puts the spools of the configuration just built in force: its limits and
// directories (for bodies read from now on; those being read keep their files). Start and
// Reload call it once the configuration is taken, with g.mu held.
func (g *Gateway) commitSpools() {
	if g.spools == nil {
		g.spools = map[string]*spoolQuota{}
	}
	for place, p := range g.spoolPlans {
		p.q.setLimits(p.total, p.client)
		p.q.dir = p.dir // read by builds only, which g.building serialises
		g.spools[place] = p.q
	}
	g.spoolPlans = nil
}

// defaultSpoolBase is where the default spool directory is made: /var/tmp survives reboots
// (FHS 3.0 section 5.15), so it is disk, where /tmp and /run are often tmpfs (RAM); systemd's
// PrivateTmp gives the service a private /var/tmp of its own, still on disk.
var defaultSpoolBase = "/var/tmp"

// defaultSpoolDir makes the private spool directory (0700) of this process, once; it is
// removed at stop. Without /var/tmp it falls back to $TMPDIR.
func (g *Gateway) defaultSpoolDir() (string, error) {
	if g.spoolDir != "" {
		return g.spoolDir, nil
	}
	d, err := os.MkdirTemp(defaultSpoolBase, "portico-spool-")
	if err != nil {
		d, err = os.MkdirTemp("", "portico-spool-")
	}
	if err != nil {
		return "", fmt.Errorf("request body spool directory (set spool_dir): %w", err)
	}
	g.spoolDir = d
	return d, nil
}

// onTmpfs reports whether dir is on a tmpfs or ramfs (statfs(2) f_type; linux/magic.h),
// where spooled bodies take RAM.
func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return false
	}
	const tmpfsMagic, ramfsMagic = 0x01021994, 0x858458f6
	return st.Type == tmpfsMagic || st.Type == ramfsMagic
}
