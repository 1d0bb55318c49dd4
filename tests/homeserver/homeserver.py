#!/usr/bin/env python3
"""gavel's loopback test homeserver.

An in-memory subset of the Matrix client-server API (spec v1.x) on 127.0.0.1,
standard library only, with fault injection under /_test/.  Real clients
(matrix-js-sdk, matrix-nio) are run against it by tests/interop/, and gavel's
own integration tests use it to provoke rate limits, 5xx, dropped
connections, token loss and duplicated sync batches.

    python3 tests/homeserver/homeserver.py --port 0 [--seed N] [--verbose]
                                          [--cross-signing-uia always|replace]

prints "LISTENING <port>" on stdout once ready.  SIGTERM/SIGINT stop it; so does
the death of the process that started it.

Test-control API (no auth; never subject to faults):
    POST   /_test/faults            [rule, ...]  (replaces; ?append=1 appends)
           rule = {"match": "<regex searched in 'METHOD /raw/path'>",
                   "action": "429"|"500"|"502"|"drop"|"slow"|"close_after_headers",
                   "retry_after_ms": N, "retry_after_header": bool,
                   "delay_ms": N, "count": N (default 1, -1 = forever),
                   "probability": 0..1 (default 1; seeded by --seed),
                   "process": bool (handle the request for real, then fail
                                    the response; default false, except
                                    close_after_headers which always does)}
    GET    /_test/faults            the rules with their remaining counts/hits
    DELETE /_test/faults
    POST   /_test/invalidate_token  {"user_id": ...} or {"access_token": ...}
    POST   /_test/duplicate_sync    {"count": N, "user_id": optional}
    POST   /_test/clock             {"now_ms": N|null}  fixes origin_server_ts of new events;
                                    {"offset_ms": N} runs it N ms off the real clock
    GET    /_test/rooms             room ids
    POST   /_test/bulk_rooms        {"count": N, "creator": user, "join": [user, ...], "name"?}
                                    N rooms made at once, each joined by those users (benchmarks)
    GET    /_test/rooms/{roomId}/events     {"room_id", "events": [full events]}
    POST   /_test/rooms/{roomId}/events     {"sender","type","content","state_key"?}
                                            inject an event, no auth checks
    GET    /_test/stats             request counts per endpoint, faults injected
    DELETE /_test/stats
"""

import argparse
import base64
import copy
import hashlib
import http.server
import json
import os
import random
import re
import secrets
import signal
import socket
import string
import sys
import threading
import time
import traceback
import urllib.parse

SPEC_VERSIONS = ["v1.%d" % i for i in range(1, 10)]
DEFAULT_ROOM_VERSION = "10"
DEFAULT_TIMELINE_LIMIT = 10
MAX_EVENT_BYTES = 65536


# --------------------------------------------------------------------------
# Ed25519 (RFC 8032) and canonical JSON, to check cross-signing signatures the
# way a real homeserver does.  Pure Python: slow (a few ms), but only keys and
# signatures uploads use it.
# --------------------------------------------------------------------------

_ED_P = 2 ** 255 - 19
_ED_Q = 2 ** 252 + 27742317777372353535851937790883648493
_ED_D = -121665 * pow(121666, _ED_P - 2, _ED_P) % _ED_P
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)


def _ed_add(P, Q):
    p = _ED_P
    A = (P[1] - P[0]) * (Q[1] - Q[0]) % p
    B = (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C = 2 * P[3] * Q[3] * _ED_D % p
    D = 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)


def _ed_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = _ed_add(Q, P)
        P = _ed_add(P, P)
        s >>= 1
    return Q


def _ed_equal(P, Q):
    p = _ED_P
    return (P[0] * Q[2] - Q[0] * P[2]) % p == 0 and (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def _ed_recover_x(y, sign):
    p = _ED_P
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(_ED_D * y * y + 1, p - 2, p) % p
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * _ED_SQRT_M1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


_ED_GY = 4 * pow(5, _ED_P - 2, _ED_P) % _ED_P
_ED_GX = _ed_recover_x(_ED_GY, 0)
_ED_G = (_ED_GX, _ED_GY, 1, _ED_GX * _ED_GY % _ED_P)


def _ed_compress(P):
    zinv = pow(P[2], _ED_P - 2, _ED_P)
    x, y = P[0] * zinv % _ED_P, P[1] * zinv % _ED_P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _ed_decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _ed_recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _ED_P)


def _ed_hint(m):
    return int.from_bytes(hashlib.sha512(m).digest(), "little") % _ED_Q


def _ed_expand(secret):
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def ed25519_public(secret):
    """The 32-byte public key of a 32-byte seed."""
    return _ed_compress(_ed_mul(_ed_expand(secret)[0], _ED_G))


def ed25519_sign(secret, msg):
    a, prefix = _ed_expand(secret)
    A = _ed_compress(_ed_mul(a, _ED_G))
    r = _ed_hint(prefix + msg)
    Rs = _ed_compress(_ed_mul(r, _ED_G))
    s = (r + _ed_hint(Rs + A + msg) * a) % _ED_Q
    return Rs + int.to_bytes(s, 32, "little")


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    A = _ed_decompress(public)
    R = _ed_decompress(sig[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _ED_Q:
        return False
    h = _ed_hint(sig[:32] + public + msg)
    return _ed_equal(_ed_mul(s, _ED_G), _ed_add(R, _ed_mul(h, A)))


def unpadded_b64decode(s):
    if not isinstance(s, str):
        raise ValueError("not a string")
    s = s.strip()
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except Exception:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def unpadded_b64encode(b):
    return base64.b64encode(b).decode().rstrip("=")


def canonical_json(obj):
    """The signing form of an object: without signatures and unsigned, sorted keys,
    no spaces, UTF-8 (the spec's "Signing JSON")."""
    o = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_signature(obj, signer_user, key_id, public_b64):
    """True when obj carries a valid signature by signer_user's key key_id
    ("ed25519:XYZ") whose public key is public_b64 (unpadded base64)."""
    sig = ((obj.get("signatures") or {}).get(signer_user) or {}).get(key_id)
    if not isinstance(sig, str):
        return False
    try:
        return ed25519_verify(unpadded_b64decode(public_b64), canonical_json(obj),
                              unpadded_b64decode(sig))
    except (ValueError, TypeError):
        return False


def to_int(v, default=0):
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return default


# POST /_test/clock {"now_ms": N} fixes origin_server_ts of new events (tests that
# compare minutes across runs need the same times); {"now_ms": null} lets it run.
# {"offset_ms": N} makes it run at real speed N ms off the real clock (gavel with
# GAVEL_TEST_TIME: the people's events are stamped on gavel's clock).
FIXED_CLOCK = {"now_ms": None, "offset_ms": 0}


def now_ms():
    fixed = FIXED_CLOCK["now_ms"]
    return fixed if fixed is not None else int(time.time() * 1000) + FIXED_CLOCK["offset_ms"]


def log(*args):
    try:
        print("homeserver:", *args, file=sys.stderr, flush=True)
    except Exception:
        pass


class MatrixError(Exception):
    def __init__(self, status, errcode, error, **extra):
        super().__init__(error)
        self.status = status
        self.errcode = errcode
        self.error = error
        self.extra = extra
        self.headers = {}

    def body(self):
        d = {"errcode": self.errcode, "error": self.error}
        d.update(self.extra)
        return d


def forbidden(msg):
    return MatrixError(403, "M_FORBIDDEN", msg)


def not_found(msg="Not found"):
    return MatrixError(404, "M_NOT_FOUND", msg)


def bad_json(msg):
    return MatrixError(400, "M_BAD_JSON", msg)


def invalid_param(msg):
    return MatrixError(400, "M_INVALID_PARAM", msg)


class Response:
    def __init__(self, status=200, body=None, content_type=None, headers=None):
        self.status = status
        self.body = {} if body is None else body
        self.content_type = content_type
        self.headers = headers or {}

    def encode(self):
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body), self.content_type or "application/octet-stream"
        data = json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data, "application/json"


# --------------------------------------------------------------------------
# Events, rooms, users
# --------------------------------------------------------------------------

class Event:
    __slots__ = ("pos", "d", "txn", "prev", "redacted_because")

    def __init__(self, pos, d, txn=None, prev=None):
        self.pos = pos          # global stream position
        self.d = d              # event_id, room_id, sender, type, content, origin_server_ts, [state_key], [redacts]
        self.txn = txn          # (user_id, device_id, txn_id) of the sending device
        self.prev = prev        # Event this state event replaced
        self.redacted_because = None

    @property
    def type(self):
        return self.d["type"]

    @property
    def sender(self):
        return self.d["sender"]

    @property
    def content(self):
        return self.d["content"]

    @property
    def state_key(self):
        return self.d.get("state_key")

    @property
    def event_id(self):
        return self.d["event_id"]

    def is_state(self):
        return "state_key" in self.d

    def client(self, viewer=None, room_id=True, now=None):
        """Client-format event for viewer=(user_id, device_id)."""
        e = dict(self.d)
        if not room_id:
            e.pop("room_id", None)
        now = now_ms() if now is None else now
        unsigned = {"age": max(0, now - self.d["origin_server_ts"])}
        if self.txn and viewer and self.txn[0] == viewer[0] and self.txn[1] == viewer[1]:
            unsigned["transaction_id"] = self.txn[2]
        if self.prev is not None:
            unsigned["replaces_state"] = self.prev.event_id
            unsigned["prev_content"] = self.prev.content
            unsigned["prev_sender"] = self.prev.sender
        if self.redacted_because is not None:
            unsigned["redacted_because"] = self.redacted_because.client(viewer, room_id, now)
        e["unsigned"] = unsigned
        return e

    def stripped(self):
        return {"type": self.type, "state_key": self.state_key, "content": self.content,
                "sender": self.sender}


# Redaction algorithm (room versions 10/11): content keys that survive.
REDACT_KEEP = {
    "m.room.member": ("membership", "join_authorised_via_users_server"),
    "m.room.create": None,  # v11: everything; v10: creator only (we keep all)
    "m.room.join_rules": ("join_rule", "allow"),
    "m.room.power_levels": ("ban", "events", "events_default", "invite", "kick", "redact",
                            "state_default", "users", "users_default"),
    "m.room.history_visibility": ("history_visibility",),
    "m.room.redaction": ("redacts",),
}


def redact_content(etype, content):
    if etype not in REDACT_KEEP:
        return {}
    keep = REDACT_KEEP[etype]
    if keep is None:
        return dict(content)
    return {k: v for k, v in content.items() if k in keep}


class Room:
    def __init__(self, room_id, version):
        self.room_id = room_id
        self.version = version
        self.timeline = []       # [Event] in stream order
        self.positions = []      # parallel list of positions
        self.state = {}          # (type, state_key) -> Event
        self.member_hist = {}    # user_id -> [(pos, membership)]
        self.receipts = []       # [(pos, event_id, rtype, user_id, ts, thread_id)]
        self.typing = {}         # user_id -> expiry ms
        self.typing_pos = 0
        self.account_data = {}   # user_id -> {type: (pos, content)}
        self.aliases = set()

    # membership ----------------------------------------------------------
    def membership_at(self, user, pos):
        hist = self.member_hist.get(user)
        if not hist:
            return None
        m = None
        for p, ms in hist:
            if pos is not None and p > pos:
                break
            m = ms
        return m

    def membership(self, user):
        hist = self.member_hist.get(user)
        return hist[-1][1] if hist else None

    def member_event(self, user):
        return self.state.get(("m.room.member", user))

    def members(self, membership="join"):
        return sorted(u for u, h in self.member_hist.items() if h[-1][1] == membership)

    # state ---------------------------------------------------------------
    def state_at(self, pos):
        """State after every event with position <= pos."""
        st = {}
        for ev in self.timeline:
            if ev.pos > pos:
                break
            if ev.is_state():
                st[(ev.type, ev.state_key)] = ev
        return st

    def power_levels(self):
        ev = self.state.get(("m.room.power_levels", ""))
        return ev.content if ev else None

    def user_level(self, user):
        pl = self.power_levels()
        if pl is None:
            cr = self.state.get(("m.room.create", ""))
            return 100 if cr and cr.sender == user else 0
        users = pl.get("users") if isinstance(pl.get("users"), dict) else {}
        return to_int(users.get(user, pl.get("users_default", 0)))

    def level_for(self, key, default):
        pl = self.power_levels() or {}
        return to_int(pl.get(key, default), default)

    def event_level(self, etype, is_state):
        pl = self.power_levels() or {}
        events = pl.get("events", {}) if isinstance(pl.get("events"), dict) else {}
        try:
            if etype in events:
                return int(events[etype])
            if is_state:
                return int(pl.get("state_default", 50 if pl else 0))
            return int(pl.get("events_default", 0))
        except (TypeError, ValueError):
            return 100

    def events_between(self, after, upto):
        """Events with after < pos <= upto (after None = from the start)."""
        import bisect
        lo = 0 if after is None else bisect.bisect_right(self.positions, after)
        hi = bisect.bisect_right(self.positions, upto)
        return self.timeline[lo:hi]


class User:
    def __init__(self, user_id, password):
        self.user_id = user_id
        self.password = password
        self.displayname = user_id[1:].split(":", 1)[0]
        self.avatar_url = None
        self.account_data = {}   # type -> (pos, content)
        self.filters = []
        self.devices = {}        # device_id -> Device
        self.rooms = set()       # room ids with any membership
        # cross-signing keys: "master" / "self_signing" / "user_signing" -> CrossSigningKey,
        # with every stored signature (filtered per viewer by /keys/query)
        self.cross_signing = {}


class Device:
    def __init__(self, device_id, display_name=None):
        self.device_id = device_id
        self.display_name = display_name
        self.keys = None                 # signed device keys
        self.one_time_keys = {}          # "alg:id" -> key
        self.fallback_keys = {}          # "alg:id" -> key
        self.fallback_used = False
        self.to_device = []              # [(pos, event)]
        self.last_seen_ts = now_ms()


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------

def _type_match(pattern, value):
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def event_filter_ok(flt, ev):
    """RoomEventFilter / EventFilter matching on an Event."""
    if not flt:
        return True
    types = flt.get("types")
    if isinstance(types, list) and not any(_type_match(t, ev.type) for t in types if isinstance(t, str)):
        return False
    nt = flt.get("not_types")
    if isinstance(nt, list) and any(_type_match(t, ev.type) for t in nt if isinstance(t, str)):
        return False
    senders = flt.get("senders")
    if isinstance(senders, list) and ev.sender not in senders:
        return False
    ns = flt.get("not_senders")
    if isinstance(ns, list) and ev.sender in ns:
        return False
    if flt.get("contains_url") is True and "url" not in ev.content:
        return False
    if flt.get("contains_url") is False and "url" in ev.content:
        return False
    return True


def room_filter_ok(rflt, room_id):
    if not rflt:
        return True
    rooms = rflt.get("rooms")
    if isinstance(rooms, list) and room_id not in rooms:
        return False
    nr = rflt.get("not_rooms")
    if isinstance(nr, list) and room_id in nr:
        return False
    return True


def filter_limit(flt, default):
    try:
        lim = int((flt or {}).get("limit", default))
    except (TypeError, ValueError):
        return default
    return max(0, min(lim, 1000))


# --------------------------------------------------------------------------
# The homeserver state machine
# --------------------------------------------------------------------------

class Homeserver:
    def __init__(self, server_name="localhost", seed=None, base_url=""):
        self.server_name = server_name
        self.base_url = base_url
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.pos = 0
        self.users = {}
        self.tokens = {}         # token -> {"user_id","device_id","valid"}
        self.rooms = {}
        self.aliases = {}        # "#a:hs" -> room_id
        self.txns = {}           # (user, device, key) -> response body
        self.events_by_id = {}   # event_id -> (room_id, Event)
        self.key_changes = []    # [(pos, user_id)]
        self.media = {}          # media_id -> (content_type, bytes, filename)
        self.uia_sessions = set()
        self.uia = {}            # session -> {"user", "what"}: password UIA (device signing)
        # "always": every cross-signing upload with a new key needs UIA (pre-v1.11 servers,
        # and what Synapse did for years); "replace": only replacing keys does (v1.11, MSC3967)
        self.cross_signing_uia = "always"
        self.rng = random.Random(seed)
        self.faults = []
        self.fault_lock = threading.Lock()
        self.dup_sync = {"count": 0, "user_id": None}
        self.sync_prev = {}      # (user_id, next_batch) -> since used to produce it
        self.stats = {}
        self.stats_status = {}
        self.stats_faults = {}
        self.unrecognized = []
        self.shutting_down = False
        self.max_body = 1024 * 1024

    # helpers -------------------------------------------------------------
    def bump(self):
        self.pos += 1
        return self.pos

    def notify(self):
        self.cond.notify_all()

    def uid(self, local):
        return "@%s:%s" % (local, self.server_name)

    def new_event_id(self):
        return "$%s:%s" % (secrets.token_urlsafe(18), self.server_name)

    def new_room_id(self):
        return "!%s:%s" % ("".join(secrets.choice(string.ascii_letters) for _ in range(18)),
                           self.server_name)

    @staticmethod
    def new_device_id():
        return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))

    def new_token(self, user_id, device_id):
        tok = "syt_%s_%s" % (base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("="),
                             secrets.token_urlsafe(24))
        self.tokens[tok] = {"user_id": user_id, "device_id": device_id, "valid": True}
        return tok

    def room(self, room_id):
        r = self.rooms.get(room_id)
        if r is None:
            raise not_found("Unknown room %s" % room_id)
        return r

    # authentication ------------------------------------------------------
    def auth(self, headers, query):
        tok = None
        ah = headers.get("Authorization")
        if ah:
            parts = ah.split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                tok = parts[1].strip()
        if tok is None and "access_token" in query:
            tok = query["access_token"]
        if not tok:
            raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token.")
        with self.lock:
            t = self.tokens.get(tok)
            if t is None or not t["valid"]:
                raise MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.",
                                  soft_logout=False)
            dev = self.users[t["user_id"]].devices.get(t["device_id"])
            if dev is None:
                raise MatrixError(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.",
                                  soft_logout=False)
            dev.last_seen_ts = now_ms()
            return t["user_id"], t["device_id"], tok

    # user management -----------------------------------------------------
    def create_user(self, local, password, device_id=None, display_name=None, login=True):
        user_id = self.uid(local)
        u = User(user_id, password)
        self.users[user_id] = u
        if not login:
            return {"user_id": user_id, "home_server": self.server_name}
        return self.login_device(u, device_id, display_name)

    def login_device(self, u, device_id=None, display_name=None):
        device_id = device_id or self.new_device_id()
        if device_id not in u.devices:
            u.devices[device_id] = Device(device_id, display_name)
            self.key_changes.append((self.bump(), u.user_id))
            self.notify()
        tok = self.new_token(u.user_id, device_id)
        return {"user_id": u.user_id, "access_token": tok, "device_id": device_id,
                "home_server": self.server_name,
                "well_known": {"m.homeserver": {"base_url": self.base_url}}}

    # events ----------------------------------------------------------------
    def append_event(self, room, sender, etype, content, state_key=None, txn=None, redacts=None,
                     check_size=True):
        d = {"event_id": self.new_event_id(), "room_id": room.room_id, "sender": sender,
             "type": etype, "content": content, "origin_server_ts": now_ms()}
        if state_key is not None:
            d["state_key"] = state_key
        if redacts is not None:
            d["redacts"] = redacts
        if check_size and len(json.dumps(d, ensure_ascii=False).encode("utf-8")) > MAX_EVENT_BYTES:
            raise MatrixError(413, "M_TOO_LARGE", "event too large")
        pos = self.bump()
        prev = room.state.get((etype, state_key)) if state_key is not None else None
        ev = Event(pos, d, txn=txn, prev=prev)
        room.timeline.append(ev)
        room.positions.append(pos)
        self.events_by_id[d["event_id"]] = (room.room_id, ev)
        if state_key is not None:
            room.state[(etype, state_key)] = ev
            if etype == "m.room.member":
                ms = content.get("membership") if isinstance(content, dict) else None
                room.member_hist.setdefault(state_key, []).append((pos, ms))
                u = self.users.get(state_key)
                if u is not None:
                    u.rooms.add(room.room_id)
            if etype == "m.room.canonical_alias" and isinstance(content, dict):
                for a in [content.get("alias")] + list(content.get("alt_aliases") or []):
                    if isinstance(a, str) and a and a not in self.aliases:
                        self.aliases[a] = room.room_id
                        room.aliases.add(a)
        if etype == "m.room.redaction" and redacts:
            self.apply_redaction(room, redacts, ev)
        self.notify()
        return ev

    def apply_redaction(self, room, target_id, red_ev):
        t = self.events_by_id.get(target_id)
        if not t or t[0] != room.room_id:
            return
        target = t[1]
        if target.redacted_because is not None:
            return
        target.d["content"] = redact_content(target.type, target.content)
        target.redacted_because = red_ev

    # state helpers -------------------------------------------------------
    def require_joined(self, room, user):
        if room.membership(user) != "join":
            raise forbidden("User %s not in room %s" % (user, room.room_id))

    def can_see(self, room, user):
        """Position up to which user may read the room, or None."""
        m = room.membership(user)
        if m == "join":
            return self.pos
        hv = room.state.get(("m.room.history_visibility", ""))
        if hv and hv.content.get("history_visibility") == "world_readable":
            return self.pos
        if m in ("leave", "ban"):
            hist = room.member_hist[user]
            # readable up to the event that ended the membership, if ever joined
            if any(ms == "join" for _, ms in hist):
                return hist[-1][0]
        return None

    def profile_content(self, user_id, membership, extra=None):
        c = {"membership": membership}
        u = self.users.get(user_id)
        if u is not None and membership == "join":
            c["displayname"] = u.displayname
            if u.avatar_url:
                c["avatar_url"] = u.avatar_url
        if extra:
            c.update(extra)
        return c

    # membership ------------------------------------------------------------
    def do_invite(self, room, sender, target, reason=None, is_direct=False):
        self.require_joined(room, sender)
        if not isinstance(target, str) or not target.startswith("@") or ":" not in target:
            raise invalid_param("Invalid user_id")
        cur = room.membership(target)
        if cur == "join":
            raise forbidden("%s is already in the room." % target)
        if cur == "ban":
            raise forbidden("%s is banned from the room" % target)
        if room.user_level(sender) < room.level_for("invite", 0):
            raise forbidden("You don't have permission to invite users")
        if cur == "invite":
            return room.member_event(target)
        extra = {}
        if reason:
            extra["reason"] = reason
        if is_direct:
            extra["is_direct"] = True
        u = self.users.get(target)
        if u is not None:
            extra["displayname"] = u.displayname
        return self.append_event(room, sender, "m.room.member",
                                 self.profile_content(target, "invite", extra), state_key=target)

    def do_join(self, room, user, reason=None):
        cur = room.membership(user)
        if cur == "join":
            return room.member_event(user)
        if cur == "ban":
            raise forbidden("You are banned from this room")
        jr = room.state.get(("m.room.join_rules", ""))
        rule = jr.content.get("join_rule") if jr else "invite"
        if cur != "invite" and rule != "public":
            raise forbidden("You are not invited to this room.")
        extra = {"reason": reason} if reason else None
        return self.append_event(room, user, "m.room.member",
                                 self.profile_content(user, "join", extra), state_key=user)

    def do_leave(self, room, user, reason=None):
        cur = room.membership(user)
        if cur is None:
            raise forbidden("You are not a member of this room.")
        if cur in ("leave", "ban"):
            return room.member_event(user)
        extra = {"reason": reason} if reason else None
        return self.append_event(room, user, "m.room.member",
                                 self.profile_content(user, "leave", extra), state_key=user)

    def do_kick(self, room, sender, target, reason=None):
        self.require_joined(room, sender)
        cur = room.membership(target)
        if cur not in ("join", "invite"):
            raise forbidden("The target user is not in the room")
        if target != sender and (room.user_level(sender) < room.level_for("kick", 50)
                                 or room.user_level(sender) <= room.user_level(target)):
            raise forbidden("You don't have permission to kick this user")
        extra = {"reason": reason} if reason else None
        return self.append_event(room, sender, "m.room.member",
                                 self.profile_content(target, "leave", extra), state_key=target)

    def do_ban(self, room, sender, target, reason=None):
        self.require_joined(room, sender)
        if room.user_level(sender) < room.level_for("ban", 50) or (
                target != sender and room.user_level(sender) <= room.user_level(target)):
            raise forbidden("You don't have permission to ban this user")
        extra = {"reason": reason} if reason else None
        return self.append_event(room, sender, "m.room.member",
                                 self.profile_content(target, "ban", extra), state_key=target)

    def do_unban(self, room, sender, target):
        self.require_joined(room, sender)
        if room.membership(target) != "ban":
            raise forbidden("The target user is not banned")
        if room.user_level(sender) < room.level_for("ban", 50):
            raise forbidden("You don't have permission to unban")
        return self.append_event(room, sender, "m.room.member",
                                 {"membership": "leave"}, state_key=target)

    # state events ------------------------------------------------------------
    def set_state(self, room, sender, etype, state_key, content, txn=None):
        if not isinstance(content, dict):
            raise bad_json("Content must be a JSON object")
        if etype == "m.room.member":
            ms = content.get("membership")
            reason = content.get("reason")
            if ms == "invite":
                return self.do_invite(room, sender, state_key, reason)
            if ms == "join":
                if state_key != sender:
                    raise forbidden("Cannot force another user to join.")
                if room.membership(sender) == "join":
                    # profile change: a new join event
                    return self.append_event(room, sender, etype, content, state_key=sender)
                return self.do_join(room, sender, reason)
            if ms == "leave":
                if state_key == sender:
                    return self.do_leave(room, sender, reason)
                if room.membership(state_key) == "ban":
                    return self.do_unban(room, sender, state_key)
                return self.do_kick(room, sender, state_key, reason)
            if ms == "ban":
                return self.do_ban(room, sender, state_key, reason)
            raise bad_json("Invalid membership")
        self.require_joined(room, sender)
        if room.user_level(sender) < room.event_level(etype, True):
            raise forbidden("You don't have permission to post that to the room. "
                            "user_level (%d) < send_level (%d)"
                            % (room.user_level(sender), room.event_level(etype, True)))
        if etype == "m.room.power_levels":
            self.check_power_levels(room, sender, content)
        if etype == "m.room.canonical_alias":
            for a in [content.get("alias")] + list(content.get("alt_aliases") or []):
                if a is None:
                    continue
                if not isinstance(a, str) or self.aliases.get(a, room.room_id) != room.room_id:
                    raise MatrixError(400, "M_BAD_ALIAS", "Alias %s does not point to this room" % a)
        cur = room.state.get((etype, state_key))
        if cur is not None and cur.content == content and cur.sender == sender:
            return cur  # Synapse: identical state is a no-op
        return self.append_event(room, sender, etype, content, state_key=state_key, txn=txn)

    def check_power_levels(self, room, sender, content):
        mine = room.user_level(sender)
        old = room.power_levels() or {}
        for k, v in content.items():
            if k in ("users", "events", "notifications"):
                continue
            if not isinstance(v, int):
                try:
                    int(v)
                except (TypeError, ValueError):
                    raise bad_json("Power level %s must be an integer" % k)
        users = content.get("users", {})
        if not isinstance(users, dict):
            raise bad_json("users must be an object")
        events = content.get("events", {})
        if not isinstance(events, dict):
            raise bad_json("events must be an object")
        for k, v in events.items():
            try:
                int(v)
            except (TypeError, ValueError):
                raise bad_json("Power level for event %s must be an integer" % k)
        old_users = old.get("users") if isinstance(old.get("users"), dict) else {}
        for u, lvl in users.items():
            try:
                lvl = int(lvl)
            except (TypeError, ValueError):
                raise bad_json("Power level for %s must be an integer" % u)
            before = to_int(old_users.get(u, old.get("users_default", 0)))
            if lvl != before:
                if lvl > mine or (u != sender and before >= mine):
                    raise forbidden("You don't have permission to change the power level of %s" % u)
        for u, before in old_users.items():
            if u not in users and u != sender and to_int(before) >= mine:
                raise forbidden("You don't have permission to remove the power level of %s" % u)

    # sending -------------------------------------------------------------
    def send_event(self, room, sender, device, etype, content, txn_id):
        self.require_joined(room, sender)
        if not isinstance(content, dict):
            raise bad_json("Content must be a JSON object")
        if room.user_level(sender) < room.event_level(etype, False):
            raise forbidden("You don't have permission to post that to the room. "
                            "user_level (%d) < send_level (%d)"
                            % (room.user_level(sender), room.event_level(etype, False)))
        if etype == "m.reaction":
            rel = content.get("m.relates_to")
            if isinstance(rel, dict) and rel.get("rel_type") == "m.annotation":
                for ev in room.timeline:
                    if (ev.type == "m.reaction" and ev.sender == sender
                            and ev.redacted_because is None):
                        r2 = ev.content.get("m.relates_to")
                        if (isinstance(r2, dict) and r2.get("rel_type") == "m.annotation"
                                and r2.get("event_id") == rel.get("event_id")
                                and r2.get("key") == rel.get("key")):
                            raise MatrixError(400, "M_DUPLICATE_ANNOTATION",
                                              "Can't send same reaction twice")
        if etype == "m.room.redaction":
            target = content.get("redacts")
            return self.redact(room, sender, device, target, content, txn_id)
        return self.append_event(room, sender, etype, content,
                                 txn=(sender, device, txn_id) if txn_id is not None else None)

    def redact(self, room, sender, device, target_id, content, txn_id):
        self.require_joined(room, sender)
        if not isinstance(content, dict):
            raise bad_json("Content must be a JSON object")
        t = self.events_by_id.get(target_id) if isinstance(target_id, str) else None
        if not t or t[0] != room.room_id:
            raise not_found("Event not found")
        target = t[1]
        lvl = room.user_level(sender)
        if target.sender != sender and lvl < room.level_for("redact", 50):
            raise forbidden("You don't have permission to redact events")
        if lvl < room.event_level("m.room.redaction", False):
            raise forbidden("You don't have permission to redact events")
        c = dict(content)
        c["redacts"] = target_id
        return self.append_event(room, sender, "m.room.redaction", c, redacts=target_id,
                                 txn=(sender, device, txn_id) if txn_id is not None else None)

    def txn_once(self, user, device, key, fn):
        """Run fn once per (user, device, key); later calls return the first result."""
        k = (user, device, key)
        if k in self.txns:
            return self.txns[k]
        result = fn()
        self.txns[k] = result
        return result

    # rooms ---------------------------------------------------------------
    def create_room(self, creator, device, body):
        if not isinstance(body, dict):
            raise bad_json("Content must be a JSON object")
        version = str(body.get("room_version") or
                      (body.get("creation_content") or {}).get("room_version") or
                      DEFAULT_ROOM_VERSION)
        if version not in [str(i) for i in range(1, 12)]:
            raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version")
        visibility = body.get("visibility", "private")
        preset = body.get("preset") or ("public_chat" if visibility == "public" else "private_chat")
        if preset not in ("public_chat", "private_chat", "trusted_private_chat"):
            raise invalid_param("Unknown preset")
        invites = body.get("invite") or []
        if not isinstance(invites, list) or not all(
                isinstance(i, str) and re.match(r"^@[^:]+:.+$", i) for i in invites):
            raise bad_json("invite must be a list of user ids")
        alias = None
        if body.get("room_alias_name") is not None:
            an = body["room_alias_name"]
            if not isinstance(an, str) or not an or ":" in an or " " in an:
                raise MatrixError(400, "M_INVALID_PARAM", "Invalid characters in room alias")
            alias = "#%s:%s" % (an, self.server_name)
            if alias in self.aliases:
                raise MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")
        initial_state = body.get("initial_state") or []
        if not isinstance(initial_state, list):
            raise bad_json("initial_state must be a list")
        for s in initial_state:
            if not isinstance(s, dict) or not isinstance(s.get("type"), str) or \
                    not isinstance(s.get("content"), dict):
                raise bad_json("Invalid initial_state event")
        override = body.get("power_level_content_override")
        if override is not None and not isinstance(override, dict):
            raise bad_json("power_level_content_override must be an object")
        creation = dict(body.get("creation_content") or {})

        room = Room(self.new_room_id(), version)
        self.rooms[room.room_id] = room
        create_content = {"room_version": version}
        if version != "11":
            create_content["creator"] = creator
        create_content.update(creation)
        create_content["room_version"] = version
        self.append_event(room, creator, "m.room.create", create_content, state_key="")
        self.append_event(room, creator, "m.room.member",
                          self.profile_content(creator, "join"), state_key=creator)
        pl = {
            "users": {creator: 100}, "users_default": 0,
            "events": {"m.room.name": 50, "m.room.power_levels": 100,
                       "m.room.history_visibility": 100, "m.room.canonical_alias": 50,
                       "m.room.avatar": 50, "m.room.tombstone": 100,
                       "m.room.server_acl": 100, "m.room.encryption": 100},
            "events_default": 0, "state_default": 50, "ban": 50, "kick": 50,
            "redact": 50, "invite": 50, "historical": 100,
        }
        if preset in ("private_chat", "trusted_private_chat"):
            pl["invite"] = 0
        if preset == "trusted_private_chat":
            for i in invites:
                pl["users"][i] = 100
        if override:
            for k, v in override.items():
                pl[k] = v
        self.append_event(room, creator, "m.room.power_levels", pl, state_key="")
        if alias:
            self.aliases[alias] = room.room_id
            room.aliases.add(alias)
            self.append_event(room, creator, "m.room.canonical_alias", {"alias": alias},
                              state_key="")
        self.append_event(room, creator, "m.room.join_rules",
                          {"join_rule": "public" if preset == "public_chat" else "invite"},
                          state_key="")
        self.append_event(room, creator, "m.room.history_visibility",
                          {"history_visibility": "shared"}, state_key="")
        if preset != "public_chat":
            self.append_event(room, creator, "m.room.guest_access",
                              {"guest_access": "can_join"}, state_key="")
        for s in initial_state:
            self.append_event(room, creator, s["type"], s["content"],
                              state_key=str(s.get("state_key", "")))
        if isinstance(body.get("name"), str):
            self.append_event(room, creator, "m.room.name", {"name": body["name"]}, state_key="")
        if isinstance(body.get("topic"), str):
            self.append_event(room, creator, "m.room.topic", {"topic": body["topic"]},
                              state_key="")
        for i in invites:
            self.do_invite(room, creator, i, is_direct=bool(body.get("is_direct")))
        res = {"room_id": room.room_id}
        if alias:
            res["room_alias"] = alias
        return res

    # sync ------------------------------------------------------------------
    def summary(self, room, user):
        joined = room.members("join")
        invited = room.members("invite")
        heroes = [u for u in joined + invited if u != user][:5]
        return {"m.heroes": heroes, "m.joined_member_count": len(joined),
                "m.invited_member_count": len(invited)}

    def ephemeral(self, room, user, since):
        evs = []
        now = now_ms()
        typing = sorted(u for u, exp in room.typing.items() if exp > now)
        if (since is None and typing) or (since is not None and room.typing_pos > since):
            evs.append({"type": "m.typing", "content": {"user_ids": typing}})
        content = {}
        if since is None:
            latest = {}
            for r in room.receipts:
                latest[(r[2], r[3], r[5])] = r
            rs = latest.values()
        else:
            rs = [r for r in room.receipts if r[0] > since]
        for (_, eid, rtype, u, ts, thread) in rs:
            if rtype == "m.read.private" and u != user:
                continue
            rec = {"ts": ts}
            if thread:
                rec["thread_id"] = thread
            content.setdefault(eid, {}).setdefault(rtype, {})[u] = rec
        if content:
            evs.append({"type": "m.receipt", "content": content})
        return evs

    def state_list(self, st, viewer, flt, now, exclude=()):
        out = []
        for ev in st.values():
            if ev in exclude:
                continue
            if event_filter_ok(flt, ev):
                out.append(ev)
        out.sort(key=lambda e: e.pos)
        return [e.client(viewer, room_id=False, now=now) for e in out]

    def room_timeline(self, room, user, viewer, since, upto, fresh, flt, full_state, now):
        rf = (flt or {}).get("room") or {}
        tf = rf.get("timeline") or {}
        sf = rf.get("state") or {}
        limit = filter_limit(tf, DEFAULT_TIMELINE_LIMIT)
        evs = room.events_between(None if fresh else since, upto)
        fe = [e for e in evs if event_filter_ok(tf, e)]
        if limit == 0:
            tl = []
        else:
            tl = fe[-limit:]
        limited = len(fe) > len(tl)
        if tl:
            start = tl[0].pos - 1
        else:
            start = upto
        if fresh or full_state:
            st = room.state_at(start)
            state = self.state_list(st, viewer, sf, now)
        elif since is not None and start > since:
            # state changes in the gap between `since` and the timeline's start
            changed = {}
            for ev in room.events_between(since, start):
                if ev.is_state():
                    changed[(ev.type, ev.state_key)] = ev
            state = self.state_list(changed, viewer, sf, now)
        else:
            state = []
        timeline = {"events": [e.client(viewer, room_id=False, now=now) for e in tl],
                    "limited": limited, "prev_batch": "s%d" % start}
        return timeline, state

    def room_account_data(self, room, user, since):
        ad = room.account_data.get(user, {})
        return [{"type": t, "content": c} for t, (p, c) in sorted(ad.items())
                if since is None or p > since]

    def build_sync(self, user, device, since, tl_since, flt, full_state):
        """Called with the lock held."""
        now = now_ms()
        upto = self.pos
        viewer = (user, device)
        u = self.users[user]
        rf = (flt or {}).get("room") or {}
        join, invite, leave = {}, {}, {}
        include_leave = bool(rf.get("include_leave"))
        for rid in sorted(u.rooms):
            room = self.rooms[rid]
            if not room_filter_ok(rf, rid):
                continue
            m_now = room.membership_at(user, upto)
            m_then = room.membership_at(user, tl_since) if tl_since is not None else None
            if m_now == "join":
                fresh = tl_since is None or m_then != "join"
                timeline, state = self.room_timeline(room, user, viewer, tl_since, upto, fresh,
                                                     flt, full_state, now)
                eph = self.ephemeral(room, user, None if fresh else since)
                rad = self.room_account_data(room, user, None if fresh else since)
                if fresh or full_state or timeline["events"] or state or eph or rad:
                    join[rid] = {
                        "timeline": timeline,
                        "state": {"events": state},
                        "ephemeral": {"events": eph},
                        "account_data": {"events": rad},
                        "unread_notifications": {"notification_count": 0,
                                                 "highlight_count": 0},
                        "summary": self.summary(room, user),
                    }
            elif m_now == "invite":
                inv = room.member_event(user)
                if tl_since is None or inv.pos > tl_since:
                    stripped = []
                    for key in (("m.room.create", ""), ("m.room.join_rules", ""),
                                ("m.room.name", ""), ("m.room.topic", ""),
                                ("m.room.avatar", ""), ("m.room.canonical_alias", ""),
                                ("m.room.encryption", ""), ("m.room.member", inv.sender)):
                        ev = room.state.get(key)
                        if ev is not None:
                            stripped.append(ev.stripped())
                    stripped.append(inv.client(viewer, room_id=False, now=now))
                    invite[rid] = {"invite_state": {"events": stripped}}
            elif m_now in ("leave", "ban"):
                lev = room.member_event(user)
                if (tl_since is not None and lev.pos > tl_since) or (tl_since is None and include_leave):
                    was_joined = m_then == "join"
                    timeline, state = self.room_timeline(
                        room, user, viewer, tl_since, lev.pos, not was_joined, flt,
                        full_state, now)
                    if not was_joined:
                        timeline["events"] = [lev.client(viewer, room_id=False, now=now)]
                        timeline["limited"] = True
                        timeline["prev_batch"] = "s%d" % (lev.pos - 1)
                        state = self.state_list(room.state_at(lev.pos - 1), viewer,
                                                rf.get("state") or {}, now)
                    leave[rid] = {"timeline": timeline, "state": {"events": state},
                                  "account_data": {"events": []}}
        # account data
        ad = [{"type": t, "content": c} for t, (p, c) in sorted(u.account_data.items())
              if since is None or p > since]
        # to-device: drop what the client has acknowledged by sending `since`
        dev = u.devices.get(device)
        td = []
        if dev is not None:
            if since is not None:
                dev.to_device = [(p, e) for p, e in dev.to_device if p > since]
            td = [e for p, e in dev.to_device if p <= upto]
        changed, left = self.device_list_changes(user, since, upto)
        otk = {}
        fallback_types = []
        if dev is not None:
            for k in dev.one_time_keys:
                alg = k.split(":", 1)[0]
                otk[alg] = otk.get(alg, 0) + 1
            if dev.fallback_keys and not dev.fallback_used:
                fallback_types = sorted({k.split(":", 1)[0] for k in dev.fallback_keys})
        otk.setdefault("signed_curve25519", 0)
        rooms = {"join": join, "invite": invite, "leave": leave, "knock": {}}
        resp = {
            "next_batch": "s%d" % upto,
            "rooms": rooms,
            "account_data": {"events": ad},
            "presence": {"events": []},
            "to_device": {"events": td},
            "device_lists": {"changed": changed, "left": left},
            "device_one_time_keys_count": otk,
            "device_unused_fallback_key_types": fallback_types,
        }
        empty = not (join or invite or leave or ad or td or changed or left)
        return resp, empty

    def shared_users(self, user):
        out = set()
        for rid in self.users[user].rooms:
            room = self.rooms[rid]
            if room.membership(user) == "join":
                out.update(room.members("join"))
                out.update(room.members("invite"))
        return out

    def device_list_changes(self, user, since, upto):
        if since is None:
            return [], []
        shared = self.shared_users(user) | {user}
        changed = {u for p, u in self.key_changes if since < p <= upto and u in shared}
        left = set()
        for rid in self.users[user].rooms:
            room = self.rooms[rid]
            for ev in room.events_between(since, upto):
                if ev.type != "m.room.member":
                    continue
                ms = ev.content.get("membership")
                if ms == "join" and room.membership(user) == "join":
                    changed.add(ev.state_key)
                    if ev.state_key == user:
                        changed.update(room.members("join"))
                elif ms in ("leave", "ban"):
                    if ev.state_key == user:
                        left.update(u for u in room.members("join") if u not in shared)
                    elif ev.state_key not in shared:
                        left.add(ev.state_key)
        changed -= left
        return sorted(changed), sorted(left - {user})


def parse_token(tok, name="from"):
    if tok is None or tok == "":
        return None
    m = re.match(r"^[st]?(\d+)(?:_.*)?$", tok)
    if not m:
        raise invalid_param("Invalid %s token" % name)
    return int(m.group(1))


LOCALPART_RE = re.compile(r"^[a-z0-9._=\-/+]+$")


# --------------------------------------------------------------------------
# HTTP endpoints
# --------------------------------------------------------------------------

def _no_constants(name):
    raise ValueError("%s is not valid JSON" % name)


class Request:
    def __init__(self, hs, method, path, raw_path, query, headers, body):
        self.hs = hs
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.body = body
        self.params = {}
        self._json = None
        self._auth = None

    def json(self, required=True):
        if self._json is not None:
            return self._json
        if not self.body:
            if required:
                raise MatrixError(400, "M_NOT_JSON", "Content not JSON.")
            self._json = {}
            return self._json
        try:
            self._json = json.loads(self.body.decode("utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise MatrixError(400, "M_NOT_JSON", "Content not JSON.")
        return self._json

    def obj(self, required=True):
        j = self.json(required)
        if not isinstance(j, dict):
            raise bad_json("Content must be a JSON object.")
        return j

    def auth(self):
        if self._auth is None:
            self._auth = self.hs.auth(self.headers, self.query)
        return self._auth

    def q(self, name, default=None):
        return self.query.get(name, default)

    def qint(self, name, default):
        v = self.query.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise invalid_param("Query parameter %s must be an integer" % name)


ROUTES = []


def route(method, template):
    def deco(fn):
        ROUTES.append((method, template, template.strip("/").split("/"), fn))
        return fn
    return deco


def own_user(req, user_id):
    user, _, _ = req.auth()
    if user != user_id:
        raise forbidden("Cannot access another user's data")
    return user


# -- discovery ----------------------------------------------------------

@route("GET", "versions")
def r_versions(req):
    return {"versions": SPEC_VERSIONS,
            "unstable_features": {"org.matrix.msc2432": True, "org.matrix.e2e_cross_signing": True}}


@route("GET", ".well-known/matrix/client")
def r_wellknown(req):
    return {"m.homeserver": {"base_url": req.hs.base_url}}


@route("GET", "capabilities")
def r_capabilities(req):
    req.auth()
    return {"capabilities": {
        "m.change_password": {"enabled": False},
        "m.room_versions": {"default": DEFAULT_ROOM_VERSION,
                            "available": {str(i): "stable" for i in range(1, 12)}},
        "m.set_displayname": {"enabled": True},
        "m.set_avatar_url": {"enabled": True},
        "m.3pid_changes": {"enabled": False},
    }}


# -- registration and login ------------------------------------------------

@route("GET", "register/available")
def r_register_available(req):
    hs = req.hs
    name = req.q("username", "")
    if not name or not LOCALPART_RE.match(name):
        raise MatrixError(400, "M_INVALID_USERNAME", "Invalid username")
    with hs.lock:
        if hs.uid(name) in hs.users:
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")
    return {"available": True}


@route("POST", "register")
def r_register(req):
    hs = req.hs
    body = req.obj(required=False)
    kind = req.q("kind", "user")
    if kind == "guest":
        raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled")
    if kind != "user":
        raise invalid_param("Invalid kind")
    username = body.get("username")
    if username is not None:
        if not isinstance(username, str):
            raise invalid_param("Invalid username")
        if username.startswith("@"):
            username = username[1:].split(":", 1)[0]
        if not LOCALPART_RE.match(username):
            raise MatrixError(400, "M_INVALID_USERNAME",
                              "User ID can only contain characters a-z, 0-9, or '=_-./+'")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise invalid_param("Invalid password")
    with hs.lock:
        if username is not None and hs.uid(username) in hs.users:
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")
        auth = body.get("auth")
        if not isinstance(auth, dict) or auth.get("type") != "m.login.dummy":
            session = auth.get("session") if isinstance(auth, dict) else None
            if not session:
                session = secrets.token_urlsafe(16)
                hs.uia_sessions.add(session)
            err = {"flows": [{"stages": ["m.login.dummy"]}], "params": {}, "session": session}
            if isinstance(auth, dict) and auth.get("type"):
                err.update({"errcode": "M_UNRECOGNIZED", "error": "Unrecognised auth type"})
            return Response(401, err)
        if username is None:
            while True:
                username = "u" + "".join(secrets.choice(string.digits) for _ in range(8))
                if hs.uid(username) not in hs.users:
                    break
        device_id = body.get("device_id")
        if device_id is not None and not isinstance(device_id, str):
            raise invalid_param("Invalid device_id")
        res = hs.create_user(username, password, device_id,
                             body.get("initial_device_display_name"),
                             login=not body.get("inhibit_login"))
        res.pop("well_known", None)
        return res


@route("GET", "login")
def r_login_flows(req):
    return {"flows": [{"type": "m.login.password"}]}


@route("POST", "login")
def r_login(req):
    hs = req.hs
    body = req.obj()
    if body.get("type") != "m.login.password":
        raise MatrixError(400, "M_UNKNOWN", "Unknown login type %s" % body.get("type"))
    ident = body.get("identifier")
    user = None
    if isinstance(ident, dict):
        if ident.get("type") != "m.id.user":
            raise MatrixError(400, "M_UNKNOWN", "Unknown identifier type")
        user = ident.get("user")
    elif "user" in body:
        user = body.get("user")
    if not isinstance(user, str) or not user:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing user")
    user_id = user if user.startswith("@") else hs.uid(user.lower())
    with hs.lock:
        u = hs.users.get(user_id)
        if u is None or body.get("password") != u.password or u.password is None:
            raise forbidden("Invalid username or password")
        device_id = body.get("device_id")
        if device_id is not None and not isinstance(device_id, str):
            raise invalid_param("Invalid device_id")
        return hs.login_device(u, device_id, body.get("initial_device_display_name"))


@route("POST", "logout")
def r_logout(req):
    user, device, tok = req.auth()
    with req.hs.lock:
        req.hs.tokens.pop(tok, None)
    return {}


@route("POST", "logout/all")
def r_logout_all(req):
    user, device, tok = req.auth()
    with req.hs.lock:
        for t in [t for t, v in req.hs.tokens.items() if v["user_id"] == user]:
            req.hs.tokens.pop(t, None)
    return {}


@route("GET", "account/whoami")
def r_whoami(req):
    user, device, _ = req.auth()
    return {"user_id": user, "device_id": device, "is_guest": False}


# -- devices and keys ------------------------------------------------------

def _device_json(u, d):
    return {"device_id": d.device_id, "display_name": d.display_name,
            "last_seen_ts": d.last_seen_ts, "last_seen_ip": "127.0.0.1"}


@route("GET", "devices")
def r_devices(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        u = req.hs.users[user]
        return {"devices": [_device_json(u, d) for d in u.devices.values()]}


@route("GET", "devices/{deviceId}")
def r_device(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        u = req.hs.users[user]
        d = u.devices.get(req.params["deviceId"])
        if d is None:
            raise not_found("Unknown device")
        return _device_json(u, d)


@route("PUT", "devices/{deviceId}")
def r_device_put(req):
    user, _, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        d = req.hs.users[user].devices.get(req.params["deviceId"])
        if d is None:
            raise not_found("Unknown device")
        if "display_name" in body:
            d.display_name = body["display_name"]
        return {}


def _delete_devices(hs, user, ids):
    u = hs.users[user]
    for i in ids:
        if u.devices.pop(i, None) is not None:
            for t in [t for t, v in hs.tokens.items() if v["user_id"] == user and v["device_id"] == i]:
                hs.tokens.pop(t)
    hs.key_changes.append((hs.bump(), user))
    hs.notify()


@route("DELETE", "devices/{deviceId}")
def r_device_delete(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        _delete_devices(req.hs, user, [req.params["deviceId"]])
    return {}


@route("POST", "delete_devices")
def r_delete_devices(req):
    user, _, _ = req.auth()
    body = req.obj()
    ids = body.get("devices")
    if not isinstance(ids, list):
        raise bad_json("devices must be a list")
    with req.hs.lock:
        _delete_devices(req.hs, user, ids)
    return {}


@route("POST", "keys/upload")
def r_keys_upload(req):
    user, device, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    with hs.lock:
        dev = hs.users[user].devices[device]
        dk = body.get("device_keys")
        if dk is not None:
            if not isinstance(dk, dict):
                raise bad_json("device_keys must be an object")
            if dk.get("user_id", user) != user or dk.get("device_id", device) != device:
                raise invalid_param("device_keys user_id/device_id mismatch")
            if dev.keys is not None and canonical_json(dev.keys) == canonical_json(dk):
                # the same keys again: keep the signatures others (cross-signing) added
                sigs = copy.deepcopy(dev.keys.get("signatures") or {})
                for signer, ss in (dk.get("signatures") or {}).items():
                    if isinstance(ss, dict):
                        sigs.setdefault(signer, {}).update(ss)
                if sigs != dev.keys.get("signatures"):
                    dev.keys = dict(dk, signatures=sigs)
                    hs.key_changes.append((hs.bump(), user))
                    hs.notify()
            elif dev.keys != dk:
                dev.keys = dk
                hs.key_changes.append((hs.bump(), user))
                hs.notify()
        otks = body.get("one_time_keys")
        if isinstance(otks, dict):
            for k, v in otks.items():
                if k in dev.one_time_keys and dev.one_time_keys[k] != v:
                    # what Synapse answers to a key ID uploaded twice with another key
                    raise MatrixError(400, "M_UNKNOWN", "One time key %s already exists. "
                                      "Old key: %s; new key: %s"
                                      % (k, json.dumps(dev.one_time_keys[k]), json.dumps(v)))
            for k, v in otks.items():
                dev.one_time_keys.setdefault(k, v)
        fbs = body.get("fallback_keys", body.get("org.matrix.msc2732.fallback_keys"))
        if isinstance(fbs, dict) and fbs:
            dev.fallback_keys = dict(fbs)
            dev.fallback_used = False
        counts = {}
        for k in dev.one_time_keys:
            alg = k.split(":", 1)[0]
            counts[alg] = counts.get(alg, 0) + 1
        counts.setdefault("signed_curve25519", 0)
        return {"one_time_key_counts": counts}


@route("POST", "keys/query")
def r_keys_query(req):
    requester, _, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    want = body.get("device_keys") or {}
    if not isinstance(want, dict):
        raise bad_json("device_keys must be an object")
    out = {}
    failures = {}
    master, self_signing, user_signing = {}, {}, {}
    with hs.lock:
        for user_id, devs in want.items():
            u = hs.users.get(user_id)
            if u is None:
                if not user_id.endswith(":" + hs.server_name):
                    failures[user_id.split(":", 1)[-1]] = {"status": 503, "message": "Not reachable"}
                out[user_id] = {}
                continue
            res = {}
            for d in u.devices.values():
                if d.keys is None or (devs and d.device_id not in devs):
                    continue
                k = copy.deepcopy(d.keys)
                unsigned = k.setdefault("unsigned", {})
                if d.display_name is not None:   # as Synapse: no name, no key (nio chokes on null)
                    unsigned["device_display_name"] = d.display_name
                res[d.device_id] = k
            out[user_id] = res
            for usage, field in (("master", master), ("self_signing", self_signing),
                                 ("user_signing", user_signing)):
                key = u.cross_signing.get(usage)
                if key is None or (usage == "user_signing" and user_id != requester):
                    continue
                k = copy.deepcopy(key)
                # others' signatures on a master key (their user-signing key's) are only
                # shown to the signer
                sigs = {s: v for s, v in (k.get("signatures") or {}).items()
                        if s in (user_id, requester)}
                if sigs or "signatures" in k:
                    k["signatures"] = sigs
                field[user_id] = k
    return {"device_keys": out, "failures": failures, "master_keys": master,
            "self_signing_keys": self_signing, "user_signing_keys": user_signing}


@route("POST", "keys/claim")
def r_keys_claim(req):
    req.auth()
    body = req.obj()
    hs = req.hs
    want = body.get("one_time_keys") or {}
    if not isinstance(want, dict):
        raise bad_json("one_time_keys must be an object")
    out = {}
    with hs.lock:
        for user_id, devs in want.items():
            u = hs.users.get(user_id)
            if u is None or not isinstance(devs, dict):
                continue
            for device_id, alg in devs.items():
                d = u.devices.get(device_id)
                if d is None:
                    continue
                key = next((k for k in sorted(d.one_time_keys) if k.split(":", 1)[0] == alg), None)
                if key is not None:
                    out.setdefault(user_id, {})[device_id] = {key: d.one_time_keys.pop(key)}
                    continue
                fb = next((k for k in sorted(d.fallback_keys) if k.split(":", 1)[0] == alg), None)
                if fb is not None:
                    d.fallback_used = True
                    out.setdefault(user_id, {})[device_id] = {fb: d.fallback_keys[fb]}
    return {"one_time_keys": out, "failures": {}}


@route("GET", "keys/changes")
def r_keys_changes(req):
    user, _, _ = req.auth()
    frm = parse_token(req.q("from"), "from")
    to = parse_token(req.q("to"), "to")
    with req.hs.lock:
        changed, left = req.hs.device_list_changes(user, frm or 0, to if to is not None else req.hs.pos)
    return {"changed": changed, "left": left}


def _uia_password(req, user, what):
    """User-interactive auth with m.login.password for `what` (an operation name the
    session is bound to).  Returns None once authenticated, else the 401 Response."""
    hs = req.hs
    body = req.obj(required=False)
    auth = body.get("auth")
    flows = {"flows": [{"stages": ["m.login.password"]}], "params": {}}
    session = auth.get("session") if isinstance(auth, dict) else None
    if session is not None and session not in hs.uia:
        raise MatrixError(400, "M_UNKNOWN", "Unknown UIA session %s" % session)
    if session is not None and (hs.uia[session]["user"] != user or
                                hs.uia[session]["what"] != what):
        raise forbidden("Requested operation has changed during the UI authentication session.")
    if not isinstance(auth, dict) or auth.get("type") is None:
        if session is None:
            session = secrets.token_urlsafe(16)
            hs.uia[session] = {"user": user, "what": what}
        return Response(401, dict(flows, session=session, completed=[]))
    if session is None:
        session = secrets.token_urlsafe(16)
        hs.uia[session] = {"user": user, "what": what}
    if auth.get("type") != "m.login.password":
        return Response(401, dict(flows, session=session, completed=[], errcode="M_UNRECOGNIZED",
                                  error="Unrecognised auth type %s" % auth.get("type")))
    ident = auth.get("identifier")
    who = None
    if isinstance(ident, dict):
        if ident.get("type") == "m.id.user":
            who = ident.get("user")
    elif isinstance(auth.get("user"), str):   # deprecated top-level "user"
        who = auth.get("user")
    if not isinstance(who, str) or not who:
        return Response(401, dict(flows, session=session, completed=[], errcode="M_MISSING_PARAM",
                                  error="Missing or unknown identifier"))
    who_id = who if who.startswith("@") else hs.uid(who.lower())
    if who_id != user:
        raise forbidden("Requested user ID does not match the logged-in user")
    u = hs.users[user]
    if u.password is None or auth.get("password") != u.password:
        return Response(401, dict(flows, session=session, completed=[], errcode="M_FORBIDDEN",
                                  error="Invalid password"))
    hs.uia.pop(session, None)
    return None


def _cs_key(obj, user, usage, field):
    """Validate a CrossSigningKey; returns its (key_id, public key)."""
    if not isinstance(obj, dict):
        raise bad_json("%s must be an object" % field)
    if obj.get("user_id") != user:
        raise invalid_param("%s: user_id must be %s" % (field, user))
    if not isinstance(obj.get("usage"), list) or usage not in obj["usage"]:
        raise invalid_param("%s: usage must contain %s" % (field, usage))
    keys = obj.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise invalid_param("%s: keys must hold exactly one key" % field)
    (key_id, pub), = keys.items()
    if not key_id.startswith("ed25519:") or not isinstance(pub, str) or key_id[8:] != pub:
        raise invalid_param("%s: the key must be \"ed25519:<public key>\": <public key>" % field)
    try:
        if len(unpadded_b64decode(pub)) != 32:
            raise ValueError
    except (ValueError, TypeError):
        raise invalid_param("%s: not an ed25519 public key" % field)
    if "signatures" in obj and not isinstance(obj["signatures"], dict):
        raise bad_json("%s: signatures must be an object" % field)
    return key_id, pub


@route("POST", "keys/device_signing/upload")
def r_device_signing(req):
    user, _, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    with hs.lock:
        u = hs.users[user]
        new = {}
        for usage, field in (("master", "master_key"), ("self_signing", "self_signing_key"),
                             ("user_signing", "user_signing_key")):
            if body.get(field) is not None:
                _cs_key(body[field], user, usage, field)
                new[usage] = body[field]
        master = new.get("master") or u.cross_signing.get("master")
        for usage in ("self_signing", "user_signing"):
            if usage not in new:
                continue
            if master is None:
                raise MatrixError(400, "M_MISSING_PARAM", "No master key available to verify "
                                  "the %s key's signature." % usage)
            mid, mpub = next(iter(master["keys"].items()))
            if not check_signature(new[usage], user, mid, mpub):
                raise MatrixError(400, "M_INVALID_SIGNATURE",
                                  "The %s key is not signed by the master key" % usage)
        # Per spec: no UIA when the request holds no new keys (an idempotent retry), and,
        # in "replace" mode (v1.11, MSC3967), when the user has no master key yet.
        changes = {k: v for k, v in new.items() if u.cross_signing.get(k) != v}
        needs_uia = bool(changes) and (hs.cross_signing_uia == "always" or
                                       "master" in u.cross_signing)
        if needs_uia:
            r = _uia_password(req, user, "device_signing_upload")
            if r is not None:
                return r
        if changes:
            u.cross_signing.update(changes)
            hs.key_changes.append((hs.bump(), user))
            hs.notify()
        return {}


def _sig_failure(errcode, error, status=400):
    return {"errcode": errcode, "error": error, "status": status}


def _add_signatures(hs, requester, target_user, key_id, obj):
    """One entry of /keys/signatures/upload.  Returns None or a failure object."""
    u = hs.users.get(target_user)
    if u is None:
        return _sig_failure("M_NOT_FOUND", "Unknown user %s" % target_user, 404)
    if not isinstance(obj, dict) or not isinstance(obj.get("signatures"), dict):
        return _sig_failure("M_BAD_JSON", "Signed object must be an object with signatures")
    master = u.cross_signing.get("master")
    if target_user == requester:
        if key_id in u.devices and u.devices[key_id].keys is not None:
            stored = u.devices[key_id].keys
            signer_usage = "self_signing"
        elif master is not None and key_id == next(iter(master["keys"].values())):
            stored = master
            signer_usage = None            # signed by one of the user's own devices
        else:
            return _sig_failure("M_NOT_FOUND", "Unknown device or key %s" % key_id, 404)
    else:
        if master is None or key_id != next(iter(master["keys"].values())):
            return _sig_failure("M_NOT_FOUND", "%s is not %s's master key" % (key_id, target_user),
                                404)
        stored = master
        signer_usage = "user_signing"
    if canonical_json(obj) != canonical_json(stored):
        return _sig_failure("M_INVALID_SIGNATURE", "The signed object does not match the "
                            "stored key")
    mine = obj["signatures"].get(requester)
    if not isinstance(mine, dict) or not mine:
        return _sig_failure("M_INVALID_SIGNATURE", "No signature by %s" % requester)
    me = hs.users[requester]
    good = {}
    for sig_key_id in mine:
        if signer_usage is not None:
            sk = me.cross_signing.get(signer_usage)
            if sk is None:
                return _sig_failure("M_MISSING_PARAM", "No %s key uploaded" % signer_usage)
            sid, spub = next(iter(sk["keys"].items()))
            if sig_key_id != sid:
                continue
        else:
            d = me.devices.get(sig_key_id.split(":", 1)[-1])
            if d is None or d.keys is None or sig_key_id not in (d.keys.get("keys") or {}):
                continue
            spub = d.keys["keys"][sig_key_id]
        if not check_signature(obj, requester, sig_key_id, spub):
            return _sig_failure("M_INVALID_SIGNATURE", "Invalid signature %s" % sig_key_id)
        good[sig_key_id] = mine[sig_key_id]
    if not good:
        return _sig_failure("M_INVALID_SIGNATURE", "No signature by a key that may sign this")
    stored.setdefault("signatures", {}).setdefault(requester, {}).update(good)
    return None


@route("POST", "keys/signatures/upload")
def r_signatures(req):
    requester, _, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    failures = {}
    with hs.lock:
        changed = set()
        for target_user, objs in body.items():
            if not isinstance(objs, dict):
                raise bad_json("%s: must map key ids to signed objects" % target_user)
            for key_id, obj in objs.items():
                f = _add_signatures(hs, requester, target_user, key_id, obj)
                if f is not None:
                    failures.setdefault(target_user, {})[key_id] = f
                else:
                    # a user-signing signature changes only the signer's view of the target
                    changed.add(target_user if target_user == requester else requester)
        for c in sorted(changed):
            hs.key_changes.append((hs.bump(), c))
        if changed:
            hs.notify()
    return {"failures": failures}


@route("PUT", "sendToDevice/{eventType}/{txnId}")
def r_send_to_device(req):
    user, device, _ = req.auth()
    body = req.obj()
    msgs = body.get("messages")
    if not isinstance(msgs, dict):
        raise bad_json("messages must be an object")
    hs = req.hs
    etype = req.params["eventType"]
    with hs.lock:
        def deliver():
            for target, devs in msgs.items():
                u = hs.users.get(target)
                if u is None or not isinstance(devs, dict):
                    continue
                for did, content in devs.items():
                    targets = list(u.devices.values()) if did == "*" else \
                        [u.devices[did]] if did in u.devices else []
                    for d in targets:
                        d.to_device.append((hs.bump(), {"sender": user, "type": etype,
                                                        "content": content}))
            hs.notify()
            return {}
        return hs.txn_once(user, device, ("sendToDevice", etype, req.params["txnId"]), deliver)


@route("GET", "room_keys/version")
def r_room_keys_version(req):
    req.auth()
    raise not_found("No current backup version")


# -- filters ---------------------------------------------------------------

@route("POST", "user/{userId}/filter")
def r_filter_post(req):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    with req.hs.lock:
        u = req.hs.users[user]
        u.filters.append(body)
        return {"filter_id": str(len(u.filters) - 1)}


@route("GET", "user/{userId}/filter/{filterId}")
def r_filter_get(req):
    user = own_user(req, req.params["userId"])
    with req.hs.lock:
        u = req.hs.users[user]
        try:
            return u.filters[int(req.params["filterId"])]
        except (ValueError, IndexError):
            raise not_found("No such filter")


def resolve_filter(hs, user, param):
    if param is None or param == "":
        return None
    if param.lstrip().startswith("{"):
        try:
            f = json.loads(param)
        except ValueError:
            raise MatrixError(400, "M_NOT_JSON", "Filter is not valid JSON")
        if not isinstance(f, dict):
            raise bad_json("Filter must be an object")
        return f
    try:
        return hs.users[user].filters[int(param)]
    except (ValueError, IndexError):
        raise invalid_param("No such filter")


# -- sync ------------------------------------------------------------------

@route("GET", "sync")
def r_sync(req):
    user, device, _ = req.auth()
    hs = req.hs
    since = parse_token(req.q("since"), "since")
    timeout = max(0, min(req.qint("timeout", 0), 300000)) / 1000.0
    full_state = req.q("full_state", "false") == "true"
    deadline = time.monotonic() + timeout
    with hs.lock:
        flt = resolve_filter(hs, user, req.q("filter"))
        if since is not None and since > hs.pos:
            since = hs.pos
        tl_since = since
        dup = hs.dup_sync
        if dup["count"] > 0 and since is not None and dup["user_id"] in (None, user):
            dup["count"] -= 1
            tl_since = hs.sync_prev.get((user, since))
            hs.stats_faults["duplicate_sync"] = hs.stats_faults.get("duplicate_sync", 0) + 1
        while True:
            resp, empty = hs.build_sync(user, device, since, tl_since, flt, full_state)
            if not empty or since is None or full_state or hs.shutting_down:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            hs.cond.wait(left)
        if len(hs.sync_prev) > 100000:
            hs.sync_prev.clear()
        hs.sync_prev[(user, parse_token(resp["next_batch"]))] = since
        return resp


# -- rooms -------------------------------------------------------------------

@route("POST", "createRoom")
def r_create_room(req):
    user, device, _ = req.auth()
    body = req.obj(required=False)
    with req.hs.lock:
        return req.hs.create_room(user, device, body)


@route("GET", "joined_rooms")
def r_joined_rooms(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        u = req.hs.users[user]
        return {"joined_rooms": sorted(r for r in u.rooms
                                       if req.hs.rooms[r].membership(user) == "join")}


def resolve_room(hs, id_or_alias):
    if id_or_alias.startswith("#"):
        rid = hs.aliases.get(id_or_alias)
        if rid is None:
            raise not_found("Room alias %s not found" % id_or_alias)
        return hs.rooms[rid]
    if not id_or_alias.startswith("!"):
        raise invalid_param("%s was not legal room ID or room alias" % id_or_alias)
    return hs.room(id_or_alias)


def _reason(body):
    r = body.get("reason")
    return r if isinstance(r, str) else None


@route("POST", "rooms/{roomId}/join")
def r_room_join(req):
    user, _, _ = req.auth()
    body = req.obj(required=False)
    with req.hs.lock:
        room = resolve_room(req.hs, req.params["roomId"])
        req.hs.do_join(room, user, _reason(body))
        return {"room_id": room.room_id}


@route("POST", "join/{roomIdOrAlias}")
def r_join(req):
    user, _, _ = req.auth()
    body = req.obj(required=False)
    with req.hs.lock:
        room = resolve_room(req.hs, req.params["roomIdOrAlias"])
        req.hs.do_join(room, user, _reason(body))
        return {"room_id": room.room_id}


@route("POST", "rooms/{roomId}/leave")
def r_leave(req):
    user, _, _ = req.auth()
    body = req.obj(required=False)
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        req.hs.do_leave(room, user, _reason(body))
        return {}


@route("POST", "rooms/{roomId}/forget")
def r_forget(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        if room.membership(user) in ("join", "invite"):
            raise MatrixError(400, "M_UNKNOWN", "User is still in the room")
        return {}


def _target(body):
    t = body.get("user_id")
    if not isinstance(t, str):
        raise MatrixError(400, "M_MISSING_PARAM", "Missing user_id")
    return t


@route("POST", "rooms/{roomId}/invite")
def r_invite(req):
    user, _, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        req.hs.do_invite(room, user, _target(body), _reason(body))
        return {}


@route("POST", "rooms/{roomId}/kick")
def r_kick(req):
    user, _, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        req.hs.do_kick(room, user, _target(body), _reason(body))
        return {}


@route("POST", "rooms/{roomId}/ban")
def r_ban(req):
    user, _, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        req.hs.do_ban(room, user, _target(body), _reason(body))
        return {}


@route("POST", "rooms/{roomId}/unban")
def r_unban(req):
    user, _, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        req.hs.do_unban(room, user, _target(body))
        return {}


@route("PUT", "rooms/{roomId}/send/{eventType}/{txnId}")
def r_send(req):
    user, device, _ = req.auth()
    body = req.obj()
    hs = req.hs
    p = req.params
    with hs.lock:
        room = hs.room(p["roomId"])
        return hs.txn_once(user, device, ("send", p["roomId"], p["eventType"], p["txnId"]),
                           lambda: {"event_id": hs.send_event(room, user, device, p["eventType"],
                                                              body, p["txnId"]).event_id})


@route("POST", "rooms/{roomId}/send/{eventType}")
def r_send_legacy(req):
    user, device, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        return {"event_id": req.hs.send_event(room, user, device, req.params["eventType"],
                                              body, None).event_id}


@route("PUT", "rooms/{roomId}/redact/{eventId}/{txnId}")
def r_redact(req):
    user, device, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    p = req.params
    with hs.lock:
        room = hs.room(p["roomId"])
        return hs.txn_once(user, device, ("redact", p["roomId"], p["eventId"], p["txnId"]),
                           lambda: {"event_id": hs.redact(room, user, device, p["eventId"],
                                                          body, p["txnId"]).event_id})


@route("POST", "rooms/{roomId}/redact/{eventId}")
def r_redact_legacy(req):
    user, device, _ = req.auth()
    body = req.obj(required=False)
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        return {"event_id": req.hs.redact(room, user, device, req.params["eventId"], body,
                                          None).event_id}


@route("PUT", "rooms/{roomId}/state/{eventType}")
def r_state_put_nokey(req):
    req.params["stateKey"] = ""
    return r_state_put(req)


@route("PUT", "rooms/{roomId}/state/{eventType}/{stateKey...}")
def r_state_put(req):
    user, device, _ = req.auth()
    body = req.obj()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        ev = req.hs.set_state(room, user, req.params["eventType"], req.params["stateKey"], body)
        return {"event_id": ev.event_id}


def _readable(hs, room, user):
    upto = hs.can_see(room, user)
    if upto is None:
        raise forbidden("User %s not in room %s" % (user, room.room_id))
    return upto


@route("GET", "rooms/{roomId}/state/{eventType}")
def r_state_get_nokey(req):
    req.params["stateKey"] = ""
    return r_state_get(req)


@route("GET", "rooms/{roomId}/state/{eventType}/{stateKey...}")
def r_state_get(req):
    user, device, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        upto = _readable(req.hs, room, user)
        st = room.state_at(upto)
        ev = st.get((req.params["eventType"], req.params["stateKey"]))
        if ev is None:
            raise not_found("Event not found.")
        if req.q("format") == "event":
            return ev.client((user, device))
        return ev.content


@route("GET", "rooms/{roomId}/state")
def r_state_all(req):
    user, device, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        upto = _readable(req.hs, room, user)
        st = room.state_at(upto)
        now = now_ms()
        return Response(200, [e.client((user, device), now=now)
                              for e in sorted(st.values(), key=lambda e: e.pos)])


@route("GET", "rooms/{roomId}/members")
def r_members(req):
    user, device, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        upto = _readable(req.hs, room, user)
        at = parse_token(req.q("at"), "at")
        st = room.state_at(min(upto, at) if at is not None else upto)
        ms = req.q("membership")
        nms = req.q("not_membership")
        out = []
        now = now_ms()
        for (t, k), ev in sorted(st.items(), key=lambda kv: kv[1].pos):
            if t != "m.room.member":
                continue
            m = ev.content.get("membership")
            if ms and m != ms:
                continue
            if nms and m == nms:
                continue
            out.append(ev.client((user, device), now=now))
        return {"chunk": out}


@route("GET", "rooms/{roomId}/joined_members")
def r_joined_members(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        _readable(req.hs, room, user)
        out = {}
        for u in room.members("join"):
            c = room.member_event(u).content
            out[u] = {"display_name": c.get("displayname"), "avatar_url": c.get("avatar_url")}
        return {"joined": out}


@route("GET", "rooms/{roomId}/event/{eventId}")
def r_event(req):
    user, device, _ = req.auth()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        upto = _readable(hs, room, user)
        t = hs.events_by_id.get(req.params["eventId"])
        if not t or t[0] != room.room_id or t[1].pos > upto:
            raise not_found("Event not found.")
        return t[1].client((user, device))


@route("GET", "rooms/{roomId}/context/{eventId}")
def r_context(req):
    user, device, _ = req.auth()
    hs = req.hs
    limit = max(0, min(req.qint("limit", 10), 100))
    with hs.lock:
        room = hs.room(req.params["roomId"])
        upto = _readable(hs, room, user)
        t = hs.events_by_id.get(req.params["eventId"])
        if not t or t[0] != room.room_id or t[1].pos > upto:
            raise not_found("Event not found.")
        ev = t[1]
        flt = resolve_filter(hs, user, req.q("filter")) or {}
        before = [e for e in room.events_between(None, ev.pos - 1) if event_filter_ok(flt, e)]
        after = [e for e in room.events_between(ev.pos, upto) if event_filter_ok(flt, e)]
        nb = limit // 2
        before = before[-nb:] if nb else []
        after = after[:limit - nb]
        viewer = (user, device)
        now = now_ms()
        start = (before[0].pos - 1) if before else ev.pos - 1
        end = after[-1].pos if after else ev.pos
        st = room.state_at(end)
        return {"event": ev.client(viewer, now=now),
                "events_before": [e.client(viewer, now=now) for e in reversed(before)],
                "events_after": [e.client(viewer, now=now) for e in after],
                "start": "s%d" % start, "end": "s%d" % end,
                "state": [e.client(viewer, now=now) for e in sorted(st.values(), key=lambda e: e.pos)]}


@route("GET", "rooms/{roomId}/messages")
def r_messages(req):
    user, device, _ = req.auth()
    hs = req.hs
    direction = req.q("dir", "b")
    if direction not in ("b", "f"):
        raise invalid_param("dir must be 'b' or 'f'")
    limit = max(0, min(req.qint("limit", 10), 1000))
    with hs.lock:
        room = hs.room(req.params["roomId"])
        upto = _readable(hs, room, user)
        flt = resolve_filter(hs, user, req.q("filter")) or {}
        frm = parse_token(req.q("from"), "from")
        to = parse_token(req.q("to"), "to")
        viewer = (user, device)
        now = now_ms()
        if direction == "b":
            start = min(frm if frm is not None else upto, upto)
            lower = to if to is not None else None
            cand = list(reversed(room.events_between(lower, start)))
        else:
            start = frm if frm is not None else 0
            upper = min(to, upto) if to is not None else upto
            cand = room.events_between(start, upper)
        chunk = []
        end = None
        consumed = 0
        for e in cand:
            if len(chunk) >= limit:
                break
            consumed += 1
            if event_filter_ok(flt, e):
                chunk.append(e)
        more = consumed < len(cand)
        if chunk or more:
            if direction == "b":
                last = cand[consumed - 1].pos if consumed else start + 1
                end = last - 1
            else:
                end = cand[consumed - 1].pos if consumed else start
        res = {"chunk": [e.client(viewer, now=now) for e in chunk], "start": "s%d" % start}
        if end is not None and (more or direction == "f"):
            res["end"] = "s%d" % end
        if flt.get("lazy_load_members") and chunk:
            st = room.state_at(upto)
            senders = {e.sender for e in chunk}
            res["state"] = [st[("m.room.member", s)].client(viewer, now=now)
                            for s in sorted(senders) if ("m.room.member", s) in st]
        return res


@route("GET", "rooms/{roomId}/relations/{eventId}")
def r_relations(req):
    return _relations(req, None, None)


@route("GET", "rooms/{roomId}/relations/{eventId}/{relType}")
def r_relations_t(req):
    return _relations(req, req.params["relType"], None)


@route("GET", "rooms/{roomId}/relations/{eventId}/{relType}/{eventType}")
def r_relations_te(req):
    return _relations(req, req.params["relType"], req.params["eventType"])


def _relations(req, rel_type, etype):
    user, device, _ = req.auth()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        upto = _readable(hs, room, user)
        out = []
        now = now_ms()
        for e in room.events_between(None, upto):
            rel = e.content.get("m.relates_to")
            if not isinstance(rel, dict) or rel.get("event_id") != req.params["eventId"]:
                continue
            if rel_type and rel.get("rel_type") != rel_type:
                continue
            if etype and e.type != etype:
                continue
            out.append(e.client((user, device), now=now))
        if req.q("dir", "b") == "b":
            out.reverse()
        return {"chunk": out}


@route("POST", "rooms/{roomId}/receipt/{receiptType}/{eventId}")
def r_receipt(req):
    user, _, _ = req.auth()
    body = req.obj(required=False)
    hs = req.hs
    rtype = req.params["receiptType"]
    if rtype not in ("m.read", "m.read.private", "m.fully_read"):
        raise invalid_param("Receipt type not supported")
    with hs.lock:
        room = hs.room(req.params["roomId"])
        hs.require_joined(room, user)
        if req.params["eventId"] not in hs.events_by_id:
            raise not_found("Event not found")
        if rtype == "m.fully_read":
            ad = room.account_data.setdefault(user, {})
            ad["m.fully_read"] = (hs.bump(), {"event_id": req.params["eventId"]})
        else:
            room.receipts.append((hs.bump(), req.params["eventId"], rtype, user, now_ms(),
                                  body.get("thread_id")))
        hs.notify()
    return {}


@route("POST", "rooms/{roomId}/read_markers")
def r_read_markers(req):
    user, _, _ = req.auth()
    body = req.obj()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        hs.require_joined(room, user)
        if isinstance(body.get("m.fully_read"), str):
            room.account_data.setdefault(user, {})["m.fully_read"] = \
                (hs.bump(), {"event_id": body["m.fully_read"]})
        for rtype in ("m.read", "m.read.private"):
            if isinstance(body.get(rtype), str):
                room.receipts.append((hs.bump(), body[rtype], rtype, user, now_ms(), None))
        hs.notify()
    return {}


@route("PUT", "rooms/{roomId}/typing/{userId}")
def r_typing(req):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        hs.require_joined(room, user)
        if body.get("typing"):
            room.typing[user] = now_ms() + max(0, min(to_int(body.get("timeout"), 30000), 120000))
        else:
            room.typing.pop(user, None)
        room.typing_pos = hs.bump()
        hs.notify()
    return {}


@route("GET", "rooms/{roomId}/aliases")
def r_room_aliases(req):
    user, _, _ = req.auth()
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        _readable(req.hs, room, user)
        return {"aliases": sorted(room.aliases)}


@route("GET", "directory/room/{alias}")
def r_dir_get(req):
    with req.hs.lock:
        rid = req.hs.aliases.get(req.params["alias"])
        if rid is None:
            raise not_found("Room alias %s not found" % req.params["alias"])
        return {"room_id": rid, "servers": [req.hs.server_name]}


@route("PUT", "directory/room/{alias}")
def r_dir_put(req):
    req.auth()
    body = req.obj()
    alias = req.params["alias"]
    with req.hs.lock:
        if not alias.startswith("#") or not alias.endswith(":" + req.hs.server_name):
            raise invalid_param("Invalid alias")
        if alias in req.hs.aliases:
            raise MatrixError(409, "M_UNKNOWN", "Room alias %s already exists" % alias)
        room = req.hs.room(body.get("room_id", ""))
        req.hs.aliases[alias] = room.room_id
        room.aliases.add(alias)
    return {}


@route("DELETE", "directory/room/{alias}")
def r_dir_delete(req):
    req.auth()
    with req.hs.lock:
        rid = req.hs.aliases.pop(req.params["alias"], None)
        if rid is None:
            raise not_found("Room alias not found")
        req.hs.rooms[rid].aliases.discard(req.params["alias"])
    return {}


@route("GET", "directory/list/room/{roomId}")
def r_dir_visibility(req):
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        jr = room.state.get(("m.room.join_rules", ""))
        return {"visibility": "public" if jr and jr.content.get("join_rule") == "public" else "private"}


@route("GET", "publicRooms")
def r_public_rooms(req):
    hs = req.hs
    with hs.lock:
        chunk = []
        for room in hs.rooms.values():
            jr = room.state.get(("m.room.join_rules", ""))
            if not jr or jr.content.get("join_rule") != "public":
                continue
            name = room.state.get(("m.room.name", ""))
            topic = room.state.get(("m.room.topic", ""))
            ca = room.state.get(("m.room.canonical_alias", ""))
            e = {"room_id": room.room_id, "num_joined_members": len(room.members("join")),
                 "world_readable": False, "guest_can_join": False, "join_rule": "public"}
            if name:
                e["name"] = name.content.get("name")
            if topic:
                e["topic"] = topic.content.get("topic")
            if ca and ca.content.get("alias"):
                e["canonical_alias"] = ca.content.get("alias")
            chunk.append(e)
        return {"chunk": chunk, "total_room_count_estimate": len(chunk)}


# -- account data, profile, presence, misc -------------------------------------

@route("PUT", "user/{userId}/account_data/{type}")
def r_account_data_put(req):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    hs = req.hs
    with hs.lock:
        hs.users[user].account_data[req.params["type"]] = (hs.bump(), body)
        hs.notify()
    return {}


@route("GET", "user/{userId}/account_data/{type}")
def r_account_data_get(req):
    user = own_user(req, req.params["userId"])
    with req.hs.lock:
        v = req.hs.users[user].account_data.get(req.params["type"])
        if v is None:
            raise not_found("Account data not found")
        return v[1]


@route("PUT", "user/{userId}/rooms/{roomId}/account_data/{type}")
def r_room_account_data_put(req):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        room.account_data.setdefault(user, {})[req.params["type"]] = (hs.bump(), body)
        hs.notify()
    return {}


@route("GET", "user/{userId}/rooms/{roomId}/account_data/{type}")
def r_room_account_data_get(req):
    user = own_user(req, req.params["userId"])
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        v = room.account_data.get(user, {}).get(req.params["type"])
        if v is None:
            raise not_found("Room account data not found")
        return v[1]


@route("GET", "user/{userId}/rooms/{roomId}/tags")
def r_tags(req):
    user = own_user(req, req.params["userId"])
    with req.hs.lock:
        room = req.hs.room(req.params["roomId"])
        v = room.account_data.get(user, {}).get("m.tag")
        return {"tags": (v[1].get("tags", {}) if v else {})}


@route("PUT", "user/{userId}/rooms/{roomId}/tags/{tag}")
def r_tag_put(req):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        ad = room.account_data.setdefault(user, {})
        tags = dict(ad.get("m.tag", (0, {"tags": {}}))[1].get("tags", {}))
        tags[req.params["tag"]] = body
        ad["m.tag"] = (hs.bump(), {"tags": tags})
        hs.notify()
    return {}


@route("DELETE", "user/{userId}/rooms/{roomId}/tags/{tag}")
def r_tag_delete(req):
    user = own_user(req, req.params["userId"])
    hs = req.hs
    with hs.lock:
        room = hs.room(req.params["roomId"])
        ad = room.account_data.setdefault(user, {})
        tags = dict(ad.get("m.tag", (0, {"tags": {}}))[1].get("tags", {}))
        tags.pop(req.params["tag"], None)
        ad["m.tag"] = (hs.bump(), {"tags": tags})
        hs.notify()
    return {}


def _profile_user(hs, user_id):
    u = hs.users.get(user_id)
    if u is None:
        raise not_found("Profile was not found")
    return u


@route("GET", "profile/{userId}")
def r_profile(req):
    with req.hs.lock:
        u = _profile_user(req.hs, req.params["userId"])
        d = {"displayname": u.displayname}
        if u.avatar_url:
            d["avatar_url"] = u.avatar_url
        return d


@route("GET", "profile/{userId}/displayname")
def r_profile_dn(req):
    with req.hs.lock:
        return {"displayname": _profile_user(req.hs, req.params["userId"]).displayname}


@route("GET", "profile/{userId}/avatar_url")
def r_profile_av(req):
    with req.hs.lock:
        u = _profile_user(req.hs, req.params["userId"])
        if u.avatar_url is None:
            return {}
        return {"avatar_url": u.avatar_url}


def _profile_set(req, field):
    user = own_user(req, req.params["userId"])
    body = req.obj()
    val = body.get(field)
    if val is not None and not isinstance(val, str):
        raise bad_json("%s must be a string" % field)
    hs = req.hs
    with hs.lock:
        u = hs.users[user]
        setattr(u, field, val)
        for rid in sorted(u.rooms):
            room = hs.rooms[rid]
            if room.membership(user) == "join":
                hs.append_event(room, user, "m.room.member", hs.profile_content(user, "join"),
                                state_key=user)
    return {}


@route("PUT", "profile/{userId}/displayname")
def r_profile_dn_put(req):
    return _profile_set(req, "displayname")


@route("PUT", "profile/{userId}/avatar_url")
def r_profile_av_put(req):
    return _profile_set(req, "avatar_url")


@route("PUT", "presence/{userId}/status")
def r_presence_put(req):
    own_user(req, req.params["userId"])
    req.obj(required=False)
    return {}


@route("GET", "presence/{userId}/status")
def r_presence_get(req):
    req.auth()
    with req.hs.lock:
        _profile_user(req.hs, req.params["userId"])
    return {"presence": "online", "currently_active": True, "last_active_ago": 0}


@route("GET", "pushrules/")
def r_pushrules(req):
    req.auth()
    return {"global": {"override": [], "content": [], "room": [], "sender": [], "underride": []}}


@route("GET", "pushrules")
def r_pushrules2(req):
    return r_pushrules(req)


@route("GET", "pushrules/{rest...}")
def r_pushrules_any(req):
    req.auth()
    raise not_found("Unknown push rule")


@route("PUT", "pushrules/{rest...}")
def r_pushrules_put(req):
    req.auth()
    req.json(required=False)
    return {}


@route("DELETE", "pushrules/{rest...}")
def r_pushrules_delete(req):
    req.auth()
    return {}


@route("GET", "pushers")
def r_pushers(req):
    req.auth()
    return {"pushers": []}


@route("POST", "pushers/set")
def r_pushers_set(req):
    req.auth()
    req.obj()
    return {}


@route("GET", "voip/turnServer")
def r_turn(req):
    req.auth()
    return {}


@route("GET", "thirdparty/protocols")
def r_thirdparty(req):
    req.auth()
    return {}


@route("POST", "user_directory/search")
def r_user_dir(req):
    req.auth()
    body = req.obj()
    term = str(body.get("search_term", "")).lower()
    try:
        limit = int(body.get("limit", 10))
    except (TypeError, ValueError):
        limit = 10
    with req.hs.lock:
        res = [{"user_id": u.user_id, "display_name": u.displayname, "avatar_url": u.avatar_url}
               for u in sorted(req.hs.users.values(), key=lambda u: u.user_id)
               if term in u.user_id.lower() or term in (u.displayname or "").lower()]
    return {"results": res[:limit], "limited": len(res) > limit}


@route("POST", "user/{userId}/openid/request_token")
def r_openid(req):
    own_user(req, req.params["userId"])
    return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
            "matrix_server_name": req.hs.server_name, "expires_in": 3600}


# -- media ---------------------------------------------------------------

@route("GET", "media/config")
def r_media_config(req):
    return {"m.upload.size": req.hs.max_body}


@route("POST", "media/upload")
def r_media_upload(req):
    req.auth()
    hs = req.hs
    mid = secrets.token_urlsafe(16)
    with hs.lock:
        hs.media[mid] = (req.headers.get("Content-Type", "application/octet-stream"),
                         req.body or b"", req.q("filename"))
    return {"content_uri": "mxc://%s/%s" % (hs.server_name, mid)}


@route("POST", "media/create")
def r_media_create(req):
    req.auth()
    hs = req.hs
    mid = secrets.token_urlsafe(16)
    with hs.lock:
        hs.media[mid] = ("application/octet-stream", b"", None)
    return {"content_uri": "mxc://%s/%s" % (hs.server_name, mid)}


def _media(req):
    hs = req.hs
    with hs.lock:
        m = hs.media.get(req.params["mediaId"])
    if m is None or req.params["serverName"] != hs.server_name:
        raise not_found("Media not found")
    return Response(200, m[1], content_type=m[0])


@route("GET", "media/download/{serverName}/{mediaId}")
def r_media_download(req):
    return _media(req)


@route("GET", "media/download/{serverName}/{mediaId}/{fileName}")
def r_media_download_fn(req):
    return _media(req)


@route("GET", "media/thumbnail/{serverName}/{mediaId}")
def r_media_thumb(req):
    return _media(req)


@route("GET", "media/preview_url")
def r_media_preview(req):
    req.auth()
    return {}


# --------------------------------------------------------------------------
# Test-control API
# --------------------------------------------------------------------------

FAULT_ACTIONS = ("429", "500", "502", "drop", "slow", "close_after_headers")


class FaultRule:
    def __init__(self, d, idx):
        if not isinstance(d, dict):
            raise bad_json("Each fault rule must be an object")
        self.spec = d
        self.idx = idx
        try:
            self.re = re.compile(str(d.get("match", "")))
        except re.error as e:
            raise invalid_param("Bad match regex: %s" % e)
        self.action = str(d.get("action", ""))
        if self.action not in FAULT_ACTIONS:
            raise invalid_param("action must be one of %s" % ", ".join(FAULT_ACTIONS))
        try:
            self.count = int(d.get("count", 1))
            self.retry_after_ms = int(d.get("retry_after_ms", 1000))
            self.delay_ms = int(d.get("delay_ms", 1000 if self.action == "slow" else 0))
            self.probability = float(d.get("probability", 1.0))
        except (TypeError, ValueError):
            raise invalid_param("count, retry_after_ms, delay_ms must be integers, "
                                "probability a number")
        self.retry_after_header = bool(d.get("retry_after_header", False))
        # "user_id": only requests whose access token belongs to this user
        self.user_id = d.get("user_id")
        if self.user_id is not None and not isinstance(self.user_id, str):
            raise invalid_param("user_id must be a string")
        self.process = bool(d.get("process", self.action == "close_after_headers"))
        self.hits = 0

    def describe(self):
        d = dict(self.spec)
        d.update({"remaining": self.count, "hits": self.hits})
        return d


def token_owner(hs, headers):
    ah = headers.get("Authorization") or ""
    parts = ah.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    with hs.lock:
        t = hs.tokens.get(parts[1].strip())
        return t["user_id"] if t else None


def fault_for(hs, method, raw_path, headers=None):
    line = "%s %s" % (method, raw_path)
    owner = token_owner(hs, headers) if headers is not None else None
    with hs.fault_lock:
        for rule in hs.faults:
            if rule.count == 0:
                continue
            if not rule.re.search(line):
                continue
            if rule.user_id is not None and rule.user_id != owner:
                continue
            if rule.probability < 1.0 and hs.rng.random() >= rule.probability:
                continue
            if rule.count > 0:
                rule.count -= 1
            rule.hits += 1
            hs.stats_faults[rule.action] = hs.stats_faults.get(rule.action, 0) + 1
            return rule
    return None


def test_api(req, api_path):
    hs = req.hs
    segs = [urllib.parse.unquote(x) for x in api_path.split("/")]
    m = req.method
    if segs == ["faults"]:
        if m == "GET":
            with hs.fault_lock:
                return {"rules": [r.describe() for r in hs.faults]}
        if m == "DELETE":
            with hs.fault_lock:
                hs.faults = []
            return {}
        if m == "POST":
            j = req.json()
            if isinstance(j, dict):
                j = j.get("rules", [j]) if "rules" in j or "action" in j else []
            if not isinstance(j, list):
                raise bad_json("Expected a list of rules")
            with hs.fault_lock:
                base = hs.faults if req.q("append") in ("1", "true") else []
                rules = [FaultRule(d, len(base) + i) for i, d in enumerate(j)]
                hs.faults = base + rules
                return {"rules": len(hs.faults)}
    elif segs == ["invalidate_token"] and m == "POST":
        body = req.obj()
        n = 0
        with hs.lock:
            for t, v in hs.tokens.items():
                if (v["user_id"] == body.get("user_id") or t == body.get("access_token")) and v["valid"]:
                    v["valid"] = False
                    n += 1
        return {"invalidated": n}
    elif segs == ["clock"] and m == "POST":
        body = req.obj()
        if "offset_ms" in body:
            o = body["offset_ms"]
            if not isinstance(o, int) or isinstance(o, bool) or abs(o) > 100 * 365 * 86400000:
                raise invalid_param("offset_ms must be an integer (ms, within 100 years)")
            FIXED_CLOCK["offset_ms"] = o
            FIXED_CLOCK["now_ms"] = None
            return {}
        v = body.get("now_ms")
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise invalid_param("now_ms must be a non-negative integer or null")
        FIXED_CLOCK["now_ms"] = v
        return {}
    elif segs == ["duplicate_sync"] and m == "POST":
        body = req.obj()
        try:
            count = int(body.get("count", 1))
        except (TypeError, ValueError):
            raise invalid_param("count must be an integer")
        with hs.lock:
            hs.dup_sync = {"count": count, "user_id": body.get("user_id")}
        return {}
    elif segs == ["rooms"] and m == "GET":
        with hs.lock:
            return {"rooms": sorted(hs.rooms)}
    elif segs == ["bulk_rooms"] and m == "POST":
        # benchmarks only (tests/bench/matrix-bench.py --big-rooms): count rooms
        # made at once as createRoom makes them, each joined by the users of
        # "join" (no invite, no /join round trip): generated state for a
        # client that starts in thousands of rooms
        body = req.obj()
        count, creator, join = body.get("count"), body.get("creator"), body.get("join") or []
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= 100000:
            raise invalid_param("count must be an integer from 1 to 100000")
        if not isinstance(join, list) or not all(isinstance(u, str) for u in join):
            raise bad_json("join must be a list of user ids")
        name = body.get("name") if isinstance(body.get("name"), str) else "bulk"
        rooms = []
        with hs.lock:
            if not isinstance(creator, str) or creator not in hs.users:
                raise invalid_param("creator must be a registered user id")
            for i in range(count):
                room = hs.rooms[hs.create_room(creator, None,
                                               {"name": "%s %d" % (name, i)})["room_id"]]
                for u in join:
                    hs.append_event(room, u, "m.room.member", hs.profile_content(u, "join"),
                                    state_key=u)
                rooms.append(room.room_id)
        return {"rooms": rooms}
    elif len(segs) == 3 and segs[0] == "rooms" and segs[2] == "events":
        with hs.lock:
            room = hs.room(segs[1])
            if m == "GET":
                now = now_ms()
                return {"room_id": room.room_id,
                        "events": [e.client(e.txn[:2] if e.txn else None, now=now)
                                   for e in room.timeline]}
            if m == "POST":
                body = req.obj()
                if not isinstance(body.get("sender"), str) or not isinstance(body.get("type"), str) \
                        or not isinstance(body.get("content"), dict):
                    raise bad_json("Need sender, type, content")
                sk = body.get("state_key")
                ev = hs.append_event(room, body["sender"], body["type"], body["content"],
                                     state_key=sk if isinstance(sk, str) else None)
                return {"event_id": ev.event_id}
    elif segs == ["stats"]:
        if m == "DELETE":
            with hs.lock:
                hs.stats, hs.stats_status, hs.stats_faults, hs.unrecognized = {}, {}, {}, []
            return {}
        if m == "GET":
            with hs.lock:
                return {"requests": dict(hs.stats),
                        "total_requests": sum(hs.stats.values()),
                        "responses": dict(hs.stats_status),
                        "faults_injected": sum(v for k, v in hs.stats_faults.items()
                                               if k != "duplicate_sync"),
                        "faults": dict(hs.stats_faults),
                        "unrecognized": list(hs.unrecognized)}
    raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized test request")


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

CLIENT_PREFIX = re.compile(r"^/_matrix/client/(?:r0|v3|v1|unstable)/")
MEDIA_PREFIX = re.compile(r"^/_matrix/(?:media/(?:r0|v3|v1)|client/v1/media)/")


class BodyTooLarge(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this the peer's delayed ACK
    # holds the body back ~40 ms on every request
    disable_nagle_algorithm = True
    server_version = "gavel-test-homeserver/1"
    timeout = 600

    def log_message(self, fmt, *args):
        if self.server.verbose:
            log("%s %s" % (self.address_string(), fmt % args))

    def log_error(self, fmt, *args):
        if self.server.verbose:
            log("error: " + fmt % args)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def do_OPTIONS(self):
        self.send_response_only(204)
        self.cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def cors(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
        self.send_header("Access-Control-Allow-Headers",
                         "X-Requested-With, Content-Type, Authorization")

    # body ----------------------------------------------------------------
    def read_body(self):
        cap = self.server.hs.max_body
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("truncated chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                if len(out) + size > cap:
                    raise BodyTooLarge()
                out += self.rfile.read(size)
                self.rfile.readline(3)
            return bytes(out)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        n = int(cl)
        if n < 0:
            raise ValueError("negative Content-Length")
        if n > cap:
            # Read and discard it (within reason) so the client can read our 413
            # instead of getting a broken pipe mid-upload.
            if n <= 64 * cap:
                left = n
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
            raise BodyTooLarge()
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError("truncated body")
        return data

    # response --------------------------------------------------------------
    def send(self, resp, headers_only=False):
        data, ctype = resp.encode()
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, no-store, must-revalidate")
            self.cors()
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if headers_only:
                self.wfile.flush()
                self.close_connection = True
                return
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    def count(self, key, status):
        hs = self.server.hs
        with hs.lock:
            hs.stats[key] = hs.stats.get(key, 0) + 1
            hs.stats_status[str(status)] = hs.stats_status.get(str(status), 0) + 1

    # dispatch --------------------------------------------------------------
    def dispatch(self):
        hs = self.server.hs
        method = self.command
        split = urllib.parse.urlsplit(self.path)
        raw_path = split.path
        query = {}
        for k, v in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(k, v)
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.close_connection = True
            self.count("%s (too large)" % method, 413)
            return self.send(Response(413, {"errcode": "M_TOO_LARGE",
                                            "error": "Request body too large"}))
        except ValueError:
            self.close_connection = True
            self.count("%s (bad body)" % method, 400)
            return self.send(Response(400, {"errcode": "M_BAD_JSON",
                                            "error": "Malformed request body"}))

        if raw_path.startswith("/_test/"):
            req = Request(hs, method, raw_path, raw_path, query, self.headers, body)
            try:
                out = test_api(req, raw_path[len("/_test/"):].rstrip("/"))
                resp = out if isinstance(out, Response) else Response(200, out)
            except MatrixError as e:
                resp = Response(e.status, e.body())
            except Exception:
                log("internal error in %s %s\n%s" % (method, raw_path, traceback.format_exc()))
                resp = Response(500, {"errcode": "M_UNKNOWN", "error": "Internal error"})
            return self.send(resp)

        rule = fault_for(hs, method, raw_path, self.headers)
        fault_key = "%s %s" % (method, raw_path)
        if rule is not None and not rule.process:
            _, _, chosen, fault_key = self.resolve(method, raw_path)
        if rule is not None:
            if self.server.verbose:
                log("fault %s on %s %s" % (rule.action, method, raw_path))
            if rule.delay_ms > 0:
                time.sleep(rule.delay_ms / 1000.0)
            if rule.action == "slow":
                rule = None
        key, resp = self.handle_api(method, raw_path, query, body) \
            if rule is None or rule.process else (fault_key, None)
        if rule is None:
            self.count(key, resp.status)
            return self.send(resp)
        self.count(key, "fault-" + rule.action)
        if rule.action == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if rule.action == "close_after_headers":
            self.close_connection = True
            return self.send(resp, headers_only=True)
        if rule.action == "429":
            r = Response(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
                               "retry_after_ms": rule.retry_after_ms})
            if rule.retry_after_header:
                r.headers["Retry-After"] = str(max(0, -(-rule.retry_after_ms // 1000)))
            return self.send(r)
        if rule.action == "500":
            return self.send(Response(500, {"errcode": "M_UNKNOWN",
                                            "error": "Internal server error (injected)"}))
        if rule.action == "502":
            return self.send(Response(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>\n",
                                      content_type="text/html"))

    def resolve(self, method, raw_path):
        """(api path or None, decoded segments, chosen routes, stats key)."""
        if raw_path == "/_matrix/client/versions":
            api = "versions"
        elif raw_path == "/.well-known/matrix/client":
            api = ".well-known/matrix/client"
        elif MEDIA_PREFIX.match(raw_path):
            api = "media/" + MEDIA_PREFIX.sub("", raw_path, count=1)
        elif CLIENT_PREFIX.match(raw_path):
            api = CLIENT_PREFIX.sub("", raw_path, count=1)
        else:
            api = None
        key = "%s %s" % (method, raw_path)
        if api is None:
            return None, [], None, key
        segs = [urllib.parse.unquote(s) for s in api.split("/")]
        matches = match_route_segs(segs)
        if not matches:
            return api, segs, None, key
        chosen = [mt for mt in matches if mt[0] == method or (method == "HEAD" and mt[0] == "GET")]
        if not chosen:
            return api, segs, [], "%s /%s" % (method, matches[0][1])
        return api, segs, chosen, "%s /%s" % (method, chosen[0][1])

    def handle_api(self, method, raw_path, query, body):
        hs = self.server.hs
        api, segs, chosen, key = self.resolve(method, raw_path)
        try:
            if chosen is None:
                raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
            if not chosen:
                raise MatrixError(405, "M_UNRECOGNIZED", "Unrecognized request")
            _, template, fn, params = chosen[0]
            req = Request(hs, method, "/".join(segs), raw_path, query, self.headers, body)
            req.params = params
            out = fn(req)
            resp = out if isinstance(out, Response) else Response(200, out)
        except MatrixError as e:
            resp = Response(e.status, e.body(), headers=e.headers)
            if e.errcode == "M_UNRECOGNIZED":
                log("unrecognized %s %s" % (method, raw_path))
                with hs.lock:
                    if len(hs.unrecognized) < 1000:
                        hs.unrecognized.append("%s %s" % (method, raw_path))
        except Exception:
            log("internal error in %s %s\n%s" % (method, raw_path, traceback.format_exc()))
            resp = Response(500, {"errcode": "M_UNKNOWN", "error": "Internal server error"})
        return key, resp


def match_route_segs(segs):
    out = []
    for method, template, tsegs, fn in ROUTES:
        params = {}
        i = 0
        ok = True
        for t in tsegs:
            if t.startswith("{") and t.endswith("...}"):
                if i >= len(segs):
                    ok = False
                    break
                params[t[1:-4]] = "/".join(segs[i:])
                i = len(segs)
                break
            if i >= len(segs):
                ok = False
                break
            if t.startswith("{") and t.endswith("}"):
                params[t[1:-1]] = segs[i]
            elif t != segs[i]:
                ok = False
                break
            i += 1
        if ok and i == len(segs):
            out.append((method, template, fn, params))
    return out


# "pushrules/" is requested with a trailing slash: make the template match it
ROUTES[:] = [(m, t, (t.split("/") if t.endswith("/") else ts), f) for (m, t, ts, f) in ROUTES]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, BrokenPipeError)):
            return
        log("connection error from %s: %s" % (client_address, traceback.format_exc()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--cross-signing-uia", choices=("always", "replace"), default="always",
                    help="when /keys/device_signing/upload asks for the password: for any new "
                         "key (default), or only to replace keys (spec v1.11, MSC3967)")
    ap.add_argument("--no-watch-parent", action="store_true",
                    help="keep running when the process that started us exits")
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        ap.error("the test homeserver only listens on loopback")

    hs = Homeserver(args.server_name, args.seed)
    hs.max_body = args.max_body_bytes
    hs.cross_signing_uia = args.cross_signing_uia
    server = Server((args.host, args.port), Handler)
    server.hs = hs
    server.verbose = args.verbose
    port = server.server_address[1]
    hs.base_url = "http://127.0.0.1:%d" % port

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    print("LISTENING %d" % port, flush=True)
    ppid = os.getppid()
    while not stop.wait(0.5):
        if not args.no_watch_parent and os.getppid() != ppid:
            log("parent process went away; exiting")
            break
    with hs.lock:
        hs.shutting_down = True
        hs.notify()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
