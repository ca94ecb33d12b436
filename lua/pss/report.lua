--- pss.report: a readable text report of a snapshot, for triaging a live
-- process. `report(snap [, options])` returns the text; `regions(snap)`
-- gives the regions with the memory kind the report files them under.
-- Pure Lua: it reads the snapshot only (and, on Linux, the first bytes of
-- the target's executable to tell its architecture). See docs/lua-api.md.
local M = {}

-- pss.core only when a function runs: no require cycle while pss loads.
local function core () return require "pss.core" end

local text = require "pss.text"
local printable = text.printable

--- Names and sizes as the report writes them (pss.text; kept here, where
-- docs/lua-api.md has always listed them).
M.printable = printable
M.size = text.size

local function seconds (s)
  if s == nil then return "-" end
  return ("%.2f s"):format(s)
end



--- {======================================================================
-- What was captured
-- ======================================================================

--- Every entry of an iterator method as a list.
local function entries (snap, method)
  local list = {}
  for e in snap[method](snap) do list[#list + 1] = e end
  return list
end

local function address_order (a, b)
  if a.base_address ~= b.base_address then return math.ult(a.base_address, b.base_address) end
  return math.ult(a.region_size, b.region_size)
end

--- The region of a sorted list that holds address a (binary search).
local function region_at (list, a)
  local lo, hi = 1, #list
  while lo <= hi do
    local mid = (lo + hi) // 2
    local r = list[mid]
    if math.ult(a, r.base_address) then hi = mid - 1
    elseif math.ult(a - r.base_address, r.region_size) then return r, mid
    else lo = mid + 1 end
  end
end

--- The stack pointer of a thread entry, nil if the snapshot has none.
local function stack_pointer (t)
  local sp = t.context and t.context.rsp
  if sp == nil or sp == 0 then sp = t.last_syscall_stack_pointer end
  if sp ~= nil and sp ~= 0 then return sp end
end

--- The regions of a snapshot in address order, each a region record with
-- `memory_kind` added ("image", "mapped", "private", "stack", "heap",
-- "other", "free") and, for a stack whose thread is known, `stack_of` (its
-- tid). `threads` (optional) is the list of thread entries; without it the
-- snapshot's own are used when it has them.
function M.regions (snap, threads)
  if core().type(snap) ~= "snapshot" then
    error(("bad argument #1 to 'regions' (snapshot expected, got %s)")
      :format(core().type(snap) or type(snap)), 2)
  end
  if not snap:captured("va_space") then
    error("regions were not captured (capture with the \"va_space\" or \"va_regions\" option)", 2)
  end
  local list = entries(snap, "regions")
  table.sort(list, address_order)
  if threads == nil and snap:captured("threads") then threads = entries(snap, "threads") end
  local stack_bases = {}   -- allocation_base -> tid, of regions holding a stack pointer
  for _, t in ipairs(threads or {}) do
    local sp = stack_pointer(t)
    local r = sp and region_at(list, sp)
    if r and r.type == "private" and r.state ~= "free" then
      stack_bases[r.allocation_base or r.base_address] = t.tid
      r.stack_of = t.tid
    end
  end
  for _, r in ipairs(list) do
    local path = r.path
    local tid = path and tonumber(path:match("^%[stack:(%d+)%]$"))
    if r.state == "free" then r.memory_kind = "free"
    elseif r.type == "image" then r.memory_kind = "image"
    elseif r.type == "mapped" then r.memory_kind = "mapped"
    elseif path == "[heap]" then r.memory_kind = "heap"
    elseif path == "[stack]" or tid or r.stack_of
        or stack_bases[r.allocation_base or r.base_address] then
      r.memory_kind = "stack"
      r.stack_of = r.stack_of or tid or stack_bases[r.allocation_base or r.base_address]
    elseif path == nil or path == "" or path:find("^%[anon:") then r.memory_kind = "private"
    else r.memory_kind = "other" end
  end
  return list
end

--- The name of a region for people: its path, or what it is.
function M.region_name (r)
  local name = r.path
  if name == nil or name == "" then name = r.mapped_file_name end
  if name ~= nil and name ~= "" then
    if r.memory_kind == "stack" and r.stack_of and not name:find("^%[stack:") then
      return printable(name) .. " (tid " .. r.stack_of .. ")"
    end
    return printable(name)
  end
  if r.memory_kind == "stack" then
    return r.stack_of and ("[stack of tid %d]"):format(r.stack_of) or "[stack]"
  end
  return ""
end
--- }======================================================================


--- {======================================================================
-- System call names (pss.text: the report, pss threads and the examples
-- name them alike)
-- ======================================================================

--- Common x86-64 Linux system calls, number -> name.
M.x86_64_syscalls = text.x86_64_syscalls

--- The syscall table for the threads of a snapshot: the caller's, none
-- (false), or by default pss.text's for an x86-64 Linux process.
local function syscall_table (process, threads, option)
  if option == false then return nil end
  if type(option) == "table" then return option end
  return text.syscall_names(process, threads)
end

local syscall_text = text.syscall
--- }======================================================================


--- {======================================================================
-- Options
-- ======================================================================

local function count_option (options, key, default, min, what)
  local v = options[key]
  if v == nil then return default end
  if math.type(v) ~= "integer" or v < min then
    error(("report option '%s' must be %s, got %s"):format(key, what, tostring(v)), 4)
  end
  return v
end

local KNOWN = { top = true, names = true, threads = true, units = true, syscalls = true,
  frames = true }

local function check_options (options)
  if options == nil then options = {} end
  if type(options) ~= "table" then
    error(("bad argument #2 to 'report' (table expected, got %s)"):format(type(options)), 3)
  end
  for k in pairs(options) do
    if not KNOWN[k] then error(("unknown report option '%s'"):format(tostring(k)), 3) end
  end
  local units = options.units
  if units ~= nil and units ~= "human" and units ~= "bytes" then
    error(("report option 'units' must be \"human\" or \"bytes\", got %s"):format(tostring(units)), 3)
  end
  local syscalls = options.syscalls
  if syscalls ~= nil and syscalls ~= false and type(syscalls) ~= "table" then
    error(("report option 'syscalls' must be a table or false, got %s"):format(type(syscalls)), 3)
  end
  return {
    top = count_option(options, "top", 10, 1, "a positive integer"),
    names = count_option(options, "names", 3, 0, "a non-negative integer"),
    threads = count_option(options, "threads", math.maxinteger, 0, "a non-negative integer"),
    frames = count_option(options, "frames", 3, 0, "a non-negative integer"),
    size = units == "bytes" and function (n) return ("%d"):format(n) end or text.size,
    syscalls = syscalls,
  }
end
--- }======================================================================


--- {======================================================================
-- Sections
-- ======================================================================

local STATES = {
  R = "running", S = "sleeping", D = "disk sleep", T = "stopped", t = "tracing stop",
  Z = "zombie", X = "dead", I = "idle", P = "parked", W = "paging", K = "wakekill",
}

local function date (t)
  if t == nil then return nil end
  local whole = math.floor(t)
  return os.date("%Y-%m-%d %H:%M:%S", whole) .. (".%03d"):format(math.floor((t - whole) * 1000))
end

--- The mark at the end of a command line the library had to cut.
local CUT = "\u{2026}"

local function quote_arg (a)
  a = printable(a)
  if a == "" or a == CUT or a:find("[%s\"']") then return "'" .. a:gsub("'", "'\\''") .. "'" end
  return a
end

local function process_section (out, p, counts, opt)
  local size = opt.size
  local rows = {}
  local function row (k, v) if v ~= nil then rows[#rows + 1] = { k, v } end end
  local name = p.comm or (p.image_file_name and p.image_file_name:match("([^/\\]*)$"))
  out[#out + 1] = ("Process %d%s"):format(p.pid, name and ("  " .. printable(name)) or "")
  row("pid", tostring(p.pid))
  row("parent", p.parent_pid and tostring(p.parent_pid))
  row("name", p.comm and printable(p.comm))
  if p.image_file_name ~= "" then row("image", p.image_file_name and printable(p.image_file_name)) end
  if p.argv and #p.argv > 0 then
    local args = {}
    for i, a in ipairs(p.argv) do args[i] = quote_arg(a) end
    -- cut by the library (too long to hold): the mark says so
    if p.command_line_truncated then args[#args + 1] = CUT end
    row("command", table.concat(args, " "))
  end
  if p.uid then
    row("user", ("uid %d, euid %d, gid %d, egid %d"):format(p.uid, p.euid or p.uid,
      p.gid or -1, p.egid or p.gid or -1))
  end
  if p.state then
    row("state", STATES[p.state] and ("%s (%s)"):format(p.state, STATES[p.state]) or p.state)
  end
  if p.capture_mode == "running" then
    row("captured", "read while running: " .. printable(p.not_frozen or ""))
  elseif p.capture_mode == "frozen" then
    row("captured", "frozen at one instant")
  elseif p.capture_mode == "core" then
    row("captured", "from a core file (what a core does not hold is left out)")
  end
  if p.exit_status and p.exit_status ~= core().STILL_ACTIVE then
    row("exit status", tostring(p.exit_status))
  end
  if p.priority_class or p.nice then
    local parts = { p.priority_class }
    if p.nice then parts[#parts + 1] = "nice " .. p.nice end
    row("priority", table.concat(parts, ", "))
  end
  row("created", date(p.create_time))
  if p.user_time or p.kernel_time then
    row("cpu", ("%s (user %s, kernel %s)"):format(seconds((p.user_time or 0) + (p.kernel_time or 0)),
      seconds(p.user_time), seconds(p.kernel_time)))
  end
  if p.virtual_size then
    row("virtual", ("%s (peak %s)"):format(size(p.virtual_size), size(p.peak_virtual_size or 0)))
  end
  if p.working_set_size then
    local v = ("%s (peak %s)"):format(size(p.working_set_size), size(p.peak_working_set_size or 0))
    if p.resident_anon then
      v = v .. (": anon %s, file %s, shmem %s"):format(size(p.resident_anon),
        size(p.resident_file or 0), size(p.resident_shmem or 0))
    end
    row("resident", v)
  end
  if p.pss then   -- with "memory_usage": the sums over the regions
    row("proportional", ("%s (%s dirty)"):format(size(p.pss), size(p.pss_dirty or 0)))
  end
  row("swapped", p.swap and size(p.swap))
  row("private", p.private_usage and size(p.private_usage))
  if p.pagefile_usage and p.pagefile_usage ~= 0 then
    row("pagefile", ("%s (peak %s)"):format(size(p.pagefile_usage), size(p.peak_pagefile_usage or 0)))
  end
  if p.page_fault_count then
    row("faults", p.minor_faults and ("%d (minor %d, major %d)"):format(p.page_fault_count,
      p.minor_faults, p.major_faults or 0) or tostring(p.page_fault_count))
  end
  for _, c in ipairs(counts) do row(c[1], c[2]) end
  text.block(out, rows)
end

local function cpu (t) return (t.user_time or 0) + (t.kernel_time or 0) end

--- The threads by CPU time, largest first, then by tid: the report's order.
local function by_cpu (threads)
  local sorted = table.move(threads, 1, #threads, 1, {})
  table.sort(sorted, function (a, b)
    if cpu(a) ~= cpu(b) then return cpu(a) > cpu(b) end
    return a.tid < b.tid
  end)
  return sorted
end

local function threads_section (out, threads, process, opt)
  local names = syscall_table(process, threads, opt.syscalls)
  local sorted = by_cpu(threads)
  out[#out + 1] = ""
  if #threads == 0 then out[#out + 1] = "Threads: none"; return end
  out[#out + 1] = ("Threads: %d, by CPU time"):format(#threads)
  local rows = { { "TID", "NAME", "STATE", "CPU", "USER", "KERNEL", "SYSCALL" } }
  for i = 1, math.min(#sorted, opt.threads) do
    local t = sorted[i]
    rows[#rows + 1] = { tostring(t.tid), t.name and printable(t.name) or "-", t.state or "-",
      seconds(cpu(t)), seconds(t.user_time), seconds(t.kernel_time), syscall_text(t, names) }
  end
  text.block(out, rows, { [1] = true, [4] = true, [5] = true, [6] = true })
  if #sorted > opt.threads then
    out[#out + 1] = ("  ... and %d more threads"):format(#sorted - opt.threads)
  end
end

--- The innermost frames of each thread, in the order of the threads
-- block, when the snapshot has stacks (pss.stack.has_stacks). A stack that
-- cannot be had is said in its place; the report never raises for it.
local function stacks_section (out, snap, threads, opt)
  local stack = require "pss.stack"
  if opt.frames == 0 or #threads == 0 or not stack.has_stacks(snap) then return end
  local sorted = by_cpu(threads)
  out[#out + 1] = ""
  out[#out + 1] = ("Stacks: the innermost %d frames of each thread"):format(opt.frames)
  for i = 1, math.min(#sorted, opt.threads) do
    local t = sorted[i]
    local frames, msg, code = snap:stack(t.tid)
    if not frames and code ~= core().ERROR_NOT_FOUND then
      out[#out] = "Stacks: " .. printable(msg)     -- the same for every thread
      return
    end
    out[#out + 1] = ("  %d %s"):format(t.tid, printable(t.name or ""))
    for j = 1, math.min(#(frames or {}), opt.frames) do
      out[#out + 1] = "    " .. stack.frame_line(j, frames[j])
    end
    if frames and #frames > opt.frames then
      local more = #frames - opt.frames
      out[#out + 1] = ("    ... and %d more frame%s"):format(more, more == 1 and "" or "s")
    end
    local why
    if frames then why = stack.end_text(frames) else why = printable(msg) end
    if why then out[#out + 1] = "    -- " .. why end
  end
  if #sorted > opt.threads then
    out[#out + 1] = ("  ... and %d more threads"):format(#sorted - opt.threads)
  end
end

local function handles_section (out, handles, opt)
  local by_type, order = {}, {}
  for _, h in ipairs(handles) do
    local kind = h.type_name or h.object_type or "?"
    local g = by_type[kind]
    if not g then
      g = { name = kind, count = 0, names = {}, name_order = {} }
      by_type[kind] = g
      order[#order + 1] = g
    end
    g.count = g.count + 1
    local name = h.object_name or h.target
    if name ~= nil and name ~= "" then
      if not g.names[name] then g.name_order[#g.name_order + 1] = name; g.names[name] = 0 end
      g.names[name] = g.names[name] + 1
    end
  end
  table.sort(order, function (a, b)
    if a.count ~= b.count then return a.count > b.count end
    return a.name < b.name
  end)
  out[#out + 1] = ""
  if #handles == 0 then out[#out + 1] = "Handles: none"; return end
  out[#out + 1] = ("Handles: %d in %d type%s"):format(#handles, #order, #order == 1 and "" or "s")
  local rows = { { "TYPE", "COUNT", opt.names > 0 and "NAMES" or "" } }
  for _, g in ipairs(order) do
    local list = table.move(g.name_order, 1, #g.name_order, 1, {})
    local first = {}
    for i, n in ipairs(list) do first[n] = i end
    table.sort(list, function (a, b)
      if g.names[a] ~= g.names[b] then return g.names[a] > g.names[b] end
      return first[a] < first[b]
    end)
    local shown = {}
    for i = 1, math.min(opt.names, #list) do
      local n = list[i]
      shown[i] = printable(n) .. (g.names[n] > 1 and (" (%d)"):format(g.names[n]) or "")
    end
    if #list > opt.names and opt.names > 0 then
      shown[#shown + 1] = ("... and %d more"):format(#list - opt.names)
    end
    rows[#rows + 1] = { printable(g.name), tostring(g.count), shown[1] or "" }
    for i = 2, #shown do rows[#rows + 1] = { "", "", shown[i] } end
  end
  text.block(out, rows, { [2] = true })
end

local KINDS = {
  { "image", "image" }, { "mapped", "mapped file" }, { "private", "private" },
  { "stack", "stack" }, { "heap", "heap" }, { "other", "other" },
}

--- Whether the regions say how much of them is resident (a capture with
-- "memory_usage"): a core, an older file or a capture without it does not.
function M.has_usage (regions)
  for _, r in ipairs(regions) do
    if r.rss ~= nil then return true end
  end
  return false
end

--- Bytes of a region's usage field, 0 where the region has none.
local function used (r, field) return r[field] or 0 end

--- The order of the largest regions: by resident size with usage, else by
-- size; ties by size, then address.
local function largest_first (usage)
  return function (a, b)
    if usage and used(a, "rss") ~= used(b, "rss") then return used(a, "rss") > used(b, "rss") end
    if a.region_size ~= b.region_size then return math.ult(b.region_size, a.region_size) end
    return math.ult(a.base_address, b.base_address)
  end
end

--- The largest regions: ADDRESS, SIZE, PROT, STATE, KIND, PATH, and with
-- usage RESIDENT and SWAPPED after ADDRESS, sorted by resident size.
local function largest_section (out, regions, usage, opt)
  local size = opt.size
  local total, committed, list = 0, 0, {}
  for _, r in ipairs(regions) do
    if r.memory_kind ~= "free" then
      list[#list + 1] = r
      total = total + r.region_size
      if r.state == "commit" then committed = committed + r.region_size end
    end
  end
  table.sort(list, largest_first(usage))
  local n = math.min(opt.top, #list)
  out[#out + 1] = ""
  if #regions == 0 then out[#out + 1] = "Regions: none"; return end
  if usage then
    local rss, swap = 0, 0
    for _, r in ipairs(list) do rss, swap = rss + used(r, "rss"), swap + used(r, "swap") end
    out[#out + 1] = ("Regions: %d, %s (%s committed, %s resident, %s swapped); the %d largest"
      .. " by resident size"):format(#regions, size(total), size(committed), size(rss), size(swap), n)
  else
    out[#out + 1] = ("Regions: %d, %s (%s committed); the %d largest"):format(#regions,
      size(total), size(committed), n)
  end
  local rows = { usage and { "ADDRESS", "RESIDENT", "SWAPPED", "SIZE", "PROT", "STATE", "KIND", "PATH" }
    or { "ADDRESS", "SIZE", "PROT", "STATE", "KIND", "PATH" } }
  for i = 1, n do
    local r = list[i]
    local row = { ("%x"):format(r.base_address), size(r.region_size), r.protect or "-", r.state or "-",
      r.memory_kind, M.region_name(r) }
    if usage then
      table.insert(row, 2, size(used(r, "swap")))
      table.insert(row, 2, size(used(r, "rss")))
    end
    rows[#rows + 1] = row
  end
  text.block(out, rows, usage and { true, true, true, true } or { true, true })
end

--- Memory by kind: regions, size and committed size of each kind, and
-- with usage how much of it is resident and swapped; without usage a last
-- line says that the sizes are address space, not memory in use.
local function kinds_section (out, regions, usage, opt)
  local size = opt.size
  local sums, order = {}, {}
  for _, k in ipairs(KINDS) do sums[k[1]] = { name = k[2] }; order[#order + 1] = sums[k[1]] end
  sums.total = { name = "total" }
  sums.free = { name = "free (not counted)" }
  for _, s in pairs(sums) do s.count, s.size, s.committed, s.rss, s.swap = 0, 0, 0, 0, 0 end
  for _, r in ipairs(regions) do
    for _, s in ipairs { sums[r.memory_kind], r.memory_kind ~= "free" and sums.total or nil } do
      s.count, s.size = s.count + 1, s.size + r.region_size
      if r.state == "commit" then s.committed = s.committed + r.region_size end
      s.rss, s.swap = s.rss + used(r, "rss"), s.swap + used(r, "swap")
    end
  end
  order[#order + 1] = sums.total
  out[#out + 1] = ""
  out[#out + 1] = "Memory by kind"
  local rows = { { "KIND", "REGIONS", "SIZE", "COMMITTED", usage and "RESIDENT" or nil,
    usage and "SWAPPED" or nil } }
  for _, s in ipairs(order) do
    rows[#rows + 1] = { s.name, tostring(s.count), size(s.size), size(s.committed),
      usage and size(s.rss) or nil, usage and size(s.swap) or nil }
  end
  if sums.free.count > 0 then
    rows[#rows + 1] = { sums.free.name, tostring(sums.free.count), size(sums.free.size), "-",
      usage and "-" or nil, usage and "-" or nil }
  end
  text.block(out, rows, { [2] = true, [3] = true, [4] = true, [5] = true, [6] = true })
  if not usage and #regions > 0 then
    out[#out + 1] = "  Sizes are address space: the snapshot has no resident sizes"
      .. " (a capture with \"memory_usage\" has them)."
  end
end

local function regions_section (out, regions, opt)
  local usage = M.has_usage(regions)
  largest_section(out, regions, usage, opt)
  if #regions > 0 then kinds_section(out, regions, usage, opt) end
end
--- }======================================================================


--- A text report of a snapshot (see docs/lua-api.md, "pss.report").
-- @param snap a snapshot
-- @param options nil or a table: top (10), names (3), threads (all),
--   units ("human" or "bytes"), syscalls (a table number -> name, or
--   false), frames (3: the innermost frames shown of each stack)
-- @return the report, lines ending in "\n"
function M.report (snap, options)
  local kind = core().type(snap)
  if kind ~= "snapshot" then
    error(("bad argument #1 to 'report' (snapshot expected, got %s)"):format(kind or type(snap)), 2)
  end
  local opt = check_options(options)
  local p = snap:query("process")
  local threads = snap:captured("threads") and entries(snap, "threads")
  local handles = snap:captured("handles") and entries(snap, "handles")
  local regions = snap:captured("va_space") and M.regions(snap, threads or {})
  if threads and threads[1] and threads[1].name == nil then
    -- Windows names threads only through the thread-name walk, which a
    -- Windows without thread names may fail: the names are then left out
    -- (the report never raises on a valid snapshot)
    local ok, names = pcall(entries, snap, "thread_names")
    for i, t in ipairs(threads) do
      local n = ok and names[i] and names[i].thread_name
      if n ~= nil and n ~= "" then t.name = n end
    end
  end
  local counts = {
    { "threads", threads and tostring(#threads)
        or p.thread_count and ("%d (not captured)"):format(p.thread_count) or "not captured" },
    { "handles", handles and tostring(#handles) or "not captured" },
    { "regions", regions and tostring(#regions) or "not captured" },
  }
  local out = {}
  process_section(out, p, counts, opt)
  if threads then threads_section(out, threads, p, opt) end
  if threads then stacks_section(out, snap, threads, opt) end
  if handles then handles_section(out, handles, opt) end
  if regions then regions_section(out, regions, opt) end
  local perf = snap:captured("performance") and snap:query("performance")
  if perf and perf.total_wall_clock_period then
    out[#out + 1] = ""
    out[#out + 1] = ("Captured in %.3f ms%s"):format(perf.total_wall_clock_period * 1000,
      perf.freeze_wall_clock_period
        and ("; the target was stopped for %.3f ms"):format(perf.freeze_wall_clock_period * 1000) or "")
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

return M
