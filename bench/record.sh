#!/bin/sh
# record.sh BUILD -- a capture of the process record alone (which needs no
# freeze: the target is not stopped) on the fat target (64 threads, 1,024
# fds, 4,096 mappings), next to reading /proc/PID/stat, status and cmdline
# by hand, in one process (bench/record.c, linked with libpss), over REPS
# rounds (default 5000). Prints a Markdown table. Measurement only.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-600}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REPS=${REPS:-5000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-record.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

cc -std=c11 -O2 -Wall -Wextra -I"$ROOT/src" "$ROOT/bench/record.c" "$BUILD/libpss.a" \
  -o "$BUILD/bench-record" -pthread
"$BUILD/pss-target" --threads 63 --extra-fds 1000 --extra-maps 4000 --exit-after 300000 \
  < /dev/null > "$WORK/report" 2> "$TARGET_ERR" &
TARGET=$!
wait_line '^ready$' "$WORK/report" 60
threads=$(ls "/proc/$TARGET/task" | wc -l) fds=$(ls "/proc/$TARGET/fd" | wc -l)
maps=$(wc -l < "/proc/$TARGET/maps")
bounded 300 "$BUILD/bench-record" "$TARGET" "$REPS" > "$WORK/out" ||
  bench_fail "bench-record failed on pid $TARGET (status $?)"
target_check "during bench-record"
stop_target
awk -v t="$threads" -v f="$fds" -v m="$maps" '
  { med[$1] = $2; min[$1] = $3 }
  END {
    printf "Target: %d threads, %d fds, %d mappings; threads stopped by the capture: %d\n\n", t, f, m, med["threads-frozen"]
    print "| | median (us) | min (us) |"
    print "| --- | ---: | ---: |"
    printf "| PssCaptureSnapshot(PSS_CAPTURE_NONE) + free | %.1f | %.1f |\n", med["record-capture"], min["record-capture"]
    printf "| read /proc/PID/stat, status, cmdline by hand | %.1f | %.1f |\n", med["stat+status+cmdline"], min["stat+status+cmdline"]
    printf "| ratio | %.2fx | |\n", med["record-capture"] / med["stat+status+cmdline"]
  }' "$WORK/out"
