package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"portico/internal/testkit"
)

// envRequest sends GET path with headers to the env app and returns the environ it saw.
func envRequest(t *testing.T, n *node, path string, headers map[string]string) map[string]string {
	t.Helper()
	req, err := http.NewRequest("GET", n.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: testkit.Patience}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	env := map[string]string{}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return env
}

// logLines waits until file holds a line containing each of want, and returns its lines.
func logLines(t *testing.T, file string, want ...string) []string {
	t.Helper()
	var lines []string
	testkit.WaitFor(t, testkit.Patience, "access log lines in "+file, func() bool {
		b, _ := os.ReadFile(file)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				return false
			}
		}
		return true
	})
	return lines
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccessLogJSON: `access_log: "json"` writes one JSON object per request to its file, with
// the request ID the client sent or the one Portico made, which the app received too, as it
// received traceparent; after logrotate's rename and SIGUSR1, lines go to a new file.
func TestAccessLogJSON(t *testing.T) {
	t.Parallel()
	n, dir := opsNode(t, `"access_log": "json", "access_log_file": "access.log"`)
	file := filepath.Join(dir, "access.log")

	env := envRequest(t, n, "/given?q=1", map[string]string{"X-Request-ID": "req-given-1",
		"Traceparent": traceparent, "User-Agent": "ua/1", "Referer": "http://ref.example/"})
	if env["HTTP_X_REQUEST_ID"] != "req-given-1" || env["HTTP_TRACEPARENT"] != traceparent {
		t.Errorf("the app saw X-Request-ID %q, traceparent %q", env["HTTP_X_REQUEST_ID"], env["HTTP_TRACEPARENT"])
	}
	env = envRequest(t, n, "/made", nil)
	made := env["HTTP_X_REQUEST_ID"]
	if !generatedID.MatchString(made) {
		t.Errorf("the app saw X-Request-ID %q, want 32 hex digits made by Portico", made)
	}
	// An ID with a space is not taken: Portico makes its own.
	if id := envRequest(t, n, "/bad", map[string]string{"X-Request-ID": "a b"})["HTTP_X_REQUEST_ID"]; !generatedID.MatchString(id) {
		t.Errorf("a malformed X-Request-ID reached the app as %q", id)
	}

	lines := logLines(t, file, "req-given-1", made)
	entries := map[string]map[string]any{}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		if id, ok := e["request_id"].(string); ok {
			entries[id] = e
		}
	}
	e := entries["req-given-1"]
	if e == nil {
		t.Fatalf("no line for req-given-1 in %q", lines)
	}
	for k, v := range map[string]any{"method": "GET", "uri": "/given?q=1", "status": 200.0, "host": "127.0.0.1",
		"remote": "127.0.0.1", "user_agent": "ua/1", "referer": "http://ref.example/"} {
		if e[k] != v {
			t.Errorf("%s = %#v, want %#v (line %v)", k, e[k], v, e)
		}
	}
	if b, _ := e["bytes"].(float64); b < 100 {
		t.Errorf("bytes = %v, want the size of the environ", e["bytes"])
	}
	if d, _ := e["duration"].(float64); d <= 0 {
		t.Errorf("duration = %v", e["duration"])
	}
	if u, ok := e["upstream_time"].(float64); !ok || u <= 0 {
		t.Errorf("upstream_time = %v", e["upstream_time"])
	}
	if _, err := time.Parse(time.RFC3339Nano, e["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	if m := entries[made]; m == nil || m["user_agent"] != nil && m["user_agent"] != "Go-http-client/1.1" || m["referer"] != nil {
		t.Errorf("the line of the made ID: %v", m)
	}

	// logrotate: rename, then SIGUSR1; the next lines go to a new file of the old name.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, testkit.Patience, "the reopen to be logged", func() bool {
		return strings.Contains(n.logs.String(), "access logs reopened")
	})
	envRequest(t, n, "/after", map[string]string{"X-Request-ID": "after-rotate"})
	logLines(t, file, "after-rotate")
	old, _ := os.ReadFile(file + ".1")
	if strings.Contains(string(old), "after-rotate") || !strings.Contains(string(old), "req-given-1") {
		t.Errorf("the rotated file:\n%s", old)
	}
}

// TestAccessLogCombined: nginx's combined format, and request_id with a header of the user's.
func TestAccessLogCombined(t *testing.T) {
	t.Parallel()
	n, dir := opsNode(t, `"access_log": "combined", "access_log_file": "access.log", "request_id": "X-Correlation-ID"`)
	env := envRequest(t, n, `/c?x="1"`, map[string]string{"User-Agent": "ua \"quoted\"", "Referer": "http://ref.example/"})
	if !generatedID.MatchString(env["HTTP_X_CORRELATION_ID"]) || env["HTTP_X_REQUEST_ID"] != "" {
		t.Errorf("the app saw X-Correlation-ID %q, X-Request-ID %q", env["HTTP_X_CORRELATION_ID"], env["HTTP_X_REQUEST_ID"])
	}
	lines := logLines(t, filepath.Join(dir, "access.log"), "/c?")
	re := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET /c\?x=(%22|\\x22)1(%22|\\x22) HTTP/1\.1" 200 \d+ "http://ref\.example/" "ua \\x22quoted\\x22"$`)
	if len(lines) != 1 || !re.MatchString(lines[0]) {
		t.Errorf("combined lines %q, want one matching %s", lines, re)
	}
}
