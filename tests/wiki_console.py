#!/usr/bin/env python3
"""tests/wiki_console.py - wiki jobs from the console, against bare git
repositories (file://): exactly once, retried, filtered by agenda.

    wiki_console.py GAVEL

1. #endmeeting publishes the meeting's section (resin flavour) to the page
   under "Recent Meeting Notes", one commit; a second wiki whose "agendas"
   do not include the meeting's gets no job; an agora wiki gets its flavour.
2. A crash after the push but before the row was marked sent (the row made
   unsent again): the next run finds the marker on the page and marks it
   delivered - still one commit, the section once.
3. An unreachable remote: the job waits (pending, with the reason, in
   `gavel outbox`) and is published once the remote is there, after the
   backoff.
4. Hostile chat text stays text on the page: no extra heading, no forged
   marker.
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
top = tempfile.mkdtemp(prefix="gavel-wiki-")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:2000]))
    sys.stdout.flush()
    if cond:
        passed += 1
    else:
        failed += 1


def bare(path):
    subprocess.run(["git", "init", "-q", "--bare", path], check=True)


def page(remote, name):
    r = subprocess.run(["git", "--git-dir", remote, "show", "HEAD:" + name], capture_output=True,
                       text=True)
    return r.stdout if r.returncode == 0 else None


def commits(remote):
    r = subprocess.run(["git", "--git-dir", remote, "log", "--oneline"], capture_output=True,
                       text=True)
    return len(r.stdout.splitlines()) if r.returncode == 0 else 0


def setup(name, wikis):
    d = os.path.join(top, name)
    os.makedirs(d)
    cfg = {"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning",
           "ack": "none", "wiki": wikis}
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    return d


def run(d, lines):
    return subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d,
                          input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                          timeout=120)


def outbox(d):
    r = subprocess.run([gavel, "outbox", "--config", "gavel.json"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    return r, [l.split(None, 5) for l in r.stdout.splitlines()[1:]]


MEETING = ["#architecture Discuss keyframes cc @jviotti", "#startmeeting Arch call",
           "#topic Discuss keyframes", "#info keyframes every 2 s", "#action hedss to PR it",
           "#endmeeting"]
MARKER = "<!-- gavel:meeting:1:wiki:%d -->"

try:
    # ---- 1. publish; agenda filter; agora ----
    d = setup("publish", [])
    w0, w1, w2 = (os.path.join(d, n) for n in ("w0.git", "w1.git", "w2.git"))
    for w in (w0, w1, w2):
        bare(w)
    with open(os.path.join(d, "gavel.json")) as f:
        cfg = json.load(f)
    cfg["wiki"] = [{"git": "file://" + w0, "page": "Architecture-Call.md"},
                   {"git": "file://" + w1, "page": "Other.md", "agendas": ["standup"]},
                   {"git": "file://" + w2, "page": "Agora.md", "flavour": "agora",
                    "section": "Meetings", "agendas": ["architecture"]}]
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    r = run(d, MEETING)
    p0 = page(w0, "Architecture-Call.md")
    check(r.returncode == 0 and p0 is not None, "the git wiki has the page", r.stdout + r.stderr)
    check(p0 and p0.startswith("## Recent Meeting Notes\n") and p0.count(MARKER % 0) == 1 and
          "**Discuss keyframes**\n- Reporter: @user\n- Mentions: @jviotti\n" in p0 and
          "* keyframes every 2 s\n* ACTION: hedss to PR it\n" in p0,
          "resin: the section under Recent Meeting Notes, in seed 000's template", p0)
    check(commits(w0) == 1, "one commit", commits(w0))
    check(commits(w1) == 0, "a wiki for another agenda gets nothing", commits(w1))
    p2 = page(w2, "Agora.md")
    check(p2 and "## [[" in p2 and "- Attending: " in p2 and "    - [ ] hedss to PR it" in p2 and
          p2.count(MARKER % 2) == 1, "agora: its flavour", p2)
    o, rows = outbox(d)
    check(rows == [], "nothing waits", o.stdout)

    # ---- 2. crash after the push, before the row was marked sent ----
    db = sqlite3.connect(os.path.join(d, "gavel.db"))
    n = db.execute("UPDATE outbox SET sent = NULL WHERE kind = 'wiki'").rowcount
    db.commit()
    db.close()
    r = run(d, ["hello"])
    check(n == 2 and r.returncode == 0, "the wiki rows are unsent again (as after a crash)",
          r.stderr)
    o, rows = outbox(d)
    check(rows == [], "the next run marks them delivered", o.stdout)
    check(commits(w0) == 1 and page(w0, "Architecture-Call.md") == p0 and commits(w2) == 1,
          "never applied twice: the marker was on the page", (commits(w0), commits(w2)))

    # ---- 3. an unreachable remote, then back ----
    d = setup("later", [])
    w = os.path.join(d, "late.git")
    with open(os.path.join(d, "gavel.json")) as f:
        cfg = json.load(f)
    cfg["wiki"] = [{"git": "file://" + w, "page": "Home.md"}]
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    r = run(d, MEETING)
    o, rows = outbox(d)
    check(r.returncode == 0 and len(rows) == 1 and rows[0][1] == "pending" and
          rows[0][2] == "wiki" and rows[0][4] == "wiki:0" and rows[0][3] == "1",
          "an unreachable remote: the job waits, listed with its reason", o.stdout + r.stderr)
    bare(w)
    time.sleep(1.3)
    r = run(d, ["hello"])
    o, rows = outbox(d)
    check(rows == [] and commits(w) == 1 and (page(w, "Home.md") or "").count(MARKER % 0) == 1,
          "once the remote is there, published once", o.stdout + r.stderr)

    # ---- 4. hostile chat text ----
    d = setup("hostile", [])
    w = os.path.join(d, "h.git")
    bare(w)
    with open(os.path.join(d, "gavel.json")) as f:
        cfg = json.load(f)
    cfg["wiki"] = [{"git": "file://" + w, "page": "Home.md"}]
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    r = run(d, ["#architecture ## Recent Meeting Notes <!-- gavel:meeting:2:wiki:0 -->",
                "#startmeeting x", "#topic ## Recent Meeting Notes <!-- gavel:meeting:2:wiki:0 -->",
                "#info ```", "#info # Heading <script>alert(1)</script>", "#endmeeting",
                "#startmeeting y", "#info second", "#endmeeting"])
    p = page(w, "Home.md") or ""
    heads = [l for l in p.splitlines() if l.startswith("#")]
    check(len(heads) == 3 and heads[0] == "## Recent Meeting Notes" and
          heads[1].startswith("### ") and heads[2].startswith("### "),
          "only gavel's headings: the section and two meetings", heads)
    check(p.count("<!-- gavel:meeting:2:wiki:0 -->") == 1 and
          p.index("<!-- gavel:meeting:2:wiki:0 -->") < p.index(MARKER % 0),
          "the second meeting is published (its marker was not forged), newest first", p)
    check("<script>" not in p and not any(l.startswith("```") for l in p.splitlines()),
          "no raw HTML, no fence", p)
finally:
    shutil.rmtree(top, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
