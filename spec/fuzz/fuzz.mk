# spec/fuzz/fuzz.mk -- included by the Makefile.
#
#   make fuzz            the /proc parsers (procfs.c) and the ELF note reader
#                        (elf.c) under libFuzzer with ASan and UBSan: every
#                        seed once, then FUZZ_SECONDS of fuzzing; writes
#                        $(TAP)/fuzz.tap (one test)
#   make fuzz-regress    every seed of spec/fuzz/corpus once, no randomness
#
# The fuzzer is built with clang into $(BUILD)/fuzz/ and fuzzes a copy of
# the seeds there. Without clang or libFuzzer (Debian: clang and
# libclang-rt-dev) the test is skipped, not failed. A crash's input is
# left as $(BUILD)/fuzz/crash-*: add it to spec/fuzz/corpus and, as a
# fixture, to spec/c/test_procfs.c.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR      = $(BUILD)/fuzz
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

.PHONY: fuzz fuzz-regress
fuzz:
	@FUZZ_CC="$(FUZZ_CC)" FUZZ_CFLAGS="$(FUZZ_CFLAGS)" \
	  sh spec/fuzz/run.sh fuzz $(FUZZ_DIR) $(TAP)/fuzz.tap $(FUZZ_SECONDS)

fuzz-regress:
	@FUZZ_CC="$(FUZZ_CC)" FUZZ_CFLAGS="$(FUZZ_CFLAGS)" \
	  sh spec/fuzz/run.sh regress $(FUZZ_DIR) $(TAP)/fuzz-regress.tap
