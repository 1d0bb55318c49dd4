#!/usr/bin/env python3
"""tests/replay_roundtrip.py - a long meeting through `gavel replay` and back.

    replay_roundtrip.py GAVEL GEN_MEETING_PY

Generates a 3,000-line MeetBot log (tests/bench/gen-meeting.py), replays it, and
checks that (1) the .log.txt written is the input, the old bot's lines included
(MeetBot logs them; replay does not handle them), byte for byte, and (2) replaying the written .log.html gives every file again,
identical. The logs (~220 KiB and ~450 KiB) are written in several pieces, so
this also covers the streamed writing of minutes files.
"""
import os
import shutil
import subprocess
import sys
import tempfile

gavel, gen = os.path.abspath(sys.argv[1]), sys.argv[2]
top = tempfile.mkdtemp(prefix="gavel-roundtrip-")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:500]))
    if cond:
        passed += 1
    else:
        failed += 1


try:
    log = os.path.join(top, "long-2024-03-05.log.txt")
    subprocess.run([sys.executable, gen, "-n", "3000", "-o", log], check=True)
    one, two = os.path.join(top, "one"), os.path.join(top, "two")
    r = subprocess.run([gavel, "replay", log, "--out", one, "--quiet"], capture_output=True, text=True)
    check(r.returncode == 0, "replay of a 3,000-line log", r.stderr)
    files = sorted(os.listdir(one)) if os.path.isdir(one) else []
    logtxt = [f for f in files if f.endswith(".log.txt")]
    loghtml = [f for f in files if f.endswith(".log.html")]
    check(len(files) == 6 and logtxt and loghtml, "six files written", files)
    if logtxt and loghtml:
        with open(log, "rb") as f:
            # MeetBot logs write actions as "HH:MM:SS  * nick" or "HH:MM:SS * nick"
            # (seed 004); gavel writes the latter
            want = b"".join(l.replace(b"  * ", b" * ", 1) for l in f)
            if want.endswith(b"\n"):   # MeetBot's .log.txt has no final newline
                want = want[:-1]
        with open(os.path.join(one, logtxt[0]), "rb") as f:
            got = f.read()
        check(got == want and len(got) > 3 * 65536,
              "the written .log.txt is the input, byte for byte (%d bytes)" % len(got),
              "lengths %d / %d" % (len(got), len(want)))
        r = subprocess.run([gavel, "replay", os.path.join(one, loghtml[0]), "--out", two, "--quiet"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "replay of the written .log.html", r.stderr)
        for f in files:
            a = open(os.path.join(one, f), "rb").read()
            b = open(os.path.join(two, f), "rb").read() if os.path.exists(os.path.join(two, f)) else None
            check(a == b, "%s is the same after the round trip" % f.split(".", 1)[-1])
finally:
    shutil.rmtree(top, ignore_errors=True)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
