package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration: where it is (file, line when known, key path)
// and what is wrong.
type Problem struct {
	File string // as shown to the user: relative to the node directory when inside it
	Line int    // 1-based; 0 when unknown (for example a cross-check between two keys)
	Path string // key path, e.g. "workers[0].transports[0].paths.ws"; "" for the whole file
	Msg  string
}

// String renders the problem as "file:line: path: msg", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	}
	if p.Path != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Path)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one configuration. It is the error Load returns, so that
// `portico check` can list them all at once instead of one per run.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}
