package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		in   string
		want []VarPart
		err  string
	}{
		{"", nil, ""},
		{"plain", []VarPart{{Lit: "plain"}}, ""},
		{"$host", []VarPart{{Ref: "host"}}, ""},
		{"$scheme://${host}:$server_port$request_uri", []VarPart{{Ref: "scheme"}, {Lit: "://"}, {Ref: "host"}, {Lit: ":"}, {Ref: "server_port"}, {Ref: "request_uri"}}, ""},
		{"a${remote_addr}b", []VarPart{{Lit: "a"}, {Ref: "remote_addr"}, {Lit: "b"}}, ""},
		{"$hostname", nil, "unknown variable $hostname"},
		{"${nope}", nil, "unknown variable $nope"},
		{"cost: 5$", nil, "starts no variable name"},
		{"${host", nil, "no closing"},
		{"${}", nil, "starts no variable name"},
	}
	for _, tt := range tests {
		got, err := ParseTemplate(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTemplate(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTemplate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseTemplate: a template either fails or splits into parts that, with each placeholder
// written back as ${name}, read the same as the input.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"$host", "${request_uri}x", "$scheme://$host:$server_port$request_uri", "a$", "${", "$$", "${host}}", "\x00$remote_addr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := ParseTemplate(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, p := range parts {
			switch {
			case p.Ref == "" && p.Lit == "":
				t.Fatalf("%q: empty part", s)
			case p.Ref == "":
				if strings.Contains(p.Lit, "$") {
					t.Fatalf("%q: literal %q holds a $", s, p.Lit)
				}
				b.WriteString(p.Lit)
			default:
				if !contains(VarRefs, p.Ref) {
					t.Fatalf("%q: unknown ref %q", s, p.Ref)
				}
				b.WriteString("${" + p.Ref + "}")
			}
		}
		again, err := ParseTemplate(b.String())
		if err != nil || !reflect.DeepEqual(again, parts) {
			t.Fatalf("%q: reparsing %q gave %v, %v; want %v", s, b.String(), again, err, parts)
		}
	})
}

func TestMergeHeaders(t *testing.T) {
	tr := &Headers{Remove: []string{"Server"}, Set: []Header{{"X-Frame-Options", "DENY"}, {"A", "1"}}, Add: []Header{{"x-frame-options", "x"}, {"B", "2"}}}
	p := &Headers{Set: []Header{{"X-FRAME-OPTIONS", "SAMEORIGIN"}}, Add: []Header{{"B", "3"}}}
	got := MergeHeaders(tr, p)
	want := &Headers{Remove: []string{"Server"}, Set: []Header{{"A", "1"}, {"X-FRAME-OPTIONS", "SAMEORIGIN"}}, Add: []Header{{"B", "2"}, {"B", "3"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeHeaders = %+v, want %+v", got, want)
	}
	if MergeHeaders(tr, nil) != tr || MergeHeaders(nil, p) != p {
		t.Error("merging with nothing should return the other side")
	}
}
