#!/usr/bin/python3
"""tests/matrix/e2ee.py - gavel in an encrypted room, read by clients with their own crypto.

    e2ee.py --gavel PATH [--no-js] [--plain] [--keep] URL

URL is the loopback test homeserver (run this through
tests/interop/run_with_server.py, which starts and stops it).  People: alice,
bob and carol are matrix-nio clients with libolm (Debian's python3-matrix-nio
and python3-olm); jo is matrix-js-sdk 37.5.0 with its Rust crypto (vodozemac,
tests/interop/js-peer.mjs), cross-signed and sending only to devices their
owner signed (OnlySignedDevicesIsolationMode), as Element's "exclude insecure
devices" does.  gavel is the real binary, configured with a pickle_key_file.

In one Megolm room (m.room.encryption in the initial state):
  - gavel publishes device keys and is cross-signed: its device key carries a
    signature by its self-signing key, which its master key signed;
  - tags are acknowledged, !agenda answered, a meeting is run (#startmeeting,
    #topic, #info, #action, #endmeeting) and every bot reply and the minutes
    are decrypted by every client; the server sees only m.room.encrypted;
  - jo's #info (withheld from devices that are not cross-signed) is in the minutes;
  - gavel is SIGKILLed mid-meeting and restarted: same device, it carries on,
    no reply is doubled;
  - gavel rotates its session after the room's rotation_period_msgs (4);
  - carol leaves; gavel's next message uses a new Megolm session she cannot
    decrypt.

Until gavel speaks Megolm this test fails, quickly and saying why.
--plain runs the same script in an unencrypted room without the E2EE checks,
to check this harness against any gavel.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "homeserver"))

try:
    from nio import (AsyncClient, AsyncClientConfig, Event, MegolmEvent, RegisterResponse,
                     RoomCreateResponse, RoomSendResponse, SyncResponse)
    from nio.crypto import ENCRYPTION_ENABLED
    from nio.exceptions import EncryptionError
except ImportError:
    print("FAIL: python3-matrix-nio is not installed (apt-get install python3-matrix-nio python3-olm)")
    sys.exit(1)

import homeserver as hsmod                     # noqa: E402  (Ed25519 checks of gavel's keys)
import jspeer                                  # noqa: E402
from scenario import BOT, C, Gavel, api, room_events   # noqa: E402

WAIT = 30            # seconds for anything gavel should do
FIRST_KEYS = 20      # seconds for gavel to publish its device keys after it joined
ROTATE_MSGS = 4      # the room's rotation_period_msgs: gavel sends more than that
ROOM_ENC = {"type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": ROTATE_MSGS}}


class Abort(Exception):
    """A check failed that the rest of the test depends on."""


def must(cond, what, detail=""):
    if not C.ok(cond, what, detail):
        raise Abort(what)


class Person:
    """A nio client with libolm that syncs in the background and records every
    room event it can decrypt, retrying the ones whose key comes later."""

    def __init__(self, url, name, tmp):
        store = os.path.join(tmp, "nio-" + name)
        os.makedirs(store)
        self.name = name
        self.client = AsyncClient(url, store_path=store, config=AsyncClientConfig(
            encryption_enabled=True, store_sync_tokens=False))
        self.events = {}         # event_id -> {"type", "content", "sender", "decrypted", "session_id"}
        self.undecrypted = {}    # event_id -> MegolmEvent
        self.lock = asyncio.Lock()
        self.task = None
        self.error = None

    @property
    def user_id(self):
        return self.client.user_id

    async def register(self):
        r = await self.client.register(self.name, "pw-" + self.name, "e2ee " + self.name)
        if not isinstance(r, RegisterResponse):
            raise RuntimeError("register %s: %s" % (self.name, r))
        self.client.add_event_callback(self._on_event, Event)
        await self._housekeeping()
        r = await self.client.sync(timeout=0, full_state=True)
        if not isinstance(r, SyncResponse):
            raise RuntimeError("%s: first sync: %s" % (self.name, r))
        self.task = asyncio.create_task(self._loop())

    def _record(self, ev, room_id):
        src = ev.source or {}
        self.events[ev.event_id] = {
            "type": src.get("type"), "content": src.get("content") or {}, "sender": ev.sender,
            "decrypted": bool(getattr(ev, "decrypted", False)),
            "session_id": getattr(ev, "session_id", None), "room_id": room_id}

    async def _on_event(self, room, ev):
        if isinstance(ev, MegolmEvent):
            ev.room_id = room.room_id
            self.undecrypted[ev.event_id] = ev
        else:
            self._record(ev, room.room_id)

    async def _housekeeping(self):
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        await c.send_to_device_messages()

    def _retry(self):
        for eid, ev in list(self.undecrypted.items()):
            try:
                dec = self.client.decrypt_event(ev)
            except EncryptionError:
                continue
            if isinstance(dec, Event) and not isinstance(dec, MegolmEvent):
                del self.undecrypted[eid]
                self._record(dec, ev.room_id)

    async def _loop(self):
        try:
            while True:
                async with self.lock:
                    await self._housekeeping()
                    r = await self.client.sync(timeout=300, since=self.client.next_batch)
                    if not isinstance(r, SyncResponse):
                        await asyncio.sleep(0.2)
                        continue
                    await self._housekeeping()
                    self._retry()
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass
        except Exception as e:      # shown by the checks that depend on this person
            self.error = "%s: %s" % (type(e).__name__, e)

    async def send(self, room_id, body, msgtype="m.text"):
        async with self.lock:
            r = await self.client.room_send(room_id, "m.room.message",
                                            {"msgtype": msgtype, "body": body},
                                            ignore_unverified_devices=True)
        if not isinstance(r, RoomSendResponse):
            raise RuntimeError("%s: send: %s" % (self.name, r))
        return r.event_id

    def bot_events(self, room_id):
        return {eid: e for eid, e in self.events.items()
                if e["sender"] == BOT and e["room_id"] == room_id}

    async def close(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except BaseException:
                pass
        await self.client.close()


class World:
    def __init__(self, url, tmp, plain, use_js):
        self.url, self.tmp, self.plain, self.use_js = url, tmp, plain, use_js
        self.people = {}
        self.jo = None
        self.jo_id = None
        self.room = None
        self.gavel = None
        self.loop = asyncio.get_running_loop()

    async def js(self, op, timeout=40, **args):
        return await self.loop.run_in_executor(None, lambda: self.jo.call(op, timeout=timeout, **args))

    async def setup(self):
        for name in ("alice", "bob", "carol"):
            p = Person(self.url, name, self.tmp)
            await p.register()
            self.people[name] = p
        if self.use_js:
            why = jspeer.available()
            must(why is None, "a matrix-js-sdk client can run (node, tests/interop/node_modules)", why)
            self.jo = jspeer.JsPeer(self.url, "jo", log=lambda l: print("# [jo] " + l))
            r = await self.js("start", user="jo", password="pw-jo", cross_sign=True, only_signed=True)
            self.jo_id = r["user_id"]
            must(r["uia"] == ["401 flows=m.login.password", "password"],
                 "jo (matrix-js-sdk, Rust crypto) is cross-signed, OnlySignedDevicesIsolationMode", r)
        r = api(self.url, "POST", "/_matrix/client/v3/register",
                {"username": "gavel", "password": "bot-password", "auth": {"type": "m.login.dummy"},
                 "inhibit_login": True})
        must("user_id" in r, "gavel's account is registered", r)
        invite = [p.user_id for n, p in self.people.items() if n != "alice"] + [BOT]
        if self.jo_id:
            invite.append(self.jo_id)
        alice = self.people["alice"]
        r = await alice.client.room_create(name="encrypted arch", invite=invite,
                                           initial_state=[] if self.plain else [ROOM_ENC])
        must(isinstance(r, RoomCreateResponse), "alice creates the %s room" %
             ("plain" if self.plain else "encrypted"), r)
        self.room = r.room_id
        for n in ("bob", "carol"):
            await self.people[n].client.join(self.room)
        if self.jo:
            await self.js("join", room=self.room, encrypted=not self.plain)

    def membership(self, user):
        state = None
        for e in room_events(self.url, self.room):
            if e["type"] == "m.room.member" and e.get("state_key") == user:
                state = e["content"].get("membership")
        return state

    async def until(self, pred, what, timeout=WAIT, detail=None):
        """Wait for pred(); fail (and abort) early when gavel is gone."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                C.ok(True, what)
                return
            if self.gavel is not None and not self.gavel.alive():
                must(False, what + " (gavel exited)", self.gavel.logtext()[-3000:])
            await asyncio.sleep(0.1)
        must(False, what + " (timed out after %d s)" % timeout,
             detail() if detail else self.gavel.logtext()[-3000:] if self.gavel else "")

    def query_bot_keys(self):
        tok = self.people["alice"].client.access_token
        return api(self.url, "POST", "/_matrix/client/v3/keys/query",
                   {"device_keys": {BOT: []}}, token=tok)

    def server_bot_events(self):
        return [e for e in room_events(self.url, self.room)
                if e["sender"] == BOT and e.get("state_key") is None]

    def readers(self):
        return [p for n, p in self.people.items() if n != "carol" or self.membership(p.user_id) == "join"]

    async def said(self, pred, what, readers=None):
        """Every reader (nio people, and jo) decrypts a bot event for which pred(content) holds."""
        readers = readers or self.readers()
        for p in readers:
            await self.until(lambda p=p: any(pred(e["type"], e["content"])
                                             for e in p.bot_events(self.room).values()),
                             "%s: %s" % (p.name, what),
                             detail=lambda p=p: {"bot events": [
                                 (e["type"], (e["content"].get("body") or "")[:80])
                                 for e in p.bot_events(self.room).values()],
                                 "undecrypted": len(p.undecrypted), "error": p.error,
                                 "gavel log": self.gavel.logtext()[-1500:]})
        if self.jo:
            want = lambda m: m["sender"] == BOT and m["content"] is not None and \
                pred(m["type"], m["content"])
            end = time.monotonic() + WAIT
            msgs = []
            while time.monotonic() < end:
                msgs = (await self.js("messages", room=self.room))["messages"]
                if any(want(m) for m in msgs):
                    break
                await asyncio.sleep(0.2)
            must(any(want(m) for m in msgs), "jo: " + what, msgs[-6:])


def body_has(text):
    return lambda t, c: t == "m.room.message" and text in (c.get("body") or "")


def check_keys(world, first):
    """gavel's device keys and cross-signing, as anyone can check them."""
    q = world.query_bot_keys()
    devs = q.get("device_keys", {}).get(BOT) or {}
    must(len(devs) == 1, "gavel has one device with keys", devs)
    (did, dk), = devs.items()
    ed = dk.get("keys", {}).get("ed25519:" + did)
    C.ok(ed and dk.get("keys", {}).get("curve25519:" + did) and
         {"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"} <= set(dk.get("algorithms", [])),
         "gavel's device keys: ed25519, curve25519, Olm and Megolm", dk)
    C.ok(ed and hsmod.check_signature(dk, BOT, "ed25519:" + did, ed),
         "gavel's device keys are signed by the device", dk)
    master = q.get("master_keys", {}).get(BOT)
    ssk = q.get("self_signing_keys", {}).get(BOT)
    must(master and ssk, "gavel published master and self-signing keys", q)
    (mid, mpub), = master["keys"].items()
    (sid, spub), = ssk["keys"].items()
    C.ok(hsmod.check_signature(ssk, BOT, mid, mpub),
         "gavel's self-signing key is signed by its master key", ssk)
    C.ok(hsmod.check_signature(dk, BOT, sid, spub),
         "gavel's device is cross-signed: signed by its self-signing key", dk.get("signatures"))
    return did, ed, mpub


async def run(world, gavel_bin, workdir):
    await world.setup()
    extra = {"allow_invites_from": [world.people["alice"].user_id]}
    os.makedirs(workdir, exist_ok=True)
    if not world.plain:
        with open(os.path.join(workdir, "pickle_key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(os.path.join(workdir, "pickle_key"), 0o600)
        extra["pickle_key_file"] = "pickle_key"
    gavel = world.gavel = Gavel(gavel_bin, world.url, workdir, extra)
    gavel.start()
    try:
        await world.until(lambda: world.membership(BOT) == "join",
                          "gavel joins the room on alice's invite", timeout=WAIT)
    except Abort:
        if "pickle_key_file" in gavel.logtext():
            print("# gavel does not know the pickle_key_file config key: no E2EE yet (issue 8)")
        raise
    room = world.room
    alice, bob, carol = (world.people[n] for n in ("alice", "bob", "carol"))

    if not world.plain:
        end = time.monotonic() + FIRST_KEYS
        while time.monotonic() < end and gavel.alive() and \
                not world.query_bot_keys().get("device_keys", {}).get(BOT):
            await asyncio.sleep(0.2)
        must(world.query_bot_keys().get("device_keys", {}).get(BOT),
             "gavel publishes its device keys (/keys/upload) once running",
             "none within %d s: gavel does not speak E2EE yet (issue 8). Log tail:\n%s"
             % (FIRST_KEYS, gavel.logtext()[-2000:]))
        await world.until(lambda: (world.query_bot_keys().get("master_keys") or {}).get(BOT),
                          "gavel uploads cross-signing keys (/keys/device_signing/upload, password UIA)")
        did, ed, mpub = check_keys(world, True)
        # before anyone sends: every client knows gavel's device (else no room key for it)
        await world.until(lambda: all(
            any(d.id == did for d in p.client.device_store.active_user_devices(BOT))
            for p in world.people.values()), "the nio people found gavel's device (/keys/query)")
        if world.jo:
            st = {}
            for _ in range(100):
                st = await world.js("device", user=BOT, device=did)
                if st["signed_by_owner"]:
                    break
                await asyncio.sleep(0.1)
            must(st["signed_by_owner"],
                 "jo (matrix-js-sdk) sees gavel's device signed by its owner", st)

    # tags and !agenda
    await alice.send(room, "#architecture Discuss keyframes cc @bob:localhost")
    await bob.send(room, "#architecture Fast boot for Rombit")
    await world.said(lambda t, c: t == "m.reaction", "a tag is acknowledged with a reaction",
                     readers=[alice, bob, carol])
    q1 = await carol.send(room, "!agenda")
    await world.said(lambda t, c: "Discuss keyframes" in (c.get("body") or "") and
                     "Fast boot for Rombit" in (c.get("body") or "") and
                     ((c.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id") == q1
                     if t == "m.room.message" else False,
                     "!agenda is answered with both items")

    # a short meeting, gavel killed in the middle
    await alice.send(room, "#startmeeting Arch call")
    await world.said(body_has("Meeting started"), "#startmeeting is answered")
    await alice.send(room, "#topic Keyframes")
    await world.said(body_has("Topic: Keyframes"), "#topic is answered")
    await bob.send(room, "#info keyframes go to the supervisor")
    await asyncio.sleep(0.3)
    gavel.kill()
    C.ok(True, "gavel SIGKILLed mid-meeting")
    if world.jo:
        await world.js("send", room=room, body="#info the js client was here")
    await bob.send(room, "#action bob to write the proposal")
    gavel.start()
    await alice.send(room, "#topic Fast boot")
    await world.said(body_has("Topic: Fast boot"), "after the restart gavel carries on (#topic)")
    if not world.plain:
        did2, ed2, mpub2 = check_keys(world, False)
        C.ok((did2, ed2, mpub2) == (did, ed, mpub),
             "after the restart: the same device, device key and master key", (did, did2))
    await alice.send(room, "#endmeeting")
    await world.said(body_has("#meeting: Arch call"), "the minutes arrive")
    minutes = next(e["content"]["body"] for e in alice.bot_events(room).values()
                   if "#meeting: Arch call" in (e["content"].get("body") or ""))
    want = ["INFO: keyframes go to the supervisor", "ACTION: bob to write the proposal"]
    if world.jo:
        want.append("INFO: the js client was here")
    for w in want:
        C.ok(w in minutes, "the minutes hold %r" % w, minutes)

    # every bot event decrypted by every reader, none doubled, no plaintext on the server
    await asyncio.sleep(1.0)
    server = world.server_bot_events()
    ids = [e["event_id"] for e in server]
    if not world.plain:
        C.ok(server and all(e["type"] == "m.room.encrypted" for e in server),
             "the server holds only m.room.encrypted from gavel", sorted({e["type"] for e in server}))
        C.ok(all(e["content"].get("algorithm") == "m.megolm.v1.aes-sha2" for e in server),
             "gavel's room events are Megolm",
             [(e["type"], e["content"].get("algorithm")) for e in server
              if e["content"].get("algorithm") != "m.megolm.v1.aes-sha2"])
    if not world.plain:
        per_session = {}
        for e in server:
            if e["type"] != "m.room.encrypted":
                continue
            sid = e["content"].get("session_id")
            per_session[sid] = per_session.get(sid, 0) + 1
        C.ok(len(per_session) >= 2 and max(per_session.values()) <= ROTATE_MSGS,
             "gavel rotates its Megolm session every %d messages (the room's "
             "rotation_period_msgs), across the restart too" % ROTATE_MSGS, per_session)
    for p in (alice, bob, carol):
        got = p.bot_events(room)
        missing = [i for i in ids if i not in got]
        C.ok(not missing, "%s has every one of gavel's %d events" % (p.name, len(ids)),
             {"missing": missing, "undecrypted": list(p.undecrypted)})
        if not world.plain:
            C.ok(all(got[i]["decrypted"] for i in ids if i in got),
                 "%s: every one was Megolm-decrypted" % p.name,
                 [(got[i]["type"], (got[i]["content"].get("body") or "")[:60]) for i in ids
                  if i in got and not got[i]["decrypted"]])
    if world.jo:
        msgs = (await world.js("messages", room=room))["messages"]
        C.ok(not [m for m in msgs if m["sender"] == BOT and m["failure"]],
             "jo decrypted every message and reaction of gavel's", [m for m in msgs if m["failure"]])
    seen = {}
    for e in alice.bot_events(room).values():
        c = e["content"]
        rel = c.get("m.relates_to") or {}
        key = (e["type"], c.get("body") or rel.get("key"), rel.get("event_id") or
               (rel.get("m.in_reply_to") or {}).get("event_id"))
        seen[key] = seen.get(key, 0) + 1
    C.ok(all(v == 1 for v in seen.values()), "no bot reply is doubled after the crash",
         [k for k, v in seen.items() if v > 1])

    # a member leaves: the next bot message is in a new session carol cannot read
    before = {e["content"].get("session_id") for e in world.server_bot_events()}
    r = await carol.client.room_leave(room)
    must(world.membership(carol.user_id) == "leave", "carol leaves", r)
    q2 = await alice.send(room, "!agenda")
    await world.said(lambda t, c: ((c.get("m.relates_to") or {}).get("m.in_reply_to") or {})
                     .get("event_id") == q2 if t == "m.room.message" else False,
                     "!agenda after carol left is answered", readers=[alice, bob])
    if world.plain:
        return
    reply = next(e for e in world.server_bot_events()
                 if e["event_id"] in alice.bot_events(room) and
                 ((alice.bot_events(room)[e["event_id"]]["content"].get("m.relates_to") or {})
                  .get("m.in_reply_to") or {}).get("event_id") == q2)
    C.ok(reply["content"].get("session_id") not in before,
         "gavel's message after carol left uses a new Megolm session",
         (reply["content"].get("session_id"), before))
    await asyncio.sleep(2.0)       # carol keeps syncing: a wrongly shared key would arrive
    ev = MegolmEvent.from_dict(reply)
    ev.room_id = room
    try:
        carol.client.decrypt_event(ev)
        readable = True
    except EncryptionError:
        readable = False
    C.ok(not readable and reply["event_id"] not in carol.events,
         "carol, who left, cannot decrypt it")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--no-js", action="store_true", help="nio people only")
    ap.add_argument("--plain", action="store_true",
                    help="an unencrypted room, no E2EE checks: checks this harness")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("url")
    a = ap.parse_args()
    if not ENCRYPTION_ENABLED:
        C.ok(False, "nio has olm support (python3-olm)")
        return
    top = tempfile.mkdtemp(prefix="gavel-e2ee-")
    print("# work dir %s" % top)
    world = World(a.url, top, a.plain, not a.no_js)
    try:
        await run(world, os.path.abspath(a.gavel), os.path.join(top, "gavel"))
        if world.gavel and world.gavel.alive():
            status = world.gavel.stop()
            C.ok(status == 0, "gavel stops cleanly on SIGTERM", "exit %s" % status)
    except Abort as e:
        print("# stopped: %s" % e)
    except Exception as e:
        import traceback
        traceback.print_exc(file=sys.stdout)
        C.ok(False, "the scenario runs without an unexpected error", "%s: %s" % (type(e).__name__, e))
    finally:
        if world.gavel and world.gavel.alive():
            world.gavel.kill()
        if world.jo:
            world.jo.close()
        for p in world.people.values():
            await p.close()
        if a.keep or C.failed:
            print("# kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=400))
    except asyncio.TimeoutError:
        C.ok(False, "the E2EE scenario finished within 400 s")
    print("%d passed, %d failed" % (C.passed, C.failed))
    sys.exit(1 if C.failed else 0)
