package config

import (
	"os"
	"path/filepath"
	"reflect"
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
