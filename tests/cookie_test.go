package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portico/internal/testkit"
)

// TestCookieAuthCrossbarExample: crossbar-examples authentication/cookie (testdata/cookie:
// its config and backend component, unchanged, its file cookie store included) with one edit
// Portico needs: its "shared" path (an archive service, not supported yet) is dropped. An
// autobahn-python client after the example's own, sending back the cookie the router set as
// a browser does: WAMP-CRA first, then the cookie alone (same authid and role, authprovider
// "cookie", no CHALLENGE), then wamp.close.logout makes the next connection with the same
// cookie authenticate again. The file store holds the cookie's records.
func TestCookieAuthCrossbarExample(t *testing.T) {
	t.Setenv("MYSECRET", "secret123")
	dir := t.TempDir()
	copyTree(t, "testdata/cookie", dir)
	cfgPath := filepath.Join(dir, ".crossbar", "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	tr := at(cfg, "workers").([]any)[0].(map[string]any)["transports"].([]any)[0].(map[string]any)
	tr["endpoint"].(map[string]any)["port"] = port
	paths := tr["paths"].(map[string]any)
	delete(paths, "shared")
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	n := start(t, dir)
	testkit.WaitFor(t, 0, "the backend joined", func() bool {
		return strings.Contains(n.logs.String(), "(backend.BackendSession) joined realm")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/cookie/client.py", "ws://127.0.0.1:"+strconv.Itoa(port)+"/ws", "client1", "secret123")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	res := lastJSON(t, stdout.String(), stderr.String())
	runs, _ := res["runs"].([]any)
	if len(runs) != 4 {
		t.Fatalf("runs: %v", res)
	}
	byCRA := map[string]any{"authid": "client1", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "static"}
	byCookie := map[string]any{"authid": "client1", "authrole": "frontend", "authmethod": "wampcra", "authprovider": "cookie"}
	r := map[string]any{}
	for i, run := range runs {
		r[strconv.Itoa(i+1)] = run
	}
	expect(t, r, nil, "1", "sent_cookie")
	setCookie, _ := at(r, "1", "set_cookie").(string)
	if !strings.HasPrefix(setCookie, "cbtid=") || !strings.HasSuffix(setCookie, ";max-age=604800") {
		t.Errorf("Set-Cookie %q, want Crossbar's cbtid=...;max-age=604800", setCookie)
	}
	expect(t, r, "wampcra", "1", "challenge")
	expect(t, r, byCRA, "1", "joined")
	expect(t, r, 689, "1", "add2")
	for _, i := range []string{"2", "3"} {
		expect(t, r, strings.Split(setCookie, ";")[0], i, "sent_cookie")
		expect(t, r, nil, i, "set_cookie") // the known cookie is kept
		expect(t, r, nil, i, "challenge")
		expect(t, r, byCookie, i, "joined")
		expect(t, r, 689, i, "add2")
	}
	expect(t, r, "wampcra", "4", "challenge")
	expect(t, r, byCRA, "4", "joined")
	id := strings.TrimPrefix(strings.Split(setCookie, ";")[0], "cbtid=")
	testkit.WaitFor(t, 0, "the cookie's records in cookies.dat", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, ".crossbar", "cookies.dat"))
		return strings.Count(string(b), `"cbtid":"`+id+`"`) == 3 // authenticated, logged out, authenticated
	})
}
