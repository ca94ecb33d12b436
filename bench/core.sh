#!/bin/sh
# core.sh BUILD -- `pss core PID` against `gcore PID` on the same target in
# the same run: the wall time from the command's start to a complete core
# file, for a pss-target of SIZES MiB resident (default "1024 4096") and
# THREADS threads (default "1 64"), ROUNDS rounds each (default 3).
#   pss core: `pss core -o FILE PID` (the capture, a VA clone and the
#             threads' registers, then the core written from the clone
#             while the target runs);
#   gcore:    `gcore -o FILE PID` (the target stopped throughout).
# A round runs both, in alternating order, each after a `sync`, each core
# written to the same directory ($TMPDIR) and removed before the next:
# neither pays for the other's dirty pages. The page cache is never
# dropped (that is system-wide). Prints a Markdown table of medians (and
# the range), the ratio gcore / pss, the cores' sizes (and what they take
# on disk: untouched memory is holes), and the load before and after.
# PSS_ROOT (default this tree) names the tree whose bin/pss runs, with
# BUILD's pss.core: another build to compare with.
# Measurement only: nothing here is asserted. A size the machine has no
# room for is skipped, and said so on stderr. It ends whatever the target
# does: the target is checked after every step (a target that died ends
# the run with an error), every tool has a time limit, and the whole run
# BENCH_LIMIT seconds (default 3600); see bench/lib.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-3600}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # run.sh passes it absolute
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"1024 4096"}
THREADS=${THREADS:-"1 64"}
PSS_ROOT=${PSS_ROOT:-$ROOT}
export LUA_CPATH="$BUILD/lua/?.so;;"     # bin/pss takes pss.core from it
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-core.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

[ -x "$BUILD/pss-target" ] || bench_fail "no $BUILD/pss-target (make BUILD=... all builds it)"
[ -f "$BUILD/lua/pss/core.so" ] || bench_fail "no $BUILD/lua/pss/core.so (make BUILD=... all)"
have_gcore=no
if command -v gcore > /dev/null 2>&1; then have_gcore=yes; else echo "core.sh: no gcore" >&2; fi
median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range () { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
load () { cut -d ' ' -f 1-3 /proc/loadavg; }

# start_target THREADS MB: a pss-target with THREADS threads in all, MB
# resident (written: no page is shared with another process)
start_target () {
  : > "$WORK/target.out"
  "$BUILD/pss-target" --threads $(($1 - 1)) --resident "$2" --exit-after 3600000 \
    < /dev/null > "$WORK/target.out" 2> "$TARGET_ERR" &
  TARGET=$!
  wait_line '^ready$' "$WORK/target.out" 300
}

# fits MB: memory for the target and as much again (pages the target
# writes while a clone shares them are copied), disk for one core, each
# with 1 GiB to spare
fits () {
  mem=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  disk=$(df -Pk "$WORK" | awk 'NR == 2 { print int($4 / 1024) }')
  if [ "$mem" -lt $(($1 * 2 + 1024)) ] || [ "$disk" -lt $(($1 + 1024)) ]; then
    echo "core.sh: skipping $1 MiB: $mem MiB of memory and $disk MiB of disk available," \
         "$(($1 * 2 + 1024)) and $(($1 + 1024)) needed" >&2
    return 1
  fi
}

# timed NAME FILE COMMAND...: COMMAND's wall time (s), after a sync,
# appended to $WORK/NAME; FILE (the core it wrote) measured into
# $WORK/NAME.size, then removed
timed () {
  timed_name=$1 timed_file=$2
  shift 2
  sync
  t0=$(date +%s%N)
  timed_status=0
  bounded 1200 "$@" > "$WORK/tool.out" 2> "$WORK/tool.err" || timed_status=$?
  t1=$(date +%s%N)
  if [ "$timed_status" -ne 0 ] || [ ! -f "$timed_file" ]; then
    sed 's/^/  /' "$WORK/tool.err" | tail -n 5 >&2
    bench_fail "$* failed (status $timed_status, file ${timed_file##*/})"
  fi
  target_check "during $*"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >> "$WORK/$timed_name"
  stat -c '%s %b %B' "$timed_file" | awk '{ printf "%.0f", $1 / 1048576
    if ($2 * $3 < $1 * 0.99) printf " (%.0f on disk)", $2 * $3 / 1048576 }' \
    > "$WORK/$timed_name.size"
  rm -f "$timed_file"
  sync
}

run_pss () {
  timed pss "$WORK/pss.core" "$LUA" "$PSS_ROOT/bin/pss" core -o "$WORK/pss.core" "$TARGET"
}
run_gcore () {
  [ "$have_gcore" = yes ] || return 0
  timed gcore "$WORK/gcore.$TARGET" gcore -o "$WORK/gcore" "$TARGET"
}

echo "load before: $(load); pss from $PSS_ROOT/bin/pss with $BUILD/lua/pss/core.so; cores in" \
     "$WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }'))"
echo
echo "| resident | threads | pss core (s) | range | gcore (s) | range | gcore / pss |" \
     "pss core MiB | gcore MiB |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mb in $SIZES; do
  for n in $THREADS; do
    fits "$mb" || continue
    start_target "$n" "$mb"
    : > "$WORK/pss"; : > "$WORK/gcore"; echo "-" > "$WORK/gcore.size"
    r=0
    while [ "$r" -lt "$ROUNDS" ]; do
      if [ $((r % 2)) -eq 0 ]; then run_pss; run_gcore; else run_gcore; run_pss; fi
      r=$((r + 1))
    done
    pss=$(median < "$WORK/pss")
    if [ -s "$WORK/gcore" ]; then
      gcore=$(median < "$WORK/gcore") grange=$(range < "$WORK/gcore")
      ratio=$(awk -v g="$gcore" -v p="$pss" 'BEGIN { printf "%.2fx", g / p }')
    else
      gcore=- grange=- ratio=-
    fi
    echo "| $mb MiB | $n | $pss | $(range < "$WORK/pss") | $gcore | $grange | $ratio |" \
         "$(cat "$WORK/pss.size") | $(cat "$WORK/gcore.size") |"
    stop_target
  done
done
echo
echo "load after: $(load)"
