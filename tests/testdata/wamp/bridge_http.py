"""HTTP client of Portico's HTTP bridge tests: signs requests as Crossbar's REST bridge
expects (crossbar/bridge/rest/common.py) and sends them with http.client.

Usage: bridge_http.py BASE_URL  (reads a JSON list of requests on stdin)

Each request: {"path": "/pub", "body": "...", "method": "POST", "headers": {...},
"sign": {"key": "foobar", "secret": "secret", "timestamp": "...", "seq": 1, "nonce": 7,
"signature": "..."}}; in "sign", timestamp defaults to now, nonce to a random one, and
signature to the right one; {"replay": true} sends the previous request's query again.
Prints one JSON line: a list of {"status", "body", "headers"}.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import random
import sys
import urllib.parse

base = urllib.parse.urlparse(sys.argv[1])
reqs = json.load(sys.stdin)
conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
results = []
last_query = ""


def sign(spec, body):
    key = spec["key"]
    ts = spec.get("timestamp") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    seq = str(spec.get("seq", 1))
    nonce = str(spec.get("nonce", random.randint(0, 2 ** 53)))
    hm = hmac.new(spec["secret"].encode("utf8"), None, hashlib.sha256)
    for part in (key.encode("utf8"), ts.encode("utf8"), seq.encode("utf8"), nonce.encode("utf8"), body):
        hm.update(part)
    sig = spec.get("signature") or base64.urlsafe_b64encode(hm.digest()).decode("ascii")
    return urllib.parse.urlencode({"key": key, "timestamp": ts, "seq": seq, "nonce": nonce, "signature": sig})


for r in reqs:
    body = r.get("body", "").encode("utf8")
    if "body_bytes" in r:
        body = bytes.fromhex(r["body_bytes"])
    path = r["path"]
    if r.get("replay"):
        path += "?" + last_query
    elif "sign" in r:
        last_query = sign(r["sign"], body)
        path += "?" + last_query
    headers = {"Content-Type": "application/json"}
    headers.update(r.get("headers", {}))
    headers = {k: v for k, v in headers.items() if v is not None}
    conn.request(r.get("method", "POST"), path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read().decode("utf8")
    results.append({"status": resp.status, "body": data,
                    "headers": {k.lower(): v for k, v in resp.getheaders()}})
print(json.dumps(results), flush=True)
