#!/bin/sh
# tests/bench/run-matrix-bench.sh - gavel on Matrix: command latency, RSS, CPU per message
#
#   tests/bench/run-matrix-bench.sh [matrix-bench.py options]
#
# Builds gavel in release mode (meson, build dir $BUILD_DIR, default build-bench
# in the source tree, as run-bench.sh does), then runs matrix-bench.py once
# (RUNS=N: N times, each against a fresh homeserver): against the loopback
# test homeserver (tests/homeserver, started by the benchmark on 127.0.0.1,
# port 0) it measures, in one run,
#   1. !commands -> reply latency p50/p95/p99 over 1,000 commands, next to a
#      minimal Python echo client (the floor) measured the same way, interleaved;
#      target gavel/floor <= 1.1x;
#   2. VmRSS/VmHWM with 50 joined rooms; target <= 8 MiB;
#   3. CPU (utime+stime) per message over a 2,000-message burst, with a meeting
#      running and without, and over 500 messages sent one per /sync (each
#      after gavel's next /sync request: exactly one message per batch);
#      target <= 50 us;
#   4. start -> first /sync applied, 5 starts with a new database and 5
#      restarts (log_level "debug" from here on: the trace); target <= 100 ms;
#   5. #endmeeting of a 1,000-line meeting: the minutes' PUT after the sync
#      that carried it (the trace; target <= 5 ms), the minutes event (the
#      homeserver's timestamps), the five files on disk and gavel's CPU for
#      it all (target <= 10 ms);
#   6. BIG_ROOMS (default 10000; 0: skipped) rooms made at once by the test
#      homeserver (POST /_test/bulk_rooms) with gavel in each: a new gavel's
#      initial /sync, its RSS (target <= 64 MiB), CPU per message of a burst
#      in one room among them;
# then (REPLAY=0: not) tests/bench/run-bench.sh, the replay of a 10,000-line
# log (target <= 50 ms).
# Options go to matrix-bench.py (--commands, --rooms, --burst, --one-per-sync, --warmup,
# --starts, --end-lines, --big-burst, --stock-homeserver, --profile DIR,
# --json FILE, --keep; see its --help).
# PROFILE=1 adds --profile (strace -c and perf of an idle gavel, perf of the
# meeting burst) into a kept directory and prints the top of the reports.
# Exit status 0 even over budget: it is a measurement, not a test; 1 when the
# run itself failed (a process died, a wait timed out). Needs python3 (stdlib).
set -eu

RUNS=${RUNS:-1}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
case $build in /*) ;; *) build=$src/$build ;; esac
py=$(command -v python3 || echo /usr/bin/python3)

work=$(mktemp -d "${TMPDIR:-/tmp}/gavel-mbench-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# ---- build ----
if [ ! -f "$build/build.ninja" ] &&
   ! meson setup "$build" "$src" --buildtype=release >"$work/setup.log" 2>&1; then
        cat "$work/setup.log" >&2
        echo "run-matrix-bench: meson setup failed" >&2
        exit 1
fi
if ! meson compile -C "$build" gavel:executable >"$work/compile.log" 2>&1; then
        cat "$work/compile.log" >&2
        echo "run-matrix-bench: meson compile failed" >&2
        exit 1
fi
buildtype=$(meson introspect "$build" --buildoptions 2>/dev/null | "$py" -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' \
        2>/dev/null || echo unknown)

# ---- run ----
prof=
if [ "${PROFILE:-0}" = 1 ]; then
        prof=$(mktemp -d "${TMPDIR:-/tmp}/gavel-mbench-profile-XXXXXX")
        set -- --profile "$prof" "$@"
fi
status=0
i=1
while [ "$i" -le "$RUNS" ]; do
        [ "$RUNS" -gt 1 ] && echo "== run $i of $RUNS"
        "$py" "$here/matrix-bench.py" --gavel "$build/gavel" --build "meson $buildtype" \
                --big-rooms "${BIG_ROOMS:-10000}" "$@" || status=1
        i=$((i + 1))
done

if [ -n "$prof" ]; then
        echo "== profiles in $prof"
        if [ -f "$prof/idle.strace-c.txt" ]; then
                echo "-- idle gavel, 2 s, strace -c:"
                cat "$prof/idle.strace-c.txt"
        fi
        if [ -f "$prof/one_per_sync.strace-c.txt" ]; then
                echo "-- one message per sync, strace -c -f (divide by --one-per-sync, default 500):"
                cat "$prof/one_per_sync.strace-c.txt"
        fi
        if [ -f "$prof/idle.perf.data" ]; then
                echo "-- idle gavel, 2 s, perf (self, top 15):"
                perf report -i "$prof/idle.perf.data" --no-children --stdio -g none --sort dso,sym \
                        2>/dev/null | grep '%' | head -15
        fi
        if [ -f "$prof/burst_meeting.perf.data" ]; then
                echo "-- meeting burst, perf (inclusive, gavel's own functions and entry points):"
                perf report -i "$prof/burst_meeting.perf.data" --children --stdio -g none --sort sym \
                        2>/dev/null | grep -E '\] (gv_[a-z_]+|on_[a-z]+|start_[a-z]+|next_gap|handle_[a-z_]+|curl_multi_(perform|poll)|sqlite3_step|cJSON_ParseWithLengthOpts)$' |
                        head -25
        fi
fi
if [ "${REPLAY:-1}" != 0 ]; then
        echo "== replay"
        BUILD_DIR=$build "$here/run-bench.sh" || status=1
fi
exit $status
