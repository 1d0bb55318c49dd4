"""Drive a matrix-js-sdk client with Rust crypto (tests/interop/js-peer.mjs) from Python.

    peer = JsPeer(url, name="erin")           # starts node
    peer.call("start", user="erin", password="pw", cross_sign=True)
    peer.call("join", room=room_id)
    peer.call("wait", room=room_id, contains="hello", timeout_ms=20000)
    peer.close()                              # always; also on errors

Every call has a deadline; a failed call raises PeerError with the peer's message.
"""

import json
import os
import queue
import shutil
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "js-peer.mjs")


class PeerError(Exception):
    pass


def node_path():
    return shutil.which("node")


def available():
    """None when a js peer can run, else why not."""
    if not node_path():
        return "node is not installed"
    for d in ("matrix-js-sdk", os.path.join("@matrix-org", "matrix-sdk-crypto-wasm")):
        if not os.path.isdir(os.path.join(HERE, "node_modules", d)):
            return "tests/interop/node_modules/%s is missing; run `npm ci` in tests/interop" % d
    return None


class JsPeer:
    def __init__(self, url, name="js", log=None):
        self.name = name
        self.n = 0
        self.log = log
        self.proc = subprocess.Popen([node_path(), PEER, url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.answers = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                self.stderr.append("(stdout) " + line.decode("utf-8", "replace"))
        self.answers.put(None)

    def _drain(self):
        for line in self.proc.stderr:
            line = line.decode("utf-8", "replace").rstrip()
            self.stderr.append(line)
            if self.log:
                self.log("[%s] %s" % (self.name, line))

    def call(self, op, timeout=30.0, **args):
        self.n += 1
        req = dict(args, op=op, id=self.n)
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise PeerError("%s: js peer is gone (%s)" % (self.name, self.tail()))
        try:
            ans = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise PeerError("%s: no answer to %s within %.0f s" % (self.name, op, timeout))
        if ans is None:
            raise PeerError("%s: js peer exited during %s (%s)" % (self.name, op, self.tail()))
        if not ans.get("ok"):
            raise PeerError("%s: %s failed: %s" % (self.name, op, ans.get("error")))
        return ans

    def tail(self, n=8):
        return " | ".join(self.stderr[-n:])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op":"quit","id":0}\n')
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
