--- usage.lua -- what the memory usage of every region costs a pss capture.
--
-- usage: lua5.4 bench/usage.lua PID REPS
--
-- Option sets, each round taking them in turn on the same target (so that
-- the machine's drift falls on all of them alike):
--   usage          {"va_space", "memory_usage"}
--   va_space       {"va_space"}
--   default+usage  {"threads", "handles", "va_space", "memory_usage"}
--   default        {"threads", "handles", "va_space"}
-- The sets with memory_usage are left out where pss has no such option (a
-- build from before it), so the same script measures both.
--
-- Two loops of REPS rounds, after one round alone that warms the process:
--   (a) the capture, then every entry it took walked into Lua tables (every
--       region with all its fields; threads and handles where captured),
--       kept in lists, snap:free() and a full collectgarbage(). Timed:
--       "SET/capture" (the call alone) and "SET/capture+walk" (the round).
--   (b) the same capture with "measure_performance", not walked: libpss's
--       own counters, "SET/va_space" (reading the regions: smaps or maps,
--       their parsing and storing, and the mapped files' build ids),
--       "SET/freeze" (the target stopped) and "SET/total"; and the minor
--       page faults of this process during the capture (from
--       /proc/self/stat: libpss's own thread included), "SET/faults".
-- Output: "<name> <median ms> <min ms>" lines, then "count <what> <n>":
-- the median page faults of each set, the regions captured, and with
-- memory_usage the process record's rss, pss and swap totals in kB.
local pss = require "pss"
local system = require "system"

local clock = system.monotime

local pid, reps = math.tointeger(tonumber(arg[1])), math.tointeger(tonumber(arg[2]))
if not pid or not reps or reps < 1 then
  io.stderr:write("usage: lua5.4 usage.lua PID REPS\n")
  os.exit(2)
end

local SETS = {
  { name = "usage", options = { "va_space", "memory_usage" } },
  { name = "va_space", options = { "va_space" } },
  { name = "default+usage", options = { "threads", "handles", "va_space", "memory_usage" } },
  { name = "default", options = { "threads", "handles", "va_space" } },
}

local sets = {}
for _, set in ipairs(SETS) do
  local usage = false
  for _, option in ipairs(set.options) do usage = usage or option == "memory_usage" end
  if not usage or pss.options.memory_usage then
    local measured = table.move(set.options, 1, #set.options, 1, {})
    measured[#measured + 1] = "measure_performance"
    set.measured = measured
    sets[#sets + 1] = set
  end
end

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
  local n = 0
  for field in text:match("%) (.*)$"):gmatch("%S+") do   -- the fields after comm
    n = n + 1
    if n == 8 then return tonumber(field) end              -- field 3 is the first here
  end
end

local faults = {}

local function collect (iterator)
  local list = {}
  for entry in iterator do list[#list + 1] = entry end
  return list
end

--- Every entry the snapshot holds, as Lua tables in lists, which are
-- garbage on return; the count of regions.
local function walk (snap, options)
  local lists = { collect(snap:regions()) }
  for _, option in ipairs(options) do
    if option == "threads" then lists[#lists + 1] = collect(snap:threads()) end
    if option == "handles" then lists[#lists + 1] = collect(snap:handles()) end
  end
  return #lists[1]
end

local function round (set, timed)
  local t0 = clock()
  local snap = assert(pss.capture(pid, set.options))
  local t1 = clock()
  walk(snap, set.options)
  snap:free()
  collectgarbage()
  local t2 = clock()
  if timed then
    record(set.name .. "/capture", t1 - t0)
    record(set.name .. "/capture+walk", t2 - t0)
  end
end

local function measured_round (set)
  local f0 = minor_faults()
  local snap = assert(pss.capture(pid, set.measured))
  local list = faults[set.name] or {}
  faults[set.name] = list
  list[#list + 1] = minor_faults() - f0
  local perf = snap:query("performance")
  record(set.name .. "/va_space", perf.va_space_wall_clock_period)
  record(set.name .. "/freeze", perf.freeze_wall_clock_period)
  record(set.name .. "/total", perf.total_wall_clock_period)
  snap:free()
end

for _, set in ipairs(sets) do round(set, false) end
for _ = 1, reps do
  for _, set in ipairs(sets) do round(set, true) end
end
for _ = 1, reps do
  for _, set in ipairs(sets) do measured_round(set) end
end

local function median_min (list)
  table.sort(list)
  local n = #list
  return (list[(n + 1) // 2] + list[n // 2 + 1]) / 2, list[1]
end

for _, name in ipairs(samples) do
  print(("%s %.3f %.3f"):format(name, median_min(samples[name])))
end

for _, set in ipairs(sets) do
  print(("count %s/faults %d"):format(set.name, math.floor(median_min(faults[set.name]))))
end

local snap = assert(pss.capture(pid, sets[1].options))
print(("count regions %d"):format(walk(snap, sets[1].options)))
local process = snap:query("process")
if process.rss then
  print(("count rss_kb %d"):format(process.rss // 1024))
  print(("count pss_kb %d"):format(process.pss // 1024))
  print(("count swap_kb %d"):format(process.swap // 1024))
end
snap:free()
