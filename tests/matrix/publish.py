#!/usr/bin/python3
"""tests/matrix/publish.py - wikis and webhooks from the Matrix client, off
its event loop.

    publish.py --gavel PATH URL

URL is the loopback test homeserver (run this through
tests/interop/run_with_server.py). gavel publishes a meeting to a git wiki
(a bare file:// repository) and POSTs signed webhooks to a local receiver
that holds its first answer for a few seconds: while a worker thread waits
on it, gavel still answers in the room promptly (the loop never blocks).
The git wiki gets the section once; the webhooks arrive, signed, each
delivery id applied once; the minutes message in the room is edited
(m.replace) to carry the wiki's link; `!agenda done` shows the notes link.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import BOT, DOMAIN, Checks, Gavel, api, room_events  # noqa: E402

from nio import AsyncClient, AsyncClientConfig, RegisterResponse, RoomCreateResponse  # noqa: E402

C = Checks()
WAIT = 40
PROMPT_S = 3.0
HOLD_S = 6.0
KEY = b"matrix webhook secret"
PAGE_URL = "https://wiki.example.org/Architecture-Call"


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.hold_first = True
        rx = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                want = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, self.headers.get("X-Gavel-Signature", ""))
                with rx.lock:
                    hold = rx.hold_first
                    rx.hold_first = False
                    rx.requests.append((self.headers.get("X-Gavel-Delivery"), json.loads(body), ok,
                                        time.time()))
                if hold:
                    time.sleep(HOLD_S)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_address[1]


async def wait_for(cond, timeout=WAIT, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        await asyncio.sleep(step)
    return cond()


def bot_messages(url, room_id):
    return [e for e in room_events(url, room_id)
            if e["sender"] == BOT and e["type"] == "m.room.message"]


async def run(url, gavel_bin, workdir):
    rx = Receiver()
    remote = os.path.join(workdir, "wiki.git")
    subprocess.run(["git", "init", "-q", "--bare", remote], check=True)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "hook-secret"), "wb") as f:
        f.write(KEY + b"\n")
    cfg = AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False)
    alice = AsyncClient(url, config=cfg)
    r = await alice.register("alice", "pw-alice")
    if not isinstance(r, RegisterResponse):
        raise RuntimeError("register alice: %s" % r)
    r = api(url, "POST", "/_matrix/client/v3/register",
            {"username": "gavel", "password": "bot-password", "auth": {"type": "m.login.dummy"},
             "inhibit_login": True})
    if "user_id" not in r:
        raise RuntimeError("register gavel: %s" % r)
    r = await alice.room_create(name="P", invite=[BOT])
    if not isinstance(r, RoomCreateResponse):
        raise RuntimeError("createRoom: %s" % r)
    room = r.room_id
    gavel = Gavel(gavel_bin, url, workdir, {
        "ack": "none",
        "wiki": [{"git": "file://" + remote, "page": "Architecture-Call.md", "url": PAGE_URL}],
        "webhooks": [{"url": rx.url(), "secret_file": "hook-secret"}],
    })
    gavel.start()

    async def say(body):
        r = await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body})
        if not hasattr(r, "event_id"):
            raise RuntimeError("send: %s" % r)
        return r.event_id

    def joined():
        st = None
        for e in room_events(url, room):
            if e["type"] == "m.room.member" and e.get("state_key") == BOT:
                st = e["content"].get("membership")
        return st == "join"

    try:
        if not C.ok(await wait_for(joined), "gavel joins the room", gavel.logtext()[-2000:]):
            return
        await say("#architecture Discuss keyframes cc @jviotti")
        got = await wait_for(lambda: rx.requests)
        C.ok(got, "item.added reaches the receiver (held for %.0f s)" % HOLD_S,
             gavel.logtext()[-2000:])
        t0 = time.time()
        n0 = len(bot_messages(url, room))
        await say("!agenda")
        got = await wait_for(lambda: len(bot_messages(url, room)) > n0)
        took = time.time() - t0
        C.ok(got and took < PROMPT_S and time.time() - rx.requests[0][3] < HOLD_S,
             "gavel answers promptly while a webhook POST is held (%.2f s)" % took)
        for line in ["#startmeeting Arch call", "#topic Discuss keyframes",
                     "#info keyframes <b>every</b> 2 s", "#endmeeting"]:
            await say(line)

        def published():
            r = subprocess.run(["git", "--git-dir", remote, "show", "HEAD:Architecture-Call.md"],
                               capture_output=True, text=True)
            return r.stdout if r.returncode == 0 else None
        page = await wait_for(published)
        C.ok(page and page.count("<!-- gavel:meeting:1:wiki:0 -->") == 1 and
             "**Discuss keyframes**" in page and "keyframes \\<b\\>every\\</b\\> 2 s" in page,
             "the git wiki has the meeting's section once, escaped", page)
        events = await wait_for(lambda: len(rx.requests) >= 3 and [q[1]["event"] for q in rx.requests])
        C.ok(events == ["item.added", "item.discussed", "minutes.published"],
             "the webhooks arrive in order", events)
        C.ok(all(q[2] for q in rx.requests) and len({q[0] for q in rx.requests}) == 3,
             "every webhook signed, one delivery id each", [(q[0], q[2]) for q in rx.requests])
        pub = rx.requests[-1][1] if rx.requests else {}
        C.ok(any(l.get("url") == PAGE_URL for l in pub.get("links", [])),
             "minutes.published links the wiki page", pub)
        disc = rx.requests[1][1] if len(rx.requests) > 1 else {}
        C.ok(disc.get("notes") == PAGE_URL, "item.discussed carries the notes link", disc)

        def edited():
            for e in bot_messages(url, room):
                rel = e["content"].get("m.relates_to") or {}
                if rel.get("rel_type") == "m.replace":
                    return e
            return None
        edit = await wait_for(edited)
        orig = None
        for e in bot_messages(url, room):
            if edit and e["event_id"] == edit["content"]["m.relates_to"]["event_id"]:
                orig = e
        C.ok(edit and orig and "Meeting summary" in orig["content"].get("body", "") and
             PAGE_URL in edit["content"]["m.new_content"]["body"] and
             edit["content"]["body"].startswith("* "),
             "the minutes message is edited (m.replace) to carry the wiki link",
             edit and edit["content"])
        n0 = len(bot_messages(url, room))
        await say("!agenda done")
        got = await wait_for(lambda: [e for e in bot_messages(url, room)[n0:]
                                      if "Done on the" in e["content"].get("body", "")])
        C.ok(got and PAGE_URL in got[0]["content"]["body"], "!agenda done shows the notes link",
             got and got[0]["content"]["body"])
        r = subprocess.run([gavel_bin, "outbox", "--config", "gavel.json"], cwd=workdir,
                           capture_output=True, text=True, timeout=30)
        C.ok(r.returncode == 0 and len(r.stdout.splitlines()) == 1, "nothing is left waiting",
             r.stdout)
        C.ok(gavel.stop() == 0, "gavel stops cleanly")
        r = subprocess.run(["git", "--git-dir", remote, "log", "--oneline"], capture_output=True,
                           text=True)
        C.ok(len(r.stdout.splitlines()) == 1, "one commit on the wiki", r.stdout)
    finally:
        if gavel.alive():
            gavel.stop()
        rx.server.shutdown()
        await alice.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gavel", required=True)
    p.add_argument("--keep", action="store_true")
    p.add_argument("url")
    a = p.parse_args()
    top = tempfile.mkdtemp(prefix="gavel-publish-")
    try:
        asyncio.run(asyncio.wait_for(run(a.url, os.path.abspath(a.gavel), top), timeout=240))
    except asyncio.TimeoutError:
        C.ok(False, "finished within 240 s")
    finally:
        if a.keep or C.failed:
            print("# kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    print("%d passed, %d failed" % (C.passed, C.failed))
    sys.exit(1 if C.failed else 0)


if __name__ == "__main__":
    main()
