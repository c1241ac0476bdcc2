package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocsExample keeps docs/configuration.md honest: its complete TOML node and the Crossbar
// JSON given as its equivalent must both load and describe the same node.
func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## A complete node")
	if i < 0 {
		t.Fatal(`docs/configuration.md has no "## A complete node" section`)
	}
	section := doc[i:]
	block := func(lang string) string {
		start := strings.Index(section, "```"+lang+"\n")
		if start < 0 {
			t.Fatalf("no %s block in the complete node section", lang)
		}
		rest := section[start+len(lang)+4:]
		return rest[:strings.Index(rest, "```")]
	}
	project := t.TempDir()
	node := filepath.Join(project, ".crossbar")
	writeFile(t, filepath.Join(project, "static", "index.html"), "hi")
	writeFile(t, filepath.Join(node, "config.toml"), block("toml"))
	writeFile(t, filepath.Join(node, "config.json"), block("json"))
	tm, err := Load(node, "config.toml")
	if err != nil {
		t.Fatalf("TOML example: %v", err)
	}
	js, err := Load(node, "config.json")
	if err != nil {
		t.Fatalf("JSON example: %v", err)
	}
	tm.File, js.File = "", ""
	stripPlaces(reflect.ValueOf(tm))
	stripPlaces(reflect.ValueOf(js))
	if !reflect.DeepEqual(tm, js) {
		t.Errorf("the examples differ:\n%s", diffLines(string(dump(t, js, node)), string(dump(t, tm, node))))
	}
}

// TestDocsKeys keeps the one configuration reference, docs/configuration.md, and the decoders
// together: every key a decoder reads (found in this package's source, see decoderKeys) is
// named in the reference, and every key the reference's tables name (and the README's
// overview table) is one the decoders read or report as not supported yet.
func TestDocsKeys(t *testing.T) {
	accepted, unsup := decoderKeys(t)
	for _, m := range unsupportedAuthMethods { // recognised by name in decodeAuth
		unsup[m] = true
	}
	reference := docReference(t)
	documented := map[string]bool{}
	for _, m := range codeSpan.FindAllStringSubmatch(reference, -1) {
		for _, w := range strings.FieldsFunc(m[1], notKeyRune) {
			documented[w] = true
		}
	}
	for _, k := range sortedKeys(accepted) {
		if !documented[k] {
			t.Errorf("key %q is read by the decoder but docs/configuration.md does not name it: add its row to the reference", k)
		}
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	overview := string(b)
	if i := strings.Index(overview, "\n### The keys most nodes use\n"); i >= 0 {
		overview = overview[i:]
		if j := strings.Index(overview, "\n## "); j >= 0 {
			overview = overview[:j]
		}
	} else {
		t.Error(`README.md has no "### The keys most nodes use" overview`)
	}
	for _, src := range []struct{ name, text string }{
		{"docs/configuration.md", reference[strings.Index(reference, "\n## Reference\n"):]},
		{"README.md", overview},
	} {
		for _, l := range strings.Split(src.text, "\n") {
			if !strings.HasPrefix(l, "| ") {
				continue
			}
			first := strings.Split(l, " | ")[0]
			for _, m := range codeSpan.FindAllStringSubmatch(first, -1) {
				for _, w := range spanWords(m[1]) {
					if !accepted[w] && !unsup[w] {
						t.Errorf("%s names the key %q (%s), which the decoder does not read", src.name, w, strings.TrimSpace(first))
					}
				}
			}
		}
	}
}

// keyReaders are the calls that read a config key named by a string argument: obj's methods,
// and the decoder's helpers that take the key as their last argument.
var keyReaders = map[string]bool{
	"take": true, "has": true, "str": true, "boolean": true, "integer": true, "size": true,
	"duration": true, "strList": true, "strMap": true, "list": true, "ignore": true,
	"required": true, "secret": true, "rememberKey": true, "authEntries": true, "decodeFiles": true,
	"remove": true, // the TOML layout's tables: root.remove("router")
}

// decoderKeys finds, in the package's source, every key the decoders read (accepted) and every
// key they name as not supported yet: the string arguments of keyReaders and of unsupported,
// of closures that read a key given as their argument (headers' pairs("set")), and the strings
// of a literal list that a loop hands to one of them.
func decoderKeys(t *testing.T) (accepted, unsupportedKeys map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	accepted, unsupportedKeys = map[string]bool{}, map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		reads := func(n ast.Node) bool { // n calls a key reader with a non-literal key
			found := false
			ast.Inspect(n, func(m ast.Node) bool {
				if c, ok := m.(*ast.CallExpr); ok && calleeName(c) != "" && keyReaders[calleeName(c)] {
					found = true
				}
				return !found
			})
			return found
		}
		closures := map[string]bool{} // local funcs whose body reads keys
		ast.Inspect(af, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
				if fl, ok := as.Rhs[0].(*ast.FuncLit); ok && reads(fl.Body) {
					if id, ok := as.Lhs[0].(*ast.Ident); ok {
						closures[id.Name] = true
					}
				}
			}
			return true
		})
		ast.Inspect(af, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := calleeName(n)
				var dst map[string]bool
				switch {
				case name == "unsupported":
					dst = unsupportedKeys
				case keyReaders[name], closures[name]:
					dst = accepted
				default:
					return true
				}
				for _, a := range n.Args {
					if s, ok := stringLit(a); ok {
						dst[s] = true
					}
				}
			case *ast.RangeStmt:
				if cl, ok := n.X.(*ast.CompositeLit); ok && reads(n.Body) {
					ast.Inspect(cl, func(m ast.Node) bool {
						if s, ok := stringLit(m); ok {
							accepted[s] = true
						}
						return true
					})
				}
			}
			return true
		})
	}
	return accepted, unsupportedKeys
}

func calleeName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.Ident:
		return f.Name
	}
	return ""
}

func stringLit(n ast.Node) (string, bool) {
	if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	return "", false
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	keyWord  = regexp.MustCompile(`^[a-z$][a-z0-9_$-]*$`)
)

// docReference returns docs/configuration.md up to its complete example, without fenced
// code blocks: the prose and tables that document the keys.
func docReference(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if i := strings.Index(doc, "\n## A complete node"); i >= 0 {
		doc = doc[:i]
	}
	var out []string
	fenced := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, l)
		}
	}
	doc = strings.Join(out, "\n")
	if !strings.Contains(doc, "\n## Reference\n") {
		t.Fatal(`docs/configuration.md has no "## Reference" section`)
	}
	return doc
}

// spanWords are the key-like words of a code span in a table's key column:
// `options.max_message_size` gives options and max_message_size; placeholders (AUTHID) and
// values ("static", type: "dynamic") give none.
func spanWords(span string) []string {
	if strings.ContainsAny(span, "\":{") {
		return nil // a value or an object, not a key path
	}
	var out []string
	for _, w := range strings.FieldsFunc(span, func(r rune) bool { return r == '.' || r == ',' || r == ' ' || r == '[' || r == ']' }) {
		if keyWord.MatchString(w) {
			out = append(out, w)
		}
	}
	return out
}

// notKeyRune splits `{"directories": [...], "action": "restart"}` into its words.
func notKeyRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '$')
}
