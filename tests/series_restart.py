#!/usr/bin/env python3
"""tests/series_restart.py - a series' timers across restarts of the console
on one database file (issue 10): never lost, never twice.

    series_restart.py GAVEL

1. Quit before the release is due, start again after it: exactly one
   release, saying it is late; again: none.
2. A crash after the release was committed but before it was delivered
   (its outbox row put back to unsent): the next start delivers it once and
   fires nothing new.
3. A meeting begun before the missed reminder: the reminder is skipped (and
   recorded so), never done later.
4. The timers in the database: the release done late, the reminder skipped.
5. On time: one release, one reminder.
6. kill -9 at moments around the release time, then a restart: the release
   fired exactly once (one release row, one timer) and was delivered (the
   console has no transaction IDs to deduplicate a delivery cut short, so
   it may be printed twice; the Matrix sender's txn IDs do that).
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

gavel = os.path.abspath(sys.argv[1])
top = tempfile.mkdtemp(prefix="gavel-series-")
passed = failed = 0

SERIES = [{"name": "Arch call", "room": "console",
           "rrule": "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=15;BYMINUTE=0", "tz": "Europe/Athens",
           "release_before_min": 90, "remind_before_min": 5}]


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:1500]))
    sys.stdout.flush()
    if cond:
        passed += 1
    else:
        failed += 1


def run(d, lines):
    return subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d,
                          input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                          timeout=120)


def releases(out):
    return [l for l in out.splitlines()
            if "Arch call, Mon 2026-12-07 15:00" in l and "the architecture agenda" in l]


try:
    d = os.path.join(top, "restart")
    os.makedirs(d)
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump({"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning",
                   "series": SERIES}, f)

    # ---- 1. down across the release (due 11:30 UTC, 13:30 EET) ----
    r = run(d, ["/at 2026-12-07 11:00:00", "#architecture Discuss keyframes cc @jviotti"])
    check(r.returncode == 0 and releases(r.stdout) == [],
          "before the release: nothing released", r.stdout + r.stderr)
    r = run(d, ["/at 2026-12-07 12:10:00", "!agenda"])
    rel = releases(r.stdout)
    check(r.returncode == 0 and len(rel) == 1 and "(late: due 11:30 UTC)" in rel[0],
          "started after it: exactly one release, saying it is late", r.stdout + r.stderr)
    check("Discuss keyframes" in r.stdout and "* release " in r.stdout,
          "the late release lists the item and carries an ID to react to", r.stdout)
    r = run(d, ["/at 2026-12-07 12:20:00", "!agenda"])
    check(r.returncode == 0 and releases(r.stdout) == [],
          "started again: no release", r.stdout + r.stderr)

    # ---- 2. a crash between the commit and the delivery ----
    db = sqlite3.connect(os.path.join(d, "gavel.db"))
    row = db.execute("SELECT row FROM series_releases ORDER BY row DESC LIMIT 1").fetchone()[0]
    db.execute("UPDATE outbox SET sent = NULL WHERE id = ?", (row,))
    db.commit()
    db.close()
    r = run(d, ["/at 2026-12-07 12:25:00", "hello"])
    rel = releases(r.stdout)
    check(r.returncode == 0 and len(rel) == 1 and "(late: due 11:30 UTC)" in rel[0],
          "a release committed but not delivered goes out once at the next start",
          r.stdout + r.stderr)
    r = run(d, ["/at 2026-12-07 12:26:00", "hello again"])
    check(r.returncode == 0 and releases(r.stdout) == [], "and only once", r.stdout)

    # ---- 3. the meeting begins at 12:50 UTC; gavel is down at 12:55 ----
    r = run(d, ["/at 2026-12-07 12:50:00", "/power 50", "#startmeeting"])
    check(r.returncode == 0 and "Meeting started" in r.stdout and "Reminder" not in r.stdout,
          "the meeting begins before the reminder", r.stdout + r.stderr)
    r = run(d, ["/at 2026-12-07 12:58:00", "hello"])
    check(r.returncode == 0 and "Reminder" not in r.stdout,
          "the missed reminder is skipped once the meeting began", r.stdout)
    r = run(d, ["/at 2026-12-07 12:59:00", "/power 50", "#endmeeting"])
    check(r.returncode == 0 and "Reminder" not in r.stdout and releases(r.stdout) == [],
          "and never done later", r.stdout)

    # ---- 4. what the store says ----
    db = sqlite3.connect(os.path.join(d, "gavel.db"))
    rows = db.execute("SELECT kind, state FROM series_timers ORDER BY kind").fetchall()
    n_rel = db.execute("SELECT count(*) FROM series_releases").fetchone()[0]
    db.close()
    check(rows == [(0, 1), (1, 2)], "the release is recorded late, the reminder skipped", rows)
    check(n_rel == 1, "one release message in all", n_rel)

    # ---- 5. Thursday, in time: one release at 11:30, one reminder ----
    r = run(d, ["/at 2026-12-10 11:29:00", "hello", "/at 2026-12-10 13:00:00", "hello"])
    thu = [l for l in r.stdout.splitlines()
           if "Arch call, Thu 2026-12-10 15:00" in l and "the architecture agenda" in l]
    rem = [l for l in r.stdout.splitlines() if "Reminder: Arch call" in l]
    check(r.returncode == 0 and len(thu) == 1 and "late" not in thu[0] and len(rem) == 1,
          "Thursday's release and reminder come in time, once", r.stdout + r.stderr)
    # ---- 6. kill -9 around the release, then start again: one release ----
    for i, delay in enumerate([0.0, 0.01, 0.03, 0.06, 0.1, 0.3]):
        d = os.path.join(top, "kill%d" % i)
        os.makedirs(d)
        with open(os.path.join(d, "gavel.json"), "w") as f:
            json.dump({"database": "gavel.db", "archive_dir": "minutes", "log_level": "error",
                       "series": SERIES}, f)
        p = subprocess.Popen([gavel, "--config", "gavel.json", "--shell"], cwd=d,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(b"/at 2026-12-07 11:29:58\n#architecture Discuss keyframes\n"
                      b"/at 2026-12-07 11:31:00\n")
        p.stdin.flush()
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        out1, _ = p.communicate()
        r = run(d, ["/at 2026-12-07 11:32:00", "hello"])
        db = sqlite3.connect(os.path.join(d, "gavel.db"))
        n_rel = db.execute("SELECT count(*) FROM series_releases").fetchone()[0]
        n_timer = db.execute("SELECT count(*) FROM series_timers WHERE kind = 0").fetchone()[0]
        unsent = db.execute("SELECT count(*) FROM outbox WHERE sent IS NULL").fetchone()[0]
        db.close()
        printed = len(releases(out1.decode())) + len(releases(r.stdout))
        check(r.returncode == 0 and n_rel == 1 and n_timer == 1 and unsent == 0 and
              printed >= 1,
              "kill -9 after %.2f s and a restart: the release fired exactly once, delivered"
              % delay, (n_rel, n_timer, unsent, printed, r.stdout, r.stderr))
finally:
    shutil.rmtree(top, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
