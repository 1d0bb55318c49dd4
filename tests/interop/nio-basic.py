#!/usr/bin/env python3
"""Interop: matrix-nio (Debian's python3-matrix-nio 0.20.1) against gavel's test homeserver.

    python3 tests/interop/nio-basic.py http://127.0.0.1:PORT

Usually run through tests/interop/run_with_server.py.  Prints "N passed, 0
failed" and exits 0 on success; 1 on failure; 77 (skip) without nio.  Crypto
is off here (see nio-e2ee.py for the encrypted round trip).
"""

import os
import sys

try:
    import nio  # noqa: F401
except ImportError:
    # Debian's nio lives in the system interpreter's dist-packages.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("NIO_REEXEC"):
        os.environ["NIO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: python3-matrix-nio is not installed (apt-get install python3-matrix-nio)")
    sys.exit(77)

import asyncio  # noqa: E402
import json  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

from nio import (  # noqa: E402
    AsyncClient, AsyncClientConfig, InviteMemberEvent, JoinResponse, LoginResponse,
    MessageDirection, RedactedEvent, RegisterResponse, RoomCreateResponse, RoomMessagesResponse,
    RoomMessageText, RoomSendResponse, SyncResponse,
)

HARD_TIMEOUT = 60


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print("ok - " + what, flush=True)
        else:
            self.failed += 1
            raise AssertionError(what + (": %r" % (detail,) if detail is not None else ""))


C = Checks()


def server_events(url, room_id):
    with urllib.request.urlopen("%s/_test/rooms/%s/events" % (url, urllib.parse.quote(room_id)),
                                timeout=10) as r:
        return json.load(r)["events"]


async def sync_until(client, pred, what, timeout=15):
    """Incremental syncs until pred(client) holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        resp = await client.sync(timeout=1000, since=client.next_batch)
        if not isinstance(resp, SyncResponse):
            raise AssertionError("%s: sync failed: %r" % (what, resp))
        if pred(client):
            return resp
    raise AssertionError("timed out waiting for " + what)


def texts(client, room_id, seen):
    return [e.body for e in seen.get(room_id, []) if isinstance(e, RoomMessageText)]


async def main(url):
    cfg = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
    alice = AsyncClient(url, config=cfg)
    bob = AsyncClient(url, config=cfg)
    seen = {"alice": {}, "bob": {}}

    def collector(name):
        async def cb(room, event):
            seen[name].setdefault(room.room_id, []).append(event)
        return cb

    alice.add_event_callback(collector("alice"), (RoomMessageText, RedactedEvent))
    bob.add_event_callback(collector("bob"), (RoomMessageText, RedactedEvent))
    invites = []

    async def on_invite(room, event):
        if event.state_key == bob.user_id and event.membership == "invite":
            invites.append((room.room_id, event.sender))

    bob.add_event_callback(on_invite, InviteMemberEvent)
    try:
        r = await alice.register("alice", "secret-alice", "nio alice")
        C.ok(isinstance(r, RegisterResponse) and r.user_id == "@alice:localhost", "alice registers", r)
        r = await bob.register("bob", "secret-bob", "nio bob")
        C.ok(isinstance(r, RegisterResponse), "bob registers", r)
        bob2 = AsyncClient(url, config=cfg)
        r = await bob2.register("bob", "x")
        await bob2.close()
        C.ok(getattr(r, "status_code", None) == "M_USER_IN_USE", "username in use is refused", r)

        # password login on a second client object, then whoami
        alice2 = AsyncClient(url, "@alice:localhost", device_id="NIODEVICE2", config=cfg)
        r = await alice2.login("secret-alice", device_name="second")
        C.ok(isinstance(r, LoginResponse) and r.device_id == "NIODEVICE2", "password login", r)
        r = await alice2.login("wrong")
        C.ok(getattr(r, "status_code", None) == "M_FORBIDDEN", "wrong password refused", r)
        await alice2.close()

        for c in (alice, bob):
            r = await c.sync(timeout=0, full_state=True)
            C.ok(isinstance(r, SyncResponse), "%s initial sync" % c.user_id, r)

        r = await alice.room_create(name="nio room", topic="interop", invite=[bob.user_id])
        C.ok(isinstance(r, RoomCreateResponse), "room_create with invite", r)
        room_id = r.room_id

        await sync_until(bob, lambda c: room_id in c.invited_rooms, "bob's invite")
        C.ok(invites and invites[0] == (room_id, alice.user_id), "bob sees the invite", invites)
        r = await bob.join(room_id)
        C.ok(isinstance(r, JoinResponse) and r.room_id == room_id, "bob joins", r)

        await sync_until(alice, lambda c: room_id in c.rooms and bob.user_id in c.rooms[room_id].users
                         and c.rooms[room_id].users[bob.user_id] is not None
                         and len(c.rooms[room_id].users) == 2, "alice sees bob join")
        C.ok(alice.rooms[room_id].name == "nio room", "room name in alice's state",
             alice.rooms[room_id].name)

        # alice -> bob, bob -> alice
        r = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
        C.ok(isinstance(r, RoomSendResponse), "alice sends", r)
        await sync_until(bob, lambda c: "hello bob" in texts(c, room_id, seen["bob"]), "bob gets hello")
        C.ok(True, "bob receives alice's message")
        r = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi alice"})
        C.ok(isinstance(r, RoomSendResponse), "bob replies", r)
        reply_id = r.event_id
        await sync_until(alice, lambda c: "hi alice" in texts(c, room_id, seen["alice"]), "alice gets reply")
        C.ok(True, "alice receives bob's reply")

        # txn idempotency: the same tx_id twice gives one event
        r1 = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"},
                                   tx_id="fixed-txn-1")
        r2 = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"},
                                   tx_id="fixed-txn-1")
        C.ok(r1.event_id == r2.event_id, "retried txn id returns the same event id", (r1, r2))
        onces = [e for e in server_events(url, room_id) if e["content"].get("body") == "once"]
        C.ok(len(onces) == 1, "retried txn id creates one event", len(onces))

        # reaction + duplicate annotation
        rc = {"m.relates_to": {"rel_type": "m.annotation", "event_id": reply_id, "key": "+1"}}
        r = await alice.room_send(room_id, "m.reaction", rc)
        C.ok(isinstance(r, RoomSendResponse), "reaction sent", r)
        r = await alice.room_send(room_id, "m.reaction", rc)
        C.ok(getattr(r, "status_code", None) == "M_DUPLICATE_ANNOTATION", "duplicate reaction refused", r)

        # redaction seen by bob
        r = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "to redact"})
        target = r.event_id
        r = await alice.room_redact(room_id, target, reason="test")
        C.ok(getattr(r, "event_id", None), "alice redacts", r)
        r = await bob.room_get_event(room_id, target)
        C.ok(isinstance(r.event, RedactedEvent), "bob fetches the redacted event", r)

        # pagination: 25 more messages, then page back through all of them
        for i in range(25):
            await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "page %d" % i})
        resp = await bob.sync(timeout=0, since=bob.next_batch)
        tl = resp.rooms.join[room_id].timeline
        C.ok(tl.limited and tl.prev_batch, "incremental sync over the limit is limited with prev_batch",
             (tl.limited, tl.prev_batch))
        got = [e.body for e in tl.events if isinstance(e, RoomMessageText)]
        token = tl.prev_batch
        pages = 0
        while token and pages < 20:
            r = await bob.room_messages(room_id, token, direction=MessageDirection.back, limit=7)
            C.ok(isinstance(r, RoomMessagesResponse), "room_messages page %d" % pages, r)
            got = [e.body for e in reversed(r.chunk) if isinstance(e, RoomMessageText)] + got
            token = r.end
            pages += 1
            if not r.chunk:
                break
        pages_seen = [b for b in got if b.startswith("page ")]
        C.ok(pages_seen == ["page %d" % i for i in range(25)], "back-fill returns every message in order",
             pages_seen)
        C.ok(got[0] == "hello bob", "pagination reaches the start of the room", got[:3])

        # forward pagination from the start
        r = await bob.room_messages(room_id, "s0", direction=MessageDirection.front, limit=100)
        fwd = [e.body for e in r.chunk if isinstance(e, RoomMessageText)]
        C.ok(fwd[:2] == ["hello bob", "hi alice"] and fwd[-1] == "page 24", "forward pagination", fwd[:3])

        r = await alice.joined_members(room_id)
        C.ok(sorted(m.user_id for m in r.members) == [alice.user_id, bob.user_id], "joined_members", r)
        r = await bob.joined_rooms()
        C.ok(r.rooms == [room_id], "joined_rooms", r)

        r = await alice.room_leave(room_id)
        C.ok(type(r).__name__ == "RoomLeaveResponse", "alice leaves", r)
        await sync_until(bob, lambda c: alice.user_id not in c.rooms[room_id].users, "bob sees alice leave")
        C.ok(True, "bob sees alice leave")
        left = []
        for _ in range(10):
            resp = await alice.sync(timeout=1000, since=alice.next_batch)
            if room_id in resp.rooms.leave:
                left.append(resp.rooms.leave[room_id])
                break
        C.ok(left and any(getattr(e, "membership", None) == "leave" for e in left[0].timeline.events),
             "alice's sync puts the room under rooms.leave with her leave event", left)
    finally:
        await alice.close()
        await bob.close()


def run():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HOMESERVER_URL")
    if not url:
        print("usage: nio-basic.py HOMESERVER_URL", file=sys.stderr)
        return 2
    code = 0
    try:
        asyncio.run(asyncio.wait_for(main(url), HARD_TIMEOUT))
    except asyncio.TimeoutError:
        print("FAIL: hard timeout (%d s)" % HARD_TIMEOUT)
        C.failed = max(C.failed, 1)
        code = 1
    except Exception as e:
        print("FAIL: %s: %s" % (type(e).__name__, e))
        C.failed = max(C.failed, 1)
        code = 1
    print("%d passed, %d failed" % (C.passed, C.failed))
    return code


if __name__ == "__main__":
    sys.exit(run())
