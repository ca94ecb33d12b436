#!/bin/sh
# make install and make uninstall, as TAP on stdout. Installs into a
# scratch PREFIX, then uses the installed copy from outside the source tree
# with no LUA_PATH or LUA_CPATH: the pss command (its modules must come from
# the prefix, before a decoy copy in its working directory), a capture of a
# process this script starts, the man page, libpss.pc, and a C program
# built from pkg-config's flags against libpss.a and against libpss.so that
# captures itself. Then uninstalls, and installs and uninstalls again
# staged under a DESTDIR. Everything is under one temporary folder, removed
# at the end with the process it starts.
# Usage: sh spec/install/run.sh BUILD_DIR      (from make install-test)
# shellcheck disable=SC2317  # functions run through check() are reached
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pss-install.XXXXXX")
sleeper=""
cleanup () {
  [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

P=$tmp/prefix          # the scratch PREFIX
why=$tmp/why           # what a failed test prints as its diagnostic
n=0
failed=0
tap () {  # tap OK|FAIL|SKIP description
  n=$((n + 1))
  case $1 in
    OK) echo "ok $n - $2" ;;
    SKIP) echo "ok $n - $2 # skip $(cat "$why")" ;;
    *) failed=1; echo "not ok $n - $2"; sed 's/^/# /' "$why" ;;
  esac
  : > "$why"
}
check () {  # check DESCRIPTION COMMAND...: one test, passed if COMMAND is
  desc=$1; shift
  if "$@" >> "$why" 2>&1; then tap OK "$desc"; else tap FAIL "$desc"; fi
}
make_in_tree () { timeout 900 make --no-print-directory -C "$ROOT" BUILD="$BUILD" "$@"; }

version=$(sed -n 's/^#define PSS_VERSION "\([^"]*\)"$/\1/p' "$ROOT/src/pss.h")
soversion=${version%%.*}

# The files make install must write under a prefix, one a line, sorted;
# the completion scripts where the installed pss has the command.
expected_files () {
  {
    echo bin/pss
    echo include/pss.h; echo include/pss_linux.h
    echo lib/libpss.a; echo lib/libpss.so; echo "lib/libpss.so.$soversion"
    echo "lib/libpss.so.$version"
    echo lib/lua/5.4/pss/core.so
    echo lib/pkgconfig/libpss.pc
    echo share/lua/5.4/pss.lua
    for f in "$ROOT"/lua/pss/*.lua; do echo "share/lua/5.4/pss/${f##*/}"; done
    echo share/man/man1/pss.1
    if [ "$1" = completion ]; then
      echo share/bash-completion/completions/pss; echo share/zsh/site-functions/_pss
    fi
  } | sort
}
installed_files () {  # every file and link under $1, relative to it
  (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)
}
same_files () {  # same_files WANT HAVE (files of lists)
  diff "$1" "$2" && echo "$(wc -l < "$2") files"
}

# The installed pss, from a folder outside the tree that holds a decoy pss
# (found on Lua's default path there, and never to be loaded), with no
# LUA_PATH or LUA_CPATH. LUA_INIT runs hook.lua first, which writes where
# each pss module came from to $tmp/sources when the command exits.
mkdir -p "$tmp/work/pss"
echo 'error("the decoy pss.lua in the working folder was loaded")' > "$tmp/work/pss.lua"
echo 'error("the decoy pss.cli in the working folder was loaded")' > "$tmp/work/pss/cli.lua"
echo 'not a shared object' > "$tmp/work/pss/core.so"
cat > "$tmp/hook.lua" <<'EOF'
local exit = os.exit
os.exit = function (...)
  local out = assert(io.open(os.getenv("PSS_SOURCES"), "w"))
  for name, module in pairs(package.loaded) do
    if (name == "pss" or name:match("^pss%.")) and type(module) == "table" then
      for _, value in pairs(module) do
        local source = type(value) == "function" and debug.getinfo(value, "S").source
        if source and source:sub(1, 1) == "@" then
          out:write(name, " ", source:sub(2), "\n")
          break
        end
      end
    end
  end
  for line in io.lines("/proc/self/maps") do
    local path = line:match("%s(/%S*/pss/core%.so)$")
    if path then out:write("pss.core ", path, "\n") end
  end
  out:close()
  return exit(...)
end
EOF
installed_pss () {
  (cd "$tmp/work" && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 \
     -u LUA_INIT_5_4 LUA_INIT="@$tmp/hook.lua" PSS_SOURCES="$tmp/sources" \
     timeout 120 "$P/bin/pss" "$@")
}
# pss, pss.cli and pss.core were loaded, and every pss module from $P
from_prefix () {
  sort -u "$tmp/sources"
  for m in pss pss.cli pss.core; do
    grep -q "^$m " "$tmp/sources" || { echo "$m: not loaded"; return 1; }
  done
  ! grep -v " $P/" "$tmp/sources"
}

# {=== make install PREFIX
echo "1..14"
if make_in_tree install PREFIX="$P" > "$tmp/install.log" 2>&1; then
  tap OK "make install PREFIX=<scratch> succeeds"
else
  tail -n 30 "$tmp/install.log" > "$why"
  tap FAIL "make install PREFIX=<scratch> succeeds"
fi

: > "$tmp/sources"
if installed_pss --help > "$tmp/help.txt" 2>> "$why" && grep -q '^Usage: pss' "$tmp/help.txt" &&
   from_prefix >> "$why"; then
  tap OK "the installed pss --help, with no LUA_PATH or LUA_CPATH: its modules from the prefix"
else
  cat "$tmp/help.txt" >> "$why"
  tap FAIL "the installed pss --help, with no LUA_PATH or LUA_CPATH: its modules from the prefix"
fi
completion=none
grep -q '^ *completion ' "$tmp/help.txt" && completion=completion

expected_files "$completion" > "$tmp/want"
installed_files "$P" > "$tmp/have"
check "make install writes libpss, its headers, libpss.pc, pss.core, the modules, pss, pss(1)" \
  same_files "$tmp/want" "$tmp/have"

if grep -q -- '--version' "$tmp/help.txt"; then
  check "the installed pss --version says pss $version" \
    sh -c "out=\$(cd '$tmp/work' && env -u LUA_PATH -u LUA_CPATH '$P/bin/pss' --version) &&
           echo \"\$out\" && [ \"\$out\" = 'pss $version' ]"
else
  echo "this pss has no --version" > "$why"
  tap SKIP "the installed pss --version says pss $version"
fi

# a capture of a process pss did not start; its name from /proc
sleep 300 &
sleeper=$!
: > "$tmp/sources"
comm=$(cat "/proc/$sleeper/comm")
if installed_pss show "$sleeper" > "$tmp/show.txt" 2>> "$why" &&
   sed -n 1p "$tmp/show.txt" | grep -w "$sleeper" | grep -qw "$comm" &&
   from_prefix >> "$why"; then
  tap OK "the installed pss show PID captures a running $comm, modules from the prefix"
else
  head -n 5 "$tmp/show.txt" >> "$why"
  tap FAIL "the installed pss show PID captures a running $comm, modules from the prefix"
fi
kill "$sleeper" 2>/dev/null
wait "$sleeper" 2>/dev/null
sleeper=""

if [ "$completion" = completion ]; then
  check "completions: pss completion bash and zsh as installed; bash reads its script" \
    sh -c "cd '$tmp/work' && '$P/bin/pss' completion bash | cmp - '$P/share/bash-completion/completions/pss' &&
           '$P/bin/pss' completion zsh | cmp - '$P/share/zsh/site-functions/_pss' &&
           bash -n '$P/share/bash-completion/completions/pss'"
else
  echo "this pss has no completion command" > "$why"
  tap SKIP "completions: pss completion bash and zsh as installed"
fi

# {=== the man page: man renders it without a warning
page=$P/share/man/man1/pss.1
if MANWIDTH=80 man --warnings -l -P cat "$page" > "$tmp/man.txt" 2> "$tmp/man.err" &&
   [ ! -s "$tmp/man.err" ] && grep -q '^PSS(1) .* PSS(1)$' "$tmp/man.txt" &&
   grep -q '^ *pss - ' "$tmp/man.txt" && grep -q '^ *SYNOPSIS' "$tmp/man.txt" &&
   grep -q "^pss $version " "$tmp/man.txt"; then
  tap OK "man -l renders pss(1): NAME, SYNOPSIS, pss $version, no warning"
else
  cat "$tmp/man.err" >> "$why"; head -n 8 "$tmp/man.txt" >> "$why"
  tap FAIL "man -l renders pss(1): NAME, SYNOPSIS, pss $version, no warning"
fi

# {=== libpss.pc and programs built with it
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
pc () { pkg-config "$@" libpss; }
# what the static library leaves for others to define, as -l flags
private="-lpthread"
nm -u "$P/lib/libpss.a" | grep -q ' dwfl_' && private="$private -ldw -lelf"
nm -u "$P/lib/libpss.a" | grep -qE ' crc32(_z)?$' && private="$private -lz"
pc_says () {  # pc_says WANT ARGS...: pkg-config's answer, spaces folded
  want=$1; shift
  have=$(pc "$@" | xargs)
  echo "pkg-config $*: $have"
  [ "$have" = "$want" ] || { echo "  expected: $want"; return 1; }
}
pc_checks () {
  pc_says "$version" --modversion &&
  pc_says "-I$P/include -L$P/lib -lpss" --cflags --libs &&
  pc_says "-L$P/lib -lpss $private" --static --libs
}
check "pkg-config: libpss $version, -I and -L of the prefix, $private for static links" pc_checks

# runs_itself NAME: runs $tmp/NAME (self.c), which must print "VERSION PID
# TID" with its own pid (the shell's before the exec) as both ids
runs_itself () {
  out=$(sh -c 'echo $$; exec "$1"' sh "$tmp/$1") || return 1
  echo "$out"
  pid=$(echo "$out" | sed -n 1p)
  [ "$(echo "$out" | sed -n 2p)" = "$version $pid $pid" ]
}
CC=${CC:-cc}
# pkg-config's flags are words to split
# shellcheck disable=SC2046
if $CC -std=c11 -Wall -Wextra -Werror $(pc --cflags) "$ROOT/spec/install/self.c" \
     -o "$tmp/self-static" $(pc --static --libs | sed 's/-lpss\b/-l:libpss.a/') >> "$why" 2>&1 &&
   ! readelf -d "$tmp/self-static" | grep -q 'NEEDED.*libpss' && runs_itself self-static >> "$why"; then
  tap OK "a C program built against libpss.a with pkg-config's flags captures itself"
else
  tap FAIL "a C program built against libpss.a with pkg-config's flags captures itself"
fi

# the shared library: its SONAME, its links, and exports that are the API
grep -ohE '\bPss[A-Za-z0-9_]*\(' "$P/include/pss.h" "$P/include/pss_linux.h" | tr -d '(' |
  sort -u > "$tmp/api"
nm -D --defined-only "$P/lib/libpss.so.$version" | awk '{ print $3 }' | sort -u > "$tmp/exports"
if readelf -d "$P/lib/libpss.so.$version" | grep -q "SONAME.*\[libpss.so.$soversion\]" &&
   [ "$(readlink "$P/lib/libpss.so.$soversion")" = "libpss.so.$version" ] &&
   [ "$(readlink "$P/lib/libpss.so")" = "libpss.so.$soversion" ] &&
   diff "$tmp/api" "$tmp/exports" >> "$why"; then
  tap OK "libpss.so.$version: SONAME libpss.so.$soversion, its links, exports the $(wc -l < "$tmp/api") Pss* functions only"
else
  readelf -d "$P/lib/libpss.so.$version" | grep SONAME >> "$why"; ls -l "$P/lib" >> "$why"
  tap FAIL "libpss.so.$version: SONAME libpss.so.$soversion, its links, exports the Pss* functions only"
fi

# shellcheck disable=SC2046
if $CC -std=c11 -Wall -Wextra -Werror $(pc --cflags) "$ROOT/spec/install/self.c" \
     -o "$tmp/self-shared" $(pc --libs) -Wl,-rpath,"$P/lib" >> "$why" 2>&1 &&
   readelf -d "$tmp/self-shared" | grep -q "NEEDED.*\[libpss.so.$soversion\]" &&
   ldd "$tmp/self-shared" | grep -q "libpss.so.$soversion => $P/lib/libpss.so.$soversion " &&
   runs_itself self-shared >> "$why"; then
  tap OK "a C program linked with libpss.so.$soversion from the prefix captures itself"
else
  ldd "$tmp/self-shared" >> "$why" 2>&1
  tap FAIL "a C program linked with libpss.so.$soversion from the prefix captures itself"
fi

# {=== make uninstall
make_in_tree uninstall PREFIX="$P" > "$tmp/uninstall.log" 2>&1 || tail -n 20 "$tmp/uninstall.log" >> "$why"
installed_files "$P" > "$tmp/left"
check "make uninstall PREFIX=<scratch> leaves no file" sh -c "cat '$tmp/left' && [ ! -s '$tmp/left' ]"

# {=== staged: DESTDIR with a PREFIX the files are meant for
S=$tmp/stage
F=/opt/pss-staged
make_in_tree install DESTDIR="$S" PREFIX="$F" > "$tmp/stage.log" 2>&1 ||
  tail -n 20 "$tmp/stage.log" >> "$why"
installed_files "$S" | sed -n "s|^${F#/}/||p" > "$tmp/staged"
installed_files "$S" | grep -v "^${F#/}/" >> "$tmp/staged-elsewhere"
# shellcheck disable=SC2016  # ${prefix} is pkg-config's, written as it is
if same_files "$tmp/want" "$tmp/staged" >> "$why" && [ ! -s "$tmp/staged-elsewhere" ] &&
   grep -qx "local INSTALLED = { lua = \"$F/share/lua/5.4\", lib = \"$F/lib/lua/5.4\" }" \
     "$S$F/bin/pss" && grep -qx "prefix=$F" "$S$F/lib/pkgconfig/libpss.pc" &&
   grep -qxF 'libdir=${prefix}/lib' "$S$F/lib/pkgconfig/libpss.pc"; then
  tap OK "make install DESTDIR=<stage> PREFIX=$F: the same files under the stage, naming $F"
else
  cat "$tmp/staged-elsewhere" >> "$why"; grep '^local INSTALLED' "$S$F/bin/pss" >> "$why" 2>&1
  tap FAIL "make install DESTDIR=<stage> PREFIX=$F: the same files under the stage, naming $F"
fi
make_in_tree uninstall DESTDIR="$S" PREFIX="$F" > "$tmp/unstage.log" 2>&1 ||
  tail -n 20 "$tmp/unstage.log" >> "$why"
installed_files "$S" > "$tmp/left"
check "make uninstall DESTDIR=<stage> PREFIX=$F leaves no file" \
  sh -c "cat '$tmp/left' && [ ! -s '$tmp/left' ]"

exit "$failed"
