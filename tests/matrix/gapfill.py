#!/usr/bin/env python3
"""tests/matrix/gapfill.py - messages that arrive while gavel is down.

    gapfill.py --gavel PATH --homeserver tests/homeserver/homeserver.py

Standard library only; starts its own homeserver on 127.0.0.1 and stops it.
  - 1,250 tagged messages sent while gavel is stopped (more than 12 pages of
    /messages behind a limited /sync timeline), with the first /messages
    requests failing (500, a dropped connection): after the restart every one
    of them is handled (acknowledged with a reaction), none twice, no notice;
  - with "gap_fill_max_events": 200 and 500 messages missed, the newest 250
    (the /sync timeline's 50 and the gap's 200) are handled, the 250 older
    ones are not, and exactly one m.notice in the room says 250 events were
    skipped - also after another restart.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import startup as S  # noqa: E402  (its helpers: Homeserver, Gavel, api, check, ...)

BOT = "@gavel:localhost"


def q(room):
    return urllib.parse.quote(room, safe="")


def send_many(url, token, room, n, prefix):
    ids = []
    for k in range(n):
        r = S.api(url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/%s-%d" %
                  (q(room), prefix, k),
                  {"msgtype": "m.text", "body": "#architecture %s item %d" % (prefix, k)}, token)
        ids.append(r["event_id"])
    return ids


def reacted(url, room):
    """event ID -> number of gavel's reactions to it"""
    out = {}
    for e in S.room_events(url, room):
        if e["sender"] == BOT and e["type"] == "m.reaction":
            rel = e["content"].get("m.relates_to", {})
            out[rel.get("event_id")] = out.get(rel.get("event_id"), 0) + 1
    return out


def notices(url, room):
    return [e["content"].get("body", "") for e in S.room_events(url, room)
            if e["sender"] == BOT and e["type"] == "m.room.message" and
            "did not handle" in e["content"].get("body", "")]


def start_bot(binary, workdir, hs, pw, extra=None):
    cfg = {"homeserver": hs.url, "user_id": BOT, "password_file": pw,
           "allow_invites_from": [":localhost"]}
    cfg.update(extra or {})
    return S.Gavel(binary, workdir, cfg)


def ready(hs, g, alice, room, word):
    """gavel is in the room and has synced past `word`: it answered !agenda."""
    if not S.wait_for(lambda: S.joined(hs.url, room), 30):
        return False
    S.api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/%s" % (q(room), word),
          {"msgtype": "m.text", "body": "!agenda"}, alice)

    def answered():
        evs = S.room_events(hs.url, room)
        seen = False
        for e in evs:
            if e.get("unsigned", {}).get("transaction_id") == word:
                seen = True
            elif seen and e["sender"] == BOT and e["type"] == "m.room.message":
                return True
        return False
    return S.wait_for(answered, 30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--homeserver", required=True)
    a = ap.parse_args()
    binary = os.path.abspath(a.gavel)
    top = tempfile.mkdtemp(prefix="gavel-gapfill-")
    hs = None
    bots = []
    try:
        hs = S.Homeserver(a.homeserver)
        alice = S.register(hs.url, "alice", "pw")["access_token"]
        S.register(hs.url, "gavel", "bot-pw")
        pw = os.path.join(top, "pw")
        with open(pw, "w") as f:
            f.write("bot-pw\n")

        # 1. more than ten pages missed, and /messages failing at first
        room = S.api(hs.url, "POST", "/_matrix/client/v3/createRoom", {"name": "gap"},
                     alice)["room_id"]
        S.api(hs.url, "POST", "/_matrix/client/v3/rooms/%s/invite" % q(room),
              {"user_id": BOT}, alice)
        wd = os.path.join(top, "full")
        g = start_bot(binary, wd, hs, pw)
        bots.append(g)
        if not S.check(ready(hs, g, alice, room, "ready1"), "gavel joins and answers", g.text()):
            return
        S.check(g.stop() == 0, "gavel stops on SIGTERM", g.text()[-500:])
        # in the gap: a power level change between two #topic by carol; the
        # limited sync's state already holds it, but it counts only after it
        carol = S.register(hs.url, "carol", "pw")["access_token"]
        S.api(hs.url, "POST", "/_matrix/client/v3/rooms/%s/invite" % q(room),
              {"user_id": "@carol:localhost"}, alice)
        S.api(hs.url, "POST", "/_matrix/client/v3/rooms/%s/join" % q(room), {}, carol)
        say = [(alice, "#startmeeting Gap call"), (carol, "#topic said before power 50")]
        for k, (who, body) in enumerate(say):
            S.api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/say%d" %
                  (q(room), k), {"msgtype": "m.text", "body": body}, who)
        pl = S.api(hs.url, "GET", "/_matrix/client/v3/rooms/%s/state/m.room.power_levels" % q(room),
                   None, alice)
        pl.setdefault("users", {})["@carol:localhost"] = 50
        S.api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/state/m.room.power_levels" % q(room),
              pl, alice)
        S.api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/say2" % q(room),
              {"msgtype": "m.text", "body": "#topic said after power 50"}, carol)
        missed = send_many(hs.url, alice, room, 1250, "away")
        S.api(hs.url, "POST", "/_test/faults", [
            {"match": "^GET .*/messages", "action": "500", "count": 2},
            {"match": "^GET .*/messages", "action": "drop", "count": 1}])
        g = start_bot(binary, wd, hs, pw)
        bots.append(g)
        S.wait_for(lambda: len(set(reacted(hs.url, room)) & set(missed)) == len(missed), 180)
        got = reacted(hs.url, room)
        handled = [e for e in missed if e in got]
        S.check(len(handled) == len(missed),
                "all 1,250 messages sent while gavel was down are handled",
                "%d of %d handled; the first unhandled is #%s" % (
                    len(handled), len(missed),
                    next((i for i, e in enumerate(missed) if e not in got), None)))
        S.check(all(got[e] == 1 for e in handled), "none of them twice",
                [e for e in handled if got[e] != 1][:5])
        faults = S.api(hs.url, "GET", "/_test/faults")
        hits = sum(r.get("hits", 0) for r in (faults if isinstance(faults, list)
                                              else faults.get("rules", [])))
        S.check(hits == 3 and "retrying" in g.text(),
                "failed /messages pages are retried with backoff", "hits %s: %s" % (
                    hits, g.text()[-1500:]))
        S.check(notices(hs.url, room) == [], "no notice when nothing was skipped",
                notices(hs.url, room))
        said = [e["content"].get("body", "") for e in S.room_events(hs.url, room)
                if e["sender"] == BOT and e["type"] == "m.room.message"]
        S.check(any("said after power 50" in b for b in said) and
                not any(b.startswith("Topic: said before power 50") for b in said),
                "a power level change in the gap counts from where it happened, not before",
                said[:8])
        S.api(hs.url, "DELETE", "/_test/faults")
        S.check(g.stop() == 0, "gavel stops on SIGTERM again", g.text()[-500:])

        # 2. a small horizon: one notice, with the number skipped
        room2 = S.api(hs.url, "POST", "/_matrix/client/v3/createRoom", {"name": "horizon"},
                      alice)["room_id"]
        S.api(hs.url, "POST", "/_matrix/client/v3/rooms/%s/invite" % q(room2),
              {"user_id": BOT}, alice)
        wd = os.path.join(top, "horizon")
        small = {"gap_fill_max_events": 200}
        g = start_bot(binary, wd, hs, pw, small)
        bots.append(g)
        if not S.check(ready(hs, g, alice, room2, "ready2"), "gavel joins a second room",
                       g.text()):
            return
        g.stop()
        missed = send_many(hs.url, alice, room2, 500, "long")
        g = start_bot(binary, wd, hs, pw, small)
        bots.append(g)
        S.wait_for(lambda: notices(hs.url, room2) and
                   len(set(reacted(hs.url, room2)) & set(missed)) >= 250, 120)
        time.sleep(1.0)
        got = reacted(hs.url, room2)
        S.check(all(e in got for e in missed[250:]) and not any(e in got for e in missed[:250]),
                "beyond gap_fill_max_events: the newest 250 are handled, the older 250 not",
                "handled %d of the newest, %d of the oldest" % (
                    sum(e in got for e in missed[250:]), sum(e in got for e in missed[:250])))
        n = notices(hs.url, room2)
        S.check(len(n) == 1 and "250 earlier events" in n[0] and "200" in n[0],
                "exactly one notice says how many events were skipped", n)
        ev = [e for e in S.room_events(hs.url, room2) if e["sender"] == BOT and
              e["type"] == "m.room.message" and "did not handle" in e["content"].get("body", "")]
        S.check(ev and ev[0]["content"].get("msgtype") == "m.notice", "it is an m.notice", ev[:1])
        S.check(notices(hs.url, room) == [], "no notice in the other room",
                notices(hs.url, room))
        g.stop()
        g = start_bot(binary, wd, hs, pw, small)
        bots.append(g)
        S.check(ready(hs, g, alice, room2, "ready3"), "gavel restarts and answers", g.text())
        S.check(len(notices(hs.url, room2)) == 1, "still one notice after another restart",
                notices(hs.url, room2))
        g.stop()
    finally:
        for b in bots:
            if b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait()
        if hs:
            hs.stop()
        if S.failed:
            print("# kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    print("%d passed, %d failed" % (S.passed, S.failed))
    sys.exit(1 if S.failed else 0)


if __name__ == "__main__":
    main()
