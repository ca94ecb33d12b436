#!/bin/sh
# The Windows build's checks, as TAP on stdout: the import-table guard on
# pss.dll, then spec/windows/smoke.lua under wine (lua.exe, lua54.dll and
# pss.dll cross-built by `make windows`).
#
# Wine is started so that nothing can hang on a pipe: one wineserver for
# the whole run (stopped by the exit trap), the prefix made with its output
# in a file, and every wine process's output redirected to a file -- wine's
# service processes inherit and hold any pipe they are given.
# Usage: sh spec/windows/run.sh BUILD_DIR      (OBJDUMP may name objdump)
set -u
WIN=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}
n=0
failed=0
tap () {  # tap OK|FAIL description [diagnostic file]
  n=$((n + 1))
  if [ "$1" = OK ]; then echo "ok $n - $2"; else
    failed=1
    echo "not ok $n - $2"
    [ -n "${3:-}" ] && sed 's/^/# /' "$3"
  fi
}

# {=== the import table
echo "1..3"
"$OBJDUMP" -p "$WIN/pss.dll" > "$WIN/pss.dll.txt" 2>&1
# imported names are the rows under "DLL Name:" with a hint number
awk '/DLL Name:/ { dll = $3 } dll && /^\t *[0-9a-f]+\t +[0-9]+ +[A-Za-z_]/ { print dll, $3 }' \
  "$WIN/pss.dll.txt" > "$WIN/pss.dll.imports"
if [ -s "$WIN/pss.dll.imports" ] && ! grep -q ' Pss' "$WIN/pss.dll.imports"; then
  tap OK "pss.dll imports no Pss* function ($(wc -l < "$WIN/pss.dll.imports") imports)"
else
  grep ' Pss' "$WIN/pss.dll.imports" > "$WIN/pss.dll.bad" 2>&1 || echo "no imports read" > "$WIN/pss.dll.bad"
  tap FAIL "pss.dll imports no Pss* function" "$WIN/pss.dll.bad"
fi
# system DLLs and Lua only: no compiler runtime the user would have to ship
awk '{ print tolower($1) }' "$WIN/pss.dll.imports" | sort -u > "$WIN/pss.dll.dlls"
if [ ! -s "$WIN/pss.dll.dlls" ] ||
   grep -v -x -e kernel32.dll -e advapi32.dll -e msvcrt.dll -e lua54.dll "$WIN/pss.dll.dlls" \
     > "$WIN/pss.dll.extra"; then
  tap FAIL "pss.dll needs only kernel32, advapi32, msvcrt and lua54" "$WIN/pss.dll.extra"
else
  tap OK "pss.dll needs only $(tr '\n' ' ' < "$WIN/pss.dll.dlls")"
fi
if grep -q '\] luaopen_pss_core$' "$WIN/pss.dll.txt"; then
  tap OK "pss.dll exports luaopen_pss_core"
else
  tap FAIL "pss.dll exports luaopen_pss_core" "$WIN/pss.dll.txt"
fi

# {=== wine
export WINEPREFIX="$WIN/wineprefix" WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
export WINEARCH=win64 HOME="${HOME:-$WIN}"
if ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
  echo "1..1"
  echo "not ok $((n + 1)) - wine is installed (apt-get install wine wine64)"
  exit 1
fi
# one wineserver for the run (it needs the prefix folder to exist), stopped
# however the run ends; every wine call is bounded in time
mkdir -p "$WINEPREFIX"
wineserver -p >/dev/null 2>&1 </dev/null
trap 'wineserver -k >/dev/null 2>&1 </dev/null' EXIT
trap 'exit 130' INT TERM HUP
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  timeout -k 10 300 wineboot -i > "$WIN/wineboot.log" 2>&1 </dev/null
fi

# Windows paths into the source tree through wine's Z: drive
winpath () { printf 'Z:%s' "$(printf '%s' "$1" | tr / '\\')"; }
LUA_PATH="$(winpath "$ROOT/lua")\\?.lua;$(winpath "$ROOT/spec/support")\\?.lua"
LUA_PATH="$LUA_PATH;$(winpath /usr/share/lua/5.4)\\?.lua;;"
export LUA_PATH PSS_ROOT="$(winpath "$ROOT")"
unset LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4
# suite NAME TIMEOUT COMMAND...: runs one TAP program under wine, numbered
# after the $n tests so far, and prints its TAP. A program that dies before
# its plan, or exits badly with no failed test to show for it, is one
# failure more -- never a silent pass.
suite () {
  name=$1 limit=$2
  shift 2
  rm -f "$WIN/$name.out"
  timeout -k 10 "$limit" wine "$@" "$n" > "$WIN/$name.out" 2> "$WIN/$name.err" </dev/null
  status=$?
  # wine writes CRLF; TAP readers want plain lines
  tr -d '\r' < "$WIN/$name.out" > "$WIN/$name.tap"
  cat "$WIN/$name.tap"
  if [ -s "$WIN/$name.err" ]; then sed 's/^/# stderr: /' "$WIN/$name.err"; fi
  ran=$(grep -c '^ok\|^not ok' "$WIN/$name.tap")
  if ! grep -q '^1\.\.[0-9]' "$WIN/$name.tap" ||
     { [ $status -ne 0 ] && ! grep -q '^not ok' "$WIN/$name.tap"; }; then
    echo "1..1"
    ran=$((ran + 1))
    echo "not ok $((n + ran)) - $name ran to its end under wine (status $status)"
  fi
  [ $status -eq 0 ] || failed=1
  n=$((n + ran))
}

# libpss's Windows side in C, then the Lua module
suite test_win 300 "$WIN/test_win.exe"
suite smoke 600 "$WIN/lua.exe" "$(winpath "$ROOT/spec/windows/smoke.lua")"
[ $failed -eq 0 ]
