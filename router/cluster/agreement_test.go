package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"portico/config"
	"portico/internal/testkit"
	"portico/router"
)

// logBuf is a slog handler's output that tests read while the nodes write.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startHashed runs a node whose ConfigHash is made of realms, logging into buf.
func startHashed(t *testing.T, name, url string, realms []config.Realm, buf *logBuf) *Node {
	t.Helper()
	c := config.Cluster{Name: "c1", Node: name, SubjectPrefix: "portico", NodeTimeout: time.Second}
	if url == "" {
		c.NATS.Embedded = &config.ClusterEmbedded{Listen: "127.0.0.1:0"}
		c.NATS.URLs = []string{"nats://127.0.0.1:0"}
	} else {
		c.NATS.URLs = []string{url}
	}
	n := New(c, slog.New(slog.NewTextHandler(buf, nil)))
	n.SetConfigHash(ConfigHash(realms, nil))
	r := router.New(router.Options{Realms: realms, Log: quiet(), Cluster: n})
	if err := n.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); r.Close(guard) })
	return n
}

func TestClusterConfigMismatchLogged(t *testing.T) {
	other := []config.Realm{{Name: "realm1", Roles: []config.Role{{Name: "anonymous", Permissions: []config.Permission{{
		URI: "com.", Match: "prefix", Allow: config.Allow{Call: true}}}}}}}
	var la, lb, lc logBuf
	a := startHashed(t, "a", "", allowAll, &la)
	b := startHashed(t, "b", a.ClientURL(), other, &lb)
	c := startHashed(t, "c", a.ClientURL(), allowAll, &lc)
	err := testkit.Poll(guard, func() error {
		if a.Peers() != 2 || b.Peers() != 2 || c.Peers() != 2 {
			return errors.New("the nodes do not see each other yet")
		}
		if a.ConfigMismatches() != 1 || b.ConfigMismatches() != 2 || c.ConfigMismatches() != 1 {
			return errors.New("mismatches not counted yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v: a=%d b=%d c=%d", err, a.ConfigMismatches(), b.ConfigMismatches(), c.ConfigMismatches())
	}
	ha, hb := ConfigHash(allowAll, nil), ConfigHash(other, nil)
	if ha == hb {
		t.Fatal("different roles, same hash")
	}
	// a names b and both hashes, once, though b's heartbeats go on.
	seq := func() uint64 { a.mu.Lock(); defer a.mu.Unlock(); return a.nodes["b"].seq }
	from := seq()
	testkit.CheckFor(t, guard, func() error { // a few more heartbeats of b
		if seq() < from+3 {
			return errors.New("b's heartbeats do not come")
		}
		return nil
	})
	line := "another realm and role configuration"
	for _, x := range []struct {
		name, log, peer, mine, theirs string
		count                         int
	}{{"a", la.String(), "b", ha, hb, 1}, {"b", lb.String(), "a", hb, ha, 1}, {"c", lc.String(), "b", ha, hb, 1}} {
		var lines []string
		for _, l := range strings.Split(x.log, "\n") {
			if strings.Contains(l, line) {
				lines = append(lines, l)
			}
		}
		mine := 0
		for _, l := range lines {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, "node="+x.name) && strings.Contains(l, "peer="+x.peer) &&
				strings.Contains(l, "peer_config_hash="+x.theirs) && strings.Contains(l, "config_hash="+x.mine) {
				mine++
			}
		}
		if mine != x.count {
			t.Errorf("node %s: %d error lines about %s, want %d:\n%s", x.name, mine, x.peer, x.count, x.log)
		}
	}
	if strings.Contains(la.String(), line+"\" peer=c") {
		t.Errorf("a logged a mismatch with c, which runs the same config:\n%s", la.String())
	}
}

func TestClusterConfigHashCanonical(t *testing.T) {
	r1 := []config.Realm{{Place: "workers[0].realms[0]", Name: "realm1", Roles: []config.Role{{Place: "x", Name: "anonymous"}}}}
	r2 := []config.Realm{{Place: "workers[1].realms[0]", Name: "realm1", Roles: []config.Role{{Place: "y", Name: "anonymous"}}}}
	a1 := &config.Auth{Anonymous: &config.AnonymousAuth{Role: "anonymous"}}
	a2 := &config.Auth{Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"joe": {Ticket: "s3cret", Role: "user"}}}}
	if ConfigHash(r1, []*config.Auth{a1, a2, a1}) != ConfigHash(r2, []*config.Auth{a2, a1, nil}) {
		t.Error("key paths, order or repeats of the auth methods change the hash")
	}
	a3 := &config.Auth{Ticket: &config.TicketAuth{Principals: map[string]config.TicketPrincipal{"joe": {Ticket: "other", Role: "user"}}}}
	if ConfigHash(r1, []*config.Auth{a1, a2}) == ConfigHash(r1, []*config.Auth{a1, a3}) {
		t.Error("a changed ticket does not change the hash")
	}
	r3 := []config.Realm{{Name: "realm1", Roles: []config.Role{{Name: "anonymous", Authorizer: "com.authz"}}}}
	if ConfigHash(r1, nil) == ConfigHash(r3, nil) {
		t.Error("an authorizer does not change the hash")
	}
}
