--- save.lua -- what saving a snapshot and loading it back cost, in one
-- process, against capturing it.
--
-- usage: lua5.4 bench/save.lua tables PID ROUNDS DIR [SHMDIR]
--        lua5.4 bench/save.lua memory PID FILE
--
-- tables: two option sets, "default" ({"threads", "handles", "va_space"},
-- as bench/pss_bench.lua) and "save" (what `pss save` takes without
-- --memory: those and "thread_context", "stacks", "measure_performance").
-- Per set, ROUNDS rounds, each:
--   capture   pss.capture(pid, options);
--   save-file snap:save(DIR/save.pss): a new file renamed into place;
--   save-shm  the same to SHMDIR/save.pss (save.sh: one in /dev/shm, tmpfs);
--   save-null snap:save on io.open("/dev/null", "wb"): the encoding and
--             write() calls alone, no file system;
--   walk      every thread, handle and region of the captured snapshot
--             into Lua lists (kept until the walk ends);
--   load      pss.load(DIR/save.pss) (the file is in the page cache);
--   load-walk the same walk on the loaded snapshot;
-- then both snapshots freed and a full collection (untimed). Derived:
-- capture+walk and load+walk. Output, per measure: "<set> <name> <median
-- ms> <min ms>"; then, of the last round's file, "<set> size <what>
-- <bytes>": file, json (pss.json of the same snapshot), and the payloads of
-- its sections by type (store, pstrings, rows, strings, other) and their
-- headers, as the file's section headers say (docs/snapshot-format.md);
-- per table, "<set> table <name> <rows> <row size> <pool bytes>";
-- and "<set> count <what> <n>" (threads, handles, regions, aux_pages).
--
-- memory: one capture of what `pss save --memory` takes (its options and
-- "va_clone"); then snap:save(FILE, {memory = true}), timed alone. Prints
-- "capture <ms>", "freeze <ms>", "save <ms>".
local pss = require "pss"

local clock
do
  local ok, system = pcall(require, "system")
  if ok and system.monotime then
    clock = system.monotime
  else
    clock = require("socket").gettime
  end
end

local SETS = {
  { name = "default", options = { "threads", "handles", "va_space" } },
  { name = "save", options = { "threads", "handles", "va_space", "thread_context", "stacks",
                               "measure_performance" } },
}
local SECTION_NAMES = { [1] = "store", [2] = "pstrings", [3] = "rows", [4] = "strings" }
local ROWS, STRINGS, END = 3, 4, 0x7fffffff
local TABLE_NAMES = { "regions", "handles", "threads", "aux_pages" }

local function usage ()
  io.stderr:write("usage: lua5.4 save.lua tables PID ROUNDS DIR [SHMDIR]\n" ..
                  "       lua5.4 save.lua memory PID FILE\n")
  os.exit(2)
end

local function median_min (list)
  table.sort(list)
  local n = #list
  return (list[(n + 1) // 2] + list[n // 2 + 1]) / 2, list[1]
end

local function collect (iterator)
  local list = {}
  for entry in iterator do list[#list + 1] = entry end
  return list
end

--- Every entry into lists, as a caller that reads the whole snapshot does.
local function walk (snap)
  return collect(snap:threads()), collect(snap:handles()), collect(snap:regions())
end

--- Calls f(...) and returns the ms it took, then what f returned.
local function timed (f, ...)
  local t0 = clock()
  local r1, r2, r3 = f(...)
  return (clock() - t0) * 1e3, r1, r2, r3
end

local function save_to (snap, path)
  assert(snap:save(path))
end

local function save_to_null (snap)
  local f = assert(io.open("/dev/null", "wb"))
  assert(snap:save(f))
  f:close()
end

--- The payload bytes of the file's sections by type, and the bytes of the
-- headers (file header, section headers), from the section headers alone.
local function section_sizes (path)
  local f = assert(io.open(path, "rb"))
  local sizes = { headers = 24 }
  assert(f:seek("set", 24))
  while true do
    local header = f:read(24)
    assert(header and #header == 24, "the file ends before its END section")
    local kind, id, length = string.unpack("<I4I4I8", header)
    sizes.headers = sizes.headers + 24
    if kind == END then break end
    local name = SECTION_NAMES[kind] or "other"
    sizes[name] = (sizes[name] or 0) + length
    if kind == ROWS and length >= 16 then     -- count (u64), row size (u32), reserved
      local count, row_size = string.unpack("<I8I4", f:read(16))
      sizes[#sizes + 1] = { id = id, count = count, row_size = row_size }
      length = length - 16
    elseif kind == STRINGS then
      sizes["pool" .. id] = length
    end
    assert(f:seek("cur", length))
  end
  sizes.file = f:seek("end")
  f:close()
  return sizes
end

--- The auxiliary pages (stack copies) a snapshot holds.
local function aux_count (snap)
  local n = 0
  for _ in snap:auxiliary_pages() do n = n + 1 end
  return n
end

local function tables_mode (pid, rounds, dir, shmdir)
  local shm = shmdir and shmdir .. "/save.pss"
  local file = dir .. "/save.pss"
  for _, set in ipairs(SETS) do
    local samples, names = {}, {}
    local function record (name, ms)
      if not samples[name] then samples[name] = {}; names[#names + 1] = name end
      local list = samples[name]
      list[#list + 1] = ms
    end
    local counts
    for _ = 1, rounds do
      local ms, snap = timed(pss.capture, pid, set.options)
      assert(snap, "capture failed")
      record("capture", ms)
      record("save-file", (timed(save_to, snap, file)))
      if shm then record("save-shm", (timed(save_to, snap, shm)) ) end
      record("save-null", (timed(save_to_null, snap)))
      local walk_ms, threads, handles, regions = timed(walk, snap)
      record("walk", walk_ms)
      record("capture+walk", ms + walk_ms)
      counts = { threads = #threads, handles = #handles, regions = #regions }
      snap:free()
      collectgarbage()
      local loaded
      ms, loaded = timed(pss.load, file)
      assert(loaded, "load failed")
      record("load", ms)
      walk_ms = timed(walk, loaded)
      record("load-walk", walk_ms)
      record("load+walk", ms + walk_ms)
      loaded:free()
      collectgarbage()
    end
    for _, name in ipairs(names) do
      print(("%s %s %.3f %.3f"):format(set.name, name, median_min(samples[name])))
    end
    -- sizes, from the last round's file, and its JSON for scale
    local sizes = section_sizes(file)
    local snap = assert(pss.load(file))
    counts.aux_pages = snap:captured("auxiliary_pages") and aux_count(snap) or 0
    sizes.json = #pss.json(snap)
    snap:free()
    for _, what in ipairs({ "file", "json", "headers", "store", "pstrings", "rows", "strings",
                            "other" }) do
      print(("%s size %s %d"):format(set.name, what, sizes[what] or 0))
    end
    for _, t in ipairs(sizes) do
      print(("%s table %s %d %d %d"):format(set.name, TABLE_NAMES[t.id] or t.id, t.count, t.row_size,
        sizes["pool" .. t.id] or 0))
    end
    for _, what in ipairs({ "threads", "handles", "regions", "aux_pages" }) do
      print(("%s count %s %d"):format(set.name, what, counts[what]))
    end
  end
  os.remove(file)
  if shm then os.remove(shm) end
end

local function memory_mode (pid, file)
  local options = table.move(SETS[2].options, 1, #SETS[2].options, 1, {})
  options[#options + 1] = "va_clone"
  local ms, snap = timed(pss.capture, pid, options)
  assert(snap, "capture failed")
  print(("capture %.3f"):format(ms))
  print(("freeze %.3f"):format(snap:query("performance").freeze_wall_clock_period * 1e3))
  local t0 = clock()
  assert(snap:save(file, { memory = true }))
  print(("save %.3f"):format((clock() - t0) * 1e3))
  snap:free()
end

local mode, pid = arg[1], math.tointeger(tonumber(arg[2]))
if not pid then usage() end
if mode == "tables" then
  local rounds = math.tointeger(tonumber(arg[3]))
  if not rounds or rounds < 1 or not arg[4] then usage() end
  tables_mode(pid, rounds, arg[4], arg[5])
elseif mode == "memory" and arg[3] then
  memory_mode(pid, arg[3])
else
  usage()
end
