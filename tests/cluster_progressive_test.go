package tests

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// TestClusterProgressiveCallInvocations: wampy's progressive call on node A reaches a callee
// of progressive call invocations (raw WAMP, js/rawcallee.mjs) on node B as one call.
func TestClusterProgressiveCallInvocations(t *testing.T) {
	dir := jsDir(t)
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startConfig(t, clusterConfig(t, "a", map[string]any{"embedded": map[string]any{"listen": natsAddr}}))
	b := startConfig(t, clusterConfig(t, "b", map[string]any{"url": "nats://" + natsAddr}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "cluster_progressive.mjs", wsURL(a), wsURL(b), "realm1")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node cluster_progressive.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	res := lastJSON(t, stdout.String(), stderr.String())
	expect(t, res, []any{0, 1, []any{false}}, "plain")
	expect(t, res, []any{6, 3, []any{true, true, false}}, "progressive")
}
