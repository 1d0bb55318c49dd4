#!/usr/bin/env python3
"""tests/webhook_test.py - signed webhooks, exactly once, against a local
receiver (stdlib http.server on 127.0.0.1) that checks every signature and
counts deliveries by their X-Gavel-Delivery id.

    webhook_test.py GAVEL

1. A meeting sends item.added, item.discussed and minutes.published, each
   signed (HMAC-SHA256 of the body with the secret from
   $CREDENTIALS_DIRECTORY/webhook-0-secret), with the payload fields.
2. gavel is SIGKILLed while the receiver holds a POST open: after the
   restart the same delivery (same id, same body) comes again and the
   receiver, keyed on the id, applies it once; nothing is lost.
3. A receiver answering 500 then 200: retried after the backoff, delivered.
4. A receiver answering 400: parked with its reason in `gavel outbox`, not
   retried by later runs.
"""
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

gavel = os.path.abspath(sys.argv[1])
top = tempfile.mkdtemp(prefix="gavel-webhook-")
SECRET = b"webhook signing secret\n"     # the trailing line end is not part of it
KEY = SECRET.rstrip(b"\n")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:2000]))
    sys.stdout.flush()
    if cond:
        passed += 1
    else:
        failed += 1


class Receiver:
    """Per path: a list of statuses to answer in turn (the last one repeats),
    and an optional hold (seconds) on the first request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []          # (path, delivery, event, body, signature_ok)
        self.applied = {}           # delivery -> payload, the first time only
        self.plan = {}
        self.hold = {}
        self.got = threading.Event()
        rx = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                want = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, self.headers.get("X-Gavel-Signature", ""))
                delivery = self.headers.get("X-Gavel-Delivery", "")
                try:
                    event = json.loads(body).get("event")
                except ValueError:
                    event = None
                with rx.lock:
                    rx.requests.append((self.path, delivery, event, body, ok))
                    plan = rx.plan.get(self.path, [200])
                    status = plan.pop(0) if len(plan) > 1 else plan[0]
                    hold = rx.hold.pop(self.path, 0)
                    if ok and 200 <= status < 300 and delivery not in rx.applied:
                        rx.applied[delivery] = json.loads(body)
                rx.got.set()
                if hold:
                    time.sleep(hold)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


rx = Receiver()


def setup(name, hooks):
    d = os.path.join(top, name)
    os.makedirs(os.path.join(d, "creds"))
    with open(os.path.join(d, "creds", "webhook-0-secret"), "wb") as f:
        f.write(SECRET)
    cfg = {"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning",
           "ack": "none", "webhooks": hooks}
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    return d


def env_for(d):
    e = dict(os.environ)
    e["CREDENTIALS_DIRECTORY"] = os.path.join(d, "creds")
    return e


def run(d, lines):
    return subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d, env=env_for(d),
                          input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                          timeout=120)


def outbox(d):
    r = subprocess.run([gavel, "outbox", "--config", "gavel.json"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    return r, [l.split(None, 5) for l in r.stdout.splitlines()[1:]]


def of(path):
    with rx.lock:
        return [q for q in rx.requests if q[0] == path]


MEETING = ["#architecture Discuss keyframes cc @jviotti", "#startmeeting Arch call",
           "#topic Discuss keyframes", "#info we will do it <b>now</b>", "#action hedss to PR it",
           "#endmeeting"]

try:
    # ---- 1 and 2: a meeting, with a SIGKILL while the first POST is held ----
    d = setup("once", [{"url": rx.url("/once")}])
    rx.hold["/once"] = 3.0
    rx.got.clear()
    p = subprocess.Popen([gavel, "--config", "gavel.json", "--shell"], cwd=d, env=env_for(d),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdin.write(MEETING[0] + "\n")
    p.stdin.flush()
    check(rx.got.wait(20), "item.added reaches the receiver", "no request")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=20)
    check(len(of("/once")) == 1, "one request before the kill", of("/once"))
    o, rows = outbox(d)
    check(len(rows) == 1 and rows[0][2] == "webhook" and rows[0][1] == "pending",
          "after the kill the delivery still waits in the outbox", o.stdout + o.stderr)
    r = run(d, MEETING[1:])
    check(r.returncode == 0, "gavel runs the meeting after the restart", r.stderr)
    reqs = of("/once")
    ids = [q[1] for q in reqs]
    check(all(q[4] for q in reqs), "every request is signed right", [q[1] for q in reqs if not q[4]])
    check(len(reqs) == 4 and ids[0] == ids[1] and reqs[0][3] == reqs[1][3],
          "the held delivery comes again with the same id and body", ids)
    events = [q[2] for q in reqs]
    check(events == ["item.added", "item.added", "item.discussed", "minutes.published"],
          "item.added, item.discussed, minutes.published in order", events)
    applied = {k: v for k, v in rx.applied.items() if k in ids}
    check(len(applied) == 3 and len(set(ids)) == 3, "keyed on the id, each is applied once",
          sorted(set(ids)))
    added = next((v for v in applied.values() if v["event"] == "item.added"), {})
    item = added.get("item", {})
    check(item.get("description") == "Discuss keyframes" and item.get("mentions") == ["@jviotti"]
          and item.get("permalink", "").startswith("https://matrix.to/#/") and
          item.get("reporter"), "item.added: description, reporter, mentions, permalink", added)
    disc = next((v for v in applied.values() if v["event"] == "item.discussed"), {})
    check(disc.get("item", {}).get("description") == "Discuss keyframes" and
          disc.get("summary") == "we will do it <b>now</b>\nACTION: hedss to PR it" and
          "notes" in disc and disc.get("meeting", {}).get("name"),
          "item.discussed: the item, its summary, the notes link", disc)
    pub = next((v for v in applied.values() if v["event"] == "minutes.published"), {})
    check(pub.get("meeting", {}).get("date") and
          any(l.get("target") == "archive" and l.get("file", "").endswith(".html")
              for l in pub.get("links", [])),
          "minutes.published: the meeting and the links to its copies", pub)
    check(all(v.get("delivery") == k for k, v in applied.items()),
          "the payload names its delivery id too", list(applied))
    o, rows = outbox(d)
    check(o.returncode == 0 and rows == [], "and the outbox is empty", o.stdout)

    # ---- 3: 500, then 200 ----
    d = setup("retry", [{"url": rx.url("/retry"), "events": ["item.added"],
                         "secret_file": os.path.join(top, "retry", "creds", "webhook-0-secret")}])
    rx.plan["/retry"] = [500, 200]
    r = run(d, ["#architecture Retry me"])
    check(r.returncode == 0 and len(of("/retry")) == 1, "a 500: one request", of("/retry"))
    o, rows = outbox(d)
    check(len(rows) == 1 and rows[0][1] == "pending" and rows[0][3] == "1" and "500" in rows[0][5],
          "pending, one attempt, the status as the reason", o.stdout)
    time.sleep(1.3)                     # the first backoff is 1 s
    r = run(d, ["hello"])
    reqs = of("/retry")
    check(len(reqs) == 2 and reqs[0][1] == reqs[1][1] and all(q[4] for q in reqs),
          "after the backoff: sent again, same id, signed (secret_file)", reqs)
    o, rows = outbox(d)
    check(rows == [], "delivered: the outbox is empty", o.stdout)

    # ---- 4: 400 is parked ----
    d = setup("park", [{"url": rx.url("/park"), "events": ["item.added"]}])
    rx.plan["/park"] = [400]
    r = run(d, ["#architecture Refuse me"])
    check(r.returncode == 0 and "parked" in r.stderr and "400" in r.stderr,
          "a 400 is logged as parked", r.stderr)
    o, rows = outbox(d)
    check(len(rows) == 1 and rows[0][1] == "parked" and rows[0][2] == "webhook" and
          "400" in rows[0][5], "gavel outbox shows it parked with the reason", o.stdout)
    time.sleep(1.3)
    r = run(d, ["hello"])
    check(len(of("/park")) == 1, "a parked delivery is not retried", of("/park"))

    # ---- 5: no secret: parked, never sent unsigned ----
    d = setup("nosecret", [{"url": rx.url("/nosecret"), "events": ["item.added"]}])
    os.remove(os.path.join(d, "creds", "webhook-0-secret"))
    r = run(d, ["#architecture Unsigned?"])
    o, rows = outbox(d)
    check(len(of("/nosecret")) == 0 and len(rows) == 1 and rows[0][1] == "parked" and
          "webhook-0-secret" in rows[0][5], "without a secret nothing is sent; parked", o.stdout)
finally:
    rx.server.shutdown()
    shutil.rmtree(top, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
