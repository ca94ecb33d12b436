#!/bin/sh
# make demo: start the test target (threads, fds, mappings of every kind),
# triage it with the Lua API and with the pss command (a report, every
# thread's stack, a core read back, a saved snapshot compared with the
# process) while it runs, then stop it.
set -eu
build=${1:-build}
fifo=$(mktemp -u "${TMPDIR:-/tmp}/pss-demo.XXXXXX")
mkfifo "$fifo"
"$build/pss-target" --threads 4 <"$fifo" >"$fifo.out" &
target=$!
exec 3>"$fifo"            # keeps the target's stdin open until we are done
tries=0                  # at most 10 s for the target to say it is ready
while ! grep -q '^ready' "$fifo.out" 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -gt 200 ] || ! kill -0 "$target" 2>/dev/null; then
    echo "demo: the target did not start" >&2
    kill "$target" 2>/dev/null || true
    rm -f "$fifo" "$fifo.out"
    exit 1
  fi
  sleep 0.05
done
# the module of this build, for the Lua API and the pss command alike
LUA_CPATH="$(pwd)/$build/lua/?.so;;"
export LUA_CPATH
LUA_PATH="$(pwd)/lua/?.lua;;" ${LUA:-lua5.4} examples/triage.lua "$target"
# the same process through the pss command
echo
echo "\$ pss show $target"
bin/pss show "$target"
echo
echo "\$ pss stack $target"
bin/pss stack "$target"
echo
echo "\$ pss core $target -o $fifo.core"
bin/pss core "$target" -o "$fifo.core"
echo
echo "\$ pss threads $fifo.core    # what the core holds, read back"
bin/pss threads "$fifo.core"
echo
echo "\$ pss save $target -o $fifo.pss; pss diff $fifo.pss $target"
bin/pss save "$target" -o "$fifo.pss"
bin/pss diff "$fifo.pss" "$target"
rm -f "$fifo.core" "$fifo.pss"
exec 3>&-                 # EOF on stdin: the target exits
wait "$target" || true
rm -f "$fifo" "$fifo.out"
