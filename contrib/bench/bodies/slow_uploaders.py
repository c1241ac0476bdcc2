"""Slow uploaders against a gateway: N clients each send a request head and 16 KiB of a 1 MiB
body, then one byte a second; meanwhile one plain GET is tried. Prints whether it was answered.

    python3 slow_uploaders.py HOST:PORT [N=16] [GET_TIMEOUT_S=10]

The app behind the gateway should be gateway/testdata/edgeapp.py (POST /progress reads the
body; GET / answers "ok"), under uwsgi with few workers, e.g. --processes 2 --threads 1.
Traffic goes to the given address only; the uploaders stop GET_TIMEOUT_S + 5 s after start.
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
get_timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10
stop = time.time() + get_timeout + 5
# /progress writes how much of the body it has read to this file (edgeapp.py).
progress = os.path.join(tempfile.mkdtemp(prefix="slow-uploaders-"), "progress").encode()


def slow(i):
    try:
        s = socket.create_connection((host, port))
        s.sendall(b"POST /progress?file=%s HTTP/1.1\r\nHost: h\r\n"
                  b"Content-Length: 1048576\r\n\r\n" % (progress + b"%d" % i) + b"x" * 16384)
        while time.time() < stop:
            time.sleep(1)
            s.sendall(b"x")
        s.close()
    except OSError:
        pass


threads = [threading.Thread(target=slow, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
time.sleep(2)
t0 = time.time()
s = socket.create_connection((host, port))
s.settimeout(get_timeout)
s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
try:
    status = s.recv(4096).split(b"\r\n")[0].decode()
except socket.timeout:
    status = "no answer"
print("%d slow uploaders; GET /: %s after %.2fs" % (n, status, time.time() - t0))
for t in threads:
    t.join()
shutil.rmtree(os.path.dirname(progress), ignore_errors=True)
