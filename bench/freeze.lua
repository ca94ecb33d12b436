--- freeze.lua -- how long each capture keeps the target stopped.
-- usage: lua5.4 bench/freeze.lua PID ROUNDS
-- Prints one line per capture with thread contexts: libpss's
-- freeze_wall_clock_period in milliseconds.
local pss = require "pss"

local pid, rounds = math.tointeger(tonumber(arg[1])), math.tointeger(tonumber(arg[2]))
if not pid or not rounds then
  io.stderr:write("usage: lua5.4 freeze.lua PID ROUNDS\n")
  os.exit(2)
end
for _ = 1, rounds do
  local snap <close> = assert(pss.capture(pid, { "threads", "thread_context", "measure_performance" }))
  print(snap:query("performance").freeze_wall_clock_period * 1000)
end
