--- stack.lua -- where the time of `pss stack` goes: the capture against
-- the unwinding, in one process that does what the command does.
--
-- usage: lua5.4 bench/stack.lua PID ROUNDS [lines]
--
-- Each round: pss.capture(pid, {"threads", "thread_context", "va_space",
-- "stacks", "measure_performance"}) ("capture"), then snap:stack(tid) for
-- every thread of the snapshot (with "lines": snap:stack(tid, {lines =
-- true}), source lines too, as `pss stack -s`), the first ("first-stack": it also pays
-- for the unwinder, which reads the modules' ELF files and CFI) timed
-- apart from the others ("other-stacks"), then snap:free(). From libpss's
-- own counters: "freeze" (first thread stopped to last thread resumed:
-- the target's pause), "aux-pages" (the stack copies, inside the freeze)
-- and "threads" (the thread part of the capture, freeze included).
-- The first round of the process is printed alone as well ("cold-*"):
-- `pss stack` runs once, in a fresh process.
-- Output: one line per measure, "<name> <median ms> <max ms>", then
-- "count threads N" and "count frames N" (of the last round).
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

local pid, rounds = math.tointeger(tonumber(arg[1])), math.tointeger(tonumber(arg[2]))
if not pid or not rounds or rounds < 1 or (arg[3] ~= nil and arg[3] ~= "lines") then
  io.stderr:write("usage: lua5.4 stack.lua PID ROUNDS [lines]\n")
  os.exit(2)
end
local STACK_OPTIONS = arg[3] == "lines" and { lines = true } or nil

local OPTIONS = { "threads", "thread_context", "va_space", "stacks", "measure_performance" }

local samples, names = {}, {}
local function record (name, ms)
  if not samples[name] then
    samples[name] = {}
    names[#names + 1] = name
  end
  local list = samples[name]
  list[#list + 1] = ms
end

-- A counter of snap:query("performance") in ms, 0 where this pss.core
-- does not report it.
local function counter (perf, field)
  local seconds = perf[field]
  return seconds and seconds * 1e3 or 0
end

-- One round as `pss stack` makes it; returns its measures (ms) and counts.
local function round ()
  local t0 = clock()
  local snap = assert(pss.capture(pid, OPTIONS))
  local t1 = clock()
  local tids = {}
  for t in snap:threads() do tids[#tids + 1] = t.tid end
  local t2 = clock()
  local frames = 0
  for i, tid in ipairs(tids) do
    local stack = assert(snap:stack(tid, STACK_OPTIONS))
    frames = frames + #stack
    if i == 1 then t2 = clock() end
  end
  local t3 = clock()
  local perf = snap:query("performance")
  snap:free()
  return {
    capture = (t1 - t0) * 1e3,
    ["first-stack"] = (t2 - t1) * 1e3,
    ["other-stacks"] = (t3 - t2) * 1e3,
    total = (t3 - t0) * 1e3,
    freeze = counter(perf, "freeze_wall_clock_period"),
    ["aux-pages"] = counter(perf, "aux_pages_wall_clock_period"),
    threads = counter(perf, "threads_wall_clock_period"),
  }, #tids, frames
end

local MEASURES = { "capture", "first-stack", "other-stacks", "total", "freeze", "aux-pages", "threads" }

local first, threads, frames = round()
for _, name in ipairs(MEASURES) do record("cold-" .. name, first[name]) end
for _ = 1, rounds do
  local r
  r, threads, frames = round()
  for _, name in ipairs(MEASURES) do record(name, r[name]) end
  collectgarbage()
end

local function median_max (list)
  table.sort(list)
  local n = #list
  return (list[(n + 1) // 2] + list[n // 2 + 1]) / 2, list[n]
end

for _, name in ipairs(names) do
  print(("%s %.3f %.3f"):format(name, median_max(samples[name])))
end
print(("count threads %d"):format(threads))
print(("count frames %d"):format(frames))
