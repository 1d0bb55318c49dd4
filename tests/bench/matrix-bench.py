#!/usr/bin/python3
"""tests/bench/matrix-bench.py - gavel against the loopback homeserver: latency, RSS, CPU.

    matrix-bench.py --gavel PATH [--commands 1000] [--rooms 50] [--burst 2000]
                    [--warmup 20] [--timeout 1200] [--build DESC] [--json FILE] [--keep]
                    [--stock-homeserver] [--profile DIR] [--gavel-wrapper CMD]

One run, one homeserver process (tests/homeserver/homeserver.py --port 0,
unchanged, but loaded with TCP_NODELAY on its sockets unless
--stock-homeserver: as it is, every request stalls ~40 ms on Nagle and
delayed ACK, see homeserver_nodelay_main), standard library only. Measured, never asserted: exit status 0 even over a
target; 1 only when the run itself failed (a process died, a wait timed out).

1. command -> reply latency. A "person" sends `!commands` in a room gavel is
   joined to, one at a time; latency runs from just before the PUT /send to
   the moment the person's own long-poll /sync (a thread, timeout=30000,
   filtered to the two rooms' m.room.message events from the two responders)
   delivers the m.notice whose m.relates_to.m.in_reply_to is the command.
   The floor is a minimal echo client (this file with --echo: Python, stdlib,
   one thread, one kept-alive connection, gavel's own sync filter: /sync ->
   for each m.text from the person PUT an m.notice in_reply_to it, with the
   very content gavel answers `!commands` with), measured the same way in
   another room. The two are INTERLEAVED: gavel, echo, gavel, echo, ... so
   any drift of the homeserver hits both alike. Warm-up pairs are not counted.
   Gavel and the echo client each sit alone in their room with the person
   during this phase (no other rooms yet), so the homeserver's per-sync work
   is the same for both.
2. RSS with --rooms joined rooms: the person creates the rooms inviting
   gavel, waits for every join, sends a tag in each and waits for each
   reaction; then VmRSS and VmHWM from /proc/PID/status.
3. CPU per handled message: utime+stime from /proc/PID/stat (and, finer, the
   sum of /proc/PID/task/*/schedstat) over a burst of --burst plain messages
   sent back to back on one kept-alive connection, closed by a `!commands`
   probe whose reply means everything before it was handled. Twice: in a room
   with a running meeting (each line is logged) and in a room without one
   (plain text, nothing to do but claim the event). gavel's `processed`
   table (read-only SQLite) confirms every message was handled.
   With --one-per-sync N (default 500; 0: not), N more messages in the
   meeting's room, each sent only once gavel has asked for its next /sync
   (the homeserver's request count: the batch before it is committed), so
   that every batch holds exactly one message: the issue's "one message per
   sync", which a burst only approaches (1.3-1.7 per batch). With --profile,
   strace -c -f counts the system calls of that phase.
"""

import argparse
import http.client
import json
import os
import platform
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

DOMAIN = "localhost"
BOT = "@gavel:" + DOMAIN
PERSON = "@person:" + DOMAIN
ECHO = "@echo:" + DOMAIN
CLIENT = "/_matrix/client/v3"
TARGETS = {"ratio": 1.1, "rss_mib": 8.0, "cpu_us": 50.0}
# gavel's own sync filter (bridge/matrix_setup.c), used by the echo client too
GAVEL_FILTER = {
    "presence": {"types": []}, "account_data": {"types": []},
    "room": {"timeline": {"limit": 50, "types": ["m.room.message", "m.room.redaction",
                                                 "m.room.member", "m.room.power_levels",
                                                 "m.room.encryption"]},
             "state": {"lazy_load_members": True,
                       "types": ["m.room.member", "m.room.power_levels", "m.room.encryption"]},
             "ephemeral": {"types": []}, "account_data": {"types": []}},
}


class BenchError(Exception):
    pass


def q(s):
    return urllib.parse.quote(s, safe="")


# ---- HTTP: one kept-alive connection per user of it ----

class Conn:
    def __init__(self, port, token=None, timeout=60):
        self.port, self.token, self.timeout = port, token, timeout
        self.c = None

    def call(self, method, path, body=None, timeout=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port,
                                                    timeout=timeout or self.timeout)
            try:
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                raw = r.read()
                return r.status, json.loads(raw or b"{}")
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise BenchError("unreachable")

    def ok(self, method, path, body=None):
        st, j = self.call(method, path, body)
        if st != 200:
            raise BenchError("%s %s: %s %s" % (method, path, st, j))
        return j

    def close(self):
        if self.c:
            self.c.close()
            self.c = None


def register(port, local, password, login=True):
    body = {"username": local, "password": password, "auth": {"type": "m.login.dummy"}}
    if not login:
        body["inhibit_login"] = True
    st, j = Conn(port).call("POST", CLIENT + "/register", body)
    if st != 200:
        raise BenchError("register %s: %s %s" % (local, st, j))
    return j.get("access_token")


def make_filter(conn, user, flt):
    return conn.ok("POST", CLIENT + "/user/%s/filter" % q(user), flt)["filter_id"]


def sync_path(filter_id, since, timeout):
    p = CLIENT + "/sync?filter=%s&timeout=%d" % (q(filter_id), timeout)
    return p + ("&since=" + q(since) if since else "")


def reply_target(ev):
    rel = (ev.get("content") or {}).get("m.relates_to") or {}
    irt = rel.get("m.in_reply_to") or {}
    return irt.get("event_id") if isinstance(irt, dict) else None


# ---- the person's long-poll /sync ----

class Watcher(threading.Thread):
    """Long-polls /sync for the person; records when a reply to each event arrives."""

    def __init__(self, port, token, rooms, senders):
        super().__init__(daemon=True)
        self.conn = Conn(port, token, timeout=90)
        self.cond = threading.Condition()
        self.arrived = {}           # replied-to event id -> (perf_counter, event)
        self.error = None
        self.ready = threading.Event()
        self.stopping = False
        self.filter_id = make_filter(self.conn, PERSON, {
            "presence": {"types": []}, "account_data": {"types": []},
            "room": {"rooms": rooms,
                     "timeline": {"limit": 50, "types": ["m.room.message"], "senders": senders},
                     "state": {"types": []}, "ephemeral": {"types": []},
                     "account_data": {"types": []}}})

    def run(self):
        since = None
        try:
            while not self.stopping:
                c = self.conn
                if c.c is None:
                    c.c = http.client.HTTPConnection("127.0.0.1", c.port, timeout=90)
                c.c.request("GET", sync_path(self.filter_id, since, 30000 if since else 0),
                            headers={"Authorization": "Bearer " + c.token})
                r = c.c.getresponse()
                raw = r.read()
                t = time.perf_counter()     # the moment the sync delivered
                if r.status != 200:
                    raise BenchError("person /sync: %s %s" % (r.status, raw[:200]))
                j = json.loads(raw)
                if since is not None:
                    got = []
                    for room in j.get("rooms", {}).get("join", {}).values():
                        for ev in room.get("timeline", {}).get("events", []):
                            tgt = reply_target(ev)
                            if tgt:
                                got.append((tgt, ev))
                    if got:
                        with self.cond:
                            for tgt, ev in got:
                                self.arrived.setdefault(tgt, (t, ev))
                            self.cond.notify_all()
                since = j["next_batch"]
                self.ready.set()
        except Exception as e:          # reported by wait()
            if not self.stopping:
                self.error = e
            with self.cond:
                self.cond.notify_all()
            self.ready.set()

    def wait(self, event_id, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while event_id not in self.arrived:
                if self.error:
                    raise BenchError("person sync failed: %r" % self.error)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.arrived[event_id]


# ---- processes ----

def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[11]) + int(rest[12])           # utime + stime


def cpu_ns(pid):
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


class Cpu:
    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid):
        self.pid = pid
        self.t0, self.n0 = cpu_ticks(pid), cpu_ns(pid)

    def per(self, n):
        """(µs per item from utime+stime, µs per item from schedstat, total ms)."""
        dt, dn = cpu_ticks(self.pid) - self.t0, cpu_ns(self.pid) - self.n0
        return dt * 1e6 / self.TICK / n, dn / 1e3 / n, dt * 1e3 / self.TICK


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])      # kB
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_by_mapping(pid, top=8):
    """[(kB, name)]: Rss per mapped file (anonymous memory as [anon], [heap], [stack])."""
    per = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if not parts[0].endswith(":"):         # a mapping's header line
                name = parts[5] if len(parts) > 5 else "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
            elif parts[0] == "Rss:":
                per[name] = per.get(name, 0) + int(parts[1])
    return sorted(((v, k) for k, v in per.items()), reverse=True)[:top]


def stop_proc(p, sig=signal.SIGTERM, wait=15):
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    try:
        p.send_signal(sig)
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return p.returncode


HOMESERVER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "homeserver", "homeserver.py")


def homeserver_nodelay_main(argv):
    """tests/homeserver/homeserver.py, unchanged, with TCP_NODELAY on its sockets.

    Its handler writes the status line and headers, then the body, in two
    send()s; with Nagle on, the body waits for the client's delayed ACK of
    the headers: every request then takes ~40 ms on loopback, for gavel and
    the echo floor alike, and that stall is all a latency benchmark would see.
    """
    import importlib.util
    spec = importlib.util.spec_from_file_location("homeserver", HOMESERVER)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["homeserver"] = mod
    spec.loader.exec_module(mod)
    mod.Handler.disable_nagle_algorithm = True
    return mod.main(argv)


def start_homeserver(workdir, nodelay=True):
    if nodelay:
        cmd = [sys.executable, os.path.abspath(__file__), "--homeserver-nodelay"]
    else:
        cmd = [sys.executable, HOMESERVER]
    err = open(os.path.join(workdir, "homeserver.log"), "wb")
    p = subprocess.Popen(cmd + ["--port", "0", "--host", "127.0.0.1"],
                         stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    err.close()
    line = b""
    deadline = time.monotonic() + 30
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            ch = os.read(p.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
    if not line.startswith(b"LISTENING "):
        stop_proc(p)
        raise BenchError("homeserver did not start: %r" % line)
    return p, int(line.split()[1])


# ---- the echo client (the floor) ----

def echo_main(argv):
    port, token, person, content_file = int(argv[0]), argv[1], argv[2], argv[3]
    with open(content_file) as f:
        template = json.load(f)
    c = Conn(port, token, timeout=90)
    fid = make_filter(c, ECHO, GAVEL_FILTER)
    since = c.ok("GET", sync_path(fid, None, 0))["next_batch"]
    print("READY", flush=True)
    txn = 0
    errors = 0
    while errors < 5:
        try:
            st, j = c.call("GET", sync_path(fid, since, 30000))
        except (OSError, http.client.HTTPException):
            errors += 1
            time.sleep(0.2)
            continue
        if st != 200:
            errors += 1
            time.sleep(0.2)
            continue
        errors = 0
        for rid, room in j.get("rooms", {}).get("join", {}).items():
            for ev in room.get("timeline", {}).get("events", []):
                ct = ev.get("content") or {}
                if ev.get("type") != "m.room.message" or ev.get("sender") != person or \
                        ct.get("msgtype") != "m.text":
                    continue
                out = dict(template)
                out["m.relates_to"] = {"m.in_reply_to": {"event_id": ev["event_id"]}}
                txn += 1
                c.call("PUT", CLIENT + "/rooms/%s/send/m.room.message/e%d" % (q(rid), txn), out)
        since = j["next_batch"]
    return 0


# ---- the benchmark ----

class Bench:
    def __init__(self, a):
        self.a = a
        self.hs = self.gavel = self.echo = None
        self.watchers = []
        self.work = tempfile.mkdtemp(prefix="gavel-matrix-bench-")
        self.res = {}
        self.txn = 0

    def log(self, msg):
        print("# [%6.1f s] %s" % (time.monotonic() - self.t_start, msg), flush=True)

    # helpers
    def send(self, room, body, conn=None):
        self.txn += 1
        return (conn or self.pc).ok("PUT", CLIENT + "/rooms/%s/send/m.room.message/p%d" %
                                    (q(room), self.txn),
                                    {"msgtype": "m.text", "body": body})["event_id"]

    def room_events(self, room):
        return self.tc.ok("GET", "/_test/rooms/%s/events" % q(room))["events"]

    def check_alive(self):
        if self.gavel.poll() is not None:
            raise BenchError("gavel exited with %s; log:\n%s" % (self.gavel.returncode,
                                                                  self.gavel_log()[-2000:]))

    def gavel_log(self, gdir=None):
        try:
            with open(os.path.join(gdir or self.gdir, "gavel.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def gavel_dir(self, name, level):
        """A directory with gavel's config (log_level level) and password."""
        gdir = os.path.join(self.work, name)
        os.makedirs(gdir, exist_ok=True)
        with open(os.path.join(gdir, "password"), "w") as f:
            f.write("bot-password\n")
        self.gavel_config(gdir, level)
        return gdir

    def gavel_config(self, gdir, level):
        with open(os.path.join(gdir, "gavel.json"), "w") as f:
            json.dump({"homeserver": "http://127.0.0.1:%d" % self.port, "user_id": BOT,
                       "password_file": "password", "database": "gavel.db",
                       "archive_dir": "minutes", "allow_invites_from": [":" + DOMAIN],
                       "log_level": level, "sync_timeout_ms": 30000,
                       # round trips back to back in one room: not what the
                       # per-room pacing is for
                       "room_send_per_s": 1000}, f)

    def start_gavel(self, gdir):
        """Starts gavel in gdir (its log appended to gdir/gavel.log); returns the
        monotonic time just before the fork."""
        glog = open(os.path.join(gdir, "gavel.log"), "ab")
        wrap = self.a.gavel_wrapper.split() if self.a.gavel_wrapper else []
        t0 = time.monotonic()
        self.gavel = subprocess.Popen(wrap + [self.a.gavel, "--config", "gavel.json"], cwd=gdir,
                                      stdin=subprocess.DEVNULL, stdout=glog,
                                      stderr=subprocess.STDOUT)
        glog.close()
        self.gdir = gdir
        return t0

    def log_size(self, gdir=None):
        try:
            return os.path.getsize(os.path.join(gdir or self.gdir, "gavel.log"))
        except OSError:
            return 0

    def wait_log(self, needle, off, timeout=120, gdir=None):
        """Polls gavel.log (every ms) past byte off for a line holding needle:
        (the monotonic time it was seen, the line)."""
        path = os.path.join(gdir or self.gdir, "gavel.log")
        deadline = time.monotonic() + timeout
        buf = b""
        with open(path, "rb") as f:
            f.seek(off)
            while time.monotonic() < deadline:
                chunk = f.read()
                if chunk:
                    buf += chunk
                    for line in buf.split(b"\n")[:-1]:
                        if needle.encode() in line:
                            return time.monotonic(), line.decode(errors="replace")
                else:
                    self.check_alive()
                    time.sleep(0.001)
        raise BenchError("no '%s' in gavel's log within %d s" % (needle, timeout))

    def trace_lines(self, off, gdir=None):
        with open(os.path.join(gdir or self.gdir, "gavel.log"), "rb") as f:
            f.seek(off)
            return [l.decode(errors="replace") for l in f.read().split(b"\n") if b"trace" in l]

    def create_rooms(self, n, name):
        rooms = []
        for i in range(n):
            rooms.append(self.pc.ok("POST", CLIENT + "/createRoom",
                                    {"name": "%s %d" % (name, i), "invite": [BOT]})["room_id"])
        return rooms

    def wait_joined(self, rooms, timeout=120):
        left = set(rooms)
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            self.check_alive()
            for r in list(left):
                if any(e["type"] == "m.room.member" and e.get("state_key") == BOT and
                       e["content"].get("membership") == "join" for e in self.room_events(r)):
                    left.discard(r)
            if left:
                time.sleep(0.1)
        if left:
            raise BenchError("gavel did not join %d of %d rooms within %d s" %
                             (len(left), len(rooms), timeout))

    def probe(self, watcher, room, timeout=120):
        """!commands in room; returns when gavel's reply arrived (all before it is handled)."""
        eid = self.send(room, "!commands")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            got = watcher.wait(eid, 1.0)
            if got:
                return got
        raise BenchError("no reply to the probe in %s within %d s" % (room, timeout))

    def processed(self):
        try:
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.work, "gavel", "gavel.db"),
                                 uri=True, timeout=10)
            try:
                return db.execute("SELECT count(*) FROM processed").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            return None

    # phases
    def setup(self):
        self.hs, self.port = start_homeserver(self.work, not self.a.stock_homeserver)
        self.log("homeserver on 127.0.0.1:%d (pid %d)" % (self.port, self.hs.pid))
        self.ptoken = register(self.port, "person", "pw-person")
        self.etoken = register(self.port, "echo", "pw-echo")
        register(self.port, "gavel", "bot-password", login=False)
        self.pc = Conn(self.port, self.ptoken)
        self.tc = Conn(self.port)
        self.room_g = self.create_rooms(1, "gavel latency")[0]
        self.room_e = self.pc.ok("POST", CLIENT + "/createRoom",
                                 {"name": "echo latency", "invite": [ECHO]})["room_id"]
        Conn(self.port, self.etoken).ok("POST", CLIENT + "/join/%s" % q(self.room_e), {})
        self.gdir = self.gavel_dir("gavel", "warning")
        self.start_gavel(self.gdir)
        self.log("gavel pid %d" % self.gavel.pid)
        self.wait_joined([self.room_g])
        w = Watcher(self.port, self.ptoken, [self.room_g, self.room_e], [BOT, ECHO])
        w.start()
        if not w.ready.wait(30) or w.error:
            raise BenchError("person sync did not start: %r" % w.error)
        self.watchers.append(w)
        self.w = w
        # gavel's answer to !commands, which the echo client will send back verbatim
        _, ev = self.probe(w, self.room_g)
        content = {k: v for k, v in ev["content"].items() if k != "m.relates_to"}
        self.res["reply_bytes"] = len(json.dumps(content))
        cfile = os.path.join(self.work, "echo-content.json")
        with open(cfile, "w") as f:
            json.dump(content, f)
        self.echo = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--echo",
                                      str(self.port), self.etoken, PERSON, cfile],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        r, _, _ = select.select([self.echo.stdout], [], [], 30)
        if not r or not self.echo.stdout.readline().startswith(b"READY"):
            raise BenchError("the echo client did not start")
        self.log("echo client pid %d; gavel's !commands reply: %d bytes of content" %
                 (self.echo.pid, self.res["reply_bytes"]))
        # idle: nothing arrives, nothing to send
        time.sleep(0.5)
        ci, ce = Cpu(self.gavel.pid), Cpu(self.echo.pid)
        time.sleep(2.0)
        self.res["idle_cpu_pct"] = ci.per(1)[2] / 20.0
        self.res["idle_cpu_pct_echo"] = ce.per(1)[2] / 20.0
        if self.a.profile:
            self.profile_idle()

    def one(self, room, body):
        t0 = time.perf_counter()
        eid = self.send(room, body)
        got = self.w.wait(eid, 30)
        if got is None:
            self.check_alive()
            if self.echo.poll() is not None:
                raise BenchError("the echo client exited")
            raise BenchError("no reply within 30 s in %s" % room)
        return got[0] - t0

    def latency(self):
        n, warm = self.a.commands, self.a.warmup
        lat = {"gavel": [], "echo": []}
        for i in range(warm):
            self.one(self.room_g, "!commands")
            self.one(self.room_e, "ping %d" % i)
        cg, ce = Cpu(self.gavel.pid), Cpu(self.echo.pid)
        t0 = time.monotonic()
        for i in range(n):
            order = (("gavel", self.room_g, "!commands"), ("echo", self.room_e, "ping %d" % i))
            for who, room, body in (order if i % 2 == 0 else order[::-1]):
                lat[who].append(self.one(room, body))
        wall = time.monotonic() - t0
        self.res["lat_wall_s"] = wall
        self.res["lat_cpu_gavel"] = cg.per(n)
        self.res["lat_cpu_echo"] = ce.per(n)
        for who, xs in lat.items():
            xs.sort()
            pct = lambda p: xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs))) - 1))]
            self.res["lat_" + who] = {"p50": pct(50) * 1e3, "p95": pct(95) * 1e3,
                                      "p99": pct(99) * 1e3, "min": xs[0] * 1e3,
                                      "max": xs[-1] * 1e3, "mean": sum(xs) / len(xs) * 1e3,
                                      "over_100ms": sum(1 for x in xs if x > 0.1)}
        self.res["rss_1room"] = proc_status(self.gavel.pid)
        self.log("latency: %d + %d round trips in %.1f s" % (n, n, wall))

    def rss(self):
        n = self.a.rooms
        rooms = self.create_rooms(n, "bench")
        self.wait_joined(rooms)
        self.log("gavel joined %d more rooms" % n)
        sent = {r: self.send(r, "#architecture bench item in room %d" % i)
                for i, r in enumerate(rooms)}
        left = dict(sent)
        deadline = time.monotonic() + 120
        while left and time.monotonic() < deadline:
            self.check_alive()
            for r, eid in list(left.items()):
                for e in self.room_events(r):
                    rel = e["content"].get("m.relates_to") or {}
                    if e["sender"] == BOT and (rel.get("event_id") == eid or
                                               (rel.get("m.in_reply_to") or {}).get("event_id") == eid):
                        del left[r]
                        break
            if left:
                time.sleep(0.1)
        if left:
            raise BenchError("no ack in %d of %d rooms" % (len(left), n))
        time.sleep(1.0)
        self.res["rss_rooms"] = proc_status(self.gavel.pid)
        self.res["rss_maps"] = rss_by_mapping(self.gavel.pid)
        self.res["joined_rooms"] = len(rooms) + 1
        self.log("every room's tag acknowledged")

    def burst(self, key, setup_body):
        room = self.create_rooms(1, key)[0]
        if setup_body:
            self.meeting_room = room
        self.wait_joined([room])
        self.res["joined_rooms"] = self.res.get("joined_rooms", 1) + 1
        w = Watcher(self.port, self.ptoken, [room], [BOT])
        w.start()
        self.watchers.append(w)
        if not w.ready.wait(30) or w.error:
            raise BenchError("person sync did not start: %r" % w.error)
        if setup_body:
            self.send(room, setup_body)
        self.probe(w, room)
        time.sleep(0.5)
        p0 = self.processed()
        conn = Conn(self.port, self.ptoken)
        st0 = self.tc.ok("GET", "/_test/stats")
        prof = self.profile_start(key) if self.a.profile and key == "burst_meeting" else None
        cpu = Cpu(self.gavel.pid)
        t0 = time.monotonic()
        for i in range(self.a.burst):
            self.send(room, "chatter line %d: nothing for the bot here, just talk" % i, conn)
        t_sent = time.monotonic() - t0
        self.probe(w, room, timeout=300)
        t_done = time.monotonic() - t0
        us, us_fine, ms = cpu.per(self.a.burst)
        if prof:
            self.profile_stop(prof)
        st1 = self.tc.ok("GET", "/_test/stats")
        p1 = self.processed()
        def count(st, what):
            return sum(v for k, v in st["requests"].items() if what(k))
        msgs = lambda st: count(st, lambda k: "/messages" in k)
        # during the burst no one else starts a /sync: the others' filters match
        # nothing that is sent (their long-polls wake, find nothing, and wait on)
        syncs = lambda st: count(st, lambda k: k.startswith("GET /sync"))
        conn.close()
        w.stopping = True
        self.res[key] = {"cpu_us": us, "cpu_us_schedstat": us_fine, "cpu_ms": ms,
                         "send_s": t_sent, "done_s": t_done,
                         "handled": (p1 - p0) if p0 is not None and p1 is not None else None,
                         "gap_fills": msgs(st1) - msgs(st0),
                         "syncs": syncs(st1) - syncs(st0)}
        self.log("%s: %d messages sent in %.2f s, all handled after %.2f s" %
                 (key, self.a.burst, t_sent, t_done))

    def one_per_sync(self):
        """--one-per-sync messages in the meeting's room, each after gavel's next
        /sync request arrived: one message per batch, CPU per message."""
        room, n = self.meeting_room, self.a.one_per_sync
        conn = Conn(self.port, self.ptoken)

        def syncs():
            st = self.tc.ok("GET", "/_test/stats")
            return sum(v for k, v in st["requests"].items() if k.startswith("GET /sync"))

        def one(i):
            s0 = syncs()
            self.send(room, "one per sync %d: nothing for the bot here, just talk" % i, conn)
            deadline = time.monotonic() + 60
            while syncs() < s0 + 1:
                if time.monotonic() > deadline:
                    self.check_alive()
                    raise BenchError("gavel did not ask for its next /sync within 60 s")
                time.sleep(0.0005)

        for i in range(20):             # warm-up: caches, the connection
            one(i)
        time.sleep(0.3)
        st = None
        if self.a.profile and shutil.which("strace"):
            out = os.path.join(self.a.profile, "one_per_sync.strace-c.txt")
            st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(self.gavel.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        cpu = Cpu(self.gavel.pid)
        t0 = time.monotonic()
        for i in range(n):
            one(20 + i)
        wall = time.monotonic() - t0
        us, us_fine, ms = cpu.per(n)
        if st:
            stop_proc(st, signal.SIGINT, wait=60)
            self.log("profile: the one-per-sync phase under strace -c -f -> %s" % out)
        conn.close()
        self.res["one_per_sync"] = {"cpu_us": us, "cpu_us_sched": us_fine, "n": n, "wall_s": wall,
                                    "straced": st is not None}
        self.log("one per sync: %d messages in %.2f s" % (n, wall))

    def startup(self):
        """Start -> first /sync applied: --starts times with a new database (login,
        filter, the initial sync of every joined room), --starts times again
        on the running database (a restart: its first /sync does not wait).
        Timed from the fork to the trace's line in the log (log_level debug
        from here on)."""
        stop_proc(self.gavel)
        main_dir = self.gdir
        self.gavel_config(main_dir, "debug")
        res = {"fresh": [], "restart": [], "fresh_own": [], "restart_own": []}
        for i in range(self.a.starts):
            for kind in ("fresh", "restart"):
                gdir = self.gavel_dir("fresh%d" % i, "debug") if kind == "fresh" else main_dir
                off = self.log_size(gdir)
                t0 = self.start_gavel(gdir)
                t1, line = self.wait_log("first sync batch applied", off)
                res[kind].append((t1 - t0) * 1e3)
                res[kind + "_own"].append(int(line.split(" applied ")[1].split()[0]) / 1e3)
                stop_proc(self.gavel)
        for k in list(res):
            res[k].sort()
        self.res["startup"] = res
        off = self.log_size(main_dir)
        self.start_gavel(main_dir)
        self.wait_log("first sync batch applied", off)
        self.log("start -> first /sync applied: new database %.0f ms, restart %.0f ms (medians of %d)"
                 % (res["fresh"][len(res["fresh"]) // 2], res["restart"][len(res["restart"]) // 2],
                    self.a.starts))

    def endmeeting(self):
        """#endmeeting of a meeting of --end-lines lines: to the PUT of the minutes
        (the trace), to the minutes event seen by the person, to the five
        archive files and index.html on disk; gavel's CPU over it."""
        room = self.create_rooms(1, "endmeeting")[0]
        self.wait_joined([room])
        self.res["joined_rooms"] = self.res.get("joined_rooms", 1) + 1
        w = Watcher(self.port, self.ptoken, [room], [BOT])
        w.start()
        self.watchers.append(w)
        if not w.ready.wait(30) or w.error:
            raise BenchError("person sync did not start: %r" % w.error)
        eid = self.send(room, "#startmeeting endbench")
        conn = Conn(self.port, self.ptoken)
        kinds = ("#info an info line %d", "#action someone does thing %d", "#agreed point %d",
                 "#link https://example.org/%d")
        for i in range(self.a.end_lines - 2):
            body = (kinds[(i // 50) % 4] % i) if i % 50 == 25 else \
                ("#topic topic %d" % i if i % 100 == 0 else "chatter line %d in the meeting" % i)
            self.send(room, body, conn)
        conn.close()
        self.probe(w, room, timeout=300)
        time.sleep(0.5)
        mdir = os.path.join(self.gdir, "minutes")
        before = set(os.listdir(mdir)) if os.path.isdir(mdir) else set()
        off = self.log_size()
        cpu = Cpu(self.gavel.pid)
        t0 = time.monotonic()
        eid = self.send(room, "#endmeeting")
        t_files = None
        deadline = t0 + 60
        while time.monotonic() < deadline:
            names = set(os.listdir(mdir)) if os.path.isdir(mdir) else set()
            new = [n for n in names - before if n != "index.html" and n.endswith((".html", ".txt", ".md"))]
            if len(new) >= 5 and not any(n.startswith(".") for n in names):
                t_files = time.monotonic()
                break
            time.sleep(0.0005)
        if t_files is None:
            raise BenchError("the minutes files did not appear within 60 s")
        time.sleep(0.3)
        # the minutes event: the homeserver's origin_server_ts of the bot's first
        # notice after #endmeeting, from that of #endmeeting (ms)
        evs = self.room_events(room)
        t_end = next(e["origin_server_ts"] for e in evs if e["event_id"] == eid)
        t_min = next((e["origin_server_ts"] for e in evs if e["sender"] == BOT and
                      e["origin_server_ts"] >= t_end and e["type"] == "m.room.message" and
                      "endbench" in (e["content"].get("body") or "")), None)
        us, us_fine, ms = cpu.per(1)
        w.stopping = True
        tr = self.trace_lines(off)
        put_us = None
        batch_seen = False
        for l in tr:
            if "sync batch:" in l:
                batch_seen = True
            if batch_seen and "(minutes in" in l and "PUT issued +" in l:
                put_us = int(l.split("PUT issued +")[1].split()[0])
                break
        renders = [int(l.split("rendered ")[1].split()[3]) for l in tr if ": rendered " in l]
        disk = [int(l.split("on disk ")[1].split()[0]) for l in tr if ": on disk " in l]
        self.res["endmeeting"] = {
            "lines": self.a.end_lines, "put_us": put_us,
            "files_ms": (t_files - t0) * 1e3,
            "event_ms": None if t_min is None else t_min - t_end,
            "cpu_ms": ms, "cpu_ms_sched": us_fine / 1e3,
            "render_us": renders, "disk_us": disk}
        self.log("#endmeeting of %d lines: minutes PUT +%s us after its sync, files on disk after "
                 "%.1f ms (send to seen), gavel CPU %.1f ms (sched)" %
                 (self.a.end_lines, put_us, (t_files - t0) * 1e3, us_fine / 1e3))

    def big(self):
        """--big-rooms rooms: gavel (a new database) starts in all of them at once:
        the initial sync, RSS, CPU per message of a burst in one of them."""
        n = self.a.big_rooms
        stop_proc(self.gavel)
        t0 = time.monotonic()
        self.tc.ok("POST", "/_test/bulk_rooms", {"count": n, "creator": PERSON, "join": [BOT],
                                                  "name": "big"})
        self.log("homeserver: %d rooms made in %.1f s" % (n, time.monotonic() - t0))
        gdir = self.gavel_dir("big", "debug")
        t0 = self.start_gavel(gdir)
        t1, line = self.wait_log("first sync batch applied", 0, timeout=600)
        # gavel's own: the trace of the initial batch, received -> committed
        # (the rest of "applied after the start" is the homeserver's answer)
        own = [l for l in self.trace_lines(0, gdir) if "sync batch:" in l and "committed +" in l]
        rb = {"rooms": n, "first_sync_ms": (t1 - t0) * 1e3,
              "first_sync_own_ms": (int(own[0].split("committed +")[1].split()[0]) / 1e3
                                    if own else float("nan"))}
        time.sleep(1.0)
        rb["rss"] = proc_status(self.gavel.pid)
        self.log("%d rooms: first /sync applied after %.0f ms, VmHWM %.1f MiB" %
                 (n, rb["first_sync_ms"], rb["rss"]["VmHWM"] / 1024.0))
        room = self.create_rooms(1, "big burst")[0]
        self.wait_joined([room])
        w = Watcher(self.port, self.ptoken, [room], [BOT])
        w.start()
        self.watchers.append(w)
        if not w.ready.wait(60) or w.error:
            raise BenchError("person sync did not start: %r" % w.error)
        self.send(room, "#startmeeting big")
        self.probe(w, room)
        time.sleep(0.5)
        conn = Conn(self.port, self.ptoken)
        prof = self.profile_start("big_burst") if self.a.profile else None
        cpu = Cpu(self.gavel.pid)
        m = self.a.big_burst
        for i in range(m):
            self.send(room, "chatter line %d among many rooms" % i, conn)
        self.probe(w, room, timeout=600)
        us, us_fine, ms = cpu.per(m)
        if prof:
            self.profile_stop(prof)
        conn.close()
        w.stopping = True
        rb["cpu_us"], rb["cpu_us_sched"], rb["burst"] = us, us_fine, m
        rb["rss_end"] = proc_status(self.gavel.pid)
        self.res["big"] = rb
        self.log("%d rooms: %d messages, %.0f us CPU each" % (n, m, us_fine))

    # profiling (--profile DIR): what the bench sees, explained
    def profile_idle(self):
        d = self.a.profile
        os.makedirs(d, exist_ok=True)
        if shutil.which("strace"):
            out = os.path.join(d, "idle.strace-c.txt")
            subprocess.run(["timeout", "-s", "INT", "2", "strace", "-c", "-o", out, "-p",
                            str(self.gavel.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            self.log("profile: 2 s of idle gavel under strace -c -> %s" % out)
        if shutil.which("perf"):
            out = os.path.join(d, "idle.perf.data")
            subprocess.run(["perf", "record", "-q", "-o", out, "-p", str(self.gavel.pid), "--",
                            "sleep", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
            self.log("profile: 2 s of idle gavel under perf record -> %s" % out)

    def profile_start(self, key):
        if not shutil.which("perf"):
            return None
        out = os.path.join(self.a.profile, key + ".perf.data")
        p = subprocess.Popen(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "999",
                              "-o", out, "-p", str(self.gavel.pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        return p, out

    def profile_stop(self, prof):
        stop_proc(prof[0], signal.SIGINT, wait=120)
        self.log("profile: the burst under perf record --call-graph dwarf -> %s" % prof[1])

    def run(self):
        self.t_start = time.monotonic()
        try:
            self.setup()
            self.latency()
            self.rss()
            self.burst("burst_meeting", "#startmeeting bench")
            self.burst("burst_plain", None)
            if self.a.one_per_sync:
                self.one_per_sync()
            self.res["rss_end"] = proc_status(self.gavel.pid)
            if self.a.starts:
                self.startup()
            if self.a.end_lines:
                if not self.a.starts:
                    stop_proc(self.gavel)
                    self.gavel_config(self.gdir, "debug")
                    self.start_gavel(self.gdir)
                self.endmeeting()
            if self.a.big_rooms:
                self.big()
            self.res["gavel_exit"] = stop_proc(self.gavel)
            self.gavel_status = self.res["gavel_exit"]
        finally:
            for w in self.watchers:
                w.stopping = True
            stop_proc(self.gavel, signal.SIGKILL)
            stop_proc(self.echo)
            stop_proc(self.hs)
            for c in ("pc", "tc"):
                if hasattr(self, c):
                    getattr(self, c).close()
            if self.a.keep:
                print("# kept %s" % self.work)
            else:
                shutil.rmtree(self.work, ignore_errors=True)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d CPUs (nproc), %s, Linux %s, Python %s" % (
        len(os.sched_getaffinity(0)), model, platform.release(), platform.python_version())


def report(a, r):
    def verdict(v, t):
        return "met" if v <= t else "NOT met"

    def mib(kb):
        return kb / 1024.0

    g, e = r["lat_gavel"], r["lat_echo"]
    ratio = {k: g[k] / e[k] for k in ("p50", "p95", "p99")}
    bm, bp = r["burst_meeting"], r["burst_plain"]
    rows = [
        ("latency p50 gavel / floor", "%.2f / %.2f ms" % (g["p50"], e["p50"]),
         "%.2fx" % ratio["p50"], "<= %.1fx" % TARGETS["ratio"], verdict(ratio["p50"], TARGETS["ratio"])),
        ("latency p95 gavel / floor", "%.2f / %.2f ms" % (g["p95"], e["p95"]),
         "%.2fx" % ratio["p95"], "<= %.1fx" % TARGETS["ratio"], verdict(ratio["p95"], TARGETS["ratio"])),
        ("latency p99 gavel / floor", "%.2f / %.2f ms" % (g["p99"], e["p99"]),
         "%.2fx" % ratio["p99"], "<= %.1fx" % TARGETS["ratio"], verdict(ratio["p99"], TARGETS["ratio"])),
        ("RSS, %d rooms joined" % r["joined_rooms_rss"], "VmHWM %.2f MiB" % mib(r["rss_rooms"]["VmHWM"]),
         "VmRSS %.2f MiB" % mib(r["rss_rooms"]["VmRSS"]), "<= %.0f MiB" % TARGETS["rss_mib"],
         verdict(mib(r["rss_rooms"]["VmRSS"]), TARGETS["rss_mib"])),
        ("CPU/msg, meeting running", "%.1f us" % bm["cpu_us"], "(%.1f us sched)" % bm["cpu_us_schedstat"],
         "<= %.0f us" % TARGETS["cpu_us"], verdict(bm["cpu_us"], TARGETS["cpu_us"])),
        ("CPU/msg, plain text", "%.1f us" % bp["cpu_us"], "(%.1f us sched)" % bp["cpu_us_schedstat"],
         "<= %.0f us" % TARGETS["cpu_us"], verdict(bp["cpu_us"], TARGETS["cpu_us"])),
    ]
    med = lambda xs: xs[len(xs) // 2] if xs else float("nan")
    if r.get("startup"):
        st = r["startup"]
        rows.append(("start -> first /sync, new db", "%.0f ms" % med(st["fresh"]),
                     "(gavel's own %.0f ms)" % med(st["fresh_own"]), "<= 100 ms",
                     verdict(med(st["fresh"]), 100)))
        rows.append(("start -> first /sync, restart", "%.0f ms" % med(st["restart"]),
                     "(gavel's own %.0f ms)" % med(st["restart_own"]), "<= 100 ms",
                     verdict(med(st["restart"]), 100)))
    em = r.get("endmeeting")
    if em:
        rows.append(("#endmeeting -> minutes PUT", "%s ms" % ("?" if em["put_us"] is None else
                                                            "%.2f" % (em["put_us"] / 1e3)),
                     "after its sync arrived", "<= 5 ms",
                     verdict(em["put_us"] / 1e3, 5) if em["put_us"] is not None else "?"))
        rows.append(("#endmeeting -> minutes event", "%s ms" % em["event_ms"],
                     "(homeserver's timestamps)", "", ""))
        rows.append(("#endmeeting -> files on disk", "%.1f ms" % em["files_ms"],
                     "gavel CPU %.1f ms" % em["cpu_ms_sched"], "<= 10 ms CPU",
                     verdict(em["cpu_ms_sched"], 10)))
    op = r.get("one_per_sync")
    if op:
        rows.append(("CPU/msg, one msg per sync" + (" (under strace)" if op["straced"] else ""),
                     "%.1f us" % op["cpu_us"],
                     "(%.1f us sched)" % op["cpu_us_sched"], "<= %.0f us" % TARGETS["cpu_us"],
                     verdict(op["cpu_us_sched"], TARGETS["cpu_us"])))
    bg = r.get("big")
    if bg:
        rows.append(("RSS, %d rooms" % bg["rooms"], "VmHWM %.2f MiB" % mib(bg["rss_end"]["VmHWM"]),
                     "VmRSS %.2f MiB" % mib(bg["rss_end"]["VmRSS"]), "<= 64 MiB",
                     verdict(mib(bg["rss_end"]["VmHWM"]), 64)))
        rows.append(("initial /sync, %d rooms" % bg["rooms"], "%.0f ms" % bg["first_sync_ms"],
                     "(gavel's own: received -> committed %.0f ms)" % bg["first_sync_own_ms"],
                     "", ""))
        rows.append(("CPU/msg, %d rooms" % bg["rooms"], "%.1f us" % bg["cpu_us"],
                     "(%.1f us sched)" % bg["cpu_us_sched"], "<= %.0f us" % TARGETS["cpu_us"],
                     verdict(bg["cpu_us_sched"], TARGETS["cpu_us"])))
    print()
    print("gavel on Matrix (loopback test homeserver%s, %s build)" %
          (" as is, Nagle on" if a.stock_homeserver else " with TCP_NODELAY", a.build))
    print("machine: %s" % machine())
    w = [max(len(x[i]) for x in rows) for i in range(5)]
    print("  " + "  ".join(h.ljust(w[i]) for i, h in enumerate(
        ("metric", "value", "", "target", "")[:5])).rstrip())
    for row in rows:
        print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(row)).rstrip())
    print("context:")
    print("  latency (ms)      %8s %8s %8s %8s %8s %8s  %s" % ("min", "p50", "mean", "p95", "p99",
                                                             "max", ">100 ms"))
    for who, x in (("gavel", g), ("echo floor", e)):
        print("    %-14s  %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f  %d" %
              (who, x["min"], x["p50"], x["mean"], x["p95"], x["p99"], x["max"], x["over_100ms"]))
    print("  %d commands + %d echo messages interleaved (after %d warm-up pairs) in %.1f s; "
          "reply content %d bytes for both" % (a.commands, a.commands, a.warmup,
                                               r["lat_wall_s"], r["reply_bytes"]))
    cg, ce = r["lat_cpu_gavel"], r["lat_cpu_echo"]
    print("  CPU per command round trip: gavel %.1f us (%.1f sched), echo client (Python) "
          "%.1f us (%.1f sched)" % (cg[0], cg[1], ce[0], ce[1]))
    for key, b in (("meeting running", bm), ("plain text", bp)):
        print("  burst, %s: %d msgs sent in %.2f s, all handled at %.2f s, handled (processed "
              "rows) %s, ~%d /sync batches (%.1f msgs each), /messages gap fills %d, gavel CPU "
              "%.0f ms" % (key, a.burst, b["send_s"], b["done_s"], b["handled"], b["syncs"],
                           a.burst / max(1, b["syncs"]), b["gap_fills"], b["cpu_ms"]))
    print("  idle (2 s, nothing to do): gavel %.0f%% of a CPU, echo client %.0f%%" %
          (r["idle_cpu_pct"], r["idle_cpu_pct_echo"]))
    rr = r["rss_rooms"]
    print("  RSS, %d rooms: RssAnon %.2f MiB, RssFile %.2f MiB (shared libraries' pages), "
          "RssShmem %.2f MiB, Pss %.2f MiB; largest: %s" %
          (r["joined_rooms_rss"], mib(rr.get("RssAnon", 0)), mib(rr.get("RssFile", 0)),
           mib(rr.get("RssShmem", 0)), mib(rr.get("Pss", 0)),
           ", ".join("%s %.2f" % (n, mib(k)) for k, n in r["rss_maps"])))
    print("  RSS: 1 room VmRSS %.2f MiB; %d rooms VmRSS %.2f / VmHWM %.2f MiB; end of run "
          "(%d rooms, after bursts) VmRSS %.2f / VmHWM %.2f MiB" %
          (mib(r["rss_1room"]["VmRSS"]), r["joined_rooms_rss"], mib(r["rss_rooms"]["VmRSS"]),
           mib(r["rss_rooms"]["VmHWM"]), r["joined_rooms"], mib(r["rss_end"]["VmRSS"]),
           mib(r["rss_end"]["VmHWM"])))
    if r.get("startup"):
        st = r["startup"]
        print("  start -> first /sync applied (fork to the trace line), ms: new database %s; "
              "restart %s" % (" ".join("%.0f" % x for x in st["fresh"]),
                              " ".join("%.0f" % x for x in st["restart"])))
    if em:
        print("  #endmeeting of %d lines: files rendered (us, on the loop) %s; written, fsynced, "
              "renamed (us from the render's start, worker thread) %s" %
              (em["lines"], em["render_us"], em["disk_us"]))
    if bg:
        print("  %d rooms: RSS after the initial sync VmRSS %.2f / VmHWM %.2f MiB (RssAnon %.2f); "
              "burst of %d messages in one room" %
              (bg["rooms"], mib(bg["rss"]["VmRSS"]), mib(bg["rss"]["VmHWM"]),
               mib(bg["rss"].get("RssAnon", 0)), bg["burst"]))
    print("  CPU from /proc/PID/stat utime+stime (%d ticks/s); 'sched' from "
          "/proc/PID/task/*/schedstat (ns)" % Cpu.TICK)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--echo":
        return echo_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--homeserver-nodelay":
        return homeserver_nodelay_main(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rooms", type=int, default=50)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--one-per-sync", type=int, default=500,
                    help="messages sent one per /sync in the meeting's room (0: none)")
    ap.add_argument("--starts", type=int, default=5,
                    help="starts timed with a new database and with the running one (0: none)")
    ap.add_argument("--end-lines", type=int, default=1000,
                    help="lines of the meeting whose #endmeeting is timed (0: none)")
    ap.add_argument("--big-rooms", type=int, default=0,
                    help="rooms (e.g. 10000) gavel starts in at once, made by the homeserver")
    ap.add_argument("--big-burst", type=int, default=100,
                    help="messages of the burst timed among --big-rooms rooms")
    ap.add_argument("--timeout", type=int, default=1200, help="whole run, seconds")
    ap.add_argument("--build", default="unknown")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--stock-homeserver", action="store_true",
                    help="run homeserver.py as it is (Nagle on: ~40 ms per request)")
    ap.add_argument("--gavel-wrapper", metavar="CMD",
                    help="start gavel under CMD (e.g. 'valgrind --tool=callgrind ...'): for "
                         "profiles only, the timings then mean nothing")
    ap.add_argument("--profile", metavar="DIR",
                    help="strace -c and perf record an idle gavel, perf record the meeting burst")
    a = ap.parse_args()
    if a.profile:
        a.profile = os.path.abspath(a.profile)
    a.gavel = os.path.abspath(a.gavel)

    def on_alarm(signum, frame):
        raise BenchError("the run took over %d s" % a.timeout)

    def on_term(signum, frame):
        raise BenchError("stopped by signal %d" % signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(a.timeout)
    b = Bench(a)
    try:
        b.run()
    except BenchError as e:
        print("matrix-bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    r = b.res
    r["joined_rooms_rss"] = a.rooms + 1
    report(a, r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "build": a.build, "args": vars(a), "results": r}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
