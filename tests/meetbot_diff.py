#!/usr/bin/env python3
"""tests/meetbot_diff.py - gavel's expected MeetBot files against MeetBot's own.

    meetbot_diff.py TESTS_DIR

For each meeting of tests/golden/meetbot-original, the reviewed expected files
of tests/golden/<meeting>/ (what `gavel replay` must write, see meson.build)
must equal MeetBot 0.1.4's: .txt, .log.txt and .log.html byte for byte, and
.html line for line except where gavel escapes what MeetBot left raw: such a
line must read the same once &amp; &lt; &gt; are taken back, and must be one of
the lines that carry the title or the owner.
"""
import os
import sys

top = sys.argv[1]
orig_dir = os.path.join(top, "golden", "meetbot-original")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    print(("ok - " if cond else "FAIL - ") + what + ("" if cond else ": " + str(detail)[:800]))
    if cond:
        passed += 1
    else:
        failed += 1


def unescape(s):
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


meetings = sorted(f[:-len(".html")] for f in os.listdir(orig_dir)
                  if f.endswith(".html") and not f.endswith(".log.html"))
check(len(meetings) == 2, "two MeetBot meetings", meetings)
for m in meetings:
    ours_dir = os.path.join(top, "golden", m)
    for ext in ("txt", "log.txt", "log.html", "html"):
        if ext == "log.txt":
            orig_path = os.path.join(top, "data", m + ".log.txt")
        else:
            orig_path = os.path.join(orig_dir, m + "." + ext)
        orig = open(orig_path, "rb").read()
        ours = open(os.path.join(ours_dir, m + "." + ext), "rb").read()
        if ext != "html":
            check(ours == orig, "%s.%s: identical to MeetBot's" % (m, ext),
                  "%d / %d bytes" % (len(ours), len(orig)))
            continue
        ol, gl = orig.decode().split("\n"), ours.decode().split("\n")
        check(len(ol) == len(gl), "%s.html: as many lines as MeetBot's" % m, (len(gl), len(ol)))
        bad, escaped = [], []
        for i, (o, g) in enumerate(zip(ol, gl)):
            if o == g:
                continue
            escaped.append(i + 1)
            if unescape(g) != o or not (g.startswith("<title>") or g.startswith("<h1>") or
                                        g.startswith("Meeting started by ")):
                bad.append((i + 1, o, g))
        check(not bad, "%s.html: differs only by escaping the title and owner (lines %s)"
              % (m, escaped or "none"), bad)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
