package cluster

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"

	"portico/config"
	"portico/router"
	"portico/router/wamp"
)

// FuzzEnvelope: whatever arrives on a cluster subject, the envelope parser returns an error or
// a message, never panics; what it accepts encodes again.
func FuzzEnvelope(f *testing.F) {
	n := New(config.Cluster{Name: "c1", Node: "a", SubjectPrefix: "portico"}, quiet())
	b := []byte("b\nrealm1\n")
	b, _ = n.codec.Encode(b, &wamp.Publish{Request: 1, Options: wamp.Dict{}, Topic: "com.ex", Arguments: wamp.List{1, "x"}})
	f.Add(b)
	f.Add([]byte("b\nrealm1\n"))
	f.Add([]byte("\n\n\x93"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, m, err := n.envelope(data)
		if err != nil || m == nil {
			return
		}
		if _, err := n.codec.Encode(nil, m); err != nil {
			t.Fatalf("decoded %+v does not encode again: %v", m, err)
		}
	})
}

// FuzzHeartbeat: a heartbeat body updates the node table or is refused, never panics.
func FuzzHeartbeat(f *testing.F) {
	good, _ := json.Marshal(heartbeat{Node: "b", Inc: 3, Seq: 1, Realms: map[wamp.URI][]router.Procedure{"realm1": {{URI: "com.ex.add", Match: "exact"}}}})
	f.Add(good)
	f.Add([]byte(`{"node":"a","inc":1}`))
	f.Add([]byte(`{"node":"b","inc":3,"seq":2,"config":"ab12","has_testaments":true,"testaments":{"realm1":{"5":["lAEBgKRhLmI="]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := New(config.Cluster{Name: "c1", Node: "a", SubjectPrefix: "portico"}, quiet())
		n.onHeartbeat(&nats.Msg{Data: data})
	})
}
