package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzFront feeds arbitrary bytes to one front door and checks that it never panics, that a
// success yields a node, and that every problem carries its file and a place (a line within
// the input, or a key path).
func fuzzFront(f *testing.F, format string, exts ...string) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		for _, ext := range exts {
			files, _ := filepath.Glob(filepath.Join(dir, "*."+ext))
			for _, p := range files {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(b)
				}
			}
		}
	}
	dir, err := filepath.Abs("testdata/valid")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parse(data, format, dir, "f")
		if err == nil {
			if n == nil {
				t.Fatal("no node and no error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error is not Problems: %v", err)
		}
		// YAML also breaks lines at a lone CR (YAML 1.2 §5.4), so allow for either count.
		lines := max(bytes.Count(data, []byte("\n")), bytes.Count(data, []byte("\r"))) + 1
		for _, p := range ps {
			if p.File != "f" {
				t.Fatalf("problem without the file: %s", p)
			}
			if p.Line == 0 && p.Path == "" {
				t.Fatalf("problem without a place: %s", p)
			}
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("line %d outside the %d-line input: %s", p.Line, lines, p)
			}
		}
	})
}

func FuzzJSON(f *testing.F) { fuzzFront(f, "json", "json") }
func FuzzYAML(f *testing.F) { fuzzFront(f, "yaml", "yaml", "json") } // JSON is YAML too
func FuzzTOML(f *testing.F) { fuzzFront(f, "toml", "toml") }
