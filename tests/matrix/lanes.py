#!/usr/bin/python3
"""tests/matrix/lanes.py - no room wedges the outbox: one lane per room.

    lanes.py --gavel PATH URL

URL is the loopback test homeserver (run this through
tests/interop/run_with_server.py). Room A answers every send of gavel's with
500 for a while; room B's answers must still arrive promptly, and A's once A
recovers, exactly once. In room F gavel may not write (power levels): its reply
is refused with 403 and parked, logged once, listed by `gavel outbox` with its
reason, never retried on its own, and never holds back B; `gavel outbox retry
ID` sends it once more (parked again). Prints one line per check and
"N passed, M failed"; exit 1 on failure.
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scenario import BOT, DOMAIN, Checks, Gavel, api, room_events  # noqa: E402

from nio import AsyncClient, AsyncClientConfig, RegisterResponse, RoomCreateResponse  # noqa: E402

C = Checks()
WAIT = 30
PROMPT_S = 3.0      # B's answer while A fails: well under A's backoff storm


def bot_replies(url, room_id, to=None):
    out = []
    for e in room_events(url, room_id):
        if e["sender"] != BOT or e["type"] != "m.room.message":
            continue
        rel = (e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}
        if to is None or rel.get("event_id") == to:
            out.append(e)
    return out


async def wait_for(cond, timeout=WAIT, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        await asyncio.sleep(step)
    return cond()


def outbox_rows(gavel_bin, workdir, *args):
    r = subprocess.run([gavel_bin, "outbox", "--config", "gavel.json"] + list(args), cwd=workdir,
                       capture_output=True, text=True, timeout=30)
    if args:
        return r
    return r, [l.split(None, 5) for l in r.stdout.splitlines()[1:]]


async def run(url, gavel_bin, workdir):
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
    rooms = {}
    for key in ("A", "B", "F"):
        kw = {}
        if key == "F":      # gavel may join but not write here
            kw["power_level_override"] = {"events_default": 50, "users": {"@alice:" + DOMAIN: 100}}
        r = await alice.room_create(name=key, invite=[BOT], **kw)
        if not isinstance(r, RoomCreateResponse):
            raise RuntimeError("createRoom: %s" % r)
        rooms[key] = r.room_id
    gavel = Gavel(gavel_bin, url, workdir)
    gavel.start()

    def joined():
        for rid in rooms.values():
            st = None
            for e in room_events(url, rid):
                if e["type"] == "m.room.member" and e.get("state_key") == BOT:
                    st = e["content"].get("membership")
            if st != "join":
                return False
        return True

    async def say(key, body):
        r = await alice.room_send(rooms[key], "m.room.message", {"msgtype": "m.text", "body": body})
        if not hasattr(r, "event_id"):
            raise RuntimeError("send: %s" % r)
        return r.event_id

    try:
        if not C.ok(await wait_for(joined), "gavel joins rooms A, B and F", gavel.logtext()[-2000:]):
            return
        qa = urllib.parse.quote(rooms["A"], safe="")
        api(url, "POST", "/_test/faults", [
            {"match": "(?i)^PUT /_matrix/client/v3/rooms/%s/send/" % re.escape(qa),
             "action": "500", "count": -1, "user_id": BOT}])
        ea = await say("A", "!agenda")
        ok = await wait_for(lambda: api(url, "GET", "/_test/faults")["rules"][0]["hits"] >= 2)
        C.ok(ok, "room A's answer fails with 500 and is retried",
             api(url, "GET", "/_test/faults"))
        eb = await say("B", "!agenda")
        t0 = time.time()
        got = await wait_for(lambda: bot_replies(url, rooms["B"], eb))
        took = time.time() - t0
        C.ok(got and took < PROMPT_S,
             "room B's answer arrives promptly while room A fails (%.2f s)" % took,
             gavel.logtext()[-2000:])
        C.ok(not bot_replies(url, rooms["A"]), "room A's answer has not gone out yet")

        ef = await say("F", "!agenda")

        def parked():
            _, rows = outbox_rows(gavel_bin, workdir)
            return [x for x in rows if x[1] == "parked" and x[4] == rooms["F"]]
        rows = await wait_for(parked, step=0.2)
        C.ok(rows and rows[0][2] == "message" and rows[0][3] == "1" and "403" in rows[0][5] and
             "M_FORBIDDEN" in rows[0][5],
             "room F's answer, refused with 403, is parked and listed by gavel outbox with its reason",
             outbox_rows(gavel_bin, workdir)[0].stdout)
        C.ok(gavel.logtext().count("parked") == 1, "the parked row is logged once",
             gavel.logtext()[-2000:])
        eb2 = await say("B", "!agenda")
        t0 = time.time()
        got = await wait_for(lambda: bot_replies(url, rooms["B"], eb2))
        C.ok(got and time.time() - t0 < PROMPT_S, "a parked row never holds back room B")

        api(url, "DELETE", "/_test/faults")
        got = await wait_for(lambda: bot_replies(url, rooms["A"], ea))
        C.ok(got, "once room A recovers its answer arrives", gavel.logtext()[-2000:])
        await asyncio.sleep(1.0)
        C.ok(len(bot_replies(url, rooms["A"])) == 1, "exactly once",
             [e["content"].get("body") for e in bot_replies(url, rooms["A"])])

        await asyncio.sleep(1.5)
        _, rows = outbox_rows(gavel_bin, workdir)
        C.ok(len(rows) == 1 and rows[0][1] == "parked" and rows[0][3] == "1",
             "a parked row is never retried on its own; nothing else waits",
             outbox_rows(gavel_bin, workdir)[0].stdout)
        rid = rows[0][0] if rows else "0"
        r = outbox_rows(gavel_bin, workdir, "retry", rid)
        C.ok(r.returncode == 0, "gavel outbox retry ID", r.stdout + r.stderr)

        def again():
            _, rows = outbox_rows(gavel_bin, workdir)
            return rows and rows[0][1] == "parked" and rows[0][3] == "2"
        C.ok(await wait_for(again, step=0.3),
             "the running gavel sends it once more; refused again, it is parked again",
             outbox_rows(gavel_bin, workdir)[0].stdout)
        C.ok(not bot_replies(url, rooms["F"], ef), "nothing reached room F")

        # One busy room never holds back another: B gets 40 commands at once;
        # its answers are paced by its own token bucket (a burst, then a few a
        # second), all arrive in order, and A's answer meanwhile is prompt.
        n_before = len(bot_replies(url, rooms["B"]))
        t0 = time.time()
        burst = [await say("B", "!agenda") for _ in range(40)]
        ea2 = await say("A", "!agenda")
        got = await wait_for(lambda: bot_replies(url, rooms["A"], ea2))
        C.ok(got and time.time() - t0 < PROMPT_S + 1,
             "room A answers promptly while room B sends 40 answers (%.2f s)" % (time.time() - t0))
        got = await wait_for(lambda: len(bot_replies(url, rooms["B"])) >= n_before + 40)
        took = time.time() - t0
        order = [((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")
                 for e in bot_replies(url, rooms["B"])][n_before:]
        C.ok(got and order == burst, "all 40 answers arrive in room B, in order",
             (len(order), gavel.logtext()[-1500:]))
        C.ok(took >= 1.5, "paced by the room's rate limit (%.2f s for 40)" % took)

        # A minutes file that cannot be written stays pending, is said once in
        # the meeting's room, and is written by the file lane's timer once the
        # archive directory is fixed.
        mdir = os.path.join(workdir, "minutes")
        shutil.rmtree(mdir, ignore_errors=True)
        with open(mdir, "w") as f:
            f.write("a file in the way\n")
        await say("B", "#startmeeting Lanes")
        await say("B", "#info files wait for the archive")
        await say("B", "#endmeeting")

        def said():
            return [e for e in bot_replies(url, rooms["B"])
                    if "could not be written" in e["content"].get("body", "")]
        got = await wait_for(said)
        C.ok(got and "minutes" in got[0]["content"]["body"] and
             "Not a directory" in got[0]["content"]["body"],
             "a failed minutes write is said in the meeting's room, naming the dir and the error",
             [e["content"].get("body") for e in bot_replies(url, rooms["B"])][-3:])
        _, rows = outbox_rows(gavel_bin, workdir)
        C.ok(len([x for x in rows if x[2] == "file" and x[1] == "pending"]) == 5,
             "gavel outbox lists the five files pending", rows)
        await asyncio.sleep(2.5)        # a few retries (backoff_max_ms is 1000)
        C.ok(len(said()) == 1, "said once, however often it is retried", len(said()))
        errs = [l for l in gavel.logtext().splitlines() if "error:" in l and "minutes" in l]
        C.ok(len(errs) == 1 and "not written" in errs[0], "and logged once as an error", errs)
        os.remove(mdir)
        done = await wait_for(lambda: os.path.isdir(mdir) and len(os.listdir(mdir)) == 6)
        C.ok(done, "once the directory is fixed the file lane's timer writes them all",
             os.listdir(mdir) if os.path.isdir(mdir) else "no dir")
        _, rows = outbox_rows(gavel_bin, workdir)
        C.ok(len(rows) == 1 and rows[0][1] == "parked", "and only the parked row is left", rows)
        C.ok(gavel.stop() == 0, "gavel stops cleanly")
        gavel.start()
        eb3 = await say("B", "!agenda")
        C.ok(await wait_for(lambda: bot_replies(url, rooms["B"], eb3)),
             "a restart with a parked row starts and answers", gavel.logtext()[-2000:])
        C.ok(gavel.stop() == 0, "gavel stops cleanly again")
    finally:
        if gavel.alive():
            gavel.stop()
        await alice.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gavel", required=True)
    p.add_argument("--keep", action="store_true")
    p.add_argument("url")
    a = p.parse_args()
    top = tempfile.mkdtemp(prefix="gavel-lanes-")
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
