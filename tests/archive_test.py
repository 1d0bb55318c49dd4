#!/usr/bin/env python3
"""tests/archive_test.py - the minutes archive as an attacker and an operator see it.

    archive_test.py GAVEL SEED004_LOG

1. Planted symlinks: at the old predictable temporary names (".NAME.tmp") and
   at the final names, pointing at victim files: no victim is ever written,
   and the final names end up regular files.
2. Modes: under umask 000 the archive directory is created 0700 and every file
   0600 (replay, the console bot and `gavel archive rebuild`).
3. `gavel archive rebuild [MEETING]`: every file deleted and rebuilt from the
   database is byte-identical, for all meetings, one by id, one by base name;
   unknown meetings, an unwritable directory and a file in its place are
   errors (exit status 1) naming what and where.
4. `gavel replay --db`: a second, different log into the same database is
   replayed; the same log again (even under another name) is refused with exit
   status 3, writing nothing.
5. An unreadable log is an error naming the file and the cause.

Unprivileged steps run as "nobody" when this runs as root (root reads and
writes through any file mode).
"""
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile

gavel, seed = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
top = tempfile.mkdtemp(prefix="gavel-archive-")
os.chmod(top, 0o755)
passed = failed = 0
ROOT = os.geteuid() == 0
NOBODY = 65534


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:800]))
    if cond:
        passed += 1
    else:
        failed += 1


def run(args, stdin=None, as_nobody=False, cwd=None):
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    return subprocess.run([gavel] + args, input=stdin, capture_output=True, text=True, cwd=cwd or top,
                          preexec_fn=drop if as_nobody and ROOT else None)


def files_of(d):
    out = {}
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            out[f] = fh.read()
    return out


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


SCRIPT = """/at 2024-07-12 10:00:00
/room r/one
#startmeeting Weekly
/room r/two
#startmeeting Weekly
#info the second one
/room r/one
#topic what we do
#action alice to write it down
#endmeeting
/room r/two
#endmeeting
/at 2024-07-12 11:00:00
#startmeeting Arch call
#agreed it works <b>really</b>
#endmeeting
"""


def console(name, script=SCRIPT):
    d = os.path.join(top, name)
    os.mkdir(d)
    cfg = os.path.join(d, "gavel.json")
    with open(cfg, "w") as f:
        f.write('{"database": "%s/gavel.db", "archive_dir": "%s/minutes"}\n' % (d, d))
    r = run(["--shell", "--config", cfg], stdin=script, cwd=d)
    return d, cfg, r


try:
    # ---- 1. planted symlinks ----
    out = os.path.join(top, "planted")
    os.mkdir(out, 0o700)
    base = "meeting.2017-05-08-13.00"
    victims = {}
    for i, name in enumerate(["." + base + ".txt.tmp", "." + base + ".html.tmp", ".index.html.tmp",
                              "." + base + ".log.txt.tmp", base + ".html", base + ".md", "index.html"]):
        v = os.path.join(top, "victim%d" % i)
        with open(v, "w") as f:
            f.write("precious %d\n" % i)
        os.symlink(v, os.path.join(out, name))
        victims[v] = "precious %d\n" % i
    r = run(["replay", seed, "--out", out, "--quiet"])
    check(r.returncode == 0, "replay into a directory with planted symlinks", r.stderr)
    for v, want in victims.items():
        with open(v) as f:
            check(f.read() == want, "victim %s untouched" % os.path.basename(v))
    for f in [base + ".html", base + ".md", "index.html", base + ".txt", base + ".log.txt"]:
        p = os.path.join(out, f)
        check(os.path.exists(p) and not os.path.islink(p) and stat.S_ISREG(os.lstat(p).st_mode),
              "%s is a regular file, not the planted link" % f)
    leftovers = [f for f in os.listdir(out) if f.startswith(".") and not os.path.islink(os.path.join(out, f))]
    check(not leftovers, "no temporary files left behind", leftovers)

    # ---- 2. modes under umask 000 ----
    old = os.umask(0)
    try:
        fresh = os.path.join(top, "fresh")
        r = run(["replay", seed, "--out", fresh, "--quiet"])
        check(r.returncode == 0, "replay into a new directory under umask 000", r.stderr)
        check(os.path.isdir(fresh) and mode(fresh) == 0o700, "replay: directory created 0700",
              oct(mode(fresh)) if os.path.isdir(fresh) else "missing")
        for f in sorted(os.listdir(fresh)):
            check(mode(os.path.join(fresh, f)) == 0o600, "replay: %s is 0600" % f,
                  oct(mode(os.path.join(fresh, f))))
        d, cfg, r = console("umask")
        mdir = os.path.join(d, "minutes")
        check(r.returncode == 0 and os.path.isdir(mdir), "console bot under umask 000", r.stderr)
        if os.path.isdir(mdir):
            check(mode(mdir) == 0o700, "console: archive_dir created 0700", oct(mode(mdir)))
            bad = [f for f in os.listdir(mdir) if mode(os.path.join(mdir, f)) != 0o600]
            check(not bad and len(os.listdir(mdir)) == 16, "console: all 16 files 0600", bad)
        rb = os.path.join(top, "rebuilt-umask")
        r = run(["archive", "rebuild", "--config", cfg, "--out", rb, "--quiet"])
        check(r.returncode == 0 and os.path.isdir(rb), "rebuild into a new directory under umask 000",
              r.stderr)
        if os.path.isdir(rb):
            check(mode(rb) == 0o700, "rebuild: directory created 0700", oct(mode(rb)))
            bad = [f for f in os.listdir(rb) if mode(os.path.join(rb, f)) != 0o600]
            check(not bad and len(os.listdir(rb)) == 16, "rebuild: all 16 files 0600", bad)
    finally:
        os.umask(old)

    # ---- 3. archive rebuild ----
    d, cfg, r = console("rebuild")
    mdir = os.path.join(d, "minutes")
    check(r.returncode == 0, "console meetings for the rebuild", r.stderr)
    orig = files_of(mdir)
    check(len(orig) == 16 and "index.html" in orig, "3 meetings x 5 files + index.html written",
          sorted(orig))
    shutil.rmtree(mdir)
    r = run(["archive", "rebuild", "--config", cfg])
    check(r.returncode == 0, "archive rebuild of every meeting", r.stderr)
    check("3 meetings rebuilt" in r.stdout, "rebuild says how many", r.stdout)
    got = files_of(mdir) if os.path.isdir(mdir) else {}
    check(sorted(got) == sorted(orig), "the same files come back", (sorted(got), sorted(orig)))
    for f in sorted(orig):
        check(got.get(f) == orig[f], "rebuilt %s is byte-identical" % f)
    second = [f[:-len(".txt")] for f in orig if f.endswith(".txt") and not f.endswith(".log.txt")
              and ".r_two." in f]
    check(len(second) == 1, "the second Weekly has its own name (with the room)", sorted(orig))
    for which in (["2"], second[:1] or ["missing"]):
        for f in (os.listdir(mdir) if os.path.isdir(mdir) else []):
            if f.startswith(second[0] if second else "?"):
                os.unlink(os.path.join(mdir, f))
        r = run(["archive", "rebuild"] + which + ["--db", os.path.join(d, "gavel.db"), "--out", mdir])
        check(r.returncode == 0 and "1 meeting rebuilt" in r.stdout,
              "archive rebuild %s: one meeting" % which[0], r.stdout + r.stderr)
        got = files_of(mdir) if os.path.isdir(mdir) else {}
        check(got == orig, "archive rebuild %s: every file as it was" % which[0],
              sorted(set(got) ^ set(orig)))
    r = run(["archive", "rebuild", "nope.2024-01-01-10.00", "--config", cfg])
    check(r.returncode == 1 and 'no ended meeting "nope.2024-01-01-10.00"' in r.stderr
          and "gavel.db" in r.stderr, "rebuild of an unknown meeting: exit 1, named", r.stderr)
    r = run(["archive", "rebuild", "99", "--config", cfg])
    check(r.returncode == 1 and 'no ended meeting "99"' in r.stderr,
          "rebuild of an unknown meeting id: exit 1", r.stderr)
    afile = os.path.join(top, "a-file")
    open(afile, "w").close()
    r = run(["archive", "rebuild", "--config", cfg, "--out", afile])
    check(r.returncode == 1 and afile + ": exists and is not a directory" in r.stderr,
          "rebuild into a file: exit 1, named", r.stderr)
    # unwritable: a directory the (unprivileged) user may not write
    own = os.path.join(top, "own")
    os.mkdir(own)
    shutil.copy(os.path.join(d, "gavel.db"), os.path.join(own, "gavel.db"))
    ro = os.path.join(top, "read-only")
    os.mkdir(ro, 0o755)
    if ROOT:
        for p in (own, os.path.join(own, "gavel.db")):
            os.chown(p, NOBODY, NOBODY)
    else:
        os.chmod(ro, 0o555)
    r = run(["archive", "rebuild", "--db", os.path.join(own, "gavel.db"), "--out", ro], as_nobody=True)
    check(r.returncode == 1 and ro in r.stderr and "Permission denied" in r.stderr,
          "rebuild into an unwritable directory: exit 1, the directory and the cause named", r.stderr)
    check(os.listdir(ro) == [], "nothing left in the unwritable directory", os.listdir(ro))
    h = run(["--help"])
    check("gavel archive rebuild [MEETING]" in h.stdout, "--help shows archive rebuild")

    # a meeting ended before names were reserved (schema 2) keeps its files too
    con = sqlite3.connect(os.path.join(d, "gavel.db"))
    con.execute("UPDATE meetings SET file_base = NULL WHERE name = 'Arch call'")
    con.commit()
    con.close()
    r = run(["--shell", "--config", cfg], cwd=d,
            stdin="/at 2024-07-12 11:00:30\n/room r/three\n#startmeeting Arch call\n#endmeeting\n")
    check(r.returncode == 0 and "wrote %s/minutes/Arch_call.r_three.2024-07-12-11.00.30.txt" % d
          in r.stdout, "a name taken by a meeting from before schema 3 is not reused", r.stdout)
    with open(os.path.join(mdir, "Arch_call.2024-07-12-11.00.txt"), "rb") as f:
        check(f.read() == orig["Arch_call.2024-07-12-11.00.txt"], "... and its files are untouched")

    # ---- 4. replay --db: the log's identity ----
    db = os.path.join(top, "replay.db")
    other = os.path.join(top, "other-2017-05-08.log.txt")
    with open(seed, "rb") as f:
        data = f.read()
    with open(other, "wb") as f:
        f.write(data.replace(b"#startmeeting", b"#startmeeting Another", 1))
    o1, o2, o3, o4 = (os.path.join(top, "replay-%d" % i) for i in range(1, 5))
    r = run(["replay", seed, "--db", db, "--out", o1, "--quiet"])
    check(r.returncode == 0 and os.path.isdir(o1) and len(os.listdir(o1)) == 6,
          "first log into a new --db", r.stderr)
    r = run(["replay", other, "--db", db, "--out", o2, "--quiet"])
    check(r.returncode == 0, "a second, different log into the same --db is replayed", r.stderr)
    check(os.path.isdir(o2) and len(os.listdir(o2)) == 6 and
          all(f.startswith("Another") or f == "index.html" for f in os.listdir(o2)),
          "the second log's minutes are written", os.listdir(o2) if os.path.isdir(o2) else "none")
    # the first replay's own .log.html: other bytes, the same meeting, the same minute
    o5 = os.path.join(top, "replay-5")
    r = run(["replay", os.path.join(o1, "meeting.2017-05-08-13.00.log.html"), "--db", db,
             "--out", o5, "--quiet"])
    names = sorted(os.listdir(o5)) if os.path.isdir(o5) else []
    check(r.returncode == 0 and len(names) == 6 and
          "meeting.replay.2017-05-08-13.00.44.txt" in names,
          "the same meeting from another log gets its own file names", "%s %s" % (names, r.stderr))
    r = run(["replay", seed, "--db", db, "--out", o3])
    check(r.returncode == 3 and "already replayed into " + db in r.stderr and seed in r.stderr,
          "the same log again: exit 3, said clearly", "%d %s" % (r.returncode, r.stderr))
    check(not os.path.exists(o3), "the same log again writes nothing")
    copy = os.path.join(top, "renamed.log.txt")
    shutil.copy(seed, copy)
    r = run(["replay", copy, "--db", db, "--out", o4])
    check(r.returncode == 3 and "already replayed" in r.stderr,
          "the same contents under another name: exit 3", r.stderr)
    check(not os.path.exists(o4), "... and nothing written")

    # ---- 5. an unreadable log ----
    locked = os.path.join(top, "locked.log.txt")
    shutil.copy(seed, locked)
    os.chmod(locked, 0)
    r = run(["replay", locked, "--out", os.path.join(top, "never")], as_nobody=True)
    check(r.returncode == 1 and locked + ": cannot open the log: Permission denied" in r.stderr,
          "an unreadable log: exit 1, the file and the cause named", r.stderr)
finally:
    shutil.rmtree(top, ignore_errors=True)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
