package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// service is one path service (wsgi, websocket, static, redirect, json). Handlers return an
// error instead of writing error pages; the gateway maps it with statusOf.
type service interface {
	serve(ctx *fasthttp.RequestCtx, rq *request) error
	place() string
	close()
}

// pathNode is one segment of the path table. Crossbar's paths are single segments ("/" is the
// root, nested trees use `type: "path"`), and a request goes to the longest matching segment
// prefix, as Twisted's resource tree resolves it.
type pathNode struct {
	svc      service
	children map[string]*pathNode
}

func (n *pathNode) child(seg []byte) *pathNode {
	if n.children == nil {
		return nil
	}
	return n.children[string(seg)] // no allocation for a map index by converted bytes
}

// lookup resolves the normalised path. It returns the service and the length of the mount
// prefix in path (SCRIPT_NAME = path[:mount], PATH_INFO = path[mount:]).
func (n *pathNode) lookup(path []byte) (service, int) {
	best, mount := n.svc, 0
	cur := n
	i := 0
	for i < len(path) {
		// path[i] == '/'
		j := bytes.IndexByte(path[i+1:], '/')
		end := len(path)
		if j >= 0 {
			end = i + 1 + j
		}
		seg := path[i+1 : end]
		if len(seg) == 0 {
			break
		}
		next := cur.child(seg)
		if next == nil {
			break
		}
		cur = next
		if cur.svc != nil {
			best, mount = cur.svc, end
		}
		i = end
	}
	return best, mount
}

// normalizePath decodes %XX and resolves "//", "." and ".." like nginx builds $document_uri
// (ngx_http_parse_complex_uri with merge_slashes on): the decoded byte is fed to the same
// state machine, so %2e%2e is "..", and %2F is a separator. NUL (raw or %00), invalid escapes
// and ".." above the root are rejected (nginx answers 400). dst is reused.
func normalizePath(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, errBadPath
	}
	dst = append(dst[:0], '/')
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return dst, errBadPath
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst, errBadPath
			}
			c = h<<4 | l
			i += 2
		}
		switch c {
		case 0:
			return dst, errBadPath
		case '/':
			if dst[len(dst)-1] == '/' {
				continue // merge slashes
			}
			dst = append(dst, '/')
			continue
		}
		dst = append(dst, c)
		// Resolve "." and ".." once a segment is complete (at "/" or end of path).
		if c == '.' {
			var err error
			if dst, err = dotSegment(dst, raw, i); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// dotSegment looks at the segment just finished (when the next raw byte ends it) and removes
// "." or ".." segments.
func dotSegment(dst, raw []byte, i int) ([]byte, error) {
	// Does the segment end after raw[i]? Next is end of path, '/', or an encoded '/'.
	next := i + 1
	ends := next >= len(raw) || raw[next] == '/' ||
		(raw[next] == '%' && next+2 < len(raw) && raw[next+1] == '2' && (raw[next+2] == 'f' || raw[next+2] == 'F'))
	if !ends {
		return dst, nil
	}
	n := len(dst)
	switch {
	case n >= 2 && dst[n-2] == '/' && dst[n-1] == '.':
		return dst[:n-1], nil // "/." -> "/"
	case n >= 3 && dst[n-3] == '/' && dst[n-2] == '.' && dst[n-1] == '.':
		if n == 3 {
			return dst, errBadPath // above the root
		}
		k := bytes.LastIndexByte(dst[:n-3], '/')
		return dst[:k+1], nil
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
