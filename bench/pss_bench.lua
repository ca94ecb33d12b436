--- pss_bench.lua -- what a full pss capture of a process costs from Lua.
--
-- usage: lua5.4 bench/pss_bench.lua PID REPS
--
-- Two loops of REPS rounds each, in this one process, on the same target:
--   (a) pss.capture(pid, {"threads", "handles", "va_space"}), then every
--       thread, handle and region walked into Lua tables (kept in lists),
--       snap:free(), and a full collectgarbage() so that each round pays
--       for the garbage it made. Timed: the capture alone ("capture") and
--       the whole round ("capture+walk").
--   (d) the same with "measure_performance": libpss's own wall-clock
--       counters (snap:query("performance")) for the process record,
--       threads, handles and va_space ("perf-*"), each walk timed on its
--       own ("walk-threads", "walk-handles", "walk-regions") and the final
--       collection ("walk-gc").
--       Also counted there: the minor page faults of this process during
--       the capture and during the walk (from /proc/self/stat).
-- Before both, one round is timed alone ("first-capture", "first-walk",
-- with its page faults): the first capture of a process, as a one-shot
-- tool makes it, on memory the process never touched before.
-- Output: one line per measure, "<name> <median ms> <min ms>", then
-- "count <what> <n>": threads, handles and regions captured, the handles
-- pss describes, and the median page faults of a capture and of a walk.
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

local pid, reps = tonumber(arg[1]), tonumber(arg[2])
if not pid or not reps then
  io.stderr:write("usage: lua5.4 pss_bench.lua PID REPS\n")
  os.exit(2)
end
pid, reps = math.tointeger(pid), math.tointeger(reps)

local OPTIONS = { "threads", "handles", "va_space" }
local MEASURED = { "threads", "handles", "va_space", "measure_performance" }

local samples = {}
local function record (name, seconds)
  local list = samples[name]
  if not list then
    list = {}
    samples[name] = list
    samples[#samples + 1] = name
  end
  list[#list + 1] = seconds * 1e3
end

-- Minor page faults of this process so far: field 10 of /proc/self/stat.
local function minor_faults ()
  local f = assert(io.open("/proc/self/stat"))
  local text = f:read("a")
  f:close()
  local after = text:match("%) (.*)$")   -- the fields after comm
  local n = 0
  for field in after:gmatch("%S+") do
    n = n + 1
    if n == 8 then return tonumber(field) end   -- field 3 is the first here
  end
end

local function capture (options)
  return assert(pss.capture(pid, options))
end

local function collect (iterator)
  local list = {}
  for entry in iterator do list[#list + 1] = entry end
  return list
end

-- Handles that carry a description: a name, and for a socket more than
-- its bare "socket:[inode]" link.
local function described (handles)
  local n = 0
  for _, h in ipairs(handles) do
    local name = h.object_name
    if name and name ~= "" and h.kind ~= "unknown" and not name:match("^socket:%[") then
      n = n + 1
    end
  end
  return n
end

-- Walks every entry of the snapshot into lists. With a prefix, times each
-- class under it and returns the counts (described handles counted after
-- the timing). The lists are garbage on return.
local function walk (snap, prefix)
  local t0 = clock()
  local threads = collect(snap:threads())
  local t1 = clock()
  local handles = collect(snap:handles())
  local t2 = clock()
  local regions = collect(snap:regions())
  local t3 = clock()
  if not prefix then return end
  record(prefix .. "threads", t1 - t0)
  record(prefix .. "handles", t2 - t1)
  record(prefix .. "regions", t3 - t2)
  return { threads = #threads, handles = #handles, regions = #regions,
           described = described(handles) }
end

-- The first round of this process, which also warms it up: its memory is
-- fresh, so its page faults show what a one-shot capture pays.
local first = {}
do
  local f0 = minor_faults()
  local t0 = clock()
  local snap = capture(OPTIONS)
  local t1 = clock()
  local f1 = minor_faults()
  walk(snap)
  local t2 = clock()
  first.capture_faults, first.walk_faults = f1 - f0, minor_faults() - f1
  snap:free()
  record("first-capture", t1 - t0)
  record("first-walk", t2 - t1)
end

for _ = 1, reps do
  local t0 = clock()
  local snap = capture(OPTIONS)
  local t1 = clock()
  walk(snap)
  snap:free()
  collectgarbage()
  local t2 = clock()
  record("capture", t1 - t0)
  record("capture+walk", t2 - t0)
end

local counts
local faults = { capture = {}, walk = {} }
for _ = 1, reps do
  local f0 = minor_faults()
  local t0 = clock()
  local snap = capture(MEASURED)
  local t1 = clock()
  local f1 = minor_faults()
  counts = walk(snap, "walk-")
  local f2 = minor_faults()
  local perf = snap:query("performance")
  snap:free()
  local t2 = clock()
  collectgarbage()
  record("walk-gc", clock() - t2)
  record("measured-capture", t1 - t0)
  record("perf-total", perf.total_wall_clock_period)
  record("perf-threads", perf.threads_wall_clock_period)
  record("perf-handles", perf.handles_wall_clock_period)
  record("perf-va_space", perf.va_space_wall_clock_period)
  record("perf-process", perf.total_wall_clock_period - perf.threads_wall_clock_period
    - perf.handles_wall_clock_period - perf.va_space_wall_clock_period)
  faults.capture[#faults.capture + 1] = f1 - f0
  faults.walk[#faults.walk + 1] = f2 - f1
end

local function median_min (list)
  table.sort(list)
  local n = #list
  return (list[(n + 1) // 2] + list[n // 2 + 1]) / 2, list[1]
end

for _, name in ipairs(samples) do
  print(("%s %.3f %.3f"):format(name, median_min(samples[name])))
end

for _, what in ipairs({ "threads", "handles", "regions", "described" }) do
  print(("count %s %d"):format(what, counts[what]))
end
print(("count first_capture_faults %d"):format(first.capture_faults))
print(("count first_walk_faults %d"):format(first.walk_faults))
print(("count capture_faults %d"):format(math.floor(median_min(faults.capture))))
print(("count walk_faults %d"):format(math.floor(median_min(faults.walk))))
