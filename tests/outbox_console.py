#!/usr/bin/env python3
"""tests/outbox_console.py - nothing wedges the outbox, nothing is lost: the
console (the same drain as the replay) against a broken archive and bad rows.

    outbox_console.py GAVEL

1. archive_dir is a regular file: the minutes files are not marked written;
   the meeting's room is told once (and the log once), `gavel outbox` lists
   them pending; a later drain before the fix says nothing more; once the
   file is gone and the backoff passed, the next drain writes them all.
2. A row that can never be built (minutes of a meeting that does not exist)
   is parked at start-up with its reason, never blocks the rows after it nor
   the start, shows in `gavel outbox`, and `gavel outbox retry ID` puts it back.
3. Minutes over the message ceiling are cut at a line with a note, not
   refused whole.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

gavel = os.path.abspath(sys.argv[1])
top = tempfile.mkdtemp(prefix="gavel-outbox-")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:1500]))
    sys.stdout.flush()
    if cond:
        passed += 1
    else:
        failed += 1


def run(d, lines, *args):
    return subprocess.run([gavel, "--config", "gavel.json", "--shell"] + list(args), cwd=d,
                          input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                          timeout=120)


def outbox(d, *args):
    r = subprocess.run([gavel, "outbox", "--config", "gavel.json"] + list(args), cwd=d,
                       capture_output=True, text=True, timeout=60)
    rows = [l.split(None, 5) for l in r.stdout.splitlines()[1:]] if not args else []
    return r, rows


def setup(name, cfg):
    d = os.path.join(top, name)
    os.makedirs(d)
    base = {"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning"}
    base.update(cfg)
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(base, f)
    return d


try:
    # ---- 1. a file where the archive directory should be ----
    d = setup("files", {})
    with open(os.path.join(d, "minutes"), "w") as f:
        f.write("a file in the way\n")
    r = run(d, ["#startmeeting Arch call", "#info one", "#endmeeting"])
    said = [l for l in r.stdout.splitlines() if "could not be written" in l]
    check(r.returncode == 0, "a failed minutes write does not stop the console", r.stderr)
    check(len(said) == 1 and "minutes" in said[0] and "Not a directory" in said[0] and
          said[0].startswith("<gavel> "),
          "the room is told once, naming the archive dir and the error", r.stdout[-1500:])
    check("wrote" not in r.stdout, "no file is said to be written", r.stdout[-800:])
    logged = [l for l in r.stderr.splitlines() if "error" in l]
    check(len(logged) == 1 and "not written" in logged[0] and "Not a directory" in logged[0],
          "the log says it once", r.stderr)
    o, rows = outbox(d)
    check(o.returncode == 0 and len(rows) == 5 and all(x[1] == "pending" and x[2] == "file"
                                                       for x in rows),
          "gavel outbox lists the five minutes files as pending", o.stdout + o.stderr)
    check(rows and rows[0][3] == "1" and "Not a directory" in rows[0][5],
          "with the attempts and the reason", o.stdout)
    time.sleep(1.3)                     # the first backoff is 1 s
    r = run(d, ["hello"])
    check(r.returncode == 0 and "could not be written" not in r.stdout and "wrote" not in r.stdout
          and "error" not in r.stderr,
          "still failing: retried, not said again (nor logged again)", r.stdout + r.stderr)
    o, rows = outbox(d)
    check(rows and rows[0][3] == "2", "the retry counts as an attempt", o.stdout)
    os.remove(os.path.join(d, "minutes"))
    time.sleep(2.3)                     # then 2 s
    r = run(d, ["hello again"])
    wrote = [l for l in r.stdout.splitlines() if l.startswith("* gavel wrote minutes/")]
    check(r.returncode == 0 and len(wrote) == 5, "once the archive is fixed, every file is written",
          r.stdout + r.stderr)
    files = sorted(os.listdir(os.path.join(d, "minutes"))) if os.path.isdir(
        os.path.join(d, "minutes")) else []
    check(len(files) == 6 and "index.html" in files, "the files are there", files)
    o, rows = outbox(d)
    check(o.returncode == 0 and rows == [], "and the outbox is empty", o.stdout)

    # ---- 2. a row that can never be built ----
    d = setup("park", {})
    r = run(d, ["hello"])
    db = sqlite3.connect(os.path.join(d, "gavel.db"))
    extra = json.dumps({"msgtype": "m.notice", "mentions": []})
    db.execute("INSERT INTO outbox(kind, room, body, extra, created) VALUES('minutes', 'console', '',"
               " '{\"meeting\":999}', 1)")
    db.execute("INSERT INTO outbox(kind, room, body, extra, created) VALUES('message', 'console', "
               "'after the bad row', ?, 2)", (extra,))
    db.commit()
    db.close()
    r = run(d, ["!agenda"])
    check(r.returncode == 0, "a row that cannot be built never blocks start-up", r.stderr)
    check("<gavel> after the bad row" in r.stdout and "agenda" in r.stdout,
          "the rows after it go out", r.stdout)
    check(r.stderr.count("parked") == 1, "it is logged once, as parked", r.stderr)
    o, rows = outbox(d)
    check(len(rows) == 1 and rows[0][1] == "parked" and rows[0][2] == "minutes" and
          rows[0][3] == "1" and "cannot build" in rows[0][5],
          "gavel outbox shows it parked with its reason", o.stdout + o.stderr)
    bad = rows[0][0] if rows else "0"
    r = run(d, ["hi"])
    check(r.returncode == 0 and "parked" not in r.stderr, "a parked row is not retried on its own",
          r.stderr)
    o, _ = outbox(d, "retry", bad)
    check(o.returncode == 0, "gavel outbox retry ID un-parks it", o.stdout + o.stderr)
    o, rows = outbox(d)
    check(len(rows) == 1 and rows[0][1] == "pending", "listed as pending again", o.stdout)
    r = run(d, [])
    o, rows = outbox(d)
    check(r.returncode == 0 and len(rows) == 1 and rows[0][1] == "parked" and rows[0][3] == "2",
          "tried once more, parked again", o.stdout + r.stderr)
    o, _ = outbox(d, "retry", "99999")
    check(o.returncode == 1 and "not waiting" in o.stderr, "retry of no such row: exit 1",
          o.stdout + o.stderr)
    o, _ = outbox(d, "retry", "x1")
    check(o.returncode == 2, "retry of a non-number: exit 2", o.stdout + o.stderr)

    # ---- 2b. the replay drains the same way: a failed file stays pending ----
    d = setup("replay", {})
    seed = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "seed004.log.txt")
    # the out dir is fine (an --out that is a file is refused up front), but a
    # directory stands where each file should go, so every rename fails
    for ext in ("txt", "html", "log.txt", "log.html", "md"):
        os.makedirs(os.path.join(d, "out", "meeting.2017-05-08-13.00." + ext))
    r = subprocess.run([gavel, "replay", seed, "--out", "out", "--db", "r.db", "--quiet"], cwd=d,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "not written" in r.stderr and "Is a directory" in r.stderr,
          "a replay whose files cannot be written says so and fails", r.stderr)
    o = subprocess.run([gavel, "outbox", "--db", "r.db"], cwd=d, capture_output=True, text=True)
    rows = [l.split(None, 5) for l in o.stdout.splitlines()[1:]]
    check(o.returncode == 0 and len(rows) == 5 and all(x[1] == "pending" and x[2] == "file"
                                                       for x in rows),
          "its files stay pending in the --db (--db honoured by gavel outbox)", o.stdout + o.stderr)

    # ---- 3. minutes over the message ceiling ----
    d = setup("big", {"max_message_bytes": 1048576})
    big = "x" * 1000000
    r = run(d, ["#startmeeting Big"] + ["#info %d %s" % (i, big) for i in range(5)] + ["#endmeeting"])
    check(r.returncode == 0, "a meeting with 5 MB of minutes ends", r.stderr[-500:])
    check("[... cut: the full minutes are in the archive]" in r.stdout and len(r.stdout) < 4500000,
          "its minutes as a message are cut with a note, not refused", len(r.stdout))
    wrote = [l for l in r.stdout.splitlines() if l.startswith("* gavel wrote minutes/")]
    check(len(wrote) == 5, "its files are written whole", wrote)
finally:
    if failed:
        print("# kept " + top)
    else:
        shutil.rmtree(top, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
