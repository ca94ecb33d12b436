# pss -- Process Snapshotting for Lua 5.4
#
#   make            build libpss (static, PIC), the test target and tests
#   make demo       build and run a real triage of a live process
#   make install    libpss (static and shared), its headers and pkg-config
#                   file, pss.core, the Lua modules, the pss command, its man
#                   page and completions, under PREFIX (and DESTDIR)
#   make uninstall  removes what make install installed
#   make install-test   both, into scratch folders, and the installed copy
#                   at work (a suite of make test)
#   make test       install missing Debian packages (as root), build, run
#                   every suite, then the sanitizer and valgrind runs; ends
#                   with one "N passed, N failed" line
#   make check      the C suite only      make asan / make valgrind
#   make console    the embedding example (examples/console), as a TAP suite
#   make windows    cross-build lua.exe, lua54.dll and pss.dll with mingw-w64
#   make windows-test   the import guard and the smoke test under wine
#   make fuzz       the /proc parsers under libFuzzer for FUZZ_SECONDS (60)
#   make lint       luacheck, -Werror (and for aarch64), libpss's layers,
#                   file lengths, the rockspec, one version everywhere
#
# Variables follow LuaRocks' names so `luarocks make` and distro builds can
# override them: LUA, LUA_INCDIR, LUA_LIBDIR, LIBFLAG, CFLAGS, PREFIX, ...

LUA        ?= lua5.4
LUA_INCDIR ?= /usr/include/lua5.4
LUA_LIBDIR ?= /usr/lib/x86_64-linux-gnu
LIBFLAG    ?= -shared

# Where `make install` puts things: PREFIX and DESTDIR as distributions use
# them, the GNU directory names under PREFIX, and LuaRocks' names for the
# Lua modules (INST_LUADIR), pss.core (INST_LIBDIR) and the pss command.
PREFIX       ?= /usr/local
bindir       ?= $(PREFIX)/bin
libdir       ?= $(PREFIX)/lib
includedir   ?= $(PREFIX)/include
datadir      ?= $(PREFIX)/share
mandir       ?= $(datadir)/man
pkgconfigdir ?= $(libdir)/pkgconfig
bashcompdir  ?= $(datadir)/bash-completion/completions
zshcompdir   ?= $(datadir)/zsh/site-functions
INST_LIBDIR  ?= $(libdir)/lua/5.4
INST_LUADIR  ?= $(datadir)/lua/5.4
INST_BINDIR  ?= $(bindir)

# The version is written in src/pss.h only (PSS_VERSION); the shared
# library's SONAME changes with its first number.
VERSION   := $(shell sed -n 's/^.define PSS_VERSION "\([^"]*\)"$$/\1/p' src/pss.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
BUILD   ?= build

WARN = -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wmissing-prototypes \
       -Wstrict-prototypes -Wpointer-arith -Wno-unused-parameter
PSS_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) -Isrc \
             $(if $(filter yes,$(PSS_ZLIB)),-DPSS_ZLIB)

# The machine's folder under src/linux/ptrace/ (x86_64/), or generic/ where
# there is no port yet.
PSS_ARCH ?= $(if $(filter x86_64-%,$(shell $(CC) -dumpmachine)),x86_64,generic)
# The unwinder (src/stack/): elfutils' libdwfl; "none" where there is no
# libdw to link (the aarch64 cross-build): stacks then answer
# ERROR_NOT_SUPPORTED.
PSS_UNWIND ?= libdw
STACK_SRCS = $(if $(filter libdw,$(PSS_UNWIND)),$(wildcard src/stack/*.c),src/stack/none/unwind.c)
STACK_LIBS = $(if $(filter libdw,$(PSS_UNWIND)),-ldw -lelf) $(ZLIB_LIBS)
# zlib's crc32 (about 2.7 times the speed of our own) for saved snapshots'
# checksums; "no" where there is no zlib to link (the aarch64 cross-build).
PSS_ZLIB ?= $(if $(filter libdw,$(PSS_UNWIND)),yes,no)
ZLIB_LIBS = $(if $(filter yes,$(PSS_ZLIB)),-lz)
LIB_SRCS = src/text.c $(wildcard src/linux/*.c src/linux/*/*.c) $(wildcard src/linux/ptrace/$(PSS_ARCH)/*.c) \
           $(STACK_SRCS)
LIB_ASMS = $(wildcard src/linux/ptrace/$(PSS_ARCH)/*.S)
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o) $(LIB_ASMS:%.S=$(BUILD)/%.o)
LIB_HDRS = src/pss.h src/pss_linux.h $(wildcard src/linux/*.h src/linux/*/*.h src/linux/*/*/*.h) \
           $(wildcard src/stack/*.h)

# pss.core: the Lua module, split by concern (src/lpss*.c)
LPSS_SRCS = $(wildcard src/lpss*.c)
LPSS_HDRS = $(wildcard src/lpss*.h src/linux/lpss_linux.h src/windows/lpss_win.h)

TEST_SRCS = $(wildcard spec/c/*.c)
TEST_HDRS = $(wildcard spec/c/*.h)

LUA_MODULE = $(BUILD)/lua/pss/core.so

.PHONY: windows windows-test bench all lib lua check busted host console console-asan console-valgrind lint cross-aarch64 asan asan-lua lua-env-asan valgrind valgrind-lua test deps deps-demo demo shared man install install-lua uninstall install-test clean
all: lib lua $(BUILD)/pss-target $(BUILD)/test_pss $(BUILD)/pss-demo $(BUILD)/lua-host \
     $(BUILD)/noptrace $(BUILD)/stack-target

lua: $(LUA_MODULE)

# The module does not link liblua: the interpreter provides its symbols.
$(LUA_MODULE): $(LPSS_SRCS) $(LPSS_HDRS) $(LIB_HDRS) $(BUILD)/libpss.a
	@mkdir -p $(dir $@)
	$(CC) $(PSS_CFLAGS) -I$(LUA_INCDIR) $(CFLAGS) $(LIBFLAG) $(LPSS_SRCS) $(BUILD)/libpss.a \
	  -o $@ $(LDFLAGS) $(STACK_LIBS)

lib: $(BUILD)/libpss.a

$(BUILD)/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(PSS_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c $< -o $@

$(BUILD)/libpss.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# Runs a command where ptrace fails with EPERM (a seccomp filter), as in a
# container: the specs of captures where ptrace is refused.
$(BUILD)/noptrace: spec/support/noptrace.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $< -o $@ $(LDFLAGS)

$(BUILD)/pss-target: spec/support/pss-target.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $< -o $@ -pthread $(LDFLAGS)

# Built as the stack specs need it whatever CFLAGS says (and never with a
# sanitizer): optimized without frame pointers, so unwinding it needs CFI,
# with line information.
$(BUILD)/stack-target: spec/support/stack-target.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -fomit-frame-pointer $< -o $@ -pthread

# Every allocation of libpss passes through spec/c/faults.c, which fails
# the N-th on demand (test_faults.c).
FAULT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
$(BUILD)/test_pss: $(TEST_SRCS) $(TEST_HDRS) $(BUILD)/libpss.a
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -Ispec/c $(CFLAGS) $(TEST_SRCS) \
	  $(BUILD)/libpss.a -o $@ -lcmocka -pthread $(FAULT_WRAP) $(LDFLAGS) $(STACK_LIBS)

# A Lua host with a counting lua_Alloc, for the allocator bridge.
$(BUILD)/lua-host: spec/support/lua-host.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -I$(LUA_INCDIR) $(CFLAGS) $< -o $@ \
	  -L$(LUA_LIBDIR) -llua5.4 $(LDFLAGS)

# The embedding example: a game-style host with its own lua_Alloc that
# loads pss at run time (it does not link libpss).
$(BUILD)/console: examples/console/console.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -I$(LUA_INCDIR) $(CFLAGS) $< -o $@ \
	  -L$(LUA_LIBDIR) -llua5.4 $(LDFLAGS)

$(BUILD)/pss-demo: examples/demo.c $(BUILD)/libpss.a
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -Isrc $(CFLAGS) $< $(BUILD)/libpss.a -o $@ $(LDFLAGS) $(STACK_LIBS)

# ---- tests ---------------------------------------------------------------
# Each suite writes TAP into $(BUILD)/tap/; spec/support/tapsum counts them.
TAP = $(BUILD)/tap

check: $(BUILD)/test_pss $(BUILD)/pss-target $(BUILD)/stack-target
	@mkdir -p $(TAP)
	PSS_TARGET=$(abspath $(BUILD)/pss-target) PSS_STACK_TARGET=$(abspath $(BUILD)/stack-target) CMOCKA_MESSAGE_OUTPUT=TAP \
	  $(BUILD)/test_pss > $(TAP)/c.tap; rc=$$?; cat $(TAP)/c.tap; exit $$rc

# The busted suite: specs in spec/lua, the module from $(BUILD)/lua.
BUSTED = busted --lua=$(LUA) -o TAP
LUA_ENV = PSS_TARGET=$(abspath $(BUILD)/pss-target) PSS_NOPTRACE=$(abspath $(BUILD)/noptrace) \
  PSS_STACK_TARGET=$(abspath $(BUILD)/stack-target) \
  LUA_PATH="$(abspath lua)/?.lua;$(abspath spec/lua)/?.lua;$(abspath spec/support)/?.lua;;" \
  LUA_CPATH="$(abspath $(BUILD)/lua)/?.so;;"
busted: lua $(BUILD)/pss-target $(BUILD)/noptrace $(BUILD)/stack-target
	@mkdir -p $(TAP)
	$(LUA_ENV) $(BUSTED) spec/lua > $(TAP)/lua.tap; rc=$$?; cat $(TAP)/lua.tap; exit $$rc

host: lua $(BUILD)/lua-host
	@mkdir -p $(TAP)
	$(BUILD)/lua-host $(abspath lua) $(abspath $(BUILD)/lua) > $(TAP)/host.tap; \
	  rc=$$?; cat $(TAP)/host.tap; exit $$rc

# The console example starts $(BUILD)/pss-target itself (--spawn) and stops
# it; it finds lua/ and $(BUILD)/lua/ from where the binary is.
console: lua $(BUILD)/pss-target $(BUILD)/console
	@mkdir -p $(TAP)
	$(BUILD)/console --spawn $(abspath $(BUILD)/pss-target) > $(TAP)/console.tap; \
	  rc=$$?; cat $(TAP)/console.tap; exit $$rc

# Sanitizers: the C suite built with them; the Lua module built with them
# and loaded into the stock lua5.4 with the ASan runtime preloaded (leak
# detection there would report the interpreter's and busted's own
# allocations, so leaks of the module are left to the valgrind run).
SAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_RT = $(shell $(CC) -print-file-name=libasan.so)
asan:
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(SAN)" LDFLAGS="$(SAN)" \
	  $(addprefix build/asan/,test_pss pss-target stack-target lua/pss/core.so)
	@mkdir -p $(TAP)
	PSS_TARGET=$(abspath build/asan/pss-target) PSS_STACK_TARGET=$(abspath build/asan/stack-target) CMOCKA_MESSAGE_OUTPUT=TAP \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/asan/test_pss > $(TAP)/c-asan.tap; rc=$$?; cat $(TAP)/c-asan.tap; exit $$rc

asan-lua:
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(SAN)" LDFLAGS="$(SAN)" \
	  $(addprefix build/asan/,pss-target noptrace stack-target lua/pss/core.so lua-host)
	@mkdir -p $(TAP)
	-$(MAKE) --no-print-directory BUILD=build/asan lua-env-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/asan/lua-host $(abspath lua) $(abspath build/asan/lua) > $(TAP)/host-asan.tap; \
	  rc=$$?; cat $(TAP)/host-asan.tap; exit $$rc

console-asan:
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(SAN)" LDFLAGS="$(SAN)" \
	  $(addprefix build/asan/,pss-target lua/pss/core.so console)
	@mkdir -p $(TAP)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/asan/console --spawn $(abspath build/asan/pss-target) > $(TAP)/console-asan.tap; \
	  rc=$$?; cat $(TAP)/console-asan.tap; exit $$rc

lua-env-asan:
	$(LUA_ENV) LD_PRELOAD=$(ASAN_RT) PSS_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(BUSTED) spec/lua > build/tap/lua-asan.tap; rc=$$?; cat build/tap/lua-asan.tap; exit $$rc

VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-fds=no
valgrind: $(BUILD)/test_pss $(BUILD)/pss-target $(BUILD)/stack-target
	@mkdir -p $(TAP)
	PSS_TARGET=$(abspath $(BUILD)/pss-target) PSS_STACK_TARGET=$(abspath $(BUILD)/stack-target) CMOCKA_MESSAGE_OUTPUT=TAP PSS_UNDER_VALGRIND=1 \
	  $(VALGRIND) $(BUILD)/test_pss > $(TAP)/c-valgrind.tap; rc=$$?; cat $(TAP)/c-valgrind.tap; exit $$rc

# busted under valgrind: the interpreter runs the busted script directly.
valgrind-lua: lua $(BUILD)/pss-target $(BUILD)/noptrace $(BUILD)/stack-target $(BUILD)/lua-host
	@mkdir -p $(TAP)
	-$(LUA_ENV) PSS_UNDER_VALGRIND=1 $(VALGRIND) $(LUA) $$(command -v busted) -o TAP spec/lua \
	  > $(TAP)/lua-valgrind.tap; rc=$$?; cat $(TAP)/lua-valgrind.tap; exit $$rc
	$(VALGRIND) $(BUILD)/lua-host $(abspath lua) $(abspath $(BUILD)/lua) > $(TAP)/host-valgrind.tap; \
	  rc=$$?; cat $(TAP)/host-valgrind.tap; exit $$rc

console-valgrind: lua $(BUILD)/pss-target $(BUILD)/console
	@mkdir -p $(TAP)
	$(VALGRIND) $(BUILD)/console --spawn $(abspath $(BUILD)/pss-target) > $(TAP)/console-valgrind.tap; \
	  rc=$$?; cat $(TAP)/console-valgrind.tap; exit $$rc

deps:
	@sh spec/support/deps.sh

deps-demo:
	@sh spec/support/deps.sh demo

# `make fuzz`: the /proc parsers fuzzed for a bounded time (spec/fuzz/).
-include spec/fuzz/fuzz.mk

# Zero warnings (luacheck; every C file with -Werror, also for aarch64), the
# layers of libpss (spec/support/layers.lua), files short enough to read in
# one sitting, the rockspec, and one version everywhere: seven counted tests.
MAX_LINES = 800
LUA_DIRS = lua spec/lua spec/support spec/windows bench examples bin/pss
lint:
	@mkdir -p $(TAP)
	@{ echo "1..7"; \
	  if luacheck -q --std lua54 $$(ls -d $(LUA_DIRS) 2>/dev/null) >$(TAP)/luacheck.log 2>&1; \
	  then echo "ok 1 - luacheck"; else echo "not ok 1 - luacheck"; sed 's/^/# /' $(TAP)/luacheck.log; fi; \
	  if $(MAKE) --no-print-directory BUILD=build/lint CFLAGS="-O2 -Werror" \
	     $(addprefix build/lint/,libpss.a lua/pss/core.so test_pss pss-target pss-demo lua-host console) \
	     >$(TAP)/werror.log 2>&1; \
	  then echo "ok 2 - C compiles without warnings"; \
	  else echo "not ok 2 - C compiles without warnings"; sed 's/^/# /' $(TAP)/werror.log; fi; \
	  if $(MAKE) --no-print-directory cross-aarch64 >$(TAP)/aarch64.log 2>&1; \
	  then echo "ok 3 - libpss and pss.core build for aarch64 without warnings"; \
	  else echo "not ok 3 - libpss and pss.core build for aarch64 without warnings"; \
	    sed 's/^/# /' $(TAP)/aarch64.log; fi; \
	  if $(LUA) spec/support/layers.lua build/lint >$(TAP)/layers.log 2>&1; \
	  then echo "ok 4 - libpss: calls and includes run down the layers, no cycle"; \
	  else echo "not ok 4 - libpss: calls and includes run down the layers, no cycle"; \
	    sed 's/^/# /' $(TAP)/layers.log; fi; \
	  long=$$(find src lua -name '*.[chS]' -o -name '*.lua' | xargs wc -l | \
	    awk '$$2 != "total" && $$1 > $(MAX_LINES) { print $$2 " has " $$1 " lines" }'); \
	  if [ -z "$$long" ]; then echo "ok 5 - no file in src/ or lua/ over $(MAX_LINES) lines"; \
	  else echo "not ok 5 - no file in src/ or lua/ over $(MAX_LINES) lines"; \
	    echo "$$long" | sed 's/^/# /'; fi; \
	  rm -rf build/rocktree; \
	  if luarocks --lua-version=5.4 make --deps-mode=none --tree build/rocktree \
	       pss-$(VERSION)-1.rockspec >$(TAP)/luarocks.log 2>&1 && \
	     LUA_PATH="$(abspath build/rocktree)/share/lua/5.4/?.lua;;" \
	     LUA_CPATH="$(abspath build/rocktree)/lib/lua/5.4/?.so;;" \
	     build/rocktree/bin/pss ps >>$(TAP)/luarocks.log 2>&1; \
	  then echo "ok 6 - luarocks make builds and installs pss from the rockspec"; \
	  else echo "not ok 6 - luarocks make builds and installs pss from the rockspec"; \
	    tail -n 30 $(TAP)/luarocks.log | sed 's/^/# /'; fi; \
	  if sh packaging/check-version.sh >$(TAP)/version.log 2>&1 && \
	     luarocks --lua-version=5.4 lint pss-$(VERSION)-1.rockspec >>$(TAP)/version.log 2>&1; \
	  then echo "ok 7 - one version: pss.h's $(VERSION) in the rockspec and CHANGELOG.md; luarocks lint"; \
	  else echo "not ok 7 - one version: pss.h's $(VERSION) in the rockspec and CHANGELOG.md; luarocks lint"; \
	    sed 's/^/# /' $(TAP)/version.log; fi; \
	} > $(TAP)/lint.tap; cat $(TAP)/lint.tap; ! grep -q "^not ok" $(TAP)/lint.tap

# aarch64: the same sources build; thread contexts there answer
# ERROR_NOT_SUPPORTED (the CONTEXT layout is x86-64's).
CROSS_AARCH64 ?= aarch64-linux-gnu-gcc
cross-aarch64:
	@mkdir -p build/aarch64/include
	@echo '#define DEB_HOST_MULTIARCH "aarch64-linux-gnu"' > build/aarch64/include/lua5.4-deb-multiarch.h
	$(MAKE) --no-print-directory BUILD=build/aarch64 CC=$(CROSS_AARCH64) PSS_UNWIND=none \
	  CFLAGS="-O2 -Werror -I$(abspath build/aarch64/include)" \
	  build/aarch64/libpss.a build/aarch64/lua/pss/core.so

# ---- Windows ---------------------------------------------------------------
# Cross-built with mingw-w64: Lua 5.4 from Debian's source package (fetched
# into $(WIN)/lua, never vendored) as lua54.dll and lua.exe, and pss.dll,
# which holds luaopen_pss_core (require "pss.core" finds it by its root
# name) and resolves the Pss* functions at run time. `make windows-test`
# runs the smoke test under wine; see docs/windows.md.
MINGW    ?= x86_64-w64-mingw32-
WIN      ?= build/windows
WIN_LUA   = $(WIN)/lua/src
WIN_CFLAGS = -std=c11 -O2 -D_WIN32_WINNT=0x0601 $(WARN) -Werror
WIN_SRCS  = $(LPSS_SRCS) src/windows/pss_win.c
WIN_HDRS  = src/pss.h src/pss_windows.h $(LPSS_HDRS) $(wildcard src/windows/*.h)

windows: $(WIN)/lua.exe $(WIN)/pss.dll

$(WIN_LUA)/lua.h:
	@sh src/windows/lua-source.sh $(WIN)/lua

# Lua as the Lua makefile's mingw target builds it: every l*.c but the two
# programs into lua54.dll, with the import library beside it.
$(WIN)/lua54.dll: $(WIN_LUA)/lua.h
	$(MINGW)gcc -O2 -Wall -DLUA_BUILD_AS_DLL -shared -o $@ \
	  $$(ls $(WIN_LUA)/l*.c | grep -v -e '/lua\.c$$' -e '/luac\.c$$') \
	  -Wl,--out-implib,$(WIN)/liblua54.dll.a -s

$(WIN)/lua.exe: $(WIN)/lua54.dll
	$(MINGW)gcc -O2 -Wall -DLUA_BUILD_AS_DLL -I$(WIN_LUA) $(WIN_LUA)/lua.c -o $@ \
	  $(WIN)/liblua54.dll.a -s

$(WIN)/pss.dll: $(WIN_SRCS) $(WIN_HDRS) $(WIN)/lua54.dll
	$(MINGW)gcc $(WIN_CFLAGS) -DLUA_BUILD_AS_DLL -Isrc -I$(WIN_LUA) -shared $(WIN_SRCS) \
	  -o $@ $(WIN)/liblua54.dll.a -ladvapi32 -static-libgcc -s

# libpss's Windows side in C, including pss_win.c for what needs no snapshot
$(WIN)/test_win.exe: spec/windows/test_win.c src/windows/pss_win.c src/pss.h src/pss_windows.h $(WIN_LUA)/lua.h
	$(MINGW)gcc $(WIN_CFLAGS) -Isrc $< -o $@ -static-libgcc -s

# The import table must name no Pss* function (they are resolved at run
# time); then the C test and the smoke test under wine. Writes
# $(TAP)/windows.tap.
windows-test: windows $(WIN)/test_win.exe
	@mkdir -p $(TAP)
	@OBJDUMP=$(MINGW)objdump sh spec/windows/run.sh $(WIN) > $(TAP)/windows.tap; \
	  rc=$$?; cat $(TAP)/windows.tap; $(LUA) spec/support/tapsum.lua $(TAP)/windows.tap; exit $$rc

# Every suite runs even when one fails; the summary decides the exit code.
SUITES = c lua host console c-asan lua-asan host-asan console-asan \
         c-valgrind lua-valgrind host-valgrind console-valgrind install windows fuzz fuzz-loader
test: deps
	@rm -rf $(TAP); mkdir -p $(TAP)
	@$(MAKE) --no-print-directory all
	-@$(MAKE) --no-print-directory check
	-@$(MAKE) --no-print-directory busted
	-@$(MAKE) --no-print-directory host
	-@$(MAKE) --no-print-directory console
	-@$(MAKE) --no-print-directory asan
	-@$(MAKE) --no-print-directory asan-lua
	-@$(MAKE) --no-print-directory console-asan
	-@$(MAKE) --no-print-directory valgrind
	-@$(MAKE) --no-print-directory valgrind-lua
	-@$(MAKE) --no-print-directory console-valgrind
	-@$(MAKE) --no-print-directory lint
	-@$(MAKE) --no-print-directory install-test
	-@$(MAKE) --no-print-directory windows-test
	-@$(MAKE) --no-print-directory fuzz
	@$(LUA) spec/support/tapsum.lua $(SUITES:%=$(TAP)/%.tap) $(TAP)/lint.tap

# Benchmarks: pss against psutil and plain /proc reads on fixed targets;
# writes the figures to stdout (docs/benchmarks.md records a run).
bench: all
	@sh bench/run.sh $(BUILD)

demo: deps-demo lua $(BUILD)/pss-target
	@LUA=$(LUA) sh examples/demo.sh $(BUILD)

# ---- install ---------------------------------------------------------------
# The shared library: libpss's sources compiled again without
# -fvisibility=hidden (pss.h marks nothing for export), exporting only the
# Pss* functions (packaging/libpss.map); it names the libraries it needs.
SHLIB       = libpss.so.$(VERSION)
SHARED_OBJS = $(LIB_SRCS:%.c=$(BUILD)/shared/%.o) $(LIB_ASMS:%.S=$(BUILD)/%.o)
shared: $(BUILD)/$(SHLIB)

$(BUILD)/shared/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fvisibility=hidden,$(PSS_CFLAGS)) $(CFLAGS) -c $< -o $@

$(BUILD)/$(SHLIB): $(SHARED_OBJS) packaging/libpss.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,libpss.so.$(SOVERSION) \
	  -Wl,--version-script=packaging/libpss.map -Wl,--no-undefined $(SHARED_OBJS) \
	  -o $@ $(LDFLAGS) $(STACK_LIBS) -pthread

# pss(1) from docs/pss.1.md (go-md2man)
man: $(BUILD)/pss.1
$(BUILD)/pss.1: docs/pss.1.md packaging/manpage.sh src/pss.h
	@mkdir -p $(dir $@)
	sh packaging/manpage.sh $(VERSION) $@

# Completion scripts, written by the command (`pss completion bash|zsh`) of
# this tree and build; empty, and then not installed, where this pss has no
# such command.
PSS_HERE = LUA_CPATH="$(abspath $(BUILD)/lua)/?.so;;" $(LUA) bin/pss
$(BUILD)/completion/%: lua/pss/cli.lua bin/pss $(LUA_MODULE)
	@mkdir -p $(dir $@)
	@if $(PSS_HERE) completion --help >/dev/null 2>&1; then \
	  $(PSS_HERE) completion $* > $@ || { rm -f $@; exit 1; }; \
	else : > $@; echo "pss has no completion command: no $* completion"; fi

# libpss.pc: the directories under PREFIX written as ${prefix}/...
PC_DIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
PC_SED = -e 's|@prefix@|$(PREFIX)|' -e 's|@libdir@|$(call PC_DIR,$(libdir))|' \
         -e 's|@includedir@|$(call PC_DIR,$(includedir))|' -e 's|@version@|$(VERSION)|' \
         -e 's|@libs_private@|-lpthread $(STACK_LIBS)|'

# The Lua side, which is what the rockspec installs: pss.core, the modules,
# and the pss command with the modules' directories written into it (its
# line "local INSTALLED = nil"), so it finds them under any PREFIX without
# LUA_PATH and before any other copy.
LUA_FILES = lua/pss.lua $(wildcard lua/pss/*.lua)
install-lua: $(LUA_MODULE)
	install -d $(DESTDIR)$(INST_LIBDIR)/pss $(DESTDIR)$(INST_LUADIR)/pss $(DESTDIR)$(INST_BINDIR)
	install -m 755 $(LUA_MODULE) $(DESTDIR)$(INST_LIBDIR)/pss/core.so
	install -m 644 lua/pss.lua $(DESTDIR)$(INST_LUADIR)/pss.lua
	install -m 644 $(wildcard lua/pss/*.lua) $(DESTDIR)$(INST_LUADIR)/pss/
	sed 's|^local INSTALLED = nil.*|local INSTALLED = { lua = "$(INST_LUADIR)", lib = "$(INST_LIBDIR)" }|' \
	  bin/pss > $(BUILD)/pss.installed
	grep -q '^local INSTALLED = {' $(BUILD)/pss.installed
	install -m 755 $(BUILD)/pss.installed $(DESTDIR)$(INST_BINDIR)/pss

install: install-lua $(BUILD)/libpss.a $(BUILD)/$(SHLIB) $(BUILD)/pss.1 \
         $(BUILD)/completion/bash $(BUILD)/completion/zsh
	install -d $(DESTDIR)$(includedir) $(DESTDIR)$(libdir) $(DESTDIR)$(pkgconfigdir) \
	  $(DESTDIR)$(mandir)/man1
	install -m 644 src/pss.h src/pss_linux.h $(DESTDIR)$(includedir)/
	install -m 644 $(BUILD)/libpss.a $(DESTDIR)$(libdir)/libpss.a
	install -m 755 $(BUILD)/$(SHLIB) $(DESTDIR)$(libdir)/$(SHLIB)
	ln -sf $(SHLIB) $(DESTDIR)$(libdir)/libpss.so.$(SOVERSION)
	ln -sf libpss.so.$(SOVERSION) $(DESTDIR)$(libdir)/libpss.so
	sed $(PC_SED) packaging/libpss.pc.in > $(BUILD)/libpss.pc
	install -m 644 $(BUILD)/libpss.pc $(DESTDIR)$(pkgconfigdir)/libpss.pc
	install -m 644 $(BUILD)/pss.1 $(DESTDIR)$(mandir)/man1/pss.1
	if [ -s $(BUILD)/completion/bash ]; then install -d $(DESTDIR)$(bashcompdir) && \
	  install -m 644 $(BUILD)/completion/bash $(DESTDIR)$(bashcompdir)/pss; fi
	if [ -s $(BUILD)/completion/zsh ]; then install -d $(DESTDIR)$(zshcompdir) && \
	  install -m 644 $(BUILD)/completion/zsh $(DESTDIR)$(zshcompdir)/_pss; fi

# uninstall removes every file install-lua and install write, then the two
# folders that are pss's own where they are empty; folders shared with
# other software stay.
INSTALLED_FILES = $(INST_BINDIR)/pss $(INST_LIBDIR)/pss/core.so \
  $(LUA_FILES:lua/%=$(INST_LUADIR)/%) $(includedir)/pss.h $(includedir)/pss_linux.h \
  $(addprefix $(libdir)/,libpss.a $(SHLIB) libpss.so.$(SOVERSION) libpss.so) \
  $(pkgconfigdir)/libpss.pc $(mandir)/man1/pss.1 $(bashcompdir)/pss $(zshcompdir)/_pss
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	rmdir $(DESTDIR)$(INST_LIBDIR)/pss $(DESTDIR)$(INST_LUADIR)/pss 2>/dev/null || :

# make install and uninstall into scratch folders, and the installed copy
# at work from there (spec/install/run.sh)
install-test:
	@mkdir -p $(TAP)
	@sh spec/install/run.sh $(BUILD) > $(TAP)/install.tap; rc=$$?; cat $(TAP)/install.tap; exit $$rc

clean:
	rm -rf build
