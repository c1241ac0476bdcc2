package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenInvalid loads every node under testdata/invalid and compares the problems, one per
// line, with NAME.EXT.want (go test -run Golden -update rewrites them).
func TestGoldenInvalid(t *testing.T) {
	goldenEnv(t)
	dir, err := filepath.Abs("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range testFiles(t, dir) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := Load(dir, name)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %v, want Problems", err)
			}
			for _, p := range ps {
				if p.File != name {
					t.Errorf("problem names file %q, want %q: %s", p.File, name, p)
				}
				if p.Line == 0 && p.Path == "" {
					t.Errorf("problem without a place: %s", p)
				}
			}
			got := strings.ReplaceAll(ps.Error(), dir, "$NODE") + "\n"
			want := f + ".want"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(b) {
				t.Errorf("problems differ from %s:\n%s", want, diffLines(string(b), got))
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "config.json", Line: 14, Path: "workers[0].transports[0].paths.ws", Msg: `unknown attribute "tpye"`},
			`config.json:14: workers[0].transports[0].paths.ws: unknown attribute "tpye"`},
		{Problem{File: "config.json", Path: "workers[0]", Msg: "m"}, "config.json: workers[0]: m"},
		{Problem{File: "config.toml", Line: 3, Msg: "m"}, "config.toml:3: m"},
		{Problem{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	ps := Problems{tests[0].p, tests[2].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[2].want; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
