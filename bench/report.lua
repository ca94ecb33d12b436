--- report.lua -- turns the results run.sh collected into Markdown tables.
--
-- usage: lua5.4 bench/report.lua RESULTS
--
-- RESULTS holds one measure a line: "<target> <tool> <name> <median ms>
-- <min ms>" (tool: floor, pss, psutil), "<target> <tool> count <what> <n>"
-- and "<target> target <what> <n>" (the counts run.sh read from /proc).
local results, targets = {}, {}

for line in assert(io.open(arg[1] or "")):lines() do
  local w = {}
  for word in line:gmatch("%S+") do w[#w + 1] = word end
  local r = results[w[1]]
  if not r then
    r = { floor = {}, pss = {}, psutil = {}, count = {}, target = {} }
    results[w[1]] = r
    targets[#targets + 1] = w[1]
  end
  if w[2] == "target" then
    r.target[w[3]] = tonumber(w[4])
  elseif w[3] == "count" then
    r.count[w[2] .. "." .. w[4]] = tonumber(w[5])
  else
    r[w[2]][w[3]] = { median = tonumber(w[4]), min = tonumber(w[5]) }
  end
end

-- The median of one measure, or the sum of the medians of several.
local function ms (r, tool, ...)
  local sum = 0
  for _, name in ipairs({ ... }) do
    local m = r[tool][name] or error(("no %s measure '%s'"):format(tool, name))
    sum = sum + m.median
  end
  return sum
end

local function fmt (v) return ("%.1f"):format(v) end
local function ratio (a, b) return ("%.2f×"):format(a / b) end
local function timing (r, tool, name)
  return ("%s (%s)"):format(fmt(ms(r, tool, name)), fmt(r[tool][name].min))
end

local function row (...) print("| " .. table.concat({ ... }, " | ") .. " |") end

-- The cells f(results, name) gives for every target, in order.
local function each (f)
  local cells = {}
  for _, t in ipairs(targets) do
    for _, v in ipairs({ f(results[t], t) }) do cells[#cells + 1] = v end
  end
  return table.unpack(cells)
end

local function machine ()
  local cpu, cores = "?", 0
  for line in io.lines("/proc/cpuinfo") do
    cpu = line:match("^model name%s*:%s*(.-)%s*$") or cpu
    if line:match("^processor%s*:") then cores = cores + 1 end
  end
  return ("%s, %d cores, Linux %s"):format(cpu, cores, io.lines("/proc/sys/kernel/osrelease")())
end

print("Machine: " .. machine())
print()
print(("A first write to a fresh page (a minor page fault) costs %.1f µs here."):format(
  ms(results[targets[1]], "floor", "x-1000-faults")))
print()
print("### Targets")
print()
row("target", "threads", "fds", "mappings", "resident MiB", "rounds (floor, pss / psutil)")
row("---", "---:", "---:", "---:", "---:", "---:")
for _, t in ipairs(targets) do
  local i = results[t].target
  row(t, i.threads, i.fds, i.regions, i.resident, ("%d / %d"):format(i.reps, i.psutil_reps))
end

print()
print("### Results: median ms (min)")
print()
row("measure", each(function (_, t) return t end))
row("---", each(function () return "---:" end))
row("floor: the /proc reads alone", each(function (r) return timing(r, "floor", "floor") end))
row("pss: capture", each(function (r) return timing(r, "pss", "capture") end))
row("pss: capture + walk into Lua tables",
    each(function (r) return timing(r, "pss", "capture+walk") end))
row("psutil: info, threads, open_files, connections, memory_maps",
    each(function (r) return timing(r, "psutil", "total") end))
for _, f in ipairs({ { "capture", "capture" }, { "walk", "its walk into Lua tables" } }) do
  row("pss, first round of a process: " .. f[2] .. " (page faults)", each(function (r)
    return ("%s (%d)"):format(fmt(ms(r, "pss", "first-" .. f[1])),
                              r.count["pss.first_" .. f[1] .. "_faults"])
  end))
end
row("pss capture / floor",
    each(function (r) return ratio(ms(r, "pss", "capture"), ms(r, "floor", "floor")) end))
row("pss capture / (floor + the calls outside /proc reads)", each(function (r)
  return ratio(ms(r, "pss", "capture"), ms(r, "floor", "floor", "x-affinity", "x-fstat", "x-net-rest"))
end))
row("pss capture + walk / floor",
    each(function (r) return ratio(ms(r, "pss", "capture+walk"), ms(r, "floor", "floor")) end))
row("psutil / floor",
    each(function (r) return ratio(ms(r, "psutil", "total"), ms(r, "floor", "floor")) end))
row("psutil / pss capture + walk",
    each(function (r) return ratio(ms(r, "psutil", "total"), ms(r, "pss", "capture+walk")) end))
row("fds described by pss", each(function (r)
  return ("%d of %d"):format(r.count["pss.described"], r.count["psutil.fds"]) end))
row("fds described by psutil", each(function (r)
  return ("%d of %d"):format(r.count["psutil.described"], r.count["psutil.fds"]) end))

print()
print("### Where the time goes: median ms per part")
print()
print("floor: its reads for that part; pss: libpss's own counters")
print("(`measure_performance`) and the Lua walk; psutil: the calls that give")
print("the same facts.")
print()
row("part", each(function (_, t) return t .. " floor", t .. " pss", t .. " psutil" end))
row("---", each(function () return "---:", "---:", "---:" end))
local parts = {
  { "process record", { "process" }, { "perf-process" }, { "info" } },
  { "threads", { "task-stat", "task-syscall" }, { "perf-threads" }, { "threads" } },
  { "handles", { "fd-link", "fd-info", "net" }, { "perf-handles" },
    { "open_files", "connections" } },
  { "va_space", { "maps" }, { "perf-va_space" }, { "memory_maps" } },
  { "whole capture", { "floor" }, { "perf-total" }, { "total" } },
}
for _, p in ipairs(parts) do
  row(p[1], each(function (r)
    return fmt(ms(r, "floor", table.unpack(p[2]))), fmt(ms(r, "pss", table.unpack(p[3]))),
           fmt(ms(r, "psutil", table.unpack(p[4])))
  end))
end
local floor_only = {
  { "handles: of which net/unix, tcp, tcp6, udp, udp6", "net" },
  { "not in the floor: sched_getaffinity per thread", "x-affinity" },
  { "not in the floor: fstatat fd/N per path fd", "x-fstat" },
  { "not in the floor: net/raw … net/packet", "x-net-rest" },
}
for _, x in ipairs(floor_only) do
  row(x[1], each(function (r) return fmt(ms(r, "floor", x[2])), "", "" end))
end
for _, w in ipairs({ "threads", "handles", "regions", "gc" }) do
  row(w == "gc" and "Lua: collecting the walked tables" or "Lua: walk of " .. w,
      each(function (r) return "", fmt(ms(r, "pss", "walk-" .. w)), "" end))
end
for _, f in ipairs({ { "capture", "capture_faults" }, { "Lua walk", "walk_faults" } }) do
  row("pss " .. f[1] .. ": page faults per round (≈ ms)", each(function (r)
    local n = r.count["pss." .. f[2]]
    return "", ("%d (%.1f)"):format(n, n * ms(r, "floor", "x-1000-faults") / 1e3), ""
  end))
end

print()
print("### Per entry: median µs")
print()
row("cost", each(function (_, t) return t end))
row("---", each(function () return "---:" end))
local function per (label, tool, names, what)
  row(label, each(function (r)
    return ("%.2f"):format(ms(r, tool, table.unpack(names)) * 1e3 / r.count["pss." .. what])
  end))
end
per("thread: floor, task/TID/stat", "floor", { "task-stat" }, "threads")
per("thread: floor, task/TID/syscall", "floor", { "task-syscall" }, "threads")
per("thread: floor, sched_getaffinity", "floor", { "x-affinity" }, "threads")
per("thread: pss capture", "pss", { "perf-threads" }, "threads")
per("thread: Lua walk", "pss", { "walk-threads" }, "threads")
per("fd: floor, readlink fd/N", "floor", { "fd-link" }, "handles")
per("fd: floor, fdinfo/N", "floor", { "fd-info" }, "handles")
per("fd: floor, fstatat (spread over all fds)", "floor", { "x-fstat" }, "handles")
per("fd: floor, net tables (spread over all fds)", "floor", { "net", "x-net-rest" }, "handles")
per("fd: pss capture (net scan included)", "pss", { "perf-handles" }, "handles")
per("fd: Lua walk", "pss", { "walk-handles" }, "handles")
per("region: floor, maps", "floor", { "maps" }, "regions")
per("region: pss capture", "pss", { "perf-va_space" }, "regions")
per("region: Lua walk", "pss", { "walk-regions" }, "regions")
