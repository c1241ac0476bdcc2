package gateway

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/router"
	"portico/router/cluster"
	"portico/router/wamp"
)

// Prometheus metrics, served by a `metrics` path service in the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Every series a request
// touches is made when the path table is built (svcStats, upstreamStats), so that counting on
// the request path is a few atomic adds and one histogram update: no label formatting, no map
// lookup by name, no allocation. The series live in one metrics.Set per gateway and survive
// reloads (a service of the same place finds its series again).

func init() {
	// # HELP and # TYPE lines: Prometheus then knows counters from gauges, and the
	// histograms' _bucket series are typed (histogram_quantile works either way).
	metrics.ExposeMetadata(true)
}

// durationBuckets are the upper bounds, in seconds, of the request and upstream time
// histograms: 1 ms to 60 s (nginx's default timeouts), dense where web apps answer.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// gwMetrics is one gateway's set of series.
type gwMetrics struct {
	set *metrics.Set

	mu  sync.Mutex
	ups map[string]*upstreamStats // by service place and upstream label
	// sessions counts WAMP sessions per realm; router hooks, one per worker.
	realms map[string]*metrics.Gauge

	messages     [wamp.EVENT_RECEIVED + 1]*metrics.Counter // received, by message type
	otherMsg     *metrics.Counter
	sent         [wamp.YIELD + 1]*metrics.Counter // sent, by message type
	otherSent    *metrics.Counter
	slowConsumer *metrics.Counter
	authFailed   map[string]*metrics.Counter

	cluster atomic.Pointer[cluster.Node] // the node's cluster node, nil without one
}

func newMetrics() *gwMetrics {
	m := &gwMetrics{set: metrics.NewSet(), ups: map[string]*upstreamStats{}, realms: map[string]*metrics.Gauge{},
		authFailed: map[string]*metrics.Counter{}}
	for _, t := range []wamp.MessageType{wamp.HELLO, wamp.ABORT, wamp.AUTHENTICATE, wamp.GOODBYE, wamp.ERROR,
		wamp.PUBLISH, wamp.SUBSCRIBE, wamp.UNSUBSCRIBE, wamp.CALL, wamp.CANCEL, wamp.REGISTER, wamp.UNREGISTER,
		wamp.YIELD, wamp.EVENT_RECEIVED} {
		m.messages[t] = m.set.NewCounter(`portico_wamp_messages_received_total{type="` + t.String() + `"}`)
	}
	m.otherMsg = m.set.NewCounter(`portico_wamp_messages_received_total{type="other"}`)
	// What a router sends; INTERRUPT and the router's own UNSUBSCRIBED and UNREGISTERED
	// included, and the client messages it forwards (none).
	for _, t := range []wamp.MessageType{wamp.WELCOME, wamp.ABORT, wamp.CHALLENGE, wamp.GOODBYE, wamp.ERROR,
		wamp.PUBLISHED, wamp.SUBSCRIBED, wamp.UNSUBSCRIBED, wamp.EVENT, wamp.RESULT, wamp.REGISTERED,
		wamp.UNREGISTERED, wamp.INVOCATION, wamp.INTERRUPT} {
		m.sent[t] = m.set.NewCounter(`portico_wamp_messages_sent_total{type="` + t.String() + `"}`)
	}
	m.otherSent = m.set.NewCounter(`portico_wamp_messages_sent_total{type="other"}`)
	m.slowConsumer = m.set.NewCounter(`portico_wamp_slow_consumer_disconnects_total`)
	return m
}

// label quotes v as a Prometheus label value.
func label(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return `"` + v + `"`
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// svcStats are the series of one path service on one transport.
type svcStats struct {
	byClass  [6]*metrics.Counter // [0]: statuses outside 100..599, [1]: 1xx ... [5]: 5xx
	duration *metrics.PrometheusHistogram
	in, out  *metrics.Counter
}

// service returns the series of the service at place (on transport) of type typ.
func (m *gwMetrics) service(transport, place, typ string) *svcStats {
	lbl := `transport=` + label(transport) + `,service=` + label(place) + `,type=` + label(typ)
	st := &svcStats{
		duration: m.set.GetOrCreatePrometheusHistogramExt(`portico_http_request_duration_seconds{`+lbl+`}`, durationBuckets),
		in:       m.set.GetOrCreateCounter(`portico_http_request_body_bytes_total{` + lbl + `}`),
		out:      m.set.GetOrCreateCounter(`portico_http_response_body_bytes_total{` + lbl + `}`),
	}
	for i, c := range [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		st.byClass[i] = m.set.GetOrCreateCounter(`portico_http_requests_total{` + lbl + `,code=` + label(c) + `}`)
	}
	return st
}

// observe counts one finished request: its status class, its time to the response head, and
// its body sizes (the request's Content-Length; the response body, or the Content-Length of a
// streamed one: a streamed body of unknown length is not counted).
func (st *svcStats) observe(ctx *fasthttp.RequestCtx) {
	c := ctx.Response.StatusCode() / 100
	if c < 1 || c > 5 {
		c = 0
	}
	st.byClass[c].Inc()
	if t := ctx.Time(); !t.IsZero() { // zero for requests fasthttp could not parse
		st.duration.Update(time.Since(t).Seconds())
	}
	if n := ctx.Request.Header.ContentLength(); n > 0 {
		st.in.Add(n)
	}
	if !ctx.Response.IsBodyStream() {
		st.out.Add(len(ctx.Response.Body()))
	} else if n := ctx.Response.Header.ContentLength(); n > 0 {
		st.out.Add(n)
	}
}

// observe counts a finished request of svc (nil: none was found) in its series.
func (tab *pathTable) observe(ctx *fasthttp.RequestCtx, svc service) {
	if tab == nil {
		return
	}
	st := tab.unrouted
	if svc != nil {
		st = tab.stats[svc]
	}
	if st != nil {
		st.observe(ctx)
	}
}

// upstreamStats are the series of one uwsgi upstream of a wsgi path: its label as configured,
// or "launched" for the uwsgi Portico launched for the path (its socket's name changes with
// every start).
type upstreamStats struct {
	respTime  *metrics.PrometheusHistogram // connection to response head
	queueWait *metrics.PrometheusHistogram // requests that waited for a slot
	failures  map[string]*metrics.Counter  // by kind, see failureKind

	mu   sync.Mutex
	live map[*upstream]struct{} // for the queue gauges; several during a reload
}

var failureKinds = []string{"queue_full", "queue_timeout", "connect", "send", "read", "other"}

func (m *gwMetrics) upstream(u *upstream, service, name string) *upstreamStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := service + "\x00" + name
	st := m.ups[key]
	if st == nil {
		lbl := `upstream=` + label(name) + `,service=` + label(service)
		st = &upstreamStats{
			respTime:  m.set.GetOrCreatePrometheusHistogramExt(`portico_upstream_response_seconds{`+lbl+`}`, durationBuckets),
			queueWait: m.set.GetOrCreatePrometheusHistogramExt(`portico_upstream_queue_wait_seconds{`+lbl+`}`, durationBuckets),
			failures:  map[string]*metrics.Counter{},
			live:      map[*upstream]struct{}{},
		}
		for _, k := range failureKinds {
			st.failures[k] = m.set.GetOrCreateCounter(`portico_upstream_failures_total{` + lbl + `,kind="` + k + `"}`)
		}
		m.set.GetOrCreateGauge(`portico_upstream_queue_length{`+lbl+`}`, func() float64 {
			n, _ := st.sum()
			return float64(n)
		})
		m.set.GetOrCreateGauge(`portico_upstream_active_requests{`+lbl+`}`, func() float64 {
			_, n := st.sum()
			return float64(n)
		})
		m.ups[key] = st
	}
	st.mu.Lock()
	st.live[u] = struct{}{}
	st.mu.Unlock()
	u.stats = st
	return st
}

// sum adds up the waiting and active requests of the live upstreams of st.
func (st *upstreamStats) sum() (waiting, active int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for u := range st.live {
		u.mu.Lock()
		waiting += len(u.waiters)
		active += u.active
		u.mu.Unlock()
	}
	return waiting, active
}

// drop forgets u (its service was closed).
func (st *upstreamStats) drop(u *upstream) {
	st.mu.Lock()
	delete(st.live, u)
	st.mu.Unlock()
}

// failure counts err, an upstreamError, by kind.
func (st *upstreamStats) failure(op string, err error) {
	st.failures[failureKind(op, err)].Inc()
}

func failureKind(op string, err error) string {
	switch op {
	case "queue":
		if err == errQueueFull {
			return "queue_full"
		}
		return "queue_timeout"
	case "dial":
		return "connect"
	case "send", "send body":
		return "send"
	case "read head", "read body":
		return "read"
	}
	return "other"
}

// restarts returns the counter of restarts of the uwsgi launched for the service at place.
func (m *gwMetrics) restarts(place string) *metrics.Counter {
	return m.set.GetOrCreateCounter(`portico_uwsgi_restarts_total{service=` + label(place) + `}`)
}

// connections exports the open client connections of a transport's HTTP server.
func (m *gwMetrics) connections(place string, srv *fasthttp.Server) {
	m.set.GetOrCreateGauge(`portico_open_connections{transport=`+label(place)+`}`, func() float64 {
		return float64(srv.GetOpenConnectionsCount())
	})
}

// upgradedConnections exports the live upgraded connections of a transport: WAMP WebSockets,
// WebSockets relayed to uwsgi apps, and RawSocket connections (connSlots).
func (m *gwMetrics) upgradedConnections(place string, n interface{ Load() int64 }) {
	m.set.GetOrCreateGauge(`portico_websocket_connections{transport=`+label(place)+`}`, func() float64 {
		return float64(n.Load())
	})
}

// routerHooks are the router's metrics hooks (the router imports no metrics library).
func (m *gwMetrics) routerHooks() *router.Metrics {
	return &router.Metrics{
		Joined:   func(realm wamp.URI) { m.realm(realm).Inc() },
		Left:     func(realm wamp.URI) { m.realm(realm).Dec() },
		Received: m.received,
		Sent:     m.sentMsg,
		SlowConsumer: func() {
			m.slowConsumer.Inc()
		},
		AuthFailed: func(method string) {
			m.mu.Lock()
			c := m.authFailed[method]
			if c == nil {
				c = m.set.GetOrCreateCounter(`portico_wamp_auth_failures_total{authmethod=` + label(method) + `}`)
				m.authFailed[method] = c
			}
			m.mu.Unlock()
			c.Inc()
		},
	}
}

func (m *gwMetrics) received(t wamp.MessageType) {
	if t >= 0 && int(t) < len(m.messages) {
		if c := m.messages[t]; c != nil {
			c.Inc()
			return
		}
	}
	m.otherMsg.Inc()
}

// sentMsg counts a message written to a client: one atomic add, no allocation.
func (m *gwMetrics) sentMsg(t wamp.MessageType) {
	if t >= 0 && int(t) < len(m.sent) {
		if c := m.sent[t]; c != nil {
			c.Inc()
			return
		}
	}
	m.otherSent.Inc()
}

func (m *gwMetrics) realm(name wamp.URI) *metrics.Gauge {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.realms[string(name)]
	if g == nil {
		g = m.set.GetOrCreateGauge(`portico_wamp_sessions{realm=`+label(string(name))+`}`, nil)
		m.realms[string(name)] = g
	}
	return g
}

// write appends the exposition: the gateway's series, then the Go runtime's and the
// process's (go_*, process_*).
func (m *gwMetrics) write(b *bytes.Buffer) {
	m.set.WritePrometheus(b)
	metrics.WriteProcessMetrics(b)
}

// metricsService serves the `metrics` path: the Prometheus text format, on GET and HEAD.
type metricsService struct {
	where string
	m     *gwMetrics
}

func newMetricsService(svc *config.Service, m *gwMetrics) *metricsService {
	return &metricsService{where: svc.Place, m: m}
}

func (s *metricsService) place() string { return s.where }
func (s *metricsService) close()        {}

func (s *metricsService) serve(ctx *fasthttp.RequestCtx, rq *request) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return errMethod
	}
	var b bytes.Buffer
	s.m.write(&b)
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b.Bytes())
	return nil
}

var _ service = (*metricsService)(nil)

// clusterNode exports the cluster node's gauges: portico_cluster_config_mismatch, the live
// nodes whose realm and role configuration differs from this node's, and
// portico_cluster_peers, the other live nodes, and portico_cluster_dropped_total, the NATS
// messages dropped because this node fell behind (slow consumer) or NATS did not take its
// sends (send queue full, write failed).
func (m *gwMetrics) clusterNode(n *cluster.Node) {
	if m.cluster.Swap(n) != nil {
		return
	}
	m.set.GetOrCreateGauge(`portico_cluster_config_mismatch`, func() float64 {
		return float64(m.cluster.Load().ConfigMismatches())
	})
	m.set.GetOrCreateGauge(`portico_cluster_peers`, func() float64 {
		return float64(m.cluster.Load().Peers())
	})
	m.set.GetOrCreateGauge(`portico_cluster_dropped_total`, func() float64 {
		return float64(m.cluster.Load().Dropped())
	})
}
