package tests

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// advancedNode starts a node with one configured realm per serializer ("adv.json", ...), each
// with an anonymous role that may do everything and a memory store: event history on
// com.adv.hist.counter (3 events), a call queue for com.adv.queued (10 calls).
func advancedNode(t *testing.T) *node {
	t.Helper()
	var realms []any
	for _, ser := range append(serializers, "js") {
		realms = append(realms, map[string]any{
			"name": "adv." + ser,
			"roles": []any{map[string]any{"name": "anonymous", "permissions": []any{map[string]any{
				"uri": "", "match": "prefix",
				"allow": map[string]any{"call": true, "register": true, "publish": true, "subscribe": true},
			}}}},
			"store": map[string]any{
				"type": "memory", "limit": 100,
				"event-history": []any{map[string]any{"uri": "com.adv.hist.counter", "match": "exact", "limit": 3}},
				"call-queue":    []any{map[string]any{"uri": "com.adv.queued", "match": "exact", "limit": 10}},
			},
		})
	}
	cfg := map[string]any{
		"version":    2,
		"controller": map[string]any{},
		"workers": []any{map[string]any{
			"type":   "router",
			"realms": realms,
			"transports": []any{map[string]any{
				"type":     "web",
				"endpoint": map[string]any{"type": "tcp", "interface": "127.0.0.1", "port": 0},
				"paths": map[string]any{
					"/":  map[string]any{"type": "json", "value": map[string]any{"wamp": "/ws"}},
					"ws": map[string]any{"type": "websocket"},
				},
			}},
		}},
	}
	return startConfig(t, cfg)
}

// TestWAMPAdvancedAutobahnPython: autobahn-python over each serializer through the advanced
// features Crossbar users rely on: payload passthru (Autobahn's payload codec with enc_algo
// "mqtt": events, calls, results and errors arrive decoded), REGISTER concurrency (the second
// concurrent call fails with crossbar.error.max_concurrency_reached) and the store's call
// queue (three calls to a callee of concurrency 1 all answered, in order), force_reregister,
// wamp.registration.remove_callee, and event history (wamp.subscription.get_events).
func TestWAMPAdvancedAutobahnPython(t *testing.T) {
	t.Parallel()
	n := advancedNode(t)
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "testdata/wamp/advanced_client.py", wsURL(n), "adv."+ser, ser)
			cmd.Dir = "."
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("advanced_client.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			res := lastJSON(t, stdout.String(), stderr.String())

			expect(t, res, map[string]any{"args": []any{"hello", 1}, "kwargs": map[string]any{"k": "v"}, "enc_algo": "mqtt"}, "passthru", "event")
			expect(t, res, []int{3, 2, 1}, "passthru", "call")
			expect(t, res, map[string]any{"error": "com.adv.ppt.failed", "args": []any{"opaque error"}}, "passthru", "error")

			expect(t, res, "crossbar.error.max_concurrency_reached", "concurrency", "second")
			expect(t, res, 1, "concurrency", "first")
			expect(t, res, 3, "concurrency", "after")

			expect(t, res, []int{1}, "queued", "started_before_release")
			expect(t, res, []int{10, 20, 30}, "queued", "results")
			expect(t, res, []int{1, 2, 3}, "queued", "order")

			expect(t, res, "wamp.error.procedure_already_exists", "force", "plain")
			expect(t, res, "c", "force", "served_by")

			expect(t, res, "wamp.error.no_such_procedure", "remove_callee", "after")
			expect(t, res, "wamp.error.no_such_registration", "remove_callee", "again")

			expect(t, res, []any{[]any{4}, []any{3}, []any{2}}, "history", "args")
			expect(t, res, []string{"com.adv.hist.counter"}, "history", "topics")
			expect(t, res, "wamp.error.history_unavailable", "history", "without_history")
		})
	}
	if strings.Contains(n.logs.String(), "level=ERROR") {
		t.Errorf("errors in the log:\n%s", n.logs.String())
	}
}

// TestWAMPAdvancedWampy: wampy over each serializer: payload passthru mode with ppt_scheme
// (an event and a call whose payloads wampy packs and unpacks), progressive call invocations
// (wampy's progressiveCall; the callee is raw WAMP, no JavaScript library being one), and
// wamp.subscription.remove_subscriber.
func TestWAMPAdvancedWampy(t *testing.T) {
	t.Parallel()
	dir := jsDir(t)
	n := advancedNode(t)
	for _, ser := range serializers {
		t.Run(ser, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "advanced.mjs", wsURL(n), "adv.js", ser)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("node advanced.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			res := lastJSON(t, stdout.String(), stderr.String())
			expect(t, res, map[string]any{"args": []any{"hi", 2}, "kwargs": map[string]any{"k": "v"}, "scheme": "x_portico"}, "ppt_event")
			expect(t, res, map[string]any{"args": []any{3, 2, 1}, "scheme": "x_portico"}, "ppt_result")
			expect(t, res, []any{6, 3, []any{true, true, false}}, "progressive")
			expect(t, res, true, "sentinel")
			expect(t, res, []any{}, "removed_got")
		})
	}
}
