#!/bin/sh
# Writes the man page pss(1) from docs/pss.1.md with go-md2man: the page's
# first line, "# pss(1) — what pss does", becomes the title line (.TH) and
# the NAME section that whatis and apropos read; the rest is the page.
# The date is SOURCE_DATE_EPOCH's where it is set (reproducible builds),
# else the day docs/pss.1.md was last committed, else its file's date.
# Usage: sh packaging/manpage.sh VERSION OUT     (MD2MAN may name go-md2man)
set -eu
version=$1
out=$2
src=docs/pss.1.md
md2man=${MD2MAN:-go-md2man}

if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
  date=$(git log -1 --format=%cs -- "$src" 2>/dev/null || true)
  [ -n "$date" ] || date=$(date -u -r "$src" +%Y-%m-%d)
fi

summary=$(sed -n '1s/^# pss(1) — //p' "$src")
if [ -z "$summary" ]; then
  echo "$src: the first line must read '# pss(1) — SUMMARY'" >&2
  exit 1
fi
command -v "$md2man" >/dev/null || {
  echo "$md2man is missing (Debian: apt-get install go-md2man)" >&2
  exit 1
}

{
  printf '%% PSS 1 "%s" "pss %s" "User Commands"\n\n' "$date" "$version"
  printf '# NAME\n\npss - %s\n\n' "$summary"
  sed 1d "$src"
} > "$out.md"
# go-md2man (2.0.2) leaves a line of an example that starts with a dot or a
# quote as it is, and troff would read it as a request ("..." is lost):
# inside .nf/.fi such a line gets the zero-width \& before it.
"$md2man" -in "$out.md" -out "$out.roff"
awk '/^\.fi$/ { nf = 0 } nf && /^[.'"'"']/ { $0 = "\\&" $0 } /^\.nf$/ { nf = 1 } { print }' \
  "$out.roff" > "$out"
rm -f "$out.md" "$out.roff"
