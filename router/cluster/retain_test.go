package cluster

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"portico/internal/testkit"
	"portico/router/wamp"
)

// retainedOn subscribes c to topic (match) with get_retained and returns the retained events
// it gets, by their first argument, then unsubscribes.
func retainedOn(t *testing.T, c *client, topic wamp.URI, match string) map[string]*wamp.Event {
	t.Helper()
	req := c.next()
	c.send(&wamp.Subscribe{Request: req, Options: wamp.Dict{"get_retained": true, "match": match}, Topic: topic})
	sub := c.expect("SUBSCRIBED").(*wamp.Subscribed).Subscription
	// The retained events are queued before anything published after SUBSCRIBED: a
	// publication by c itself (exclude_me false, to c only) after them ends the list.
	end := topic
	if match == "prefix" {
		end += "end"
	}
	c.send(&wamp.Publish{Request: c.next(), Options: wamp.Dict{"exclude_me": false, "eligible": wamp.List{uint64(c.id)}}, Topic: end, Arguments: wamp.List{"end"}})
	got := map[string]*wamp.Event{}
	for {
		m := c.expectAny()
		ev, ok := m.(*wamp.Event)
		if !ok {
			t.Fatalf("got %s %+v, want EVENT", m.Type(), m)
		}
		s, _ := ev.Arguments[0].(string)
		if s == "end" {
			break
		}
		if ev.Subscription == sub {
			got[s] = ev
		}
	}
	c.send(&wamp.Unsubscribe{Request: c.next(), Subscription: sub})
	c.expect("UNSUBSCRIBED")
	return got
}

// TestClusterRetainedForLaterNodes: events retained on A while no other node runs reach a
// subscriber with get_retained on C, started afterwards (the JetStream bucket of the
// embedded NATS server), with their eligibility and publisher; the bucket's changes reach
// the nodes that run.
func TestClusterRetainedForLaterNodes(t *testing.T) {
	ra, na := startNode(t, "a", "")
	pub := join(t, ra)
	testkit.WaitFor(t, guard, "A has the bucket", na.ret.active)
	for _, p := range []struct {
		topic wamp.URI
		arg   string
		opts  wamp.Dict
	}{
		{"com.ex.r1", "old", wamp.Dict{}},
		{"com.ex.r1", "r1", wamp.Dict{}},
		{"com.ex.r2", "r2", wamp.Dict{"eligible_authrole": wamp.List{"nobody"}}},
		{"com.ex.r3", "r3", wamp.Dict{"disclose_me": true}},
		{"com.ex.r4", "r4", wamp.Dict{"exclude_authrole": wamp.List{"nobody"}}},
	} {
		p.opts["retain"], p.opts["acknowledge"] = true, true
		pub.send(&wamp.Publish{Request: pub.next(), Options: p.opts, Topic: p.topic, Arguments: wamp.List{p.arg}})
		pub.expect("PUBLISHED")
	}
	// A puts them from a goroutine of its own: wait until the bucket has the last.
	na.ret.mu.Lock()
	kv := na.ret.kv
	na.ret.mu.Unlock()
	testkit.WaitFor(t, guard, "the bucket has A's retained events", func() bool {
		_, err := kv.Get(context.Background(), retainKey("realm1", "com.ex.r4"))
		return err == nil
	})

	rc, nc := startNode(t, "c", na.ClientURL())
	sub := join(t, rc)
	got := retainedOn(t, sub, "com.ex.r", "prefix")
	if len(got) != 3 || got["r1"] == nil || got["r3"] == nil || got["r4"] == nil {
		t.Fatalf("C's subscriber got the retained events %v, want r1, r3 and r4 (r2 is for role nobody, old was replaced)", keys(got))
	}
	for _, ev := range got {
		if r, _ := ev.Details["retained"].(bool); !r {
			t.Errorf("EVENT %+v lacks details.retained", ev)
		}
	}
	if !same(got["r3"].Details["publisher"], pub.id) || got["r1"].Details["publisher"] != nil {
		t.Errorf("publishers: r3 %v (want %d), r1 %v (want none)", got["r3"].Details["publisher"], pub.id, got["r1"].Details["publisher"])
	}

	// A change of the bucket reaches the running nodes: a retained event put by another
	// node (here, by the test in its name) replaces r1 on A and C.
	b, err := nc.encode("realm1", &wamp.Publish{Request: 4242, Options: wamp.Dict{"retain": true}, Topic: "com.ex.r1", Arguments: wamp.List{"r1-new"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), retainKey("realm1", "com.ex.r1"), b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{sub, join(t, ra)} {
		testkit.WaitFor(t, guard, "the new r1 retained", func() bool {
			got := retainedOn(t, c, "com.ex.r1", "exact")
			return got["r1-new"] != nil && got["r1"] == nil && same(got["r1-new"].Publication, 4242)
		})
	}
}

func keys(m map[string]*wamp.Event) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestClusterRetainedWithoutJetStream: on a NATS server without JetStream each node says so
// once and keeps the retained events per node, as before.
func TestClusterRetainedWithoutJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(guard) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(srv.Shutdown)
	var la, lb logBuf
	ra, na := startNodeLog(t, "a", srv.ClientURL(), allowAll, slog.New(slog.NewTextHandler(&la, nil)))
	rb, nb := startNodeLog(t, "b", srv.ClientURL(), allowAll, slog.New(slog.NewTextHandler(&lb, nil)))
	for _, l := range []*logBuf{&la, &lb} {
		testkit.WaitFor(t, guard, "the warning", func() bool { return strings.Contains(l.String(), "the NATS server has no JetStream") })
	}
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	pub := join(t, ra)
	pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"retain": true, "acknowledge": true}, Topic: "com.ex.r", Arguments: wamp.List{"kept"}})
	pub.expect("PUBLISHED")
	if got := retainedOn(t, join(t, ra), "com.ex.r", "exact"); got["kept"] == nil {
		t.Errorf("A's subscriber got %v, want the event retained on A", keys(got))
	}
	testkit.WaitFor(t, guard, "B retains it (alive when it was published)", func() bool {
		return retainedOn(t, join(t, rb), "com.ex.r", "exact")["kept"] != nil
	})
	for _, l := range []*logBuf{&la, &lb} {
		if n := strings.Count(l.String(), "has no JetStream"); n != 1 {
			t.Errorf("the warning came %d times, want once:\n%s", n, l.String())
		}
	}
}

// TestClusterRetainedAcrossNATSRestart: the NATS server (JetStream, its data kept) goes away
// and comes back on the same port: an event retained on A meanwhile, when A and B had dropped
// each other, is put once NATS is back and reaches B, which follows the bucket again, and C,
// started afterwards, with the event retained before the outage.
func TestClusterRetainedAcrossNATSRestart(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	startJS := func() *server.Server {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true,
			ServerName: "js", JetStream: true, StoreDir: store})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(guard) {
			t.Fatal("NATS server not ready")
		}
		return srv
	}
	srv := startJS()
	url := srv.ClientURL()
	ra, na := startNode(t, "a", url)
	rb, nb := startNode(t, "b", url)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other", func() bool { return n.Peers() == 1 })
	}
	pub := join(t, ra)
	retain := func(topic wamp.URI, arg string) {
		pub.send(&wamp.Publish{Request: pub.next(), Options: wamp.Dict{"retain": true, "acknowledge": true}, Topic: topic, Arguments: wamp.List{arg}})
		pub.expect("PUBLISHED")
	}
	retain("com.ex.r1", "before")
	na.ret.mu.Lock()
	kv := na.ret.kv
	na.ret.mu.Unlock()
	testkit.WaitFor(t, guard, "the bucket has it", func() bool {
		_, err := kv.Get(context.Background(), retainKey("realm1", "com.ex.r1"))
		return err == nil
	})

	srv.Shutdown()
	srv.WaitForShutdown()
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes drop each other", func() bool { return n.Peers() == 0 })
	}
	retain("com.ex.r2", "during") // not sent to B: A has no peer
	srv = startJS()
	t.Cleanup(srv.Shutdown)
	for _, n := range []*Node{na, nb} {
		testkit.WaitFor(t, guard, "the nodes see each other again", func() bool { return n.Peers() == 1 })
	}
	sub := join(t, rb)
	testkit.WaitFor(t, 2*guard, "B has the event retained during the outage", func() bool {
		return retainedOn(t, sub, "com.ex.r2", "exact")["during"] != nil
	})
	rc, _ := startNode(t, "c", url)
	if got := retainedOn(t, join(t, rc), "com.ex.r", "prefix"); len(got) != 2 || got["before"] == nil || got["during"] == nil {
		t.Errorf("C got the retained events %v, want before and during", keys(got))
	}
}
