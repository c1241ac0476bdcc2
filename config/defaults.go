package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults. The decoders put into the model only what the file says; applyDefaults then fills
// in, in this one place, every value the file left out, so that `portico start`, `portico
// check`, the gateway and the tests all work from the same complete model. Validation that
// depends on a defaulted value (minthreads above the default maxthreads, say) runs after it.
//
// A field is defaulted when it holds its zero value and the file did not set its key. Where
// zero is a value a file may give (max_body_size 0 is unlimited, buffering false), the
// decoder records the keys it found in the struct's unexported `set`; a model built in code has
// no such record, so its zero fields take the defaults, and a test that wants such a zero sets
// it after WithDefaults.

// keySet holds the keys a config object gave (with a value other than null), for the fields
// whose zero value is meaningful.
type keySet map[string]bool

// has reports whether the file gave key.
func (s keySet) has(key string) bool { return s[key] }

// present returns the keys of o that have a value other than null.
func (o *obj) present() keySet {
	s := keySet{}
	for _, e := range o.v.keys {
		if e.val.kind != kNull {
			s[e.key] = true
		}
	}
	return s
}

// WithDefaults applies the defaults to a node built in code, as Load applies them to a node it
// reads, and returns it. Fields already set are kept.
func WithDefaults(n *Node) *Node {
	applyDefaults(n)
	return n
}

// TransportWithDefaults applies a transport's defaults (its options, services and RawSocket
// side) to t, built in code, and returns it. Fields already set are kept.
func TransportWithDefaults(t *Transport) *Transport {
	defaultTransport(t)
	return t
}

// applyDefaults fills in every default of the model. It is safe on a model that decoding left
// incomplete (nil parts are skipped), so that validation after it can still report problems.
func applyDefaults(n *Node) {
	if n.Version == 0 {
		n.Version = 2 // a config without `version` is read as version 2, as the seed's example
	}
	for i := range n.Workers {
		defaultWorker(&n.Workers[i], n.Dir)
	}
	defaultCluster(n.Cluster, n.Dir)
}

func defaultWorker(w *Worker, dir string) {
	o := &w.Options
	defaultEnv(&o.Env)
	switch w.Type {
	case "container":
		setStr(&o.Restart, "restart-never") // Crossbar's
		setStr(&o.Shutdown, "shutdown-manual")
	case "guest":
		setStr(&o.Restart, "restart-never")
	case "router", "proxy":
		setInt(&o.MaxRetainedEvents, 10000)
		setInt(&o.MaxRetainedBytes, 16<<20)
		setDur(&o.AuthorizerTimeout, 10*time.Second)
	}
	for i := range w.Realms {
		defaultRealm(&w.Realms[i])
	}
	if g := w.Guest; g != nil {
		setStr(&g.Workdir, dir)
		setStr(&g.Stdout, "log")
		setStr(&g.Stderr, "log")
		if g.Watch != nil && !g.Watch.set.has("timeout") {
			setDur(&g.Watch.Timeout, time.Second) // Crossbar's
		}
	}
	for i := range w.Components {
		c := &w.Components[i]
		if c.Transport == nil && !c.set.has("role") {
			setStr(&c.Role, "anonymous") // Crossbar's default for router components
		}
		if f := c.Forwarder; f != nil { // crossbar/bridge/rest/subscriber.py
			setStr(&f.Method, "POST")
			for j := range f.Subscriptions {
				setStr(&f.Subscriptions[j].Match, "exact")
			}
		}
		if t := c.Transport; t != nil && !t.Endpoint.set.has("timeout") {
			setInt(&t.Endpoint.Timeout, 10) // Twisted's connect timeout
		}
	}
	for i := range w.Transports {
		defaultTransport(&w.Transports[i])
		if t := w.Transports[i].Endpoint.TLS; t != nil && t.ACME != nil && t.ACME.Storage == "" && dir != "" {
			t.ACME.Storage = filepath.Join(dir, "acme")
		}
	}
}

// defaultACME: Let's Encrypt, both challenges. The storage, the node directory's acme/, is
// set with the worker's transports (defaultWorker), where the node directory is known.
func defaultACME(a *ACME) {
	setStr(&a.CA, LetsEncrypt)
	if a.Challenges == nil {
		a.Challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
	}
}

// defaultEnv: a worker inherits Portico's whole environment unless `inherit` says otherwise.
func defaultEnv(e *Env) {
	if !e.inheritSet && !e.InheritAll && e.Inherit == nil {
		e.InheritAll = true
	}
}

// defaultRealm: a realm store's entries keep the store's limit unless they set their own.
func defaultRealm(r *Realm) {
	s := r.Store
	if s == nil {
		return
	}
	setInt(&s.Limit, defaultStoreLimit)
	setInt(&s.MaxBytes, defaultStoreMaxBytes)
	for _, es := range [][]StoreEntry{s.EventHistory, s.CallQueue} {
		for i := range es {
			setStr(&es[i].Match, "exact")
			setInt(&es[i].Limit, s.Limit)
		}
	}
}

func defaultTransport(t *Transport) {
	if t.Endpoint.Type == "tcp" && t.Endpoint.Version == 0 {
		t.Endpoint.Version = 4
		if strings.Contains(t.Endpoint.Interface, ":") {
			t.Endpoint.Version = 6
		}
	}
	// Every transport has web options, also a websocket or rawsocket one: the websocket
	// paths take write_timeout and max_connections from them.
	if t.Endpoint.TLS != nil && t.Endpoint.TLS.ACME != nil {
		defaultACME(t.Endpoint.TLS.ACME)
	}
	defaultWebOptions(&t.Options)
	defaultPaths(t.Paths, &t.Options)
	if r := t.RawSocket; r != nil {
		if r.Serializers == nil && !r.set.has("serializers") {
			r.Serializers = append([]string(nil), knownSerializers...)
		}
		setInt(&r.MaxMessageSize, DefaultMaxMessageSize)
		ro := &r.Options
		setInt(&ro.MaxConnections, DefaultRawSocketMaxConnections)
		setDur(&ro.WriteTimeout, 60*time.Second) // as a web transport's
		setInt(&ro.OutQueueLimit, 1024)
		defaultSessionLimits(&ro.SessionLimits)
		defaultAuth(r.Auth)
	}
}

func defaultWebOptions(wo *WebOptions) {
	s := wo.set
	if !s.has("hsts_max_age") {
		setInt(&wo.HSTSMaxAge, 31536000)
	}
	setInt(&wo.MaxHeaderSize, DefaultMaxHeaderSize)
	for _, d := range []struct {
		key string
		dst *time.Duration
		def time.Duration
	}{
		{"header_read_timeout", &wo.HeaderReadTimeout, 60 * time.Second}, // nginx
		{"body_read_timeout", &wo.BodyReadTimeout, 60 * time.Second},
		{"idle_timeout", &wo.IdleTimeout, 75 * time.Second}, // nginx keepalive_timeout
		{"write_timeout", &wo.WriteTimeout, 60 * time.Second},
	} {
		if !s.has(d.key) {
			setDur(d.dst, d.def)
		}
	}
	if !s.has("max_body_size") {
		setInt64(&wo.MaxBodySize, DefaultMaxBodySize)
	}
	if !s.has("request_buffering") {
		wo.RequestBuffering = true
	}
	if !s.has("max_spool_size") {
		setInt64(&wo.MaxSpoolSize, DefaultMaxSpoolSize)
	}
	if !s.has("max_spool_per_client") {
		setInt64(&wo.MaxSpoolPerClient, DefaultMaxSpoolPerClient)
	}
	setStr(&wo.RealIPHeader, "X-Forwarded-For")
	setStr(&wo.AccessLogFile, "stderr")
	if wo.AccessLog && !s.has("request_id") {
		setStr(&wo.RequestIDHeader, "X-Request-ID")
	}
	defaultCompression(&wo.Compression)
}

// defaultCompression: `compression: true` turns every encoding on (the decoder reads it so);
// in the object form each encoding not named is on.
func defaultCompression(c *Compression) {
	if c.object {
		for _, e := range []struct {
			key string
			dst *bool
		}{{"gzip", &c.Gzip}, {"brotli", &c.Brotli}, {"zstd", &c.Zstd}} {
			if !c.set.has(e.key) {
				*e.dst = true
			}
		}
	}
	if !c.object && !c.Enabled() {
		return
	}
	if !c.set.has("min_length") {
		setInt64(&c.MinLength, DefaultCompressMinLength)
	}
	if c.Types == nil && !c.set.has("types") {
		c.Types = DefaultCompressTypes
	}
	setInt(&c.Level, 1) // nginx gzip_comp_level
}

// defaultPaths defaults the services of a path table; wsgi paths take the transport's
// max_body_size and request_buffering unless they set their own.
func defaultPaths(paths map[string]*Service, wo *WebOptions) {
	for _, svc := range paths {
		if svc == nil {
			continue
		}
		defaultPaths(svc.Paths, wo)
		if ws := svc.WSGI; ws != nil {
			defaultWSGI(ws, wo)
		}
		if ws := svc.WebSocket; ws != nil {
			defaultWebSocket(ws)
		}
		if st := svc.Static; st != nil {
			setStr(&st.DefaultFile, "index.html")
			if st.CacheTimeout == nil && !st.set.has("cache_timeout") {
				cache := 12 * 60 * 60 // Crossbar's: 12 hours
				st.CacheTimeout = &cache
			}
		}
		if lp := svc.LongPoll; lp != nil { // crossbar/webservice/wap.py RouterWebServiceLongPoll
			if !lp.set.has("request_timeout") {
				setDur(&lp.RequestTimeout, 10*time.Second)
			}
			if !lp.set.has("session_timeout") {
				setDur(&lp.SessionTimeout, 30*time.Second)
			}
			setInt(&lp.QueueLimitBytes, 128<<10)
			setInt(&lp.QueueLimitMessages, 100)
		}
		if b := svc.Bridge; b != nil { // crossbar/bridge/rest/common.py, webhook.py
			setStr(&b.Role, "anonymous")
			if !b.set.has("timestamp_delta_limit") {
				setInt(&b.TimestampDeltaLimit, DefaultTimestampDeltaLimit)
			}
			if !b.set.has("success_response") {
				setStr(&b.SuccessResponse, "OK")
			}
			if !b.set.has("error_response") {
				setStr(&b.ErrorResponse, "NOT OK")
			}
		}
		if r := svc.Redirect; r != nil {
			setInt(&r.Code, 302) // twisted.web.util.Redirect, which Crossbar uses, answers 302
		}
	}
}

func defaultWSGI(ws *WSGI, wo *WebOptions) {
	s := ws.set
	setInt(&ws.MinThreads, 5) // Crossbar's thread pool bounds
	setInt(&ws.MaxThreads, 20)
	setInt(&ws.Processes, 2)
	// Crossbar runs the app on a pool of at most maxthreads threads in one process; spread
	// the same number over the uwsgi processes.
	setInt(&ws.Threads, max(1, ws.MaxThreads/ws.Processes))
	setStr(&ws.UWSGI, "uwsgi")
	defaultEnv(&ws.WorkerEnv) // the worker's, copied before its defaults
	if len(ws.Upstreams) == 0 {
		setInt(&ws.MaxConcurrency, ws.Processes*ws.Threads)
	} else {
		setInt(&ws.MaxConcurrency, 64)
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
		def time.Duration
	}{
		{"queue_timeout", &ws.QueueTimeout, 60 * time.Second},
		{"connect_timeout", &ws.ConnectTimeout, 60 * time.Second}, // nginx uwsgi_connect_timeout
		{"read_timeout", &ws.ReadTimeout, 60 * time.Second},       // nginx uwsgi_read_timeout
		{"send_timeout", &ws.SendTimeout, 60 * time.Second},       // nginx uwsgi_send_timeout
		{"fail_timeout", &ws.FailTimeout, 10 * time.Second},       // nginx
	} {
		if !s.has(d.key) {
			setDur(d.dst, d.def)
		}
	}
	if !s.has("max_body_size") {
		setInt64(&ws.MaxBodySize, wo.MaxBodySize)
	}
	if !s.has("request_buffering") && !ws.RequestBuffering {
		ws.RequestBuffering = wo.RequestBuffering
	}
	if !s.has("buffering") {
		ws.Buffering = true
	}
	if !s.has("max_temp_file_size") {
		setInt64(&ws.MaxTempFileSize, DefaultMaxTempFileSize)
	}
	setStr(&ws.Balance, "round_robin")
	if !s.has("max_fails") {
		setInt(&ws.MaxFails, 1) // nginx
	}
}

func defaultWebSocket(ws *WebSocket) {
	if ws.Serializers == nil && !ws.set.has("serializers") {
		ws.Serializers = append([]string(nil), knownSerializers...)
	}
	o := &ws.Options
	s := o.set
	if !s.has("max_message_size") {
		setInt(&o.MaxMessageSize, DefaultMaxMessageSize)
	}
	if !s.has("enable_webstatus") {
		o.EnableWebStatus = true
	}
	if !s.has("open_handshake_timeout") {
		setDur(&o.OpenHandshakeTimeout, 5*time.Second) // autobahn WebSocketServerFactory's
	}
	if !s.has("close_handshake_timeout") {
		setDur(&o.CloseHandshakeTimeout, time.Second) // autobahn's
	}
	setInt(&o.OutQueueLimit, 1024)
	setInt(&o.OutQueueBytes, 4<<20)
	setDur(&o.OutQueueTimeout, 10*time.Second) // nats-server's write_deadline
	defaultSessionLimits(&o.SessionLimits)
	defaultAuth(ws.Auth)
	if c := ws.Cookie; c != nil { // Crossbar's cookie tracking
		setStr(&c.Name, "cbtid")
		setInt(&c.Length, 24)
		setDur(&c.MaxAge, 7*24*time.Hour)
		setStr(&c.Store, "memory")
	}
}

// DefaultSessionLimits are the session bounds of a websocket path that sets none, and of the
// router's sessions served without a configuration (in-process peers).
func DefaultSessionLimits() SessionLimits {
	var l SessionLimits
	defaultSessionLimits(&l)
	return l
}

// WithDefaults returns l with its zero fields set to the defaults (none of them may be zero).
func (l SessionLimits) WithDefaults() SessionLimits {
	defaultSessionLimits(&l)
	return l
}

func defaultSessionLimits(l *SessionLimits) {
	setDur(&l.AuthTimeout, 10*time.Second)
	setInt(&l.MaxSubscriptions, 10000)
	setInt(&l.MaxRegistrations, 10000)
	setInt(&l.MaxTestaments, 100)
	setInt(&l.MaxCallsInFlight, 10000)
	setInt(&l.MaxTestamentBytes, 64<<10)
	setInt(&l.MaxURILength, 4096)
}

func defaultAuth(a *Auth) {
	if a == nil {
		return
	}
	if a.Anonymous != nil {
		setStr(&a.Anonymous.Role, "anonymous") // Crossbar's
	}
	if t := a.Ticket; t != nil {
		for k, p := range t.Principals {
			setStr(&p.Role, t.DefaultRole)
			t.Principals[k] = p
		}
	}
	if c := a.Cryptosign; c != nil {
		for k, p := range c.Principals {
			setStr(&p.Role, c.DefaultRole)
			c.Principals[k] = p
		}
	}
	if c := a.TLS; c != nil {
		for k, p := range c.Principals {
			setStr(&p.Role, c.DefaultRole)
			c.Principals[k] = p
		}
	}
	if c := a.WAMPCRA; c != nil {
		for k, u := range c.Users {
			setStr(&u.Role, c.DefaultRole)
			if u.Salt != "" { // Crossbar's key derivation defaults
				setInt(&u.Iterations, 1000)
				setInt(&u.KeyLen, 32)
			}
			c.Users[k] = u
		}
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setInt64(p *int64, v int64) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}
