#!/usr/bin/python3
"""tests/matrix/e2ee_hostile.py - gavel's E2EE edges: no pickle key, a key that comes late,
replays, forgeries and garbage.

    e2ee_hostile.py --gavel PATH URL

URL is the loopback test homeserver (run through tests/interop/run_with_server.py).
alice and bob are matrix-nio clients with libolm; the hostile events are sent by
alice's account through the plain client-server API.

  - gavel without a pickle key (and no encryption state) joins an encrypted room,
    says in its log that it cannot read it, and keeps running;
  - restarted with a pickle_key_file: the same device, keys published, tags work;
  - a message whose room key is withheld from gavel waits (its key is asked for) and
    is handled when alice shares the key later;
  - a genuine encrypted event sent again under a new event ID (a replayed message
    index), ciphertext that is garbage, unknown sessions and algorithms, a forged
    sender key, to-device garbage, an unencrypted m.room_key: logged, no crash, no
    item doubled or invented, every genuine event handled;
  - gavel with encryption state and no pickle key refuses to start, saying why.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "homeserver"))

from e2ee import ROOM_ENC, Abort, Person, must   # noqa: E402
from scenario import BOT, C, Gavel, api, room_events   # noqa: E402

WAIT = 30


async def until(gavel, pred, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            C.ok(True, what)
            return
        if gavel is not None and not gavel.alive():
            must(False, what + " (gavel exited)", gavel.logtext()[-3000:])
        await asyncio.sleep(0.1)
    must(False, what + " (timed out)", gavel.logtext()[-3000:] if gavel else "")


def bot_keys(url, token):
    q = api(url, "POST", "/_matrix/client/v3/keys/query", {"device_keys": {BOT: []}}, token=token)
    return q.get("device_keys", {}).get(BOT) or {}


def membership(url, room, user):
    state = None
    for e in room_events(url, room):
        if e["type"] == "m.room.member" and e.get("state_key") == user:
            state = e["content"].get("membership")
    return state


def put_event(url, token, room, etype, content):
    q = urllib_quote(room)
    return api(url, "PUT", "/_matrix/client/v3/rooms/%s/send/%s/%s" % (q, etype, uuid.uuid4().hex),
               content, token=token)


def urllib_quote(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


def agenda_replies(person, room):
    return [e["content"].get("body") or "" for e in person.bot_events(room).values()
            if e["type"] == "m.room.message" and "Discuss keyframes" in (e["content"].get("body") or "")]


async def run(url, gavel_bin, tmp):
    alice = Person(url, "alice", tmp)
    bob = Person(url, "bob", tmp)
    gavel = None
    try:
        await alice.register()
        await bob.register()
        r = api(url, "POST", "/_matrix/client/v3/register",
                {"username": "gavel", "password": "bot-password", "auth": {"type": "m.login.dummy"},
                 "inhibit_login": True})
        must("user_id" in r, "gavel's account is registered", r)
        r = await alice.client.room_create(name="hostile", invite=[bob.user_id, BOT],
                                           initial_state=[ROOM_ENC])
        room = r.room_id
        await bob.client.join(room)
        work = os.path.join(tmp, "gavel")

        # 1. no pickle key, no state: plain start, encrypted room reported
        gavel = Gavel(gavel_bin, url, work, {"allow_invites_from": [alice.user_id]})
        gavel.start()
        await until(gavel, lambda: membership(url, room, BOT) == "join",
                    "without a pickle key gavel starts and joins the encrypted room")
        await alice.send(room, "#architecture Unreadable without a key")
        await until(gavel, lambda: "encrypted messages are not read: no pickle key" in gavel.logtext(),
                    "without a pickle key: the log says the room's messages cannot be read")
        C.ok(gavel.alive() and not bot_keys(url, alice.client.access_token),
             "without a pickle key: still running, no device keys published")
        status = gavel.stop()
        C.ok(status == 0, "without a pickle key: stops cleanly", status)

        # 2. with a pickle key
        with open(os.path.join(work, "pickle_key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        gavel.cfg["pickle_key_file"] = "pickle_key"
        gavel.write_config()
        gavel.start()
        await until(gavel, lambda: bot_keys(url, alice.client.access_token),
                    "with a pickle key: device keys published")
        (did, dk), = bot_keys(url, alice.client.access_token).items()
        curve = dk["keys"]["curve25519:" + did]
        await alice.send(room, "#architecture Discuss keyframes")
        await until(gavel, lambda: any(e["type"] == "m.reaction" for e in alice.bot_events(room).values()),
                    "a tag is acknowledged (encrypted reaction)")

        # 3. a key that comes late
        await until(None, lambda: BOT in alice.client.device_store.users and
                    did in alice.client.device_store[BOT], "alice knows gavel's device")
        dev = alice.client.device_store[BOT][did]
        olm_m = alice.client.olm
        async with alice.lock:
            alice.client.blacklist_device(dev)      # the next session is not shared with gavel
            olm_m.create_outbound_group_session(room)
            sess = olm_m.outbound_group_sessions[room]
            key0 = {"algorithm": "m.megolm.v1.aes-sha2", "room_id": room, "session_id": sess.id,
                    "session_key": sess.session_key}   # at index 0, before the message
        late = await alice.send(room, "#architecture Late key item")
        await until(gavel, lambda: "no key yet for %s" % late in gavel.logtext(),
                    "a message without its key waits (logged, key asked for)")
        await asyncio.sleep(1.0)
        C.ok(not any(e["type"] == "m.reaction" and
                     (e["content"].get("m.relates_to") or {}).get("event_id") == late
                     for e in alice.bot_events(room).values()),
             "... and is not handled before its key arrives")
        async with alice.lock:
            alice.client.unblacklist_device(dev)
            olm_dict = olm_m._olm_encrypt(olm_m.session_store.get(dev.curve25519), dev,
                                          "m.room_key", key0)
        r = api(url, "PUT", "/_matrix/client/v3/sendToDevice/m.room.encrypted/%s" % uuid.uuid4().hex,
                {"messages": {BOT: {did: olm_dict}}}, token=alice.client.access_token)
        must(r == {}, "alice sends gavel the key late", r)
        await until(gavel, lambda: any(
            e["type"] == "m.reaction" and (e["content"].get("m.relates_to") or {}).get("event_id") == late
            for e in alice.bot_events(room).values()),
            "when the key arrives the waiting message is handled (its tag acknowledged)")

        # 4. replays, forgeries, garbage
        genuine_id = await alice.send(room, "#architecture Replay me")
        await until(gavel, lambda: any(
            e["type"] == "m.reaction" and (e["content"].get("m.relates_to") or {}).get("event_id") == genuine_id
            for e in alice.bot_events(room).values()), "a genuine tag is acknowledged")
        genuine = next(e for e in room_events(url, room) if e["event_id"] == genuine_id)
        content = genuine["content"]
        tok = alice.client.access_token
        hostile = [
            ("a replayed message index under a new event ID", dict(content)),
            ("ciphertext that is garbage", dict(content, ciphertext="AAAA" + content["ciphertext"][8:])),
            ("ciphertext that is not base64", dict(content, ciphertext="!!!not base64!!!")),
            ("an unknown session", dict(content, session_id="A" * 43)),
            ("an unknown algorithm", dict(content, algorithm="m.rot13")),
            ("a forged sender key (gavel's own)", dict(content, sender_key=curve)),
            ("no ciphertext", {"algorithm": "m.megolm.v1.aes-sha2"}),
            ("numbers for strings", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": 7,
                                     "session_id": [], "sender_key": {}}),
        ]
        for what, c in hostile:
            r = put_event(url, tok, room, "m.room.encrypted", c)
            must("event_id" in r, "sent: " + what, r)
        # to-device garbage
        alice_dev = alice.client.device_id
        alice_curve = alice.client.olm.account.identity_keys["curve25519"]
        td = [
            ("m.room.encrypted", {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": alice_curve,
                                  "ciphertext": {curve: {"type": 0, "body": "Z2FyYmFnZQ"}}}),
            ("m.room.encrypted", {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": alice_curve,
                                  "ciphertext": {"someone-else": {"type": 1, "body": "Z2FyYmFnZQ"}}}),
            ("m.room.encrypted", {"algorithm": "m.olm.v1.curve25519-aes-sha2", "ciphertext": "x"}),
            ("m.room_key", {"algorithm": "m.megolm.v1.aes-sha2", "room_id": room,
                            "session_id": "B" * 43, "session_key": "AgAAAAA"}),
        ]
        for etype, c in td:
            r = api(url, "PUT", "/_matrix/client/v3/sendToDevice/%s/%s" % (etype, uuid.uuid4().hex),
                    {"messages": {BOT: {did: c}}}, token=tok)
            must(r == {}, "sent to gavel's device: a hostile %s" % etype, r)
        await asyncio.sleep(1.0)
        q = await bob.send(room, "!agenda")
        await until(gavel, lambda: any(
            ((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id") == q
            for e in bob.bot_events(room).values()), "after all that, !agenda is answered")
        reply = next(e["content"].get("body") or "" for e in bob.bot_events(room).values()
                     if ((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {})
                     .get("event_id") == q)
        for item in ("Discuss keyframes", "Late key item", "Replay me"):
            C.ok(reply.count(item) == 1, "the agenda holds %r once" % item, reply)
        C.ok("Unreadable without a key" not in reply,
             "the message gavel could not read without a key is not invented", reply)
        log = gavel.logtext()
        C.ok("not decrypted" in log and "not taken" in log,
             "hostile room and to-device events are logged", log[-2000:])
        C.ok(gavel.alive(), "gavel is still running")
        for secret in (open(os.path.join(work, "pickle_key")).read().strip(), "Late key item",
                       "Replay me"):
            C.ok(secret not in log, "the log holds no pickle key or plaintext (%s...)" % secret[:4])
        status = gavel.stop()
        C.ok(status == 0, "stops cleanly", status)

        # 5. state, and no key: a clear start-up error
        gavel.cfg.pop("pickle_key_file")
        gavel.write_config()
        gavel.start()
        end = time.monotonic() + 10
        while gavel.alive() and time.monotonic() < end:
            await asyncio.sleep(0.1)
        C.ok(not gavel.alive() and gavel.proc.returncode == 2 and
             "no pickle key" in gavel.logtext(),
             "with encryption state and no pickle key gavel refuses to start, saying why",
             gavel.logtext()[-500:])
    except Abort as e:
        print("# stopped: %s" % e)
    finally:
        if gavel and gavel.alive():
            gavel.kill()
        await alice.close()
        await bob.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("url")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gavel-e2ee-hostile-")
    print("# work dir %s" % tmp)
    try:
        await run(a.url, os.path.abspath(a.gavel), tmp)
    except Exception as e:
        import traceback
        traceback.print_exc(file=sys.stdout)
        C.ok(False, "the scenario runs without an unexpected error", "%s: %s" % (type(e).__name__, e))
    if a.keep or C.failed:
        print("# kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=300))
    except asyncio.TimeoutError:
        C.ok(False, "finished within 300 s")
    print("%d passed, %d failed" % (C.passed, C.failed))
    sys.exit(1 if C.failed else 0)
