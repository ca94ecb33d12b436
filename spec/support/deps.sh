#!/bin/sh
# Installs the Debian packages a set of tasks needs, when run as root;
# otherwise says which are missing. Idempotent and quiet when all are
# present.
#   deps.sh        everything `make test` needs
#   deps.sh demo      what `make demo` builds and runs: the compiler, Lua
#                     and the Lua libraries of the pss command, libdw, zlib
#   deps.sh install   what `make install` builds: the same and go-md2man,
#                     which writes the man page
# In the full set: clang and libclang-rt-dev (libFuzzer) are for `make
# fuzz`; elfutils (eu-stack), redis-server, nginx-light and gdb are the
# stack specs' oracle and real targets; the test of `make install` reads
# the man page with man-db and libpss.pc with pkgconf.
set -eu
DEMO="gcc make libc6-dev lua5.4 liblua5.4-dev lua-cjson lua-argparse lua-filesystem
libdw-dev zlib1g-dev"
INSTALL="$DEMO go-md2man"
TEST="$INSTALL libcmocka-dev valgrind lua-busted lua-check luarocks python3-psutil
libxml2-utils elfutils gdb redis-server nginx-light
clang libclang-rt-dev man-db pkgconf
gcc-aarch64-linux-gnu libc6-dev-arm64-cross
gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev wine wine64 dpkg-dev"
case "${1:-test}" in
  demo) PACKAGES=$DEMO ;;
  install) PACKAGES=$INSTALL ;;
  test) PACKAGES=$TEST ;;
  *) echo "usage: deps.sh [demo|install|test]" >&2; exit 2 ;;
esac

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages:$missing" >&2
  echo "install them (as root: apt-get install$missing) or run 'make test' as root" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Servers are installed as programs to start in tests, never as services:
# while they install, a policy-rc.d (if there is none) stops their
# maintainer scripts from starting them, and is removed after.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
