package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxYAMLNodes bounds the tree built from a YAML file with aliases, so that an alias bomb
// ("billion laughs") fails instead of exhausting memory.
const maxYAMLNodes = 1 << 20

var (
	yamlLine   = regexp.MustCompile(`line (\d+)`)
	yamlPrefix = regexp.MustCompile(`^yaml: (line \d+: )?`)
)

// parseYAML reads a YAML document (Crossbar's config.yaml) into the positioned tree.
func parseYAML(data []byte) (v *value, perrs []parseError) {
	// YAML also breaks lines at a lone CR (YAML 1.2 §5.4).
	c := &yamlConv{maxLines: max(bytes.Count(data, []byte("\n")), bytes.Count(data, []byte("\r"))) + 1}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := yamlPrefix.ReplaceAllString(err.Error(), "")
		return nil, []parseError{{line: c.ln(line), msg: "YAML syntax: " + msg}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, []parseError{{line: 1, msg: "empty document"}}
	}
	v = c.conv(doc.Content[0], 0, "")
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return v, nil
}

type yamlConv struct {
	nodes    int
	errs     []parseError
	maxLines int
}

// ln clamps a line reported by the YAML parser to the input: an empty document after "---"
// is placed on the line after the last one.
func (c *yamlConv) ln(l int) int { return min(max(l, 1), c.maxLines) }

func (c *yamlConv) fail(line int, place, format string, args ...any) *value {
	if len(c.errs) < 100 {
		c.errs = append(c.errs, parseError{line: max(line, 1), path: place, msg: fmt.Sprintf(format, args...)})
	}
	return &value{kind: kNull, line: line}
}

func (c *yamlConv) conv(n *yaml.Node, depth int, place string) *value {
	c.nodes++
	if c.nodes > maxYAMLNodes {
		if c.nodes == maxYAMLNodes+1 {
			c.fail(c.ln(n.Line), place, "more than %d values (alias expansion?)", maxYAMLNodes)
		}
		return &value{kind: kNull, line: c.ln(n.Line)}
	}
	if depth > maxDepth {
		return c.fail(c.ln(n.Line), place, "nested deeper than %d levels", maxDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return c.fail(c.ln(n.Line), place, "unknown alias")
		}
		v := c.conv(n.Alias, depth+1, place)
		cp := *v
		cp.line = c.ln(n.Line)
		return &cp
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &value{kind: kNull, line: c.ln(n.Line)}
		}
		return c.conv(n.Content[0], depth+1, place)
	case yaml.SequenceNode:
		v := &value{kind: kList, line: c.ln(n.Line)}
		for _, e := range n.Content {
			v.list = append(v.list, c.conv(e, depth+1, indexPlace(place, len(v.list))))
		}
		return v
	case yaml.MappingNode:
		v := &value{kind: kMap, line: c.ln(n.Line)}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, val)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				c.fail(c.ln(k.Line), place, "a mapping key must be a plain value")
				continue
			}
			if v.get(k.Value) != nil {
				c.fail(c.ln(k.Line), place, "duplicate key %q", k.Value)
				continue
			}
			v.keys = append(v.keys, entry{key: k.Value, line: c.ln(k.Line), val: c.conv(val, depth+1, childPlace(place, k.Value))})
		}
		// YAML merge keys (<<: *defaults): explicit keys win over merged ones.
		for _, m := range merges {
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, src := range srcs {
				mv := c.conv(src, depth+1, place)
				if mv.kind != kMap {
					c.fail(c.ln(src.Line), place, "a merge key (<<) needs a mapping")
					continue
				}
				for _, e := range mv.keys {
					if v.get(e.key) == nil {
						v.keys = append(v.keys, e)
					}
				}
			}
		}
		return v
	case yaml.ScalarNode:
		v := &value{line: c.ln(n.Line)}
		switch n.ShortTag() {
		case "!!null":
			v.kind = kNull
		case "!!bool":
			v.kind = kBool
			if err := n.Decode(&v.b); err != nil {
				return c.fail(c.ln(n.Line), place, "%q: %v", n.Value, err)
			}
		case "!!int":
			v.kind = kInt
			if err := n.Decode(&v.i); err != nil {
				return c.fail(c.ln(n.Line), place, "integer %q: out of range", n.Value)
			}
		case "!!float":
			v.kind = kFloat
			if err := n.Decode(&v.f); err != nil {
				return c.fail(c.ln(n.Line), place, "number %q: %v", n.Value, err)
			}
		default: // !!str, !!timestamp, !!binary: keep the text as written
			v.kind, v.s = kString, n.Value
		}
		return v
	}
	return c.fail(c.ln(n.Line), place, "unexpected YAML node")
}
