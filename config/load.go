package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// configNames are the files Locate looks for in the node directory, in this order: Portico's
// own TOML first, then Crossbar's YAML and JSON (`crossbar start` reads config.json or
// config.yaml).
var configNames = []string{"config.toml", "config.yaml", "config.json"}

// Locate resolves the node directory and config file exactly as `portico start` does:
// dir = cbdir, else $PORTICO_DIR, else ./.crossbar if it exists, else "."; file = configFlag
// (relative to dir unless absolute), else the first of config.toml, config.yaml, config.json in
// dir. Returned paths are absolute.
func Locate(cbdir, configFlag string) (dir, file string, err error) {
	dir = cbdir
	if dir == "" {
		dir = os.Getenv("PORTICO_DIR")
	}
	if dir == "" {
		if fi, err := os.Stat(".crossbar"); err == nil && fi.IsDir() {
			dir = ".crossbar"
		} else {
			dir = "."
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", fmt.Errorf("node directory: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return "", "", fmt.Errorf("node directory %s: %w", dir, err)
	} else if !fi.IsDir() {
		return "", "", fmt.Errorf("node directory %s is not a directory", dir)
	}
	if configFlag != "" {
		file = configFlag
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		if _, err := os.Stat(file); err != nil {
			return "", "", fmt.Errorf("config file %s: %w", file, err)
		}
		return dir, filepath.Clean(file), nil
	}
	for _, name := range configNames {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return dir, p, nil
		}
	}
	return "", "", fmt.Errorf("no %s in %s (give --cbdir or --config, or write a node with `portico init`)", strings.Join(configNames, ", "), dir)
}

// maxConfigSize bounds the config file read, so that pointing --config at a device or a huge
// file fails clearly.
const maxConfigSize = 16 << 20

// Load reads, decodes strictly, applies defaults, resolves paths (pythonpath, static
// directories, unix sockets, TLS files) against the node directory dir and validates. When
// anything is wrong it returns Problems: all of them, each with file, line when known and key
// path. The format follows the file's extension (.json, .yaml/.yml, .toml).
func Load(dir, file string) (*Node, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("node directory: %w", err)
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	shown := file
	if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		shown = rel
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, Problems{{File: shown, Msg: err.Error()}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, Problems{{File: shown, Msg: err.Error()}}
	}
	if len(data) > maxConfigSize {
		return nil, Problems{{File: shown, Msg: fmt.Sprintf("larger than %d MiB", maxConfigSize>>20)}}
	}
	node, err := parse(data, formatOf(file), dir, shown)
	if err != nil {
		return nil, err
	}
	node.File = file
	return node, nil
}

// formatOf picks the front door by extension; anything else is tried as JSON when it looks
// like JSON, else as TOML.
func formatOf(file string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	case ".toml":
		return "toml"
	}
	return ""
}

// parse decodes data in the given format ("" sniffs) into a validated node.
func parse(data []byte, format, dir, shown string) (*Node, error) {
	if format == "" {
		format = "toml"
		if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
			format = "json"
		}
	}
	var root *value
	var perrs []parseError
	switch format {
	case "json":
		root, perrs = parseJSON(data)
	case "yaml":
		root, perrs = parseYAML(data)
	case "toml":
		root, perrs = parseTOML(data)
	default:
		return nil, Problems{{File: shown, Msg: fmt.Sprintf("unknown format %q", format)}}
	}
	if len(perrs) > 0 {
		ps := make(Problems, len(perrs))
		for i, pe := range perrs {
			ps[i] = Problem{File: shown, Line: pe.line, Path: pe.path, Msg: pe.msg}
		}
		return nil, ps
	}
	d := &decoder{file: shown, lines: map[string]int{}, webOpts: map[string]string{}}
	node := d.decodeNode(root, dir)
	applyDefaults(node)
	d.validate(node)
	if len(d.probs) > 0 {
		// In file order; problems without a line (cross-checks) keep their place at the end.
		sort.SliceStable(d.probs, func(i, j int) bool {
			li, lj := d.probs[i].Line, d.probs[j].Line
			return li != 0 && (lj == 0 || li < lj)
		})
		return nil, d.probs
	}
	sort.SliceStable(d.warns, func(i, j int) bool { return d.warns[i].Line < d.warns[j].Line })
	node.Warnings = d.warns
	return node, nil
}
