#!/usr/bin/env python3
"""tests/wiki_ssh.py - a git wiki over ssh: the server's host key is checked.

    wiki_ssh.py GAVEL

gavel's certificate callback (bridge/publish_git.c) looks the ssh host key
up in the wiki's known_hosts_file (libgit2 1.5.1 alone reads only
~/.ssh/known_hosts: without the callback every case below fails). Against a real OpenSSH
server started here on 127.0.0.1 (its own config, host key and authorized
key; stopped at the end), a console gavel publishes a meeting to
ssh://USER@127.0.0.1:PORT/.../wiki.git with a key file:
  1. known_hosts holds another key for [127.0.0.1]:PORT: nothing is pushed,
     the row is parked with "not the one in" (a changed key, or someone in
     the middle);
  2. known_hosts does not list the host: nothing is pushed, parked with "is
     not in" and how to add it;
  3. known_hosts holds the server's key (hashed, as ssh-keygen -H writes it):
     the page is published, one commit.
Prints one line per check; exit 1 on failure.
"""
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "matrix"))
from startup import check, free_port  # noqa: E402

import startup  # noqa: E402

gavel = os.path.abspath(sys.argv[1])
top = tempfile.mkdtemp(prefix="gavel-wiki-ssh-")

def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as f:
        return " ".join(f.read().split()[:2])


def commits(remote):
    r = subprocess.run(["git", "--git-dir", remote, "log", "--oneline"], capture_output=True,
                       text=True)
    return len(r.stdout.splitlines()) if r.returncode == 0 else 0


def publish(name, url, key, known_hosts):
    d = os.path.join(top, name)
    os.makedirs(d)
    cfg = {"database": "gavel.db", "archive_dir": "minutes", "log_level": "warning",
           "ack": "none", "wiki": [{"git": url, "page": "Architecture-Call.md",
                                    "ssh_key_file": key, "known_hosts_file": known_hosts}]}
    with open(os.path.join(d, "gavel.json"), "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([gavel, "--config", "gavel.json", "--shell"], cwd=d,
                       input="#startmeeting Arch call\n#info over ssh\n#endmeeting\n",
                       capture_output=True, text=True, timeout=120)
    o = subprocess.run([gavel, "outbox", "--config", "gavel.json"], cwd=d, capture_output=True,
                       text=True, timeout=60)
    return r, o.stdout


sshd = None
try:
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    check(os.access(sshd_bin, os.X_OK) and shutil.which("ssh-keygen"),
          "OpenSSH's sshd and ssh-keygen are installed (deploy/setup.sh --test)", sshd_bin)
    if startup.failed:
        raise SystemExit
    host_pub = keygen(os.path.join(top, "host_key"))
    other_pub = keygen(os.path.join(top, "other_key"))
    client_pub = keygen(os.path.join(top, "id"))
    with open(os.path.join(top, "authorized_keys"), "w") as f:
        f.write(client_pub + "\n")
    port = free_port()
    user = getpass.getuser()
    conf = os.path.join(top, "sshd_config")
    with open(conf, "w") as f:
        f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\n"
                "AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                "PermitRootLogin prohibit-password\nAllowUsers %s\n" %
                (port, os.path.join(top, "host_key"), os.path.join(top, "sshd.pid"),
                 os.path.join(top, "authorized_keys"), user))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)     # its privilege separation directory
    sshd = subprocess.Popen([sshd_bin, "-D", "-e", "-f", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(top, "sshd.log"), "w"))
    deadline = time.time() + 20
    up = False
    while time.time() < deadline and not up and sshd.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            up = True
        except OSError:
            time.sleep(0.05)
    check(up, "sshd listens on 127.0.0.1:%d" % port, open(os.path.join(top, "sshd.log")).read())
    if not up:
        raise SystemExit
    remote = os.path.join(top, "wiki.git")
    subprocess.run(["git", "init", "-q", "--bare", remote], check=True)
    url = "ssh://%s@127.0.0.1:%d%s" % (user, port, remote)
    key = os.path.join(top, "id")
    entry = "[127.0.0.1]:%d " % port

    # ---- 1. another key for the host ----
    kh = os.path.join(top, "kh-changed")
    with open(kh, "w") as f:
        f.write(entry + other_pub + "\n")
    r, o = publish("changed", url, key, kh)
    check(commits(remote) == 0, "a changed host key: nothing is pushed", r.stdout + r.stderr)
    check("not the one in" in o and kh in o,
          "... the row is parked with the reason, naming the file", o + r.stderr)

    # ---- 2. the host not listed ----
    kh = os.path.join(top, "kh-empty")
    open(kh, "w").close()
    r, o = publish("unknown", url, key, kh)
    check(commits(remote) == 0, "an unknown host: nothing is pushed", r.stdout + r.stderr)
    check("is not in" in o and "ssh-keyscan -p %d" % port in o,
          "... the reason says how to add the key", o + r.stderr)

    # ---- 3. the server's own key, hashed ----
    kh = os.path.join(top, "kh-good")
    with open(kh, "w") as f:
        f.write(entry + host_pub + "\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", kh], check=True, capture_output=True)
    r, o = publish("good", url, key, kh)
    page = subprocess.run(["git", "--git-dir", remote, "show", "HEAD:Architecture-Call.md"],
                          capture_output=True, text=True).stdout
    check(commits(remote) == 1 and "over ssh" in page,
          "the listed key (hashed known_hosts): the page is published, one commit",
          "%d commits; outbox: %s; %s; sshd: %s" % (commits(remote), o, r.stderr,
                                                    open(os.path.join(top, "sshd.log")).read()[-1500:]))
    check(len(o.strip().splitlines()) <= 1, "... and nothing waits", o)
except SystemExit:
    pass
finally:
    if sshd:
        sshd.terminate()
        try:
            sshd.wait(10)
        except subprocess.TimeoutExpired:
            sshd.kill()
            sshd.wait()
    if not startup.failed:
        shutil.rmtree(top, ignore_errors=True)
    else:
        print("kept", top)

print("%d passed, %d failed" % (startup.passed, startup.failed))
sys.exit(1 if startup.failed else 0)
