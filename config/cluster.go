package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is the node-level `cluster` section: this node's realms are shared with the other
// Portico nodes of the same cluster name over NATS (router/cluster). Nil without the section:
// then nothing of it runs.
type Cluster struct {
	// Name names the cluster; nodes of one name share their realms. Required. It is a NATS
	// subject token: letters, digits, '-' and '_'.
	Name string
	// Node names this node in the cluster; unique among the nodes. Default the host name and
	// the process ID ("web1-4242"), with characters other than letters, digits, '-' and '_'
	// made '_'.
	Node string
	// SubjectPrefix is the first token of every NATS subject the cluster uses, so that several
	// clusters (or other users) share one NATS. Default "portico".
	SubjectPrefix string
	// NodeTimeout is how long a node may stay silent (no heartbeat) before the others drop
	// its registrations and fail the calls in flight to it. Heartbeats go every quarter of it.
	// It also bounds a meta API call's wait for the other nodes' parts. Default 3s.
	NodeTimeout time.Duration
	NATS        ClusterNATS
}

// ClusterNATS is `cluster.nats`: where the NATS the nodes talk over is, and how to log in.
type ClusterNATS struct {
	// URLs are `url` split at commas ("nats://10.0.0.5:4222,nats://10.0.0.6:4222"). Default
	// with Embedded: the embedded server's listen address.
	URLs []string
	// Embedded runs a NATS server inside this node; nil runs none.
	Embedded *ClusterEmbedded
	// Token, User and Password, Credentials (a .creds file), NKeySeed (a file holding an
	// NKey seed): how the node logs in to NATS; at most one kind. Files are resolved against
	// the node directory.
	Token, User, Password string
	Credentials, NKeySeed string
	// TLS for the NATS connection: CA certificates to verify the server with, and a client
	// certificate and key; nil for plain TCP (or the system roots for tls:// URLs).
	TLS *ClusterTLS
}

// ClusterEmbedded is `cluster.nats.embedded`: a NATS server this node runs.
type ClusterEmbedded struct {
	// Listen is the client address ("127.0.0.1:4222"). Required.
	Listen string
	// ClusterListen is the address other NATS servers route to ("0.0.0.0:6222"); "" runs no
	// NATS cluster port.
	ClusterListen string
	// Routes are the other NATS servers' cluster URLs ("nats://10.0.0.6:6222").
	Routes []string
	// StoreDir is where the embedded server's JetStream keeps its data (the cluster's
	// retained events). Default <node directory>/nats.
	StoreDir string
}

// ClusterTLS is `cluster.nats.tls`.
type ClusterTLS struct {
	CACertificates []string
	Certificate    string
	Key            string
}

// DefaultClusterNodeTimeout is cluster.node_timeout's default.
const DefaultClusterNodeTimeout = 3 * time.Second

// SubjectToken reports whether s may stand as one NATS subject token.
func SubjectToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DefaultNodeName is cluster.node's default: host name and process ID, as a subject token.
func DefaultNodeName() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "node"
	}
	b := []byte(fmt.Sprintf("%s-%d", h, os.Getpid()))
	for i, c := range b {
		if !SubjectToken(string(c)) {
			b[i] = '_'
		}
	}
	return string(b)
}

// decodeCluster reads the node's `cluster` section.
func (d *decoder) decodeCluster(v *value, place string) *Cluster {
	c := &Cluster{}
	o := d.object(v, place)
	token := func(key string, dst *string) {
		s, ok := o.str(key)
		if !ok {
			return
		}
		if !SubjectToken(s) {
			d.add(o.v.get(key).line, childPlace(place, key), "%q is not a NATS subject token (letters, digits, '-' and '_')", s)
			return
		}
		*dst = s
	}
	token("name", &c.Name)
	if !o.has("name") {
		d.add(o.line(), place, "missing \"name\" (the cluster's name, shared by its nodes)")
	}
	token("node", &c.Node)
	token("subject_prefix", &c.SubjectPrefix)
	if o.duration("node_timeout", &c.NodeTimeout) && c.NodeTimeout < 100*time.Millisecond {
		d.add(o.v.get("node_timeout").line, childPlace(place, "node_timeout"), "%s is below 100ms", c.NodeTimeout)
	}
	nv, np := o.take("nats")
	if nv == nil || nv.kind == kNull {
		d.add(o.line(), place, "missing \"nats\" (a NATS url, or an embedded NATS server)")
		o.done()
		return c
	}
	n := d.object(nv, np)
	if u, ok := n.str("url"); ok {
		for _, x := range strings.Split(u, ",") {
			if x = strings.TrimSpace(x); x != "" {
				c.NATS.URLs = append(c.NATS.URLs, x)
			}
		}
	}
	if ev, ep := n.take("embedded"); ev != nil && ev.kind != kNull {
		e := d.object(ev, ep)
		c.NATS.Embedded = &ClusterEmbedded{}
		c.NATS.Embedded.Listen, _ = e.str("listen")
		if c.NATS.Embedded.Listen == "" {
			d.add(e.line(), ep, "missing \"listen\" (the embedded NATS server's client address, e.g. \"127.0.0.1:4222\")")
		}
		c.NATS.Embedded.ClusterListen, _ = e.str("cluster_listen")
		c.NATS.Embedded.Routes, _ = e.strList("routes", true)
		if s, ok := e.str("store_dir"); ok {
			c.NATS.Embedded.StoreDir = abs(d.cbdir, s)
		}
		e.done()
	}
	if len(c.NATS.URLs) == 0 && c.NATS.Embedded == nil {
		d.add(n.line(), np, "missing \"url\" or \"embedded\": say where the NATS server is, or run one embedded")
	}
	c.NATS.Token, _ = n.str("token")
	c.NATS.User, _ = n.str("user")
	c.NATS.Password, _ = n.str("password")
	if s, ok := n.str("credentials"); ok {
		c.NATS.Credentials = abs(d.cbdir, s)
	}
	seed, ok := n.str("nkey_seed")
	if s, ok2 := n.str("nkey"); ok2 {
		if ok {
			d.add(n.line(), np, "\"nkey\" and \"nkey_seed\" name the same file: give one")
		}
		seed, ok = s, true
	}
	if ok {
		c.NATS.NKeySeed = abs(d.cbdir, seed)
	}
	kinds := 0
	for _, set := range []bool{c.NATS.Token != "", c.NATS.User != "" || c.NATS.Password != "", c.NATS.Credentials != "", c.NATS.NKeySeed != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		d.add(n.line(), np, "give one way to log in to NATS: token, user and password, credentials or nkey_seed")
	}
	if tv, tp := n.take("tls"); tv != nil && tv.kind != kNull {
		t := d.object(tv, tp)
		c.NATS.TLS = &ClusterTLS{}
		cas, _ := t.strList("ca_certificates", true)
		for _, ca := range cas {
			c.NATS.TLS.CACertificates = append(c.NATS.TLS.CACertificates, abs(d.cbdir, ca))
		}
		if s, ok := t.str("certificate"); ok {
			c.NATS.TLS.Certificate = abs(d.cbdir, s)
		}
		if s, ok := t.str("key"); ok {
			c.NATS.TLS.Key = abs(d.cbdir, s)
		}
		if (c.NATS.TLS.Certificate == "") != (c.NATS.TLS.Key == "") {
			d.add(t.line(), tp, "\"certificate\" and \"key\" go together")
		}
		t.done()
	}
	n.done()
	o.done()
	return c
}

// defaultCluster fills in the cluster section's defaults; dir is the node directory.
func defaultCluster(c *Cluster, dir string) {
	if c == nil {
		return
	}
	if c.Node == "" {
		c.Node = DefaultNodeName()
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "portico"
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = DefaultClusterNodeTimeout
	}
	if e := c.NATS.Embedded; e != nil && len(c.NATS.URLs) == 0 {
		c.NATS.URLs = []string{"nats://" + e.Listen}
	}
	if e := c.NATS.Embedded; e != nil && e.StoreDir == "" {
		e.StoreDir = filepath.Join(dir, "nats")
	}
}
