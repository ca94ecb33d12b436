--- clone.lua PID [core-path]: one VA clone capture of PID; prints how long
-- the target's threads were stopped and the clone's part of it (ms), and
-- with a core path, how long writing the core from the clone took (ms).
local pss = require "pss"

--- Wall-clock nanoseconds (Lua has no wall clock finer than a second).
local function now_ns ()
  local date = io.popen("date +%s%N")
  local ns = tonumber(date:read("l"))
  date:close()
  return ns
end

local pid, core = tonumber(arg[1]), arg[2]
local snap = assert(pss.capture(pid, core and { "va_clone", "threads", "thread_context",
  "measure_performance" } or { "va_clone", "measure_performance" }))
local perf = snap:query("performance")
local write_ms = "-"
if core then
  local t0 = now_ns()
  assert(snap:write_core(core))
  write_ms = ("%.1f"):format((now_ns() - t0) / 1e6)
end
print(("%.3f %.3f %s"):format(perf.freeze_wall_clock_period * 1e3,
  perf.va_clone_wall_clock_period * 1e3, write_ms))
snap:free()
