package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// dump renders the model as indented JSON for golden files: durations as "1m0s" strings,
// absolute paths of the test node directory as $NODE, so that the files read well and do not
// depend on where the repository is.
func dump(t *testing.T, n *Node, dir string) []byte {
	t.Helper()
	b, err := json.MarshalIndent(plain(reflect.ValueOf(n)), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), dir, "$NODE")
	s = strings.ReplaceAll(s, filepath.Dir(dir), "$NODE/..")
	return []byte(s + "\n")
}

var durationType = reflect.TypeOf(time.Duration(0))

func plain(v reflect.Value) any {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok && v.Kind() == reflect.Struct {
		b, _ := tm.MarshalText() // netip.Prefix
		return string(b)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				continue // decoding bookkeeping, not configuration
			}
			if f := v.Field(i); strings.Contains(v.Type().Field(i).Tag.Get("json"), "omitempty") && f.Kind() == reflect.Pointer && f.IsNil() {
				continue // a part only some transports have
			}
			m[v.Type().Field(i).Name] = plain(v.Field(i))
		}
		return m
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = plain(v.MapIndex(k)) // error_pages has int keys
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i] = plain(v.Index(i))
		}
		return l
	}
	return v.Interface()
}

func testFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.json", "*.yaml", "*.toml"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".golden.json") && !strings.HasSuffix(f, ".want") {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no test files in %s", dir)
	}
	return files
}

// TestGoldenValid loads every node under testdata/valid and compares the model with
// NAME.EXT.golden.json (go test -run Golden -update rewrites them).
func TestGoldenValid(t *testing.T) {
	goldenEnv(t)
	dir, err := filepath.Abs("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range testFiles(t, dir) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			n, err := Load(dir, name)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := dump(t, n, dir)
			golden := f + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("model differs from %s (run with -update after checking):\n%s", golden, diffLines(string(want), string(got)))
			}
		})
	}
}

// goldenEnv sets the environment variables the golden configs read (env.json), and unsets
// the one they expect to be missing.
func goldenEnv(t *testing.T) {
	t.Setenv("PORTICO_GOLDEN_PORT", "8090")
	t.Setenv("PORTICO_GOLDEN_TICKET", "ticket-from-env")
	t.Setenv("PORTICO_GOLDEN_SECRET", "secret-from-env")
	t.Setenv("PORTICO_GOLDEN_EMPTY", "")
	t.Setenv("PORTICO_GOLDEN_UNSET", "")
	os.Unsetenv("PORTICO_GOLDEN_UNSET")
}

// diffLines shows the first differing lines, enough to see what changed.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + c + "\n")
			shown++
		}
	}
	return b.String()
}

// TestSameNodeThreeWays checks that full.json, its YAML twin and the TOML node decode to the
// same model, apart from the file name and (for TOML) the key paths, which follow each file.
func TestSameNodeThreeWays(t *testing.T) {
	dir, err := filepath.Abs("testdata/valid")
	if err != nil {
		t.Fatal(err)
	}
	load := func(name string) *Node {
		n, err := Load(dir, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n.File = ""
		return n
	}
	j, y, tm := load("full.json"), load("full.yaml"), load("node.toml")
	if !reflect.DeepEqual(j, y) {
		t.Errorf("full.yaml differs from full.json:\n%s", diffLines(string(dump(t, j, dir)), string(dump(t, y, dir))))
	}
	// The TOML writes no null, so the JSON's list [1, "two", null] is [1, "two"] there.
	j.Workers[0].Transports[0].Paths["info"].JSON.Value.(map[string]any)["list"] = []any{int64(1), "two"}
	stripPlaces(reflect.ValueOf(j))
	stripPlaces(reflect.ValueOf(tm))
	if !reflect.DeepEqual(j, tm) {
		t.Errorf("node.toml differs from full.json:\n%s", diffLines(string(dump(t, j, dir)), string(dump(t, tm, dir))))
	}
}

// stripPlaces clears every Place field, which differs by design between layouts.
func stripPlaces(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			stripPlaces(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Name == "Place" {
				v.Field(i).SetString("")
				continue
			}
			stripPlaces(v.Field(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			stripPlaces(v.MapIndex(k))
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stripPlaces(v.Index(i))
		}
	}
}
