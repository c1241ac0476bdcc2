"""Slow readers against a gateway: N clients each ask for a large response and read nothing;
meanwhile one plain GET is tried. Prints whether it was answered, then lets every reader read
and prints how many got their whole response.

    python3 slow_readers.py HOST:PORT [N=20] [SIZE_MIB=16] [GET_TIMEOUT_S=10]

The app behind the gateway should be gateway/testdata/edgeapp.py (GET /bytes?n=... answers n
bytes with a Content-Length; GET / answers "ok"), under uwsgi with few workers, e.g.
--processes 2 --threads 1. Traffic goes to the given address only; the readers give up 30 s
after they start reading.
"""
import socket
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
size = (int(sys.argv[3]) if len(sys.argv) > 3 else 16) << 20
get_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10

readers = []
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" % size)
    readers.append(s)
time.sleep(2)
t0 = time.time()
s = socket.create_connection((host, port))
s.settimeout(get_timeout)
s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
try:
    status = s.recv(4096).split(b"\r\n")[0].decode()
except socket.timeout:
    status = "no answer"
print("%d clients not reading %d MiB each; GET /: %s after %.2fs" % (n, size >> 20, status, time.time() - t0))

whole = [0]
lock = threading.Lock()
deadline = time.time() + 30


def read(c):
    got, head = 0, b""
    try:
        while time.time() < deadline:
            c.settimeout(max(0.1, deadline - time.time()))
            b = c.recv(1 << 20)
            if not b:
                break
            if head is not None:
                head += b
                i = head.find(b"\r\n\r\n")
                if i < 0:
                    continue
                got, head = len(head) - i - 4, None
            else:
                got += len(b)
    except OSError:
        pass
    c.close()
    if got == size:
        with lock:
            whole[0] += 1


threads = [threading.Thread(target=read, args=(c,)) for c in readers]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("then reading: %d of %d got the whole response" % (whole[0], n))
