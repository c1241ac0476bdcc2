"""One client sends 1 GiB chunked, as fast as it can, to a gateway whose process id is given;
prints the answer, and the most the gateway held in request-body spool files at once (read
from /proc/PID/fd, where the unlinked files still show), and where they were.

    python3 big_chunked.py HOST:PORT PID
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
pid = int(sys.argv[2])
peak = {"bytes": 0, "where": ""}
done = threading.Event()


def watch():
    while not done.is_set():
        total = 0
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            fds = []
        for fd in fds:
            p = "/proc/%d/fd/%s" % (pid, fd)
            try:
                if "portico-body-" in os.readlink(p):
                    total += os.stat(p).st_size
                    peak["where"] = os.path.dirname(os.readlink(p))
            except OSError:
                pass
        peak["bytes"] = max(peak["bytes"], total)
        time.sleep(0.05)


threading.Thread(target=watch, daemon=True).start()
progress = os.path.join(tempfile.mkdtemp(prefix="big-chunked-"), "progress").encode()
s = socket.create_connection((host, port))
s.sendall(b"POST /progress?file=%s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" % progress)
chunk = b"%x\r\n" % (1 << 20) + b"x" * (1 << 20) + b"\r\n"
t0, sent = time.time(), 0
try:
    for _ in range(1024):
        s.sendall(chunk)
        sent += 1
    s.sendall(b"0\r\n\r\n")
except OSError:
    pass
s.settimeout(120)
try:
    answer = s.recv(4096).split(b"\r\n")[0].decode()
except OSError as e:
    answer = "error: %s" % e
done.set()
print("sent %d MiB of 1024; answer %r after %.1fs; spool files held at most %.0f MiB, in %s"
      % (sent, answer, time.time() - t0, peak["bytes"] / 2**20, peak["where"] or "-"))
shutil.rmtree(os.path.dirname(progress), ignore_errors=True)
