#!/bin/sh
# Checks that pss states one version: PSS_VERSION of src/pss.h is its three
# numbers (PSS_VERSION_MAJOR, _MINOR, _PATCH), the one rockspec is
# pss-VERSION-N.rockspec with version = "VERSION-N" (LuaRocks reads no
# other file, so the rockspec repeats it), and CHANGELOG.md has a section
# "## [VERSION]". Prints what disagrees; exits 1 then.
# Usage: sh packaging/check-version.sh        (from the source tree)
set -u
bad=0
fail () { echo "$*"; bad=1; }

number () { sed -n "s/^#define PSS_VERSION_$1 \\([0-9][0-9]*\\)\$/\\1/p" src/pss.h; }
version=$(sed -n 's/^#define PSS_VERSION "\([^"]*\)"$/\1/p' src/pss.h)
parts="$(number MAJOR).$(number MINOR).$(number PATCH)"
[ -n "$version" ] || fail "src/pss.h: no #define PSS_VERSION \"X.Y.Z\""
[ "$version" = "$parts" ] ||
  fail "src/pss.h: PSS_VERSION is \"$version\", its numbers say $parts"

set -- pss-*.rockspec
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  fail "one pss-VERSION-N.rockspec expected, found: $*"
else
  stated=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$1")
  [ "$1" = "pss-$stated.rockspec" ] || fail "$1 states version \"$stated\""
  [ "${stated%-*}" = "$version" ] ||
    fail "$1 states version \"$stated\", src/pss.h says $version"
fi

grep -q "^## \[$version\]" CHANGELOG.md ||
  fail "CHANGELOG.md has no section \"## [$version]\""

[ "$bad" -eq 0 ] && echo "one version: $version"
exit "$bad"
