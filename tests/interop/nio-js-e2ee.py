#!/usr/bin/env python3
"""Interop: matrix-nio with libolm and matrix-js-sdk with Rust crypto (vodozemac)
in one encrypted room, against gavel's test homeserver.

    python3 tests/interop/nio-js-e2ee.py http://127.0.0.1:PORT

Two independent E2EE stacks talk through the homeserver: nio (python-olm)
creates the encrypted room and invites a js client (js-peer.mjs, cross-signed
with password UIA); each sends a Megolm message the other decrypts.  Missing
nio, olm, node or node_modules is a failure, not a skip.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jspeer  # noqa: E402

HARD_TIMEOUT = 100

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
    why = jspeer.available()
    if why:
        raise AssertionError(why)
    received = []
    undecryptable = []
    store = os.path.join(tmp, "nina")
    os.makedirs(store)
    nina = AsyncClient(url, store_path=store,
                       config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    peer = None
    loop = asyncio.get_running_loop()

    async def js(op, timeout=30, **args):
        return await loop.run_in_executor(None, lambda: peer.call(op, timeout=timeout, **args))

    try:
        r = await nina.register("nina", "secret-nina", "nio e2ee nina")
        C.ok(isinstance(r, RegisterResponse), "nina (nio) registers", r)

        async def on_text(room, event):
            received.append((event.sender, event.body))

        async def on_megolm(room, event):
            undecryptable.append(event)

        nina.add_event_callback(on_text, RoomMessageText)
        nina.add_event_callback(on_megolm, MegolmEvent)
        await housekeeping(nina)
        r = await nina.sync(timeout=0, full_state=True)
        C.ok(isinstance(r, SyncResponse), "nina's initial sync", r)

        peer = jspeer.JsPeer(url, "jo", log=lambda l: print(l, file=sys.stderr))
        jo = await js("start", user="jo", password="secret-jo", cross_sign=True)
        C.ok(jo["uia"] == ["401 flows=m.login.password", "password"],
             "jo (matrix-js-sdk) cross-signs with password UIA", jo["uia"])

        r = await nina.room_create(
            name="nio and js", invite=[jo["user_id"]],
            initial_state=[{"type": "m.room.encryption", "state_key": "",
                            "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        C.ok(isinstance(r, RoomCreateResponse), "nina creates an encrypted room", r)
        room_id = r.room_id
        await js("join", room=room_id)
        C.ok(True, "jo joins and sees the room encrypted")
        await sync_until(nina, lambda c: len(c.rooms[room_id].users) == 2, "nina sees jo join")

        r = await nina.room_send(room_id, "m.room.message",
                                 {"msgtype": "m.text", "body": "from nio to js"},
                                 ignore_unverified_devices=True)
        C.ok(isinstance(r, RoomSendResponse), "nina sends a Megolm message", r)
        C.ok(jo["device_id"] in [d.id for d in nina.device_store.active_user_devices(jo["user_id"])],
             "nina found jo's device with /keys/query (with its cross-signing signatures)")
        m = (await js("wait", room=room_id, contains="from nio to js"))["message"]
        C.ok(m["encrypted"] and m["sender"] == nina.user_id,
             "jo (vodozemac) decrypts nina's (libolm) message", m)

        await js("send", room=room_id, body="from js to nio")
        await sync_until(nina, lambda c: (jo["user_id"], "from js to nio") in received,
                         "nina decrypts jo's message", timeout=30)
        C.ok(True, "nina (libolm) decrypts jo's (vodozemac) message")
        C.ok(not undecryptable, "nina has no undecryptable events", undecryptable)
        msgs = (await js("messages", room=room_id))["messages"]
        C.ok(not [x for x in msgs if x["failure"]], "jo has no undecryptable events", msgs)
    finally:
        if peer is not None:
            peer.close()
        await nina.close()


def run():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HOMESERVER_URL")
    if not url:
        print("usage: nio-js-e2ee.py HOMESERVER_URL", file=sys.stderr)
        return 2
    code = 0
    with tempfile.TemporaryDirectory(prefix="nio-js-e2ee-") as tmp:
        try:
            asyncio.run(asyncio.wait_for(main(url, tmp), HARD_TIMEOUT))
        except asyncio.TimeoutError:
            print("FAIL: hard timeout (%d s)" % HARD_TIMEOUT)
            C.failed = max(C.failed, 1)
            code = 1
        except Exception as e:
            if os.environ.get("INTEROP_VERBOSE"):
                import traceback
                traceback.print_exc()
            print("FAIL: %s: %s" % (type(e).__name__, e))
            C.failed = max(C.failed, 1)
            code = 1
    print("%d passed, %d failed" % (C.passed, C.failed))
    return code


if __name__ == "__main__":
    sys.exit(run())
