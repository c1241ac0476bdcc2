package tests

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitsNode starts a Crossbar node without realms (as Crossbar's WSGI example) whose /ws
// path bounds sessions to 3 subscriptions and 64-byte URIs, and whose /wsticket path admits
// ticket clients only and gives them 300 ms to authenticate.
func limitsNode(t *testing.T) *node {
	t.Helper()
	cfg := map[string]any{
		"version":    2,
		"controller": map[string]any{},
		"workers": []any{map[string]any{
			"type": "router",
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": 0},
				"paths": map[string]any{
					"/": map[string]any{"type": "json", "value": map[string]any{"wamp": "/ws"}},
					"ws": map[string]any{"type": "websocket", "options": map[string]any{
						"max_subscriptions": 3, "max_uri_length": 64,
					}},
					"wsticket": map[string]any{"type": "websocket",
						"options": map[string]any{"auth_timeout": 300},
						"auth": map[string]any{"ticket": map[string]any{"type": "static", "principals": map[string]any{
							"backend1": map[string]any{"ticket": "secret!!!", "role": "backend"},
						}}},
					},
				},
			}},
		}},
	}
	return startConfig(t, cfg)
}

// TestWAMPLimitsAutobahnPython: on a node without configured realms, an anonymous
// autobahn-python client cannot end the other sessions nor read their addresses; sessions on
// more made-up realms than the router makes at once, each left in turn, do not lock out
// realm1; a session over max_subscriptions or max_uri_length gets an ERROR and stays; a
// client that never answers its CHALLENGE is ended with ABORT wamp.error.timeout.
func TestWAMPLimitsAutobahnPython(t *testing.T) {
	t.Parallel()
	n := limitsNode(t)
	base := "ws" + strings.TrimPrefix(n.base, "http")
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			// 256 is the router's bound on realms made on HELLO that have sessions.
			cmd := exec.CommandContext(ctx, python, "testdata/wamp/limits_client.py", base, ser, strconv.Itoa(300))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("limits_client.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			res := lastJSON(t, stdout.String(), stderr.String())

			expect(t, res, "wamp.error.not_authorized", "meta", "kill", "error")
			expect(t, res, []string{"protocol", "type"}, "meta", "transport_keys")
			expect(t, res, 2, "meta", "victim_served")

			expect(t, res, 300, "junk", "junk_joined")
			expect(t, res, 1, "junk", "realm1")

			expect(t, res, 3, "limits", "subscribed")
			expect(t, res, "portico.error.limit_exceeded", "limits", "refused", "error")
			expect(t, res, map[string]any{"limit": "max_subscriptions", "value": 3}, "limits", "refused", "kwargs")
			expect(t, res, "wamp.error.invalid_uri", "limits", "long_uri")
			expect(t, res, true, "limits", "still_served")

			expect(t, res, "wamp.error.timeout", "timeout", "reason")
		})
	}
	if logs := n.logs.String(); !strings.Contains(logs, "did not join within auth_timeout") {
		t.Errorf("no log line for the session ended at auth_timeout:\n%s", logs)
	}
}
