#!/usr/bin/python3
"""tests/mediawiki/run_mediawiki.py - a real MediaWiki for the tests: Debian's
`mediawiki` package (1.39) with SQLite, served on 127.0.0.1 by `php -S`.

Nothing is written outside a temporary directory: /usr/share/mediawiki is
the document root, read-only, and the generated LocalSettings.php (named by
$MW_CONFIG_FILE, which MediaWiki reads) points the SQLite files, caches and
uploads into the temporary directory. install.php creates the wiki and its
Admin; a bot user "Gavel" gets a bot password (grants basic, editpage,
createeditmovepage, highvolume) and a second user, "Person", one too - the
person whose edits gavel must never overwrite.

As a module:
    with MediaWiki() as mw:
        mw.api            # http://127.0.0.1:PORT/api.php
        mw.bot_user, mw.bot_password, mw.person_user, mw.person_password
        mw.maintenance("protect.php", ...)
As a program (like tests/interop/run_with_server.py):
    run_mediawiki.py -- CMD [ARG...]
runs CMD with $MW_API, $MW_USER, $MW_PASSWORD, $MW_PERSON_USER and
$MW_PERSON_PASSWORD set, then stops the server (SIGTERM, then SIGKILL) and
removes the directory. Exit status: CMD's; 1 when the wiki does not start.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

MW = "/usr/share/mediawiki"
ADMIN_PASSWORD = "admin-password-for-tests-1"
BOT_PASSWORD = "gavelbotpassword0123456789abcdef"
PERSON_PASSWORD = "personbotpassword0123456789abcde"

# Appended to what install.php writes: the server is whatever the request
# says (the port is only known once php -S runs), no e-mail, no rate limits
# (the tests edit fast), jobs never run inside requests.
EXTRA_SETTINGS = """
$wgServer = WebRequest::detectServer();
$wgEnableEmail = false;
$wgRateLimits = [];
$wgJobRunRate = 0;
$wgEnableUploads = false;
$wgUploadDirectory = "{tmp}/images";
$wgCacheDirectory = "{tmp}/cache";
$wgMainCacheType = CACHE_DB;
$wgSessionCacheType = CACHE_DB;
$wgShowExceptionDetails = true;
$wgDebugLogFile = "{tmp}/debug.log";
"""


class MediaWiki:
    def __init__(self, log=sys.stderr):
        self.log = log
        self.tmp = None
        self.proc = None
        self.port = None

    def _env(self):
        env = dict(os.environ)
        env["MW_CONFIG_FILE"] = os.path.join(self.tmp, "LocalSettings.php")
        return env

    def maintenance(self, script, *args, stdin=None):
        r = subprocess.run(["php", os.path.join(MW, "maintenance", script)] + list(args),
                           env=self._env(), cwd=self.tmp, input=stdin, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{script} {' '.join(args)}: exit {r.returncode}\n"
                               f"{r.stdout}{r.stderr}")
        return r.stdout

    def _install(self):
        for d in ("db", "images", "cache"):
            os.mkdir(os.path.join(self.tmp, d))
        # the server name is rewritten below; install.php wants one
        self.maintenance("install.php", "--dbtype", "sqlite", "--dbpath",
                         os.path.join(self.tmp, "db"), "--dbname", "wiki",
                         "--server", "http://127.0.0.1", "--scriptpath", "",
                         "--lang", "en", "--pass", ADMIN_PASSWORD,
                         "--confpath", self.tmp, "GavelTestWiki", "Admin")
        with open(os.path.join(self.tmp, "LocalSettings.php"), "a") as f:
            f.write(EXTRA_SETTINGS.replace("{tmp}", self.tmp))
        self.maintenance("createAndPromote.php", "--bot", "Gavel", "gavel-main-password-1")
        self.maintenance("createAndPromote.php", "Person", "person-main-password-1")
        grants = "basic,editpage,createeditmovepage,highvolume"
        self.maintenance("createBotPassword.php", "--appid", "minutes", "--grants", grants,
                         "Gavel", BOT_PASSWORD)
        self.maintenance("createBotPassword.php", "--appid", "hand", "--grants", grants,
                         "Person", PERSON_PASSWORD)
        self.bot_user, self.bot_password = "Gavel@minutes", BOT_PASSWORD
        self.person_user, self.person_password = "Person@hand", PERSON_PASSWORD

    def _serve(self):
        self.proc = subprocess.Popen(["php", "-S", "127.0.0.1:0", "-t", MW],
                                     env=self._env(), cwd=self.tmp, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        port = []

        def reader():
            # php -S logs every request on stderr: read it all, keep the port
            for line in self.proc.stderr:
                line = line.decode("utf-8", "replace")
                m = re.search(r"Development Server \(http://127\.0\.0\.1:(\d+)\) started", line)
                if m and not port:
                    port.append(int(m.group(1)))
                elif os.environ.get("MW_SERVER_LOG"):
                    self.log.write("php: " + line)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.time() + 15
        while not port and time.time() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        if not port:
            raise RuntimeError("php -S did not start")
        self.port = port[0]
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = self.base + "/api.php"
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(self.api + "?action=query&meta=siteinfo&format=json",
                                            timeout=10) as r:
                    if b'"sitename"' in r.read():
                        return
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.api} does not answer")
            time.sleep(0.2)

    def __enter__(self):
        if not os.path.isfile(os.path.join(MW, "api.php")) or not shutil.which("php"):
            raise RuntimeError("Debian's mediawiki and php-cli are not installed "
                               "(deploy/setup.sh --test)")
        self.tmp = tempfile.mkdtemp(prefix="gavel-mw-")
        try:
            t = time.time()
            self._install()
            self._serve()
            self.log.write(f"mediawiki: {self.api} up in {time.time() - t:.1f} s\n")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __exit__(self, *exc):
        self.stop()
        return False


def main():
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with MediaWiki() as mw:
            env = dict(os.environ, MW_API=mw.api, MW_USER=mw.bot_user,
                       MW_PASSWORD=mw.bot_password, MW_PERSON_USER=mw.person_user,
                       MW_PERSON_PASSWORD=mw.person_password)
            return subprocess.run(args, env=env).returncode
    except RuntimeError as e:
        print(f"run_mediawiki: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
