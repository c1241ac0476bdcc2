package gateway

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"portico/config"
	"portico/internal/testkit"
)

func mustVars(t testing.TB, m map[string]string) []config.Var {
	t.Helper()
	var out []config.Var
	for _, name := range []string{"APP_HOST", "APP_URI", "APP_URL", "APP_REMOTE", "APP_NAME", "SERVER_NAME", "HTTP_X_FORWARDED_PROTO", "HTTP_X_CUSTOM", "BIG"} {
		v, ok := m[name]
		if !ok {
			continue
		}
		parts, err := config.ParseTemplate(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, config.Var{Name: name, Value: v, Parts: parts})
	}
	return out
}

// TestUWSGIVars: a wsgi path's vars reach the app with placeholders expanded; a var named like
// a CGI variable Portico sends overrides it, and an HTTP_* var replaces the request header.
func TestUWSGIVars(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t)
	app := wsgiUpstream(sock)
	app.WSGI.Vars = mustVars(t, map[string]string{
		"APP_HOST":               "$host",
		"APP_URI":                "${request_uri}!",
		"APP_URL":                "$scheme://${host}:$server_port$request_uri",
		"APP_REMOTE":             "$remote_addr",
		"APP_NAME":               "$server_name",
		"SERVER_NAME":            "www.example.com",
		"HTTP_X_FORWARDED_PROTO": "https",
		"HTTP_X_CUSTOM":          "fixed",
	})
	base := startGateway(t, testNode(t, map[string]*config.Service{"app": app}))
	port := strings.Split(base, ":")[2]
	env := getEnv(t, rawRequest(t, base, "GET /app/env?a=1&b=%2F HTTP/1.1\r\nHost: Example.COM:"+port+"\r\nX-Custom: from-client\r\nConnection: close\r\n\r\n"))
	want := map[string]string{
		"APP_HOST":               "example.com",
		"APP_URI":                "/app/env?a=1&b=%2F!",
		"APP_URL":                "http://example.com:" + port + "/app/env?a=1&b=%2F",
		"APP_REMOTE":             "127.0.0.1",
		"APP_NAME":               "example.com",
		"SERVER_NAME":            "www.example.com",
		"HTTP_X_FORWARDED_PROTO": "https",
		"HTTP_X_CUSTOM":          "fixed",
		"HTTP_HOST":              "Example.COM:" + port,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// TestUWSGIVarsTooLarge: configured vars count toward the 65535-byte vars block: a request
// whose $request_uri takes the expanded vars past it is refused with 431, while the same request
// passes on a path without them, and a short one passes on the path with them.
func TestUWSGIVarsTooLarge(t *testing.T) {
	t.Parallel()
	sock := startUWSGI(t, "--buffer-size", "65535") // uwsgi's default takes 4 KiB of vars
	app := wsgiUpstream(sock)
	app.WSGI.Vars = mustVars(t, map[string]string{"BIG": strings.Repeat("x", 50000) + "$request_uri"})
	base := startGateway(t, testNode(t, map[string]*config.Service{"app": app, "plain": wsgiUpstream(sock)}))
	q := "/env?q=" + strings.Repeat("y", 10000)
	for _, tt := range []struct {
		target string
		want   int
	}{{"/app/env", 200}, {"/plain" + q, 200}, {"/app" + q, 431}} {
		resp := rawRequest(t, base, "GET "+tt.target+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%.20s...: status %d, want %d", tt.target, resp.StatusCode, tt.want)
		}
	}
}

// TestBuildVarsAllocsWithVars: configured vars with every placeholder keep the vars encode
// path at zero allocations per request.
func TestBuildVarsAllocsWithVars(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchServer(t, filepath.Join(t.TempDir(), "unused.sock"))
	svc, _ := s.table.Load().root.lookup([]byte("/"))
	ws := svc.(*wsgiService)
	ws.vars = mustVars(t, map[string]string{
		"APP_URL": "$scheme://$host:$server_port$request_uri", "APP_REMOTE": "$remote_addr",
		"APP_NAME": "${server_name}", "HTTP_X_CUSTOM": "fixed",
	})
	ws.varsHTTP = httpVarNames(ws.vars)
	var ctx fasthttp.RequestCtx
	if err := ctx.Request.ReadLimitBody(bufioReader(benchRequest), 0); err != nil {
		t.Fatal(err)
	}
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	rq := &request{}
	rq.path, _ = normalizePath(nil, []byte("/hello/world"))
	rq.requestURI = ctx.Request.Header.RequestURI()
	rq.host = []byte("example.com")
	ps := &proxyState{}
	if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
		t.Fatal(err)
	}
	testkit.Budget(t, "buildVars with vars", 0, 200, func() {
		if _, err := ws.buildVars(&ctx, rq, ps, 0); err != nil {
			t.Fatal(err)
		}
	})
}
