package router

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"portico/router/wamp"
)

// TestConcurrentChurn runs sessions that subscribe, publish, register, call, cancel, time out
// and leave at random, all at once, to shake out lock-order and lifetime bugs (run it with
// -race). It checks that every session ends and the router closes.
func TestConcurrentChurn(t *testing.T) {
	r := New(Options{Log: quietLog(), OutQueueLimit: 64})
	const workers, steps = 8, 300
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			c := codecs[w%len(codecs)]
			for round := 0; round < 3; round++ {
				srv, end := Pipe(c, 16)
				served := make(chan error, 1)
				go func() { served <- r.Serve(srv, PeerInfo{Transport: "inprocess"}) }()
				// A reader that answers invocations (sometimes) and otherwise drains.
				go func() {
					for {
						b, err := end.ReadMessage()
						if err != nil {
							return
						}
						m, err := c.Decode(b)
						if err != nil {
							panic(err)
						}
						if inv, ok := m.(*wamp.Invocation); ok && inv.Request%3 != 0 {
							y, _ := c.Encode(nil, &wamp.Yield{Request: inv.Request, Options: wamp.Dict{}})
							_ = end.WriteMessage(y)
						}
					}
				}()
				send := func(m wamp.Message) {
					b, err := c.Encode(nil, m)
					if err != nil {
						panic(err)
					}
					_ = end.WriteMessage(b)
				}
				send(&wamp.Hello{Realm: "churn", Details: wamp.Dict{"roles": clientRoles()}})
				for i := 1; i <= steps; i++ {
					req := wamp.ID(i)
					topic := wamp.URI(fmt.Sprintf("churn.t%d", rng.IntN(4)))
					switch rng.IntN(9) {
					case 0:
						send(&wamp.Subscribe{Request: req, Options: wamp.Dict{"match": []string{"exact", "prefix", "wildcard"}[rng.IntN(3)]}, Topic: topic})
					case 1:
						send(&wamp.Unsubscribe{Request: req, Subscription: wamp.ID(rng.IntN(1 << 53))})
					case 2, 3:
						send(&wamp.Publish{Request: req, Options: wamp.Dict{"exclude_me": false, "retain": rng.IntN(2) == 0}, Topic: topic, Arguments: wamp.List{int64(i)}})
					case 4:
						send(&wamp.Register{Request: req, Options: wamp.Dict{"invoke": "roundrobin"}, Procedure: wamp.URI(fmt.Sprintf("churn.p%d", rng.IntN(3)))})
					case 5, 6:
						send(&wamp.Call{Request: req, Options: wamp.Dict{"timeout": int64(1 + rng.IntN(3))}, Procedure: wamp.URI(fmt.Sprintf("churn.p%d", rng.IntN(3)))})
					case 7:
						send(&wamp.Cancel{Request: wamp.ID(1 + rng.IntN(i)), Options: wamp.Dict{"mode": []string{"skip", "kill", "killnowait"}[rng.IntN(3)]}})
					case 8:
						send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: "wamp.subscription.match", Arguments: wamp.List{string(topic)}})
					}
				}
				if rng.IntN(2) == 0 {
					send(&wamp.Goodbye{Details: wamp.Dict{}, Reason: "wamp.close.close_realm"})
				} else {
					_ = end.Close()
				}
				select {
				case <-served:
				case <-time.After(guard):
					panic("a session did not end")
				}
				_ = end.Close()
			}
		}(w)
	}
	wg.Wait()
	r.Close(time.Second)
}
