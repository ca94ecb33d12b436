#!/bin/sh
# bench/usage.sh BUILD -- the memory usage per region (the memory_usage
# option, PSS_LINUX_CAPTURE_MEMORY_USAGE) against psutil's memory_maps()
# and against the smaps floor, on run.sh's two targets; prints Markdown.
#
#   fat    64 threads,  1,024 fds,  4,096 mappings, 256 MiB resident
#   large  256 threads, 8,192 fds, 32,768 mappings, 256 MiB resident
#
# On the same target, PASSES times in turn: bench/floor.c in its smaps
# mode (smaps, maps, smaps_rollup and pagemap read without parsing),
# bench/usage.lua (lua5.4: pss captures with and without memory_usage, the
# option sets taken in turn each round), the same with the library of BASE
# if given, and bench/usage_psutil.py (Debian's python3 with psutil). A
# figure is the median of the passes' medians, with their lowest and
# highest; a ratio is taken within each pass (both sides measured minutes
# apart at most), then its median over the passes.
#
# Environment: REPS (default 40) rounds per tool and pass on "fat", REPS/4
# (at least 5) on "large"; psutil does half as many (at least 5). PASSES
# (default 5). BASE: a tree of another commit (`git archive COMMIT | tar -x
# -C DIR`), built there with BASE_BUILD (default build/base; its
# lua/pss/core.so); its pss is measured on the same targets with
# bench/usage.lua, which leaves out the option sets it does not know.
#
# It ends whatever the targets do: each is checked after every tool, every
# wait and tool has a time limit, and the whole run BENCH_LIMIT seconds
# (default 3600); see bench/lib.sh.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-3600}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REPS=${REPS:-40}
PASSES=${PASSES:-5}
BASE=${BASE:-}
BASE_BUILD=${BASE_BUILD:-build/base}
LUA=lua5.4
PYTHON=/usr/bin/python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-usage.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

# start_target THREADS EXTRA_FDS EXTRA_MAPS RESIDENT_MB: sets TARGET (pid)
start_target () {
  : > "$WORK/target.out"
  "$BUILD/pss-target" --threads "$1" --extra-fds "$2" --extra-maps "$3" \
    --resident "$4" --exit-after 600000 </dev/null >"$WORK/target.out" 2>"$TARGET_ERR" &
  TARGET=$!
  wait_line '^ready$' "$WORK/target.out" 60
}

# tool TARGET_NAME TOOL_NAME COMMAND...: COMMAND's lines, prefixed with
# both names, to the results
tool () {
  tool_target=$1 tool_name=$2
  shift 2
  bounded 1800 "$@" > "$WORK/tool.out" || bench_fail "$* failed (status $?)"
  target_check "during $*"
  sed "s/^/$tool_target $tool_name /" "$WORK/tool.out" >> "$WORK/results"
}

count_fds () { ls "/proc/$TARGET/fd" | wc -l; }
count_maps () { wc -l < "/proc/$TARGET/maps"; }
count_threads () { ls "/proc/$TARGET/task" | wc -l; }
rss_mib () { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$TARGET/status"; }

# bench NAME THREADS FDS MAPS RESIDENT_MB REPS: one target, every tool.
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
  echo "usage.sh: $name: pid $TARGET, $(count_threads) threads, $(count_fds) fds," \
       "$(count_maps) mappings, $(rss_mib) MiB resident; $reps rounds" >&2
  {
    echo "$name target threads $(count_threads)"
    echo "$name target fds $(count_fds)"
    echo "$name target regions $(count_maps)"
    echo "$name target resident $(rss_mib)"
    echo "$name target reps $reps"
    echo "$name target psutil_reps $preps"
  } >> "$WORK/results"
  pass=1
  while [ "$pass" -le "$PASSES" ]; do
    tool "$name" "floor$pass" "$BUILD/bench-floor" "$TARGET" "$reps" smaps
    tool "$name" "pss$pass" env LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/lua/?.so;;" \
      $LUA "$ROOT/bench/usage.lua" "$TARGET" "$reps"
    if [ -n "$BASE" ]; then
      tool "$name" "base$pass" env LUA_PATH="$BASE/lua/?.lua;;" \
        LUA_CPATH="$BASE/$BASE_BUILD/lua/?.so;;" $LUA "$ROOT/bench/usage.lua" "$TARGET" "$reps"
    fi
    tool "$name" "psutil$pass" $PYTHON "$ROOT/bench/usage_psutil.py" "$TARGET" "$preps"
    echo "usage.sh: $name: pass $pass of $PASSES done" >&2
    pass=$((pass + 1))
  done
  stop_target
}

if ! [ -x "$BUILD/pss-target" ] || ! [ -f "$BUILD/lua/pss/core.so" ]; then
  bench_fail "$BUILD has no pss-target or lua/pss/core.so (make BUILD=$BUILD all)"
fi
if [ -n "$BASE" ]; then
  case $BASE in /*) ;; *) BASE=$ROOT/$BASE ;; esac
  [ -f "$BASE/$BASE_BUILD/lua/pss/core.so" ] || bench_fail "no $BASE/$BASE_BUILD/lua/pss/core.so"
fi
$PYTHON -c 'import psutil' 2> /dev/null ||
  bench_fail "$PYTHON cannot import psutil (Debian: python3-psutil)"
$LUA -e 'require "system"' 2> /dev/null || bench_fail "$LUA cannot load lua-system (its clock)"
cc -std=c11 -O2 -Wall -Wextra "$ROOT/bench/floor.c" -o "$BUILD/bench-floor"
: > "$WORK/results"
large_reps=$((REPS / 4)); [ "$large_reps" -ge 5 ] || large_reps=5
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
bench fat 64 1024 4096 256 "$REPS"
bench large 256 8192 32768 256 "$large_reps"

echo "Machine: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores," \
  "Linux $(uname -r); load average $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
awk -v passes="$PASSES" -v base="$BASE" -f - "$WORK/results" <<'EOF'
$2 == "target" { v[$1 " target " $3] = $4; next }
$3 == "count" { v[$1 " " $2 " count " $4] = $5; next }
{ v[$1 " " $2 " " $3] = $4 }
# x[1..n], the n passes' values, sorted; sets med, lo and hi
function stats (n,   i, j, y) {
  for (i = 2; i <= n; i++) {
    y = x[i]
    for (j = i - 1; j >= 1 && x[j] > y; j--) x[j + 1] = x[j]
    x[j + 1] = y
  }
  lo = x[1]; hi = x[n]; med = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
}
function have (t, tool, name) { return (t " " tool "1 " name) in v }
# a tool's figure over the passes: "median (lowest–highest)"
function fig (t, tool, name,   p) {
  if (!have(t, tool, name)) return ""
  for (p = 1; p <= passes; p++) x[p] = v[t " " tool p " " name]
  stats(passes)
  return passes == 1 ? sprintf("%.2f", med) : sprintf("%.2f (%.2f–%.2f)", med, lo, hi)
}
# a / b within each pass, then over the passes
function ratio (t, ta, na, tb, nb,   p) {
  if (!have(t, ta, na) || !have(t, tb, nb)) return ""
  for (p = 1; p <= passes; p++) x[p] = v[t " " ta p " " na] / v[t " " tb p " " nb]
  stats(passes)
  return passes == 1 ? sprintf("%.2f×", med) : sprintf("%.2f× (%.2f–%.2f)", med, lo, hi)
}
# a - b within each pass, then its median over the passes
function diff (t, ta, na, tb, nb,   p) {
  for (p = 1; p <= passes; p++) x[p] = v[t " " ta p " " na] - v[t " " tb p " " nb]
  stats(passes)
  return sprintf("%.2f", med)
}
function count (t, tool, what) { return v[t " " tool "1 count " what] }
function row (label, a, b) { printf "| %s | %s | %s |\n", label, a, b }
function frow (label, tool, name) { row(label, fig("fat", tool, name), fig("large", tool, name)) }
function rrow (label, ta, na, tb, nb) {
  row(label, ratio("fat", ta, na, tb, nb), ratio("large", ta, na, tb, nb))
}
function drow (label, ta, na, tb, nb) {
  row(label, diff("fat", ta, na, tb, nb), diff("large", ta, na, tb, nb))
}
# counts of the first pass: "a / b" or "a / b / c"
function crow (label, f1, w1, f2, w2, f3, w3,   i, t, c) {
  for (i = 1; i <= 2; i++) {
    t = i == 1 ? "fat" : "large"
    c[t] = count(t, f1, w1) " / " count(t, f2, w2) (f3 == "" ? "" : " / " count(t, f3, w3))
  }
  row(label, c["fat"], c["large"])
}
END {
  print "| target | threads | fds | mappings | resident MiB | rounds per pass (floor, pss / psutil) |"
  print "| --- | ---: | ---: | ---: | ---: | ---: |"
  for (i = 1; i <= 2; i++) {
    t = i == 1 ? "fat" : "large"
    printf "| %s | %d | %d | %d | %d | %d / %d |\n", t, v[t " target threads"], v[t " target fds"],
      v[t " target regions"], v[t " target resident"], v[t " target reps"], v[t " target psutil_reps"]
  }
  printf "\nMedian ms of %d passes (lowest–highest pass).\n\n", passes
  print "| measure | fat | large |"
  print "| --- | ---: | ---: |"
  frow("floor: smaps to EOF, 1 MiB reads", "floor", "smaps")
  frow("floor: smaps to EOF, 64 KiB reads", "floor", "smaps-64k")
  frow("floor: the process record's files + smaps", "floor", "floor-usage")
  frow("floor: maps to EOF", "floor", "maps")
  frow("floor: smaps_rollup to EOF", "floor", "smaps-rollup")
  frow("pagemap of every mapping (ranges known)", "floor", "pagemap")
  frow("maps + pagemap of every mapping", "floor", "maps+pagemap")
  frow("pss {va_space, memory_usage}: capture", "pss", "usage/capture")
  frow("pss {va_space, memory_usage}: capture + walk", "pss", "usage/capture+walk")
  frow("pss {va_space, memory_usage}: regions (va_space counter)", "pss", "usage/va_space")
  frow("pss {va_space, memory_usage}: freeze (counter)", "pss", "usage/freeze")
  frow("pss {va_space}: capture", "pss", "va_space/capture")
  frow("pss {va_space}: capture + walk", "pss", "va_space/capture+walk")
  frow("pss {va_space}: regions (va_space counter)", "pss", "va_space/va_space")
  frow("pss default + memory_usage: capture", "pss", "default+usage/capture")
  frow("pss default + memory_usage: capture + walk", "pss", "default+usage/capture+walk")
  frow("pss default: capture", "pss", "default/capture")
  frow("pss default: capture + walk", "pss", "default/capture+walk")
  if (base != "") {
    frow("base pss {va_space}: capture", "base", "va_space/capture")
    frow("base pss {va_space}: capture + walk", "base", "va_space/capture+walk")
    frow("base pss {va_space}: regions (va_space counter)", "base", "va_space/va_space")
    frow("base pss default: capture", "base", "default/capture")
    frow("base pss default: capture + walk", "base", "default/capture+walk")
  }
  frow("psutil: Process(pid).memory_maps(grouped=False)", "psutil", "memory_maps")
  print "\n| ratio, within each pass | fat | large |"
  print "| --- | ---: | ---: |"
  rrow("psutil / pss {va_space, memory_usage} capture + walk", "psutil", "memory_maps", "pss", "usage/capture+walk")
  rrow("psutil / pss {va_space, memory_usage} capture", "psutil", "memory_maps", "pss", "usage/capture")
  rrow("pss {va_space, memory_usage} capture / floor (process files + smaps)", "pss", "usage/capture", "floor", "floor-usage")
  rrow("pss {va_space, memory_usage} capture + walk / floor", "pss", "usage/capture+walk", "floor", "floor-usage")
  rrow("pss regions with memory_usage (va_space counter) / smaps floor", "pss", "usage/va_space", "floor", "smaps")
  rrow("pss regions without it (va_space counter) / maps floor", "pss", "va_space/va_space", "floor", "maps")
  if (base != "") {
    rrow("default capture: this tree / base", "pss", "default/capture", "base", "default/capture")
    rrow("default capture + walk: this tree / base", "pss", "default/capture+walk", "base", "default/capture+walk")
    rrow("{va_space} capture: this tree / base", "pss", "va_space/capture", "base", "va_space/capture")
  }
  print "\n| ms, a difference within each pass | fat | large |"
  print "| --- | ---: | ---: |"
  drow("with memory_usage: freeze − regions (stopping the threads, the process record)", "pss", "usage/freeze", "pss", "usage/va_space")
  drow("with memory_usage: regions − smaps floor", "pss", "usage/va_space", "floor", "smaps")
  drow("Lua walk with memory_usage (capture + walk − capture)", "pss", "usage/capture+walk", "pss", "usage/capture")
  drow("Lua walk without it", "pss", "va_space/capture+walk", "pss", "va_space/capture")
  print "\n| count (first pass) | fat | large |"
  print "| --- | ---: | ---: |"
  crow("page faults in a capture: {va_space, memory_usage} / {va_space}", "pss", "usage/faults", "pss", "va_space/faults", "", "")
  crow("regions: pss / psutil / maps", "pss", "regions", "psutil", "regions", "floor", "mappings")
  crow("Rss kB: pss / psutil / smaps", "pss", "rss_kb", "psutil", "rss_kb", "floor", "smaps_rss_kb")
  crow("kB present: smaps Rss / pagemap", "floor", "smaps_rss_kb", "floor", "pagemap_present_kb", "", "")
  crow("kB private: smaps Private_Clean + Private_Dirty / pagemap mapped once", "floor", "smaps_private_kb",
       "floor", "pagemap_exclusive_kb", "", "")
  crow("Pss kB: pss / psutil", "pss", "pss_kb", "psutil", "pss_kb", "", "")
  crow("Swap kB: pss / psutil / smaps", "pss", "swap_kb", "psutil", "swap_kb", "floor", "smaps_swap_kb")
  crow("pagemap pages: mapped / present / swapped", "floor", "pages_mapped", "floor", "pages_present", "floor", "pages_swapped")
  crow("bytes read: smaps / pagemap", "floor", "smaps_bytes", "floor", "pagemap_bytes", "", "")
}
EOF
