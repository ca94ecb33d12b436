# spec/fuzz/fuzz.mk -- included by the Makefile.
#
#   make fuzz            the /proc parsers (procfs.c) and the ELF note reader
#                        (elf.c), then the snapshot and core loader
#                        (PssLinuxLoadSnapshot), under libFuzzer with ASan
#                        and UBSan: every seed once, then FUZZ_SECONDS of
#                        fuzzing each; writes $(TAP)/fuzz.tap and
#                        $(TAP)/fuzz-loader.tap (one test each)
#   make fuzz-regress    every seed of spec/fuzz/corpus and
#                        spec/fuzz/loader-corpus once, no randomness
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
	  sh spec/fuzz/run.sh fuzz $(FUZZ_DIR) $(TAP)/fuzz.tap $(FUZZ_SECONDS) procfs; \
	  a=$$?; FUZZ_CC="$(FUZZ_CC)" FUZZ_CFLAGS="$(FUZZ_CFLAGS)" \
	  sh spec/fuzz/run.sh fuzz $(FUZZ_DIR) $(TAP)/fuzz-loader.tap $(FUZZ_SECONDS) loader; \
	  b=$$?; [ $$a = 0 ] && [ $$b = 0 ]

fuzz-regress:
	@FUZZ_CC="$(FUZZ_CC)" FUZZ_CFLAGS="$(FUZZ_CFLAGS)" \
	  sh spec/fuzz/run.sh regress $(FUZZ_DIR) $(TAP)/fuzz-regress.tap 0 procfs; \
	  a=$$?; FUZZ_CC="$(FUZZ_CC)" FUZZ_CFLAGS="$(FUZZ_CFLAGS)" \
	  sh spec/fuzz/run.sh regress $(FUZZ_DIR) $(TAP)/fuzz-loader-regress.tap 0 loader; \
	  b=$$?; [ $$a = 0 ] && [ $$b = 0 ]
