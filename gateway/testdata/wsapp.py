# A uwsgi WebSocket echo (uWSGI docs, "WebSocket support"): uwsgi.websocket_handshake writes
# the 101 itself, then every message is sent back. Any other request gets a plain answer.
import uwsgi


def application(env, start_response):
    if env.get('HTTP_UPGRADE', '').lower() != 'websocket':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'plain:' + env.get('HTTP_CONNECTION', '').encode()]
    if env.get('PATH_INFO') == '/refuse':
        start_response('403 Forbidden', [('Content-Type', 'text/plain')])
        return [b'no websocket here']
    uwsgi.websocket_handshake(env['HTTP_SEC_WEBSOCKET_KEY'], env.get('HTTP_ORIGIN', ''))
    while True:
        msg = uwsgi.websocket_recv()
        if msg == b'close':
            return []
        uwsgi.websocket_send(msg)
