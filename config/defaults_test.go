package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// fieldDocs maps "Type.Field" of the package's struct types to the doc comment of the field,
// or of the field group it belongs to (undocumented fields right after a documented one, as in
// "MaxFails ... Defaults 1 and 10s" over MaxFails and FailTimeout).
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			group, prevEnd := "", 0
			for _, fl := range st.Fields.List {
				doc := fl.Doc.Text() + " " + fl.Comment.Text()
				line := fset.Position(fl.Pos()).Line
				if strings.TrimSpace(doc) == "" && line == prevEnd+1 && len(fl.Names) > 0 && strings.Contains(group, fl.Names[0].Name) {
					doc = group
				}
				group, prevEnd = doc, fset.Position(fl.End()).Line
				names := fl.Names
				if len(names) == 0 { // embedded
					if id, ok := fl.Type.(*ast.Ident); ok {
						names = []*ast.Ident{id}
					}
				}
				for _, nm := range names {
					docs[ts.Name.Name+"."+nm.Name] = doc
				}
			}
			return false
		})
	}
	return docs
}

var (
	defaultWord  = regexp.MustCompile(`(?i)(?:^|(\S*)[\s(]+)defaults?\b(?: to| is)?:?\s*([^\s,;.)]*)`)
	markedAfter  = regexp.MustCompile(`(?i)([^\s(]+)\s*\((?:the |Crossbar's )?default\)`)
	zeroDefaults = map[string]bool{"false": true, "none": true, "0": true, "off": true, `""`: true, "nil": true}
	notADefault  = map[string]bool{"a": true, "the": true, "kernel": true, "go's": true, "crossbar's": true, "(crossbar's": true, "configured": true}
)

// documentedDefault reports whether doc gives a field a default, and whether that default is
// the zero value (false, none, 0, off, "").
func documentedDefault(doc string) (has, zero bool) {
	doc = strings.ReplaceAll(doc, "default-role", "")
	zero = true
	for _, m := range markedAfter.FindAllStringSubmatch(doc, -1) {
		has = true
		zero = zero && zeroDefaults[strings.Trim(m[1], "`:")]
		doc = strings.Replace(doc, m[0], "", 1)
	}
	for _, m := range defaultWord.FindAllStringSubmatch(doc, -1) {
		if notADefault[strings.ToLower(m[1])] {
			continue // "a default file", "the defaults below", "Go's defaults"
		}
		has = true
		zero = zero && zeroDefaults[strings.Trim(m[2], "`:")]
	}
	return has, has && zero
}

// notByApplyDefaults are the fields whose documented default is not a value applyDefaults
// puts in the model, and why. Every other documented default must be set there.
var notByApplyDefaults = map[string]string{
	"WorkerOptions.Python":            "looked up where the interpreter is started (gateway/workers.go defaultPython)",
	"AnonymousAuth.AuthID":            "a random authid per session, made at each login",
	"Guest.Stdin":                     "nil is Crossbar's default, an open pipe",
	"Endpoint.Backlog":                "0: the kernel's default applies",
	"TLS.CipherSuites":                "empty: Go's defaults",
	"WebSocketOptions.AllowedOrigins": "nil allows every origin",
	"Endpoint.ProxyProtocolFrom":      "nil: the transport's trusted_proxies are asked at each connection",
	"WAMPCRAUser.Salt":                "the defaults its doc names are Iterations' and KeyLen's",
	"Authenticator.Realm":             "empty: the realm of the client's HELLO, known at each login",
	"Authenticator.Role":              "empty: the router calls as \"trusted\" (router/authdynamic.go)",
}

// defaultsScenario is a node with every part that has defaults, in the state a decoder leaves
// it when the file sets nothing: fill allocates the rest.
func defaultsScenario() *Node {
	n := &Node{Dir: "/node", Workers: []Worker{
		{Type: "router", Components: []Component{{}}, Transports: []Transport{{
			Endpoint: Endpoint{Type: "tcp"},
			Options:  WebOptions{Compression: Compression{object: true}},
			Paths:    map[string]*Service{"/": {}},
		}}},
		{Type: "container", Components: []Component{{Transport: &ComponentTransport{Endpoint: ConnectEndpoint{TLS: &ConnectTLS{}}}}}},
		{Type: "guest", Guest: &Guest{Watch: &GuestWatch{}}},
	}}
	n.Workers[0].Transports[0].RawSocket = &RawSocket{Auth: &Auth{
		Ticket:     &TicketAuth{DefaultRole: "r", Principals: map[string]TicketPrincipal{"p": {}}},
		Cryptosign: &CryptosignAuth{DefaultRole: "r", Principals: map[string]CryptosignPrincipal{"p": {}}},
		TLS:        &TLSAuth{DefaultRole: "r", Principals: map[string]TLSPrincipal{"p": {}}},
		WAMPCRA:    &WAMPCRAAuth{DefaultRole: "r", Users: map[string]WAMPCRAUser{"u": {Salt: "s"}}},
	}}
	fill(reflect.ValueOf(n).Elem(), map[reflect.Type]bool{})
	return n
}

// fill allocates the nil struct pointers and gives empty lists of structs one element, under
// v, one level per type, so that every part applyDefaults visits is there; Component.Transport and
// Static.CacheTimeout are left as the scenario has them.
func fill(v reflect.Value, onPath map[reflect.Type]bool) {
	if onPath[v.Type()] {
		return
	}
	onPath[v.Type()] = true
	defer delete(onPath, v.Type())
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() || v.Type() == reflect.TypeOf(Component{}) && sf.Name == "Transport" {
			continue
		}
		switch f.Kind() {
		case reflect.Struct:
			fill(f, onPath)
		case reflect.Pointer:
			if f.Type().Elem().Kind() != reflect.Struct || onPath[f.Type().Elem()] {
				continue
			}
			if f.IsNil() {
				f.Set(reflect.New(f.Type().Elem()))
			}
			fill(f.Elem(), onPath)
		case reflect.Slice:
			if f.Len() == 0 && f.Type().Elem().Kind() == reflect.Struct && !onPath[f.Type().Elem()] {
				f.Set(reflect.Append(f, reflect.New(f.Type().Elem()).Elem()))
			}
			for j := 0; j < f.Len(); j++ {
				if f.Index(j).Kind() == reflect.Struct {
					fill(f.Index(j), onPath)
				}
			}
		case reflect.Map:
			for _, k := range f.MapKeys() {
				e := f.MapIndex(k)
				switch {
				case e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct:
					fill(e.Elem(), onPath)
				case e.Kind() == reflect.Struct:
					c := reflect.New(e.Type()).Elem()
					c.Set(e)
					fill(c, onPath)
					f.SetMapIndex(k, c)
				}
			}
		}
	}
}

// walkPair calls fn for every struct field reached under before and after (the same shape).
func walkPair(before, after reflect.Value, fn func(key string, before, after reflect.Value)) {
	switch after.Kind() {
	case reflect.Pointer:
		if before.IsNil() || after.IsNil() {
			return
		}
		walkPair(before.Elem(), after.Elem(), fn)
	case reflect.Struct:
		for i := 0; i < after.NumField(); i++ {
			sf := after.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			fn(after.Type().Name()+"."+sf.Name, before.Field(i), after.Field(i))
			walkPair(before.Field(i), after.Field(i), fn)
		}
	case reflect.Slice:
		for j := 0; j < after.Len() && j < before.Len(); j++ {
			walkPair(before.Index(j), after.Index(j), fn)
		}
	case reflect.Map:
		for _, k := range after.MapKeys() {
			if b := before.MapIndex(k); b.IsValid() {
				walkPair(b, after.MapIndex(k), fn)
			}
		}
	}
}

// TestDefaultsLiveInApplyDefaults: every field whose doc comment (the configuration reference)
// gives it a default other than its zero value is set by applyDefaults, and every field
// applyDefaults sets documents its default. A new key with a "Default X" that a decoder presets
// instead, or that nobody sets, fails here.
func TestDefaultsLiveInApplyDefaults(t *testing.T) {
	docs := fieldDocs(t)
	before, after := defaultsScenario(), defaultsScenario()
	applyDefaults(after)
	set := map[string]bool{}
	seen := map[string]bool{}
	walkPair(reflect.ValueOf(before), reflect.ValueOf(after), func(key string, b, a reflect.Value) {
		if a.Kind() == reflect.Struct && a.Type() != reflect.TypeOf(Compression{}) {
			return // its fields are checked one by one
		}
		seen[key] = true
		if b.IsZero() && !a.IsZero() {
			set[key] = true
		}
	})
	for key := range seen {
		doc, ok := docs[key]
		if !ok {
			continue
		}
		has, zero := documentedDefault(doc)
		why, exempt := notByApplyDefaults[key]
		switch {
		case set[key] && !has:
			t.Errorf("%s: applyDefaults sets it but its doc comment gives no default: document it (\"Default X\")", key)
		case set[key] && exempt:
			t.Errorf("%s: applyDefaults sets it, so it is no longer an exception (%s): remove it from notByApplyDefaults", key, why)
		case has && !zero && !set[key] && !exempt:
			t.Errorf("%s: its doc comment gives a default (%q) that applyDefaults (config/defaults.go) does not set", key, strings.TrimSpace(doc))
		}
	}
	for _, typ := range structTypes(reflect.TypeOf(Node{}), map[reflect.Type]bool{}) {
		for i := 0; i < typ.NumField(); i++ {
			if key := typ.Name() + "." + typ.Field(i).Name; typ.Field(i).IsExported() && !seen[key] && typ.Field(i).Type.Kind() != reflect.Struct {
				t.Errorf("%s is not in defaultsScenario: give it the part it belongs to, so that its defaults are checked", key)
			}
		}
	}
	for key := range notByApplyDefaults {
		if !seen[key] {
			t.Errorf("notByApplyDefaults names %s, which the model does not have", key)
		}
	}
}

// TestDefaultsIdempotent: applying the defaults twice changes nothing, so a model built in code
// can be defaulted again after a test adds a part to it.
func TestDefaultsIdempotent(t *testing.T) {
	once, twice := defaultsScenario(), defaultsScenario()
	applyDefaults(once)
	applyDefaults(twice)
	applyDefaults(twice)
	if !reflect.DeepEqual(once, twice) {
		t.Fatal("a second applyDefaults changed the model")
	}
}

// structTypes lists the struct types of the package reachable from t.
func structTypes(t reflect.Type, done map[reflect.Type]bool) []reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || done[t] || t.PkgPath() != reflect.TypeOf(Node{}).PkgPath() {
		return nil
	}
	done[t] = true
	out := []reflect.Type{t}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			out = append(out, structTypes(t.Field(i).Type, done)...)
		}
	}
	return out
}
