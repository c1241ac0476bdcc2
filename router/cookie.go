package router

import (
	"crypto/rand"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"portico/config"
	"portico/router/wamp"
)

// Cookie tracking and WAMP cookie authentication (Crossbar's crossbar/router/cookiestore.py
// CookieStoreMemoryBacked, the cookie handling of crossbar/router/protocol.py and
// session.py): a websocket path with `cookie` gives each connection a tracking cookie
// (the gateway sets it on the opening handshake). When a session of the connection joins by
// another method, the cookie remembers who it is; a later connection that brings the cookie
// and offers the `cookie` authmethod joins as that authid and authrole, with the original
// authmethod and authprovider "cookie", as in Crossbar. A GOODBYE with wamp.close.logout
// forgets the cookie's authentication.

// maxCookies bounds a store: past it, expired cookies are dropped, then the oldest one.
const maxCookies = 100_000

// CookieStore is the cookie store of one websocket path: in memory, and with a file store
// (cookiefile.go) its authenticated cookies also in a file. Safe for concurrent use.
type CookieStore struct {
	cfg config.Cookie
	now func() time.Time

	mu      sync.Mutex
	cookies map[string]*cookieEntry
	file    *os.File // the file store's file, appended to under mu; nil in memory
	log     *slog.Logger
}

// cookieEntry is one cookie: when it was made and, once a session authenticated on it, as
// whom.
type cookieEntry struct {
	created                             time.Time
	authid, authrole, authmethod, realm string
	authenticated                       bool
}

// NewCookieStore returns the store for the path's cookie config: empty, or with a file store
// the cookies of its file. now is the clock (nil: time.Now). Close it when the path goes.
func NewCookieStore(c config.Cookie, now func() time.Time, log *slog.Logger) (*CookieStore, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	cs := &CookieStore{cfg: c, now: now, cookies: make(map[string]*cookieEntry), log: log}
	if c.Store == "file" {
		if err := cs.openFile(); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// Name is the cookie's name.
func (cs *CookieStore) Name() string { return cs.cfg.Name }

// Track returns the ID of the cookie a connection brings (value, "" when none) when the store
// knows it and it has not expired; else it makes a new cookie and returns its ID with the
// Set-Cookie header value to send on the handshake.
func (cs *CookieStore) Track(value string) (id, setCookie string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	if e, ok := cs.cookies[value]; ok && value != "" {
		if now.Sub(e.created) < cs.cfg.MaxAge {
			return value, ""
		}
		delete(cs.cookies, value)
	}
	if len(cs.cookies) >= maxCookies {
		cs.evictLocked(now)
	}
	id = newCookieID(cs.cfg.Length)
	cs.cookies[id] = &cookieEntry{created: now}
	// Crossbar's form: name=value;max-age=N (no Secure by default: it would refer to the
	// page's scheme, not the WebSocket's).
	setCookie = cs.cfg.Name + "=" + id + ";max-age=" + strconv.FormatInt(int64(cs.cfg.MaxAge/time.Second), 10)
	if cs.cfg.Secure {
		setCookie += ";Secure"
	}
	if cs.cfg.HTTPStrict {
		setCookie += ";HttpOnly"
	}
	if cs.cfg.SameSite != "" {
		setCookie += ";SameSite=" + cs.cfg.SameSite
	}
	return id, setCookie
}

// evictLocked drops the expired cookies, and the oldest when none is.
func (cs *CookieStore) evictLocked(now time.Time) {
	var oldest string
	var at time.Time
	for id, e := range cs.cookies {
		if now.Sub(e.created) >= cs.cfg.MaxAge {
			delete(cs.cookies, id)
			continue
		}
		if oldest == "" || e.created.Before(at) {
			oldest, at = id, e.created
		}
	}
	if len(cs.cookies) >= maxCookies {
		delete(cs.cookies, oldest)
	}
}

// cookieIDChars are the characters of a cookie ID (autobahn's util.newid alphabet).
const cookieIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newCookieID returns n random characters of cookieIDChars, uniformly (62 does not divide
// 256: bytes past the last multiple are drawn again).
func newCookieID(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4*62
				out = append(out, cookieIDChars[int(b)%len(cookieIDChars)])
			}
		}
	}
	return string(out)
}

// auth returns the authentication the cookie remembers.
func (cs *CookieStore) auth(id string) (cookieEntry, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	e, ok := cs.cookies[id]
	if !ok || !e.authenticated || cs.now().Sub(e.created) >= cs.cfg.MaxAge {
		return cookieEntry{}, false
	}
	return *e, true
}

func (cs *CookieStore) setAuth(id string, authid, authrole, authmethod, realm string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.cookies[id]; ok {
		if e.authenticated && e.authid == authid && e.authrole == authrole && e.authmethod == authmethod && e.realm == realm {
			return
		}
		e.authid, e.authrole, e.authmethod, e.realm, e.authenticated = authid, authrole, authmethod, realm, true
		cs.persistLocked(id, e)
	}
}

func (cs *CookieStore) delAuth(id string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.cookies[id]; ok && e.authenticated {
		*e = cookieEntry{created: e.created}
		cs.persistLocked(id, e)
	}
}

// CookieTrack is a connection's tracking cookie (PeerInfo.Cookie).
type CookieTrack struct {
	Store *CookieStore
	ID    string
}

// cookieAuth joins the session by its cookie's remembered authentication (the `cookie`
// authmethod); ok is false when the cookie has none, and the next method is tried.
func (s *session) cookieAuth() (ok bool, err error) {
	c := s.info.Cookie
	if c == nil {
		return false, nil
	}
	e, found := c.Store.auth(c.ID)
	if !found {
		return false, nil
	}
	s.log.Info("router: client authenticated by its cookie", "authid", e.authid, "authrole", e.authrole,
		"authmethod", e.authmethod, "realm", e.realm, "peer", s.info.RemoteAddr)
	return true, s.join(wamp.URI(e.realm), e.authrole, e.authid, e.authmethod, "cookie")
}

// cookieJoined remembers, on the connection's cookie, the authentication of a session that
// joined by another method than the cookie (Crossbar's RouterSession.onJoin).
func (s *session) cookieJoined() {
	if c := s.info.Cookie; c != nil && s.authprovider != "cookie" {
		c.Store.setAuth(c.ID, s.authid, s.authrole, s.authmethod, string(s.realm.name))
	}
}

// cookieLogout forgets the cookie's authentication when the client leaves with
// wamp.close.logout (Crossbar's RouterSession.onLeave).
func (s *session) cookieLogout(reason wamp.URI) {
	if c := s.info.Cookie; c != nil && reason == "wamp.close.logout" {
		c.Store.delAuth(c.ID)
	}
}
