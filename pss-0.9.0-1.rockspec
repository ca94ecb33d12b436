-- pss: Process Snapshotting for Lua 5.4 (the Windows Process Snapshotting
-- API, natively on Linux, kernel32's own on Windows). `luarocks
-- --lua-version=5.4 make` builds pss.core from the C sources and installs
-- lua/pss.lua, lua/pss/*.lua and bin/pss. The version is PSS_VERSION of
-- src/pss.h, which `make lint` checks this file states
-- (packaging/check-version.sh).
rockspec_format = "3.0"
package = "pss"
version = "0.9.0-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "Capture and walk snapshots of live processes (PssCaptureSnapshot for Lua)",
   detailed = [[
      pss captures a snapshot of a live process -- process record, threads,
      handles (file descriptors), memory regions -- and lets Lua query it and
      walk its entries, through the Windows Process Snapshotting API with its
      names and semantics, implemented natively on Linux from /proc and
      passed through to kernel32 on Windows.
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
   -- pss.json and the pss command; Debian packages them as lua-cjson,
   -- lua-filesystem and lua-argparse
   "lua-cjson", "luafilesystem", "argparse",
}
-- On Linux the Makefile builds pss.core (libpss's sources are picked by
-- folder, and the machine's ptrace/ARCH/ folder by the compiler) and
-- installs it with lua/ and bin/pss, from LuaRocks' variables (install-lua:
-- the rock holds the Lua side; `make install` adds libpss, its header, its
-- pkg-config file and the man page).
build = {
   type = "make",
   build_target = "lua",
   install_target = "install-lua",
   build_variables = {
      BUILD = "build/luarocks",
      CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", CC = "$(CC)",
      LUA = "$(LUA)", LUA_INCDIR = "$(LUA_INCDIR)", LUA_LIBDIR = "$(LUA_LIBDIR)",
   },
   install_variables = {
      BUILD = "build/luarocks",
      PREFIX = "$(PREFIX)", INST_LIBDIR = "$(LIBDIR)", INST_LUADIR = "$(LUADIR)",
      INST_BINDIR = "$(BINDIR)",
   },
   -- On Windows pss.core passes through to kernel32 (docs/windows.md)
   platforms = {
      windows = {
         type = "builtin",
         modules = {
            pss = "lua/pss.lua",
            ["pss.cli"] = "lua/pss/cli.lua",
            ["pss.diff"] = "lua/pss/diff.lua",
            ["pss.json"] = "lua/pss/json.lua",
            ["pss.process"] = "lua/pss/process.lua",
            ["pss.report"] = "lua/pss/report.lua",
            ["pss.stack"] = "lua/pss/stack.lua",
            ["pss.svg"] = "lua/pss/svg.lua",
            ["pss.text"] = "lua/pss/text.lua",
            ["pss.core"] = {
               sources = {
                  "src/lpss.c", "src/lpss_fields.c", "src/lpss_ledger.c",
                  "src/lpss_record.c", "src/lpss_snapshot.c", "src/lpss_stack.c",
                  "src/lpss_walk.c",
                  "src/windows/pss_win.c",
               },
               defines = { "_WIN32_WINNT=0x0601" },
               incdirs = { "src" },
               libraries = { "advapi32" },
            },
         },
         install = {
            bin = { pss = "bin/pss" },
         },
      },
   },
}
