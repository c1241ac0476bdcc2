# A guest worker: appends its stdin (JSON) and pid to out.txt, then waits to be stopped;
# with "fail" in argv it exits 3 the first two times.
import json, os, sys, time
data = json.load(sys.stdin)
with open("out.txt", "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "stdin": data, "env": os.environ.get("GUEST_VAR")}) + "\n")
runs = sum(1 for _ in open("out.txt"))
if "fail" in sys.argv and runs < 3:
    sys.exit(3)
while True:
    time.sleep(3600)
