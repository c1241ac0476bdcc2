// Package config is Portico's one configuration model and its two front doors: Crossbar.io's node
// configuration (version 2, JSON or YAML) and Portico's own TOML. Both decode strictly (an unknown
// key is an error, as in Crossbar) into the same model, get the same defaults and pass the same
// validation. The package reads the config file and nothing else; it starts nothing.
//
// The doc comment of each field is also the user-facing reference for its key.
package config

import (
	"net/netip"
	"time"
)

// Node is a whole node configuration.
type Node struct {
	// Dir is the node directory (Crossbar's cbdir), absolute. Relative paths in the config
	// (pythonpath, static directories, unix sockets) are resolved against it.
	Dir string
	// File is the absolute path of the file the config was read from ("" when built in code).
	File string
	// Version is the Crossbar config version: 2, the only one read. Default 2: a config
	// without `version` (TOML files, the seed's example) is read as version 2.
	Version    int
	Controller Controller
	Workers    []Worker
	// Cluster shares the node's realms with other Portico nodes over NATS; nil (no `cluster`
	// key) runs nothing of it.
	Cluster *Cluster `json:",omitempty"`
	// Warnings are what Portico serves differently from what the config seems to ask, without
	// refusing it (a static directory that does not exist yet, a permission that matches no
	// URI): `portico check` prints them and `portico start` logs them, each with its place.
	Warnings Problems
}

// Controller is Crossbar's `controller` section. Portico has no separate controller process; the
// keys are accepted so that Crossbar configs load unchanged.
type Controller struct {
	// ID names the node in logs.
	ID string
}

// Worker is one entry of `workers`: a "router" (realms, transports and router components),
// a "container" (Python components that connect to a router) or a "guest" (any program,
// supervised).
type Worker struct {
	Place      string // key path, e.g. "workers[0]"
	Type       string // "router", "container", "guest" or "websocket-testee" (proxy workers become transports of a router worker)
	ID         string
	Options    WorkerOptions
	Realms     []Realm
	Transports []Transport
	// Components are a container's components, or a router's (Crossbar's router
	// `components`, run in one Python process attached to the router without credentials).
	Components []Component
	// Guest is a guest worker's program; nil for the other types.
	Guest *Guest
}

// Guest is Crossbar's guest worker: an executable Portico starts, stops with the node and
// restarts by Options.Restart.
type Guest struct {
	// Executable is the program: a path relative to Workdir when such an executable file
	// exists there, else a name looked up on PATH, as Crossbar does. Required.
	Executable string
	// Arguments follow the executable on its command line.
	Arguments []string
	// Workdir is the program's working directory, `options.workdir` resolved against the
	// node directory. Default: the node directory.
	Workdir string
	// Stdin is `options.stdin`: nil leaves stdin an open pipe (Crossbar's default); "close"
	// closes it at once; `{"type": "json", "value": V, "close": true}` writes V as JSON, then
	// closes it unless `close` is false.
	Stdin *GuestStdin
	// Stdout and Stderr are `options.stdout`/`stderr`: "log" (default: each line into
	// Portico's log), "drop" (/dev/null) or "close" (a pipe without a reader, as Crossbar's
	// closeStdout: writes fail).
	Stdout, Stderr string
	// Watch is `options.watch`: nil watches nothing.
	Watch *GuestWatch
}

// GuestWatch is a guest's `options.watch` (Crossbar's directory watcher): a change under one
// of Directories (recursively: a file or directory created, written, moved or removed) sends
// the guest SIGTERM; with Action "restart" it is started again Timeout later. Without an
// action it stays stopped, as in Crossbar.
type GuestWatch struct {
	// Directories are resolved against the node directory.
	Directories []string
	Action      string
	// Timeout is `timeout` in seconds; default 1 (Crossbar's).
	Timeout time.Duration

	set keySet // the keys the file gave, for applyDefaults
}

// GuestStdin is a guest's `options.stdin`.
type GuestStdin struct {
	// JSON is written when HasValue (`type: "json"`, `value`).
	JSON     any
	HasValue bool
	// Close closes stdin after JSON is written (or at once without a value).
	Close bool
}

// Component is one entry of a container's or a router's `components`: an autobahn-python
// ApplicationSession class, Twisted or asyncio, run by Portico's component runner.
type Component struct {
	Place string // e.g. "workers[1].components[0]"
	ID    string
	// Type is "class" or "function".
	Type string
	// Classname is the session class, "package.module.Class". Required for "class".
	Classname string
	// Callbacks are a "function" component's functions by event ("join", "leave", "connect",
	// "disconnect"), each "module.function": Crossbar makes a Twisted ApplicationSession and
	// calls join(session, details), leave(session, details), connect(session, transport) and
	// disconnect(session, was_clean=...) (crossbar/worker/__init__.py _appsession_loader).
	Callbacks map[string]string
	// Realm is the realm the session joins. Required.
	Realm string
	// Role is a router component's authrole (default "anonymous", as in Crossbar); container
	// components get theirs from the router they connect to.
	Role string
	// Extra is handed to the session as ComponentConfig.extra.
	Extra any
	// Transport is how a container component connects; nil for router components, which
	// attach over a private socket of the router.
	Transport *ComponentTransport
	// RESTCallee and Forwarder are set for the components Portico runs natively, in Go,
	// instead of in Python: Crossbar's HTTP bridge components RESTCallee and
	// MessageForwarder (classname crossbar.bridge.rest.RESTCallee /
	// crossbar.bridge.rest.MessageForwarder, or crossbar.adapter.rest.* of older Crossbar).
	// Their settings are the component's `extra`. A router component joins over the
	// in-process transport; a container component over its websocket transport.
	RESTCallee *RESTCallee       `json:",omitempty"`
	Forwarder  *MessageForwarder `json:",omitempty"`

	set keySet // the keys the file gave, for applyDefaults
}

// RESTCallee registers Procedure; each call becomes an HTTP request: the call's arguments
// are (method, url, body, headers, params), positionally or by name, url is resolved against
// BaseURL, and the result is {"code", "content", "headers"} (crossbar/bridge/rest/callee.py).
type RESTCallee struct {
	// BaseURL is `extra.baseurl`, an http or https URL. Required.
	BaseURL string
	// Procedure is `extra.procedure`. Required.
	Procedure string
}

// MessageForwarder subscribes to topics and POSTs each event, as
// {"args": [...], "kwargs": {...}}, to the subscription's URL
// (crossbar/bridge/rest/subscriber.py).
type MessageForwarder struct {
	// Subscriptions is `extra.subscriptions`: [{"topic", "url", "match"}]. Required, at
	// least one.
	Subscriptions []Forward
	// Method is `extra.method`, the HTTP method. Default "POST".
	Method string
	// ExpectedCode is `extra.expectedcode`: an answer with another status is logged as a
	// failure. 0 (default): any status.
	ExpectedCode int
	// Debug is `extra.debug`: log each answer's body.
	Debug bool
	// SortKeys is `extra.sort_keys`, accepted; Portico always writes the keys sorted.
	SortKeys bool
}

// Forward is one MessageForwarder subscription.
type Forward struct {
	Topic string
	URL   string
	// Match is "exact", "prefix" or "wildcard". Default "exact".
	Match string
}

// ComponentTransport is a container component's `transport`.
type ComponentTransport struct {
	// Type is "websocket" or "rawsocket".
	Type string
	// URL is the WebSocket URL ("ws://127.0.0.1:8080/ws"); required for websocket.
	URL string
	// Serializers (websocket) or Serializer (rawsocket) pick the WAMP serializers.
	Serializers []string
	Serializer  string
	// Endpoint is where to connect: tcp Host and Port, or a unix Path (absolute after
	// resolution against the node directory).
	Endpoint ConnectEndpoint
	// MaxMessageSize is `options.max_message_size`, 0 when not set: the largest message the
	// component accepts from the router, handed to autobahn's client factory as Crossbar
	// does (crossbar/worker/container.py, set_rawsocket_options / set_websocket_options:
	// maxMessagePayloadSize). rawsocket: from 512 bytes to 16 MiB, what autobahn's
	// RawSocket factory accepts; the handshake asks the router for the next power of two.
	MaxMessageSize int
}

// ConnectEndpoint is a connecting endpoint.
type ConnectEndpoint struct {
	Type    string // "tcp" or "unix"
	Host    string
	Port    int
	Path    string
	Version int // 4 or 6, accepted for Crossbar
	Timeout int // seconds; default 10, as Twisted's
	// TLS is a tcp endpoint's `tls`: the component speaks TLS to the router.
	TLS *ConnectTLS `json:",omitempty"`

	set keySet // the keys the file gave, for applyDefaults
}

// ConnectTLS is a connecting endpoint's `tls` (Crossbar's check_connecting_endpoint_tls and
// _create_tls_client_context): the component checks the router's certificate against
// CACertificates for Hostname, and shows its own Certificate when it has a Key.
type ConnectTLS struct {
	// Hostname is the name the router's certificate must carry (`hostname`). Required.
	Hostname string
	// CACertificates are the PEM files of the certificates trusted to sign the router's
	// (`ca_certificates`, absolute after resolution against the node directory). None: the
	// system's trusted roots.
	CACertificates []string
	// Certificate and Key are the PEM files of the component's client certificate and its
	// key (`certificate`, `key`, absolute). A certificate without a key is not shown, as in
	// Crossbar.
	Certificate, Key string
}

// WorkerOptions is a worker's `options`.
type WorkerOptions struct {
	// PythonPath lists directories put on the Python path of every WSGI app of the worker,
	// resolved against the node directory, so `[".."]` beside `.crossbar/` is the project root.
	PythonPath []string
	// Env is the environment given to launched uwsgi processes.
	Env Env
	// Title names the worker in logs.
	Title string
	// Python is the interpreter of a container worker, or of a router worker's components
	// (Crossbar's `options.python`). Default /usr/bin/python3.
	Python string
	// Restart is a container's component restart policy (Crossbar's `options.restart`):
	// "restart-never" (default), "restart-on-failed" (a component that failed after it had
	// joined is started again) or "restart-always". On a guest worker (Portico's key;
	// Crossbar never restarts guests) it means the same for the program.
	Restart string
	// Shutdown is when a container ends (Crossbar's `options.shutdown`): "shutdown-manual"
	// (default: it runs on without components), "shutdown-on-last-component-stopped",
	// "shutdown-on-any-component-failed", "shutdown-on-any-component-stopped".
	Shutdown string
	// MaxRetainedEvents and MaxRetainedBytes bound the retained events (WAMP "Event
	// Retention") of each realm of the worker, in number and in an estimate of the memory they
	// hold. Past either bound the events retained longest ago are dropped (one warning a
	// minute per realm). Portico's keys; defaults 10000 and 16 MiB (Crossbar has no bound).
	MaxRetainedEvents int
	MaxRetainedBytes  int
	// AuthorizerTimeout bounds one call to a role's dynamic authorizer, including the wait
	// for the procedure to be registered (components start together); past it the action is
	// denied with wamp.error.authorization_failed. Portico's key; default 10s (Crossbar
	// waits for ever).
	AuthorizerTimeout time.Duration
}

// Env is Crossbar's worker `options.env`: which variables of Portico's own environment are
// inherited (all by default, none, or a list) and which are set.
type Env struct {
	InheritAll bool     // `inherit: true` (the default)
	Inherit    []string // `inherit: ["PATH", ...]`
	Vars       map[string]string

	inheritSet bool // the file gave `inherit`, for applyDefaults
}

// Realm is one WAMP realm of a router worker.
type Realm struct {
	Place string
	Name  string
	Roles []Role
	// Store is the realm's event store (Crossbar's realm `store`); nil without one.
	Store *RealmStore
}

// RealmStore is a realm's `store` as in Crossbar (crossbar/router/realmstore.py). Only type
// "memory" is built; Crossbar's "cfxdb" (an LMDB database on disk) is not supported yet.
// Everything is kept in memory and lost on restart, and every list is bounded.
type RealmStore struct {
	Place string
	Type  string // "memory"
	// Limit is the default Limit of the EventHistory and CallQueue entries that set none. Key
	// `limit`; default 100 (Crossbar's); at most 100000.
	Limit int
	// EventHistory lists the topics whose events the realm keeps (`event-history`), for
	// wamp.subscription.get_events. Each entry is a subscription the store holds from start,
	// whatever clients subscribe.
	EventHistory []StoreEntry
	// CallQueue lists the procedures whose calls wait in a queue (`call-queue`) when every
	// callee is at the `concurrency` it registered with, instead of failing with
	// crossbar.error.max_concurrency_reached; Limit bounds each queue (a call over it fails
	// so). The first entry that matches the procedure of the registration applies.
	CallQueue []StoreEntry
	// MaxBytes bounds the memory (an estimate) the event history of the realm holds, all
	// entries together: past it the oldest events are dropped. Portico's key `max_bytes`
	// (bytes or "16m"); default 16 MiB. Crossbar's memory store has no such bound.
	MaxBytes int
}

// StoreEntry is one `event-history` or `call-queue` entry of a realm store: a URI pattern and
// its limit (events kept, or calls queued).
type StoreEntry struct {
	Place string
	URI   string
	Match string // "exact" (default), "prefix" or "wildcard"
	// Limit is the entry's `limit`; default the store's Limit.
	Limit int
}

// Role is a WAMP authrole with its static permissions. A role without `permissions` denies
// everything unless it sets `allow-by-default: true` (Crossbar's RouterRole), which grants every
// action on every URI: it is read as one permission {uri: "", match: "prefix", allow all}.
// With `permissions`, Crossbar ignores `allow-by-default`, and so does Portico.
//
// A role with `authorizer` has no static permissions: each action of its sessions is decided
// by calling that WAMP procedure (Crossbar's RouterRoleDynamicAuth; router/authorizer.go).
type Role struct {
	Place       string
	Name        string
	Permissions []Permission
	// Authorizer is the URI of the role's dynamic authorizer procedure, "" for static
	// permissions.
	Authorizer string
}

// Permission grants actions on a URI pattern.
type Permission struct {
	Place string
	URI   string
	// Match is "exact", "prefix" or "wildcard". Without `match`, the URI is a starred URI, read
	// as Crossbar reads it (autobahn's convert_starred_uri): no "*" is exact ("com.example." too,
	// which therefore matches no valid URI: Portico warns), one "*" at the end is a prefix
	// without it ("*" is the prefix "", everything; "com.example.*" the prefix "com.example."),
	// any other "*" makes a wildcard with the stars removed ("com.*.get" is "com..get"). The
	// empty URI without `match` is the prefix "" (Crossbar's permission trie falls back to it for
	// every URI). With `match`, URI is taken as written.
	Match    string
	Allow    Allow
	Disclose Disclose
	Cache    bool
}

// Allow lists the WAMP actions a permission grants.
type Allow struct{ Call, Register, Publish, Subscribe bool }

// Disclose says whether callers/publishers are disclosed to callees/subscribers.
type Disclose struct{ Caller, Publisher bool }

// Transport is one listening transport of a router worker, Crossbar's four kinds:
//   - "web": HTTP with a path table (Paths, Options);
//   - "websocket": WAMP over WebSocket at every path of the endpoint; it is decoded as a web
//     transport whose root service is a websocket service (Paths["/"]), with the default web
//     Options;
//   - "rawsocket": WAMP over RawSocket (RawSocket); no Paths;
//   - "universal": one endpoint for all three: a connection whose first octet is 0x7F speaks
//     RawSocket (RawSocket, when its `rawsocket` is set), any other speaks HTTP, served from a
//     path table made of its `web.paths` and of one websocket service per `websocket` entry.
//     Options are its `web.options`.
type Transport struct {
	Place    string // e.g. "workers[0].transports[0]"
	Type     string // "web", "websocket", "rawsocket" or "universal"
	ID       string
	Endpoint Endpoint
	// Paths is the path table: "/" is the root service, every other key is one path segment.
	Paths   map[string]*Service
	Options WebOptions
	// RawSocket is the RawSocket side of a "rawsocket" or "universal" transport (nil when a
	// universal transport has none: a RawSocket client is then disconnected).
	RawSocket *RawSocket `json:",omitempty"`
	// Origin says which other transports of the config this one serves too (nil for most).
	Origin *Origin `json:",omitempty"`
}

// Origin records how a transport came to serve what the config wrote elsewhere, for the log.
type Origin struct {
	// SharedWith are the transports of other router workers that repeat this one on its
	// "shared" port; Portico serves the port once (see Endpoint.Shared).
	SharedWith []string
	// Proxy is the Crossbar proxy worker whose transport this is, and Router the router worker
	// whose router serves it (the one its connections lead to); "" for others.
	Proxy, Router string `json:",omitempty"`
}

// RawSocket is a `rawsocket` transport, or the `rawsocket` of a `universal` one: WAMP over
// the spec's RawSocket framing (4-octet handshake, then length-prefixed messages), served by
// the worker's router like a websocket path.
type RawSocket struct {
	Place string // e.g. "workers[0].transports[1]" or "...transports[2].rawsocket"
	// Serializers restricts the serializers a client may ask for in the handshake ("json",
	// "msgpack", "cbor", "ubjson"); default all. Any other is refused with handshake error 1
	// (serializer unsupported).
	Serializers []string
	// MaxMessageSize bounds one incoming message, in bytes or "128k". The handshake announces
	// the largest power of two not above it (at least 512, the least RawSocket can say); a
	// frame over the bound closes the connection before its payload is read, and logs one
	// warning naming this key. Default 1 MiB (DefaultMaxMessageSize), as a websocket path's;
	// Crossbar's configured default is 128 kB (crossbar/router/protocol.py). Crossbar's range
	// is 1..64m; RawSocket frames carry at most 16 MiB - 1, so larger values act as that.
	MaxMessageSize int
	// Auth is Crossbar's `auth`, as on a websocket path: nil admits clients anonymously with
	// role "anonymous".
	Auth *Auth
	// Debug is Crossbar's `debug`: as a websocket path's, each connection and its WAMP
	// messages (type and size) are logged at info level.
	Debug bool
	// Options are Portico's bounds of the transport (Crossbar's rawsocket has no `options`).
	Options RawSocketOptions

	set keySet // the keys the file gave, for applyDefaults
}

// DefaultRawSocketMaxConnections bounds a RawSocket transport's connections by default: the
// bound fasthttp puts on a web transport's (max_connections 0).
const DefaultRawSocketMaxConnections = 256 * 1024

// RawSocketOptions are a RawSocket transport's `options`, all Portico's keys.
type RawSocketOptions struct {
	// MaxConnections bounds the transport's open RawSocket connections; one more is refused
	// with handshake error 4 (maximum connection count reached). Key `max_connections`;
	// default 262144 (DefaultRawSocketMaxConnections).
	MaxConnections int
	// WriteTimeout bounds one write to the client; a client that stops reading for longer is
	// disconnected. Key `write_timeout`; default 60s, as a web transport's.
	WriteTimeout time.Duration
	// OutQueueLimit bounds a session's outbound queue (messages), as a websocket path's
	// out_queue_limit. Default 1024.
	OutQueueLimit int
	// SessionLimits are the session bounds of a websocket path's options: auth_timeout
	// (which here bounds the RawSocket handshake too), max_subscriptions, max_registrations,
	// max_testaments, max_testament_bytes, max_uri_length, max_calls_in_flight; same defaults.
	SessionLimits
}

// Endpoint is where a transport listens.
type Endpoint struct {
	Type      string // "tcp" or "unix"
	Port      int    // tcp; 0 picks a free port (tests); "$PORT" reads it from the environment
	Interface string // tcp; "" listens on all interfaces
	Version   int    // tcp; 4 or 6 (default 6 when Interface is an IPv6 address, else 4)
	Backlog   int    // tcp and unix; accepted for Crossbar, the kernel default (somaxconn) applies
	Path      string // unix, absolute after resolution
	TLS       *TLS
	// PortRange is Crossbar's `portrange` [first, last] (tcp): without `port`, the transport
	// listens on the first free port of the range. Zero when not set.
	PortRange [2]int
	// Shared is Crossbar's `shared` (tcp): several router workers, each a process with its
	// own router, accept on one port (SO_REUSEPORT), so that a Crossbar node uses more than one
	// core. Portico is one process that uses every core, so it serves the port once, with the
	// first of those workers' router, and logs so. The workers sharing the port must be copies:
	// the same transport (endpoint, paths, options), the same realms and the same router
	// components; otherwise the config is refused with the key where they differ (Crossbar
	// would serve a client with one worker's realms or the other's, by chance). A copied
	// worker's other transports are served by that router too. Two transports on one port
	// are refused otherwise, shared or not.
	Shared bool
	// ProxyProtocol takes the PROXY protocol (HAProxy's, v1 text or v2 binary) on this tcp
	// endpoint (nginx `listen ... proxy_protocol` with `real_ip_header proxy_protocol`): a
	// peer in the transport's trusted_proxies (or ProxyProtocolFrom) may open its connection
	// with a PROXY header, whose source address then is the client's for everything (REMOTE_ADDR,
	// logs, per-client bounds, the WAMP session's peer). A header from another peer, or a
	// malformed one, closes the connection. Key `proxy_protocol`. Default false.
	ProxyProtocol bool
	// ProxyProtocolFrom lists the peers (IPs or CIDRs) that may send a PROXY header; key
	// `proxy_protocol_from`. Default: the transport's trusted_proxies. Needed on websocket
	// and rawsocket transports, which have no trusted_proxies.
	ProxyProtocolFrom []string
}

// TLS configures HTTPS on a tcp endpoint (Crossbar's listening endpoint `tls`). Paths are
// resolved against the node directory and must exist. TLS 1.2 is the least version served
// (Crossbar's is 1.1).
type TLS struct {
	// Key and Certificate are PEM files: the private key and the server certificate (`key`,
	// `certificate`, required unless `certificates` or `acme` is given). Certificate may hold the
	// intermediates after the server's. They are read at start and again on every reload
	// (SIGHUP), so a renewed certificate is served without a restart.
	Key         string
	Certificate string
	// ChainCertificates are PEM files of intermediate certificates sent after the server
	// certificate, in order (`chain_certificates`), as Crossbar's extraCertChain.
	ChainCertificates []string
	// Certificates are more key pairs (Portico's `certificates`: a list of objects with `key`,
	// `certificate` and optional `chain_certificates`), chosen per connection by the name the
	// client asks for (SNI) among each certificate's names. The pair of `key`/`certificate`,
	// else the first of the list, is served to clients that name none or an unknown one.
	Certificates []TLSCertificate
	// CACertificates are PEM files of the CAs that sign client certificates
	// (`ca_certificates`): when set, a client must present a certificate that one of them
	// verifies, or the handshake fails, as in Crossbar (Twisted's CertificateOptions with
	// verify and caCerts).
	CACertificates []string
	// CipherSuites are the crypto/tls names of the TLS 1.2 suites served, from Crossbar's
	// `ciphers` (an OpenSSL cipher string, evaluated over the suites Go implements; the parts
	// that select only what Go lacks, such as DHE, are named in a warning). Empty: Go's
	// defaults. Go ignores their order, and TLS 1.3's suites are not configurable.
	CipherSuites []string
	// DHParam is Crossbar's `dhparam`, the finite-field Diffie-Hellman parameters of its DHE
	// suites. Go's crypto/tls does not implement DHE, so the file is not read (a warning says
	// so); clients use ECDHE or TLS 1.3 key exchange instead.
	DHParam string
	// ACME obtains and renews certificates automatically (`acme`), served for its domains
	// beside the static ones: a name that a static certificate (`key`/`certificate`,
	// `certificates`) covers is served that certificate; the other names of Domains are
	// served the ACME ones. nil: off.
	ACME *ACME `json:",omitempty"`
}

// ACME is `tls.acme`: certificates from an ACME CA (RFC 8555), obtained in the background
// at start and renewed before they expire, with their OCSP responses stapled.
type ACME struct {
	// Domains are the DNS names certificates are obtained for (`domains`, required), one
	// certificate per name. Wildcards are refused: they need the DNS-01 challenge.
	Domains []string
	// Email is the ACME account's contact (`email`), told of expiry problems. Default none.
	Email string
	// CA is the ACME directory URL (`ca`), https. Default Let's Encrypt's production
	// directory, https://acme-v02.api.letsencrypt.org/directory.
	CA string
	// CARoot is a PEM file of the root certificates that verify the CA's own HTTPS
	// (`ca_root`), for a private ACME CA; relative to the node directory. Empty: the
	// system's roots verify it.
	CARoot string
	// Storage is the directory that keeps the account, keys and certificates (`storage`),
	// so that a restart serves the certificates it has without ordering new ones. Relative
	// to the node directory. Default <node directory>/acme.
	Storage string
	// Challenges are the ACME challenges offered (`challenges`): "http-01" (answered on the
	// node's plain HTTP web transports at /.well-known/acme-challenge/) and "tls-alpn-01"
	// (answered on this TLS endpoint). Default both.
	Challenges []string
}

// ACME challenge names (RFC 8555 section 8.3, RFC 8737).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// TLSCertificate is one entry of `tls.certificates`.
type TLSCertificate struct {
	Key, Certificate  string
	ChainCertificates []string
}

// WebOptions are a web transport's `options`: Crossbar's, plus Portico's edge limits. Zero
// durations and sizes mean "the default" documented on each field.
type WebOptions struct {
	// AccessLog logs one line per request (Crossbar `access_log`). Default false. Key
	// `access_log`: true (Portico's log line, with the rest of the log), "combined" (nginx's
	// and Apache's combined format) or "json" (one JSON object per line).
	AccessLog bool
	// AccessLogFormat is "" (the log line), "combined" or "json", from `access_log`.
	AccessLogFormat string
	// AccessLogFile is where "combined" and "json" lines go (`access_log_file`): "stdout",
	// "stderr" (default) or a file, relative to the node directory, opened for appending and
	// reopened on SIGUSR1 (after logrotate moved it). Lines are written by a background
	// writer, never on the request path; when the file cannot keep up, lines past 4 MiB of
	// backlog are dropped and counted in a warning.
	AccessLogFile string
	// RequestIDHeader is the header of the request ID (`request_id`: true for X-Request-ID,
	// false, or a header name). A request's own ID is kept (a proxy in front made it), else
	// Portico makes one (32 hex digits); the app gets it (HTTP_X_REQUEST_ID for the default
	// name) and the access log names it. Default: X-Request-ID when access_log is on, else off.
	RequestIDHeader string
	// DisplayTracebacks shows error details in 5xx pages (Crossbar `display_tracebacks`);
	// keep it off in production. Default false.
	DisplayTracebacks bool
	// HSTS sends Strict-Transport-Security on TLS transports (Crossbar `hsts`). Default false.
	HSTS bool
	// HSTSMaxAge is its max-age in seconds (Crossbar `hsts_max_age`). Default 31536000 (1 year).
	HSTSMaxAge int
	// Headers is `headers` (see Headers): applied to every response of the transport, Portico's
	// own error pages and redirects included (nginx `add_header ... always`). A path's own
	// `headers` come on top of these. Default none.
	Headers *Headers
	// ErrorPages is `error_pages`: status -> file (relative to the node directory) served as the
	// body, with the same status, of the errors Portico answers itself (404 without a service,
	// 413, 502, 503, 504 ...), and of a wsgi path's upstream errors with `intercept_errors`
	// (nginx `error_page 502 /502.html`). Each file is read at start and on reload, held in
	// memory (at most 256 KiB each), its Content-Type from its extension. A missing file is a
	// config error. Default none: a one-line text/plain body.
	ErrorPages map[int]string
	// RedirectHTTPS is `redirect_https`: true answers every request of the transport with a
	// redirect to https://host/path?query (nginx `return 301 https://$host$request_uri`); a
	// port number (8443) puts that port in the URL. GET and HEAD get 301; other methods get
	// 308 (RFC 9110 section 15.4.9), so that a POST is not turned into a GET. A Host that is not
	// an RFC 3986 host gets 400. Refused on a TLS endpoint. 0: off (default).
	RedirectHTTPS int
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
	// TrustedProxies lists peers (IPs or CIDRs) whose X-Forwarded-* headers are believed
	// (nginx set_real_ip_from). From such a peer, REMOTE_ADDR is the first address of
	// RealIPHeader, walked from the right, that is not itself trusted (nginx real_ip_recursive
	// on), and X-Forwarded-Proto: https sets HTTPS=on and REQUEST_SCHEME=https. With the
	// endpoint's proxy_protocol, they are also the peers whose PROXY protocol header is
	// believed. Default none: the TCP peer is the client.
	TrustedProxies []string
	// RealIPHeader is the header the client address is read from behind trusted_proxies (nginx
	// real_ip_header): "X-Forwarded-For" or "X-Real-IP". Key `real_ip_header`. Default
	// "X-Forwarded-For".
	RealIPHeader string
	// Compression compresses responses on the fly (nginx `gzip on`, the brotli and zstd
	// modules) and serves precompressed files beside static ones (nginx `gzip_static`). Key
	// `compression`: `true` turns on gzip, brotli and zstd with the defaults below, or an
	// object with the keys of Compression. Default off, as nginx's `gzip`.
	Compression Compression

	set keySet // the keys the file gave, for applyDefaults
}

// Compression is the transport option `compression`. The encoding is chosen by the request's
// Accept-Encoding (RFC 9110 section 12.5.3); when the client weighs several alike, zstd goes
// before br before gzip.
type Compression struct {
	// Gzip, Brotli and Zstd enable each encoding (keys `gzip`, `brotli`, `zstd`). In the
	// object form each defaults to true; set false the ones not wanted. All false: off.
	Gzip, Brotli, Zstd bool
	// MinLength: responses whose Content-Length is below it are sent as they are (nginx
	// `gzip_min_length`, default 20). Key `min_length`, bytes or "1k". Default 256
	// (DefaultCompressMinLength). A response without Content-Length (a stream) is compressed.
	MinLength int64
	// Types lists the media types compressed (nginx `gzip_types`): exact ("text/html"), a
	// subtype wildcard ("text/*"), or "*" for every type. Parameters (";charset=utf-8") are
	// ignored when matching. Default DefaultCompressTypes. text/event-stream is never
	// compressed.
	Types []string
	// Level is the effort, 1 (fastest) to 9 (smallest), on each codec's own scale: gzip's
	// level, brotli's quality (at most 6: above, an encoder takes 10 to 34 MiB), zstd's level.
	// Key `level`. Default 1 (nginx `gzip_comp_level` 1).
	Level int

	// object is set when the file gave the object form, set its keys: for applyDefaults.
	object bool
	set    keySet
}

// Enabled reports whether any encoding is on.
func (c *Compression) Enabled() bool { return c.Gzip || c.Brotli || c.Zstd }

// DefaultCompressMinLength is Compression.MinLength's default. A body this small fits in one
// TCP segment with its head either way, and gzip's 18 bytes of framing can make it larger;
// nginx's 20 bytes is too low to save anything.
const DefaultCompressMinLength = 256

// DefaultCompressTypes are the media types compressed by default: nginx's `gzip_types`
// (text/html, always) plus the text-like types web apps send. Images other than SVG, fonts in
// WOFF2, archives and video are compressed already.
var DefaultCompressTypes = []string{
	"text/html", "text/plain", "text/css", "text/javascript", "text/xml", "text/csv",
	"text/markdown", "application/javascript", "application/x-javascript", "application/json",
	"application/ld+json", "application/manifest+json", "application/problem+json",
	"application/xml", "application/rss+xml", "application/atom+xml", "application/xhtml+xml",
	"application/wasm", "image/svg+xml", "image/x-icon", "font/ttf", "font/otf",
}

// Service is one entry of a path table.
type Service struct {
	Place string // e.g. "workers[0].transports[0].paths.ws"
	// Type is one of "wsgi", "websocket", "longpoll", "static", "archive", "resource",
	// "redirect", "json", "nodeinfo" (Crossbar's node information page), "publisher",
	// "caller", "webhook" (the HTTP bridge), "metrics" (Portico's Prometheus metrics), "path"; and "websocket-testee", the root of a
	// websocket-testee worker's transport, which echoes every WebSocket message (its
	// options are in WebSocket).
	Type      string
	WSGI      *WSGI
	WebSocket *WebSocket
	LongPoll  *LongPoll
	Static    *Static
	Archive   *Archive  `json:",omitempty"`
	Resource  *Resource `json:",omitempty"`
	Redirect  *Redirect
	JSON      *JSON
	Bridge    *Bridge
	// Headers is the path's `headers` (see Headers), on top of the transport's `headers`.
	Headers *Headers
	// Paths is the nested path table of a `path` service ("/" is its own root).
	Paths map[string]*Service
	// Internal makes the service reachable only through an app's X-Accel-Redirect (nginx's
	// `internal` location): clients that ask for it get 404. Typical use: a static directory
	// of protected files that a wsgi app hands out after its own checks. Key `internal`, on
	// any service but `path`. Default false.
	Internal bool
}

// Bridge is an HTTP bridge service (Crossbar's REST bridge, crossbar/bridge/rest): `publisher`
// publishes the event of a POSTed JSON body, `caller` calls the procedure it names and answers
// the result, `webhook` publishes any POSTed body (with the request's headers) to one topic.
// Each service is a WAMP session of the worker's router, joined to Realm with Role.
type Bridge struct {
	// Realm is `realm`: the realm the service's session joins. Required; when the worker
	// configures realms, one of them.
	Realm string
	// Role is `role`: the authrole of that session, whose permissions decide what the
	// service may publish or call. Default "anonymous".
	Role string
	// Key and Secret are `options.key` and `options.secret` (publisher, caller): with a
	// secret, every request must be signed, as Crossbar's: query parameters key, timestamp
	// (UTC "2011-10-14T16:59:51.123Z"), seq and nonce (integers) and signature, the
	// URL-safe base64 (with padding) of HMAC-SHA256 over the secret of key, timestamp, seq,
	// nonce and the body, as sent, concatenated. Beyond Crossbar, a nonce is accepted once
	// within the timestamp window: a signed request cannot be replayed.
	Key    string
	Secret string
	// RequireTLS is `options.require_tls`: refuse requests that did not come over TLS (400).
	RequireTLS bool
	// RequireIP is `options.require_ip`: the networks ("10.0.0.0/8", "127.0.0.1",
	// "192.168.1.0/255.255.255.0") the client's address (the connection's peer) must be in
	// (400 otherwise). Empty: any address.
	RequireIP []netip.Prefix
	// PostBodyLimit is `options.post_body_limit`: the largest body in bytes (413 above it),
	// at most 1 MiB as in Crossbar. 0, the default, leaves the transport's max_body_size,
	// and 1 MiB when that is unlimited, as the bound.
	PostBodyLimit int
	// TimestampDeltaLimit is `options.timestamp_delta_limit`, in seconds: a request whose
	// timestamp is further than this from the clock is refused (400). 0 turns the check off
	// (a signed request's nonce is then remembered for 300 s). Default 300, at most 86400.
	TimestampDeltaLimit int
	// Debug is `options.debug`: log every request and its outcome.
	Debug bool
	// Topic is `options.topic` (webhook, required): where the webhook publishes.
	Topic string
	// SuccessResponse is `options.success_response` (webhook): the body of its 202 answer.
	// Default "OK".
	SuccessResponse string
	// ErrorResponse is `options.error_response` (webhook): the body of its 500 answer when
	// the publish fails. Default "NOT OK".
	ErrorResponse string
	// GitHubSecret is `options.github_secret` (webhook): requests must then carry GitHub's
	// `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>` (400 otherwise).
	GitHubSecret string

	set keySet // the options the file gave, for applyDefaults
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
	// Persistent (uwsgi_persistent) makes a launched uwsgi listen on a second socket in the
	// persistent uwsgi protocol, where Portico keeps up to processes*threads connections open
	// and sends bodyless GET and HEAD requests one after another. Opt-in: the measurements
	// in contrib/bench/RESULTS.md did not show a win at every point.
	Persistent bool
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
	// Vars is `vars`: uwsgi variables added to the vars block (nginx `uwsgi_param NAME VALUE`),
	// e.g. {"UWSGI_SCHEME": "https", "APP_HOST": "$host"}. Values may use $host, $remote_addr,
	// $scheme, $request_uri, $server_name and $server_port (or ${name}), expanded per request.
	// They come after the variables Portico sends; uwsgi keeps the last of a repeated name,
	// so a var named like one of them (SERVER_NAME) overrides it, as a later uwsgi_param does.
	// An HTTP_* var replaces the request header of that name, as in nginx. Default none.
	Vars []Var
	// InterceptErrors is `intercept_errors` (nginx `uwsgi_intercept_errors`): an upstream
	// response with status 400 or above for which the transport has an `error_pages` entry is
	// replaced by that page, with the same status. Default false.
	InterceptErrors bool

	// Resolved from the worker: the absolute python path, and the directory uwsgi runs in (the
	// first pythonpath entry, else the node directory's parent when it is named .crossbar,
	// else the node directory).
	PythonPath []string
	Chdir      string
	// WorkerEnv is the worker's `options.env` (which variables are inherited).
	WorkerEnv Env

	set keySet // the keys the file gave, for applyDefaults
}

// WebSocket serves the WAMP router of the worker.
type WebSocket struct {
	// Serializers restricts the offered WAMP serializers ("json", "msgpack", "cbor", "ubjson");
	// default all.
	Serializers []string
	Options     WebSocketOptions
	// Auth is the path's `auth` (Crossbar "Authentication"): the methods clients may
	// authenticate with. Nil: clients join anonymously with role "anonymous". When set, a client
	// joins only by one of its methods; anonymous clients only when Auth.Anonymous is set.
	Auth *Auth
	// Debug is Crossbar's `debug`: the path logs each of its connections, at info level (so
	// without --loglevel debug): the upgrade, every WAMP message in and out (direction, type,
	// size; never the content, which may carry tickets and application data) and the end.
	Debug bool
	// Cookie is the path's cookie tracking (`cookie`, config/cookie.go); nil when off.
	Cookie *Cookie

	set keySet // the keys the file gave, for applyDefaults
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
	// Cookie is `cookie: {}`: a client whose tracking cookie (the path's WebSocket.Cookie)
	// was authenticated earlier by another method joins again as that authid and authrole
	// (config/cookie.go).
	Cookie bool
	// Cryptosign is `cryptosign: {type: "static", principals: {...}}` (WAMP-Cryptosign): the
	// client signs a random challenge with its Ed25519 key.
	Cryptosign *CryptosignAuth
	// TLS is `tls: {type: "static", principals: {...}}` (WAMP-TLS): the client is known by
	// the certificate it presented in the TLS handshake, which the endpoint's
	// `ca_certificates` verified.
	TLS *TLSAuth
}

// TLSAuth is the `tls` method (client certificate authentication).
type TLSAuth struct {
	// Principals are the static principals by authid.
	Principals map[string]TLSPrincipal
	// DefaultRole (`default-role`) is the role of principals that name none.
	DefaultRole string
	// Dynamic, when set (`type: "dynamic"`), replaces Principals: the authenticator gets the
	// certificate in details.transport.peer_cert (and client_cert) and answers the role.
	Dynamic *Authenticator
}

// TLSPrincipal is one `principals` entry.
type TLSPrincipal struct {
	// CertificateSHA1 is the client certificate's SHA-1 fingerprint
	// (`certificate-sha1`), in hex with or without colons; kept as
	// "AA:BB:...", upper case, as OpenSSL and Crossbar write it.
	CertificateSHA1 string
	// Role is the authrole the client gets; default the method's `default-role`.
	Role string
	// Realm, when set, is the realm the client joins whatever its HELLO asked.
	Realm string
}

// Authenticator is a method's `type: "dynamic"` form: the router calls the WAMP procedure
// Procedure with (realm, authid, details), as Crossbar does, and the callee's answer (a role,
// or an object with role, realm, authid, extra and the method's keys) decides the login.
type Authenticator struct {
	// Procedure is `authenticator`, the procedure's URI. Required.
	Procedure string
	// Realm is `authenticator-realm`: the realm the procedure is registered on; default the
	// realm the client's HELLO names.
	Realm string
	// Role is `authenticator-role`: the authrole of the router's session that calls the
	// procedure; default "trusted" (Crossbar's service session).
	Role string
}

// AnonymousAuth is the `anonymous` method.
type AnonymousAuth struct {
	// Role is the authrole of anonymous clients. Default "anonymous".
	Role string
	// AuthID, when set, is the authid of every anonymous client (Crossbar's `authid`); default
	// a random one per session. Crossbar also accepts `realm` here and, for a static
	// anonymous method, ignores it (the client's HELLO realm is joined); so does Portico.
	AuthID string
	// Dynamic, when set (`type: "dynamic"`), asks the authenticator for the role (and realm,
	// authid, extra) of each anonymous client; Role is then only the default role.
	Dynamic *Authenticator
}

// TicketAuth is the `ticket` method's static principals, by authid.
type TicketAuth struct {
	Principals map[string]TicketPrincipal
	// DefaultRole (`default-role`) is the role of principals that name none.
	DefaultRole string
	// Dynamic, when set (`type: "dynamic"`), replaces Principals: the authenticator gets the
	// ticket in details["ticket"] and answers the role or raises an error.
	Dynamic *Authenticator
}

// TicketPrincipal is one `principals` entry.
type TicketPrincipal struct {
	// Ticket is the shared secret the client must send. Required. "${VAR}" or "$VAR" reads it
	// from the environment variable VAR when the config is loaded (Crossbar's maybe_from_env);
	// an unset variable is a config error.
	Ticket string
	// Role is the authrole the client gets; default the method's `default-role`. With neither,
	// the principal's logins are denied (ABORT wamp.error.no_such_role, as Crossbar's
	// PendingAuth denies "no authrole assigned") and Portico warns.
	Role string
	// Realm, when set, is the realm the client joins whatever its HELLO asked (Crossbar's
	// principal `realm`).
	Realm string
}

// WAMPCRAAuth is the `wampcra` method's static users, by authid.
type WAMPCRAAuth struct {
	Users map[string]WAMPCRAUser
	// DefaultRole (`default-role`) is the role of users that name none.
	DefaultRole string
	// Dynamic, when set (`type: "dynamic"`), replaces Users: the authenticator answers an
	// object with the user's `secret` (and `salt`, `iterations`, `keylen`), and the router
	// challenges the client with it.
	Dynamic *Authenticator
}

// WAMPCRAUser is one `users` entry.
type WAMPCRAUser struct {
	// Secret is the HMAC-SHA256 key of the signature. Required. With Salt it is, as in
	// Crossbar, the key the client derives from its password: autobahn's
	// auth.derive_key(password, salt, iterations, keylen), a base64 string.
	Secret string
	// Role is the authrole the client gets; default the method's `default-role`. One of the
	// two is required.
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

// CryptosignAuth is the `cryptosign` method (WAMP-Cryptosign, Ed25519 signatures).
type CryptosignAuth struct {
	// Principals are the static principals by authid. A client names its authid, or only its
	// public key (HELLO authextra.pubkey), which then picks the principal.
	Principals map[string]CryptosignPrincipal
	// DefaultRole (`default-role`) is the role of principals that name none.
	DefaultRole string
	// Dynamic, when set (`type: "dynamic"`), replaces Principals: the authenticator gets the
	// client's authextra (with its pubkey) and answers an object with the `pubkey` to verify
	// the signature with, and the role.
	Dynamic *Authenticator
}

// CryptosignPrincipal is one `principals` entry.
type CryptosignPrincipal struct {
	// AuthorizedKeys are the principal's Ed25519 public keys, 64 hex digits each (Crossbar's
	// `authorized_keys`). At least one.
	AuthorizedKeys []string
	// Role is the authrole the client gets; default the method's `default-role`.
	Role string
	// Realm, when set, is the realm the client joins whatever its HELLO asked.
	Realm string
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
	AllowedOrigins []string
	// AllowNullOrigin accepts the Origin "null" (a page from a file: or a sandbox). Default
	// false.
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
	// SessionLimits bound what one WAMP session of this path may hold (Portico's keys).
	SessionLimits

	set keySet // the keys the file gave, for applyDefaults
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
	// MaxCallsInFlight bounds the calls a session has made and not yet had answered. A CALL
	// above it is answered with ERROR portico.error.limit_exceeded naming the key; the
	// session stays. Without it, a caller of a callee that never answers holds router memory
	// without end. Key `max_calls_in_flight`; default 10000.
	MaxCallsInFlight int
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
	// directory. When it does not exist, Portico warns (check and start) and answers 404 at the
	// path until it appears, as Crossbar does.
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

	set keySet // the keys the file gave, for applyDefaults
}

// Archive serves the files of a ZIP archive (Crossbar's `archive` service,
// crossbar/webservice/archive.py): the request path below the mount, with ObjectPrefix before
// it, names a member of the archive.
type Archive struct {
	// File is the absolute path of the archive; `archive` is relative to the node directory.
	// When it does not exist and Download is false, Portico warns (check and start) and the
	// path answers 404, as Crossbar does.
	File string
	// Origin is the http or https URL the archive is downloaded from when File does not exist
	// and Download is true. Key `origin`.
	Origin string
	// Download fetches Origin into File at start when File does not exist. Key `download`,
	// default false.
	Download bool
	// Cache keeps the members served in memory, uncompressed, after their first request. Key
	// `cache`, default false (each request reads the member from the archive).
	Cache bool
	// DefaultObject is appended to a request path that is empty or ends in "/" (Crossbar's
	// `default_object`, e.g. "index.html"). Default none.
	DefaultObject string
	// ObjectPrefix is put before the request path to name the member ("dist" serves
	// dist/app.js at app.js). Key `object_prefix`. Default none.
	ObjectPrefix string
	// MimeTypes maps the last extension of a member's name (".woff2") to its content type, over
	// the built-in table. Key `mime_types`.
	MimeTypes map[string]string
	// Hashes are SHA-256 fingerprints (lower-case hex) of which the archive must match one; a
	// mismatch refuses the archive. Key `hashes`. Default none: any archive is served.
	Hashes []string
	// DefaultFile is served, when set, for a request that names no member (a single-page
	// app's index.html). Key `options.default_file`. Default none: 404.
	DefaultFile string
}

// Resource is Crossbar's `resource` path service (crossbar/webservice/base.py
// RouterWebServiceTwistedWeb): a Twisted Web resource class, made with `extra` and rendered
// at the path. Portico runs it in a Python process of its own (the worker's options.python,
// options.pythonpath and options.env), supervised as a container is, and passes it the
// path's requests over a private unix socket.
type Resource struct {
	// Classname is "module.Class", imported with the worker's options.pythonpath first on
	// the Python path, then the node directory. Required.
	Classname string
	// Extra is handed to the class's constructor (Crossbar's `extra`); without it the
	// constructor gets an empty object, as from Crossbar.
	Extra any
}

// Redirect answers every request with a redirect.
type Redirect struct {
	// URL is an absolute URL or an absolute path.
	URL string
	// Code is 301, 302, 303, 307 or 308. Default 302, as Crossbar's (twisted.web.util.Redirect).
	Code int
}

// LongPoll is Crossbar's `longpoll` path service: the WAMP long-poll transport (WAMP spec,
// advanced profile, "Long-Poll Transport"; crossbar/router/longpoll.py), served by the
// worker's router, for clients that cannot use WebSocket. Its `options`:
type LongPoll struct {
	// RequestTimeout: a receive request with nothing to deliver is answered 204 (empty) after
	// this, and the client polls again. Key request_timeout, whole seconds, default 10; 0
	// waits until a message comes.
	RequestTimeout time.Duration
	// SessionTimeout: a transport that saw no request for this long is closed and its session
	// ends (checked every session_timeout, so it goes between one and two of them after the
	// last request). A receive request waiting counts as a request. Key session_timeout,
	// whole seconds, default 30; 0 never.
	SessionTimeout time.Duration
	// QueueLimitBytes and QueueLimitMessages bound what waits for the client's next receive:
	// a transport whose queue would pass either is closed (its session ends, as a WebSocket
	// consumer that stopped reading). Keys queue_limit_bytes (default 131072) and
	// queue_limit_messages (default 100).
	QueueLimitBytes    int
	QueueLimitMessages int
	// DebugTransportID, when set, is the transport ID of every transport opened (Crossbar's
	// debug_transport_id): one open at a time; a new open closes the one before. Debug
	// (key debug) is accepted and ignored: Portico's log level is its own.
	DebugTransportID string

	set keySet // the keys the file gave, for applyDefaults
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
