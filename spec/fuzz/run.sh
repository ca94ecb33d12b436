#!/bin/sh
# spec/fuzz/run.sh MODE OUT TAP [SECONDS [FUZZER]] -- a fuzz target under
# libFuzzer: FUZZER "procfs" (the default: the /proc parsers and the ELF
# note reader, proc/elf.c) or "loader" (PssLinuxLoadSnapshot of saved
# snapshots and ELF cores, with all of libpss)
#
#   fuzz     every seed of spec/fuzz/corpus once, then SECONDS of fuzzing
#            on a copy of the seeds in OUT/corpus (the repository is never
#            written); crashes go to OUT/crash-*
#   regress  every seed once, no randomness (also run first by fuzz)
#
# Writes one TAP test to TAP: ok, not ok with libFuzzer's report and the
# crashing input, or "ok 1 # SKIP why" where clang cannot build a fuzzer.
# FUZZ_CC (clang) and FUZZ_CFLAGS come from spec/fuzz/fuzz.mk.
set -u
mode=$1 out=$2 tap=$3 seconds=${4:-60} fuzzer=${5:-procfs}
cc=${FUZZ_CC:-clang}
case $fuzzer in
  procfs)
    what="procfs parsers"
    seeds=spec/fuzz/corpus
    max_len=4096
    sources="spec/fuzz/fuzz_procfs.c src/linux/proc/procfs.c src/linux/proc/elf.c"
    headers="src/linux/proc/procfs.h src/linux/proc/elf.h" ;;
  loader)
    what="snapshot and core loader"
    seeds=spec/fuzz/loader-corpus
    max_len=65536
    sources="spec/fuzz/fuzz_loader.c src/text.c $(ls src/linux/*.c src/linux/*/*.c \
      src/linux/ptrace/x86_64/*.c src/linux/ptrace/x86_64/*.S | tr '\n' ' ')"
    headers="$(ls src/*.h src/linux/*.h src/linux/*/*.h | tr '\n' ' ')" ;;
  *) echo "run.sh: no fuzzer $fuzzer" >&2; exit 2 ;;
esac
bin=$out/fuzz_$fuzzer
mkdir -p "$out" "$(dirname "$tap")"

finish () {   # finish ok|not-ok DESCRIPTION [LOG]
  { echo "1..1"
    if [ "$1" = ok ]; then echo "ok 1 - $2"; else echo "not ok 1 - $2"; fi
    [ $# -ge 3 ] && sed 's/^/# /' "$3"
  } > "$tap"
  cat "$tap"
  [ "$1" = ok ]
  exit $?
}

# The failure in a libFuzzer log: from the sanitizer's first words to the
# input, without the shadow-byte map
report () {
  awk '/ERROR: |runtime error:|deadly signal|Timeout|out-of-memory/ { p = 1 }
       /Shadow bytes around/ { s = 1 } /==ABORTING|^MS: / { s = 0 }
       p && !s' "$1" | grep -v -e '^#[0-9]' -e ' in fuzzer::' -e 'libc_start' -e ' in _start ' |
    head -n 80 > "$out/report.log"
  [ -s "$out/report.log" ] || tail -n 40 "$1" > "$out/report.log"
  echo "input: $2" >> "$out/report.log"
}

skip () {
  printf '1..1\nok 1 # SKIP %s\n' "$1" > "$tap"
  cat "$tap"
  exit 0
}

# Can this clang link a fuzzer at all? (libFuzzer is libclang-rt-N-dev.)
command -v "$cc" >/dev/null 2>&1 || skip "no $cc: apt-get install clang libclang-rt-dev"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
  'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
  > "$out/probe.c"
"$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" > "$out/probe.log" 2>&1 ||
  skip "$cc cannot link -fsanitize=fuzzer (libclang-rt-dev missing?)"

stale=0
[ -x "$bin" ] || stale=1
for s in $sources $headers; do [ "$s" -nt "$bin" ] && stale=1; done
if [ $stale = 1 ]; then
  # shellcheck disable=SC2086
  "$cc" ${FUZZ_CFLAGS:-} $sources -o "$bin" > "$out/build.log" 2>&1 ||
    finish not-ok "the $fuzzer fuzzer builds" "$out/build.log"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Every seed once
# shellcheck disable=SC2046
if ! "$bin" -timeout=5 -rss_limit_mb=2048 $(ls "$seeds"/* ) > "$out/regress-$fuzzer.log" 2>&1; then
  report "$out/regress-$fuzzer.log" \
    "$(grep -o 'Running: [^ ]*' "$out/regress-$fuzzer.log" | tail -n 1 | cut -d' ' -f2)"
  finish not-ok "$what crash on a seed of $seeds" "$out/report.log"
fi
count=$(ls "$seeds" | wc -l | tr -d ' ')
[ "$mode" = regress ] && finish ok "$what ran every seed ($count) once, no crash"

# Fuzzing, bounded in time, on a copy of the seeds
work=$out/corpus-$fuzzer
mkdir -p "$work"
cp "$seeds"/* "$work/"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
"$bin" -max_total_time="$seconds" -max_len=$max_len -timeout=5 -rss_limit_mb=2048 \
  -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$out/" "$work" \
  > "$out/fuzz-$fuzzer.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  input=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -n 1)
  report "$out/fuzz-$fuzzer.log" "${input:-none written (exit $rc)}"
  finish not-ok "$what fuzzed: libFuzzer stopped on a failure" "$out/report.log"
fi
done_line=$(grep '^Done [0-9]* runs in [0-9]* second' "$out/fuzz-$fuzzer.log" | tail -n 1)
runs=$(echo "$done_line" | cut -d' ' -f2)
secs=$(echo "$done_line" | cut -d' ' -f5)
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
  "$out/fuzz-$fuzzer.log" |
  sed 's/^stat:://' > "$out/stats.log"
finish ok "$what fuzzed ${secs:-?} s, ${runs:-?} runs, no crash" "$out/stats.log"
