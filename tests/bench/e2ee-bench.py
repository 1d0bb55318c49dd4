#!/usr/bin/python3
"""tests/bench/e2ee-bench.py - what encryption adds to a command's round trip through gavel.

    tests/interop/run_with_server.py -- /usr/bin/python3 tests/bench/e2ee-bench.py \\
        --gavel build/gavel [--rounds 200] URL

One nio client (libolm) asks `!agenda` in a plain room and in a Megolm room, in
alternating blocks of 20, and waits for each reply (decrypted, in the encrypted
room) before the next. Reported per room: the command->reply time as this client
sees it (p50, p95: the client's own Megolm encrypt/decrypt is in the encrypted
numbers too) and gavel's CPU time per command (from /proc: its decrypt, encrypt and
the rest of the round). A benchmark: numbers, no assertions.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "matrix"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "homeserver"))

from e2ee import ROOM_ENC, Person   # noqa: E402
from scenario import BOT, Gavel, api, room_events   # noqa: E402

BLOCK = 20


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


async def wait_for(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.0005)
    return False


async def run(url, gavel_bin, tmp, rounds):
    alice = Person(url, "alice", tmp)
    await alice.register()
    api(url, "POST", "/_matrix/client/v3/register",
        {"username": "gavel", "password": "bot-password", "auth": {"type": "m.login.dummy"},
         "inhibit_login": True})
    plain = (await alice.client.room_create(name="plain", invite=[BOT])).room_id
    enc = (await alice.client.room_create(name="megolm", invite=[BOT],
                                          initial_state=[dict(ROOM_ENC, content={
                                              "algorithm": "m.megolm.v1.aes-sha2"})])).room_id
    work = os.path.join(tmp, "gavel")
    os.makedirs(work)
    with open(os.path.join(work, "pickle_key"), "w") as f:
        f.write(os.urandom(32).hex())
    gavel = Gavel(gavel_bin, url, work, {"allow_invites_from": [alice.user_id],
                                         "pickle_key_file": "pickle_key", "log_level": "warning",
                                         "sync_timeout_ms": 30000, "room_send_per_s": 1000})
    gavel.start()
    try:
        def joined(room):
            return any(e["type"] == "m.room.member" and e.get("state_key") == BOT and
                       e["content"].get("membership") == "join" for e in room_events(url, room))
        if not await wait_for(lambda: joined(plain) and joined(enc), 30):
            print("gavel did not join: %s" % gavel.logtext()[-2000:])
            return 1

        async def ask(room):
            q = await alice.send(room, "!agenda")
            ok = await wait_for(lambda: any(
                ((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {})
                .get("event_id") == q for e in alice.bot_events(room).values()))
            if not ok:
                raise RuntimeError("no reply in %s: %s" % (room, gavel.logtext()[-1500:]))

        for room in (plain, enc, plain, enc):       # warm up: the first share, caches
            await ask(room)
        times = {plain: [], enc: []}
        cpu = {plain: 0.0, enc: 0.0}
        done = 0
        while done < rounds:
            for room in (plain, enc):
                c0 = cpu_ms(gavel.proc.pid)
                for _ in range(BLOCK):
                    t0 = time.perf_counter()
                    await ask(room)
                    times[room].append((time.perf_counter() - t0) * 1000.0)
                cpu[room] += cpu_ms(gavel.proc.pid) - c0
            done += BLOCK
        print("| room | commands | command->reply p50 | p95 | gavel CPU per command |")
        print("|---|---|---|---|---|")
        for name, room in (("plain", plain), ("Megolm", enc)):
            t = times[room]
            print("| %s | %d | %.2f ms | %.2f ms | %.0f us |" % (
                name, len(t), pct(t, 50), pct(t, 95), cpu[room] * 1000.0 / len(t)))
        p, e = times[plain], times[enc]
        print("encryption adds %.2f ms at p50 (%.2fx) and %.0f us of gavel's CPU per command "
              "(%.2fx)" % (pct(e, 50) - pct(p, 50), pct(e, 50) / pct(p, 50),
                           (cpu[enc] - cpu[plain]) * 1000.0 / len(e),
                           cpu[enc] / cpu[plain] if cpu[plain] else float("nan")))
        return 0
    finally:
        gavel.stop()
        await alice.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", required=True)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("url")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gavel-e2ee-bench-")
    try:
        return await run(a.url, os.path.abspath(a.gavel), tmp, a.rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
