#!/bin/sh
# save.sh BUILD -- saving a snapshot to a file and loading it back, against
# capturing it, and saving a process's memory against gcore, in one run.
#
#   tables: on the "fat" target of run.sh (64 threads, 1,024 fds, 4,096
#           mappings, 256 MiB resident), bench/save.lua's ROUNDS rounds
#           (default 30) for two option sets: the default Lua capture
#           (threads, handles, va_space) and what `pss save` takes without
#           --memory (those and thread_context, stacks,
#           measure_performance): capture, save to a file in the work
#           directory ($TMPDIR), to /dev/shm and to /dev/null, load, and
#           the walk of every thread, handle and region after each; the
#           file's size against the payloads of its sections (the store's
#           rows and pools) and against the snapshot's JSON;
#   memory: on a pss-target of MEM_SIZES MiB resident (default "256 1024")
#           and MEM_THREADS threads (default "1 64"), MEM_ROUNDS times
#           (default 3) each: `pss save PID --memory -o FILE` (wall time
#           of the command), snap:save(FILE, {memory = true}) after a
#           va_clone capture (the save alone), and `gcore -o FILE PID`
#           (wall time); medians, and the files' sizes. Every file is in
#           the work directory, removed after it is measured, with a
#           `sync` before each write so that none pays for another's
#           dirty pages.
# Prints Markdown. Measurement only: nothing here is asserted. A size the
# machine has no room for is skipped, and said so on stderr. It ends
# whatever the targets do: each is checked after every step (a target
# that died ends the run with an error), every wait and tool has a time
# limit, and the whole run BENCH_LIMIT seconds (default 1800); see
# bench/lib.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-1800}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # run.sh passes it absolute
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-30}
MEM_SIZES=${MEM_SIZES:-"256 1024"}
MEM_THREADS=${MEM_THREADS:-"1 64"}
MEM_ROUNDS=${MEM_ROUNDS:-3}
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-save.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps
# a directory on tmpfs too, removed on every exit as $WORK is
SHM=
if [ -d /dev/shm ]; then SHM=$(mktemp -d /dev/shm/pss-save.XXXXXX); fi
trap 'if [ -n "$SHM" ]; then rm -rf "$SHM"; fi; bench_cleanup' EXIT

[ -x "$BUILD/pss-target" ] || bench_fail "no $BUILD/pss-target (make BUILD=... all builds it)"
median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_ns () { date +%s%N; }
fs_type () { df -PT "$1" | awk 'NR == 2 { print $2 }'; }

# start_target THREADS EXTRA_FDS EXTRA_MAPS RESIDENT_MB: sets TARGET (pid);
# THREADS counts the main thread
start_target () {
  : > "$WORK/target.out"
  "$BUILD/pss-target" --threads $(($1 - 1)) --extra-fds "$2" --extra-maps "$3" \
    --resident "$4" --exit-after 600000 </dev/null >"$WORK/target.out" 2>"$TARGET_ERR" &
  TARGET=$!
  wait_line '^ready$' "$WORK/target.out" 120
}

count_fds () { ls "/proc/$TARGET/fd" | wc -l; }
count_maps () { wc -l < "/proc/$TARGET/maps"; }
count_threads () { ls "/proc/$TARGET/task" | wc -l; }
rss_mib () { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$TARGET/status"; }

# fat_target: run.sh's "fat" target, its fd and mapping totals reached as
# run.sh reaches them (a first start counts the standard set)
fat_target () {
  start_target 64 0 0 256
  extra_fds=$((1024 - $(count_fds))) extra_maps=$((4096 - $(count_maps)))
  stop_target
  start_target 64 "$extra_fds" "$extra_maps" 256
  if [ "$(count_maps)" -ne 4096 ]; then
    extra_maps=$((extra_maps + 4096 - $(count_maps)))
    stop_target
    start_target 64 "$extra_fds" "$extra_maps" 256
  fi
}

# fits MB: whether a target of MB resident and two files of MB fit, with
# 1 GiB to spare (the clone shares the idle target's pages)
fits () {
  mem=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
  disk=$(df -Pk "$WORK" | awk 'NR == 2 { print int($4 / 1024) }')
  if [ "$mem" -lt $(($1 * 2 + 1024)) ] || [ "$disk" -lt $(($1 * 2 + 1024)) ]; then
    echo "save.sh: skipping $1 MiB: $mem MiB of memory and $disk MiB of disk available," \
         "$(($1 * 2 + 1024)) of each needed" >&2
    return 1
  fi
}

# timed_run NAME COMMAND...: COMMAND's wall time (ms) appended to $WORK/NAME
timed_run () {
  timed_name=$1
  shift
  sync
  t0=$(now_ns)
  timed_status=0
  bounded 1200 "$@" > "$WORK/tool.out" 2> "$WORK/tool.err" || timed_status=$?
  if [ "$timed_status" -ne 0 ]; then
    sed 's/^/  /' "$WORK/tool.err" | tail -n 5 >&2
    bench_fail "$* failed (status $timed_status)"
  fi
  t1=$(now_ns)
  target_check "during $*"
  echo $(((t1 - t0) / 1000)) | awk '{ print $1 / 1000 }' >> "$WORK/$timed_name"
}

# file_mib PATH: its size in MiB, and the MiB allocated on disk where
# fewer (a sparse file); then removes it
file_mib () {
  stat -c '%s %b %B' "$1" | awk '{ printf "%.1f", $1 / 1048576
    if ($2 * $3 < $1 * 0.99) printf " (%.1f on disk)", $2 * $3 / 1048576 }'
  rm -f "$1"
  sync
}

# memory MB THREADS: one row of the memory table into $WORK/memtable
memory () {
  start_target "$2" 0 0 "$1"
  echo "save.sh: memory: pid $TARGET, $(count_threads) threads, $(rss_mib) MiB resident" >&2
  for f in cli lua-save lua-capture lua-freeze gcore; do : > "$WORK/m.$f"; done
  r=0
  while [ "$r" -lt "$MEM_ROUNDS" ]; do
    timed_run m.cli "$LUA" "$ROOT/bin/pss" save "$TARGET" --memory -o "$WORK/cli.pss"
    cli_mib=$(file_mib "$WORK/cli.pss")
    sync
    bounded 1200 "$LUA" "$ROOT/bench/save.lua" memory "$TARGET" "$WORK/lua.pss" > "$WORK/lua.out" ||
      bench_fail "bench/save.lua memory failed on pid $TARGET (status $?)"
    target_check "during bench/save.lua memory"
    lua_mib=$(file_mib "$WORK/lua.pss")
    for w in save capture freeze; do
      awk -v w="$w" '$1 == w { print $2 }' "$WORK/lua.out" >> "$WORK/m.lua-$w"
    done
    if [ "$have_gcore" = yes ]; then
      timed_run m.gcore gcore -o "$WORK/core" "$TARGET"
      gcore_mib=$(file_mib "$WORK/core.$TARGET")
    fi
    r=$((r + 1))
  done
  cli=$(median < "$WORK/m.cli")
  save=$(median < "$WORK/m.lua-save")
  gcore="-"
  if [ "$have_gcore" = yes ]; then gcore=$(median < "$WORK/m.gcore"); else gcore_mib="-"; fi
  printf '| %d MiB | %d | %.2f | %.1f | %.1f | %.2f | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" \
    "$(echo "$cli" | awk '{ print $1 / 1000 }')" "$(median < "$WORK/m.lua-capture")" \
    "$(median < "$WORK/m.lua-freeze")" "$(echo "$save" | awk '{ print $1 / 1000 }')" \
    "$cli_mib" "$lua_mib" \
    "$(echo "$gcore" | awk '{ if ($1 == "-") print "-"; else printf "%.2f", $1 / 1000 }')" "$gcore_mib" \
    "$(awk -v a="$cli" -v g="$gcore" 'BEGIN { if (g == "-") print "-"; else printf "%.2f", a / g }')" \
    "$(awk -v a="$save" -v g="$gcore" 'BEGIN { if (g == "-") print "-"; else printf "%.2f", a / g }')" \
    >> "$WORK/memtable"
  echo "$1 $2 $cli $save $gcore" >> "$WORK/memgoal"
  stop_target
}

have_gcore=no
if command -v gcore > /dev/null 2>&1; then have_gcore=yes
else echo "save.sh: no gcore (Debian: gdb): the memory table has no gcore column" >&2; fi
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- the tables
fat_target
fat="$(count_threads) threads, $(count_fds) fds, $(count_maps) mappings, $(rss_mib) MiB resident"
echo "save.sh: fat: pid $TARGET, $fat; $ROUNDS rounds" >&2
bounded 1200 "$LUA" "$ROOT/bench/save.lua" tables "$TARGET" "$ROUNDS" "$WORK" ${SHM:+"$SHM"} > "$WORK/tables" ||
  bench_fail "bench/save.lua tables failed on pid $TARGET (status $?)"
target_check "during bench/save.lua tables"
stop_target

# --- the memory
: > "$WORK/memtable"; : > "$WORK/memgoal"
for mb in $MEM_SIZES; do
  for n in $MEM_THREADS; do
    fits "$mb" || continue
    memory "$mb" "$n"
  done
done

shm_fs="absent"
[ -z "$SHM" ] || shm_fs=$(fs_type "$SHM")
echo "Machine: $(awk -F': *' '/^model name/ { m = $2 } /^processor/ { n++ } END { printf "%s, %d cores", m, n }' /proc/cpuinfo), Linux $(cat /proc/sys/kernel/osrelease)."
echo "The work directory (\$TMPDIR or /tmp) is on $(fs_type "$WORK"); /dev/shm is $shm_fs."
echo "Load average before the run: $load_before; after: $(cut -d ' ' -f 1-3 /proc/loadavg)."
echo
echo "The fat target: $fat; $ROUNDS rounds, ms, median (min)."
echo "\"default\": pss.capture(pid, {\"threads\", \"handles\", \"va_space\"});"
echo "\"pss save\": those and thread_context, stacks, measure_performance."
echo
awk -v ws="$(fs_type "$WORK")" -v shm="$shm_fs" '
  $2 != "size" && $2 != "count" && $2 != "table" { med[$1, $2] = $3; low[$1, $2] = $4 }
  function cell (set, name) {
    return ((set, name) in med) ? sprintf("%.2f (%.2f)", med[set, name], low[set, name]) : "-"
  }
  function row (label, name) { printf "| %s | %s | %s |\n", label, cell("default", name), cell("save", name) }
  END {
    print "| ms | default | pss save |"
    print "| --- | ---: | ---: |"
    row("capture", "capture")
    row("save to a file (" ws ")", "save-file")
    row("save to /dev/shm (" shm ")", "save-shm")
    row("save to /dev/null", "save-null")
    row("load (pss.load of the file)", "load")
    row("walk of the captured snapshot", "walk")
    row("walk of the loaded snapshot", "load-walk")
    row("capture + walk", "capture+walk")
    row("load + walk", "load+walk")
    printf "| load / capture | %.3f | %.3f |\n", med["default", "load"] / med["default", "capture"],
      med["save", "load"] / med["save", "capture"]
    printf "| (load + walk) / (capture + walk) | %.3f | %.3f |\n",
      med["default", "load+walk"] / med["default", "capture+walk"],
      med["save", "load+walk"] / med["save", "capture+walk"]
  }' "$WORK/tables"
echo
awk '
  $2 == "size" { size[$1, $3] = $4 }
  $2 == "count" { count[$1, $3] = $4 }
  $2 == "table" { if (!seen[$3]++) tables[++ntables] = $3; rows[$1, $3] = $4; rsize[$1, $3] = $5; pool[$1, $3] = $6 }
  function tcell (set, t) {
    return ((set, t) in rows) ? sprintf("%d x %d + %d", rows[set, t], rsize[set, t], pool[set, t]) : "-"
  }
  function both (label, what, fmt) {
    printf "| %s | " fmt " | " fmt " |\n", label, size["default", what], size["save", what]
  }
  function payload (set) { return size[set, "store"] + size[set, "pstrings"] + size[set, "rows"] + size[set, "strings"] + size[set, "other"] }
  END {
    print "| bytes | default | pss save |"
    print "| --- | ---: | ---: |"
    printf "| threads, handles, regions, stack pages | %d, %d, %d, %d | %d, %d, %d, %d |\n",
      count["default", "threads"], count["default", "handles"], count["default", "regions"], count["default", "aux_pages"],
      count["save", "threads"], count["save", "handles"], count["save", "regions"], count["save", "aux_pages"]
    both("the file", "file", "%d")
    for (i = 1; i <= ntables; i++) {
      t = tables[i]
      printf "| %s: rows x row size + pool | %s | %s |\n", t, tcell("default", t), tcell("save", t)
    }
    both("rows (the four tables, with their counts)", "rows", "%d")
    both("string pools of the tables", "strings", "%d")
    both("process record and its pool", "store", "%d")
    printf "| the store: every section'"'"'s payload | %d | %d |\n", payload("default"), payload("save")
    both("file and section headers", "headers", "%d")
    printf "| file / store | %.3f | %.3f |\n", size["default", "file"] / payload("default"), size["save", "file"] / payload("save")
    both("pss.json of the snapshot", "json", "%d")
    printf "| file / JSON | %.2f | %.2f |\n", size["default", "file"] / size["default", "json"], size["save", "file"] / size["save", "json"]
  }' "$WORK/tables"
echo
echo "Goals: load <= 0.2x the capture; file <= 1.5x the store."
echo
awk '$2 != "size" && $2 != "count" && $2 != "table" { med[$1, $2] = $3 }
     $2 == "size" { size[$1, $3] = $4 }
     END {
       split("default save", sets, " ")
       for (i = 1; i <= 2; i++) {
         s = sets[i]; label = s == "save" ? "pss save" : s
         r = med[s, "load"] / med[s, "capture"]
         printf "- %s: load %.2f ms against a capture of %.2f ms: %.3fx (%s)\n", label, med[s, "load"],
           med[s, "capture"], r, r <= 0.2 ? "met" : "not met"
         p = size[s, "store"] + size[s, "pstrings"] + size[s, "rows"] + size[s, "strings"] + size[s, "other"]
         printf "- %s: file %d bytes against a store of %d: %.3fx (%s)\n", label, size[s, "file"], p,
           size[s, "file"] / p, size[s, "file"] <= 1.5 * p ? "met" : "not met"
       }
     }' "$WORK/tables"
echo
if [ -s "$WORK/memtable" ]; then
  echo "Memory: pss-target with the resident memory (one private anonymous mapping written"
  echo "with 0x5a, 4 KiB pages, the target idle), files on $(fs_type "$WORK"); medians of $MEM_ROUNDS runs, each after a \`sync\`."
  echo "\"pss save\": \`pss save PID --memory -o FILE\`, the whole command (wall); capture, freeze"
  echo "and \"save alone\": bench/save.lua, the same capture (pss save's options and va_clone)"
  echo "then snap:save(FILE, {memory = true}) timed alone; gcore: \`gcore -o FILE PID\` (wall)."
  echo
  echo "| resident | threads | pss save (s) | capture (ms) | freeze (ms) | save alone (s) | pss save file (MiB) | save alone file (MiB) | gcore (s) | gcore file (MiB) | pss save / gcore | save alone / gcore |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  cat "$WORK/memtable"
  echo
  echo "Goal: the memory save at least as fast as gcore."
  echo
  awk '$5 != "-" { printf "- %d MiB, %d threads: pss save %.2f s against gcore %.2f s: %.2fx (%s); the save alone %.2f s (%.2fx)\n",
         $1, $2, $3 / 1000, $5 / 1000, $3 / $5, $3 <= $5 ? "met" : "not met", $4 / 1000, $4 / $5 }' "$WORK/memgoal"
else
  echo "Memory: no size fitted on this machine (see stderr)."
fi
