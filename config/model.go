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
	// Default 100m (DefaultMaxBodySize); 0 is unlimited, as Crossbar. nginx's
	// client_max_body_size defaults to 1m.
	MaxBodySize int64
	// RequestBuffering reads a request body whole (in memory up to 64 KiB, then in a file in
	// SpoolDir) before uwsgi is contacted, so that a slow uploader holds only its own
	// connection, never an upstream slot or a uwsgi worker (nginx uwsgi_request_buffering).
	// Default true; a wsgi path may set its own. false streams bodies with a Content-Length to
	// the app as they arrive (chunked bodies are always read whole: uwsgi needs their length).
	RequestBuffering bool
	// SpoolDir is where request bodies past 64 KiB are kept while they are read (nginx
	// client_body_temp_path), and buffered responses past 64 KiB while the client takes them
	// (nginx uwsgi_temp_path); the files are unlinked at once. Default "": a private directory
	// (0700) made under /var/tmp at start and removed at stop; /var/tmp is disk, where /tmp and
	// /run are often RAM (tmpfs). A given directory is created 0700 when missing. Portico warns
	// at start when it is on a tmpfs. Relative paths are resolved against the node directory.
	SpoolDir string
	// MaxSpoolSize bounds the request bodies the transport holds at once while reading them
	// (memory and spool files together), in bytes or "2g"; a body that would go past it is
	// refused with 507 Insufficient Storage. The spool files of buffered responses count too
	// (see WSGI.Buffering): past the bound a response goes on at the client's pace. Default 2g
	// (DefaultMaxSpoolSize); 0 is unlimited.
	MaxSpoolSize int64
	// MaxSpoolPerClient bounds the same for one client address (an IPv6 client by its /64),
	// so that one client cannot take the whole spool: 429 past it. Behind trusted_proxies the
	// client is the X-Forwarded-For address the nearest trusted proxy gave. Default 512m
	// (DefaultMaxSpoolPerClient); 0 is unlimited.
	MaxSpoolPerClient int64
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
	// Internal makes the service reachable only through an app's X-Accel-Redirect (nginx's
	// `internal` location): clients that ask for it get 404. Typical use: a static directory
	// of protected files that a wsgi app hands out after its own checks. Key `internal`, on
	// any service but `path`. Default false.
	Internal bool
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
	// MaxBodySize bounds request bodies on this path (413); 0 is unlimited. Default: the
	// transport's max_body_size.
	MaxBodySize int64
	// RequestBuffering: see WebOptions.RequestBuffering. Default: the transport's
	// request_buffering. false for a path that takes streaming uploads the app reads as they
	// arrive (a progress bar, a long upload processed on the fly).
	RequestBuffering bool
	// Buffering reads a response from uwsgi as fast as the app writes it, in memory up to 64 KiB,
	// then in an unlinked file in the transport's spool_dir, and sends it to the client at the
	// client's pace: the uwsgi worker and the upstream slot are free as soon as the app is done,
	// so that clients that read slowly (or stop reading) cannot hold every worker (nginx
	// uwsgi_buffering, on there too). Default true. A response streams unbuffered anyway when
	// the app sends `X-Accel-Buffering: no` (as with nginx; `yes` buffers on a path that set
	// buffering false), and when it is `text/event-stream`: server-sent events are passed on
	// one by one, without the header nginx needs for them. false streams every response at
	// the client's pace, holding the worker until the client has it all.
	Buffering bool
	// MaxTempFileSize bounds the file part of one buffered response, in bytes or "1g" (nginx
	// uwsgi_max_temp_file_size, 1024m there too); the files count against the transport's
	// max_spool_size and max_spool_per_client as well. Past either, the rest of the response is
	// read from uwsgi only as the client takes it, as nginx does. 0 keeps only the 64 KiB in
	// memory. Default 1g (DefaultMaxTempFileSize).
	MaxTempFileSize int64
	// SendfileRoots are the directories under which an app's `X-Sendfile: /abs/path` response
	// header (Flask's USE_X_SENDFILE, django-sendfile2's simple/xsendfile backends, Apache
	// mod_xsendfile) is served: the file replaces the response body, with Range and
	// If-Modified-Since handled. A path outside them, or reaching outside through a symlink, is
	// answered 500 and logged. Relative entries are resolved against the node directory.
	// Default none: X-Sendfile is refused (500) and never reaches the client.
	SendfileRoots []string
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

	// Which keys the path set itself; the others take the transport's value.
	bodySizeSet, bufferingSet bool
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

// DefaultMaxMessageSize is max_message_size when the configuration does not set it.
const DefaultMaxMessageSize = 1 << 20

// WebSocketOptions are Crossbar's websocket `options`.
type WebSocketOptions struct {
	// MaxMessageSize bounds one incoming message, in bytes: the bytes on the wire summed over
	// its continuation frames, and with permessage-deflate the inflated size too. It is
	// enforced while the message is read, so no more than this is ever buffered; a message
	// over it closes the connection with 1009 (RFC 6455 section 7.4.1, "message too big") and
	// logs one warning naming this key. Default 1 MiB (DefaultMaxMessageSize). Crossbar's
	// default, autobahn's maxMessagePayloadSize 0, is unlimited: there one message, or one
	// deflated message of a few kilobytes, can take all of the router's memory before HELLO.
	// 1 MiB is the bound the common edges set for one request or message: nginx's
	// client_max_body_size (1m), Socket.IO's maxHttpBufferSize (1e6); WAMP messages are
	// calls and events, and larger payloads belong in progressive results or HTTP. 0 is
	// unlimited, as in Crossbar, and is only for trusted clients.
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
	// SessionLimits bound what one WAMP session of this path may hold (Portico's keys).
	SessionLimits
}

// SessionLimits are Portico's bounds on one WAMP session, set in a websocket path's `options`
// for the sessions it serves. Crossbar has none of them; each default is far above what an
// application does and far below what exhausts the router's memory. DefaultSessionLimits
// holds the defaults.
type SessionLimits struct {
	// AuthTimeout bounds the time from the WebSocket upgrade to the end of the WAMP opening
	// handshake: HELLO, any CHALLENGE and AUTHENTICATE, WELCOME. A session that has not joined
	// by then gets ABORT wamp.error.timeout and its connection is closed (one log line). Key
	// `auth_timeout` (ms or "10s"); default 10s; it must be positive.
	AuthTimeout time.Duration
	// MaxSubscriptions bounds a session's subscriptions. A SUBSCRIBE above it is answered
	// with ERROR portico.error.limit_exceeded naming the key; the session stays. Key
	// `max_subscriptions`; default 10000.
	MaxSubscriptions int
	// MaxRegistrations bounds a session's registrations, as MaxSubscriptions does its
	// subscriptions. Key `max_registrations`; default 10000.
	MaxRegistrations int
	// MaxTestaments bounds the testaments (wamp.session.add_testament) a session holds, all
	// scopes together; one more is refused with ERROR portico.error.limit_exceeded. Kept below
	// out_queue_limit, a session's testaments, published when it leaves, cannot overflow a
	// subscriber's queue by themselves. Key `max_testaments`; default 100.
	MaxTestaments int
	// MaxTestamentBytes bounds the encoded size of a session's testaments, all together
	// (topic, args and kwargs as the session's serializer encodes them), as MaxTestaments
	// does their number. Key `max_testament_bytes` (bytes or "64k"); default 64 KiB.
	MaxTestamentBytes int
	// MaxURILength bounds every URI a client sends: realm, topic, procedure, pattern. A longer
	// one is refused as invalid (ERROR wamp.error.invalid_uri; ABORT for HELLO's realm). WAMP
	// sets no bound; 4096 bytes is forty times the longest URIs of the Crossbar examples and
	// keeps a subscription or registration from holding megabytes. Key `max_uri_length`;
	// default 4096.
	MaxURILength int
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
	// Prettify indents the answer; AllowCrossOrigin sends Access-Control-Allow-Origin: *
	// (without credentials; Crossbar reflects any Origin and allows credentials);
	// DiscourageCaching sends no-cache headers (Crossbar's json service options).
	Prettify          bool
	AllowCrossOrigin  bool
	DiscourageCaching bool
	// AllowedOrigins (Portico's key) lists the Origins ("*" wildcards, as websocket
	// allowed_origins) whose cross-origin requests may carry credentials: a listed Origin is
	// echoed with Access-Control-Allow-Credentials: true, any other gets no CORS headers.
	// Default none.
	AllowedOrigins []string
}
