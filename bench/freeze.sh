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
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-50}
GDB_ROUNDS=${GDB_ROUNDS:-5}
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$ROOT/$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-freeze.XXXXXX")
TARGET=""
cleanup () {
  [ -n "$TARGET" ] && kill "$TARGET" 2>/dev/null && wait "$TARGET" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

pss_freeze_ms () {
  $LUA "$ROOT/bench/freeze.lua" "$1" "$ROUNDS" | median
}

gdb_ms () {
  i=0
  while [ "$i" -lt "$GDB_ROUNDS" ]; do
    start=$(date +%s%N)
    gdb -nx -batch -p "$1" -ex 'thread apply all info registers rip' >/dev/null 2>&1
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
    i=$((i + 1))
  done | median | awk '{ printf "%.1f", $1 / 1000 }'
}

echo "| threads | pss freeze (ms) | gdb attach + registers + detach (ms) | gdb / pss |"
echo "| ---: | ---: | ---: | ---: |"
for n in 1 16 64 256; do
  workers=$((n - 1))
  "$ROOT/$BUILD/pss-target" --threads "$workers" --no-fds --exit-after 600000 \
    < /dev/null > "$WORK/report" 2>/dev/null &
  TARGET=$!
  while ! grep -q '^ready' "$WORK/report" 2>/dev/null; do sleep 0.05; done
  pss=$(pss_freeze_ms "$TARGET")
  if command -v gdb >/dev/null 2>&1; then gdb=$(gdb_ms "$TARGET"); else gdb="-"; fi
  ratio=$(awk -v a="$gdb" -v b="$pss" 'BEGIN { if (a == "-" || b == 0) print "-"; else printf "%.0fx", a / b }')
  printf '| %d | %.2f | %s | %s |\n' "$n" "$pss" "$gdb" "$ratio"
  kill "$TARGET" 2>/dev/null; wait "$TARGET" 2>/dev/null || true
  TARGET=""
done
