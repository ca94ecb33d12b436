#!/bin/sh
# clone.sh BUILD -- the pause a VA clone capture costs the target, next to
# the target's own fork() and to gdb's gcore, on the same target in the
# same run, for 16 MiB .. 4 GiB resident and 1 and 64 threads.
#   pause: the longest turn of the target's own tight loop while it was
#          captured (bench/clone-target.c), median over ROUNDS captures;
#   freeze: libpss's freeze_wall_clock_period for those captures (median);
#   fork:  the target's own fork() of the same address space (median of 5);
#   core:  the time snap:write_core takes to write the core from the clone
#          (the target runs meanwhile); one run (bench/core.sh times the
#          whole `pss core` against gcore over several rounds);
#   gcore: the target's longest turn while `gcore` dumped it, and gcore's
#          wall time; one run (SIZES_GCORE limits which sizes get one).
# Prints a Markdown table. Measurement only: nothing here is asserted.
# A size the machine has no room for is skipped, and said so on stderr:
# the target, the clone's copies of the pages it writes and a core on disk
# must fit in what is available, with room to spare. It ends whatever the
# target does: the target is checked after every step (a target that died
# ends the run with an error, never a wait), every wait and tool has a time
# limit, and the whole run BENCH_LIMIT seconds (default 3600); see
# bench/lib.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-3600}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # run.sh passes it absolute
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-15}
SIZES=${SIZES:-"16 256 1024 4096"}
THREADS=${THREADS:-"1 64"}
THP=${THP:-}                    # THP=1: the memory in transparent huge pages
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-clone.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

cc -O2 -pthread "$ROOT/bench/clone-target.c" -o "$WORK/clone-target"
median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }


# clone_capture [CORE]: one VA clone capture (and a core written from it);
# clone.lua's line in $WORK/clone
clone_capture () {
  bounded 600 "$LUA" "$ROOT/bench/clone.lua" "$TARGET" "$@" > "$WORK/clone" ||
    bench_fail "bench/clone.lua failed on pid $TARGET (status $?)"
  target_check "during a clone capture"
}

# fits MB: whether MB of target fit: memory for it and for the clone's
# copy of every page it writes, plus 1 GiB to spare; disk for one core
fits () {
  mem=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  disk=$(df -Pk "$WORK" | awk 'NR == 2 { print int($4 / 1024) }')
  if [ "$mem" -lt $(($1 * 2 + 1024)) ] || [ "$disk" -lt $(($1 + 1024)) ]; then
    echo "clone.sh: skipping $1 MiB: $mem MiB of memory and $disk MiB of disk available," \
         "$(($1 * 2 + 1024)) and $(($1 + 1024)) needed" >&2
    return 1
  fi
}

echo "| resident | threads | fork (ms) | pss pause (ms) | pss freeze (ms) | pause / fork | pss core write (s) | gcore pause (ms) | gcore wall (s) | gcore pause / pss pause |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mb in $SIZES; do
  for n in $THREADS; do
    fits "$mb" || continue
    rm -f "$WORK/in" "$WORK/out"
    mkfifo "$WORK/in"
    : > "$WORK/out"
    "$WORK/clone-target" "$mb" "$n" ${THP:+thp} < "$WORK/in" > "$WORK/out" 2> "$TARGET_ERR" &
    TARGET=$!
    # read-write: never blocks, whether or not the target opened its end;
    # the target sees EOF (and exits) once this shell is gone
    exec 3<> "$WORK/in"
    wait_line '^ready' "$WORK/out" 120
    sleep 0.2
    ask fork
    fork=$answer
    : > "$WORK/pause"; : > "$WORK/freeze"
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
      ask reset
      sleep 0.05
      clone_capture
      awk '{ print $1 }' "$WORK/clone" >> "$WORK/freeze"
      sleep 0.05
      ask gap
      echo "$answer" >> "$WORK/pause"
      i=$((i + 1))
    done
    pause=$(median < "$WORK/pause")
    freeze=$(median < "$WORK/freeze")
    sync   # neither writer pays for the other's dirty pages
    clone_capture "$WORK/pss.core"
    core=$(awk '{ printf "%.2f", $3 / 1000 }' "$WORK/clone")
    rm -f "$WORK/pss.core"; sync
    gpause="-"; gwall="-"
    case " ${SIZES_GCORE:-$SIZES} " in *" $mb "*)
      if command -v gcore > /dev/null 2>&1; then
        sync
        ask reset
        sleep 0.05
        t0=$(date +%s%N)
        bounded 1200 gcore -o "$WORK/core" "$TARGET" > /dev/null 2>&1 || :
        t1=$(date +%s%N)
        target_check "during gcore"
        sleep 0.05
        ask gap
        gpause=$(echo "$answer" | awk '{ printf "%.0f", $1 / 1000 }')
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
    stop_target
  done
done
