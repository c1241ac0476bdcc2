package gateway

// appToProxy reports a response header the app addresses to the proxy in front of it, never to
// the client: nginx's X-Accel-* family (nginx hides X-Accel-Expires, -Redirect, -Limit-Rate,
// -Buffering and -Charset by default, ngx_http_uwsgi_hide_headers) and X-Sendfile (Apache's
// mod_xsendfile and lighttpd, sent by Flask's USE_X_SENDFILE and django-sendfile2). Every
// X-Accel-* name is dropped, so that one nginx may add later does not leak either.
func appToProxy(name []byte) bool {
	const accel = "X-Accel-"
	if len(name) > len(accel) && asciiEqualFold(name[:len(accel)], accel) {
		return true
	}
	return asciiEqualFold(name, "X-Sendfile")
}
