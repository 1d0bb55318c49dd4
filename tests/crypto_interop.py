#!/usr/bin/python3
"""tests/crypto_interop.py - gavel's bridge/crypto against independent code:
python-olm (Debian's python3-olm, its own bindings and JSON handling) plays
two Matrix devices, bob and carol, and talks to gavel's crypto through
tests/crypto-driver (one JSON request a line on stdin, one answer a line).

Checked: gavel's upload body verifies with python's canonical JSON and
ed25519_verify; python's device keys are accepted by gavel (and a forged one
refused); a python Olm pre-key message carrying an m.room_key is decrypted by
gavel and python Megolm messages decrypt (a replayed index under another
event ID refused); gavel shares its room key with python over Olm (an
existing session with bob, a claimed one-time key with carol) and python
decrypts gavel's Megolm messages; gavel's Olm to-device messages decrypt in
python; gavel reopened from its database keeps decrypting.

Usage: crypto_interop.py DRIVER
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import olm
except ImportError:
    print("1..0 # SKIP python3-olm is not installed")
    sys.exit(77)

ROOM = "!room:example.org"
GAVEL, GDEV = "@gavel:example.org", "GAVELDEV"
PICKLE_KEY = "a test pickle key, 32 bytes long"

passed = failed = 0


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - %s: %s" % (name, detail))


def canonical(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signable(obj):
    o = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return canonical(o)


def verify(obj, user, key_id, ed25519):
    sig = obj.get("signatures", {}).get(user, {}).get(key_id)
    if not sig:
        return False
    try:
        olm.ed25519_verify(ed25519, signable(obj), sig)
        return True
    except olm.OlmVerifyError:
        return False


class Driver:
    def __init__(self, path, db):
        self.path, self.db = path, db
        self.start()

    def start(self):
        self.p = subprocess.Popen([self.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        ans = self.call(op="open", db=self.db, user=GAVEL, device=GDEV, key=PICKLE_KEY)
        assert ans["ok"], ans
        self.curve, self.ed = ans["curve25519"], ans["ed25519"]

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)

    def call(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the driver died on %s" % req.get("op"))
        return json.loads(line)


class Device:
    """A Matrix device written with python-olm only."""

    def __init__(self, user, device):
        self.user, self.device = user, device
        self.acc = olm.Account()
        keys = self.acc.identity_keys
        self.curve, self.ed = keys["curve25519"], keys["ed25519"]
        self.sessions = {}        # their curve25519 -> [olm.Session]

    def sign(self, obj):
        sig = self.acc.sign(signable(obj))
        obj.setdefault("signatures", {}).setdefault(self.user, {})[
            "ed25519:" + self.device] = sig
        return obj

    def device_keys(self):
        return self.sign({
            "user_id": self.user, "device_id": self.device,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {"curve25519:" + self.device: self.curve,
                     "ed25519:" + self.device: self.ed}})

    def claimable(self, n=1):
        self.acc.generate_one_time_keys(n)
        out = {}
        for kid, key in self.acc.one_time_keys["curve25519"].items():
            out["signed_curve25519:" + kid] = self.sign({"key": key})
        self.acc.mark_keys_as_published()
        return out

    def olm_payload(self, type_, content, recipient, recipient_ed):
        return json.dumps({"type": type_, "content": content, "sender": self.user,
                           "recipient": recipient, "recipient_keys": {"ed25519": recipient_ed},
                           "keys": {"ed25519": self.ed}})

    def olm_encrypt(self, their_curve, their_otk, plaintext):
        s = self.sessions.get(their_curve, [None])[0]
        if s is None:
            s = olm.OutboundSession(self.acc, their_curve, their_otk)
            self.sessions[their_curve] = [s]
        m = s.encrypt(plaintext)
        return {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": self.curve,
                "ciphertext": {their_curve: {"type": m.message_type, "body": m.ciphertext}}}

    def olm_decrypt(self, content):
        their = content["sender_key"]
        c = content["ciphertext"][self.curve]
        if c["type"] == 0:
            msg = olm.OlmPreKeyMessage(c["body"])
            for s in self.sessions.get(their, []):
                if s.matches(msg, their):
                    return s.decrypt(msg)
            s = olm.InboundSession(self.acc, msg, their)
            self.acc.remove_one_time_keys(s)
            self.sessions.setdefault(their, []).insert(0, s)
            return s.decrypt(msg)
        msg = olm.OlmMessage(c["body"])
        for s in self.sessions.get(their, []):
            try:
                return s.decrypt(msg)
            except olm.OlmSessionError:
                continue
        raise RuntimeError("no session")


def main():
    driver_path = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="gavel-crypto-interop-")
    db = os.path.join(tmp, "gavel.db")
    g = Driver(driver_path, db)
    bob = Device("@bob:example.org", "BOBPHONE")
    carol = Device("@carol:example.org", "CAROLLAPTOP")

    # canonical JSON agrees with python's on a nasty object
    obj = {"b": [1, -2, None, True, {"z": "\u65e5\u672c", "a": "\"\\\n\u0001"}], "a": {}, "\u00e9": 0}
    ans = g.call(op="canonical", obj=obj)
    check(ans.get("text") == canonical(obj), "canonical JSON matches python's", ans)

    # gavel's upload verifies with independent code
    ans = g.call(op="upload", otk_count=0, target=4)
    body = ans.get("body") or {}
    dk = body.get("device_keys", {})
    check(verify(dk, GAVEL, "ed25519:" + GDEV, g.ed) and
          dk.get("keys", {}).get("curve25519:" + GDEV) == g.curve,
          "gavel's device_keys verify in python", dk)
    otks = body.get("one_time_keys", {})
    check(len(otks) == 4 and all(verify(v, GAVEL, "ed25519:" + GDEV, g.ed) for v in otks.values()),
          "gavel's one-time keys are signed", otks)
    fb = body.get("fallback_keys", {})
    check(len(fb) == 1 and all(v.get("fallback") is True and verify(v, GAVEL, "ed25519:" + GDEV, g.ed)
                               for v in fb.values()), "gavel's fallback key is signed", fb)
    check(g.call(op="uploaded")["ok"], "uploaded")

    # python's device keys in gavel; a forged one refused
    forged = bob.device_keys()
    forged["device_id"] = "OTHER"
    resp = {"device_keys": {
        bob.user: {bob.device: bob.device_keys(), "OTHER": forged},
        carol.user: {carol.device: carol.device_keys()}}}
    ans = g.call(op="query_ingest", response=resp)
    check(ans["ok"] and ans["rejected"] == 1, "gavel takes python's devices, refuses a forged one",
          ans)

    # bob -> gavel: Olm pre-key message carrying an m.room_key for bob's Megolm session
    bob_out = olm.OutboundGroupSession()
    room_key = {"algorithm": "m.megolm.v1.aes-sha2", "room_id": ROOM,
                "session_id": bob_out.id, "session_key": bob_out.session_key}
    kid, otk = next(iter(otks.items()))
    content = bob.olm_encrypt(g.curve, otk["key"],
                              bob.olm_payload("m.room_key", room_key, GAVEL, g.ed))
    check(content["ciphertext"][g.curve]["type"] == 0, "python sends a pre-key message")
    ans = g.call(op="todevice", event={"type": "m.room.encrypted", "sender": bob.user,
                                       "content": content})
    check(ans["ok"] and ans.get("kind") == "room_key" and ans.get("session_id") == bob_out.id,
          "gavel decrypts python's pre-key Olm message and stores the room key", ans)

    def megolm_event(event_id, body_text, session=bob_out, dev=bob):
        ct = session.encrypt(json.dumps({"type": "m.room.message", "room_id": ROOM,
                                         "content": {"msgtype": "m.text", "body": body_text}}))
        return {"type": "m.room.encrypted", "sender": dev.user, "event_id": event_id,
                "content": {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": dev.curve,
                            "ciphertext": ct, "session_id": session.id,
                            "device_id": dev.device}}

    ev1 = megolm_event("$e1", "#topic from python")
    ans = g.call(op="room_decrypt", room=ROOM, event=ev1)
    check(ans["ok"] and ans["payload"]["content"]["body"] == "#topic from python" and
          ans["verified"] is True and ans["index"] == 0,
          "gavel decrypts python's Megolm message (key verified)", ans)
    ans = g.call(op="room_decrypt", room=ROOM, event=dict(ev1, event_id="$evil"))
    check(not ans["ok"] and ans["error"] == "permission denied",
          "python's index 0 under another event ID is refused", ans)
    ev2 = megolm_event("$e2", "second")
    ans = g.call(op="room_decrypt", room=ROOM, event=ev2)
    check(ans["ok"] and ans["index"] == 1, "the next index decrypts", ans)
    other = olm.OutboundGroupSession()
    ans = g.call(op="room_decrypt", room=ROOM, event=megolm_event("$e3", "x", session=other))
    check(not ans["ok"] and ans["error"] == "not found",
          "a Megolm session gavel has no key for is 'not found' (wait and ask)", ans)

    # gavel -> bob (existing session) and carol (claimed one-time key): room key over Olm
    check(g.call(op="room_prepare", room=ROOM,
                 settings={"algorithm": "m.megolm.v1.aes-sha2"}, now=1000)["ok"], "room_prepare")
    carol_otks = carol.claimable(1)
    claim = {"one_time_keys": {carol.user: {carol.device: carol_otks}}}
    ans = g.call(op="share", room=ROOM, members=[bob.user, carol.user, GAVEL], claim=claim)
    need = (ans.get("claim_needed") or {}).get("one_time_keys", {})
    check(ans["ok"] and list(need) == [carol.user] and ans["missing"] == 2 and ans["skipped"] == 0,
          "gavel claims a key for carol only (bob has an Olm session)", ans)
    msgs = (ans.get("body") or {}).get("messages", {})
    keys = {}
    for dev in (bob, carol):
        c = msgs.get(dev.user, {}).get(dev.device)
        try:
            pt = json.loads(dev.olm_decrypt(c))
            ok = (pt["type"] == "m.room_key" and pt["sender"] == GAVEL and
                  pt["recipient"] == dev.user and pt["recipient_keys"]["ed25519"] == dev.ed and
                  pt["keys"]["ed25519"] == g.ed and pt["content"]["room_id"] == ROOM)
            keys[dev.user] = olm.InboundGroupSession(pt["content"]["session_key"])
        except Exception as e:  # noqa: BLE001 - any failure is the test's
            ok, pt = False, repr(e)
        check(ok, "python (%s) decrypts gavel's m.room_key" % dev.user, pt)
    check(g.call(op="shared", room=ROOM, body=ans.get("body"))["ok"], "shared")
    ans = g.call(op="share", room=ROOM, members=[bob.user, carol.user], claim=None)
    check(ans["ok"] and ans["missing"] == 0 and ans["body"] is None,
          "nobody needs the key again", ans)

    ans = g.call(op="room_encrypt", room=ROOM, type="m.room.message",
                 content={"msgtype": "m.notice", "body": "Meeting started"})
    enc = ans.get("content", {})
    for dev in (bob, carol):
        try:
            pt, idx = keys[dev.user].decrypt(enc["ciphertext"])
            pt = json.loads(pt)
            ok = pt["content"]["body"] == "Meeting started" and pt["room_id"] == ROOM and idx == 0
        except Exception as e:  # noqa: BLE001
            ok, pt = False, repr(e)
        check(ok, "python (%s) decrypts gavel's Megolm message" % dev.user, pt)
    check(enc.get("sender_key") == g.curve and enc.get("device_id") == GDEV and
          enc.get("session_id") == keys[bob.user].id, "gavel's m.room.encrypted content", enc)

    # gavel -> carol: a plain Olm to-device message on the session just made
    ans = g.call(op="olm_encrypt", user=carol.user, device=carol.device, otk=None,
                 type="org.example.ping", content={"n": 1})
    try:
        pt = json.loads(carol.olm_decrypt(ans["content"]))
        ok = pt["type"] == "org.example.ping" and pt["content"] == {"n": 1}
    except Exception as e:  # noqa: BLE001
        ok, pt = False, repr(e)
    check(ok, "python decrypts gavel's Olm to-device message", pt)

    # carol -> gavel on carol's inbound session (a normal message)
    content = carol.olm_encrypt(g.curve, None,
                                carol.olm_payload("org.example.pong", {"n": 2}, GAVEL, g.ed))
    ans = g.call(op="todevice", event={"type": "m.room.encrypted", "sender": carol.user,
                                       "content": content})
    check(ans["ok"] and ans.get("kind") == "decrypted" and ans["plaintext"]["content"] == {"n": 2}
          and content["ciphertext"][g.curve]["type"] == 1,
          "gavel decrypts python's normal Olm message", ans)

    # cross-signing: the signatures verify with independent code
    ans = g.call(op="xsign")
    up, sigs = ans.get("upload", {}), ans.get("signatures", {})
    try:
        master = next(iter(up["master_key"]["keys"].values()))
        ssk = next(iter(up["self_signing_key"]["keys"].values()))
        ok = (verify(up["master_key"], GAVEL, "ed25519:" + GDEV, g.ed) and
              verify(up["self_signing_key"], GAVEL, "ed25519:" + master, master) and
              verify(up["user_signing_key"], GAVEL, "ed25519:" + master, master) and
              up["master_key"]["usage"] == ["master"] and
              verify(sigs[GAVEL][GDEV], GAVEL, "ed25519:" + ssk, ssk) and
              verify(sigs[GAVEL][GDEV], GAVEL, "ed25519:" + GDEV, g.ed))
    except Exception as e:  # noqa: BLE001
        ok, up = False, repr(e)
    check(ok, "gavel's cross-signing keys and device signature verify in python", up)

    # dave starts a session on gavel's fallback key (the one-time keys ran out)
    dave = Device("@dave:example.org", "DAVEPAD")
    resp = {"device_keys": {dave.user: {dave.device: dave.device_keys()}}}
    check(g.call(op="query_ingest", response=resp)["ok"], "dave's device")
    fkid, fk = next(iter(fb.items()))
    content = dave.olm_encrypt(g.curve, fk["key"],
                               dave.olm_payload("org.example.hello", {"n": 3}, GAVEL, g.ed))
    ans = g.call(op="todevice", event={"type": "m.room.encrypted", "sender": dave.user,
                                       "content": content})
    check(ans["ok"] and ans.get("plaintext", {}).get("content") == {"n": 3},
          "gavel decrypts a pre-key message made with its fallback key", ans)

    # gavel restarted: old and new messages still decrypt, sessions still work
    g.stop()
    g = Driver(driver_path, db)
    ans = g.call(op="room_decrypt", room=ROOM, event=ev1)
    check(ans["ok"] and ans["payload"]["content"]["body"] == "#topic from python",
          "after a restart gavel decrypts an old message", ans)
    ans = g.call(op="room_decrypt", room=ROOM, event=megolm_event("$e4", "after restart"))
    check(ans["ok"] and ans["payload"]["content"]["body"] == "after restart",
          "after a restart gavel decrypts a new message", ans)
    ans = g.call(op="room_encrypt", room=ROOM, type="m.room.message",
                 content={"msgtype": "m.notice", "body": "still here"})
    try:
        pt, idx = keys[carol.user].decrypt(ans["content"]["ciphertext"])
        ok = json.loads(pt)["content"]["body"] == "still here" and idx == 1
    except Exception as e:  # noqa: BLE001
        ok, idx = False, repr(e)
    check(ok, "after a restart gavel's session goes on (index 1, not re-shared)", idx)
    ans = g.call(op="share", room=ROOM, members=[bob.user, carol.user], claim=None)
    check(ans["ok"] and ans["missing"] == 0, "after a restart nobody needs the key again", ans)
    g.stop()
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
