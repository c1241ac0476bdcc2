package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocate(t *testing.T) {
	root := t.TempDir()
	node := filepath.Join(root, "node")
	cb := filepath.Join(root, ".crossbar")
	env := filepath.Join(root, "envdir")
	writeFile(t, filepath.Join(node, "config.json"), "{}")
	writeFile(t, filepath.Join(node, "config.yaml"), "")
	writeFile(t, filepath.Join(node, "config.toml"), "")
	writeFile(t, filepath.Join(cb, "config.json"), "{}")
	writeFile(t, filepath.Join(env, "config.yaml"), "")
	writeFile(t, filepath.Join(root, "elsewhere", "portico.toml"), "")
	writeFile(t, filepath.Join(root, "plain", "config.json"), "{}")
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		cwd           string
		env           string
		cbdir, config string
		dir, file     string // relative to root
		err           string
	}{
		{name: "cbdir wins, toml first", cwd: root, env: env, cbdir: node, dir: "node", file: "node/config.toml"},
		{name: "env over .crossbar", cwd: root, env: env, dir: "envdir", file: "envdir/config.yaml"},
		{name: ".crossbar when present", cwd: root, dir: ".crossbar", file: ".crossbar/config.json"},
		{name: "else the current directory", cwd: filepath.Join(root, "plain"), dir: "plain", file: "plain/config.json"},
		{name: "config relative to the node dir", cwd: root, cbdir: node, config: "config.json", dir: "node", file: "node/config.json"},
		{name: "absolute config anywhere", cwd: root, cbdir: node, config: filepath.Join(root, "elsewhere", "portico.toml"), dir: "node", file: "elsewhere/portico.toml"},
		{name: "relative cbdir", cwd: root, cbdir: "node", dir: "node", file: "node/config.toml"},
		{name: "nothing to read", cwd: root, cbdir: "empty", err: "no config.toml, config.yaml, config.json in"},
		{name: "missing config file", cwd: root, cbdir: node, config: "nope.json", err: "nope.json"},
		{name: "missing node dir", cwd: root, cbdir: "nodir", err: "node directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.cwd)
			t.Setenv("PORTICO_DIR", tt.env)
			dir, file, err := Locate(tt.cbdir, tt.config)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tt.dir); dir != want {
				t.Errorf("dir = %s, want %s", dir, want)
			}
			if want := filepath.Join(root, tt.file); file != want {
				t.Errorf("file = %s, want %s", file, want)
			}
		})
	}
}

// TestInitFilesLoad checks that what `portico init` writes loads cleanly in both formats and
// describes the same node.
func TestInitFilesLoad(t *testing.T) {
	var got [2]*Node
	for i, toml := range []bool{false, true} {
		dir := t.TempDir()
		for p, c := range InitFiles(toml) {
			writeFile(t, filepath.Join(dir, p), string(c))
		}
		t.Chdir(dir)
		t.Setenv("PORTICO_DIR", "")
		d, f, err := Locate("", "")
		if err != nil {
			t.Fatal(err)
		}
		n, err := Load(d, f)
		if err != nil {
			t.Fatalf("toml=%v: %v", toml, err)
		}
		w := n.Workers[0].Transports[0].Paths["/"].WSGI
		if w == nil || w.Module != "myapp" || w.Object != "app" || w.Chdir != dir || len(w.PythonPath) != 1 || w.PythonPath[0] != dir {
			t.Fatalf("toml=%v: wsgi = %+v", toml, w)
		}
		if n.Workers[0].Transports[0].Paths["ws"].Type != "websocket" || n.Workers[0].Transports[0].Endpoint.Port != 8080 {
			t.Fatalf("toml=%v: transport = %+v", toml, n.Workers[0].Transports[0])
		}
		got[i] = n
	}
	if a, b := len(got[0].Workers[0].Realms[0].Roles[0].Permissions), len(got[1].Workers[0].Realms[0].Roles[0].Permissions); a != 1 || b != 1 {
		t.Fatalf("permissions: json %d, toml %d", a, b)
	}
}
