#!/bin/sh
# stack.sh BUILD -- every thread's stack: `pss stack PID` against
# `eu-stack -p PID` and `gdb -batch -p PID -ex 'thread apply all bt'` (and
# `eu-stack -s -p PID` and `pss stack -s PID`, with source lines), on
# stack targets (BUILD/stack-target --meter) of 1, 16, 64 and 256 chain
# threads, each D = 10 and 50 frames deep in the chain (plus the main
# thread and the meter thread), in the same run.
#   wall:  each tool's wall time, median and min of ROUNDS runs (default 7);
#   CPU:   the CPU time (user + system) of the tool and its children in
#          those runs, median; wall and CPU come from bench/cputime.c,
#          which runs the tool (wait4's rusage, no start-up of its own);
#   pause: the longest gap the target's meter thread saw in its own 50 us
#          loop while the tool ran ("pause" resets and reads it), median
#          and max of the same runs; "no tool" is the gap while nothing
#          runs, for as long as eu-stack (or pss) ran: the noise of the
#          machine, which grows with the window;
#   seen:  the fewest chain threads whose stack reached stack_chain_top in
#          a tool's output over its runs (every tool must see them all for
#          its time to mean something);
#   stops: eu-stack stops one thread at a time; one more run of it under
#          `perf trace -e ptrace` says how long it held each (where perf
#          trace works);
#   split: bench/stack.lua, in one process, splits what `pss stack` (and
#          `pss stack -s`, with source lines) does into the capture (and
#          libpss's freeze and stack-copy counters) and the unwinding, over
#          ROUNDS rounds and one cold round.
# Prints Markdown tables. Measurement only: nothing here is asserted.
# Until `pss stack` exists (the command is unknown), its rows say
# "pending" and the rest is measured. It ends whatever the target does:
# the target is checked after every tool (a target that died ends the run
# with an error, never a wait), every wait and tool has a time limit, and
# the whole run BENCH_LIMIT seconds (default 3600); see bench/lib.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
bench_limit "${BENCH_LIMIT:-3600}" "$0" "$@"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # run.sh passes it absolute
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-7}
THREADS=${THREADS:-"1 16 64 256"}
DEPTHS=${DEPTHS:-"10 50"}
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/lua/?.so;;"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pss-stack.XXXXXX")
TARGET_ERR=$WORK/target.err
bench_traps

[ -x "$BUILD/stack-target" ] || bench_fail "no $BUILD/stack-target (make BUILD=... all builds it)"
cc -std=c11 -O2 -Wall -Wextra "$ROOT/bench/cputime.c" -o "$WORK/cputime"
for t in eu-stack gdb; do
  command -v "$t" > /dev/null 2>&1 || bench_fail "no $t (Debian: elfutils, gdb)"
done

median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lowest () { sort -n | head -n 1; }
highest () { sort -n | tail -n 1; }

# start_target CHAINS DEPTH: sets TARGET; fd 3 writes to its stdin
start_target () {
  rm -f "$WORK/in"
  mkfifo "$WORK/in"
  : > "$WORK/out"
  "$BUILD/stack-target" --threads "$1" --depth "$2" --meter \
    < "$WORK/in" > "$WORK/out" 2> "$TARGET_ERR" &
  TARGET=$!
  # read-write: never blocks, whether or not the target opened its end;
  # the target sees EOF (and exits) once this shell is gone
  exec 3<> "$WORK/in"
  wait_line '^ready$' "$WORK/out" 60
  sleep 0.2
}

end_target () {
  exec 3>&-
  stop_target
}

# sets have_pss: whether `pss stack` exists yet: "yes", or "pending" when
# the command is unknown; any other failure ends the run
pss_ready () {
  status=0
  bounded 120 "$LUA" "$ROOT/bin/pss" stack "$TARGET" > "$WORK/probe" 2>&1 || status=$?
  target_check "during the probe of pss stack"
  if [ "$status" -eq 0 ]; then
    have_pss=yes
  elif grep -q "unknown command" "$WORK/probe"; then
    echo "stack.sh: \`pss stack\` does not exist yet: its figures are pending" >&2
    have_pss=pending
  else
    sed 's/^/  pss: /' "$WORK/probe" >&2
    bench_fail "pss stack $TARGET failed (status $status)"
  fi
}

# measure NAME COMMAND...: ROUNDS runs of COMMAND (the target's pid is
# appended) with the meter reset before and read after each; appends
# "NAME WALL_US PAUSE_US SEEN CPU_US" lines to $WORK/runs
measure () {
  name=$1
  shift
  i=0
  while [ "$i" -lt "$ROUNDS" ]; do
    ask pause pause
    status=0
    rm -f "$WORK/times"
    bounded 600 "$WORK/cputime" "$WORK/times" "$@" "$TARGET" \
      > "$WORK/tool.out" 2> "$WORK/tool.err" || status=$?
    target_check "during $*"
    ask pause pause
    if [ "$status" -ne 0 ]; then
      sed 's/^/  /' "$WORK/tool.err" | tail -n 5 >&2
      # eu-stack ends with 1 when some frame could not be read: its
      # stacks are still printed, and "seen" says whether they are whole
      if [ "$status" -eq 124 ] || [ "$status" -ge 128 ]; then
        bench_fail "$* $TARGET failed (status $status)"
      fi
      echo "stack.sh: $name ended with status $status on pid $TARGET" >&2
    fi
    seen=$(grep -c 'stack_chain_top' "$WORK/tool.out" || :)
    [ -s "$WORK/times" ] || bench_fail "no times from bench/cputime.c for $*"
    echo "$name $(awk '{ print $1 }' "$WORK/times") $answer $seen $(awk '{ print $2 }' "$WORK/times")" \
      >> "$WORK/runs"
    i=$((i + 1))
  done
}

# baseline TOOL: the gap with no tool running, over TOOL's median wall
# time, ROUNDS times: "idle-TOOL" lines. It is the noise TOOL's pause
# stands on: this machine's idle gaps reach milliseconds, more of them in a
# longer window.
baseline () {
  window=$(grep "^$1 " "$WORK/runs" | awk '{ print $2 / 1e6 }' | median)
  i=0
  while [ "$i" -lt "$ROUNDS" ]; do
    ask pause pause
    sleep "$window"
    ask pause pause
    echo "idle-$1 0 $answer 0 0" >> "$WORK/runs"
    i=$((i + 1))
  done
}

# row CHAINS DEPTH NAME LABEL: one table row of NAME's runs on this target
row () {
  if ! grep "^$3 " "$WORK/runs" > "$WORK/rows"; then
    printf '| %d | %d | %s | pending | | | pending | | | | |\n' "$1" "$2" "$4"
    return
  fi
  wall=$(awk '{ print $2 / 1000 }' "$WORK/rows" | median)
  wmin=$(awk '{ print $2 / 1000 }' "$WORK/rows" | lowest)
  cpu=$(awk '{ print $5 / 1000 }' "$WORK/rows" | median)
  pause=$(awk '{ print $3 / 1000 }' "$WORK/rows" | median)
  pmax=$(awk '{ print $3 / 1000 }' "$WORK/rows" | highest)
  seen=$(awk '{ print $4 }' "$WORK/rows" | lowest)
  ewall=$(grep '^eu-stack ' "$WORK/runs" | awk '{ print $2 / 1000 }' | median)
  epause=$(grep '^eu-stack ' "$WORK/runs" | awk '{ print $3 / 1000 }' | median)
  case $3 in idle-*)
    printf '| %d | %d | %s | | | | %.2f | %.2f | | %.2f | |\n' "$1" "$2" "$4" "$pause" "$pmax" \
      "$(awk -v a="$pause" -v b="$epause" 'BEGIN { print a / b }')"
    return ;;
  esac
  printf '| %d | %d | %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %d of %d |\n' "$1" "$2" "$4" \
    "$wall" "$wmin" "$cpu" \
    "$pause" "$pmax" "$(awk -v a="$wall" -v b="$ewall" 'BEGIN { print a / b }')" \
    "$(awk -v a="$pause" -v b="$epause" 'BEGIN { print a / b }')" "$seen" "$1"
  if [ "$3" = pss ]; then
    echo "$1 $2 $wall $pause $ewall $epause" >> "$WORK/goal"
  elif [ "$3" = pss-s ] || [ "$3" = eu-stack-s ]; then
    echo "$1 $2 $3 $wall" >> "$WORK/lines"
  fi
}

# phases CHAINS DEPTH [lines]: bench/stack.lua's medians on this target, a
# row of $WORK/split, and (without lines) "CHAINS DEPTH FREEZE_MS" into
# $WORK/freeze
phases () {
  bounded 600 "$LUA" "$ROOT/bench/stack.lua" "$TARGET" "$ROUNDS" ${3:+"$3"} > "$WORK/lua.out" ||
    bench_fail "bench/stack.lua failed on pid $TARGET (status $?)"
  target_check "during bench/stack.lua"
  awk -v c="$1" -v d="$2" -v l="${3:+yes}" '$1 != "count" { m[$1] = $2 } $1 == "count" { n[$2] = $3 }
    END { printf "| %d | %d | %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
            c, d, l == "" ? "no" : "yes", n["threads"], n["frames"], m["freeze"], m["aux-pages"], m["capture"],
            m["first-stack"], m["other-stacks"], m["total"], m["cold-capture"],
            m["cold-first-stack"] + m["cold-other-stacks"], m["cold-total"] }' "$WORK/lua.out" >> "$WORK/split"
  if [ -z "${3:-}" ]; then
    awk -v c="$1" -v d="$2" '$1 == "freeze" { print c, d, $2 }' "$WORK/lua.out" >> "$WORK/freeze"
  fi
}

# stops CHAINS DEPTH: one more eu-stack run under `perf trace -e ptrace`:
# how long it kept each thread stopped (PTRACE_ATTACH to PTRACE_DETACH),
# median and max over the threads, and the meter thread's, into $WORK/stops
stops () {
  [ "$have_perf" = yes ] || return 0
  meter=$(awk '$1 == "thread" && $4 == "meter" { print $2 }' "$WORK/out")
  bounded 600 perf trace -e ptrace -o "$WORK/trace" eu-stack -p "$TARGET" > /dev/null 2>&1 || :
  target_check "during eu-stack under perf trace"
  # perf trace's lines: "TIME ( DURATION ms): eu-stack/PID ptrace(request: R, pid: TID ..."
  # request 16 is PTRACE_ATTACH, 17 PTRACE_DETACH; "TID STOP_MS" lines out
  awk '{ req = ""; tid = ""
         for (i = 1; i < NF; i++) {
           if ($i == "ptrace(request:") req = $(i + 1) + 0
           if ($i == "pid:") { tid = $(i + 1); gsub(/[^0-9]/, "", tid) }
         }
         if (req == 16) at[tid] = $1
         else if (req == 17 && tid in at) print tid, $1 - at[tid] }' "$WORK/trace" > "$WORK/held"
  if [ -s "$WORK/held" ]; then
    held_median=$(awk '{ print $2 }' "$WORK/held" | median)
    held_max=$(awk '{ print $2 }' "$WORK/held" | highest)
    printf '| %d | %d | %d | %.2f | %.2f | %s |\n' "$1" "$2" "$(wc -l < "$WORK/held")" \
      "$held_median" "$held_max" \
      "$(awk -v m="$meter" '$1 == m { printf "%.2f", $2 }' "$WORK/held")" >> "$WORK/stops"
    echo "$1 $2 $held_median $held_max" >> "$WORK/held.all"
  else
    printf '| %d | %d | - | - | - | - |\n' "$1" "$2" >> "$WORK/stops"
  fi
}

# sets have_perf: whether `perf trace` works here
perf_ready () {
  have_perf=no
  if command -v perf > /dev/null 2>&1 &&
      bounded 60 perf trace -e ptrace -o "$WORK/trace" true > /dev/null 2>&1; then
    have_perf=yes
  else
    echo "stack.sh: \`perf trace\` does not work here: eu-stack's stops per thread are not measured" >&2
  fi
}

# the start of the command alone: lua5.4, pss.cli, pss.stack and pss.core loaded
startup () {
  : > "$WORK/startup"
  i=0
  while [ "$i" -lt "$ROUNDS" ]; do
    bounded 60 "$WORK/cputime" "$WORK/times" "$LUA" -e 'require "pss.cli"; require "pss.stack"' ||
      bench_fail "lua5.4 cannot load pss.cli (status $?)"
    awk '{ print $1 }' "$WORK/times" >> "$WORK/startup"
    i=$((i + 1))
  done
}

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
: > "$WORK/table"; : > "$WORK/split"; : > "$WORK/goal"; : > "$WORK/stops"
: > "$WORK/freeze"; : > "$WORK/held.all"; : > "$WORK/lines"
have_pss=
perf_ready
for n in $THREADS; do
  for d in $DEPTHS; do
    start_target "$n" "$d"
    [ -n "$have_pss" ] || pss_ready
    echo "stack.sh: $n chain threads, $d frames: pid $TARGET," \
         "$(ls "/proc/$TARGET/task" | wc -l) threads" >&2
    : > "$WORK/runs"
    measure eu-stack eu-stack -p
    baseline eu-stack
    stops "$n" "$d"
    measure eu-stack-s eu-stack -s -p
    measure gdb gdb -nx -batch -ex 'thread apply all bt' -p
    if [ "$have_pss" = yes ]; then
      measure pss "$LUA" "$ROOT/bin/pss" stack
      baseline pss
      measure pss-s "$LUA" "$ROOT/bin/pss" stack -s
      phases "$n" "$d"
      phases "$n" "$d" lines
    fi
    {
      row "$n" "$d" idle-eu-stack "no tool, as long as eu-stack"
      row "$n" "$d" eu-stack "eu-stack -p"
      row "$n" "$d" eu-stack-s "eu-stack -s -p (with source lines)"
      row "$n" "$d" gdb "gdb thread apply all bt"
      if [ "$have_pss" = yes ]; then row "$n" "$d" idle-pss "no tool, as long as pss stack"; fi
      row "$n" "$d" pss "pss stack"
      if [ "$have_pss" = yes ]; then row "$n" "$d" pss-s "pss stack -s (with source lines)"; fi
    } >> "$WORK/table"
    end_target
  done
done
startup

echo "Wall time, CPU time (user + system, the tool and its children) and the"
echo "target's longest pause, in ms; ratios against eu-stack's medians."
echo "Threads: the chain threads (each target also has its main thread and the meter)."
echo "Load average before the run: $load_before; after: $(cut -d ' ' -f 1-3 /proc/loadavg)."
echo
echo "| threads | frames | tool | wall (median) | wall (min) | CPU (median) | pause (median) | pause (max) | wall / eu-stack | pause / eu-stack | stacks seen |"
echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$WORK/table"
echo
printf 'Start of the command alone (lua5.4 loading pss.cli, pss.stack and pss.core): %.1f ms (median of %d).\n' \
  "$(awk '{ print $1 / 1000 }' "$WORK/startup" | median)" "$ROUNDS"
echo
if [ -s "$WORK/stops" ]; then
  echo "eu-stack stops one thread at a time: how long each was stopped (ms, one run under"
  echo "\`perf trace -e ptrace\`, PTRACE_ATTACH to PTRACE_DETACH):"
  echo
  echo "| threads | frames | threads stopped | stop per thread (median) | longest stop | the meter thread's stop |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
  cat "$WORK/stops"
  echo
fi
if [ "$have_pss" = yes ]; then
  echo "Goal at 64 threads: pause <= 1/3 of eu-stack's, wall time <= eu-stack's."
  echo
  awk '$1 == 64 { printf "- %d frames: pause %.2f ms against %.2f (%.2fx: %s), wall %.1f ms against %.1f (%.2fx: %s)\n",
      $2, $4, $6, $4 / $6, ($4 * 3 <= $6) ? "met" : "not met", $3, $5, $3 / $5, ($3 <= $5) ? "met" : "not met" }' "$WORK/goal"
  # the stops themselves, where the meter cannot see them: libpss's freeze
  # (every thread at once) against the longest eu-stack held one thread
  awk 'FNR == NR { med[$1 " " $2] = $3; max[$1 " " $2] = $4; next }
       $1 == 64 && ($1 " " $2) in med {
         printf "- %d frames, the stops themselves: pss froze all %d threads for %.2f ms (libpss'"'"'s counter);", $2, $1 + 2, $3
         printf " eu-stack stopped one thread at a time, each for %.2f ms (median; longest %.2f)\n", med[$1 " " $2], max[$1 " " $2] }' \
    "$WORK/held.all" "$WORK/freeze"
  awk '$1 == 64 { w[$2 " " $3] = $4; d[$2] = 1 }
       END { for (k in d) if (w[k " pss-s"] != "" && w[k " eu-stack-s"] != "")
               printf "- %d frames, with source lines: pss stack -s %.1f ms against eu-stack -s %.1f ms (%.2fx)\n",
                 k, w[k " pss-s"], w[k " eu-stack-s"], w[k " pss-s"] / w[k " eu-stack-s"] }' "$WORK/lines" | sort -n -k 2
  echo
  echo "Where \`pss stack\`'s time goes (bench/stack.lua, one process; ms, medians of $ROUNDS rounds;"
  echo "cold: the first round of the process):"
  echo
  echo "| threads | frames | source lines | threads captured | frames unwound | freeze | of which stack copies | capture | first snap:stack | other snap:stack | total | cold capture | cold unwind | cold total |"
  echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  cat "$WORK/split"
else
  echo "pss stack: pending (the command does not exist in this tree yet)."
fi
