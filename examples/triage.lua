--- triage.lua: a readable triage of a live process with pss.
--   lua5.4 examples/triage.lua [PID]     (no PID: this Lua process)
local pss = require "pss"
local text = require "pss.text"
local size = text.size                  -- "1.9 MiB", "84.0 KiB"

local function mib (bytes) return ("%.1f MiB"):format(bytes / 1048576) end

local function show_process (snap)
  local p = snap:query("process")
  print(("process %d  %s"):format(p.pid, p.image_file_name))
  print(("  parent %d  state %s  nice %d  %d threads  started %s"):format(
    p.parent_pid, p.state or "?", p.base_priority, p.thread_count or 0,
    os.date("%Y-%m-%d %H:%M:%S", math.floor(p.create_time))))
  print(("  rss %s (peak %s)  virtual %s  cpu user %.2f s, kernel %.2f s"):format(
    mib(p.working_set_size), mib(p.peak_working_set_size), mib(p.virtual_size),
    p.user_time, p.kernel_time))
  if p.argv then print("  command: " .. table.concat(p.argv, " ")) end
end

local function show_threads (snap)
  local threads = {}
  for t in snap:threads() do threads[#threads + 1] = t end
  -- system calls by name ("in ppoll") where the table fits the process
  local names = text.syscall_names(snap:query("process"), threads)
  print("threads:")
  for _, t in ipairs(threads) do
    local where = t.syscall_state == "syscall" and "in " .. text.syscall(t, names)
      or t.syscall_state or ""
    print(("  %-7d %-16s %s  %-14s cpu %.2f s"):format(t.tid, t.name or "", t.state or "?",
      where, t.user_time + t.kernel_time))
  end
end

local function show_handles (snap)
  local by_type, order, sockets = {}, {}, {}
  for h in snap:handles() do
    local kind = h.type_name or "?"
    if not by_type[kind] then by_type[kind] = 0; order[#order + 1] = kind end
    by_type[kind] = by_type[kind] + 1
    if h.kind == "socket" then sockets[#sockets + 1] = ("  fd %-4d %s"):format(h.handle, h.object_name or h.target) end
  end
  table.sort(order, function (a, b) return by_type[a] > by_type[b] end)
  local parts = {}
  for _, kind in ipairs(order) do parts[#parts + 1] = ("%s %d"):format(kind, by_type[kind]) end
  print("handles: " .. table.concat(parts, ", "))
  for _, line in ipairs(sockets) do print(line) end
end

--- The largest regions: by resident size where the capture measured it
-- (memory_usage, Linux), else by size.
local function show_regions (snap)
  local regions, committed, resident, swapped = {}, 0, 0, 0
  for r in snap:regions() do
    regions[#regions + 1] = r
    if r.state == "commit" then committed = committed + r.region_size end
    resident, swapped = resident + (r.rss or 0), swapped + (r.swap or 0)
  end
  local usage = regions[1] ~= nil and regions[1].rss ~= nil
  local key = usage and "rss" or "region_size"
  table.sort(regions, function (a, b) return a[key] > b[key] end)
  if usage then
    print(("regions: %d, %s committed, %s resident, %s swapped; largest by resident:"):format(
      #regions, size(committed), size(resident), size(swapped)))
  else
    print(("regions: %d, %s committed; largest:"):format(#regions, size(committed)))
  end
  for i = 1, math.min(5, #regions) do
    local r = regions[i]
    print(("  %012x %10s %s %-7s %s"):format(r.base_address, size(r[key]), r.protect,
      r.type, r.path ~= "" and r.path or r.mapped_file_name or ""))
  end
end

local target = arg[1] and math.tointeger(tonumber(arg[1])) or pss.self
local options = { "threads", "handles", "va_space", "measure_performance" }
if pss.options.memory_usage then options[#options + 1] = "memory_usage" end
local snap <close>, err = pss.capture(target, options)
if not snap then
  io.stderr:write("triage: ", err, "\n")
  os.exit(1)
end
show_process(snap)
show_threads(snap)
show_handles(snap)
show_regions(snap)
print(("captured in %.2f ms"):format(snap:query("performance").total_wall_clock_period * 1000))
