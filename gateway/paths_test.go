package gateway

import (
	"bytes"
	"errors"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "//a///b//", want: "/a/b/"},
		{in: "/a/./b/.", want: "/a/b/"},
		{in: "/a/../b", want: "/b"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a/%2e%2e/b", want: "/b"},
		{in: "/a/%2E%2e", want: "/"},
		{in: "/a%2Fb", want: "/a/b"},
		{in: "/a%2f%2fb", want: "/a/b"},
		{in: "/a%2F..%2Fb", want: "/b"},
		{in: "/%7Euser/caf%C3%A9", want: "/~user/caf\xc3\xa9"},
		{in: "/a+b", want: "/a+b"},
		{in: "/...", want: "/..."},
		{in: "/a..b/..c", want: "/a..b/..c"},
		{in: "/%25", want: "/%"},
		{in: "/..", bad: true},
		{in: "/../a", bad: true},
		{in: "/a/../../b", bad: true},
		{in: "/%2e%2e/", bad: true},
		{in: "/a%00b", bad: true},
		{in: "/a\x00b", bad: true},
		{in: "/a%zz", bad: true},
		{in: "/a%2", bad: true},
		{in: "a", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizePath(nil, []byte(tt.in))
			if tt.bad {
				if !errors.Is(err, errBadPath) {
					t.Fatalf("normalizePath(%q) = %q, %v; want errBadPath", tt.in, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("normalizePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzNormalizePath checks the invariants the path table and the static service rely on: an
// accepted path starts with "/", has no "//", no "." or ".." segment and no NUL, and
// normalising it again changes nothing (once percent signs are escaped again).
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x/%2e%2e/y", "/%00", "/a/./b/", "/%2F%2f..%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := normalizePath(nil, []byte(in))
		if err != nil {
			return
		}
		if len(got) == 0 || got[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", in, got)
		}
		if bytes.Contains(got, []byte("//")) || bytes.IndexByte(got, 0) >= 0 {
			t.Fatalf("%q -> %q", in, got)
		}
		for _, seg := range bytes.Split(got[1:], []byte("/")) {
			if string(seg) == "." || string(seg) == ".." {
				t.Fatalf("%q -> %q: dot segment left", in, got)
			}
		}
		esc := bytes.ReplaceAll(got, []byte("%"), []byte("%25"))
		again, err := normalizePath(nil, esc)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}

func TestPathLookup(t *testing.T) {
	t.Parallel()
	root := &pathNode{svc: named("/")}
	root.children = map[string]*pathNode{
		"ws":  {svc: named("ws")},
		"app": {svc: named("app"), children: map[string]*pathNode{"api": {svc: named("app/api")}}},
		"nested": {children: map[string]*pathNode{
			"deep": {svc: named("nested/deep")},
		}},
	}
	tests := []struct {
		path, svc string
		mount     int
	}{
		{"/", "/", 0},
		{"/index.html", "/", 0},
		{"/ws", "ws", 3},
		{"/ws/", "ws", 3},
		{"/wsx", "/", 0},
		{"/app", "app", 4},
		{"/app/x", "app", 4},
		{"/app/api", "app/api", 8},
		{"/app/api/v1", "app/api", 8},
		{"/nested", "/", 0},
		{"/nested/deep/q", "nested/deep", 12},
	}
	for _, tt := range tests {
		svc, mount := root.lookup([]byte(tt.path))
		if svc == nil || svc.place() != tt.svc || mount != tt.mount {
			t.Errorf("lookup(%q) = %v, %d; want %s, %d", tt.path, svc, mount, tt.svc, tt.mount)
		}
	}
	if svc, _ := (&pathNode{}).lookup([]byte("/x")); svc != nil {
		t.Errorf("empty table served %v", svc)
	}
}

type namedService struct{ name string }

func named(n string) service { return &namedService{n} }

func (s *namedService) serve(*fasthttp.RequestCtx, *request) error { return nil }
func (s *namedService) place() string                              { return s.name }
func (s *namedService) close()                                     {}
