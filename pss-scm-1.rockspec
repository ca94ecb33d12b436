-- pss: Process Snapshotting for Lua 5.4 (the Windows Process Snapshotting
-- API, natively on Linux, kernel32's own on Windows). `luarocks
-- --lua-version=5.4 make` builds pss.core from the C sources and installs
-- lua/pss.lua, lua/pss/*.lua and bin/pss.
rockspec_format = "3.0"
package = "pss"
version = "scm-1"
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
   -- pss.json, pss.processes (on Linux) and the pss command; Debian packages
   -- them as lua-cjson, lua-filesystem and lua-argparse
   "lua-cjson", "luafilesystem", "argparse",
}
build = {
   type = "builtin",
   modules = {
      pss = "lua/pss.lua",
      ["pss.cli"] = "lua/pss/cli.lua",
      ["pss.diff"] = "lua/pss/diff.lua",
      ["pss.json"] = "lua/pss/json.lua",
      ["pss.process"] = "lua/pss/process.lua",
      ["pss.report"] = "lua/pss/report.lua",
      ["pss.svg"] = "lua/pss/svg.lua",
      ["pss.core"] = {
         sources = {
            "src/lpss.c", "src/text.c",
            "src/linux/capture.c", "src/linux/core.c", "src/linux/dump.c",
            "src/linux/freeze.c", "src/linux/handle.c",
            "src/linux/procfs.c", "src/linux/region.c", "src/linux/seccomp.c",
            "src/linux/selffreeze.c",
            "src/linux/snapshot.c", "src/linux/socket.c", "src/linux/store.c",
            "src/linux/thread.c", "src/linux/vaclone.c", "src/linux/walk.c",
         },
         defines = { "_GNU_SOURCE" },
         incdirs = { "src" },
      },
   },
   install = {
      bin = { pss = "bin/pss" },
   },
   -- On Windows pss.core passes through to kernel32 (docs/windows.md)
   platforms = {
      windows = {
         modules = {
            ["pss.core"] = {
               sources = { "src/lpss.c", "src/windows/pss_win.c" },
               defines = { "_WIN32_WINNT=0x0601" },
               incdirs = { "src" },
               libraries = { "advapi32" },
            },
         },
      },
   },
}
