#!/bin/sh
# clone.sh BUILD -- the pause a VA clone capture costs the target, next to
# the target's own fork() and to gdb's gcore, on the same target in the
# same run, for 16 MiB .. 4 GiB resident and 1 and 64 threads.
#   pause: the longest turn of the target's own tight loop while it was
#          captured (bench/clone-target.c), median over ROUNDS captures;
#   freeze: libpss's freeze_wall_clock_period for those captures (median);
#   fork:  the target's own fork() of the same address space (median of 5);
#   core:  the time snap:write_core takes to write the core from the clone
#          (the target runs meanwhile); one run;
#   gcore: the target's longest turn while `gcore` dumped it, and gcore's
#          wall time; one run (SIZES_GCORE limits which sizes get one).
# Prints a Markdown table. Measurement only: nothing here is asserted.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-15}
SIZES=${SIZES:-"16 256 1024 4096"}
THREADS=${THREADS:-"1 64"}
THP=${THP:-}                    # THP=1: the memory in transparent huge pages
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$ROOT/$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-clone.XXXXXX")
TARGET=""
cleanup () {
  [ -n "$TARGET" ] && kill "$TARGET" 2>/dev/null && wait "$TARGET" 2>/dev/null
  exec 3>&- 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cc -O2 -pthread "$ROOT/bench/clone-target.c" -o "$WORK/clone-target"
median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ask COMMAND: the number the target answers
ask () {
  before=$(wc -l < "$WORK/out")
  echo "$1" >&3
  while [ "$(wc -l < "$WORK/out")" -le "$before" ]; do sleep 0.01; done
  tail -n 1 "$WORK/out" | awk '{ print $2 }'
}

echo "| resident | threads | fork (ms) | pss pause (ms) | pss freeze (ms) | pause / fork | pss core write (s) | gcore pause (ms) | gcore wall (s) | gcore pause / pss pause |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mb in $SIZES; do
  for n in $THREADS; do
    rm -f "$WORK/in" "$WORK/out"
    mkfifo "$WORK/in"
    "$WORK/clone-target" "$mb" "$n" ${THP:+thp} < "$WORK/in" > "$WORK/out" 2>/dev/null &
    TARGET=$!
    exec 3> "$WORK/in"
    while ! grep -q '^ready' "$WORK/out" 2>/dev/null; do sleep 0.05; done
    sleep 0.2
    fork=$(ask fork)
    : > "$WORK/pause"; : > "$WORK/freeze"
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
      ask reset > /dev/null
      sleep 0.05
      "$LUA" "$ROOT/bench/clone.lua" "$TARGET" | awk '{ print $1 }' >> "$WORK/freeze"
      sleep 0.05
      ask gap >> "$WORK/pause"
      i=$((i + 1))
    done
    pause=$(median < "$WORK/pause")
    freeze=$(median < "$WORK/freeze")
    sync   # neither writer pays for the other's dirty pages
    core=$("$LUA" "$ROOT/bench/clone.lua" "$TARGET" "$WORK/pss.core" | awk '{ printf "%.2f", $3 / 1000 }')
    rm -f "$WORK/pss.core"; sync
    gpause="-"; gwall="-"
    case " ${SIZES_GCORE:-$SIZES} " in *" $mb "*)
      if command -v gcore >/dev/null 2>&1; then
        sync
        ask reset > /dev/null
        sleep 0.05
        t0=$(date +%s%N)
        gcore -o "$WORK/core" "$TARGET" > /dev/null 2>&1 || true
        t1=$(date +%s%N)
        sleep 0.05
        gpause=$(ask gap | awk '{ printf "%.0f", $1 / 1000 }')
        gwall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
        rm -f "$WORK"/core*
      fi ;;
    esac
    printf "| %d MiB${THP:+ THP} | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s |\n" "$mb" "$n" \
      "$(echo "$fork" | awk '{ print $1 / 1000 }')" "$(echo "$pause" | awk '{ print $1 / 1000 }')" \
      "$freeze" "$(awk -v p="$pause" -v f="$fork" 'BEGIN { printf "%.2f", p / f }')" \
      "$core" "$gpause" "$gwall" \
      "$(awk -v g="$gpause" -v p="$pause" 'BEGIN { if (g == "-") print "-"; else printf "%.0fx", g * 1000 / p }')"
    exec 3>&-
    kill "$TARGET" 2>/dev/null; wait "$TARGET" 2>/dev/null || true
    TARGET=""
  done
done
