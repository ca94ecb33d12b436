#!/bin/sh
# Fetches Debian's Lua 5.4 source package into DEST (DEST/src/lua.h ...),
# for the Windows cross-build: Lua is built from it, never vendored.
# As root it adds the deb-src entry apt-get source needs (beside
# /etc/apt/sources.list.d/debian.sources, with Types: deb-src) and
# installs dpkg-dev; otherwise it says what is missing.
set -eu
DEST=$1
[ -f "$DEST/src/lua.h" ] && exit 0

SOURCES=/etc/apt/sources.list.d/debian.sources
SRC_ENTRY=/etc/apt/sources.list.d/debian-src.sources
have_deb_src () {
  grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
    grep -qs '^deb-src ' /etc/apt/sources.list
}
if ! have_deb_src || ! command -v dpkg-source >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "lua-source: apt-get source needs a deb-src entry and dpkg-dev;" \
      "run 'make windows' as root once, or add them" >&2
    exit 1
  fi
  if ! have_deb_src; then
    sed 's/^Types:.*/Types: deb-src/' "$SOURCES" > "$SRC_ENTRY"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  command -v dpkg-source >/dev/null ||
    apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
# apt's sandbox user cannot write into a root-only scratch folder
chmod 755 "$SCRATCH"
(cd "$SCRATCH" && apt-get source -qq lua5.4 >/dev/null 2>&1) || {
  echo "lua-source: apt-get source lua5.4 failed" >&2
  (cd "$SCRATCH" && apt-get source lua5.4) >&2 || true
  exit 1
}
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$SCRATCH"/lua5.4-*/ "$DEST"
echo "lua-source: $(basename "$SCRATCH"/lua5.4_*.dsc .dsc) in $DEST"
