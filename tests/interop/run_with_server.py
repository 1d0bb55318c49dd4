#!/usr/bin/env python3
"""Start the test homeserver on a random port, run a client test against it, stop it.

    run_with_server.py [--timeout S] [--homeserver PATH] [--seed N] [--stats]
                       [--server-arg=ARG ...] -- CMD [ARG...]

The homeserver URL (http://127.0.0.1:PORT) is appended to CMD's arguments, or
substituted for any argument that is exactly "{url}"; it is also exported as
$HOMESERVER_URL.  The server is always stopped (SIGTERM, then SIGKILL), also
when the client times out or this runner is interrupted.  Exit status: the
client's (77 = skipped passes through), 1 on timeout or server start failure.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_HS = os.path.join(os.path.dirname(HERE), "homeserver", "homeserver.py")


class Interrupted(Exception):
    pass


def start_server(path, seed, extra):
    proc = subprocess.Popen([sys.executable, path, "--port", "0", "--seed", str(seed)] + extra,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    port = []

    def reader():
        for line in proc.stdout:
            line = line.decode("utf-8", "replace").strip()
            if line.startswith("LISTENING ") and not port:
                port.append(int(line.split()[1]))
                break

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(15)
    if not port:
        stop(proc)
        raise RuntimeError("homeserver did not print LISTENING within 15 s")
    return proc, port[0]


def stop(proc, grace=5.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def report_unrecognized(url, full=False):
    try:
        with urllib.request.urlopen(url + "/_test/stats", timeout=5) as r:
            stats = json.load(r)
    except Exception:
        return
    if full:
        print("run_with_server: requests by endpoint:", file=sys.stderr)
        for k, v in sorted(stats.get("requests", {}).items()):
            print("  %5d  %s" % (v, k), file=sys.stderr)
        print("run_with_server: responses by status: %s" % json.dumps(stats.get("responses")),
              file=sys.stderr)
    if stats.get("unrecognized"):
        print("run_with_server: endpoints the homeserver did not recognise:", file=sys.stderr)
        for u in sorted(set(stats["unrecognized"])):
            print("  " + u, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--homeserver", default=DEFAULT_HS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra homeserver.py argument (repeatable), e.g. --server-arg=--verbose")
    ap.add_argument("--stats", action="store_true",
                    help="print the homeserver's per-endpoint request counts at the end")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        ap.error("no client command given")

    def on_signal(signum, frame):
        raise Interrupted("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = client = None
    try:
        server, port = start_server(args.homeserver, args.seed, args.server_arg)
        url = "http://127.0.0.1:%d" % port
        if "{url}" in cmd:
            cmd = [url if a == "{url}" else a for a in cmd]
        else:
            cmd = cmd + [url]
        env = dict(os.environ, HOMESERVER_URL=url)
        t0 = time.monotonic()
        client = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            rc = client.wait(args.timeout)
        except subprocess.TimeoutExpired:
            print("run_with_server: client timed out after %.0f s: %s" % (args.timeout, cmd),
                  file=sys.stderr)
            rc = 1
        else:
            print("run_with_server: client exited %d after %.1f s" % (rc, time.monotonic() - t0),
                  file=sys.stderr)
        report_unrecognized(url, args.stats)
        return rc
    except Interrupted as e:
        print("run_with_server: interrupted (%s)" % e, file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as e:
        print("run_with_server: %s" % e, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop(client, grace=2.0)
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
