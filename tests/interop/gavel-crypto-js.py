#!/usr/bin/python3
"""gavel's own crypto (bridge/crypto, libolm, through tests/crypto-driver) against
matrix-js-sdk's Rust crypto (vodozemac), through the test homeserver.

    gavel-crypto-js.py CRYPTO_DRIVER HOMESERVER_URL

What the Matrix client wiring will do, step by step over HTTP: gavel's device
keys go up with /keys/upload; its cross-signing keys with
/keys/device_signing/upload (401 + session, then the password) and its
device's self-signing signature with /keys/signatures/upload.  A js client in
OnlySignedDevicesIsolationMode (which only shares room keys with, and only
trusts, devices their owner cross-signed) sees gavel's device as signed by
its owner; gavel shares a Megolm session over Olm (/keys/query, /keys/claim,
/sendToDevice) and the js client decrypts gavel's message; the js client's
message reaches gavel's device and gavel decrypts it.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import jspeer  # noqa: E402

V3 = "/_matrix/client/v3"
GDEV = "GAVELDEV"
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what, flush=True)
    else:
        failed += 1
        print("FAIL - %s: %s" % (what, str(detail)[:2000]), flush=True)
    return cond


class Stop(Exception):
    pass


def must(cond, what, detail=""):
    if not check(cond, what, detail):
        raise Stop(what)


def http(url, method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Driver:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, **req):
        self.p.stdin.write((json.dumps(req) + "\n").encode())
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise Stop("crypto-driver exited during %s" % req.get("op"))
        return json.loads(line)

    def ok(self, what, **req):
        ans = self.call(**req)
        must(ans.get("ok"), what, ans)
        return ans

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def run(driver_path, url, tmp):
    st, reg = http(url, "POST", V3 + "/register",
                   {"username": "gavel", "password": "bot-password", "device_id": GDEV,
                    "auth": {"type": "m.login.dummy"}})
    must(st == 200, "gavel's account and device", reg)
    tok, bot = reg["access_token"], reg["user_id"]
    g = Driver(driver_path)
    peer = None
    try:
        g.ok("gavel's crypto opens", op="open", db=os.path.join(tmp, "gavel.db"), user=bot,
             device=GDEV, key=os.urandom(32).hex())
        body = g.ok("upload body", op="upload", otk_count=0, target=20)["body"]
        st, r = http(url, "POST", V3 + "/keys/upload", body, tok)
        must(st == 200 and r["one_time_key_counts"].get("signed_curve25519", 0) >= 1,
             "the homeserver takes gavel's signed device keys, one-time and fallback keys", r)
        g.ok("uploaded", op="uploaded")

        xs = g.ok("cross-signing keys", op="xsign")
        st, r = http(url, "POST", V3 + "/keys/device_signing/upload", xs["upload"], tok)
        must(st == 401 and r.get("session") and
             r.get("flows") == [{"stages": ["m.login.password"]}],
             "device_signing/upload without auth: 401, password flow, session", (st, r))
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": bot},
                "password": "bot-password", "session": r["session"]}
        st, r = http(url, "POST", V3 + "/keys/device_signing/upload",
                     dict(xs["upload"], auth=auth), tok)
        must(st == 200, "the homeserver takes gavel's master, self-signing and user-signing keys "
             "(signatures checked)", (st, r))
        st, r = http(url, "POST", V3 + "/keys/signatures/upload", xs["signatures"], tok)
        must(st == 200 and r.get("failures") == {},
             "the homeserver takes gavel's self-signing signature on its device", (st, r))

        peer = jspeer.JsPeer(url, "jo", log=lambda l: print("# [jo] " + l, file=sys.stderr))
        jo = peer.call("start", user="jo", password="pw-jo", cross_sign=True, only_signed=True)
        st, r = http(url, "POST", V3 + "/createRoom",
                     {"name": "gavel crypto", "invite": [jo["user_id"]], "initial_state": [
                         {"type": "m.room.encryption", "state_key": "",
                          "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}, tok)
        must(st == 200, "gavel creates an encrypted room and invites jo", r)
        room = r["room_id"]
        peer.call("join", room=room)
        dev = {}
        for _ in range(100):
            dev = peer.call("device", user=bot, device=GDEV)
            if dev.get("signed_by_owner"):
                break
            time.sleep(0.1)
        check(dev.get("signed_by_owner"),
              "matrix-js-sdk sees gavel's device as signed by its owner (cross-signing verifies)",
              dev)

        # gavel -> jo: query, claim, share over Olm, encrypt
        st, q = http(url, "POST", V3 + "/keys/query", {"device_keys": {jo["user_id"]: []}}, tok)
        ans = g.ok("gavel ingests jo's device keys", op="query_ingest", response=q)
        check(ans.get("rejected") == 0, "jo's device keys pass gavel's signature checks", ans)
        g.ok("room_prepare", op="room_prepare", room=room,
             settings={"algorithm": "m.megolm.v1.aes-sha2"}, now=int(time.time() * 1000))
        members = [jo["user_id"], bot]
        ans = g.ok("share (what to claim)", op="share", room=room, members=members, claim=None)
        need = ans.get("claim_needed")
        must(need, "gavel asks to claim a one-time key of jo's", ans)
        st, claim = http(url, "POST", V3 + "/keys/claim", need, tok)
        must(st == 200 and claim["one_time_keys"].get(jo["user_id"]),
             "/keys/claim gives jo's signed one-time key", claim)
        ans = g.ok("share", op="share", room=room, members=members, claim=claim)
        must(ans.get("body") and ans.get("skipped") == 0, "gavel wraps the room key for jo", ans)
        st, r = http(url, "PUT", V3 + "/sendToDevice/m.room.encrypted/share1", ans["body"], tok)
        must(st == 200, "sendToDevice", r)
        g.ok("shared", op="shared", room=room, body=ans["body"])
        enc = g.ok("encrypt", op="room_encrypt", room=room, type="m.room.message",
                   content={"msgtype": "m.notice", "body": "hello from gavel's libolm"})
        st, r = http(url, "PUT", "%s/rooms/%s/send/m.room.encrypted/m1" %
                     (V3, urllib.parse.quote(room, safe="")), enc["content"], tok)
        must(st == 200, "gavel sends m.room.encrypted", r)
        try:
            m = peer.call("wait", room=room, contains="hello from gavel's libolm", sender=bot)
            check(m["message"]["encrypted"],
                  "matrix-js-sdk (vodozemac, only signed devices) decrypts gavel's Megolm message",
                  m)
        except jspeer.PeerError as e:
            check(False, "matrix-js-sdk decrypts gavel's Megolm message", e)

        # jo -> gavel: jo shares with gavel's device only because it is cross-signed
        peer.call("send", room=room, body="hello from vodozemac")
        since = None
        got = None
        end = time.time() + 20
        while time.time() < end and got is None:
            path = V3 + "/sync?timeout=1000" + ("&since=" + since if since else "")
            st, s = http(url, "GET", path, None, tok)
            since = s.get("next_batch")
            for ev in s.get("to_device", {}).get("events", []):
                if ev.get("type") == "m.room.encrypted":
                    g.call(op="todevice", event=ev)
            tl = s.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {})
            for ev in tl.get("events", []):
                if ev.get("type") == "m.room.encrypted" and ev.get("sender") == jo["user_id"]:
                    ans = g.call(op="room_decrypt", room=room, event=ev)
                    if ans.get("ok"):
                        got = ans["payload"]["content"].get("body")
        check(got == "hello from vodozemac",
              "gavel's libolm decrypts matrix-js-sdk's message (its room key reached gavel's "
              "cross-signed device)", got)
    finally:
        if peer is not None:
            peer.close()
        g.stop()


def main():
    if len(sys.argv) < 3:
        print("usage: gavel-crypto-js.py CRYPTO_DRIVER HOMESERVER_URL", file=sys.stderr)
        return 2
    why = jspeer.available()
    if why:
        check(False, "a matrix-js-sdk client can run", why)
    else:
        with tempfile.TemporaryDirectory(prefix="gavel-crypto-js-") as tmp:
            try:
                run(sys.argv[1], sys.argv[2], tmp)
            except (Stop, jspeer.PeerError) as e:
                if not isinstance(e, Stop):
                    check(False, "the js client", e)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
