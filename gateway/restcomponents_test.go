package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"portico/config"
)

// TestRESTCalleeArguments: the call's arguments map onto callee.py's on_call(method, url,
// body, headers, params) as Python would bind them, and the answer becomes
// {"code", "content", "headers"}.
func TestRESTCalleeArguments(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain") // no charset: ISO-8859-1, as treq
		w.WriteHeader(201)
		_, _ = w.Write(append([]byte(r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-A")+" "), append(b, 0xe9)...))
	}))
	defer srv.Close()
	n := &nativeComponent{callee: &config.RESTCallee{BaseURL: srv.URL + "/base/"}, client: srv.Client(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, uri, msg := n.callHTTP([]any{"POST", "p?x=1"}, map[string]any{"body": "hi", "headers": map[string]any{"X-A": []any{"v"}}, "params": map[string]any{"y": "2"}})
	if uri != "" || res["code"] != int64(201) || res["content"] != "POST /base/p?x=1&y=2 v hié" {
		t.Errorf("callHTTP = %v, %q %q", res, uri, msg)
	}
	for _, c := range []struct {
		args   []any
		kwargs map[string]any
		msg    string
	}{
		{[]any{"GET", "x", "", map[string]any{}, map[string]any{}, 1}, nil, "on_call() takes at most 5 arguments (6 given)"},
		{[]any{"GET"}, map[string]any{"method": "PUT", "url": "x"}, "on_call() got multiple values for argument 'method'"},
		{nil, map[string]any{"url": "x"}, "method and url must be strings, body a string"},
		{nil, map[string]any{"method": "GET", "url": "x", "verb": 1}, "on_call() got an unexpected keyword argument 'verb'"},
	} {
		if _, uri, msg := n.callHTTP(c.args, c.kwargs); uri != "wamp.error.invalid_argument" || msg != c.msg {
			t.Errorf("callHTTP(%v, %v) = %q %q, want %q", c.args, c.kwargs, uri, msg, c.msg)
		}
	}
}
