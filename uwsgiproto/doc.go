// Package uwsgiproto implements the uwsgi wire format as a web server speaks it to uWSGI:
// the request packet (a 4-byte header — modifier1, a 16-bit little-endian datasize,
// modifier2 — followed by the vars block of 16-bit-length-prefixed key/value pairs; uWSGI
// docs, "The uwsgi Protocol"), and the raw HTTP/1.x response head uWSGI writes back.
// Standard library only.
//
// # What Debian's uWSGI 2.0.21 does on the wire
//
// Observed with `uwsgi --plugin python3 --socket x.sock --wsgi-file app.py --master
// --processes 2` (uwsgi-core + uwsgi-plugin-python3) and pinned by TestRealUWSGI:
//
//   - One request per connection. After the response uWSGI closes the socket, whatever
//     SERVER_PROTOCOL (HTTP/1.1), HTTP_CONNECTION (keep-alive) or Content-Length the request
//     and the app used; a second packet on the same connection is never read (the write
//     fails with EPIPE or the read sees EOF). The uwsgi protocol has no keepalive, so a
//     client "pool" can only bound concurrency; an idle pre-opened connection would pin a
//     worker (proto/base.c: uwsgi_proto_base_close after every request).
//   - The status line is the request's SERVER_PROTOCOL var copied verbatim, a space and the
//     status string from start_response: "HTTP/1.1 200 OK". Without SERVER_PROTOCOL it is
//     "HTTP/1.0 ...". Any SERVER_PROTOCOL is echoed, even "HTTP/2.0", so a caller must send
//     HTTP/1.0 or HTTP/1.1 (ReadResponseHead accepts only HTTP/1.x). A bare "299" status gets
//     a reason from uWSGI's table or "Unknown" ("HTTP/1.0 299 Unknown"). With --cgi-mode the
//     line is "Status: 200 OK" instead (proto/base.c), which ReadResponseHead also accepts.
//   - Headers are written "Name: value\r\n" exactly as the app passed them, in order, then
//     "\r\n" and the body. uWSGI adds no Content-Length, no Date, no Connection header and
//     never chunks on a uwsgi socket: a generator response arrives as raw bytes ending at
//     close; a Content-Length appears only when the app set one.
//   - uWSGI does not validate header values: an app returning ("X-Bad", "a\r\nInjected: 1")
//     puts a well-formed extra header on the wire. A bare LF or CR, a NUL or other control
//     byte, however, reaches ReadResponseHead and is refused there (ErrBadResponse).
package uwsgiproto
