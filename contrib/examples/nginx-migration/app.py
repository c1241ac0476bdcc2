"""A plain WSGI app (PEP 3333), the kind nginx passes to with uwsgi_pass.

Run it under uwsgi on a unix socket (see README.md); nginx or Portico in front of it serve
/static/ themselves and pass everything else here.
"""

from html import escape

# The variables nginx's uwsgi_params sends, plus SCRIPT_NAME, which Portico adds (nginx
# leaves it out).
SHOWN = (
    "REQUEST_METHOD",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_PROTOCOL",
    "REQUEST_SCHEME",
    "SERVER_NAME",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "HTTP_HOST",
)


def application(environ, start_response):
    body_len = 0
    if environ["REQUEST_METHOD"] == "POST":
        stream = environ["wsgi.input"]
        while chunk := stream.read(64 * 1024):
            body_len += len(chunk)
    rows = "".join(
        "<tr><th>%s</th><td><code>%s</code></td></tr>\n"
        % (k, escape(str(environ.get(k, "(not set)"))))
        for k in SHOWN
    )
    script = escape(environ.get("SCRIPT_NAME", ""))
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uwsgi app</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<h1>Hello from uwsgi</h1>
<table>
{rows}<tr><th>body bytes read</th><td><code>{body_len}</code></td></tr>
</table>
<form method="post" action="{script}/" enctype="multipart/form-data">
<input type="file" name="f"> <button>Upload (up to 10 MiB)</button>
</form>
</body>
</html>
"""
    data = page.encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]
