package config

// TesteeMaxMessageSize is max_message_size on a websocket-testee's transport that does not set
// it: the largest message of the Autobahn WebSocket testsuite (cases 9.x, 16 MiB) passes.
// Crossbar's testee (autobahn's default) has no bound.
const TesteeMaxMessageSize = 16 << 20

// decodeTestee reads a `websocket-testee` worker (Crossbar's crossbar/worker/testee.py, the
// echo server for the Autobahn WebSocket testsuite): native worker options and one listening
// `websocket` transport (Crossbar's check_websocket_testee), whose root service echoes every
// message instead of speaking WAMP.
func (d *decoder) decodeTestee(o *obj, place, dir string, w *Worker) {
	if ov, op := o.take("options"); ov != nil && ov.kind != kNull {
		d.decodeWorkerOptions(ov, op, dir, &w.Options, false)
	}
	tv, tp := o.take("transport")
	if tv == nil || tv.kind == kNull {
		d.add(o.line(), place, "missing \"transport\" (the websocket transport the testee listens on)")
		return
	}
	sizeSet := false
	if tv.kind == kMap {
		if ov := tv.get("options"); ov != nil && ov.val.kind == kMap && ov.val.get("max_message_size") != nil {
			sizeSet = true
		}
	}
	t, ok := d.decodeTransport(tv, tp, dir, w)
	if !ok {
		return
	}
	if t.Type != "websocket" {
		d.add(tv.line, childPlace(t.Place, "type"), "a websocket-testee listens on a \"websocket\" transport, not %q", t.Type)
		return
	}
	root := t.Paths["/"]
	root.Type = "websocket-testee"
	if !sizeSet {
		root.WebSocket.Options.MaxMessageSize = TesteeMaxMessageSize
	}
	if root.WebSocket.Auth != nil {
		av, ap := d.object(tv, tp).take("auth")
		d.warn(av.line, ap, "not used: a websocket-testee echoes WebSocket messages and speaks no WAMP")
	}
	d.remember(t.Place, tv)
	w.Transports = append(w.Transports, t)
}
