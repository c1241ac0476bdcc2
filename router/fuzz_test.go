package router

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// fuzzFrames splits fuzz input into a serializer choice and frames: byte 0 picks the codec,
// then each frame is a 2-byte big-endian length and that many bytes.
func fuzzFrames(data []byte) (wamp.Codec, [][]byte) {
	if len(data) == 0 {
		return wamp.JSON, nil
	}
	c := codecs[int(data[0])%len(codecs)]
	var frames [][]byte
	for rest := data[1:]; len(rest) >= 2 && len(frames) < 64; {
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n > len(rest) {
			n = len(rest)
		}
		frames = append(frames, rest[:n])
		rest = rest[n:]
	}
	return c, frames
}

// fuzzInput builds a seed from messages.
func fuzzInput(ci byte, c wamp.Codec, msgs ...wamp.Message) []byte {
	out := []byte{ci}
	for _, m := range msgs {
		b, err := c.Encode(nil, m)
		if err != nil {
			panic(err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// serveFrames serves one session of r with info over an in-process pipe in codec c, writes
// frames to it until the router stops reading, and returns when Serve does. What the router
// sends is drained; a message the client could not decode panics.
func serveFrames(r *Router, c wamp.Codec, info PeerInfo, frames [][]byte) {
	srv, end := Pipe(c, 1024)
	served := make(chan error, 1)
	go func() { served <- r.Serve(srv, info) }()
	go func() {
		for {
			b, err := end.ReadMessage()
			if err != nil {
				return
			}
			if _, err := c.Decode(b); err != nil {
				panic("the router sent an undecodable message: " + err.Error())
			}
		}
	}()
	for _, fr := range frames {
		if end.WriteMessage(fr) != nil {
			break
		}
	}
	_ = end.Close()
	<-served
}

// FuzzSession feeds arbitrary frames, decodable or not, to a session whose realm has a callee
// and a subscriber: whatever arrives, the router must not panic, must answer within its rules
// and must end the session when the client goes.
func FuzzSession(f *testing.F) {
	hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": clientRoles()}}
	for i, c := range codecs {
		ci := byte(i)
		f.Add(fuzzInput(ci, c, hello,
			&wamp.Subscribe{Request: 1, Options: wamp.Dict{"match": "prefix", "get_retained": true}, Topic: "fz."},
			&wamp.Publish{Request: 2, Options: wamp.Dict{"acknowledge": true, "exclude_me": false, "retain": true}, Topic: "fz.t", Arguments: wamp.List{"x", int64(1)}},
			&wamp.Call{Request: 3, Options: wamp.Dict{"receive_progress": true, "timeout": int64(5)}, Procedure: "fz.proc", Arguments: wamp.List{[]byte{1}}},
			&wamp.Cancel{Request: 3, Options: wamp.Dict{"mode": "kill"}},
			&wamp.Register{Request: 4, Options: wamp.Dict{"match": "wildcard", "invoke": "roundrobin"}, Procedure: "fz..x"},
			&wamp.Call{Request: 5, Options: wamp.Dict{}, Procedure: "wamp.session.list", Arguments: wamp.List{[]any{"anonymous"}}},
			&wamp.Call{Request: 6, Options: wamp.Dict{}, Procedure: "wamp.session.add_testament", Arguments: wamp.List{"fz.will", []any{}, map[string]any{}}},
			&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: "wamp.subscription.match", Arguments: wamp.List{"fz.t"}},
			&wamp.Unsubscribe{Request: 8, Subscription: 1},
			&wamp.Yield{Request: 1, Options: wamp.Dict{"progress": true}},
			&wamp.Error{RequestType: wamp.INVOCATION, Request: 1, Details: wamp.Dict{}, Error: "fz.error"},
			&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.close_realm"},
		))
		// Advanced profile: passthru payloads, progressive call invocations, concurrency,
		// force_reregister, the store's history and queue, the remove_* meta procedures.
		ppt := wamp.Dict{"ppt_scheme": "x_fz", "ppt_serializer": "cbor"}
		f.Add(fuzzInput(ci, c, &wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": progressiveRoles()}},
			&wamp.Publish{Request: 1, Options: wamp.Dict{"acknowledge": true, "ppt_scheme": "x_fz", "retain": true}, Topic: "fz.t", Payload: []byte{0, 1}},
			&wamp.Call{Request: 2, Options: ppt, Procedure: "fz.proc", Payload: []byte("opaque")},
			&wamp.Call{Request: 3, Options: wamp.Dict{"progress": true}, Procedure: "fz.proc", Arguments: wamp.List{int64(1)}},
			&wamp.Call{Request: 3, Options: wamp.Dict{"progress": true}, Procedure: "fz.proc", Arguments: wamp.List{int64(2)}},
			&wamp.Call{Request: 3, Options: wamp.Dict{}, Procedure: "fz.proc"},
			&wamp.Call{Request: 3, Options: wamp.Dict{"progress": true}, Procedure: "fz.proc"},
			&wamp.Register{Request: 4, Options: wamp.Dict{"concurrency": int64(1), "invoke": "roundrobin"}, Procedure: "fz.conc"},
			&wamp.Call{Request: 5, Options: wamp.Dict{}, Procedure: "fz.conc"},
			&wamp.Call{Request: 6, Options: wamp.Dict{"timeout": int64(1)}, Procedure: "fz.conc"},
			&wamp.Register{Request: 7, Options: wamp.Dict{"force_reregister": true}, Procedure: "fz.proc"},
			&wamp.Call{Request: 8, Options: wamp.Dict{}, Procedure: "wamp.subscription.get_events", Arguments: wamp.List{int64(1), int64(5)}},
			&wamp.Call{Request: 9, Options: wamp.Dict{}, Procedure: "wamp.registration.remove_callee", Arguments: wamp.List{int64(1), int64(2)}},
			&wamp.Call{Request: 10, Options: wamp.Dict{}, Procedure: "wamp.subscription.remove_subscriber", Arguments: wamp.List{int64(1), int64(2), "fz.reason"}},
			&wamp.Yield{Request: 1, Options: ppt, Payload: []byte{9}},
		))
		f.Add(fuzzInput(ci, c, &wamp.Publish{Request: 1, Options: wamp.Dict{}, Topic: "early"}))
		f.Add(fuzzInput(ci, c, hello, hello))
	}
	f.Add([]byte{0, 0, 5, '[', '1', ',', '"', 'x'})
	f.Add([]byte{1, 0, 3, 0x93, 0x01, 0xc1})
	f.Add([]byte{2, 0, 2, 0x9f, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		c, frames := fuzzFrames(data)
		// Fuzzing does not notice a hang; a session that outlives its client by this much
		// is one, and the stacks say where.
		wd := time.AfterFunc(30*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic("FuzzSession: the iteration hangs\n" + string(buf[:n]))
		})
		defer wd.Stop()
		r := New(Options{Log: quietLog(), OutQueueLimit: 256, Realms: []config.Realm{storeRealm("realm1", config.RealmStore{
			Limit: 10, MaxBytes: 64 << 10,
			EventHistory: []config.StoreEntry{{URI: "fz.", Match: "prefix", Limit: 10}},
			CallQueue:    []config.StoreEntry{{URI: "fz.conc", Match: "exact", Limit: 2}},
		})}})
		defer r.Close(time.Second)

		// A peer that serves fz.proc and listens on fz., answering every INVOCATION.
		peerSrv, peer := Pipe(wamp.JSON, 64)
		peerDone := make(chan struct{})
		go func() { _ = r.Serve(peerSrv, PeerInfo{Transport: "inprocess"}); close(peerDone) }()
		send := func(m wamp.Message) {
			b, _ := wamp.JSON.Encode(nil, m)
			_ = peer.WriteMessage(b)
		}
		send(&wamp.Hello{Realm: "realm1", Details: wamp.Dict{"roles": progressiveRoles()}})
		send(&wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: "fz.proc"})
		send(&wamp.Subscribe{Request: 2, Options: wamp.Dict{"match": "prefix"}, Topic: "fz."})
		go func() {
			for {
				b, err := peer.ReadMessage()
				if err != nil {
					return
				}
				if m, err := wamp.JSON.Decode(b); err == nil {
					if inv, ok := m.(*wamp.Invocation); ok {
						send(&wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
					}
				}
			}
		}()

		serveFrames(r, c, PeerInfo{Transport: "inprocess"}, frames)
		_ = peer.Close()
		<-peerDone
	})
}
