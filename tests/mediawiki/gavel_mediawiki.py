#!/usr/bin/python3
"""tests/mediawiki/gavel_mediawiki.py - gavel itself (the console adapter)
publishing its meetings to a real MediaWiki (run_mediawiki.py), end to end:
config "wiki" entry, the bot password from $CREDENTIALS_DIRECTORY, the
outbox job, the flavour's wikitext, the minutes message edited with the link.

1. A meeting full of hostile chat text (templates, categories, headings,
   <script>, signatures, a </nowiki> breakout) lands on the page under
   "Recent Meeting Notes": no category, template, link or extra section, the
   text shown literally; the outbox is empty; the minutes carry the link.
2. A second meeting goes on top; the first is untouched.
3. The wiki answering 503 (a proxy in front): the job waits in `gavel
   outbox`, pending with the reason; the next run delivers it, once.
4. A wrong bot password: parked with its reason, the page untouched.

Usage: gavel_mediawiki.py GAVEL
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_mediawiki import MediaWiki  # noqa: E402
from test_mediawiki import Client, Proxy  # noqa: E402

PAGE = "Meetings/Arch call"
passed = failed = 0

HOSTILE = [
    "#startmeeting Arch call",
    "#topic Templates {{SITENAME}} and [[Category:Hijacked]] == Not a heading ==",
    "#info <script>document.title='x'</script> ~~~~ __NOTOC__ [[Other page]] [http://evil.example x]",
    "#info </nowiki>{{SITENAME}}[[Category:Broken]]<nowiki>",
    "#action mallory to <!-- hide the rest",
    "#info the end of meeting one",
    "#endmeeting",
]
LITERAL = ["{{SITENAME}}", "[[Category:Hijacked]]", "== Not a heading ==",
           "<script>document.title='x'</script>", "~~~~", "</nowiki>{{SITENAME}}",
           "[[Category:Broken]]", "the end of meeting one"]


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name}")
        for line in str(detail)[:3000].splitlines():
            print(f"#   {line}")
    sys.stdout.flush()


def main():
    gavel = os.path.abspath(sys.argv[1])
    top = tempfile.mkdtemp(prefix="gavel-mw-e2e-")
    try:
        with MediaWiki() as mw:
            proxy = Proxy(mw.port)
            try:
                run(mw, proxy, gavel, top)
            finally:
                proxy.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"1..{passed + failed}")
    print(f"# {passed} passed, {failed} failed")
    return 1 if failed else 0


def setup(top, name, api, user, password, page=PAGE):
    d = os.path.join(top, name)
    os.makedirs(os.path.join(d, "creds"))
    with open(os.path.join(d, "creds", "wiki-0-password"), "w") as f:
        f.write(password + "\n")
    cfg = {"database": "gavel.db", "archive_dir": "minutes", "log_level": "info", "ack": "none",
           "wiki": [{"mediawiki": api, "page": page, "user": user, "flavour": "resin"}]}
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    return d


def gavel_run(gavel, d, lines):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(d, "creds"))
    return subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d, env=env,
                          input="".join(line + "\n" for line in lines), capture_output=True,
                          text=True, timeout=180)


def outbox(gavel, d):
    r = subprocess.run([gavel, "outbox", "--config", "gavel.json"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    return r.stdout, [line.split(None, 5) for line in r.stdout.splitlines()[1:]]


def run(mw, proxy, gavel, top):
    reader = Client(mw.api, mw.person_user, mw.person_password)

    # 1. a hostile meeting
    d = setup(top, "one", mw.api, mw.bot_user, mw.bot_password)
    r = gavel_run(gavel, d, HOSTILE)
    out = r.stdout + r.stderr
    check(r.returncode == 0, "gavel runs the hostile meeting", out[-2000:])
    check(mw.bot_password not in out, "the bot password is in no output")
    text = reader.text(PAGE) or ""
    check("== Recent Meeting Notes ==" in text and "gavel:meeting:1:" in text,
          "the meeting is on the page, under Recent Meeting Notes", text)
    o, rows = outbox(gavel, d)
    check(rows == [], "the outbox is empty", o)
    links = [line for line in out.splitlines() if "Published: " in line]
    check(any(mw.base + "/" in line and "#" in line for line in links),
          "the minutes message is edited with the link to the section", links or out[-1500:])
    p = reader.get(action="parse", page=PAGE, prop="sections|categories|templates|links|"
                   "externallinks|text")["parse"]
    lines = [s["line"] for s in p["sections"]]
    check(len(lines) == 2 and lines[0] == "Recent Meeting Notes",
          "the page's sections: Recent Meeting Notes and the meeting's", lines)
    check(p["categories"] == [] and p["templates"] == [] and p["links"] == []
          and p["externallinks"] == [],
          "no category, template, wiki link or external link from chat text",
          {k: p[k] for k in ("categories", "templates", "links", "externallinks")})
    rendered = p["text"]
    shown = (rendered.replace("&lt;", "<").replace("&gt;", ">").replace("&#91;", "[")
             .replace("&#93;", "]").replace("&#123;", "{").replace("&#125;", "}")
             .replace("&#126;", "~").replace("&amp;", "&").replace("&#61;", "=")
             .replace("&#39;", "'").replace("&#95;", "_"))
    missing = [s for s in LITERAL if s not in shown]
    check(not missing, "the hostile text is shown literally", (missing, rendered[:3000]))
    check("<script>document.title" not in rendered, "no script element", rendered[:2000])
    revs = reader.revisions(PAGE)
    check(len(revs) == 1 and revs[0]["user"] == "Gavel", "one edit, by gavel", revs)

    # 2. a second meeting goes on top
    r = gavel_run(gavel, d, ["#startmeeting Arch call", "#info meeting two", "#endmeeting"])
    check(r.returncode == 0, "gavel runs the second meeting", r.stderr[-2000:])
    text = reader.text(PAGE) or ""
    check(0 <= text.find("gavel:meeting:2:") < text.find("gavel:meeting:1:")
          and "the end of meeting one" in text,
          "the second meeting on top, the first untouched", text)

    # 3. the wiki answers 503: pending, then delivered once
    d3 = setup(top, "later", proxy.api, mw.bot_user, mw.bot_password, page="Later page")
    proxy.answer = lambda method, form: (503, b"<html>busy</html>")
    r = gavel_run(gavel, d3, ["#startmeeting Later", "#info later", "#endmeeting"])
    o, rows = outbox(gavel, d3)
    wiki_rows = [row for row in rows if len(row) > 2 and row[2].startswith("wiki")]
    check(r.returncode == 0 and len(wiki_rows) == 1 and wiki_rows[0][1] == "pending"
          and "503" in o, "a 503: the wiki job waits, pending, with the reason", o)
    check(reader.text("Later page") is None, "nothing on the wiki yet")
    proxy.answer = None
    time.sleep(1.5)                     # the first backoff is 1 s
    r = gavel_run(gavel, d3, [])
    o, rows = outbox(gavel, d3)
    text = reader.text("Later page") or ""
    check(rows == [] and text.count("gavel:meeting:1:") == 1,
          "the next run delivers it, once", (o, text, r.stderr[-1500:]))
    r = gavel_run(gavel, d3, [])
    check(len(reader.revisions("Later page")) == 1, "and later runs do not publish it again")

    # 4. a wrong password: parked
    d4 = setup(top, "never", mw.api, mw.bot_user, "wrongwrongwrongwrongwrongwrong12",
               page="Never page")
    r = gavel_run(gavel, d4, ["#startmeeting Never", "#info never", "#endmeeting"])
    o, rows = outbox(gavel, d4)
    wiki_rows = [row for row in rows if len(row) > 2 and row[2].startswith("wiki")]
    check(len(wiki_rows) == 1 and wiki_rows[0][1] == "parked" and "login" in o,
          "a wrong password: parked, saying why", o)
    check(reader.text("Never page") is None and "wrongwrong" not in r.stdout + r.stderr + o,
          "the page untouched, the password in no output")


if __name__ == "__main__":
    sys.exit(main())
