#!/bin/sh
# tests/bench/run-bench.sh - how fast and how big is `gavel replay` on a long meeting?
#
#   tests/bench/run-bench.sh [LINES]
#
# Builds gavel in release mode (meson, build dir $BUILD_DIR, default build-bench
# in the source tree), generates a LINES-line MeetBot log (default 10000) with
# gen-meeting.py, then times `gavel replay LOG --out DIR --quiet`: with
# hyperfine when installed, else RUNS (default 10) runs timed with date +%s%N.
# Peak RSS comes from /usr/bin/time -v (package "time"; installed with apt-get
# when missing and run as root). Prints the median wall time and the peak RSS
# against the budgets (50 ms, 8 MiB). Exit status 0 even over budget: it is a
# measurement, not a test. PROFILE=1 adds a callgrind profile of one replay.
set -eu

LINES=${1:-10000}
RUNS=${RUNS:-10}
BUDGET_MS=50
BUDGET_KIB=8192
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
case $build in /*) ;; *) build=$src/$build ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/gavel-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# ---- build ----
# While the tree is half-written (a test source meson.build names is missing)
# meson setup fails; then build gavel alone with the same flags as a meson
# release build (-O3, NDEBUG) and say so.
gavel=$build/gavel
buildtype=
if [ ! -f "$build/build.ninja" ] &&
   ! meson setup "$build" "$src" --buildtype=release >"$work/setup.log" 2>&1; then
        rm -rf "$build"
        echo "run-bench: meson setup failed:" >&2
        grep -m1 ERROR "$work/setup.log" >&2 || tail -n 3 "$work/setup.log" >&2
        echo "run-bench: building gavel directly with cc -O3 -DNDEBUG instead" >&2
        gavel=$work/gavel
        buildtype="cc -O3 -DNDEBUG (meson setup failed)"
        # store/schema_gen.c is a build tool (its own main); without its
        # generated header a new database is made by the migrations one by one
        version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$src/meson.build" | head -n 1)
        (cd "$src" && ${CC:-cc} -std=c11 -D_GNU_SOURCE -DNDEBUG -O3 -pthread \
                -DGAVEL_VERSION="\"$version\"" \
                $(pkg-config --cflags libcjson libical libgit2 2>/dev/null) \
                util/*.c $(ls store/*.c | grep -v schema_gen.c) handlers/*.c bridge/*.c \
                -lsqlite3 -lcjson -lolm -ldl -lm -o "$gavel")
elif ! meson compile -C "$build" gavel:executable >"$work/compile.log" 2>&1; then
        cat "$work/compile.log" >&2
        echo "run-bench: meson compile failed" >&2
        exit 1
fi
if [ -z "$buildtype" ]; then
        buildtype=$(meson introspect "$build" --buildoptions 2>/dev/null | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' \
                2>/dev/null || echo unknown)
        buildtype="meson $buildtype"
fi

# ---- input ----
log=$work/bench-2024-03-05.log.txt
out=$work/minutes
python3 "$here/gen-meeting.py" -n "$LINES" -o "$log"
bytes=$(wc -c <"$log")
"$gavel" replay "$log" --out "$out" --quiet   # warm the page cache; fail early

# ---- peak RSS ----
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "run-bench: installing the 'time' package for /usr/bin/time -v" >&2
        apt-get install -y -qq time >/dev/null 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq time >/dev/null 2>&1; } || true
fi
rss_kib=
if [ -x /usr/bin/time ]; then
        for _ in 1 2 3; do
                /usr/bin/time -v -o "$work/time.txt" "$gavel" replay "$log" --out "$out" --quiet
                k=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt")
                if [ -z "$rss_kib" ] || [ "$k" -gt "$rss_kib" ]; then rss_kib=$k; fi
        done
fi

# ---- wall time ----
if command -v hyperfine >/dev/null; then
        tool="hyperfine, median of $RUNS runs after 3 warm-ups"
        hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/hf.json" \
                "$gavel replay $log --out $out --quiet" >/dev/null
        median_ms=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$work/hf.json")
else
        tool="date +%s%N, median of $RUNS runs"
        : >"$work/times"
        i=0
        while [ "$i" -lt "$RUNS" ]; do
                t0=$(date +%s%N)
                "$gavel" replay "$log" --out "$out" --quiet
                t1=$(date +%s%N)
                echo $(( (t1 - t0) / 1000 )) >>"$work/times"
                i=$((i + 1))
        done
        median_ms=$(sort -n "$work/times" | awk '{ v[NR] = $1 } END {
                m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }')
fi

verdict() { awk -v v="$1" -v b="$2" 'BEGIN { print (v + 0 <= b + 0) ? "ok" : "OVER" }'; }

echo "gavel replay: $LINES-line log ($((bytes / 1024)) KiB), $buildtype build, $(nproc) CPUs"
printf '  %-18s %12s %10s  %s\n' metric value budget ""
printf '  %-18s %9s ms %7s ms  %s\n' "wall time (median)" "$median_ms" "$BUDGET_MS" "$(verdict "$median_ms" "$BUDGET_MS")"
if [ -n "$rss_kib" ]; then
        rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
        printf '  %-18s %8s MiB %6s MiB  %s\n' "peak RSS" "$rss_mib" "$((BUDGET_KIB / 1024))" "$(verdict "$rss_kib" "$BUDGET_KIB")"
else
        printf '  %-18s %12s\n' "peak RSS" "n/a (no /usr/bin/time)"
fi
echo "  timing: $tool"

if [ "${PROFILE:-0}" = 1 ]; then
        if command -v valgrind >/dev/null; then
                valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
                        "$gavel" replay "$log" --out "$out" --quiet 2>/dev/null
                echo "callgrind, inclusive instruction counts:"
                callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null | sed -n '1,60p' |
                        grep -E '^ *[0-9,]+ \(' | head -30
        else
                echo "PROFILE=1: valgrind is not installed" >&2
        fi
fi
