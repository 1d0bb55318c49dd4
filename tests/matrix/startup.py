#!/usr/bin/env python3
"""tests/matrix/startup.py - how gavel starts against a homeserver.

    startup.py --gavel PATH --homeserver tests/homeserver/homeserver.py

Standard library only; starts its own homeservers on 127.0.0.1 and stops them.
  - a homeserver that is down at start is waited for, with a log line, and
    gavel logs in once it is up;
  - the homeserver is found through /.well-known/matrix/client when only the
    user ID is configured;
  - old messages are skipped on the very first start (initial_history "skip");
  - an access token that the homeserver rejects, with no password to log in
    again, is a clear fatal error; no credentials at all is exit status 2;
  - SIGTERM stops it with status 0.
Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - %s: %s" % (what, str(detail)[-2000:]))
    sys.stdout.flush()
    return cond


def api(url, method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}")


class Homeserver:
    def __init__(self, path, port=0):
        self.proc = subprocess.Popen([sys.executable, path, "--port", str(port)],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("LISTENING"):
            raise RuntimeError("homeserver did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def register(url, user, password):
    return api(url, "POST", "/_matrix/client/v3/register",
               {"username": user, "password": password, "auth": {"type": "m.login.dummy"}})


class Gavel:
    def __init__(self, binary, workdir, cfg):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "gavel.json"), "w") as f:
            json.dump(dict({"database": "gavel.db", "archive_dir": "minutes",
                            "log_level": "info", "sync_timeout_ms": 1000,
                            "backoff_max_ms": 500}, **cfg), f)
        self.log = open(os.path.join(workdir, "gavel.log"), "wb")
        env = dict(os.environ)
        env.pop("CREDENTIALS_DIRECTORY", None)
        self.proc = subprocess.Popen([binary, "--config", "gavel.json"], cwd=workdir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def text(self):
        with open(os.path.join(self.dir, "gavel.log"), errors="replace") as f:
            return f.read()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_log(self, needle, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.text():
                return True
            if self.proc.poll() is not None:
                return needle in self.text()
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(15) is None:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def room_events(url, room):
    return api(url, "GET", "/_test/rooms/%s/events" % urllib.parse.quote(room, safe=""))["events"]


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def joined(url, room, user="@gavel:localhost"):
    state = None
    for e in room_events(url, room):
        if e["type"] == "m.room.member" and e.get("state_key") == user:
            state = e["content"].get("membership")
    return state == "join"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--homeserver", required=True)
    a = ap.parse_args()
    binary = os.path.abspath(a.gavel)
    top = tempfile.mkdtemp(prefix="gavel-startup-")
    servers, bots = [], []
    try:
        # 1. down at start: waited for, then logs in, joins, skips old history
        port = free_port()
        pw = os.path.join(top, "pw")
        with open(pw, "w") as f:
            f.write("bot-pw\n")
        g = Gavel(binary, os.path.join(top, "down"), {
            "homeserver": "http://127.0.0.1:%d" % port, "user_id": "@gavel:localhost",
            "password_file": pw, "allow_invites_from": [":localhost"]})
        bots.append(g)
        check(g.wait_log("waiting for the homeserver", 10) and g.proc.poll() is None,
              "a homeserver that is down at start is waited for, with a log line", g.text())
        # gavel is held while the server comes up and its account is made:
        # a login between the two would rightly be refused for good (403)
        g.proc.send_signal(signal.SIGSTOP)
        try:
            hs = Homeserver(a.homeserver, port)
            servers.append(hs)
            alice = register(hs.url, "alice", "pw")["access_token"]
            register(hs.url, "gavel", "bot-pw")
        finally:
            g.proc.send_signal(signal.SIGCONT)
        room = api(hs.url, "POST", "/_matrix/client/v3/createRoom", {"name": "r"}, alice)["room_id"]
        # said before gavel's first sync: history, never handled
        api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/old1" %
            urllib.parse.quote(room, safe=""),
            {"msgtype": "m.text", "body": "#architecture an old item from before"}, alice)
        api(hs.url, "POST", "/_matrix/client/v3/rooms/%s/invite" % urllib.parse.quote(room, safe=""),
            {"user_id": "@gavel:localhost"}, alice)
        check(g.wait_log("logged in as @gavel:localhost", 20),
              "once the homeserver is up gavel logs in", g.text())
        check(wait_for(lambda: joined(hs.url, room), 20), "and joins the room it was invited to",
              g.text())
        api(hs.url, "PUT", "/_matrix/client/v3/rooms/%s/send/m.room.message/new1" %
            urllib.parse.quote(room, safe=""), {"msgtype": "m.text", "body": "!agenda"}, alice)

        def agenda_reply():
            for e in room_events(hs.url, room):
                if e["sender"] == "@gavel:localhost" and e["type"] == "m.room.message":
                    return e["content"].get("body")
            return None
        check(wait_for(lambda: agenda_reply() is not None, 20) and
              "empty" in (agenda_reply() or ""),
              "messages from before the first start are not handled", agenda_reply())
        reply = [e for e in room_events(hs.url, room) if e["sender"] == "@gavel:localhost"
                 and e["type"] == "m.room.message"]
        check(reply and reply[0]["content"].get("m.mentions") == {} and
              reply[0]["content"].get("msgtype") == "m.notice" and
              reply[0]["content"].get("format") == "org.matrix.custom.html",
              "a reply is an m.notice with HTML and an empty m.mentions", reply[:1])
        check(g.stop() == 0, "SIGTERM stops gavel with status 0", g.text()[-500:])

        # 2. .well-known: only the user ID is configured (a loopback server name uses http)
        g = Gavel(binary, os.path.join(top, "wellknown"), {
            "user_id": "@gavel:127.0.0.1:%d" % hs.port, "password_file": pw})
        bots.append(g)
        register(hs.url, "gavel2", "x")  # a second account is not needed; the lookup is
        check(g.wait_log("homeserver of @gavel:127.0.0.1:%d is" % hs.port, 20),
              "the homeserver is found through /.well-known/matrix/client", g.text())
        g.stop()

        # 3. a rejected token and no password: a clear fatal error
        tokfile = os.path.join(top, "token")
        with open(tokfile, "w") as f:
            f.write("not-a-real-token")
        g = Gavel(binary, os.path.join(top, "badtoken"), {
            "homeserver": hs.url, "user_id": "@gavel:localhost", "access_token_file": tokfile})
        bots.append(g)
        rc = g.wait_exit(20)
        check(rc == 2 and "access token was rejected" in g.text(),
              "a rejected access token without a password stops gavel with a clear error",
              "exit %s: %s" % (rc, g.text()))

        # 4. a token revoked while running, no password: fatal, named
        good = api(hs.url, "POST", "/_matrix/client/v3/login",
                   {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "gavel"},
                    "password": "bot-pw"})["access_token"]
        with open(tokfile, "w") as f:
            f.write(good + "\n")
        g = Gavel(binary, os.path.join(top, "revoked"), {
            "homeserver": hs.url, "user_id": "@gavel:localhost", "access_token_file": tokfile})
        bots.append(g)
        wait_for(lambda: "GET /_matrix/client/v3/sync" in json.dumps(
            api(hs.url, "GET", "/_test/stats").get("requests", {})), 10)
        time.sleep(0.5)
        api(hs.url, "POST", "/_test/invalidate_token", {"access_token": good})
        rc = g.wait_exit(20)
        check(rc == 1 and "M_UNKNOWN_TOKEN" in g.text() and "no password" in g.text(),
              "a token revoked while running, with no password, is a fatal error that says why",
              "exit %s: %s" % (rc, g.text()))

        # 5. no credentials at all
        g = Gavel(binary, os.path.join(top, "nocreds"), {
            "homeserver": hs.url, "user_id": "@gavel:localhost"})
        bots.append(g)
        rc = g.wait_exit(10)
        check(rc == 2 and "no credentials" in g.text(), "no credentials: exit status 2, said so",
              "exit %s: %s" % (rc, g.text()))
    finally:
        for g in bots:
            if g.proc.poll() is None:
                g.proc.kill()
                g.proc.wait()
        for s in servers:
            s.stop()
        if failed:
            print("# kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
