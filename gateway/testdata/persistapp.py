"""Flask app for the persistent uwsgi tests (gateway/persist_test.go).

/conn names the uwsgi connection the request came on (the inode of its socket, unique per
accepted connection) and the worker's pid, so that a test can count accepted connections.
"""
import os

import uwsgi
from flask import Flask, Response, request

app = Flask(__name__)


def conn_id():
    return "%d %d" % (os.fstat(uwsgi.connection_fd()).st_ino, os.getpid())


@app.route("/conn", methods=["GET", "HEAD"])
def conn():
    return conn_id()


@app.route("/stream")
def stream():
    def gen():
        for i in range(50):
            yield "line %d\n" % i
    return Response(gen(), mimetype="text/plain")


@app.route("/big")
def big():
    n = int(request.args.get("n", "1048576"))
    return Response(bytes(i % 251 for i in range(n)), mimetype="application/octet-stream")


@app.route("/etag")
def etag():
    resp = Response("tagged body")
    resp.set_etag("v1")
    return resp.make_conditional(request)


@app.route("/crash")
def crash():
    def gen():
        yield b"x" * 100
        os._exit(1)
    return Response(gen(), headers={"Content-Length": "1000"})


@app.route("/echo", methods=["POST"])
def echo():
    return request.get_data()


@app.route("/sleep")
def sleep():
    import time
    time.sleep(float(request.args.get("s", "0.2")))
    return conn_id()


application = app
