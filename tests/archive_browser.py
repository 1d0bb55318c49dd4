#!/usr/bin/python3
"""tests/archive_browser.py - the HTML archive as a browser sees it.

    archive_browser.py GAVEL

A meeting full of hostile text (script, img onerror, iframe, svg onload,
javascript: links, entities, a CDATA/style/textarea breakout, in the title,
the channel, topics, info, actions and nicks) is replayed (`gavel replay`),
and index.html, the minutes .html and the .log.html are rendered by Debian's
Chromium (headless, --dump-dom: the DOM after the page's scripts ran).

Checked in each DOM: no element but those gavel writes (no script, img,
iframe, svg, object, ...), no on* attribute, no javascript: URL, and the
payloads, had they run, would have marked the body (data-pwned) or the title:
neither happened. The visible text carries the hostile strings literally
(escaped once, not twice: "&amp;" shows as "&amp;" only where the chat said
"&amp;"), and index.html links every file of the meeting.
"""
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile

passed = failed = 0

# What gavel's archive pages are made of (MeetBot's layouts).
ALLOWED = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "ul",
           "ol", "li", "a", "b", "i", "span", "pre", "p", "br", "hr", "div", "table", "tr",
           "td", "th", "tt", "code", "em", "strong", "link", "tbody", "thead", "small"}

LOG = """\
10:00:00 <mallory> #startmeeting <script>document.title='PWNED'</script> & "quotes"
10:00:01 <mallory> #topic <img src=x onerror="document.body.setAttribute('data-pwned','img')"> topic
10:00:02 <mallory> #info <b>bold</b> & <a href="javascript:alert(1)">x</a> &amp; &lt;
10:00:03 <mallory> #link javascript:document.body.setAttribute('data-pwned','link')
10:00:04 <mallory> #link https://example.org/a"b<c onmouseover="document.body.setAttribute('data-pwned','href')
10:00:05 <mallory> #action mallory to <iframe src="javascript:parent.document.body.setAttribute('data-pwned','iframe')"></iframe> fix
10:00:06 <mallory> #agreed ]]></style></textarea><svg onload="document.body.setAttribute('data-pwned','svg')">
10:00:07 <eve> <object data=x></object> hello
10:00:08 <mallory> #endmeeting
"""
CHANNEL = "#<svg onload=document.body.setAttribute('data-pwned','chan')>"

# Must be seen as text, literally, on the minutes page.
VISIBLE = [
    "<script>document.title='PWNED'</script> & \"quotes\"",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\"> topic",
    "<b>bold</b> & <a href=\"javascript:alert(1)\">x</a> &amp; &lt;",
    "javascript:document.body.setAttribute('data-pwned','link')",
    "<iframe src=\"javascript:parent.document.body.setAttribute('data-pwned','iframe')\">"
    "</iframe> fix",
    "]]></style></textarea><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
    CHANNEL,
]


def check(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name}")
        for line in str(detail)[:1500].splitlines():
            print(f"#   {line}")


class DOM(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text, self.title = [], [], [], ""
        self.body_attrs = {}
        self._in = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)
        if tag == "body":
            self.body_attrs = dict(attrs)
        self._in.append(tag)

    def handle_endtag(self, tag):
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data):
        if self._in and self._in[-1] == "title":
            self.title += data
        elif not (self._in and self._in[-1] == "style"):
            self.text.append(data)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def render(browser, path, profile):
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--disable-extensions", "--mute-audio",
                        f"--user-data-dir={profile}", "--virtual-time-budget=2000",
                        "--dump-dom", "file://" + path],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, HOME=profile))
    if r.returncode != 0 or "<html" not in r.stdout:
        raise RuntimeError(f"chromium: exit {r.returncode}: {r.stderr[-1500:]}")
    d = DOM()
    d.feed(r.stdout)
    d.close()
    return d, r.stdout


def main():
    gavel = os.path.abspath(sys.argv[1])
    browser = chromium()
    if not browser:
        print("not ok 1 - Debian's chromium is not installed (deploy/setup.sh --test)")
        return 1
    top = tempfile.mkdtemp(prefix="gavel-browser-")
    try:
        log = os.path.join(top, "hostile.log.txt")
        with open(log, "w") as f:
            f.write(LOG)
        out = os.path.join(top, "out")
        r = subprocess.run([gavel, "replay", log, "--out", out, "--channel", CHANNEL,
                            "--date", "2024-07-12"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "replay of the hostile log", r.stderr)
        pages = sorted(f for f in os.listdir(out) if f.endswith(".html"))
        minutes = [f for f in pages if f != "index.html" and not f.endswith(".log.html")]
        logs = [f for f in pages if f.endswith(".log.html")]
        check(len(minutes) == 1 and len(logs) == 1 and "index.html" in pages,
              "index.html, one minutes page and one log page", pages)
        profile = os.path.join(top, "profile")
        os.mkdir(profile)
        # the control: this browser runs a page's scripts, so the checks below can fail
        control = os.path.join(top, "control.html")
        with open(control, "w") as f:
            f.write("<!DOCTYPE html><html><head><title>t</title></head><body><p>x</p>"
                    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
                    "<script>document.title='PWNED'</script></body></html>")
        d, _ = render(browser, control, profile)
        check(d.body_attrs.get("data-pwned") == "img" and d.title == "PWNED",
              "control: chromium runs an injected script and handler", (d.body_attrs, d.title))
        doms = {}
        for page in pages:
            d, raw = render(browser, os.path.join(out, page), profile)
            doms[page] = d
            bad = sorted(set(d.tags) - ALLOWED)
            check(not bad, f"{page}: only gavel's own elements", bad)
            ev = [(t, k) for t, k, v in d.attrs if k.startswith("on")]
            check(not ev, f"{page}: no event handler attribute", ev)
            js = [(t, k, v) for t, k, v in d.attrs
                  if k in ("href", "src", "action", "data", "formaction")
                  and v.strip().lower().startswith(("javascript:", "data:", "vbscript:"))]
            check(not js, f"{page}: no script URL", js)
            check("data-pwned" not in d.body_attrs and "PWNED" != d.title.strip(),
                  f"{page}: no injected script ran", (d.body_attrs, d.title))
            hrefs = [v for t, k, v in d.attrs if t == "a" and k == "href"]
            odd = [h for h in hrefs if not (h.startswith(("#", "https://", "http://"))
                                            or "/" not in h and ":" not in h)]
            check(not odd, f"{page}: links are the archive's files, anchors or http(s)", odd)
        if minutes:
            d = doms[minutes[0]]
            text = "".join(d.text)
            flat = " ".join(text.split())
            for v in VISIBLE:
                check(" ".join(v.split()) in flat, f"minutes: shows {v[:40]!r}... as text",
                      flat[:3000])
            check("&amp;amp;" not in flat and "&lt;script" not in flat,
                  "minutes: escaped once, not twice")
            check(CHANNEL in d.title and "<script>document.title='PWNED'</script>" in d.title,
                  "minutes: the title is the text", d.title)
            hrefs = [v for t, k, v in d.attrs if t == "a" and k == "href"]
            check(any(h.startswith("https://example.org/a") for h in hrefs)
                  or "https://example.org/a\"b<c" in flat,
                  "minutes: the #link with quotes stays one link (or text)", hrefs)
        if logs:
            flat = " ".join("".join(doms[logs[0]].text).split())
            check("<eve> <object data=x></object> hello" in flat,
                  "log: a hostile message shown as text", flat[:3000])
        if "index.html" in doms:
            d = doms["index.html"]
            hrefs = {v for t, k, v in d.attrs if t == "a" and k == "href"}
            check(set(minutes + logs) <= hrefs, "index.html links the minutes and the log",
                  hrefs)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        check(False, "rendering in chromium", e)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"1..{passed + failed}")
    print(f"# {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
