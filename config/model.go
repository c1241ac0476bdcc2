// Package config is Portico's one configuration model and its two front doors: Crossbar.io's node
// configuration (version 2, JSON or YAML) and Portico's own TOML. Both decode strictly (an unknown
// key is an error, as in Crossbar) into the same model, get the same defaults and pass the same
// validation. The package reads the config file and nothing else; it starts nothing.
//
// The doc comment of each field is also the user-facing reference for its key.
package config

import "time"

// Node is a whole node configuration.
type Node struct {
	// Dir is the node directory (Crossbar's cbdir), absolute. Relative paths in the config
	// (pythonpath, static directories, unix sockets) are resolved against it.
	Dir string
	// File is the absolute path of the file the config was read from ("" when built in code).
	File string
	// Version is the Crossbar config version (2). TOML files may omit it.
	Version    int
	Controller Controller
	Workers    []Worker
}

// Controller is Crossbar's `controller` section. Portico has no separate controller process; the
// keys are accepted so that Crossbar configs load unchanged.
type Controller struct {
	// ID names the node in logs.
	ID string
}

// Worker is one entry of `workers`. Only `type: "router"` workers are served.
type Worker struct {
	Place      string // key path, e.g. "workers[0]"
	Type       string // "router"
	ID         string
	Options    WorkerOptions
	Realms     []Realm
	Transports []Transport
}

// WorkerOptions is a router worker's `options`.
type WorkerOptions struct {
	// PythonPath lists directories put on the Python path of every WSGI app of the worker,
	// resolved against the node directory, so `[".."]` beside `.crossbar/` is the project root.
	PythonPath []string
	// Env is the environment given to launched uwsgi processes.
	Env Env
	// Title names the worker in logs.
	Title string
	// MaxRetainedEvents and MaxRetainedBytes bound the retained events (WAMP "Event
	// Retention") of each realm of the worker, in number and in an estimate of the memory they
	// hold. Past either bound the events retained longest ago are dropped (one warning a
	// minute per realm). Portico's keys; defaults 10000 and 16 MiB (Crossbar has no bound).
	MaxRetainedEvents int
	MaxRetainedBytes  int
}

// Env is Crossbar's worker `options.env`: which variables of Portico's own environment are
// inherited (all by default, none, or a list) and which are set.
type Env struct {
	InheritAll bool     // `inherit: true` (the default)
	Inherit    []string // `inherit: ["PATH", ...]`
	Vars       map[string]string
}

// Realm is one WAMP realm of a router worker.
type Realm struct {
	Place string
	Name  string
	Roles []Role
}

// Role is a WAMP authrole with its static permissions.
type Role struct {
	Place       string
	Name        string
	Permissions []Permission
}

// Permission grants actions on a URI pattern.
type Permission struct {
	Place string
	URI   string
	// Match is "exact", "prefix" or "wildcard". Default: "exact", unless the URI ends in "." or
	// is "" (then "prefix"), as in Crossbar.
	Match    string
	Allow    Allow
	Disclose Disclose
	Cache    bool
}

// Allow lists the WAMP actions a permission grants.
type Allow struct{ Call, Register, Publish, Subscribe bool }

// Disclose says whether callers/publishers are disclosed to callees/subscribers.
type Disclose struct{ Caller, Publisher bool }

// Transport is one listening transport. Only `type: "web"` is served.
type Transport struct {
	Place    string // e.g. "workers[0].transports[0]"
	Type     string // "web"
	ID       string
	Endpoint Endpoint
	// Paths is the path table: "/" is the root service, every other key is one path segment.
	Paths   map[string]*Service
	Options WebOptions
}

// Endpoint is where a transport listens.
type Endpoint struct {
	Type      string // "tcp" or "unix"
	Port      int    // tcp; 0 picks a free port (tests)
	Interface string // tcp; "" listens on all interfaces
	Version   int    // tcp; 4 or 6 (default 6 when Interface is an IPv6 address, else 4)
	Backlog   int    // tcp; accepted for Crossbar, the kernel default (somaxconn) applies
	Path      string // unix, absolute after resolution
	TLS       *TLS
}

// TLS configures HTTPS on a tcp endpoint. Paths are resolved against the node directory.
type TLS struct {
	Key         string
	Certificate string
	// CAFile is reserved: `ca_certificates` (client certificates) is not supported yet; put the
	// chain in Certificate.
	CAFile string
}

// WebOptions are a web transport's `options`: Crossbar's, plus Portico's edge limits. Zero
// durations and sizes mean "the default" documented on each field.
type WebOptions struct {
	// AccessLog logs one line per request (Crossbar `access_log`). Default false.
	AccessLog bool
	// DisplayTracebacks shows error details in 5xx pages (Crossbar `display_tracebacks`);
	// keep it off in production. Default false.
	DisplayTracebacks bool
	// HSTS sends Strict-Transport-Security on TLS transports (Crossbar `hsts`). Default false.
	HSTS bool
	// HSTSMaxAge is its max-age in seconds (Crossbar `hsts_max_age`). Default 31536000 (1 year).
	HSTSMaxAge int
	// MaxHeaderSize bounds a request's header block in bytes (431 above it). Key
	// `max_header_size`, bytes or "16k". Default 16 KiB (DefaultMaxHeaderSize); range 1 KiB..1 MiB.
	MaxHeaderSize int
	// HeaderReadTimeout bounds the time to read a request's header. Default 60s (nginx).
	HeaderReadTimeout time.Duration
	// BodyReadTimeout bounds the time between two reads of a request body. Default 60s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default 75s (nginx keepalive_timeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to the client. Default 60s (nginx send_timeout).
	WriteTimeout time.Duration
	// MaxConnections bounds concurrent client connections. Default 0: fasthttp's own bound
	// (256 Ki).
	MaxConnections int
	// MaxBodySize bounds request bodies on every path, in bytes or "10m" (413 above it).
	// Default 0: unlimited (nginx's client_max_body_size defaults to 1m; set it).
	MaxBodySize int64
	// TrustedProxies lists peers (IPs or CIDRs) whose X-Forwarded-* headers are believed.
	// Default none: the TCP peer is the client.
	TrustedProxies []string
}

// Service is one entry of a path table.
type Service struct {
	Place string // e.g. "workers[0].transports[0].paths.ws"
	// Type is one of "wsgi", "websocket", "static", "redirect", "json", "path".
	Type      string
	WSGI      *WSGI
	WebSocket *WebSocket
	Static    *Static
	Redirect  *Redirect
	JSON      *JSON
	// Paths is the nested path table of a `path` service ("/" is its own root).
	Paths map[string]*Service
}

// WSGI serves a Python WSGI application over the uwsgi protocol, either from running uwsgi
// upstreams or from a uwsgi that Portico launches and supervises.
type WSGI struct {
	// Module and Object name the WSGI callable (Crossbar's keys): `--module module:object`.
	Module string
	Object string
	// MinThreads/MaxThreads are Crossbar's thread pool bounds (defaults 5 and 20); Portico
	// derives the launched uwsgi's threads from MaxThreads when `threads` is not set.
	MinThreads int
	MaxThreads int
	// Upstreams are running uwsgi sockets ("unix:/run/app.sock", "127.0.0.1:3031"). With
	// upstreams nothing is launched. Unix paths are resolved against the node directory.
	Upstreams []string
	// Processes and Threads size a launched uwsgi. Defaults: 2 processes, and
	// max(1, MaxThreads/Processes) threads each (10 with Crossbar's default maxthreads 20).
	Processes int
	Threads   int
	// UWSGI is the uwsgi binary to launch (default: "uwsgi" on PATH).
	UWSGI string
	// UWSGIArgs are extra arguments for the launched uwsgi.
	UWSGIArgs []string
	// Env is added to the launched uwsgi's environment: the worker's `options.env.vars`,
	// overridden by the service's own `env`.
	Env map[string]string
	// MaxConcurrency bounds concurrent requests per upstream (default: processes*threads for a
	// launched uwsgi, 64 for a configured upstream). Requests above it wait in a FIFO queue.
	MaxConcurrency int
	// QueueTimeout bounds the wait in that queue (503 after it). Default 60s.
	QueueTimeout time.Duration
	// ConnectTimeout bounds dialing an upstream (504 after it). Default 60s (nginx
	// uwsgi_connect_timeout).
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait between two reads from an upstream (504). Default 60s
	// (nginx uwsgi_read_timeout).
	ReadTimeout time.Duration
	// SendTimeout bounds one write to an upstream (504). Default 60s (nginx uwsgi_send_timeout).
	SendTimeout time.Duration
	// MaxBodySize bounds request bodies on this path (413). Default 0: the transport's.
	MaxBodySize int64
	// Balance is "round_robin" (default) or "least_conn".
	Balance string
	// MaxFails failed attempts within FailTimeout mark an upstream down for FailTimeout
	// (nginx semantics). Defaults 1 and 10s.
	MaxFails    int
	FailTimeout time.Duration

	// Resolved from the worker: the absolute python path, and the directory uwsgi runs in (the
	// first pythonpath entry, else the node directory's parent when it is named .crossbar,
	// else the node directory).
	PythonPath []string
	Chdir      string
	// WorkerEnv is the worker's `options.env` (which variables are inherited).
	WorkerEnv Env
}

// WebSocket serves the WAMP router of the worker.
type WebSocket struct {
	// Serializers restricts the offered WAMP serializers ("json", "msgpack", "cbor"); default all.
	Serializers []string
	Options     WebSocketOptions
	// Auth is the path's `auth` (Crossbar "Authentication"): the methods clients may
	// authenticate with. Nil: clients join anonymously with role "anonymous". When set, a client
	// joins only by one of its methods; anonymous clients only when Auth.Anonymous is set.
	Auth  *Auth
	Debug bool
}

// Auth is a websocket path's `auth` object: one entry per WAMP authentication method, each
// with Crossbar's `type: "static"` principal database. A client's HELLO.authmethods are tried
// in the client's order among the methods configured here.
type Auth struct {
	// Anonymous is `anonymous: {type: "static", role: "..."}`: clients that name no
	// authmethods (or "anonymous") join with a random authid and this role.
	Anonymous *AnonymousAuth
	// Ticket is `ticket: {type: "static", principals: {...}}` (WAMP-Ticket): the client sends
	// its ticket, in clear, in AUTHENTICATE. Use it over TLS only.
	Ticket *TicketAuth
	// WAMPCRA is `wampcra: {type: "static", users: {...}}` (WAMP-CRA): the client signs a
	// challenge with HMAC-SHA256; the secret never crosses the wire.
	WAMPCRA *WAMPCRAAuth
}

// AnonymousAuth is the `anonymous` method.
type AnonymousAuth struct {
	// Role is the authrole of anonymous clients. Default "anonymous".
	Role string
}

// TicketAuth is the `ticket` method's static principals, by authid.
type TicketAuth struct {
	Principals map[string]TicketPrincipal
}

// TicketPrincipal is one `principals` entry.
type TicketPrincipal struct {
	// Ticket is the shared secret the client must send. Required.
	Ticket string
	// Role is the authrole the client gets. Required.
	Role string
	// Realm, when set, is the realm the client joins whatever its HELLO asked (Crossbar's
	// principal `realm`).
	Realm string
}

// WAMPCRAAuth is the `wampcra` method's static users, by authid.
type WAMPCRAAuth struct {
	Users map[string]WAMPCRAUser
}

// WAMPCRAUser is one `users` entry.
type WAMPCRAUser struct {
	// Secret is the HMAC-SHA256 key of the signature. Required. With Salt it is, as in
	// Crossbar, the key the client derives from its password: autobahn's
	// auth.derive_key(password, salt, iterations, keylen), a base64 string.
	Secret string
	// Role is the authrole the client gets. Required.
	Role string
	// Realm, when set, is the realm the client joins whatever its HELLO asked.
	Realm string
	// Salt, Iterations and KeyLen are sent to the client in the CHALLENGE so that it derives
	// Secret from its password with PBKDF2-HMAC-SHA256. Iterations defaults to 1000 and KeyLen
	// to 32 when Salt is set (Crossbar's defaults); without Salt they are not used.
	Salt       string
	Iterations int
	KeyLen     int
}

// WebSocketOptions are Crossbar's websocket `options`.
type WebSocketOptions struct {
	// MaxMessageSize bounds one incoming message, in bytes (Crossbar default 0: unlimited).
	MaxMessageSize int
	// AutoPingInterval and AutoPingTimeout (Crossbar: milliseconds) drive WebSocket pings.
	// Default 0: no pings.
	AutoPingInterval time.Duration
	AutoPingTimeout  time.Duration
	// AllowedOrigins lists Origin patterns ("*" wildcards) accepted on upgrade; default all.
	AllowedOrigins  []string
	AllowNullOrigin bool
	// Compression enables permessage-deflate (RFC 7692). Crossbar writes
	// `"compression": {"deflate": {...}}`; Portico also takes `true`.
	Compression bool
	// EnableWebStatus answers a plain GET with a status page. Default true.
	EnableWebStatus bool
	// OpenHandshakeTimeout and CloseHandshakeTimeout (ms in Crossbar). Defaults 5s and 1s,
	// autobahn's.
	OpenHandshakeTimeout  time.Duration
	CloseHandshakeTimeout time.Duration
	// OutQueueLimit bounds a session's outbound queue (messages); a session over it is
	// disconnected. Portico's key; default 1024.
	OutQueueLimit int
	// OutQueueBytes bounds a session's outbound queue in bytes (messages queued and the one
	// being written); a session over it is disconnected. A message larger than the bound is
	// still taken into an empty queue. Portico's key; default 4 MiB.
	OutQueueBytes int
	// OutQueueTimeout is how long a session's outbound queue may stay over its high-water mark
	// (half of out_queue_limit or out_queue_bytes) before it is back at its low-water mark (a
	// quarter of both); a session that does not drain in time is disconnected. Meanwhile the
	// sessions whose messages filled the queue are not read (push-back). Portico's key;
	// default 10s (nats-server's write_deadline).
	OutQueueTimeout time.Duration
}

// Static serves files from a directory.
type Static struct {
	// Directory is the absolute directory served; `directory` is relative to the node
	// directory and must exist.
	Directory string
	// EnableDirectoryListing lists directories without a default file. Default false.
	EnableDirectoryListing bool
	// CacheTimeout sets Cache-Control max-age in seconds. Default 43200 (12 hours, Crossbar's);
	// nil (`cache_timeout: null`) sends no caching header.
	CacheTimeout *int
	// DefaultFile is served for a directory. Default "index.html".
	DefaultFile string
	// MimeTypes maps extensions (".wasm") to content types, over the built-in table.
	MimeTypes map[string]string
	// FollowSymlinks serves symlinks pointing outside the directory. Default false.
	FollowSymlinks bool
}

// Redirect answers every request with a redirect.
type Redirect struct {
	// URL is an absolute URL or an absolute path.
	URL string
	// Code is 301, 302, 303, 307 or 308. Default 302, as Crossbar's (twisted.web.util.Redirect).
	Code int
}

// JSON answers with a fixed JSON value.
type JSON struct {
	// Value is any JSON value: nil, bool, int64, float64, string, []any, map[string]any.
	Value any
	// Prettify indents the answer; AllowCrossOrigin sends Access-Control-Allow-Origin: *;
	// DiscourageCaching sends no-cache headers (Crossbar's json service options).
	Prettify          bool
	AllowCrossOrigin  bool
	DiscourageCaching bool
}
