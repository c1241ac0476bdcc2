package tests

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"portico/internal/testkit"
)

// opsNode starts a node whose one web transport serves the env app (launched uwsgi) at /, the
// WAMP router at /ws and the metrics at /metrics, with the transport options given as JSON
// members (e.g. `"access_log": "json"`). It returns the node directory too.
func opsNode(t *testing.T, options string) (*node, string) {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, "testdata/envapp", filepath.Join(dir, "app"))
	cfg := fmt.Sprintf(`{
  "version": 2,
  "workers": [{
    "type": "router",
    "options": {"pythonpath": ["../app"]},
    "transports": [{
      "type": "web",
      "endpoint": {"type": "tcp", "port": %d, "interface": "127.0.0.1"},
      "options": {%s},
      "paths": {
        "/": {"type": "wsgi", "module": "envapp", "object": "application"},
        "ws": {"type": "websocket"},
        "metrics": {"type": "metrics"}
      }
    }]
  }]
}`, freePort(t), options)
	if err := os.MkdirAll(filepath.Join(dir, ".crossbar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".crossbar", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir), filepath.Join(dir, ".crossbar")
}

// scrape GETs /metrics and parses it as the Prometheus text format.
func scrape(t *testing.T, n *node) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := get(t, n.base+"/metrics")
	if status != 200 {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape is not the Prometheus text format: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series of family name whose labels include want (a counter, a
// gauge, or a histogram's count); NaN when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return math.NaN()
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return math.NaN()
}

// rawRequest sends req on a new connection and reads the answer to its end.
func rawRequest(t *testing.T, n *node, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testkit.Patience))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestMetricsScrape: after a request to a launched uwsgi app and a WAMP session of a real
// autobahn-python client, a scrape of the metrics path parses as the Prometheus text format
// and its counters have moved (WAMP messages received and sent by type among them); a uwsgi
// killed and restarted by its supervisor is counted.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	n, _ := opsNode(t, "")
	const app = "workers[0].transports[0].paths./"
	before := scrape(t, n)
	if v := value(before, "portico_http_requests_total", map[string]string{"service": app, "code": "2xx"}); v != 0 {
		t.Errorf("requests to the app before any: %v, want 0", v)
	}
	for range 3 {
		if status, body := get(t, n.base+"/hello?x=1"); status != 200 {
			t.Fatalf("GET /hello: %d %s", status, body)
		}
	}
	// A request fasthttp refuses before the handler (a header without a colon): counted
	// without a duration, which it has none of.
	rawRequest(t, n, "GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n")
	res := pyClient(t, "basic", wsURL(n), "realm1", "json")
	if res["error"] != nil {
		t.Fatalf("WAMP client: %v", res)
	}

	fams := scrape(t, n)
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"portico_http_requests_total", map[string]string{"service": app, "code": "2xx", "type": "wsgi", "transport": "workers[0].transports[0]"}, 3},
		{"portico_http_request_duration_seconds", map[string]string{"service": app}, 3},
		{"portico_http_response_body_bytes_total", map[string]string{"service": app}, 3},
		{"portico_http_requests_total", map[string]string{"service": "workers[0].transports[0].paths.metrics", "code": "2xx"}, 1},
		{"portico_upstream_response_seconds", map[string]string{"service": app, "upstream": "launched"}, 3},
		{"portico_upstream_queue_length", map[string]string{"service": app}, 0},
		{"portico_upstream_failures_total", map[string]string{"service": app, "kind": "connect"}, 0},
		{"portico_open_connections", map[string]string{"transport": "workers[0].transports[0]"}, 1},
		{"portico_wamp_messages_received_total", map[string]string{"type": "HELLO"}, 2},
		{"portico_wamp_messages_received_total", map[string]string{"type": "CALL"}, 1},
		{"portico_wamp_messages_received_total", map[string]string{"type": "PUBLISH"}, 1},
		{"portico_wamp_sessions", map[string]string{"realm": "realm1"}, 0},
		{"portico_websocket_connections", map[string]string{"transport": "workers[0].transports[0]"}, 0},
		{"portico_wamp_slow_consumer_disconnects_total", nil, 0},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, c := range checks {
		if v := value(fams, c.name, c.labels); math.IsNaN(v) || v < c.min {
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
	// What the router sent the two sessions: each write is counted once it is done, which may
	// come a moment after the client read it.
	sent := map[string]float64{"WELCOME": 2, "REGISTERED": 1, "SUBSCRIBED": 1, "INVOCATION": 1, "RESULT": 1, "PUBLISHED": 1, "EVENT": 1}
	testkit.CheckFor(t, 0, func() error {
		fams := scrape(t, n)
		for typ, min := range sent {
			if v := value(fams, "portico_wamp_messages_sent_total", map[string]string{"type": typ}); math.IsNaN(v) || v < min {
				return fmt.Errorf("portico_wamp_messages_sent_total{type=%q} = %v, want >= %v", typ, v, min)
			}
		}
		if v := value(fams, "portico_wamp_messages_sent_total", map[string]string{"type": "other"}); v != 0 {
			return fmt.Errorf("portico_wamp_messages_sent_total{type=\"other\"} = %v, want 0", v)
		}
		return nil
	})
	for _, m := range fams["portico_http_request_duration_seconds"].GetMetric() {
		if h := m.GetHistogram(); h.GetSampleSum() > 60*float64(h.GetSampleCount()) {
			t.Errorf("request durations: %v s over %d requests", h.GetSampleSum(), h.GetSampleCount())
		}
	}
	if v := value(fams, "portico_http_requests_total", map[string]string{"service": "", "code": "4xx"}); v < 1 {
		t.Errorf("refused requests: %v, want >= 1", v)
	}
	if f := fams["portico_http_request_duration_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("portico_http_request_duration_seconds is not a histogram: %v", f.GetType())
	}
	if f := fams["portico_http_requests_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("portico_http_requests_total is not a counter")
	}

	// The supervisor restarts a killed uwsgi; the restart is counted.
	pids := uwsgiPIDs(n.cmd.Process.Pid)
	if len(pids) == 0 {
		t.Fatal("no uwsgi running")
	}
	_ = syscall.Kill(pids[0], syscall.SIGKILL)
	testkit.WaitFor(t, testkit.Patience, "the uwsgi restart to be counted", func() bool {
		return value(scrape(t, n), "portico_uwsgi_restarts_total", map[string]string{"service": app}) >= 1
	})
}
