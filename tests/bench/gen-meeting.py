#!/usr/bin/env python3
"""tests/bench/gen-meeting.py - write a synthetic MeetBot IRC log for benchmarks.

    gen-meeting.py [-n LINES] [--seed S] [--date YYYY-MM-DD] [-o FILE]

The log has the .log.txt format gavel replay reads ("HH:MM:SS <nick> text",
"HH:MM:SS  * nick does"; see tests/data/seed004.log.txt): #startmeeting, the
MeetBot "Meeting started" line that dates the log, two #chair-ed co-chairs,
20 #topic lines spread evenly, then #info / #action / #agreed / #idea / #link,
bare URLs, actions and plain chatter from 12 nicks, and #endmeeting as the
last line. Exactly LINES lines (default 10000); the clock advances 0-5 s a
line from 09:00:00 (past midnight it wraps, which the reader takes as the next
day). The same seed gives the same bytes. Standard library only.
"""
import argparse
import datetime
import random
import sys

NICKS = ["mvollmer", "dperpeet", "pitti", "andreasn", "garrett", "stefw",
         "larsu", "cockpituous", "marius", "allison", "jelle", "sanne"]
CHAIR = NICKS[0]
CO_CHAIRS = NICKS[1:3]
BOT = "zodbot"

TOPICS = [
    "image pruning on servers / distributed storage", "application manager, next steps",
    "release schedule", "flaky integration tests", "storage page redesign",
    "translations & string freeze", "bots and the test queue", "container images",
    "networking: bonds, bridges, VLANs", "accessibility review", "packaging for Debian",
    "performance of the journal view", "TLS certificate handling", "the <select> widget",
    "kdump configuration", "SELinux troubleshooting", "documentation site",
    "user feedback from the conference", "security audit results", "open floor",
]

WORDS = ("the a we it this that branch image test pr review merge bot queue server "
         "storage disk cache build release patch fix bug crash log journal page "
         "widget dialog naïve café → should could would think maybe probably "
         "tomorrow today next week already still again fedora debian rhel ubuntu "
         "upstream downstream 30 days 300G <b>bold</b> a&b x<y 'quoted' \"double\"").split()

HOSTS = ["github.com/cockpit-project/cockpit", "fedorapeople.org/groups/cockpit",
         "bugzilla.redhat.com/show_bug.cgi", "dep.debian.net/deps/dep11",
         "appstream.ubuntu.com", "example.org/a%20b?x=1&y=2"]

# kind -> weight for the body of the meeting
MIX = [("chat", 62), ("reply", 8), ("info", 8), ("action", 5), ("agreed", 3),
       ("idea", 2), ("link", 3), ("url", 5), ("me", 3), ("vote", 1)]


def sentence(rng, lo=3, hi=16):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def url(rng):
    return "https://%s/%d" % (rng.choice(HOSTS), rng.randint(1, 99999))


def body(rng, kind, nick):
    """(nick, text, action) for one line of the given kind."""
    if kind == "chat":
        return nick, sentence(rng), False
    if kind == "reply":
        return nick, "%s: %s" % (rng.choice(NICKS), sentence(rng, 2, 10)), False
    if kind == "info":
        return nick, "#info " + sentence(rng), False
    if kind == "action":
        return nick, "#action %s %s" % (rng.choice(NICKS), sentence(rng, 3, 8)), False
    if kind == "agreed":
        return rng.choice([CHAIR] + CO_CHAIRS), "#agreed " + sentence(rng, 4, 10), False
    if kind == "idea":
        return nick, "#idea " + sentence(rng, 4, 10), False
    if kind == "link":
        return nick, "#link %s %s" % (url(rng), sentence(rng, 1, 5)), False
    if kind == "url":
        return nick, url(rng), False
    if kind == "me":
        return nick, sentence(rng, 2, 6), True
    if kind == "vote":
        return nick, "#vote " + rng.choice(["yes", "no", "later"]), False
    raise ValueError(kind)


def generate(n, seed, date):
    if n < 30:
        raise SystemExit("gen-meeting: want at least 30 lines")
    rng = random.Random(seed)
    t = 9 * 3600
    lines = []

    def emit(nick, text, action=False):
        stamp = "%02d:%02d:%02d" % (t // 3600 % 24, t // 60 % 60, t % 60)
        if action:
            lines.append("%s  * %s %s" % (stamp, nick, text))
        else:
            lines.append("%s <%s> %s" % (stamp, nick, text))

    start = datetime.datetime.combine(date, datetime.time(9, 0, 0))
    emit(CHAIR, "#startmeeting bench meeting")
    emit(BOT, "Meeting started %s UTC.  The chair is %s. Information about MeetBot at "
              "http://wiki.debian.org/MeetBot." % (
                  start.strftime("%a %b ") + "%2d" % start.day + start.strftime(" %H:%M:%S %Y"),
                  CHAIR))
    emit(BOT, "Useful Commands: #action #agreed #halp #info #idea #link #topic.")
    emit(CHAIR, "#chair " + " ".join(CO_CHAIRS))
    body_lines = n - len(lines) - 1          # the last line is #endmeeting
    topic_at = {round(i * body_lines / len(TOPICS)): i for i in range(len(TOPICS))}
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    vote_open = False
    for i in range(body_lines):
        t += rng.randint(0, 5)
        if i in topic_at:
            emit(CHAIR, "#topic " + TOPICS[topic_at[i]])
            continue
        if vote_open and (i + 1 in topic_at or i + 1 == body_lines):
            emit(CHAIR, "#endvote")
            vote_open = False
            continue
        if i - 1 in topic_at and topic_at[i - 1] % 4 == 2:
            emit(CHAIR, "#startvote Do we go ahead with this? yes, no, later")
            vote_open = True
            continue
        kind = rng.choices(kinds, weights)[0]
        if kind == "vote" and not vote_open:
            kind = "chat"
        emit(*body(rng, kind, rng.choice(NICKS)))
    t += rng.randint(1, 5)
    emit(CHAIR, "#endmeeting")
    assert len(lines) == n, (len(lines), n)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--lines", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--date", default="2024-03-05",
                    type=lambda s: datetime.date.fromisoformat(s))
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    text = generate(a.lines, a.seed, a.date)
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main()
