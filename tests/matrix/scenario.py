#!/usr/bin/python3
"""tests/matrix/scenario.py - gavel in Matrix rooms, driven by real clients.

    scenario.py --gavel PATH --mode clean|faults|crash [--seed N] [--crashes 20] URL

URL is the loopback test homeserver (tests/homeserver; run this through
tests/interop/run_with_server.py, which starts and stops it). People are
matrix-nio clients (Debian's python3-matrix-nio); gavel is the real binary,
started with a config that points at the homeserver.

clean   the whole scenario once: tags in two rooms, !agenda in a third, a
        meeting using every MeetBot command, edits, a redaction, a thread, power
        levels, an invite from a stranger declined, the minutes in the room and
        cross-posted; every bot message is checked.
faults  the clean run, then the same scenario under 429 storms, 500s, dropped
        connections (some after the homeserver processed the request), slow and
        duplicated syncs and a revoked access token: the same minutes and the
        very same bot messages, none doubled, none missing.
crash   the clean run, then the scenario with gavel SIGKILLed at --crashes
        random points (one while 60 lines arrive, so its next /sync is limited
        and must be gap-filled) and restarted: same minutes, same bot messages.

Prints one line per check and "N passed, M failed"; exit 1 on failure.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from nio import AsyncClient, AsyncClientConfig, RegisterResponse, RoomCreateResponse

T0 = 1720778400000          # 2024-07-12 10:00:00 UTC: the fixed clock of the meeting
DOMAIN = "localhost"
BOT = "@gavel:" + DOMAIN
WAIT = 60                   # seconds for anything the bot should do


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - " + what)
        else:
            self.failed += 1
            print("FAIL - %s: %s" % (what, str(detail)[:2000]))
        sys.stdout.flush()
        return cond


C = Checks()


def api(url, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}")


def room_events(url, room_id):
    q = urllib.parse.quote(room_id, safe="")
    return api(url, "GET", "/_test/rooms/%s/events" % q)["events"]


class Gavel:
    """The bot under test, as a process."""

    def __init__(self, binary, url, workdir, extra=None):
        self.binary, self.dir, self.proc = binary, workdir, None
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "password"), "w") as f:
            f.write("bot-password\n")
        cfg = {
            "homeserver": url, "user_id": BOT, "password_file": "password",
            "database": "gavel.db", "archive_dir": "minutes",
            "allow_invites_from": ["@alice:" + DOMAIN],
            "crosspost_rooms": [], "meeting_label": "Arch call",
            "sync_timeout_ms": 1000, "backoff_max_ms": 1000, "log_level": "info",
        }
        cfg.update(extra or {})
        self.cfg = cfg
        self.write_config()

    def write_config(self):
        with open(os.path.join(self.dir, "gavel.json"), "w") as f:
            json.dump(self.cfg, f)

    starts = 0

    def start(self):
        self.starts += 1
        self.log = open(os.path.join(self.dir, "gavel.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "--config", "gavel.json"], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def stop(self):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def logtext(self):
        try:
            with open(os.path.join(self.dir, "gavel.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


# The scenario. Each step: (who, room, body) or a dict for the special ones.
# Rooms: R1 meeting room, R2 another room, R3 where !agenda is asked, X the
# cross-post room.
def script():
    s = [
        ("alice", "R1", "#architecture Discuss keyframes cc @bob:localhost", {"mentions": ["@bob:localhost"]}),
        ("bob", "R2", "#cust-arch Fast boot for Rombit \u2014 20 s today, 10 s needed\nmore context that stays out"),
        ("carol", "R2", "#architecture <b>escaped</b> & *not bold*"),
        ("carol", "R3", "!agenda"),
        {"op": "notice", "who": "bob", "room": "R1", "body": "#startmeeting bots are ignored"},
        ("alice", "R1", "#startmeeting Arch call"),
        ("alice", "R1", "#chair @bob:localhost"),
        ("alice", "R1", "#nick dave"),
        ("alice", "R1", "!agenda take 1"),
        ("bob", "R1", "#info keyframes go to the supervisor"),          # 9: edited below
        ("bob", "R1", "#idea a keyframe service\n#link https://example.org/keyframes"),
        ("carol", "R1", "https://example.org/bare-links-count-too"),
        ("bob", "R1", "#action bob and dave to write the proposal"),
        ("carol", "R1", "#topic carol is not a chair yet"),
        {"op": "power", "who": "alice", "room": "R1", "user": "@carol:localhost", "level": 50},
        ("carol", "R1", "#agreed power 50 makes carol a chair"),
        ("alice", "R1", "#accepted the keyframe plan"),
        ("alice", "R1", "#rejected keyframes in the API"),
        ("bob", "R1", "#help who knows the updater?"),
        ("bob", "R1", "#halp need an updater expert"),
        {"op": "edit", "who": "bob", "room": "R1", "target": 9,
         "body": "#info keyframes go to the supervisor, not the API"},
        ("carol", "R1", "this line will be redacted"),                  # 21
        {"op": "redact", "who": "carol", "room": "R1", "target": 21},
        {"op": "chatter", "who": "dave", "room": "R1", "n": 60},
        ("alice", "R1", "#topic Fast boot for Rombit \u2014 20 s today, 10 s needed"),
        ("alice", "R1", "#startvote Ship it? yes, no, later"),
        ("alice", "R1", "#vote yes"),
        ("bob", "R1", "#vote no"),
        ("carol", "R1", "#vote Later"),
        ("bob", "R1", "#vote yes"),
        ("alice", "R1", "#endvote"),
        ("alice", "R1", "#info oops"),
        ("alice", "R1", "#undo"),
        {"op": "thread", "who": "carol", "room": "R3", "root": 3, "body": "!agenda"},
        ("alice", "R1", "#meetingname Arch call"),
        ("alice", "R1", "#unchair bob"),                                # a nick: m.room.member state
        ("bob", "R1", "#topic bob is no longer a chair"),
        ("alice", "R1", "#commands"),
        ("alice", "R1", "#endmeeting"),
        ("carol", "R3", "!agenda"),
    ]
    return s


class World:
    """Homeserver, people, rooms."""

    def __init__(self, url):
        self.url = url
        self.clients = {}
        self.tokens = {}
        self.rooms = {}

    async def setup(self):
        self.clock(T0 - 100000)     # everything, the bot's joins too, happens before the meeting
        cfg = AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False)
        for name in ("alice", "bob", "carol", "dave"):
            c = AsyncClient(self.url, config=cfg)
            r = await c.register(name, "pw-" + name)
            if not isinstance(r, RegisterResponse):
                raise RuntimeError("register %s: %s" % (name, r))
            self.clients[name] = c
            self.tokens[name] = r.access_token
        r = api(self.url, "POST", "/_matrix/client/v3/register",
                {"username": "gavel", "password": "bot-password", "auth": {"type": "m.login.dummy"},
                 "inhibit_login": True})
        if "user_id" not in r:
            raise RuntimeError("register gavel: %s" % r)
        alice = self.clients["alice"]
        people = ["@bob:localhost", "@carol:localhost", "@dave:localhost"]
        for key in ("R1", "R2", "R3", "X"):
            r = await alice.room_create(name=key, invite=people + [BOT])
            if not isinstance(r, RoomCreateResponse):
                raise RuntimeError("createRoom: %s" % r)
            self.rooms[key] = r.room_id
            for who in ("bob", "carol", "dave"):
                await self.clients[who].join(r.room_id)
        # a stranger's invite must be declined
        r = await self.clients["bob"].room_create(name="stranger", invite=[BOT])
        self.rooms["S"] = r.room_id

    async def close(self):
        for c in self.clients.values():
            await c.close()

    def membership(self, room, user=BOT):
        state = None
        for e in room_events(self.url, self.rooms[room]):
            if e["type"] == "m.room.member" and e.get("state_key") == user:
                state = e["content"].get("membership")
        return state

    async def wait_joined(self, gavel):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if all(self.membership(k) == "join" for k in ("R1", "R2", "R3", "X")) and \
                    self.membership("S") == "leave":
                return True
            if not gavel.alive():
                return False
            await asyncio.sleep(0.1)
        return False

    def clock(self, ms):
        api(self.url, "POST", "/_test/clock", {"now_ms": ms})

    async def send(self, who, room, content):
        c = self.clients[who]
        r = await c.room_send(self.rooms[room], "m.room.message", content)
        if not hasattr(r, "event_id"):
            raise RuntimeError("send: %s" % r)
        return r.event_id


def bot_messages(world):
    """Every bot event per room, comparable across runs: event IDs are replaced
    by the body of the event they point at."""
    out = {}
    for key in ("R1", "R2", "R3", "X"):
        evs = room_events(world.url, world.rooms[key])
        by_id = {e["event_id"]: e for e in evs}
        rows = []
        for e in evs:
            if e["sender"] != BOT or e["type"] not in ("m.room.message", "m.reaction"):
                continue
            c = e["content"]
            rel = c.get("m.relates_to") or {}
            target = rel.get("event_id") or (rel.get("m.in_reply_to") or {}).get("event_id")
            tbody = by_id.get(target, {}).get("content", {}).get("body") if target else None
            rows.append((e["type"], c.get("body") or rel.get("key"), rel.get("rel_type"), tbody))
        out[key] = rows
    return out


def minutes_of(msgs, room):
    for _, body, _, _ in msgs[room]:
        if body and ("#meeting: " in body):
            return body
    return None


async def run_scenario(url, gavel_bin, workdir, mode, seed, crashes):
    rnd = random.Random(seed)
    world = World(url)
    await world.setup()
    extra = {"crosspost_rooms": [world.rooms["X"]]}
    if mode == "clean":
        extra["log_level"] = "debug"    # the trace, checked at the end
    gavel = Gavel(gavel_bin, url, workdir, extra)
    gavel.start()
    try:
        if not C.ok(await world.wait_joined(gavel),
                    "[%s] gavel joins the rooms it is invited to and declines a stranger's" % mode,
                    gavel.logtext()[-2000:]):
            return None
        steps = script()
        event_ids = {}
        crash_at = set()
        if mode == "crash":
            chatter = next(i for i, s in enumerate(steps) if isinstance(s, dict) and s["op"] == "chatter")
            crash_at = set(rnd.sample([i for i in range(len(steps)) if i != chatter], crashes - 1))
            crash_at.add(chatter)
        if mode == "faults":
            rules = [
                {"match": "^PUT .*/send/", "action": "429", "retry_after_ms": 50, "count": 12, "probability": 0.5},
                {"match": "^PUT .*/send/", "action": "429", "retry_after_header": True, "count": 2, "probability": 0.2},
                {"match": "^PUT .*/send/", "action": "500", "count": 6, "probability": 0.3},
                {"match": "^PUT .*/send/", "action": "drop", "process": True, "count": 4, "probability": 0.3},
                {"match": "^PUT .*/send/", "action": "close_after_headers", "count": 2, "probability": 0.2},
                {"match": "^GET .*/sync", "action": "500", "count": 4, "probability": 0.3},
                {"match": "^GET .*/sync", "action": "drop", "count": 3, "probability": 0.3},
                {"match": "^GET .*/sync", "action": "slow", "delay_ms": 300, "count": 3, "probability": 0.3},
                {"match": "^GET .*/sync", "action": "502", "count": 2, "probability": 0.2},
            ]
            for rule in rules:
                rule["user_id"] = BOT   # the people's clients do not retry; gavel must
            api(url, "POST", "/_test/faults", rules)
            api(url, "POST", "/_test/duplicate_sync", {"count": 3, "user_id": BOT})
        ts = T0
        for i, step in enumerate(steps):
            ts += 1000
            world.clock(ts)
            if mode == "faults" and i == len(steps) // 2:
                api(url, "POST", "/_test/invalidate_token", {"user_id": BOT})
            if isinstance(step, tuple):
                who, room, body = step[0], step[1], step[2]
                content = {"msgtype": "m.text", "body": body}
                if len(step) > 3 and step[3].get("mentions"):
                    content["m.mentions"] = {"user_ids": step[3]["mentions"]}
                event_ids[i] = await world.send(who, room, content)
            elif step["op"] == "notice":
                await world.send(step["who"], step["room"], {"msgtype": "m.notice", "body": step["body"]})
            elif step["op"] == "power":
                c = world.clients[step["who"]]
                r = await c.room_get_state_event(world.rooms[step["room"]], "m.room.power_levels")
                content = r.content
                content.setdefault("users", {})[step["user"]] = step["level"]
                await c.room_put_state(world.rooms[step["room"]], "m.room.power_levels", content)
            elif step["op"] == "edit":
                await world.send(step["who"], step["room"], {
                    "msgtype": "m.text", "body": "* " + step["body"],
                    "m.new_content": {"msgtype": "m.text", "body": step["body"]},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": event_ids[step["target"]]}})
            elif step["op"] == "redact":
                await world.clients[step["who"]].room_redact(world.rooms[step["room"]], event_ids[step["target"]])
            elif step["op"] == "thread":
                root = event_ids[step["root"]]
                await world.send(step["who"], step["room"], {
                    "msgtype": "m.text", "body": step["body"],
                    "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                                     "m.in_reply_to": {"event_id": root}}})
            elif step["op"] == "chatter":
                if mode == "crash":
                    gavel.kill()        # 60 lines arrive while it is down: a limited sync
                for k in range(step["n"]):
                    await world.send(step["who"], step["room"], {"msgtype": "m.text", "body": "chatter line %d" % k})
                if mode == "crash":
                    gavel.start()
                    crash_at.discard(i)
            if i in crash_at:
                await asyncio.sleep(rnd.random() * 0.3)
                gavel.kill()
                if rnd.random() < 0.5:
                    await asyncio.sleep(rnd.random() * 0.3)
                gavel.start()
            elif mode == "clean":
                await asyncio.sleep(0.02)
        # Probe: when the answer to this arrives, everything before it is done.
        ts += 1000
        world.clock(ts)
        probe = await world.send("carol", "R2", {"msgtype": "m.text", "body": "!agenda"})
        deadline = time.time() + WAIT * 2
        done = False
        while time.time() < deadline and not done:
            for e in room_events(url, world.rooms["R2"]):
                rel = (e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}
                if e["sender"] == BOT and rel.get("event_id") == probe:
                    done = True
            if not done:
                if not gavel.alive():
                    break
                await asyncio.sleep(0.2)
        C.ok(done, "[%s] gavel answers the final probe" % mode, gavel.logtext()[-3000:])
        # Rooms are sent in parallel, each backing off alone: the probe's answer
        # says every event was handled, not that every room's rows went out.
        # `gavel outbox` lists what is still pending or parked: wait for nothing.
        deadline = time.time() + WAIT
        listing = None
        while time.time() < deadline and gavel.alive():
            out = subprocess.run([gavel_bin, "outbox", "--config", "gavel.json"], cwd=workdir,
                                 capture_output=True, text=True)
            listing = out.stdout + out.stderr
            if out.returncode == 0 and len(out.stdout.strip().splitlines()) == 1:
                break
            await asyncio.sleep(0.2)
        C.ok(listing is not None and len(listing.strip().splitlines()) == 1,
             "[%s] nothing is left pending or parked in the outbox" % mode, listing)
        msgs = bot_messages(world)
        txt = None
        mdir = os.path.join(workdir, "minutes")
        if os.path.isdir(mdir):
            for n in sorted(os.listdir(mdir)):
                if n.endswith(".txt") and not n.endswith(".log.txt"):
                    with open(os.path.join(mdir, n)) as f:
                        txt = f.read()
        logtxt = None
        if os.path.isdir(mdir):
            for n in sorted(os.listdir(mdir)):
                if n.endswith(".log.txt"):
                    with open(os.path.join(mdir, n)) as f:
                        logtxt = f.read()
        if mode == "faults":
            st = api(url, "GET", "/_test/stats")
            C.ok(st.get("faults_injected", 0) >= 10, "[faults] the homeserver injected faults",
                 st.get("faults"))
            C.ok("logging in again" in gavel.logtext(),
                 "[faults] a revoked token makes gavel log in again with its password",
                 gavel.logtext()[-1500:])
        if mode == "crash":
            st = api(url, "GET", "/_test/stats")
            gaps = sum(v for k, v in st.get("requests", {}).items() if "/messages" in k)
            C.ok(gaps >= 1, "[crash] the limited sync after the outage was gap-filled with /messages",
                 st.get("requests"))
            C.ok(gavel.starts >= crashes, "[crash] gavel was killed and restarted %d times" % (gavel.starts - 1),
                 gavel.starts)
        if mode == "clean":
            # log_level "debug": the trace of each stage (bridge/matrix_sync.c,
            # matrix_send.c), the minutes files written off the loop
            log = gavel.logtext()
            batch = re.search(r"trace: sync batch: \d+ rooms, \d+ timeline events, \d+ to-device: "
                              r"parsed \+(\d+) us, handled \+(\d+) us, committed \+(\d+) us", log)
            C.ok(batch is not None and int(batch.group(1)) <= int(batch.group(2)) <= int(batch.group(3)),
                 "[clean] the trace times each sync batch's stages, in order", log[-1500:])
            C.ok(re.search(r"trace: first sync batch applied \d+ us after the start", log) is not None,
                 "[clean] the trace says when the first sync batch was applied", log[-1500:])
            C.ok(re.search(r"trace: row \d+ \(minutes in !\S+\): PUT issued \+\d+ us after the "
                           r"newest sync batch was received", log) is not None and
                 re.search(r"trace: row \d+ \(minutes in !\S+\): answered 200, \d+ us after its PUT "
                           r"was issued", log) is not None,
                 "[clean] the trace times the minutes' PUT and its answer", log[-1500:])
            files = re.findall(r"trace: file row \d+ \((\S+)\): on disk \d+ us after its render began",
                               log)
            C.ok(len(set(files)) == 5 and all(f in os.listdir(mdir) for f in files),
                 "[clean] the five minutes files were written by the worker thread", files)
        status = gavel.stop()
        C.ok(status == 0, "[%s] gavel stops cleanly on SIGTERM" % mode, "exit %s" % status)
        return {"msgs": msgs, "txt": txt, "log": logtxt, "gavel": gavel, "world": world}
    finally:
        if gavel.alive():
            gavel.kill()
        await world.close()


def check_clean(r):
    msgs = r["msgs"]
    r1, r2, r3, x = msgs["R1"], msgs["R2"], msgs["R3"], msgs["X"]
    reactions = [m for room in ("R1", "R2") for m in msgs[room] if m[0] == "m.reaction"]
    C.ok(len(reactions) == 3 and all(m[1] == "\U0001f440" for m in reactions),
         "tags are acknowledged by a reaction each (3)", reactions)
    agenda = [m for m in r3 if m[1] and m[1].startswith("Agenda for architecture")]
    C.ok(len(agenda) >= 1 and "Discuss keyframes" in agenda[0][1] and "Fast boot for Rombit" in agenda[0][1]
         and "more context" not in agenda[0][1] and "&lt;b&gt;" not in agenda[0][1],
         "!agenda in a third room lists the items tagged in two others", agenda[:1])
    threaded = [m for m in r3 if m[2] == "m.thread"]
    C.ok(len(threaded) == 1, "a command in a thread is answered in the thread", r3)
    C.ok(not any(m[1] and "bots are ignored" in m[1] for m in r1),
         "another bot's m.notice is not a command", r1)
    topic = [m for m in r1 if m[1] and m[1].startswith("Topic: Discuss keyframes")]
    C.ok(topic and "@alice:localhost" in topic[0][1], "!agenda take 1 announces the item with its reporter", r1)
    refused = [m for m in r1 if m[1] and m[1].startswith("Only chairs can use #topic")]
    C.ok(len(refused) == 2, "#topic is refused to non-chairs (carol before power 50, bob after #unchair)", refused)
    minutes = minutes_of(msgs, "R1")
    C.ok(minutes is not None, "the minutes arrive in the meeting room as one notice", r1[-3:])
    if minutes:
        for want in ("#meeting: Arch call", "* Discuss keyframes  (alice, 10:00:09)",
                     "INFO: keyframes go to the supervisor, not the API",
                     "IDEA: a keyframe service", "LINK: https://example.org/keyframes",
                     "LINK: https://example.org/bare-links-count-too",
                     "ACTION: bob and dave to write the proposal",
                     "AGREED: power 50 makes carol a chair", "ACCEPTED: the keyframe plan",
                     "REJECTED: keyframes in the API", "HELP: who knows the updater?",
                     "HELP: need an updater expert",
                     "VOTE: Ship it? Results: yes (2), later (1)",
                     "* bob\n  * bob and dave to write the proposal",
                     "* dave\n  * bob and dave to write the proposal",
                     "* dave (60)"):
            C.ok(want in minutes, "minutes hold %r" % want, minutes)
        C.ok("oops" not in minutes and "bob is no longer a chair" not in minutes,
             "#undo and refused commands leave no trace in the minutes", minutes)
    xpost = [m for m in x if m[1] and m[1].startswith("#meeting-notes for 12 Jul 2024 Arch call\n\n")]
    C.ok(len(xpost) == 1 and minutes and xpost[0][1].endswith(minutes),
         "the minutes are cross-posted with the #meeting-notes line on top", x)
    # The archive's .txt is in MeetBot 0.1.4's layout (wrapped at 72 columns,
    # no "INFO:" prefix); the posted minutes keep gavel's own.
    flat = " ".join((r["txt"] or "").split())
    C.ok(r["txt"] is not None and r["txt"].startswith("======") and
         "#meeting: Arch call" in flat and "Generated by `MeetBot`_ 0.1.4" in flat and
         "* keyframes go to the supervisor, not the API (bob," in flat and
         "* ACTION: bob and dave to write the proposal (" in flat and
         "People Present (lines said)" in flat,
         "the archive's .txt holds the minutes in MeetBot's layout", r["txt"])
    C.ok(r["txt"] is not None and "@bob:localhost" not in r["txt"],
         "#chair by Matrix ID counts the person once among the people present", r["txt"])
    C.ok(r["log"] and "[redacted]" in r["log"] and "this line will be redacted" not in r["log"],
         "a redacted line shows as [redacted] in the log", (r["log"] or "")[-500:])
    counts = {}
    for room, rows in msgs.items():
        for row in rows:
            counts[(room,) + row] = counts.get((room,) + row, 0) + 1
    dups = [k for k, v in counts.items() if v > 1 and k[1] != "m.reaction" and not (k[2] or "").startswith("Agenda")]
    C.ok(not dups, "no bot message appears twice", dups)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--mode", choices=("clean", "faults", "crash"), default="clean")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("GAVEL_TEST_SEED", "7")))
    ap.add_argument("--crashes", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("url")
    a = ap.parse_args()
    gavel_bin = os.path.abspath(a.gavel)
    top = tempfile.mkdtemp(prefix="gavel-matrix-")
    try:
        print("# seed %d, work dir %s" % (a.seed, top))
        base = await run_scenario(a.url, gavel_bin, os.path.join(top, "clean"), "clean", a.seed, 0)
        if base is None:
            return
        if a.mode == "clean":
            check_clean(base)
            return
        # the second run needs a fresh homeserver state: new rooms, new users
        other = await run_other(a, gavel_bin, top)
        if other is None:
            return
        for room in ("R1", "R2", "R3", "X"):
            C.ok(other["msgs"][room] == base["msgs"][room],
                 "[%s] room %s holds the very same bot messages as the clean run" % (a.mode, room),
                 diff(base["msgs"][room], other["msgs"][room]))
        C.ok(other["txt"] == base["txt"], "[%s] the minutes file is identical" % a.mode,
             diff((base["txt"] or "").splitlines(), (other["txt"] or "").splitlines()))
        C.ok(other["log"] == base["log"], "[%s] the log file is identical" % a.mode,
             diff((base["log"] or "").splitlines(), (other["log"] or "").splitlines()))
    finally:
        if a.keep or C.failed:
            print("# kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)


async def run_other(a, gavel_bin, top):
    # users and rooms are per homeserver: the second run gets its own server
    hs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "homeserver", "homeserver.py")
    proc = subprocess.Popen([sys.executable, hs, "--port", "0", "--seed", str(a.seed)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        if not line.startswith("LISTENING"):
            C.ok(False, "second homeserver starts", line)
            return None
        url = "http://127.0.0.1:%s" % line.split()[1]
        return await run_scenario(url, gavel_bin, os.path.join(top, a.mode), a.mode, a.seed, a.crashes)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "first difference at %d:\n  clean: %r\n  other: %r" % (i, x, y)
    if len(a) != len(b):
        return "lengths differ: clean %d, other %d; extra: %r" % (len(a), len(b), (a[len(b):] or b[len(a):])[:3])
    return "same"


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=600))
    except asyncio.TimeoutError:
        C.ok(False, "scenario finished within 600 s")
    print("%d passed, %d failed" % (C.passed, C.failed))
    sys.exit(1 if C.failed else 0)
