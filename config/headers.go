package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Response headers, uwsgi variables and error pages: the everyday nginx directives add_header,
// uwsgi_hide_header, uwsgi_param, error_page and uwsgi_intercept_errors, as keys of the model.

// Headers is `headers`, on a path service or on a transport's `options`: what Portico does to
// the header of every response of that path (or transport), in this order: Remove, then Set,
// then Add.
type Headers struct {
	// Remove lists header names taken out of the response (nginx uwsgi_hide_header), e.g.
	// ["Server", "X-Powered-By"]. Removing Server also stops Portico's own "Server: Portico".
	Remove []string
	// Set replaces any header of the name with one of this value (nginx: uwsgi_hide_header and
	// add_header together), sorted by name.
	Set []Header
	// Add appends a header, whatever the response has already (nginx add_header), sorted by
	// name.
	Add []Header
}

// Header is one header name and value.
type Header struct{ Name, Value string }

// Empty reports whether h does nothing.
func (h *Headers) Empty() bool {
	return h == nil || len(h.Remove)+len(h.Set)+len(h.Add) == 0
}

// framingHeaders frame the message or the connection (RFC 9110 section 7.6.1, RFC 9112 section
// 6): Portico sets them itself, and a configured value would break the response.
var framingHeaders = []string{"connection", "content-length", "keep-alive", "proxy-connection",
	"te", "trailer", "transfer-encoding", "upgrade"}

// isToken reports whether s is an RFC 9110 section 5.6.2 token (a valid field name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue: no CR, LF, NUL or other control character but HTAB (RFC 9110 section 5.5),
// so that a value can never split the header.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func (d *decoder) headerName(line int, place, name string) bool {
	switch {
	case !isToken(name):
		d.add(line, place, "%q is not a header name (RFC 9110 token: letters, digits and !#$%%&'*+-.^_`|~)", name)
		return false
	case contains(framingHeaders, strings.ToLower(name)):
		d.add(line, place, "%s frames the message and is set by Portico alone: remove it from headers", name)
		return false
	}
	return true
}

// decodeHeaders reads `headers`: {"set": {name: value}, "add": {name: value}, "remove": [names]}.
func (d *decoder) decodeHeaders(o *obj) *Headers {
	v, p := o.take("headers")
	if v == nil || v.kind == kNull {
		return nil
	}
	x := d.object(v, p)
	h := &Headers{}
	pairs := func(key string) []Header {
		m, ok := x.strMap(key)
		if !ok {
			return nil
		}
		mv, mp := x.take(key)
		var out []Header
		for _, name := range sortedKeys(m) {
			line, np := mv.line, childPlace(mp, name)
			if e := mv.get(name); e != nil {
				line = e.line
			}
			if !d.headerName(line, np, name) {
				continue
			}
			if !validFieldValue(m[name]) {
				d.add(line, np, "the value has a control character (CR, LF, NUL ...), which would split the header")
				continue
			}
			out = append(out, Header{Name: name, Value: m[name]})
		}
		return out
	}
	h.Set = pairs("set")
	h.Add = pairs("add")
	if names, ok := x.strList("remove", true); ok {
		rv, rp := x.take("remove")
		for i, name := range names {
			if d.headerName(rv.line, indexPlace(rp, i), name) {
				h.Remove = append(h.Remove, name)
			}
		}
	}
	x.done()
	return h
}

// MergeHeaders gives a path's headers on top of its transport's: the transport's Remove, Set
// and Add, then the path's, a path's Set of a name replacing the transport's Set and Add of it.
// (nginx's add_header drops every inherited add_header once a location has one of its own, a
// well-known trap for security headers; Portico keeps them.)
func MergeHeaders(transport, path *Headers) *Headers {
	if path.Empty() {
		return transport
	}
	if transport.Empty() {
		return path
	}
	out := &Headers{Remove: slices.Concat(transport.Remove, path.Remove)}
	overridden := func(name string) bool {
		return slices.ContainsFunc(path.Set, func(h Header) bool { return strings.EqualFold(h.Name, name) })
	}
	for _, h := range transport.Set {
		if !overridden(h.Name) {
			out.Set = append(out.Set, h)
		}
	}
	out.Set = append(out.Set, path.Set...)
	for _, h := range transport.Add {
		if !overridden(h.Name) {
			out.Add = append(out.Add, h)
		}
	}
	out.Add = append(out.Add, path.Add...)
	return out
}

// Var is one `vars` entry of a wsgi path (nginx uwsgi_param NAME VALUE).
type Var struct {
	Name  string
	Value string // as configured
	// Parts is Value split into literals and placeholders, expanded per request.
	Parts []VarPart
}

// VarPart is a literal (Ref "") or one of VarRefs.
type VarPart struct{ Lit, Ref string }

// VarRefs are the placeholders a `vars` value may use, with nginx's variable names: $host
// (lower-case, without port), $remote_addr, $scheme ("http" or "https"), $request_uri (path
// and query as sent), $server_name (Portico has no server_name: the request's host, as
// SERVER_NAME), $server_port.
var VarRefs = []string{"host", "remote_addr", "scheme", "request_uri", "server_name", "server_port"}

// ParseTemplate splits a `vars` value into literals and placeholders: "$name" or "${name}"
// with a name of VarRefs. As in nginx, a "$" that starts no variable name is an error (nginx:
// "invalid variable name"), and so is an unknown name.
func ParseTemplate(s string) ([]VarPart, error) {
	var parts []VarPart
	lit := 0
	for i := 0; i < len(s); {
		if s[i] != '$' {
			i++
			continue
		}
		if i > lit {
			parts = append(parts, VarPart{Lit: s[lit:i]})
		}
		var name string
		end := i + 1
		if end < len(s) && s[end] == '{' {
			j := strings.IndexByte(s[end:], '}')
			if j < 0 {
				return nil, fmt.Errorf("\"${\" at byte %d has no closing \"}\"", i)
			}
			name, end = s[end+1:end+j], end+j+1
		} else {
			for end < len(s) && (s[end] == '_' || 'a' <= s[end] && s[end] <= 'z' || 'A' <= s[end] && s[end] <= 'Z' || '0' <= s[end] && s[end] <= '9') {
				end++
			}
			name = s[i+1 : end]
		}
		if name == "" {
			return nil, fmt.Errorf("\"$\" at byte %d starts no variable name (want one of $%s)", i, strings.Join(VarRefs, ", $"))
		}
		if !contains(VarRefs, name) {
			return nil, fmt.Errorf("unknown variable $%s (want one of $%s)", name, strings.Join(VarRefs, ", $"))
		}
		parts = append(parts, VarPart{Ref: name})
		i, lit = end, end
	}
	if lit < len(s) {
		parts = append(parts, VarPart{Lit: s[lit:]})
	}
	return parts, nil
}

// validVarName: uwsgi variables are CGI names; Portico takes letters, digits, "_", "." and "-".
func validVarName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// decodeVars reads a wsgi path's `vars`: {NAME: value}, sorted by name.
func (d *decoder) decodeVars(o *obj) []Var {
	m, ok := o.strMap("vars")
	if !ok {
		return nil
	}
	v, p := o.take("vars")
	var out []Var
	for _, name := range sortedKeys(m) {
		line, np := v.line, childPlace(p, name)
		if e := v.get(name); e != nil {
			line = e.line
		}
		if !validVarName(name) {
			d.add(line, np, "%q is not a variable name (letters, digits, \"_\", \".\", \"-\")", name)
			continue
		}
		if strings.IndexByte(m[name], 0) >= 0 {
			d.add(line, np, "the value has a NUL byte")
			continue
		}
		parts, err := ParseTemplate(m[name])
		if err != nil {
			d.add(line, np, "%v", err)
			continue
		}
		out = append(out, Var{Name: name, Value: m[name], Parts: parts})
	}
	return out
}

// MaxErrorPage bounds one error page file: pages are held in memory.
const MaxErrorPage = 256 << 10

// decodeErrorPages reads a transport's `error_pages`: {"502": "errors/502.html"}, files
// relative to the node directory, each a regular file of at most MaxErrorPage bytes.
func (d *decoder) decodeErrorPages(o *obj, dir string) map[int]string {
	m, ok := o.strMap("error_pages")
	if !ok {
		return nil
	}
	v, p := o.take("error_pages")
	out := map[int]string{}
	for _, k := range sortedKeys(m) {
		line, kp := v.line, childPlace(p, k)
		if e := v.get(k); e != nil {
			line = e.line
		}
		code, err := strconv.Atoi(k)
		if err != nil || code < 400 || code > 599 {
			d.add(line, kp, "%q is not an error status (400 to 599)", k)
			continue
		}
		file := abs(dir, m[k])
		fi, err := os.Stat(file)
		switch {
		case err != nil:
			d.add(line, kp, "%s", statMsg(err, file))
			continue
		case !fi.Mode().IsRegular():
			d.add(line, kp, "%s is not a regular file", file)
			continue
		case fi.Size() > MaxErrorPage:
			d.add(line, kp, "%s is %d bytes, above the %d an error page may have (pages are held in memory)", file, fi.Size(), MaxErrorPage)
			continue
		}
		out[code] = filepath.Clean(file)
	}
	return out
}
