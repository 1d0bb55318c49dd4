#!/usr/bin/env python3
"""Interop: matrix-nio with libolm, an encrypted room, against gavel's test homeserver.

    python3 tests/interop/nio-e2ee.py http://127.0.0.1:PORT

Exercises the E2EE endpoints: /keys/upload (device + one-time keys),
/keys/query, /keys/claim, /sendToDevice (Olm-encrypted m.room_key), sync's
to_device, device_lists and device_one_time_keys_count, then Megolm messages
both ways.  Same output conventions as nio-basic.py, but a missing nio or olm
is a failure (exit 1), not a skip: E2EE must be tested.
"""

import os
import sys

try:
    import nio  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("NIO_REEXEC"):
        os.environ["NIO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL: python3-matrix-nio is not installed (apt-get install python3-matrix-nio)")
    sys.exit(1)

import asyncio  # noqa: E402
import tempfile  # noqa: E402

from nio import (  # noqa: E402
    AsyncClient, AsyncClientConfig, JoinResponse, MegolmEvent, RegisterResponse,
    RoomCreateResponse, RoomMessageText, RoomSendResponse, SyncResponse,
)
from nio.crypto import ENCRYPTION_ENABLED  # noqa: E402

HARD_TIMEOUT = 60

if not ENCRYPTION_ENABLED:
    print("FAIL: nio was installed without olm support (python3-olm)")
    sys.exit(1)


class Checks:
    passed = 0
    failed = 0

    def ok(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print("ok - " + what, flush=True)
        else:
            self.failed += 1
            raise AssertionError(what + (": %r" % (detail,) if detail is not None else ""))


C = Checks()


async def housekeeping(c):
    """What nio's sync_forever does between syncs."""
    if c.should_upload_keys:
        await c.keys_upload()
    if c.should_query_keys:
        await c.keys_query()
    if c.should_claim_keys:
        await c.keys_claim(c.get_users_for_key_claiming())
    await c.send_to_device_messages()


async def sync_until(c, pred, what, timeout=20):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await housekeeping(c)
        r = await c.sync(timeout=500, since=c.next_batch)
        if not isinstance(r, SyncResponse):
            raise AssertionError("%s: sync failed: %r" % (what, r))
        await housekeeping(c)
        if pred(c):
            return
    raise AssertionError("timed out waiting for " + what)


async def main(url, tmp):
    clients = []
    received = {"alice": [], "bob": []}
    undecryptable = []

    async def make(name):
        store = os.path.join(tmp, name)
        os.makedirs(store)
        c = AsyncClient(url, store_path=store,
                        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
        clients.append(c)
        r = await c.register(name, "secret-" + name, "nio e2ee " + name)
        C.ok(isinstance(r, RegisterResponse), "%s registers" % name, r)
        C.ok(c.olm is not None, "%s has an Olm account" % name)

        async def on_text(room, event):
            received[name].append(event.body)

        async def on_megolm(room, event):
            undecryptable.append((name, event))

        c.add_event_callback(on_text, RoomMessageText)
        c.add_event_callback(on_megolm, MegolmEvent)
        await housekeeping(c)
        r = await c.sync(timeout=0, full_state=True)
        C.ok(isinstance(r, SyncResponse), "%s initial sync" % name, r)
        C.ok(r.device_key_count.signed_curve25519 and r.device_key_count.signed_curve25519 > 0,
             "%s's one-time keys are counted in sync" % name, r.device_key_count)
        return c

    try:
        alice = await make("alice")
        bob = await make("bob")

        r = await alice.room_create(
            name="secret room", invite=[bob.user_id],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        C.ok(isinstance(r, RoomCreateResponse), "encrypted room created", r)
        room_id = r.room_id

        await sync_until(bob, lambda c: room_id in c.invited_rooms, "bob's invite")
        r = await bob.join(room_id)
        C.ok(isinstance(r, JoinResponse), "bob joins", r)
        await sync_until(bob, lambda c: room_id in c.rooms and c.rooms[room_id].encrypted,
                         "bob sees the encrypted room")
        await sync_until(alice, lambda c: len(c.rooms[room_id].users) == 2 and c.rooms[room_id].encrypted,
                         "alice sees bob join")

        # alice -> bob (alice queries bob's keys, claims a one-time key, shares a Megolm session)
        r = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "encrypted hello"},
                                  ignore_unverified_devices=True)
        C.ok(isinstance(r, RoomSendResponse), "alice sends an encrypted message", r)
        C.ok(bob.device_id in [d.id for d in alice.device_store.active_user_devices(bob.user_id)],
             "alice learnt bob's device via /keys/query")
        await sync_until(bob, lambda c: "encrypted hello" in received["bob"], "bob decrypts alice's message")
        C.ok(True, "bob decrypts alice's message (m.room_key over to-device)")

        r = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "encrypted reply"},
                                ignore_unverified_devices=True)
        C.ok(isinstance(r, RoomSendResponse), "bob sends an encrypted reply", r)
        await sync_until(alice, lambda c: "encrypted reply" in received["alice"], "alice decrypts bob's reply")
        C.ok(True, "alice decrypts bob's reply")
        C.ok(not undecryptable, "no undecryptable events", undecryptable)
    finally:
        for c in clients:
            await c.close()


def run():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HOMESERVER_URL")
    if not url:
        print("usage: nio-e2ee.py HOMESERVER_URL", file=sys.stderr)
        return 2
    code = 0
    with tempfile.TemporaryDirectory(prefix="nio-e2ee-") as tmp:
        try:
            asyncio.run(asyncio.wait_for(main(url, tmp), HARD_TIMEOUT))
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
