package gateway

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

func TestSplitLongPollPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, id, op string
		ok         bool
	}{
		{"", "", "", true},
		{"/", "", "", true},
		{"/open", "", "open", true},
		{"/abc", "abc", "", true},
		{"/abc/send", "abc", "send", true},
		{"/abc/receive", "abc", "receive", true},
		{"/abc/close", "abc", "close", true},
		{"/abc/poll", "", "", false},
		{"/abc/send/x", "", "", false},
		{"/open/send", "", "", false},
		{"//send", "", "", false},
		{"/abc/", "", "", false},
	} {
		id, op, ok := splitLongPollPath(tt.in)
		if id != tt.id || op != tt.op || ok != tt.ok {
			t.Errorf("splitLongPollPath(%q) = %q, %q, %v; want %q, %q, %v", tt.in, id, op, ok, tt.id, tt.op, tt.ok)
		}
	}
}

func TestParseOpen(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, proto, reason string }{
		{`{"protocols": ["wamp.2.json"]}`, "wamp.2.json", ""},
		{`{"protocols": ["wamp.2.xml", "wamp.2.cbor.batched", "wamp.2.json"]}`, "wamp.2.cbor.batched", ""},
		{`{"protocols": ["wamp.2.ubjson"], "other": 1}`, "wamp.2.ubjson", ""},
		{``, "", "could not parse WAMP session open request body"},
		{`{"protocols":`, "", "could not parse WAMP session open request body"},
		{`null`, "", "invalid type for WAMP session open request"},
		{`"wamp.2.json"`, "", "invalid type for WAMP session open request"},
		{`{}`, "", "missing attribute 'protocols' in WAMP session open request"},
		{`{"protocols": [1]}`, "", "invalid type for attribute 'protocols' in WAMP session open request"},
		{`{"protocols": []}`, "", "no common protocol to speak"},
		{`{"protocols": ["wamp.1.json", "WAMP.2.JSON"]}`, "", "no common protocol to speak"},
	} {
		proto, reason := parseOpen([]byte(tt.body))
		if proto != tt.proto || !strings.HasPrefix(reason, tt.reason) || (tt.reason == "") != (reason == "") {
			t.Errorf("parseOpen(%q) = %q, %q; want %q, %q", tt.body, proto, reason, tt.proto, tt.reason)
		}
	}
}

// FuzzLongPollRequest runs an open request's body and a request path through what parses
// them. Invariants: nothing panics; an open either picks a protocol the router serves or
// gives a reason; a path is either refused or names an operation the service has, with an
// ID that is one path segment.
func FuzzLongPollRequest(f *testing.F) {
	for _, s := range []struct{ body, path string }{
		{`{"protocols": ["wamp.2.json"]}`, "/open"},
		{`{"protocols": ["wamp.2.xml", "wamp.2.msgpack.batched"]}`, "/kjmd3sBLOUnb3Fyr/send"},
		{`{"protocols": "wamp.2.json"}`, "/x/receive"},
		{`[{"protocols": []}]`, "/x/close"},
		{`{"protocols": [null, 2, {}]}`, "/x/y/z"},
		{`{"protocols": ["wamp.2.json"`, "//"},
	} {
		f.Add([]byte(s.body), s.path)
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		proto, reason := parseOpen(body)
		if (proto == "") == (reason == "") {
			t.Fatalf("parseOpen(%q) = %q, %q: want exactly one", body, proto, reason)
		}
		if proto != "" {
			if _, _, ok := wamp.LookupSubprotocol(proto); !ok {
				t.Fatalf("parseOpen(%q) picked %q, which the router does not serve", body, proto)
			}
		}
		id, op, ok := splitLongPollPath(path)
		if !ok {
			if id != "" || op != "" {
				t.Fatalf("refused %q with %q, %q", path, id, op)
			}
			return
		}
		switch op {
		case "", "open", "send", "receive", "close":
		default:
			t.Fatalf("splitLongPollPath(%q): operation %q", path, op)
		}
		if strings.Contains(id, "/") || (op == "open" && id != "") || id == "open" {
			t.Fatalf("splitLongPollPath(%q): id %q, op %q", path, id, op)
		}
	})
}

func testLPTransport(batched bool, opts config.LongPoll) *lpTransport {
	// The zero fields of opts take config's defaults, as a configured longpoll path's do.
	svc := &config.Service{Type: "longpoll", LongPoll: &opts}
	config.TransportWithDefaults(&config.Transport{Paths: map[string]*config.Service{"/": svc}})
	return newLPTransport("id", "wamp.2.json", wamp.JSON, batched, opts)
}

// TestLPTransportQueue: messages wait in order; an unbatched receive takes one, a batched
// one takes all, framed; the queue limits close the transport (a message alone always fits);
// after Close, what is queued is still there to take and writes fail.
func TestLPTransportQueue(t *testing.T) {
	t.Parallel()
	tr := testLPTransport(false, config.LongPoll{QueueLimitMessages: 2, QueueLimitBytes: 10})
	if err := tr.WriteMessage([]byte("[1,2,3,4,5,6,7,8,9]")); err != nil { // 19 bytes, alone: fits
		t.Fatal(err)
	}
	if b, _ := tr.take(); string(b) != "[1,2,3,4,5,6,7,8,9]" {
		t.Fatalf("take: %q", b)
	}
	for _, m := range []string{"[1]", "[2]"} {
		if err := tr.WriteMessage([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.WriteMessage([]byte("[3]")); !errors.Is(err, errLongPollQueue) {
		t.Fatalf("third message: %v, want the queue limit", err)
	}
	select {
	case <-tr.done:
	default:
		t.Fatal("transport open after passing its queue limit")
	}
	if err := tr.WriteMessage([]byte("[4]")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if _, err := tr.ReadMessage(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	for _, want := range []string{"[1]", "[2]"} {
		if b, closed := tr.take(); string(b) != want || !closed {
			t.Errorf("take after close: %q, %v; want %q", b, closed, want)
		}
	}
	if b, _ := tr.take(); b != nil {
		t.Errorf("take of an empty queue: %q", b)
	}

	bt := testLPTransport(true, config.LongPoll{})
	for _, m := range []string{"[1]", "[2]", "[3]"} {
		_ = bt.WriteMessage([]byte(m))
	}
	if b, _ := bt.take(); string(b) != "[1]\x18[2]\x18[3]\x18" { // autobahn-python's separator, as over WebSocket
		t.Errorf("batched take: %q", b)
	}
	_ = bt.Close()
}

// TestLPTransportExpiry: with no request for session_timeout (twice, at most), the
// transport closes and is forgotten; a waiting receive keeps it alive.
func TestLPTransportExpiry(t *testing.T) {
	t.Parallel()
	tr := testLPTransport(false, config.LongPoll{SessionTimeout: 20 * time.Millisecond})
	forgotten := make(chan struct{})
	tr.onClose = func() { close(forgotten) }
	mine := tr.startPoll()
	// A receive waits: the checks find it and keep the transport.
	for range 3 {
		tr.mu.Lock()
		tr.active = false
		tr.mu.Unlock()
		tr.check()
		select {
		case <-tr.done:
			t.Fatal("closed while a receive waits")
		default:
		}
	}
	tr.endPoll(mine)
	select {
	case <-forgotten:
	case <-time.After(time.Minute):
		t.Fatal("idle transport not forgotten")
	}
	select {
	case <-tr.done:
	default:
		t.Fatal("forgotten but not closed")
	}
}

// TestLPTransportTakeover: a new receive tells the one it replaces.
func TestLPTransportTakeover(t *testing.T) {
	t.Parallel()
	tr := testLPTransport(false, config.LongPoll{})
	defer tr.Close()
	first := tr.startPoll()
	second := tr.startPoll()
	select {
	case <-first:
	default:
		t.Fatal("the replaced receive was not told")
	}
	tr.endPoll(first) // the replaced one ends: the second still counts as waiting
	tr.mu.Lock()
	waiting := tr.polling == second
	tr.mu.Unlock()
	if !waiting {
		t.Error("the first receive's end unregistered the second")
	}
}
