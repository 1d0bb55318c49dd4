#!/usr/bin/env python3
"""tests/matrix/manyrooms.py - gavel in more rooms than it keeps cached.

    manyrooms.py --gavel PATH --homeserver tests/homeserver/homeserver.py

bridge/matrix_rooms.c keeps the 256 most recently used rooms cached between
sync batches; the store has the rest. Standard library only:
  - 300 rooms made at once by the test homeserver (POST /_test/bulk_rooms),
    alice (their creator, power level 100), bob (power level 0) and gavel
    joined to each; gavel starts with a new database and takes them all in
    its initial sync (the trace, log_level "debug", names 300 rooms), its
    rooms parsed and applied in slices of 256 (no tree of the whole answer);
  - alice may pin an agenda item in every one of the 300 rooms: a chair by
    her power level alone, read back from the store for the rooms the cache
    dropped after the initial sync (without it she would be refused there);
  - bob, power level 0, is refused in the first and the last room.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup import Gavel, Homeserver, api, check, register, room_events  # noqa: E402

import startup  # noqa: E402

N_ROOMS = 300
BOT = "@gavel:localhost"


def send(url, token, room, txn, body):
    return api(url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/%s" %
               (urllib.parse.quote(room, safe=""), txn), {"msgtype": "m.text", "body": body},
               token).get("event_id")


def reply_to(url, room, event_id):
    for e in room_events(url, room):
        rel = (e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}
        if e["sender"] == BOT and rel.get("event_id") == event_id:
            return e["content"].get("body") or ""
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--homeserver", required=True)
    a = ap.parse_args()
    top = tempfile.mkdtemp(prefix="gavel-manyrooms-")
    hs = g = None
    try:
        hs = Homeserver(a.homeserver)
        alice = register(hs.url, "alice", "pw")["access_token"]
        bob = register(hs.url, "bob", "pw")["access_token"]
        register(hs.url, "gavel", "bot-pw")
        rooms = api(hs.url, "POST", "/_test/bulk_rooms",
                    {"count": N_ROOMS, "creator": "@alice:localhost",
                     "join": [BOT, "@bob:localhost"], "name": "many"}).get("rooms") or []
        check(len(rooms) == N_ROOMS, "the test homeserver makes %d rooms at once" % N_ROOMS,
              len(rooms))
        pw = os.path.join(top, "pw")
        with open(pw, "w") as f:
            f.write("bot-pw\n")
        g = Gavel(os.path.abspath(a.gavel), os.path.join(top, "g"), {
            "homeserver": hs.url, "user_id": BOT, "password_file": pw,
            "log_level": "debug", "room_send_per_s": 1000})
        check(g.wait_log("first sync batch applied", 120),
              "gavel starts in all of them", g.text()[-2000:])
        first = re.search(r"trace: sync batch: (\d+) rooms", g.text())
        check(first is not None and int(first.group(1)) >= N_ROOMS,
              "its initial sync batch holds every room", first.group(0) if first else g.text()[-2000:])
        sliced = re.search(r"initial sync of (\d+) joined rooms \(\d+ bytes\): applied (\d+) at a time",
                           g.text())
        check(sliced is not None and int(sliced.group(1)) >= N_ROOMS and
              int(sliced.group(2)) < N_ROOMS,
              "its rooms are parsed and applied in slices (bridge/matrix_sync.c)",
              sliced.group(0) if sliced else g.text()[-2000:])
        tag = send(hs.url, alice, rooms[0], "tag", "#architecture many rooms, one agenda")
        check(startup.wait_for(lambda: any(e["sender"] == BOT for e in room_events(hs.url, rooms[0])
                                           if e["type"] == "m.reaction"), 30),
              "alice's tag is acknowledged", tag)
        asked = {}
        for i, room in enumerate(rooms):
            asked[room] = send(hs.url, alice, room, "pin%d" % i, "!agenda pin 1")
        refused = {room: send(hs.url, bob, room, "bob%d" % i, "!agenda pin 1")
                   for i, room in ((0, rooms[0]), (N_ROOMS - 1, rooms[-1]))}
        answers = {}
        deadline = time.time() + 240
        while time.time() < deadline and len(answers) < len(asked):
            for room, eid in asked.items():
                if room not in answers:
                    body = reply_to(hs.url, room, eid)
                    if body is not None:
                        answers[room] = body
            if len(answers) < len(asked):
                time.sleep(0.5)
        check(len(answers) == N_ROOMS, "gavel answers alice in all %d rooms" % N_ROOMS,
              "%d answered" % len(answers))
        denied = [r for r, body in answers.items() if body.startswith("Only chairs")]
        check(not denied, "alice (power level 100) is a chair in every room, cached or not",
              "refused in %d rooms: %s" % (len(denied), answers.get(denied[0]) if denied else ""))
        for room, eid in refused.items():
            body = None
            deadline = time.time() + 30
            while body is None and time.time() < deadline:
                body = reply_to(hs.url, room, eid)
                if body is None:
                    time.sleep(0.2)
            check(body is not None and body.startswith("Only chairs"),
                  "bob (power level 0) is refused", body)
        # the sender's lanes are the rooms being written to, not every room
        # ever written to: idle ones are dropped (bridge/matrix_send.c)
        send(hs.url, alice, rooms[0], "later", "a later message")

        def lanes():
            found = re.findall(r"sender: (\d+) idle lanes dropped, (\d+) left", g.text())
            return sum(int(d) for d, _ in found), (int(found[-1][1]) if found else None)

        check(startup.wait_for(lambda: lanes()[0] >= N_ROOMS and lanes()[1] is not None and
                               lanes()[1] <= 2, 30),
              "the lanes of the %d rooms answered are dropped once idle" % N_ROOMS,
              "dropped, left: %r" % (lanes(),))
        check(g.stop() == 0, "gavel stops cleanly on SIGTERM")
        g = None
    finally:
        if g:
            g.stop()
        if hs:
            hs.stop()
        shutil.rmtree(top, ignore_errors=True)
    print("%d passed, %d failed" % (startup.passed, startup.failed))
    return 1 if startup.failed else 0


if __name__ == "__main__":
    sys.exit(main())
