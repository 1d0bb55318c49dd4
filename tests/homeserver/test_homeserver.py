#!/usr/bin/env python3
"""Direct HTTP tests of the loopback test homeserver (stdlib only).

    python3 tests/homeserver/test_homeserver.py [-v] [TestClass.test_name]

Each test class starts its own homeserver.py on a random port and stops it.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
HOMESERVER = os.path.join(HERE, "homeserver.py")
sys.path.insert(0, HERE)
import homeserver as hsmod  # noqa: E402  (its Ed25519 and canonical JSON, to sign test keys)
V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class Server:
    def __init__(self, *extra):
        self.proc = subprocess.Popen([sys.executable, HOMESERVER, "--port", "0", "--seed", "7"]
                                     + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError("homeserver did not start: %r %r" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])
        self.stderr = []
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass


class HSTestCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.server_args)
        cls.port = cls.server.port
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.call("DELETE", "/_test/faults")

    # HTTP helpers -----------------------------------------------------------
    def raw(self, method, path, body=None, headers=None, timeout=30):
        """One request on a fresh connection: (status, headers, bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, r, r.read()
        finally:
            conn.close()

    def call(self, method, path, body=None, token=None, expect=None, **kw):
        h = {"Authorization": "Bearer " + token} if token else {}
        status, resp, data = self.raw(method, path, body, h, **kw)
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = data
        if expect is not None:
            self.assertEqual(status, expect, "%s %s -> %s %r" % (method, path, status, j))
        return status, j

    def ok(self, method, path, body=None, token=None, **kw):
        return self.call(method, path, body, token, expect=200, **kw)[1]

    def err(self, method, path, body=None, token=None, status=None, errcode=None):
        st, j = self.call(method, path, body, token)
        if status is not None:
            self.assertEqual(st, status, j)
        if errcode is not None:
            self.assertEqual(j.get("errcode"), errcode, j)
        self.assertIn("error", j)
        return j

    # Matrix helpers -----------------------------------------------------------
    def register(self, name=None, device_id=None):
        type(self).n += 1
        name = name or "user%d_%d" % (type(self).n, os.getpid())
        body = {"username": name, "password": "pw-" + name, "auth": {"type": "m.login.dummy"}}
        if device_id:
            body["device_id"] = device_id
        j = self.ok("POST", V3 + "/register", body)
        return j["access_token"], j["user_id"]

    def create_room(self, token, **body):
        return self.ok("POST", V3 + "/createRoom", body, token)["room_id"]

    def send(self, token, room, body, txn=None, etype="m.room.message"):
        type(self).n += 1
        txn = txn or "t%d" % type(self).n
        return self.ok("PUT", "%s/rooms/%s/send/%s/%s" % (V3, q(room), etype, txn),
                       {"msgtype": "m.text", "body": body} if isinstance(body, str) else body,
                       token)["event_id"]

    def sync(self, token, since=None, timeout=0, flt=None, full_state=False):
        params = {"timeout": str(timeout)}
        if since:
            params["since"] = since
        if flt is not None:
            params["filter"] = flt if isinstance(flt, str) else json.dumps(flt)
        if full_state:
            params["full_state"] = "true"
        return self.ok("GET", V3 + "/sync?" + urllib.parse.urlencode(params), token=token,
                       timeout=timeout / 1000 + 30)

    def events(self, room):
        return self.ok("GET", "/_test/rooms/%s/events" % q(room))["events"]

    def faults(self, rules, append=False):
        return self.ok("POST", "/_test/faults" + ("?append=1" if append else ""), rules)

    def stats(self):
        return self.ok("GET", "/_test/stats")

    def bodies(self, evs):
        return [e["content"].get("body") for e in evs if e["type"] == "m.room.message"]


class TestBasics(HSTestCase):
    def test_versions_and_well_known(self):
        j = self.ok("GET", "/_matrix/client/versions")
        self.assertIn("v1.1", j["versions"])
        self.assertIn("v1.9", j["versions"])
        j = self.ok("GET", "/.well-known/matrix/client")
        self.assertEqual(j["m.homeserver"]["base_url"], "http://127.0.0.1:%d" % self.port)

    def test_unknown_endpoint(self):
        self.err("GET", V3 + "/no/such/thing", status=404, errcode="M_UNRECOGNIZED")
        self.err("DELETE", V3 + "/login", status=405, errcode="M_UNRECOGNIZED")
        self.err("GET", "/totally/else", status=404, errcode="M_UNRECOGNIZED")
        time.sleep(0.1)
        self.assertTrue(any("unrecognized GET %s/no/such/thing" % V3 in l for l in self.server.stderr),
                        self.server.stderr)
        self.assertIn("GET %s/no/such/thing" % V3, self.stats()["unrecognized"])

    def test_register_flow(self):
        st, j = self.call("POST", V3 + "/register", {"username": "flowuser", "password": "x"})
        self.assertEqual(st, 401)
        self.assertEqual(j["flows"], [{"stages": ["m.login.dummy"]}])
        self.assertTrue(j["session"])
        j = self.ok("POST", V3 + "/register", {"username": "flowuser", "password": "x",
                                               "auth": {"type": "m.login.dummy",
                                                        "session": j["session"]}})
        self.assertEqual(j["user_id"], "@flowuser:localhost")
        self.assertTrue(j["access_token"] and j["device_id"])
        self.err("POST", V3 + "/register", {"username": "flowuser", "password": "x",
                                            "auth": {"type": "m.login.dummy"}},
                 status=400, errcode="M_USER_IN_USE")
        self.err("GET", V3 + "/register/available?username=flowuser", status=400,
                 errcode="M_USER_IN_USE")
        self.assertEqual(self.ok("GET", V3 + "/register/available?username=freeuser"),
                         {"available": True})
        self.err("POST", V3 + "/register", {"username": "Bad Name", "auth": {"type": "m.login.dummy"}},
                 status=400, errcode="M_INVALID_USERNAME")
        j = self.ok("POST", "/_matrix/client/r0/register?kind=user",
                    {"username": "inhibited", "password": "x", "inhibit_login": True,
                     "auth": {"type": "m.login.dummy"}})
        self.assertNotIn("access_token", j)

    def test_login_logout_whoami(self):
        tok, uid = self.register("loginuser", device_id="FIRSTDEV")
        self.assertEqual(self.ok("GET", V3 + "/login")["flows"], [{"type": "m.login.password"}])
        j = self.ok("POST", V3 + "/login", {"type": "m.login.password",
                                            "identifier": {"type": "m.id.user", "user": "loginuser"},
                                            "password": "pw-loginuser", "device_id": "KEEPME"})
        self.assertEqual((j["user_id"], j["device_id"], j["home_server"]), (uid, "KEEPME", "localhost"))
        j2 = self.ok("POST", V3 + "/login", {"type": "m.login.password", "user": uid,
                                             "password": "pw-loginuser"})
        self.assertNotEqual(j2["device_id"], "KEEPME")
        self.err("POST", V3 + "/login", {"type": "m.login.password", "user": "loginuser",
                                         "password": "nope"}, status=403, errcode="M_FORBIDDEN")
        who = self.ok("GET", V3 + "/account/whoami", token=j["access_token"])
        self.assertEqual((who["user_id"], who["device_id"]), (uid, "KEEPME"))
        who = self.ok("GET", V3 + "/account/whoami?access_token=" + q(tok))
        self.assertEqual(who["device_id"], "FIRSTDEV")
        self.assertEqual(self.ok("POST", V3 + "/logout", {}, j["access_token"]), {})
        self.err("GET", V3 + "/account/whoami", token=j["access_token"], status=401,
                 errcode="M_UNKNOWN_TOKEN")
        self.err("GET", V3 + "/account/whoami", status=401, errcode="M_MISSING_TOKEN")

    def test_bad_input(self):
        tok, uid = self.register()
        self.err("POST", V3 + "/createRoom", b"{not json", tok, status=400, errcode="M_NOT_JSON")
        self.err("POST", V3 + "/createRoom", b"\xff\xfe", tok, status=400, errcode="M_NOT_JSON")
        self.err("POST", V3 + "/createRoom", [1, 2], tok, status=400, errcode="M_BAD_JSON")
        self.err("POST", V3 + "/createRoom", b'{"a": NaN}', tok, status=400, errcode="M_NOT_JSON")
        self.err("POST", V3 + "/createRoom", {"invite": "nope"}, tok, status=400, errcode="M_BAD_JSON")
        room = self.create_room(tok)
        self.err("PUT", "%s/rooms/%s/send/m.room.message/x1" % (V3, q(room)), "[]", tok,
                 status=400, errcode="M_BAD_JSON")
        self.err("GET", V3 + "/sync?since=garbage", token=tok, status=400, errcode="M_INVALID_PARAM")
        self.err("GET", "%s/rooms/%s/messages?dir=x" % (V3, q(room)), token=tok, status=400)
        big = b'{"body": "' + b"x" * (1024 * 1024 + 10) + b'"}'
        self.err("PUT", "%s/rooms/%s/send/m.room.message/big" % (V3, q(room)), big, tok,
                 status=413, errcode="M_TOO_LARGE")
        # over the 64 KiB event limit, under the body cap
        self.err("PUT", "%s/rooms/%s/send/m.room.message/big2" % (V3, q(room)),
                 {"msgtype": "m.text", "body": "y" * 70000}, tok, status=413, errcode="M_TOO_LARGE")
        # garbage on the wire: the server stays up
        for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                     b"PUT /x HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort"):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)
            except OSError:
                pass
            s.close()
        self.ok("GET", "/_matrix/client/versions")
        # chunked request body
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.putrequest("PUT", "%s/rooms/%s/send/m.room.message/chunked" % (V3, q(room)))
        conn.putheader("Authorization", "Bearer " + tok)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        payload = json.dumps({"msgtype": "m.text", "body": "chunked body"}).encode()
        for part in (payload[:10], payload[10:]):
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        self.assertEqual(r.status, 200, r.read())
        conn.close()
        self.assertIn("chunked body", self.bodies(self.events(room)))

    def test_keep_alive(self):
        tok, uid = self.register()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for _ in range(5):
            conn.request("GET", V3 + "/account/whoami", headers={"Authorization": "Bearer " + tok})
            r = conn.getresponse()
            self.assertEqual(json.loads(r.read())["user_id"], uid)
        conn.close()


class TestRooms(HSTestCase):
    def test_create_room_state(self):
        tok, uid = self.register()
        btok, bob = self.register()
        j = self.ok("POST", V3 + "/createRoom",
                    {"name": "Arch call", "topic": "keyframes", "room_alias_name": "arch",
                     "invite": [bob], "preset": "private_chat",
                     "initial_state": [{"type": "m.room.encryption", "state_key": "",
                                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
                     "power_level_content_override": {"events_default": 0, "users": {uid: 100, bob: 50}}},
                    tok)
        room = j["room_id"]
        self.assertTrue(room.startswith("!") and room.endswith(":localhost"))
        self.assertEqual(j["room_alias"], "#arch:localhost")
        st = self.ok("GET", "%s/rooms/%s/state" % (V3, q(room)), token=tok)
        types = [(e["type"], e["state_key"]) for e in st]
        for t in ("m.room.create", "m.room.power_levels", "m.room.join_rules",
                  "m.room.history_visibility", "m.room.name", "m.room.topic",
                  "m.room.canonical_alias", "m.room.encryption"):
            self.assertIn((t, ""), types)
        self.assertEqual(types[0], ("m.room.create", ""))
        self.assertEqual(types[1], ("m.room.member", uid))
        self.assertIn(("m.room.member", bob), types)
        pl = self.ok("GET", "%s/rooms/%s/state/m.room.power_levels" % (V3, q(room)), token=tok)
        self.assertEqual(pl["users"], {uid: 100, bob: 50})
        self.assertEqual(pl["state_default"], 50)
        self.assertEqual(self.ok("GET", "%s/rooms/%s/state/m.room.name/" % (V3, q(room)), token=tok),
                         {"name": "Arch call"})
        ev = self.ok("GET", "%s/rooms/%s/state/m.room.topic?format=event" % (V3, q(room)), token=tok)
        self.assertEqual(ev["content"]["topic"], "keyframes")
        self.assertEqual(self.ok("GET", V3 + "/directory/room/" + q("#arch:localhost"))["room_id"], room)
        self.err("GET", V3 + "/directory/room/" + q("#nope:localhost"), status=404, errcode="M_NOT_FOUND")
        self.err("POST", V3 + "/createRoom", {"room_alias_name": "arch"}, tok, status=400,
                 errcode="M_ROOM_IN_USE")
        self.err("GET", "%s/rooms/%s/state/m.room.avatar" % (V3, q(room)), token=tok, status=404,
                 errcode="M_NOT_FOUND")
        # join by alias
        self.ok("POST", V3 + "/join/" + q("#arch:localhost"), {}, btok)
        self.assertEqual(self.ok("GET", V3 + "/joined_rooms", token=btok)["joined_rooms"], [room])
        jm = self.ok("GET", "%s/rooms/%s/joined_members" % (V3, q(room)), token=tok)["joined"]
        self.assertEqual(sorted(jm), sorted([uid, bob]))
        mem = self.ok("GET", "%s/rooms/%s/members" % (V3, q(room)), token=tok)["chunk"]
        self.assertEqual(sorted(e["state_key"] for e in mem), sorted([uid, bob]))

    def test_membership_enforced(self):
        atok, alice = self.register()
        btok, bob = self.register()
        ctok, carol = self.register()
        room = self.create_room(atok)
        self.err("PUT", "%s/rooms/%s/send/m.room.message/a" % (V3, q(room)), {"body": "x"}, btok,
                 status=403, errcode="M_FORBIDDEN")
        self.err("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok, status=403, errcode="M_FORBIDDEN")
        self.err("POST", "%s/rooms/%s/invite" % (V3, q(room)), {"user_id": carol}, btok, status=403)
        self.ok("POST", "%s/rooms/%s/invite" % (V3, q(room)), {"user_id": bob}, atok)
        self.err("PUT", "%s/rooms/%s/send/m.room.message/b" % (V3, q(room)), {"body": "x"}, btok,
                 status=403)
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        self.send(btok, room, "now I can")
        self.err("POST", V3 + "/join/" + q("!nonexistent:localhost"), {}, btok, status=404,
                 errcode="M_NOT_FOUND")
        # public rooms are joinable without invite
        pub = self.create_room(atok, preset="public_chat")
        self.ok("POST", V3 + "/join/" + q(pub), {}, ctok)
        # leave, then no sending
        self.ok("POST", "%s/rooms/%s/leave" % (V3, q(pub)), {}, ctok)
        self.err("PUT", "%s/rooms/%s/send/m.room.message/c" % (V3, q(pub)), {"body": "x"}, ctok,
                 status=403)

    def test_power_levels(self):
        atok, alice = self.register()
        btok, bob = self.register()
        room = self.create_room(atok, invite=[bob])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        self.err("PUT", "%s/rooms/%s/state/m.room.name" % (V3, q(room)), {"name": "hijack"}, btok,
                 status=403, errcode="M_FORBIDDEN")
        self.ok("PUT", "%s/rooms/%s/state/m.room.name" % (V3, q(room)), {"name": "fine"}, atok)
        self.err("PUT", "%s/rooms/%s/state/m.room.power_levels" % (V3, q(room)),
                 {"users": {bob: 100}}, btok, status=403)
        a_ev = self.send(atok, room, "alice's")
        b_ev = self.send(btok, room, "bob's")
        self.err("PUT", "%s/rooms/%s/redact/%s/r1" % (V3, q(room), q(a_ev)), {}, btok, status=403,
                 errcode="M_FORBIDDEN")
        self.ok("PUT", "%s/rooms/%s/redact/%s/r2" % (V3, q(room), q(b_ev)), {"reason": "own"}, btok)
        a2 = self.send(atok, room, "alice again")
        b2 = self.send(btok, room, "bob again")
        red = self.ok("PUT", "%s/rooms/%s/redact/%s/r3" % (V3, q(room), q(b2)), {}, atok)["event_id"]
        self.err("PUT", "%s/rooms/%s/redact/%s/r4" % (V3, q(room), q("$missing:localhost")), {}, atok,
                 status=404)
        evs = {e["event_id"]: e for e in self.events(room)}
        self.assertEqual(evs[b2]["content"], {})
        self.assertEqual(evs[b2]["unsigned"]["redacted_because"]["event_id"], red)
        self.assertEqual(evs[red]["redacts"], b2)
        self.assertEqual(evs[red]["content"]["redacts"], b2)
        self.assertEqual(evs[a2]["content"]["body"], "alice again")
        # kick: bob can't, alice can; bob sees the kick under rooms.leave
        s0 = self.sync(btok)["next_batch"]
        self.err("POST", "%s/rooms/%s/kick" % (V3, q(room)), {"user_id": alice}, btok, status=403)
        self.ok("POST", "%s/rooms/%s/kick" % (V3, q(room)), {"user_id": bob, "reason": "bye"}, atok)
        s = self.sync(btok, s0)
        self.assertIn(room, s["rooms"]["leave"])
        leave_evs = s["rooms"]["leave"][room]["timeline"]["events"]
        self.assertEqual(leave_evs[-1]["content"]["membership"], "leave")
        self.assertEqual(leave_evs[-1]["sender"], alice)
        self.assertEqual(leave_evs[-1]["state_key"], bob)
        # a later sync has nothing more about the room
        s2 = self.sync(btok, s["next_batch"])
        self.assertNotIn(room, s2["rooms"]["leave"])

    def test_txn_idempotency(self):
        tok, uid = self.register(device_id="DEV1")
        room = self.create_room(tok)
        path = "%s/rooms/%s/send/m.room.message/%s" % (V3, q(room), "same-txn")
        e1 = self.ok("PUT", path, {"msgtype": "m.text", "body": "once"}, tok)["event_id"]
        e2 = self.ok("PUT", path, {"msgtype": "m.text", "body": "once"}, tok)["event_id"]
        self.assertEqual(e1, e2)
        # a new access token for the same device still deduplicates
        j = self.ok("POST", V3 + "/login", {"type": "m.login.password", "user": uid,
                                            "password": "pw-" + uid[1:].split(":")[0],
                                            "device_id": "DEV1"})
        e3 = self.ok("PUT", path, {"msgtype": "m.text", "body": "once"}, j["access_token"])["event_id"]
        self.assertEqual(e1, e3)
        # another device with the same txn id is a different event
        j = self.ok("POST", V3 + "/login", {"type": "m.login.password", "user": uid,
                                            "password": "pw-" + uid[1:].split(":")[0],
                                            "device_id": "DEV2"})
        e4 = self.ok("PUT", path, {"msgtype": "m.text", "body": "once"}, j["access_token"])["event_id"]
        self.assertNotEqual(e1, e4)
        self.assertEqual(self.bodies(self.events(room)).count("once"), 2)
        # redaction txn ids too
        rp = "%s/rooms/%s/redact/%s/red-txn" % (V3, q(room), q(e1))
        r1 = self.ok("PUT", rp, {}, tok)["event_id"]
        r2 = self.ok("PUT", rp, {}, tok)["event_id"]
        self.assertEqual(r1, r2)
        self.assertEqual(len([e for e in self.events(room) if e["type"] == "m.room.redaction"]), 1)
        # transaction_id comes back to the sending device only
        s = self.sync(tok)
        mine = [e for e in s["rooms"]["join"][room]["timeline"]["events"] if e["event_id"] == e1]
        if mine:
            self.assertEqual(mine[0]["unsigned"]["transaction_id"], "same-txn")

    def test_duplicate_annotation(self):
        atok, alice = self.register()
        room = self.create_room(atok)
        target = self.send(atok, room, "react to me")
        rc = {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}
        r1 = self.send(atok, room, rc, etype="m.reaction")
        self.err("PUT", "%s/rooms/%s/send/m.reaction/dup" % (V3, q(room)), rc, atok, status=400,
                 errcode="M_DUPLICATE_ANNOTATION")
        # another key is fine; a retry of the first txn is not a duplicate error
        self.send(atok, room, {"m.relates_to": dict(rc["m.relates_to"], key="🎉")}, etype="m.reaction")
        # after redacting the reaction it may be sent again
        self.ok("PUT", "%s/rooms/%s/redact/%s/x" % (V3, q(room), q(r1)), {}, atok)
        self.send(atok, room, rc, etype="m.reaction")
        rel = self.ok("GET", "%s/rooms/%s/relations/%s/m.annotation" % (V3, q(room), q(target)),
                      token=atok)["chunk"]
        # the redacted reaction lost its relation
        self.assertEqual(sorted(e["content"]["m.relates_to"]["key"] for e in rel), ["🎉", "👍"])

    def test_event_and_context(self):
        tok, uid = self.register()
        room = self.create_room(tok)
        ids = [self.send(tok, room, "m%d" % i) for i in range(5)]
        ev = self.ok("GET", "%s/rooms/%s/event/%s" % (V3, q(room), q(ids[2])), token=tok)
        self.assertEqual((ev["content"]["body"], ev["room_id"], ev["sender"]), ("m2", room, uid))
        self.assertIsInstance(ev["origin_server_ts"], int)
        self.assertTrue(ev["event_id"].startswith("$"))
        ctx = self.ok("GET", "%s/rooms/%s/context/%s?limit=4" % (V3, q(room), q(ids[2])), token=tok)
        self.assertEqual([e["content"]["body"] for e in ctx["events_before"]], ["m1", "m0"])
        self.assertEqual([e["content"]["body"] for e in ctx["events_after"]], ["m3", "m4"])
        self.err("GET", "%s/rooms/%s/event/%s" % (V3, q(room), q("$nope:localhost")), token=tok,
                 status=404, errcode="M_NOT_FOUND")
        otok, _ = self.register()
        self.err("GET", "%s/rooms/%s/event/%s" % (V3, q(room), q(ids[0])), token=otok, status=403)

    def test_misc_client_endpoints(self):
        tok, uid = self.register()
        self.assertIn("global", self.ok("GET", V3 + "/pushrules/", token=tok))
        self.assertIn("m.room_versions", self.ok("GET", V3 + "/capabilities", token=tok)["capabilities"])
        self.ok("PUT", V3 + "/presence/%s/status" % q(uid), {"presence": "online"}, tok)
        self.assertEqual(self.ok("GET", V3 + "/profile/" + q(uid))["displayname"], uid[1:].split(":")[0])
        self.ok("PUT", V3 + "/profile/%s/displayname" % q(uid), {"displayname": "Chair"}, tok)
        self.assertEqual(self.ok("GET", V3 + "/profile/%s/displayname" % q(uid)), {"displayname": "Chair"})
        self.err("GET", V3 + "/profile/" + q("@ghost:localhost"), status=404, errcode="M_NOT_FOUND")
        self.ok("PUT", V3 + "/user/%s/account_data/m.direct" % q(uid), {"@x:localhost": []}, tok)
        self.assertEqual(self.ok("GET", V3 + "/user/%s/account_data/m.direct" % q(uid), token=tok),
                         {"@x:localhost": []})
        s = self.sync(tok)
        self.assertIn("m.direct", [e["type"] for e in s["account_data"]["events"]])
        self.assertEqual(self.ok("GET", V3 + "/voip/turnServer", token=tok), {})
        self.assertEqual(self.ok("GET", V3 + "/thirdparty/protocols", token=tok), {})
        self.assertIn("results", self.ok("POST", V3 + "/user_directory/search", {"search_term": "user"}, tok))
        self.err("GET", V3 + "/room_keys/version", token=tok, status=404, errcode="M_NOT_FOUND")
        self.assertIn("m.upload.size", self.ok("GET", "/_matrix/client/v1/media/config", token=tok))
        self.assertIn("m.upload.size", self.ok("GET", "/_matrix/media/v3/config", token=tok))
        up = self.ok("POST", "/_matrix/media/v3/upload?filename=a.txt", "hello media", tok)
        server, mid = up["content_uri"][len("mxc://"):].split("/")
        st, r, data = self.raw("GET", "/_matrix/client/v1/media/download/%s/%s" % (server, mid),
                               headers={"Authorization": "Bearer " + tok})
        self.assertEqual((st, data), (200, b"hello media"))
        f = self.ok("POST", V3 + "/user/%s/filter" % q(uid), {"room": {"timeline": {"limit": 3}}}, tok)
        self.assertEqual(self.ok("GET", V3 + "/user/%s/filter/%s" % (q(uid), f["filter_id"]), token=tok),
                         {"room": {"timeline": {"limit": 3}}})
        room = self.create_room(tok)
        ev = self.send(tok, room, "read me")
        self.ok("POST", "%s/rooms/%s/receipt/m.read/%s" % (V3, q(room), q(ev)), {}, tok)
        self.ok("POST", "%s/rooms/%s/read_markers" % (V3, q(room)), {"m.fully_read": ev}, tok)
        self.ok("PUT", "%s/rooms/%s/typing/%s" % (V3, q(room), q(uid)), {"typing": True, "timeout": 5000}, tok)
        s = self.sync(tok)
        eph = s["rooms"]["join"][room]["ephemeral"]["events"]
        self.assertIn("m.typing", [e["type"] for e in eph])
        self.assertIn("m.receipt", [e["type"] for e in eph])
        self.assertEqual(self.ok("PUT", V3 + "/sendToDevice/m.test/t1", {"messages": {}}, tok), {})


class TestSync(HSTestCase):
    def test_initial_sync_shape(self):
        tok, uid = self.register()
        room = self.create_room(tok, name="shape")
        for i in range(15):
            self.send(tok, room, "msg %d" % i)
        s = self.sync(tok)
        for k in ("next_batch", "rooms", "account_data", "to_device", "device_lists",
                  "device_one_time_keys_count", "presence"):
            self.assertIn(k, s)
        self.assertEqual(s["device_one_time_keys_count"]["signed_curve25519"], 0)
        self.assertEqual(s["to_device"], {"events": []})
        jr = s["rooms"]["join"][room]
        tl = jr["timeline"]
        self.assertEqual(len(tl["events"]), 10)
        self.assertTrue(tl["limited"])
        self.assertTrue(tl["prev_batch"])
        self.assertEqual(self.bodies(tl["events"]), ["msg %d" % i for i in range(5, 15)])
        state_types = {e["type"] for e in jr["state"]["events"]}
        self.assertTrue({"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"} <= state_types)
        for e in tl["events"]:
            for k in ("event_id", "sender", "type", "content", "origin_server_ts", "unsigned"):
                self.assertIn(k, e)
            self.assertIn("age", e["unsigned"])
        self.assertEqual(jr["summary"]["m.joined_member_count"], 1)
        self.assertIn("unread_notifications", jr)
        # a state-filtered timeline
        s = self.sync(tok, flt={"room": {"timeline": {"limit": 50, "types": ["m.room.message"]}}})
        self.assertEqual(len(s["rooms"]["join"][room]["timeline"]["events"]), 15)
        s = self.sync(tok, flt={"room": {"timeline": {"limit": 50, "not_types": ["m.room.message"]}}})
        self.assertFalse(self.bodies(s["rooms"]["join"][room]["timeline"]["events"]))
        # stored filter by id
        fid = self.ok("POST", V3 + "/user/%s/filter" % q(uid), {"room": {"timeline": {"limit": 2}}},
                      tok)["filter_id"]
        s = self.sync(tok, flt=fid)
        self.assertEqual(len(s["rooms"]["join"][room]["timeline"]["events"]), 2)

    def test_gap_and_backfill(self):
        atok, alice = self.register()
        btok, bob = self.register()
        room = self.create_room(atok, invite=[bob])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        since = self.sync(btok)["next_batch"]
        for i in range(25):
            self.send(atok, room, "gap %d" % i)
        flt = {"room": {"timeline": {"limit": 5}}}
        s = self.sync(btok, since, flt=flt)
        tl = s["rooms"]["join"][room]["timeline"]
        self.assertTrue(tl["limited"])
        self.assertEqual(self.bodies(tl["events"]), ["gap %d" % i for i in range(20, 25)])
        # back-fill exactly the gap: from prev_batch back to the old since token
        got = []
        token = tl["prev_batch"]
        for _ in range(10):
            j = self.ok("GET", "%s/rooms/%s/messages?%s" % (V3, q(room), urllib.parse.urlencode(
                {"from": token, "to": since, "dir": "b", "limit": 6})), token=btok)
            got = [e["content"]["body"] for e in j["chunk"]][::-1] + got
            self.assertEqual(j["start"], token)
            if "end" not in j:
                break
            token = j["end"]
        self.assertEqual(got, ["gap %d" % i for i in range(20)])
        # a non-limited incremental sync
        s2 = self.sync(btok, s["next_batch"])
        self.assertNotIn(room, s2["rooms"]["join"])
        self.send(atok, room, "after")
        s3 = self.sync(btok, s["next_batch"], flt=flt)
        tl = s3["rooms"]["join"][room]["timeline"]
        self.assertFalse(tl["limited"])
        self.assertEqual(self.bodies(tl["events"]), ["after"])
        # /messages without 'to' reaches the start of the room and then omits 'end'
        j = self.ok("GET", "%s/rooms/%s/messages?dir=b&limit=1000" % (V3, q(room)), token=btok)
        self.assertNotIn("end", j)
        self.assertEqual(j["chunk"][-1]["type"], "m.room.create")
        # forward
        j = self.ok("GET", "%s/rooms/%s/messages?dir=f&limit=3&from=%s" % (V3, q(room), since),
                    token=btok)
        self.assertEqual([e["content"]["body"] for e in j["chunk"]], ["gap 0", "gap 1", "gap 2"])
        j = self.ok("GET", "%s/rooms/%s/messages?dir=f&limit=3&from=%s" % (V3, q(room), j["end"]),
                    token=btok)
        self.assertEqual([e["content"]["body"] for e in j["chunk"]], ["gap 3", "gap 4", "gap 5"])
        # filtered /messages
        j = self.ok("GET", "%s/rooms/%s/messages?dir=b&limit=100&filter=%s" % (
            V3, q(room), q(json.dumps({"types": ["m.room.member"]}))), token=btok)
        self.assertTrue(j["chunk"] and all(e["type"] == "m.room.member" for e in j["chunk"]))

    def test_invite_in_sync(self):
        atok, alice = self.register()
        btok, bob = self.register()
        since = self.sync(btok)["next_batch"]
        room = self.create_room(atok, name="invite me")
        self.ok("POST", "%s/rooms/%s/invite" % (V3, q(room)), {"user_id": bob}, atok)
        s = self.sync(btok, since, timeout=5000)
        self.assertIn(room, s["rooms"]["invite"])
        inv = s["rooms"]["invite"][room]["invite_state"]["events"]
        member = [e for e in inv if e["type"] == "m.room.member" and e["state_key"] == bob]
        self.assertEqual(len(member), 1)
        self.assertEqual(member[0]["content"]["membership"], "invite")
        self.assertEqual(member[0]["sender"], alice)
        self.assertIn({"type": "m.room.name", "state_key": "", "content": {"name": "invite me"},
                       "sender": alice}, inv)
        self.assertNotIn(room, s["rooms"]["join"])
        # initial sync shows it too; the next incremental does not repeat it
        self.assertIn(room, self.sync(btok)["rooms"]["invite"])
        self.assertNotIn(room, self.sync(btok, s["next_batch"])["rooms"]["invite"])
        # after joining: the room appears under join with full state
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        s2 = self.sync(btok, s["next_batch"])
        jr = s2["rooms"]["join"][room]
        self.assertIn("m.room.create", [e["type"] for e in jr["state"]["events"] + jr["timeline"]["events"]])
        self.assertNotIn(room, s2["rooms"]["invite"])
        # reject: an invite refused lands in leave
        room2 = self.create_room(atok, invite=[bob])
        s3 = self.sync(btok, s2["next_batch"])
        self.assertIn(room2, s3["rooms"]["invite"])
        self.ok("POST", "%s/rooms/%s/leave" % (V3, q(room2)), {}, btok)
        s4 = self.sync(btok, s3["next_batch"])
        self.assertIn(room2, s4["rooms"]["leave"])

    def test_long_poll(self):
        atok, alice = self.register()
        room = self.create_room(atok)
        since = self.sync(atok)["next_batch"]
        t0 = time.monotonic()
        s = self.sync(atok, since, timeout=400)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        self.assertEqual(s["rooms"]["join"], {})
        self.assertEqual(s["next_batch"], since)
        threading.Timer(0.3, lambda: self.send(atok, room, "wake up")).start()
        t0 = time.monotonic()
        s = self.sync(atok, since, timeout=10000)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.bodies(s["rooms"]["join"][room]["timeline"]["events"]), ["wake up"])
        self.assertNotEqual(s["next_batch"], since)

    def test_duplicate_sync(self):
        atok, alice = self.register()
        room = self.create_room(atok)
        t1 = self.sync(atok)["next_batch"]
        self.send(atok, room, "A")
        s = self.sync(atok, t1)
        self.assertEqual(self.bodies(s["rooms"]["join"][room]["timeline"]["events"]), ["A"])
        t2 = s["next_batch"]
        self.ok("POST", "/_test/duplicate_sync", {"count": 1})
        self.send(atok, room, "B")
        s = self.sync(atok, t2)
        self.assertEqual(self.bodies(s["rooms"]["join"][room]["timeline"]["events"]), ["A", "B"])
        t3 = s["next_batch"]
        self.send(atok, room, "C")
        s = self.sync(atok, t3)
        self.assertEqual(self.bodies(s["rooms"]["join"][room]["timeline"]["events"]), ["C"])
        # duplicated with nothing new: returns at once with the old batch
        self.ok("POST", "/_test/duplicate_sync", {"count": 1, "user_id": alice})
        t0 = time.monotonic()
        s2 = self.sync(atok, s["next_batch"], timeout=5000)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(self.bodies(s2["rooms"]["join"][room]["timeline"]["events"]), ["C"])
        self.assertEqual(self.stats()["faults"].get("duplicate_sync"), 2)

    def test_token_invalidation(self):
        tok, uid = self.register(device_id="BOTDEV")
        self.ok("GET", V3 + "/account/whoami", token=tok)
        j = self.ok("POST", "/_test/invalidate_token", {"user_id": uid})
        self.assertEqual(j["invalidated"], 1)
        e = self.err("GET", V3 + "/sync", token=tok, status=401, errcode="M_UNKNOWN_TOKEN")
        self.assertIs(e["soft_logout"], False)
        j = self.ok("POST", V3 + "/login", {"type": "m.login.password", "user": uid,
                                            "password": "pw-" + uid[1:].split(":")[0],
                                            "device_id": "BOTDEV"})
        self.assertEqual(self.ok("GET", V3 + "/account/whoami", token=j["access_token"])["device_id"],
                         "BOTDEV")
        self.ok("POST", "/_test/invalidate_token", {"access_token": j["access_token"]})
        self.err("GET", V3 + "/account/whoami", token=j["access_token"], status=401,
                 errcode="M_UNKNOWN_TOKEN")

    def test_keys_and_to_device(self):
        atok, alice = self.register(device_id="ADEV")
        btok, bob = self.register(device_id="BDEV")
        room = self.create_room(atok, invite=[bob])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        since = self.sync(atok)["next_batch"]
        dk = {"user_id": bob, "device_id": "BDEV", "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
              "keys": {"curve25519:BDEV": "c" * 43, "ed25519:BDEV": "e" * 43}, "signatures": {}}
        j = self.ok("POST", V3 + "/keys/upload",
                    {"device_keys": dk, "one_time_keys": {"signed_curve25519:AAA": {"key": "k1"},
                                                          "signed_curve25519:AAB": {"key": "k2"}},
                     "fallback_keys": {"signed_curve25519:FB": {"key": "fb", "fallback": True}}}, btok)
        self.assertEqual(j["one_time_key_counts"]["signed_curve25519"], 2)
        s = self.sync(atok, since)
        self.assertIn(bob, s["device_lists"]["changed"])
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {bob: []}}, atok)
        self.assertEqual(j["device_keys"][bob]["BDEV"]["keys"], dk["keys"])
        claimed = []
        for _ in range(3):
            j = self.ok("POST", V3 + "/keys/claim",
                        {"one_time_keys": {bob: {"BDEV": "signed_curve25519"}}}, atok)
            claimed += list(j["one_time_keys"][bob]["BDEV"])
        self.assertEqual(claimed, ["signed_curve25519:AAA", "signed_curve25519:AAB", "signed_curve25519:FB"])
        sb = self.sync(btok)
        self.assertEqual(sb["device_one_time_keys_count"]["signed_curve25519"], 0)
        path = V3 + "/sendToDevice/m.room_key_request/txn1"
        body = {"messages": {bob: {"BDEV": {"hello": 1}}}}
        self.ok("PUT", path, body, atok)
        self.ok("PUT", path, body, atok)  # retry: delivered once
        s1 = self.sync(btok, sb["next_batch"])
        self.assertEqual(s1["to_device"]["events"],
                         [{"sender": alice, "type": "m.room_key_request", "content": {"hello": 1}}])
        s2 = self.sync(btok, s1["next_batch"])
        self.assertEqual(s2["to_device"]["events"], [])


class Signer:
    """An Ed25519 key pair from a seed, signing Matrix objects as clients do."""

    def __init__(self, seed):
        self.seed = bytes([seed]) * 32
        self.pub = hsmod.unpadded_b64encode(hsmod.ed25519_public(self.seed))

    def sign(self, obj, user, key_id=None):
        key_id = key_id or "ed25519:" + self.pub
        sig = hsmod.unpadded_b64encode(hsmod.ed25519_sign(self.seed, hsmod.canonical_json(obj)))
        obj.setdefault("signatures", {}).setdefault(user, {})[key_id] = sig
        return obj

    def cs_key(self, user, usage, signer=None):
        k = {"user_id": user, "usage": [usage], "keys": {"ed25519:" + self.pub: self.pub}}
        return (signer or self).sign(k, user) if signer else k


class TestE2EE(HSTestCase):
    """Cross-signing, signatures, and the rest of what E2EE clients need."""

    def test_ed25519_rfc8032_vector(self):
        # RFC 8032 section 7.1, TEST 2
        seed = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
        pub = hsmod.ed25519_public(seed)
        self.assertEqual(pub.hex(),
                         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        sig = hsmod.ed25519_sign(seed, b"\x72")
        self.assertEqual(sig.hex(),
                         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        self.assertTrue(hsmod.ed25519_verify(pub, b"\x72", sig))
        self.assertFalse(hsmod.ed25519_verify(pub, b"\x73", sig))

    def device(self, name, seed):
        tok, user = self.register(name, device_id=name.upper() + "DEV")
        did = name.upper() + "DEV"
        dkey = Signer(seed)
        dk = {"user_id": user, "device_id": did,
              "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
              "keys": {"curve25519:" + did: "c" * 43, "ed25519:" + did: dkey.pub}}
        dkey.sign(dk, user, "ed25519:" + did)
        self.ok("POST", V3 + "/keys/upload", {"device_keys": dk}, tok)
        return tok, user, did, dkey, dk

    def upload_cs(self, tok, user, body, password):
        st, j = self.call("POST", V3 + "/keys/device_signing/upload", body, tok)
        self.assertEqual(st, 401, j)
        self.assertEqual(j["flows"], [{"stages": ["m.login.password"]}])
        self.assertTrue(j["session"])
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                "password": password, "session": j["session"]}
        return self.ok("POST", V3 + "/keys/device_signing/upload", dict(body, auth=auth), tok)

    def test_device_signing_upload_uia(self):
        tok, user, did, dkey, dk = self.device("carol", 1)
        since = self.sync(tok)["next_batch"]
        msk, ssk, usk = Signer(2), Signer(3), Signer(4)
        body = {"master_key": msk.cs_key(user, "master"),
                "self_signing_key": ssk.cs_key(user, "self_signing", msk),
                "user_signing_key": usk.cs_key(user, "user_signing", msk)}
        # no auth: 401 with the password flow and a session
        st, j = self.call("POST", V3 + "/keys/device_signing/upload", body, tok)
        self.assertEqual(st, 401)
        self.assertEqual(j["flows"], [{"stages": ["m.login.password"]}])
        session = j["session"]
        # a wrong password: 401 again, M_FORBIDDEN, same session
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "carol"},
                "password": "wrong", "session": session}
        st, j = self.call("POST", V3 + "/keys/device_signing/upload", dict(body, auth=auth), tok)
        self.assertEqual((st, j["errcode"], j["session"]), (401, "M_FORBIDDEN", session))
        # an unknown session
        self.err("POST", V3 + "/keys/device_signing/upload",
                 dict(body, auth=dict(auth, password="pw-carol", session="nope")), tok, 400)
        # another user's name in the identifier
        self.err("POST", V3 + "/keys/device_signing/upload",
                 dict(body, auth=dict(auth, password="pw-carol",
                                      identifier={"type": "m.id.user", "user": "@x:localhost"})),
                 tok, 403, "M_FORBIDDEN")
        self.ok("POST", V3 + "/keys/device_signing/upload",
                dict(body, auth=dict(auth, password="pw-carol")), tok)
        # the session is used up
        self.err("POST", V3 + "/keys/device_signing/upload",
                 dict(body, master_key=Signer(9).cs_key(user, "master"),
                      auth=dict(auth, password="pw-carol")), tok, 400)
        # the same keys again (a retry): no UIA
        self.ok("POST", V3 + "/keys/device_signing/upload", body, tok)
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {user: []}}, tok)
        self.assertEqual(j["master_keys"][user]["keys"], body["master_key"]["keys"])
        self.assertEqual(j["self_signing_keys"][user], body["self_signing_key"])
        self.assertEqual(j["user_signing_keys"][user], body["user_signing_key"])
        s = self.sync(tok, since)
        self.assertIn(user, s["device_lists"]["changed"])
        # others see the master and self-signing keys, never the user-signing key
        otok, other = self.register()
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {user: []}}, otok)
        self.assertIn(user, j["master_keys"])
        self.assertIn(user, j["self_signing_keys"])
        self.assertEqual(j["user_signing_keys"], {})
        # replacing a key needs UIA again
        ssk2 = Signer(5)
        st, j = self.call("POST", V3 + "/keys/device_signing/upload",
                          {"self_signing_key": ssk2.cs_key(user, "self_signing", msk)}, tok)
        self.assertEqual(st, 401)
        # a self-signing key not signed by the master key is refused
        bad = ssk2.cs_key(user, "self_signing", Signer(6))
        bad["signatures"] = {user: {"ed25519:" + msk.pub: bad["signatures"][user].popitem()[1]}}
        self.err("POST", V3 + "/keys/device_signing/upload", {"self_signing_key": bad}, tok, 400,
                 "M_INVALID_SIGNATURE")
        # malformed keys
        self.err("POST", V3 + "/keys/device_signing/upload",
                 {"master_key": {"user_id": other, "usage": ["master"],
                                 "keys": {"ed25519:" + msk.pub: msk.pub}}}, tok, 400)
        self.err("POST", V3 + "/keys/device_signing/upload",
                 {"master_key": {"user_id": user, "usage": ["self_signing"],
                                 "keys": {"ed25519:" + msk.pub: msk.pub}}}, tok, 400)
        self.upload_cs(tok, "@carol:localhost",
                       {"self_signing_key": ssk2.cs_key(user, "self_signing", msk)}, "pw-carol")
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {user: []}}, otok)
        self.assertEqual(j["self_signing_keys"][user]["keys"], {"ed25519:" + ssk2.pub: ssk2.pub})

    def test_signatures_upload(self):
        atok, alice, adid, akey, adk = self.device("dora", 11)
        btok, bob, bdid, bkey, bdk = self.device("eve", 12)
        room = self.create_room(atok, invite=[bob])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        amsk, assk, ausk = Signer(13), Signer(14), Signer(15)
        bmsk, bssk = Signer(16), Signer(17)
        self.upload_cs(atok, alice, {"master_key": amsk.cs_key(alice, "master"),
                                     "self_signing_key": assk.cs_key(alice, "self_signing", amsk),
                                     "user_signing_key": ausk.cs_key(alice, "user_signing", amsk)},
                       "pw-dora")
        bmaster = bmsk.cs_key(bob, "master")
        self.upload_cs(btok, bob, {"master_key": bmaster,
                                   "self_signing_key": bssk.cs_key(bob, "self_signing", bmsk)},
                       "pw-eve")
        since_b = self.sync(btok)["next_batch"]
        since_a = self.sync(atok)["next_batch"]
        # alice's self-signing key signs her device; her device signs her master key
        signed_dev = assk.sign(dict((k, v) for k, v in adk.items() if k != "signatures"), alice)
        signed_master = akey.sign(amsk.cs_key(alice, "master"), alice, "ed25519:" + adid)
        # ... and her user-signing key signs bob's master key
        signed_bob = ausk.sign(dict(bmaster), alice)
        j = self.ok("POST", V3 + "/keys/signatures/upload",
                    {alice: {adid: signed_dev, amsk.pub: signed_master}, bob: {bmsk.pub: signed_bob}},
                    atok)
        self.assertEqual(j["failures"], {})
        # bob sees alice's device with both signatures, her master key with her device's
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {alice: [], bob: []}}, btok)
        sigs = j["device_keys"][alice][adid]["signatures"][alice]
        self.assertEqual(set(sigs), {"ed25519:" + adid, "ed25519:" + assk.pub})
        self.assertTrue(hsmod.check_signature(j["device_keys"][alice][adid], alice,
                                              "ed25519:" + assk.pub,
                                              j["self_signing_keys"][alice]["keys"]["ed25519:" + assk.pub]))
        self.assertIn("ed25519:" + adid, j["master_keys"][alice]["signatures"][alice])
        # alice's signature on bob's master key is alice's business only
        self.assertNotIn(alice, j["master_keys"][bob].get("signatures", {}))
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {bob: []}}, atok)
        self.assertIn("ed25519:" + ausk.pub, j["master_keys"][bob]["signatures"][alice])
        # device lists: bob learns alice changed; alice learns of her own change
        self.assertIn(alice, self.sync(btok, since_b)["device_lists"]["changed"])
        self.assertIn(alice, self.sync(atok, since_a)["device_lists"]["changed"])
        # a re-upload of the same device keys keeps the cross-signing signature
        self.ok("POST", V3 + "/keys/upload", {"device_keys": adk}, atok)
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {alice: [adid]}}, btok)
        self.assertIn("ed25519:" + assk.pub, j["device_keys"][alice][adid]["signatures"][alice])
        # failures: a bad signature, a changed object, an unknown device, a stranger's key
        forged = dict(signed_dev, signatures={alice: {"ed25519:" + assk.pub: "A" * 86}})
        changed = assk.sign(dict((k, v) for k, v in adk.items() if k != "signatures" and k != "algorithms"), alice)
        j = self.ok("POST", V3 + "/keys/signatures/upload",
                    {alice: {adid: forged, "NODEV": signed_dev}, bob: {bdid: signed_bob}}, atok)
        self.assertEqual(j["failures"][alice][adid]["errcode"], "M_INVALID_SIGNATURE")
        self.assertEqual(j["failures"][alice]["NODEV"]["errcode"], "M_NOT_FOUND")
        self.assertIn(bdid, j["failures"][bob])
        j = self.ok("POST", V3 + "/keys/signatures/upload", {alice: {adid: changed}}, atok)
        self.assertEqual(j["failures"][alice][adid]["errcode"], "M_INVALID_SIGNATURE")

    def test_cross_signing_changes_reach_room_members(self):
        atok, alice, adid, akey, adk = self.device("gina", 41)
        btok, bob = self.register()
        room = self.create_room(atok, invite=[bob])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        since = self.sync(btok)["next_batch"]
        msk = Signer(42)
        self.upload_cs(atok, alice, {"master_key": msk.cs_key(alice, "master"),
                                     "self_signing_key": Signer(43).cs_key(alice, "self_signing", msk)},
                       "pw-gina")
        s = self.sync(btok, since, timeout=5000)
        self.assertIn(alice, s["device_lists"]["changed"])
        # and /keys/changes agrees
        j = self.ok("GET", V3 + "/keys/changes?from=%s&to=%s" % (since, s["next_batch"]), token=btok)
        self.assertIn(alice, j["changed"])
        # a stranger who shares no room is not told
        ctok, _ = self.register()
        cs = self.sync(ctok)["next_batch"]
        self.upload_cs(atok, alice, {"master_key": Signer(44).cs_key(alice, "master")}, "pw-gina")
        self.assertNotIn(alice, self.sync(ctok, cs)["device_lists"]["changed"])

    def test_query_failures_and_fallback_types(self):
        tok, user, did, dkey, dk = self.device("fred", 21)
        j = self.ok("POST", V3 + "/keys/query",
                    {"device_keys": {"@x:elsewhere.example": [], "@nobody:localhost": []}}, tok)
        self.assertIn("elsewhere.example", j["failures"])
        self.assertEqual(j["device_keys"]["@nobody:localhost"], {})
        # a device without a display name has none in unsigned (not null: nio chokes on it)
        j = self.ok("POST", V3 + "/keys/query", {"device_keys": {user: []}}, tok)
        self.assertNotIn("device_display_name", j["device_keys"][user][did].get("unsigned", {}))
        s = self.sync(tok)
        self.assertEqual(s["device_unused_fallback_key_types"], [])
        self.ok("POST", V3 + "/keys/upload",
                {"one_time_keys": {"signed_curve25519:A1": {"key": "k1"}},
                 "fallback_keys": {"signed_curve25519:F1": {"key": "f", "fallback": True}}}, tok)
        s = self.sync(tok, s["next_batch"])
        self.assertEqual(s["device_unused_fallback_key_types"], ["signed_curve25519"])
        self.assertEqual(s["device_one_time_keys_count"]["signed_curve25519"], 1)
        # the same OTK id with another key is refused, the same key again is fine
        self.err("POST", V3 + "/keys/upload",
                 {"one_time_keys": {"signed_curve25519:A1": {"key": "other"}}}, tok, 400)
        self.ok("POST", V3 + "/keys/upload",
                {"one_time_keys": {"signed_curve25519:A1": {"key": "k1"}}}, tok)
        otok, _ = self.register()
        for _ in range(2):
            self.ok("POST", V3 + "/keys/claim",
                    {"one_time_keys": {user: {did: "signed_curve25519"}}}, otok)
        s = self.sync(tok)
        self.assertEqual(s["device_unused_fallback_key_types"], [])
        self.assertEqual(s["device_one_time_keys_count"]["signed_curve25519"], 0)

    def test_encryption_state(self):
        atok, alice = self.register()
        btok, bob = self.register()
        enc = {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_ms": 604800000,
               "rotation_period_msgs": 100}
        room = self.create_room(atok, invite=[bob], initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": enc}])
        s = self.sync(btok)
        inv = s["rooms"]["invite"][room]["invite_state"]["events"]
        self.assertIn(enc, [e["content"] for e in inv if e["type"] == "m.room.encryption"])
        self.ok("POST", "%s/rooms/%s/join" % (V3, q(room)), {}, btok)
        self.assertEqual(self.ok("GET", "%s/rooms/%s/state/m.room.encryption" % (V3, q(room)),
                                 token=btok), enc)
        # only the creator (power 100) may change it
        self.err("PUT", "%s/rooms/%s/state/m.room.encryption" % (V3, q(room)),
                 {"algorithm": "m.megolm.v1.aes-sha2"}, btok, 403, "M_FORBIDDEN")
        st = self.sync(btok, full_state=True)["rooms"]["join"][room]
        evs = st["state"]["events"] + st["timeline"]["events"]
        self.assertIn(enc, [e["content"] for e in evs if e["type"] == "m.room.encryption"])

    def test_to_device_wildcard_and_idempotence(self):
        atok, alice = self.register()
        btok, bob = self.register()
        bs = self.sync(btok)["next_batch"]
        self.ok("PUT", V3 + "/sendToDevice/m.room.encrypted/w1",
                {"messages": {bob: {"*": {"n": 1}}}}, atok)
        self.ok("PUT", V3 + "/sendToDevice/m.room.encrypted/w1",
                {"messages": {bob: {"*": {"n": 2}}}}, atok)   # same txn: ignored
        s = self.sync(btok, bs)
        self.assertEqual([e["content"] for e in s["to_device"]["events"]], [{"n": 1}])
        # not acknowledged (same since): delivered again; acknowledged: gone
        self.assertEqual(len(self.sync(btok, bs)["to_device"]["events"]), 1)
        self.assertEqual(self.sync(btok, s["next_batch"])["to_device"]["events"], [])


class TestCrossSigningReplaceMode(HSTestCase):
    """--cross-signing-uia replace: the spec v1.11 rule (MSC3967), no UIA for the first keys."""
    server_args = ("--cross-signing-uia", "replace")

    def test_first_upload_without_uia(self):
        tok, user = self.register()
        msk = Signer(31)
        body = {"master_key": msk.cs_key(user, "master"),
                "self_signing_key": Signer(32).cs_key(user, "self_signing", msk)}
        self.ok("POST", V3 + "/keys/device_signing/upload", body, tok)
        self.ok("POST", V3 + "/keys/device_signing/upload", body, tok)
        st, j = self.call("POST", V3 + "/keys/device_signing/upload",
                          {"master_key": Signer(33).cs_key(user, "master")}, tok)
        self.assertEqual(st, 401)
        self.assertEqual(j["flows"], [{"stages": ["m.login.password"]}])


class TestFaults(HSTestCase):
    def setUp(self):
        self.tok, self.uid = self.register()
        self.room = self.create_room(self.tok)

    def send_path(self, txn):
        return "%s/rooms/%s/send/m.room.message/%s" % (V3, q(self.room), txn)

    def test_429(self):
        self.faults([{"match": r"^GET .*/account/whoami$", "action": "429", "retry_after_ms": 1500,
                      "retry_after_header": True, "count": 2}])
        for _ in range(2):
            st, r, data = self.raw("GET", V3 + "/account/whoami", headers={"Authorization": "Bearer " + self.tok})
            self.assertEqual(st, 429)
            j = json.loads(data)
            self.assertEqual((j["errcode"], j["retry_after_ms"]), ("M_LIMIT_EXCEEDED", 1500))
            self.assertEqual(r.getheader("Retry-After"), "2")
        self.ok("GET", V3 + "/account/whoami", token=self.tok)
        self.faults([{"match": "whoami", "action": "429"}])
        st, r, data = self.raw("GET", V3 + "/account/whoami", headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(st, 429)
        self.assertIsNone(r.getheader("Retry-After"))
        self.assertEqual(json.loads(data)["retry_after_ms"], 1000)

    def test_500_and_502(self):
        self.faults([{"match": "/send/", "action": "500"}, {"match": "/send/", "action": "502"}])
        st, j = self.call("PUT", self.send_path("f1"), {"body": "x"}, self.tok)
        self.assertEqual((st, j["errcode"]), (500, "M_UNKNOWN"))
        st, r, data = self.raw("PUT", self.send_path("f1"), {"body": "x"},
                               {"Authorization": "Bearer " + self.tok})
        self.assertEqual(st, 502)
        self.assertIn("text/html", r.getheader("Content-Type"))
        # neither created an event; the retry goes through once
        self.ok("PUT", self.send_path("f1"), {"body": "x"}, self.tok)
        self.assertEqual(self.bodies(self.events(self.room)).count("x"), 1)
        # with process: the event is created but the response is a 500
        self.faults([{"match": "/send/", "action": "500", "process": True}])
        st, _ = self.call("PUT", self.send_path("f2"), {"body": "y"}, self.tok)
        self.assertEqual(st, 500)
        self.assertEqual(self.bodies(self.events(self.room)).count("y"), 1)
        self.ok("PUT", self.send_path("f2"), {"body": "y"}, self.tok)
        self.assertEqual(self.bodies(self.events(self.room)).count("y"), 1)

    def test_drop(self):
        self.faults([{"match": "^PUT .*/send/", "action": "drop"}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.raw("PUT", self.send_path("d1"), {"body": "dropped"}, {"Authorization": "Bearer " + self.tok})
        self.assertNotIn("dropped", self.bodies(self.events(self.room)))
        # processed, then dropped: the retry with the same txn returns the same event
        self.faults([{"match": "^PUT .*/send/", "action": "drop", "process": True}])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.raw("PUT", self.send_path("d2"), {"body": "lost reply"},
                     {"Authorization": "Bearer " + self.tok})
        evs = [e for e in self.events(self.room) if e["content"].get("body") == "lost reply"]
        self.assertEqual(len(evs), 1)
        again = self.ok("PUT", self.send_path("d2"), {"body": "lost reply"}, self.tok)["event_id"]
        self.assertEqual(again, evs[0]["event_id"])
        self.assertEqual(self.bodies(self.events(self.room)).count("lost reply"), 1)

    def test_close_after_headers(self):
        self.faults([{"match": "/send/", "action": "close_after_headers"}])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("PUT", self.send_path("c1"), body=json.dumps({"body": "half"}),
                     headers={"Authorization": "Bearer " + self.tok})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.getheader("Content-Length")), 0)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        conn.close()
        evs = [e for e in self.events(self.room) if e["content"].get("body") == "half"]
        self.assertEqual(len(evs), 1)
        self.assertEqual(self.ok("PUT", self.send_path("c1"), {"body": "half"}, self.tok)["event_id"],
                         evs[0]["event_id"])

    def test_slow(self):
        self.faults([{"match": "whoami", "action": "slow", "delay_ms": 400}])
        t0 = time.monotonic()
        self.ok("GET", V3 + "/account/whoami", token=self.tok)
        self.assertGreaterEqual(time.monotonic() - t0, 0.38)
        t0 = time.monotonic()
        self.ok("GET", V3 + "/account/whoami", token=self.tok)
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_count_forever_probability_and_stats(self):
        self.ok("DELETE", "/_test/stats")
        self.faults([{"match": "whoami", "action": "500", "count": -1}])
        for _ in range(3):
            self.assertEqual(self.call("GET", V3 + "/account/whoami", token=self.tok)[0], 500)
        rules = self.ok("GET", "/_test/faults")["rules"]
        self.assertEqual((rules[0]["hits"], rules[0]["remaining"]), (3, -1))
        self.ok("DELETE", "/_test/faults")
        self.ok("GET", V3 + "/account/whoami", token=self.tok)
        self.faults([{"match": "whoami", "action": "429", "count": -1, "probability": 0.5}])
        codes = [self.call("GET", V3 + "/account/whoami", token=self.tok)[0] for _ in range(40)]
        self.assertTrue(5 < codes.count(429) < 35, codes)
        self.assertEqual(codes.count(200) + codes.count(429), 40)
        st = self.stats()
        self.assertEqual(st["faults"]["500"], 3)
        self.assertEqual(st["faults_injected"], 3 + codes.count(429))
        self.assertGreaterEqual(st["requests"]["GET /account/whoami"], 40)
        # appending and rule order; /_test/ is never faulted
        self.faults([{"match": ".", "action": "500", "count": 1}])
        self.faults([{"match": "whoami", "action": "502", "count": 1}], append=True)
        self.ok("GET", "/_test/stats")
        self.assertEqual(self.call("GET", V3 + "/account/whoami", token=self.tok)[0], 500)
        self.assertEqual(self.call("GET", V3 + "/account/whoami", token=self.tok)[0], 502)
        self.assertEqual(self.call("GET", V3 + "/account/whoami", token=self.tok)[0], 200)

    def test_bad_rules(self):
        self.err("POST", "/_test/faults", [{"match": "(", "action": "500"}], status=400)
        self.err("POST", "/_test/faults", [{"match": "x", "action": "explode"}], status=400)
        self.err("POST", "/_test/faults", b"nope", status=400, errcode="M_NOT_JSON")
        self.assertEqual(self.ok("GET", "/_test/faults")["rules"], [])

    def test_sync_fault_then_recovery(self):
        since = self.sync(self.tok)["next_batch"]
        self.send(self.tok, self.room, "during outage")
        self.faults([{"match": "/sync", "action": "502", "count": 2}])
        self.assertEqual(self.call("GET", V3 + "/sync?since=" + since, token=self.tok)[0], 502)
        self.assertEqual(self.call("GET", V3 + "/sync?since=" + since, token=self.tok)[0], 502)
        s = self.sync(self.tok, since)
        self.assertEqual(self.bodies(s["rooms"]["join"][self.room]["timeline"]["events"]), ["during outage"])

    def test_inject_event(self):
        j = self.ok("POST", "/_test/rooms/%s/events" % q(self.room),
                    {"sender": "@ghost:localhost", "type": "m.room.message",
                     "content": {"msgtype": "m.text", "body": "#startmeeting"}})
        evs = self.events(self.room)
        self.assertEqual(evs[-1]["event_id"], j["event_id"])
        self.assertEqual(evs[-1]["sender"], "@ghost:localhost")
        self.assertIn("#startmeeting", self.bodies(self.sync(self.tok)["rooms"]["join"][self.room]
                                                    ["timeline"]["events"]))

    def test_clock(self):
        """/_test/clock: now_ms fixes origin_server_ts; offset_ms runs it off the
        real clock (gavel under GAVEL_TEST_TIME); null the real clock again."""
        try:
            self.ok("POST", "/_test/clock", {"now_ms": 1720778400000})
            e = self.send(self.tok, self.room, "fixed")
            self.assertEqual(self.events(self.room)[-1]["origin_server_ts"], 1720778400000, e)
            week = 7 * 86400000
            self.ok("POST", "/_test/clock", {"offset_ms": week})
            t = int(time.time() * 1000)
            self.send(self.tok, self.room, "a week ahead")
            ts = self.events(self.room)[-1]["origin_server_ts"]
            self.assertTrue(t + week - 1000 <= ts <= t + week + 5000, (t, ts))
            self.err("POST", "/_test/clock", {"offset_ms": "1"}, status=400)
            self.err("POST", "/_test/clock", {"offset_ms": 200 * 365 * 86400000}, status=400)
        finally:
            self.ok("POST", "/_test/clock", {"offset_ms": 0})
        t = int(time.time() * 1000)
        self.send(self.tok, self.room, "now")
        self.assertLess(abs(self.events(self.room)[-1]["origin_server_ts"] - t), 5000)


class TestShutdown(unittest.TestCase):
    def test_sigterm_with_long_poll_in_flight(self):
        srv = Server()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            conn.request("POST", V3 + "/register", body=json.dumps(
                {"username": "shut", "password": "x", "auth": {"type": "m.login.dummy"}}))
            tok = json.loads(conn.getresponse().read())["access_token"]
            conn.request("GET", V3 + "/sync", headers={"Authorization": "Bearer " + tok})
            since = json.loads(conn.getresponse().read())["next_batch"]
            done = threading.Event()

            def poll():
                c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                try:
                    c.request("GET", V3 + "/sync?timeout=25000&since=" + since,
                              headers={"Authorization": "Bearer " + tok})
                    c.getresponse().read()
                except Exception:
                    pass
                finally:
                    c.close()
                done.set()

            threading.Thread(target=poll, daemon=True).start()
            time.sleep(0.3)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(10)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertTrue(done.wait(5))
            conn.close()
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
