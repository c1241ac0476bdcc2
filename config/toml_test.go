package config

import (
	"errors"
	"strings"
	"testing"
)

// TestTOMLLines checks that problems in TOML point at the right line even when key names also
// appear in comments, in value strings and in multi-line strings before the key itself.
func TestTOMLLines(t *testing.T) {
	src := `# type = "wsgi" in a comment, and colour = 1
[router]
title = """
colour = 2
[[transport]]
"""
pythonpath = ["colour", 'transport']

[[transport]]
endpoint = { type = "tcp", port = 8081, colour = "red" }
paths."/" = { type = "json", value = "colour = 3" }

[[transport]]
endpoint.type = "tcp"
endpoint.port = 8082
endpoint.colour = "blue"   # colour = 4

  [transport.paths."/"]
  type = "json"
  value = { colour = 5 }
  colour = 6

  [transport.paths.'a b']
  type = "json"
  value = 1

  [transport.paths.nested]
  type = "path"
  paths.x = { type = "json", value = 1, colour = 7 }
`
	want := []string{
		`f:10: transport[0].endpoint: unknown attribute "colour"`,
		`f:16: transport[1].endpoint: unknown attribute "colour"`,
		`f:21: transport[1].paths./: unknown attribute "colour"`,
		`f:29: transport[1].paths.nested.paths.x: unknown attribute "colour"`,
	}
	_, err := parse([]byte(src), "toml", t.TempDir(), "f")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("parse = %v, want Problems", err)
	}
	if got := ps.Error(); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestMaskTOML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a = "x" # c`, `a = " "    `},
		{`"k" = 'v'`, `"k" = ' '`},
		{`[t."q.r"]`, `[t."q.r"]`},
		{"m = \"\"\"\nx = 1\n\"\"\"", "m = \"  \n     \n  \""}, // all but the outer quotes
		{`e = { "k" = "v", l = ["s", { "n" = "o" }] }`, `e = { "k" = " ", l = [" ", { "n" = " " }] }`},
		{`s = "a\"b"`, `s = "    "`},
	}
	for _, tt := range tests {
		if got := string(maskTOML([]byte(tt.in))); got != tt.want {
			t.Errorf("maskTOML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
