#!/usr/bin/env python3
"""tests/replay_files.py - gavel replay writes a meeting's files in one batch
(each file synced and renamed, index.html once, the directory synced once)
and marks their rows done only once that is durable.

    replay_files.py GAVEL LOG

1. A batch that fails at its end (index.html cannot be written: a directory
   is in its place) leaves every file row pending with its reason (`gavel
   outbox` lists them), exit 1; once fixed, the console's drain writes them,
   identical to a clean replay's.
2. A replay killed at each of its syncs (strace fault injection; fails
   without strace) has recorded nothing: replayed again into the same --db
   it writes every file once, identical to a clean replay's, no leftovers,
   nothing pending.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "matrix"))
from startup import check  # noqa: E402

import startup  # noqa: E402

gavel = os.path.abspath(sys.argv[1])
log = os.path.abspath(sys.argv[2])
top = tempfile.mkdtemp(prefix="gavel-replay-files-")

def replay(out, db=None, prefix=()):
    args = list(prefix) + [gavel, "replay", log, "--out", out]
    if db:
        args += ["--db", db]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def files_of(d):
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))
            if os.path.isfile(os.path.join(d, n))}


def outbox(d):
    r = subprocess.run([gavel, "outbox", "--config", "gavel.json"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    return r, [l.split(None, 5) for l in r.stdout.splitlines()[1:]]


def setup(name):
    d = os.path.join(top, name)
    os.makedirs(d)
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump({"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning"}, f)
    return d


try:
    clean = os.path.join(top, "clean")
    r = replay(clean)
    want = files_of(clean)
    check(r.returncode == 0 and len(want) == 6 and "index.html" in want,
          "a clean replay writes five files and index.html", r.stdout + r.stderr)

    # ---- 1. the batch fails at its end ----
    d = setup("failing")
    out = os.path.join(d, "minutes")
    os.makedirs(os.path.join(out, "index.html"))
    r = replay(out, os.path.join(d, "gavel.db"))
    nw = [l for l in r.stderr.splitlines() if l.startswith("gavel: " + out + "/meeting.") and
          l.endswith("not written: I/O error (Is a directory)")]
    check(r.returncode == 1 and len(nw) == 5, "a failed batch: exit 1, each of the five files "
          "said not written", r.stdout + r.stderr)
    check("wrote" not in r.stdout, "none said written", r.stdout)
    o, rows = outbox(d)
    check(o.returncode == 0 and len(rows) == 5 and
          all(x[1] == "pending" and x[2] == "file" and x[3] == "1" for x in rows),
          "gavel outbox lists the five rows pending, one attempt each", o.stdout + o.stderr)
    os.rmdir(os.path.join(out, "index.html"))
    db = sqlite3.connect(os.path.join(d, "gavel.db"))
    db.execute("UPDATE outbox SET next_at = 0 WHERE kind = 'file'")    # the backoff passed
    db.commit()
    db.close()
    r = subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d, input="",
                       capture_output=True, text=True, timeout=120)
    got = files_of(out)
    check(r.returncode == 0 and got.keys() == want.keys(),
          "once fixed, the drain writes them", sorted(got) + [r.stdout, r.stderr])
    check(all(got.get(n) == want[n] for n in want if n != "index.html"),
          "identical to a clean replay's", sorted(n for n in want if got.get(n) != want[n]))
    o, rows = outbox(d)
    check(rows == [], "nothing pending", o.stdout)

    # ---- 2. killed at each sync ----
    strace = shutil.which("strace")
    check(strace is not None, "strace is installed (deploy/setup.sh --test installs it)",
          "the kills at each sync need strace's fault injection")
    if strace:
        for when in range(1, 8):
            d = setup("kill%d" % when)
            out = os.path.join(d, "minutes")
            dbp = os.path.join(d, "gavel.db")
            r = replay(out, dbp, [strace, "-f", "-o", os.devnull, "-e", "trace=fsync",
                                  "-e", "inject=fsync:signal=SIGKILL:when=%d" % when])
            killed = r.returncode != 0
            r = replay(out, dbp)
            got = files_of(out) if os.path.isdir(out) else {}
            left = [n for n in os.listdir(out) if n.startswith(".")] if os.path.isdir(out) else []
            check(killed and r.returncode == 0 and "already replayed" not in r.stderr,
                  "killed at sync %d: nothing recorded, replayed again" % when,
                  "%s %s" % (killed, r.stdout + r.stderr))
            check(got == want and not left,
                  "killed at sync %d: then every file once, identical, no leftovers" % when,
                  sorted(got) + left)
            db = sqlite3.connect(dbp)
            pending = db.execute("SELECT count(*) FROM outbox WHERE sent IS NULL AND "
                                 "kind = 'file'").fetchone()[0]
            db.close()
            check(pending == 0, "killed at sync %d: no file row pending after" % when, pending)
finally:
    shutil.rmtree(top, ignore_errors=True)

print("%d passed, %d failed" % (startup.passed, startup.failed))
sys.exit(1 if startup.failed else 0)
