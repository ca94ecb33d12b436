#!/bin/sh
# bench/run.sh BUILD -- pss against psutil and against the floor (the bare
# /proc reads a capture needs), on two fixed targets; prints Markdown.
#
#   fat    64 threads,  1,024 fds,  4,096 mappings, 256 MiB resident
#   large  256 threads, 8,192 fds, 32,768 mappings, 256 MiB resident
#
# Each target is a pss-target started for the run. Its fd and mapping
# totals are reached with --extra-fds / --extra-maps after a first start
# that counts what the standard set holds; the real counts from /proc are
# printed. On the same target, in turn: bench/floor.c, bench/pss_bench.lua
# (lua5.4) and bench/psutil_bench.py (Debian's python3 with psutil).
# Needs BUILD/pss-target and BUILD/lua/pss/core.so (make bench builds them).
#
# Environment: REPS (default 100) rounds per tool on "fat", REPS/4 (at
# least 5) on "large"; psutil does half as many (at least 5).
#
# It ends whatever the targets do: each is checked after every tool (one
# that died ends the run with an error), every wait and tool has a time
# limit, and the whole run BENCH_LIMIT seconds (default 7200, freeze.sh,
# clone.sh, stack.sh and save.sh included); see bench/lib.sh.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-7200}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REPS=${REPS:-100}
LUA=lua5.4
PYTHON=/usr/bin/python3
LUA_PATH="$ROOT/lua/?.lua;;"
LUA_CPATH="$BUILD/lua/?.so;;"
export LUA_PATH LUA_CPATH

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-bench.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

# start_target THREADS EXTRA_FDS EXTRA_MAPS RESIDENT_MB: sets TARGET (pid)
start_target () {
  : > "$WORK/target.out"
  "$BUILD/pss-target" --threads "$1" --extra-fds "$2" --extra-maps "$3" \
    --resident "$4" --exit-after 300000 </dev/null >"$WORK/target.out" 2>"$TARGET_ERR" &
  TARGET=$!
  wait_line '^ready$' "$WORK/target.out" 60
}

# tool NAME COMMAND...: COMMAND's lines, prefixed with NAME, to the results
tool () {
  tool_name=$1
  shift
  bounded 1800 "$@" > "$WORK/tool.out" || bench_fail "$* failed (status $?)"
  target_check "during $*"
  sed "s/^/$tool_name /" "$WORK/tool.out" >> "$WORK/results"
}

count_fds () { ls "/proc/$TARGET/fd" | wc -l; }
count_maps () { wc -l < "/proc/$TARGET/maps"; }
count_threads () { ls "/proc/$TARGET/task" | wc -l; }
rss_mib () { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$TARGET/status"; }

# bench NAME THREADS FDS MAPS RESIDENT_MB REPS: one target, all three tools.
# THREADS counts the main thread; pss-target's --threads counts workers.
bench () {
  name=$1 workers=$(($2 - 1)) want_fds=$3 want_maps=$4 resident=$5 reps=$6
  preps=$((reps / 2)); [ "$preps" -ge 5 ] || preps=5
  start_target "$workers" 0 0 "$resident"
  extra_fds=$((want_fds - $(count_fds))) extra_maps=$((want_maps - $(count_maps)))
  stop_target
  start_target "$workers" "$extra_fds" "$extra_maps" "$resident"
  # the extra mappings sit between guard pages, which may merge with their
  # neighbours: correct once for what the kernel made of them
  if [ "$(count_maps)" -ne "$want_maps" ]; then
    extra_maps=$((extra_maps + want_maps - $(count_maps)))
    stop_target
    start_target "$workers" "$extra_fds" "$extra_maps" "$resident"
  fi
  echo "run.sh: $name: pid $TARGET, $(count_threads) threads, $(count_fds) fds," \
       "$(count_maps) mappings, $(rss_mib) MiB resident; $reps rounds" >&2
  {
    echo "$name target threads $(count_threads)"
    echo "$name target fds $(count_fds)"
    echo "$name target regions $(count_maps)"
    echo "$name target resident $(rss_mib)"
    echo "$name target reps $reps"
    echo "$name target psutil_reps $preps"
  } >> "$WORK/results"
  tool "$name floor" "$BUILD/bench-floor" "$TARGET" "$reps"
  tool "$name pss" $LUA "$ROOT/bench/pss_bench.lua" "$TARGET" "$reps"
  tool "$name psutil" $PYTHON "$ROOT/bench/psutil_bench.py" "$TARGET" "$preps"
  stop_target
}

# psutil, what pss is measured against: fail now, not after the first target
$PYTHON -c 'import psutil' 2> /dev/null ||
  bench_fail "$PYTHON cannot import psutil (Debian: python3-psutil; spec/support/deps.sh installs it)"
cc -std=c11 -O2 -Wall -Wextra "$ROOT/bench/floor.c" -o "$BUILD/bench-floor"
: > "$WORK/results"
large_reps=$((REPS / 4)); [ "$large_reps" -ge 5 ] || large_reps=5
bench fat 64 1024 4096 256 "$REPS"
bench large 256 8192 32768 256 "$large_reps"
$LUA "$ROOT/bench/report.lua" "$WORK/results"

# The process record alone: no freeze, next to reading /proc by hand.
echo
echo "### The process record alone: no thread stopped"
echo
bounded 600 sh "$ROOT/bench/record.sh" "$BUILD" || bench_fail "bench/record.sh failed (status $?)"

# How long a capture keeps the target stopped, next to gdb.
echo
echo "### Freeze: how long the target is stopped"
echo
bounded 3600 sh "$ROOT/bench/freeze.sh" "$BUILD" || bench_fail "bench/freeze.sh failed (status $?)"

# The pause of a VA clone capture, next to the target's own fork and gcore.
echo
echo "### VA clone: the pause against fork() and gcore"
echo
bounded 3600 sh "$ROOT/bench/clone.sh" "$BUILD" || bench_fail "bench/clone.sh failed (status $?)"

echo
echo "### VA clone: the same with transparent huge pages"
echo
bounded 3600 env THP=1 SIZES="1024 4096" THREADS=1 sh "$ROOT/bench/clone.sh" "$BUILD" ||
  bench_fail "bench/clone.sh (THP) failed (status $?)"

# Every thread's stack: pss stack next to eu-stack and gdb.
echo
echo "### Stacks: pss stack against eu-stack and gdb"
echo
bounded 3600 sh "$ROOT/bench/stack.sh" "$BUILD" || bench_fail "bench/stack.sh failed (status $?)"

# Saving a snapshot and loading it back, and saving the memory against gcore.
echo
echo "### Saving and loading"
echo
bounded 1800 sh "$ROOT/bench/save.sh" "$BUILD" || bench_fail "bench/save.sh failed (status $?)"
