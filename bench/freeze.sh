#!/bin/sh
# freeze.sh BUILD -- how long a capture keeps the target stopped, for 1, 16,
# 64 and 256 threads, next to gdb attaching, reading every thread's
# registers and detaching, on the same target in the same run.
#   pss: the median of libpss's own freeze_wall_clock_period over ROUNDS
#        captures with thread contexts (the time from the first thread's
#        stop to the last thread's resume);
#   gdb: the median wall time of `gdb -batch -p PID -ex 'thread apply all
#        info registers rip'` over GDB_ROUNDS runs (the target is stopped
#        for nearly all of it).
# Prints a Markdown table. Measurement only: nothing here is asserted.
# It ends whatever the target does: the target is checked after every
# step (a target that died ends the run with an error, never a wait), each
# tool runs under a time limit, and the whole run under BENCH_LIMIT
# seconds (default 1800); see bench/lib.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-1800}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # run.sh passes it absolute
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-50}
GDB_ROUNDS=${GDB_ROUNDS:-5}
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-freeze.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# the captures' freeze times (ms), one a line, into $WORK/pss
pss_freeze () {
  bounded 600 "$LUA" "$ROOT/bench/freeze.lua" "$TARGET" "$ROUNDS" > "$WORK/pss" ||
    bench_fail "bench/freeze.lua failed on pid $TARGET (status $?)"
  target_check "during the pss captures"
}

# gdb's wall times (us), one a line, into $WORK/gdb
gdb_times () {
  : > "$WORK/gdb"
  i=0
  while [ "$i" -lt "$GDB_ROUNDS" ]; do
    start=$(date +%s%N)
    bounded 120 gdb -nx -batch -p "$TARGET" -ex 'thread apply all info registers rip' \
      > /dev/null 2>&1 || bench_fail "gdb failed on pid $TARGET (status $?)"
    end=$(date +%s%N)
    target_check "during the gdb runs"
    echo $(( (end - start) / 1000 )) >> "$WORK/gdb"
    i=$((i + 1))
  done
}

echo "| threads | pss freeze (ms) | gdb attach + registers + detach (ms) | gdb / pss |"
echo "| ---: | ---: | ---: | ---: |"
for n in 1 16 64 256; do
  workers=$((n - 1))
  "$BUILD/pss-target" --threads "$workers" --no-fds --exit-after 600000 \
    < /dev/null > "$WORK/report" 2> "$TARGET_ERR" &
  TARGET=$!
  wait_line '^ready$' "$WORK/report" 60
  pss_freeze
  pss=$(median < "$WORK/pss")
  gdb="-"
  if command -v gdb > /dev/null 2>&1; then
    gdb_times
    gdb=$(median < "$WORK/gdb" | awk '{ printf "%.1f", $1 / 1000 }')
  fi
  ratio=$(awk -v a="$gdb" -v b="$pss" 'BEGIN { if (a == "-" || b == 0) print "-"; else printf "%.0fx", a / b }')
  printf '| %d | %.2f | %s | %s |\n' "$n" "$pss" "$gdb" "$ratio"
  stop_target
done
