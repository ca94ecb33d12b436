# bench/lib.sh -- sourced by the bench scripts: what makes a benchmark end,
# whatever its target does, and touch nothing but what it started.
#
#   bench_limit SECONDS "$0" "$@"   first thing in a script: runs it again
#       under timeout(1) (once; BENCH_LIMITED marks the run inside), so the
#       whole run ends: SIGTERM after SECONDS, SIGKILL 60 s later.
#   bench_traps     EXIT stops the tool running (bounded, below) and the
#                   target and removes $WORK (if set); INT, TERM and HUP exit
#                   with 130, 143 and 129, so EXIT runs. The shell takes a
#                   trap only between commands or in `wait`: every command
#                   that may take long runs through bounded, which waits
#                   with `wait`, so a signal ends the run at once.
#   TARGET          the pid of the target the script started in the
#                   background (it sets it), empty when there is none.
#   target_alive    whether $TARGET is still that process: our child, not
#                   exited. A pid is never signalled unless this holds: a
#                   reaped target's pid may belong to anyone by now.
#   target_check WHAT   exits 1 (and says so) unless target_alive.
#   wait_line PATTERN FILE SECONDS   waits until a line of FILE matches
#                   PATTERN (grep -E) while the target lives, SECONDS at most.
#   stop_target     TERM, KILL after 5 s, and reap -- only if it is ours.
#   bounded SECONDS COMMAND...   an external COMMAND in the background,
#                   waited for; killed after SECONDS (SIGTERM, then SIGKILL
#                   10 s later), or by the EXIT trap. Its exit status (124
#                   on timeout). Not in $(...): use files.
#   bench_fail MESSAGE...   says so on stderr and exits 1.
# Uses TARGET_ERR (a file with the target's stderr) in messages if set.

TARGET=
TARGET_ERR=
BENCH_TOOL=

bench_limit () {
  if [ -z "${BENCH_LIMITED:-}" ] && command -v timeout > /dev/null 2>&1; then
    bench_secs=$1
    shift
    BENCH_LIMITED=1
    export BENCH_LIMITED
    exec timeout --foreground --kill-after=60 "$bench_secs" sh "$@"
  fi
}

bench_fail () {
  echo "$0: $*" >&2
  if [ -n "$TARGET_ERR" ] && [ -s "$TARGET_ERR" ]; then
    sed 's/^/  target: /' "$TARGET_ERR" >&2 || :
  fi
  exit 1
}

target_alive () {
  [ -n "$TARGET" ] || return 1
  bench_stat=$(cat "/proc/$TARGET/stat" 2> /dev/null) || return 1
  bench_rest=${bench_stat##*) }                  # "state ppid ...", after the command
  bench_state=${bench_rest%% *}
  bench_rest=${bench_rest#* }
  [ "${bench_rest%% *}" = "$$" ] && [ "$bench_state" != Z ] && [ "$bench_state" != X ]
}

target_check () {
  target_alive || bench_fail "the target (pid ${TARGET:-none}) ended $1"
}

wait_line () {
  bench_waited=0
  until grep -qE "$1" "$2" 2> /dev/null; do
    target_check "before it printed \"$1\""
    [ "$bench_waited" -lt $(($3 * 20)) ] || bench_fail "no \"$1\" from the target within $3 s"
    sleep 0.05
    bench_waited=$((bench_waited + 1))
  done
}

stop_target () {
  if target_alive; then
    kill -TERM "$TARGET" 2> /dev/null || :
    bench_waited=0
    while target_alive && [ "$bench_waited" -lt 50 ]; do
      sleep 0.1
      bench_waited=$((bench_waited + 1))
    done
    if target_alive; then kill -KILL "$TARGET" 2> /dev/null || :; fi
  fi
  if [ -n "$TARGET" ]; then wait "$TARGET" 2> /dev/null || :; fi
  TARGET=
}

bounded () {
  bench_secs=$1
  shift
  # in a process group of its own, so a signal reaches the whole tool (gcore
  # and its gdb); an asynchronous command ignores SIGINT: the trap stops it
  timeout --kill-after=10 "$bench_secs" "$@" &
  BENCH_TOOL=$!
  bench_status=0
  wait "$BENCH_TOOL" || bench_status=$?
  BENCH_TOOL=
  return "$bench_status"
}

# ask COMMAND: writes COMMAND to the target's stdin (fd 3) and sets answer
# to the second word of the line it answers in $WORK/out (10 s at most);
# ask COMMAND WORD: that line must begin with WORD and have a second word.
ask () {
  before=$(wc -l < "$WORK/out")
  echo "$1" >&3
  waited=0
  while [ "$(wc -l < "$WORK/out")" -le "$before" ]; do
    target_check "before it answered \"$1\""
    [ "$waited" -lt 1000 ] || bench_fail "no answer to \"$1\" from the target within 10 s"
    sleep 0.01
    waited=$((waited + 1))
  done
  answer=$(tail -n 1 "$WORK/out" | awk -v w="${2:-}" 'w == "" || $1 == w { print $2 }')
  [ -z "${2:-}" ] || [ -n "$answer" ] || bench_fail "the target answered \"$(tail -n 1 "$WORK/out")\" to \"$1\""
}

bench_cleanup () {
  if [ -n "$BENCH_TOOL" ]; then       # still running: we left its wait
    kill -TERM "$BENCH_TOOL" 2> /dev/null || :
    wait "$BENCH_TOOL" 2> /dev/null || :
  fi
  stop_target
  if [ -n "${WORK:-}" ]; then rm -rf "$WORK"; fi
}

bench_traps () {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}
