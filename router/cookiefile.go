package router

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// The file cookie store (a websocket path's cookie `store: {type: "file", filename,
// purge_on_startup}`, Crossbar's CookieStoreFileBacked): an append-only file of JSON records,
// one a line; at start the last record of each cookie wins. Unlike Crossbar, which appends a
// record (and fsyncs) for every new cookie, that is for every connection that brings none,
// only authentications are written: a cookie nobody authenticated on is worth nothing after a
// restart, and the file then grows with logins, not with connections. At start the file is
// rewritten with the live records only, so that it does not grow for ever either.

// cookieRecord is one line of the file, with Crossbar's keys.
type cookieRecord struct {
	ID         string  `json:"cbtid"`
	Status     string  `json:"status"` // "modified" (authenticated) or "deleted" (logged out)
	Created    string  `json:"created"`
	MaxAge     int64   `json:"max_age"`
	AuthID     *string `json:"authid"`
	AuthRole   *string `json:"authrole"`
	AuthMethod *string `json:"authmethod"`
	AuthRealm  *string `json:"authrealm"`
}

const cookieTimeFormat = "2006-01-02T15:04:05.000Z" // autobahn util.utcnow

// openFile loads the file store (empty with purge_on_startup), rewrites it with its live
// records and opens it for appending.
func (cs *CookieStore) openFile() error {
	name := cs.cfg.File
	if !cs.cfg.PurgeOnStartup {
		if err := cs.load(name); err != nil {
			return err
		}
	}
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cookie store: %w", err)
	}
	w := bufio.NewWriter(f)
	for id, e := range cs.cookies {
		b, _ := json.Marshal(record(id, e, cs.cfg.MaxAge))
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cookie store: writing %s: %w", name, err)
	}
	cs.file, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cookie store: %w", err)
	}
	return nil
}

// load reads the records of the file; a missing file is an empty store, a line that is not
// a record is skipped with a warning (a write cut short by a crash).
func (cs *CookieStore) load(name string) error {
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cookie store: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	now := cs.now()
	line := 0
	for sc.Scan() {
		line++
		var r cookieRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" {
			cs.log.Warn("cookie store: skipping a line that is not a cookie record", "file", name, "line", line)
			continue
		}
		created, err := time.Parse(time.RFC3339Nano, r.Created)
		if err != nil || r.Status == "deleted" || now.Sub(created) >= cs.cfg.MaxAge {
			delete(cs.cookies, r.ID)
			continue
		}
		e := &cookieEntry{created: created}
		if r.AuthID != nil && r.AuthRole != nil && r.AuthMethod != nil && r.AuthRealm != nil {
			e.authid, e.authrole, e.authmethod, e.realm, e.authenticated = *r.AuthID, *r.AuthRole, *r.AuthMethod, *r.AuthRealm, true
		}
		if !e.authenticated {
			delete(cs.cookies, r.ID)
			continue
		}
		cs.cookies[r.ID] = e
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cookie store: reading %s: %w", name, err)
	}
	return nil
}

func record(id string, e *cookieEntry, maxAge time.Duration) cookieRecord {
	r := cookieRecord{ID: id, Status: "deleted", Created: e.created.UTC().Format(cookieTimeFormat), MaxAge: int64(maxAge / time.Second)}
	if e.authenticated {
		r.Status = "modified"
		r.AuthID, r.AuthRole, r.AuthMethod, r.AuthRealm = &e.authid, &e.authrole, &e.authmethod, &e.realm
	}
	return r
}

// persistLocked appends the cookie's record to the file store (under cs.mu).
func (cs *CookieStore) persistLocked(id string, e *cookieEntry) {
	if cs.file == nil {
		return
	}
	b, _ := json.Marshal(record(id, e, cs.cfg.MaxAge))
	if _, err := cs.file.Write(append(b, '\n')); err != nil {
		cs.log.Error("cookie store: cannot write", "file", cs.cfg.File, "err", err)
	}
}

// Close closes the file store's file.
func (cs *CookieStore) Close() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.file == nil {
		return nil
	}
	err := cs.file.Close()
	cs.file = nil
	return err
}
