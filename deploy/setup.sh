#!/bin/sh
# deploy/setup.sh - installs what gavel needs on Debian bookworm (as root, or
# through sudo) and builds it into ./build. Safe to run again.
#   deploy/setup.sh          build dependencies only
#   deploy/setup.sh --test   also the test tools (valgrind, strace, OpenSSH, clang, python3, and
#                            Debian's MediaWiki with php-cli and SQLite for the wiki suite,
#                            chromium for the archive's browser test)
set -eu
cd "$(dirname "$0")/.."

pkgs="meson ninja-build gcc pkg-config libsqlite3-dev libcjson-dev libcurl4-openssl-dev libolm-dev libgit2-dev libical-dev tzdata"
if [ "${1:-}" = "--test" ]; then
        pkgs="$pkgs valgrind strace openssh-client openssh-server clang python3 time python3-matrix-nio python3-olm git"
        pkgs="$pkgs mediawiki php-cli php-sqlite3 php-mbstring php-xml php-intl chromium"
fi

missing=""
for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing="$missing $p"
done
if [ -n "$missing" ]; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "setup: installing$missing" >&2
        $SUDO apt-get update -qq
        # services the packages bring (openssh-server's sshd, for the tests'
        # own sshd on 127.0.0.1) are not started: a policy-rc.d saying no,
        # only while installing and only if the machine has none
        norc=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null &&
                        $SUDO chmod 755 /usr/sbin/policy-rc.d && norc=1
        fi
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2 ||
                { [ -z "$norc" ] || $SUDO rm -f /usr/sbin/policy-rc.d; exit 1; }
        [ -z "$norc" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

# matrix-js-sdk and its Rust crypto (matrix-sdk-crypto-wasm) for the interop tests,
# from npm, pinned by the lock file; again whenever the lock file is newer than
# the installed tree (npm records that in node_modules/.package-lock.json)
nm=tests/interop/node_modules
if [ "${1:-}" = "--test" ] && command -v npm >/dev/null 2>&1 &&
        { [ ! -d $nm/matrix-js-sdk ] || [ ! -d $nm/@matrix-org/matrix-sdk-crypto-wasm ] ||
          [ ! -f $nm/.package-lock.json ] ||
          [ tests/interop/package-lock.json -nt $nm/.package-lock.json ]; }; then
        (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

[ -d build ] || meson setup build >&2
meson compile -C build >&2

# libical (series) and libgit2 (git wikis) are not linked but dlopen()ed when a
# config needs them; their runtime packages (libical3, libgit2-1.5) come with
# the -dev packages above. The sample config has a series and a git wiki, so
# checking it loads both, and says which one is missing if one is.
build/gavel check-config config.sample.json >/dev/null
