#!/usr/bin/python3
"""tests/mediawiki/test_mediawiki.py - gv_publish_mediawiki() against a real
MediaWiki (Debian's, on SQLite, php -S on 127.0.0.1; run_mediawiki.py),
through tests/publish-mw-driver (one publish per run).

Between the driver and the wiki sits a small proxy on 127.0.0.1 that can
act at the moment gavel sends its action=edit - after gavel read the page -
to make a person's edit land in between (in the same second: only baserevid
tells the two apart), or answer for the wiki (503, maxlag).

Checked: the first publish creates the page and the section, the link
points at the meeting's section; the second goes on top; the same marker
twice is one edit; a person's edit made between gavel's read and its edit
is kept and gavel re-applies on top of it; so is another gavel publish
(the same user: MediaWiki would let basetimestamp overwrite it); hostile
wikitext kept in <nowiki> leaves the page's sections, categories and
templates alone and renders as text; a wrong password, a page the bot may
not edit and a URL that is no API are NEVER; a wiki that is down, a 503 and
maxlag are LATER; the password appears nowhere in the output.

Usage: test_mediawiki.py DRIVER [--valgrind VALGRIND]
(with --valgrind, a delivery, a conflict re-applied, endless conflicts, a
wrong password and a wiki that is down run under valgrind: CI's valgrind
setup leaves the python suites out)
"""
import http.client
import http.cookiejar
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_mediawiki import MediaWiki  # noqa: E402

PAGE = "Meetings/Arch call"
VALGRIND = []   # --valgrind PATH: a few publishes under valgrind (not in the ASan build)
SECTION = "Recent Meeting Notes"
passed = failed = 0


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name}")
        if detail:
            for line in str(detail).splitlines():
                print(f"#   {line}")


class Client:
    """A second API client: a person (or a second gavel) with its own session."""

    def __init__(self, api, user, password):
        self.api = api
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        tok = self.get(action="query", meta="tokens", type="login")["query"]["tokens"]
        r = self.post(action="login", lgname=user, lgpassword=password,
                      lgtoken=tok["logintoken"])
        assert r["login"]["result"] == "Success", r
        self.csrf = self.get(action="query", meta="tokens")["query"]["tokens"]["csrftoken"]

    def get(self, **q):
        q.update(format="json", formatversion="2")
        with self.opener.open(self.api + "?" + urllib.parse.urlencode(q), timeout=60) as r:
            return json.loads(r.read())

    def post(self, **q):
        q.update(format="json", formatversion="2")
        data = urllib.parse.urlencode(q).encode()
        with self.opener.open(self.api, data=data, timeout=60) as r:
            return json.loads(r.read())

    def edit(self, title, text, summary="by hand"):
        r = self.post(action="edit", title=title, text=text, summary=summary, token=self.csrf)
        assert r.get("edit", {}).get("result") == "Success", r
        return r["edit"]["newrevid"]

    def text(self, title):
        r = self.get(action="query", prop="revisions", titles=title, rvprop="content|ids",
                     rvslots="main")
        p = r["query"]["pages"][0]
        if p.get("missing"):
            return None
        return p["revisions"][0]["slots"]["main"]["content"]

    def revisions(self, title):
        r = self.get(action="query", prop="revisions", titles=title, rvprop="ids|user|comment",
                     rvlimit="max")
        return r["query"]["pages"][0].get("revisions", [])


class Proxy:
    """127.0.0.1 proxy to the wiki. on_edit: called once, before the next
    action=edit is forwarded; answer: a function (method, body) returning
    (status, body) to answer instead of the wiki, or None to forward."""

    def __init__(self, target_port):
        self.target = target_port
        self.on_edit = None
        self.answer = None
        self.edits = []         # (request form, response JSON) of every action=edit
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                form = urllib.parse.parse_qs(body.decode()) if body else {}
                is_edit = form.get("action") == ["edit"]
                if proxy.answer:
                    a = proxy.answer(self.command, form)
                    if a:
                        status, out = a
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(out)))
                        self.end_headers()
                        self.wfile.write(out)
                        return
                if is_edit and proxy.on_edit:
                    f, proxy.on_edit = proxy.on_edit, None
                    f()
                c = http.client.HTTPConnection("127.0.0.1", proxy.target, timeout=60)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "content-length")}
                c.request(self.command, self.path, body=body if body else None, headers=hdrs)
                r = c.getresponse()
                out = r.read()
                if is_edit:
                    proxy.edits.append((form, json.loads(out)))
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                c.close()

            do_GET = do_POST = _do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.api = f"http://127.0.0.1:{self.port}/api.php"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def section(marker, title, body):
    return f"=== {title} ===\n<!-- {marker} -->\n{body}\n"


def main():
    global VALGRIND
    driver = sys.argv[1]
    if sys.argv[2:3] == ["--valgrind"]:
        VALGRIND = [sys.argv[3], "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--quiet"]
    tmp = tempfile.mkdtemp(prefix="gavel-mw-test-")
    try:
        with MediaWiki() as mw:
            proxy = Proxy(mw.port)
            try:
                run(mw, proxy, driver, tmp)
            finally:
                proxy.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{passed + failed}")
    print(f"# {passed} passed, {failed} failed")
    return 1 if failed else 0


def run(mw, proxy, driver, tmp):
    count = [0]

    def publish(marker, text, api=None, password=None, page=PAGE, user=None,
                section_name=SECTION, vg=False):
        count[0] += 1
        path = os.path.join(tmp, f"text{count[0]}")
        with open(path, "w") as f:
            f.write(text)
        env = dict(os.environ, MW_PASSWORD=password or mw.bot_password, MW_DEBUG="1")
        wrap = VALGRIND if vg else []
        r = subprocess.run(wrap + [driver, api or proxy.api, user or mw.bot_user, page, section_name,
                            f"<!-- {marker} -->", path, f"Meeting notes: {marker}"],
                           capture_output=True, text=True, env=env, timeout=120)
        out = r.stdout + r.stderr
        check(mw.bot_password not in out and mw.person_password not in out,
              f"{marker}: the password is in no output")
        if wrap:
            check(r.returncode == 0, f"{marker}: valgrind finds nothing", out[-3000:])
        if r.returncode != 0:
            return ("ERROR", out)
        verdict, _, rest = r.stdout.strip().partition(" ")
        return (verdict, rest, out)

    admin = Client(mw.api, mw.person_user, mw.person_password)

    # 1. the first publish creates the page and the section
    s1 = section("gavel:meeting:1", "4 Oct 2018", "* '''Release''' (Reporter: alice)")
    r = publish("gavel:meeting:1", s1)
    check(r[0] == "DELIVERED", "first publish: delivered", r)
    text = admin.text(PAGE) or ""
    check(f"== {SECTION} ==" in text and "gavel:meeting:1" in text,
          "first publish: page and section created", text)
    link = r[1] if r[0] == "DELIVERED" else ""
    check(link.startswith(mw.base + "/") and link.endswith("#4_Oct_2018"),
          "first publish: the link names the meeting's section", link)
    try:
        with urllib.request.urlopen(link.split("#")[0], timeout=60) as resp:
            html = resp.read().decode()
        check('id="4_Oct_2018"' in html, "the link's page has the section's anchor")
    except (OSError, ValueError) as e:
        check(False, "the link opens", e)

    # 2. the second goes on top, under the same heading
    s2 = section("gavel:meeting:2", "11 Oct 2018", "* '''Deploy''' (Reporter: bob)")
    r = publish("gavel:meeting:2", s2)
    check(r[0] == "DELIVERED", "second publish: delivered", r)
    text = admin.text(PAGE) or ""
    h = text.find(f"== {SECTION} ==")
    check(0 <= h < text.find("gavel:meeting:2") < text.find("gavel:meeting:1")
          and text.count(f"== {SECTION} ==") == 1,
          "second publish: on top, under the one heading", text)
    check(r[1].endswith("#11_Oct_2018"), "second publish: its own anchor", r[1])

    # 3. the same marker twice: one edit
    before = len(admin.revisions(PAGE))
    n_edits = len(proxy.edits)
    r = publish("gavel:meeting:2", s2, vg=True)
    check(r[0] == "DELIVERED" and r[1].endswith("#11_Oct_2018"),
          "same marker again: delivered, with the link", r)
    check(len(admin.revisions(PAGE)) == before and len(proxy.edits) == n_edits,
          "same marker again: no edit", admin.revisions(PAGE))

    # 3b. a person quoting the marker inline does not make it published
    admin.edit("Quoted", "Someone wrote <!-- gavel:meeting:q --> in a sentence.\n")
    r = publish("gavel:meeting:q", section("gavel:meeting:q", "Quoted", "* q"), page="Quoted")
    text = admin.text("Quoted") or ""
    check(r[0] == "DELIVERED" and "\n<!-- gavel:meeting:q -->\n" in text
          and r[1].endswith("#Quoted"),
          "a marker quoted inline: published all the same, linked to its section", (r, text))

    # 4. a person edits the same lines between gavel's read and its edit
    # (the blank line under the heading, where gavel inserts: MediaWiki's
    # three-way merge cannot take both)
    person_line = "Added by a person right under the heading."

    def under_heading(t, line):
        return re.sub(f"(== {SECTION} ==\n)\n*", lambda m: m.group(1) + line + "\n", t,
                      count=1)

    def person_edits():
        admin.edit(PAGE, under_heading(admin.text(PAGE), person_line), "a person's edit")

    proxy.on_edit = person_edits
    n_edits = len(proxy.edits)
    s3 = section("gavel:meeting:3", "18 Oct 2018", "* '''Budget''' (Reporter: carol)")
    r = publish("gavel:meeting:3", s3, vg=True)
    check(r[0] == "DELIVERED", "person's concurrent edit: delivered", r)
    codes = [e[1].get("error", {}).get("code") or e[1].get("edit", {}).get("result")
             for e in proxy.edits[n_edits:]]
    check(codes == ["editconflict", "Success"],
          "person's concurrent edit: an edit conflict, then gavel re-applied", codes)
    check(all("basetimestamp" not in e[0] and "baserevid" in e[0]
              for e in proxy.edits[n_edits:]), "edits carry baserevid, no basetimestamp")
    check(all(list(e[0])[-1] == "token" for e in proxy.edits),
          "the token is the last field of every edit")
    text = admin.text(PAGE) or ""
    check(person_line in text and "gavel:meeting:3" in text and "gavel:meeting:1" in text,
          "person's concurrent edit: kept, and the meeting is on the page", text)
    revs = admin.revisions(PAGE)
    check(revs and revs[0]["user"] == "Gavel" and revs[1]["user"] == "Person",
          "person's concurrent edit: gavel's edit came after the person's",
          [(x["user"], x["comment"]) for x in revs[:3]])

    # 4b. a person's edit elsewhere on the page in between: MediaWiki merges
    # it (baserevid gives it the base); kept all the same
    def person_appends():
        admin.edit(PAGE, admin.text(PAGE) + "\n== Elsewhere ==\nA person's note.\n",
                   "a person's edit elsewhere")

    proxy.on_edit = person_appends
    n_edits = len(proxy.edits)
    s3b = section("gavel:meeting:3b", "19 Oct 2018", "* '''Budget''' again")
    r = publish("gavel:meeting:3b", s3b)
    text = admin.text(PAGE) or ""
    check(r[0] == "DELIVERED" and "A person's note." in text and "gavel:meeting:3b" in text,
          "person's edit elsewhere: merged by MediaWiki, both kept", text)
    codes = [e[1].get("error", {}).get("code") or e[1].get("edit", {}).get("result")
             for e in proxy.edits[n_edits:]]
    check(codes in (["Success"], ["editconflict", "Success"]),
          "person's edit elsewhere: merged or re-applied", codes)

    # 5. another gavel publish (the same wiki user) lands in between
    other = Client(mw.api, mw.bot_user, mw.bot_password)
    s4 = section("gavel:meeting:4", "25 Oct 2018", "* '''Hiring''' (Reporter: dave)")

    def gavel_edits():
        t = admin.text(PAGE)
        t = t.replace(f"== {SECTION} ==\n", f"== {SECTION} ==\n{s4}\n", 1)
        other.edit(PAGE, t, "Meeting notes: gavel:meeting:4")

    proxy.on_edit = gavel_edits
    s5 = section("gavel:meeting:5", "1 Nov 2018", "* '''Travel''' (Reporter: erin)")
    r = publish("gavel:meeting:5", s5)
    text = admin.text(PAGE) or ""
    check(r[0] == "DELIVERED" and "gavel:meeting:4" in text and "gavel:meeting:5" in text,
          "another gavel edit in between (same user): both meetings on the page", text)

    # 6. hostile wikitext, escaped by the flavour renderer (<nowiki>)
    hostile = ("* <nowiki>{{template}} [[Category:X]] == heading == <script>alert(1)</script>"
               " ~~~~ __NOTOC__ [[Other page]]</nowiki>\n"
               "* <nowiki>== heading ==</nowiki>\n")
    s6 = section("gavel:meeting:6", "8 Nov 2018", hostile)
    r = publish("gavel:meeting:6", s6)
    check(r[0] == "DELIVERED", "hostile text: delivered", r)
    p = admin.get(action="parse", page=PAGE, prop="sections|categories|templates|links|text")
    p = p["parse"]
    lines = [s["line"] for s in p["sections"]]
    # (meetings 4 and 5 were published at once: either may be on top)
    check(lines[:2] == [SECTION, "8 Nov 2018"] and
          sorted(lines[2:4]) == ["1 Nov 2018", "25 Oct 2018"] and
          lines[4:] == ["19 Oct 2018", "18 Oct 2018", "11 Oct 2018", "4 Oct 2018", "Elsewhere"],
          "hostile text: the page's sections", lines)
    check(p["categories"] == [] and p["templates"] == [] and p["links"] == [],
          "hostile text: no category, template or link", p)
    html = p["text"]
    check("<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
          and "{{template}}" in html and "~~~~" in html,
          "hostile text: rendered as text", html[:2000])
    text = admin.text(PAGE) or ""
    check("~~~~" in text, "hostile text: no signature expanded on save")

    # 7. refusals: NEVER
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"),
                password="wrongpassword0123456789abcdefghi", vg=True)
    check(r[0] == "NEVER" and "login" in r[1], "wrong password: NEVER", r)
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"), user="Nobody@none")
    check(r[0] == "NEVER", "no such user: NEVER", r)
    mw.maintenance("edit.php", "-u", "Admin", "Locked page", stdin="Locked.\n")
    mw.maintenance("protect.php", "-u", "Admin", "Locked page")
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"), page="Locked page")
    check(r[0] == "NEVER" and "protect" in r[1], "protected page: NEVER", r)
    check(admin.text("Locked page").strip() == "Locked.", "protected page: unchanged")
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"), page="Bad[title]")
    check(r[0] == "NEVER", "invalid title: NEVER", r)
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"),
                api=mw.base + "/no-such-api.php")
    check(r[0] == "NEVER", "not an API (404): NEVER", r)
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"),
                api=mw.base + "/index.php")
    check(r[0] == "NEVER", "not an API (HTML): NEVER", r)

    proxy.answer = lambda method, form: (301, b"")
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"))
    check(r[0] == "NEVER" and "redirect" in r[1], "a redirect: NEVER, naming it", r)
    proxy.answer = None
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"), section_name="a\nb")
    check(r[0] == "NEVER" and "section" in r[1], "a section name that is no heading: NEVER", r)

    # 8. passing trouble: LATER
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"),
                api=f"http://127.0.0.1:{closed}/api.php", vg=True)
    check(r[0] == "LATER", "wiki down: LATER", r)
    proxy.answer = lambda method, form: (503, b"<html>Service Unavailable</html>")
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"))
    check(r[0] == "LATER" and "503" in r[1], "503: LATER", r)
    maxlag = json.dumps({"error": {"code": "maxlag", "info": "Waiting for a database server: "
                                   "7 seconds lagged."}}).encode()
    proxy.answer = lambda method, form: (200, maxlag) if form.get("action") == ["edit"] else None
    r = publish("gavel:meeting:7", section("gavel:meeting:7", "x", "y"))
    check(r[0] == "LATER" and "maxlag" in r[1], "maxlag: LATER", r)
    proxy.answer = None
    check("gavel:meeting:7" not in (admin.text(PAGE) or ""), "no refused publish on the page")

    # 9. a conflict that never ends is LATER, not a loop: each time, the
    # person rewrites the line right under the heading, where gavel inserts
    again = [0]

    def rewrite_first_line(t):
        again[0] += 1
        return re.sub(f"(== {SECTION} ==\n)[^\n]*\n", lambda m: m.group(1)
                      + f"Again {again[0]}.\n", t, count=1)

    def forever():
        def f():
            admin.edit(PAGE, rewrite_first_line(admin.text(PAGE)), "again")
            proxy.on_edit = forever()
        return f

    proxy.on_edit = forever()
    n_edits = len(proxy.edits)
    r = publish("gavel:meeting:8", section("gavel:meeting:8", "x", "y"), vg=True)
    proxy.on_edit = None
    codes = [e[1].get("error", {}).get("code") or e[1].get("edit", {}).get("result")
             for e in proxy.edits[n_edits:]]
    check(r[0] == "LATER" and "conflict" in r[1] and codes == ["editconflict"] * 5,
          "endless conflicts: LATER after 5 tries", (r, codes))
    text = admin.text(PAGE) or ""
    check("gavel:meeting:8" not in text and "Again 5." in text,
          "endless conflicts: the person's last edit is the page", text[:600])
    # ...and the retry, once the person stopped, goes through
    r = publish("gavel:meeting:8", section("gavel:meeting:8", "x", "y"))
    check(r[0] == "DELIVERED" and "gavel:meeting:8" in (admin.text(PAGE) or ""),
          "the retry after the conflicts: delivered", r)


if __name__ == "__main__":
    sys.exit(main())
