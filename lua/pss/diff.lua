--- pss.diff(a, b): what changed between two snapshots of one process.
-- Pure Lua over the snapshot API, the same on every system: threads
-- started and ended, handles opened, closed and retargeted, regions
-- mapped, unmapped, resized and reprotected, the change of the process's
-- counters, (Linux, with memory usage) the regions whose resident or
-- swapped size changed, and (Linux, with stacks) the threads whose stack
-- changed.
-- Only what both snapshots captured is compared.
-- See docs/lua-api.md ("pss.diff").
local text = require "pss.text"
local printable, address = text.printable, text.address

local M = {}

--- The result's metatable: tostring gives the text report.
local Diff = { __name = "pss.diff" }

--- Entries keyed by tid, handle value or base address (pss.json writes
-- them as a list in key order).
local Entries = { __name = "pss.diff.entries" }

--- The counters table (pss.json writes it as an object even when empty).
local Counters = { __name = "pss.diff.counters" }

--- Process-record fields compared as counters, in report order; those
-- the two records both have are compared.
local PROCESS_COUNTERS = {
  "user_time", "kernel_time", "virtual_size", "peak_virtual_size", "working_set_size",
  "peak_working_set_size", "private_usage", "pagefile_usage", "peak_pagefile_usage",
  "page_fault_count", "minor_faults", "major_faults", "resident_anon", "resident_file",
  "resident_shmem", "quota_paged_pool_usage", "quota_peak_paged_pool_usage",
  "quota_non_paged_pool_usage", "quota_peak_non_paged_pool_usage", "thread_count",
  -- Linux, with "memory_usage": the sums over the regions, in smaps order
  "rss", "pss", "pss_dirty", "shared_clean", "shared_dirty", "private_clean", "private_dirty",
  "referenced", "anonymous", "ksm", "lazy_free", "anon_huge_pages", "shmem_pmd_mapped",
  "file_pmd_mapped", "shared_hugetlb", "private_hugetlb", "swap", "swap_pss", "locked",
}

--- The names of the regions of a diff's two snapshots, keyed by the diff
-- (weak): {before = base -> name, after = base -> name}, for the text.
local NAMES = setmetatable({}, { __mode = "k" })

--- Counts of the capture, with the query class and field that give them.
local CAPTURE_COUNTERS = {
  { "threads", "threads_captured" }, { "handles", "handles_captured" },
  { "va_space", "region_count" },
}

M.counters = {}
for _, name in ipairs(PROCESS_COUNTERS) do M.counters[#M.counters + 1] = name end
for _, c in ipairs(CAPTURE_COUNTERS) do M.counters[#M.counters + 1] = c[2] end

local function check (x, n)
  local kind = require("pss").type(x)
  if kind ~= "snapshot" then
    error(("bad argument #%d to 'diff' (snapshot expected, got %s)"):format(n, kind or type(x)), 3)
  end
end

--- The query table of a class, or nil if the snapshot did not capture it.
local function captured (snap, class)
  if snap:captured(class) then return snap:query(class) end
end

--- Every entry of an iterator method, keyed by one of its fields.
local function keyed (snap, method, key)
  local map = {}
  for e in snap[method](snap) do map[e[key]] = e end
  return map
end

--- The entries of `after` whose key `before` does not have.
local function added (before, after)
  local list = setmetatable({}, Entries)
  for k, e in pairs(after) do
    if before[k] == nil then list[k] = e end
  end
  return list
end

--- x and y differ where both have a value.
local function differs (x, y)
  return x ~= nil and y ~= nil and x ~= y
end

--- Whether two entries of one handle value name the same object: the
-- link target (Linux), else the object name, and the type.
local function same_object (x, y)
  if differs(x.type_name, y.type_name) then return false end
  if x.target ~= nil and y.target ~= nil then return x.target == y.target end
  return not differs(x.object_name, y.object_name)
end

--- Whether two regions at one base address are the same mapping (else
-- it was unmapped and another one mapped there): the same type and, on
-- Linux, the same file, device and offset, elsewhere the same file name.
local function same_mapping (x, y)
  if differs(x.type, y.type) then return false end
  if x.inode ~= nil and y.inode ~= nil then
    return x.inode == y.inode and x.device_major == y.device_major
      and x.device_minor == y.device_minor and x.offset == y.offset
  end
  return not differs(x.mapped_file_name, y.mapped_file_name)
end

local function protection (r)
  if r.protect ~= nil then return r.protect end
  return r.protect_flags
end

--- The capture time of a snapshot: the earliest capture_time of its
-- thread entries, else of its handle entries.
local function capture_time (threads, handles)
  local t
  for _, map in ipairs { threads or {}, handles or {} } do
    for _, e in pairs(map) do
      if e.capture_time and (t == nil or e.capture_time < t) then t = e.capture_time end
    end
    if t then return t end
  end
end

--- What each region of a snapshot is, keyed by base address: its path
-- ("[heap]", "[stack]", a file), "[stack of tid N]" for a region that
-- holds a thread's stack pointer (threads captured), else "[anon]" (and
-- "[free]" for a free region, Windows).
local function region_names (snap)
  local names = {}
  for _, r in ipairs(require("pss.report").regions(snap)) do
    local path = r.path
    if path == nil or path == "" then path = r.mapped_file_name end
    if path ~= nil and path ~= "" then names[r.base_address] = path
    elseif r.stack_of then names[r.base_address] = ("[stack of tid %d]"):format(r.stack_of)
    elseif r.memory_kind == "free" then names[r.base_address] = "[free]"
    else names[r.base_address] = "[anon]" end
  end
  return names
end

--- Whether the regions of a map have memory usage ("memory_usage").
local function with_usage (regions)
  for _, r in pairs(regions) do
    if r.rss ~= nil then return true end
  end
  return false
end

local function change (x, y) return { before = x, after = y, delta = y - x } end

--- How much more memory a region holds, resident or swapped.
local function growth (c) return c.rss.delta + c.swap.delta end

--- The regions at one base address in both maps, the same mapping, whose
-- rss or swap changed: a list sorted by growth, largest first (then by
-- the change of rss, then by address).
local function usage_changes (before, after, names)
  local list = {}
  for base, e in pairs(after) do
    local o = before[base]
    if o and same_mapping(o, e) and o.rss and e.rss and o.swap and e.swap
        and (o.rss ~= e.rss or o.swap ~= e.swap) then
      list[#list + 1] = { base_address = base, region_size = e.region_size, name = names[base],
        rss = change(o.rss, e.rss), swap = change(o.swap, e.swap) }
    end
  end
  table.sort(list, function (x, y)
    if growth(x) ~= growth(y) then return growth(x) > growth(y) end
    if x.rss.delta ~= y.rss.delta then return x.rss.delta > y.rss.delta end
    return math.ult(x.base_address, y.base_address)
  end)
  return list
end

--- The function names of every thread's stack (pss.stack), keyed by tid;
-- nil when the snapshot has no stacks or they cannot be had.
local function stack_functions (snap)
  local stack = require "pss.stack"
  if not stack.has_stacks(snap) then return nil end
  local threads = stack.stacks(snap)
  if not threads then return nil end
  local map = {}
  for _, t in ipairs(threads) do
    map[t.tid] = { name = t.name, functions = stack.functions(t.frames) }
  end
  return map
end

local function same_list (x, y)
  if #x ~= #y then return false end
  for i = 1, #x do if x[i] ~= y[i] then return false end end
  return true
end

--- The threads of both snapshots whose function lists differ, keyed by
-- tid: {tid, name, before, after} (before and after innermost first).
local function changed_stacks (a, b)
  local sa = stack_functions(a)
  local sb = sa and stack_functions(b)
  if not (sa and sb) then return nil end
  local changed = setmetatable({}, Entries)
  for tid, y in pairs(sb) do
    local x = sa[tid]
    if x and not same_list(x.functions, y.functions) then
      changed[tid] = { tid = tid, name = y.name, before = x.functions, after = y.functions }
    end
  end
  return { changed = changed }
end

--- What changed between snapshot a (before) and snapshot b (after) of one
-- process. Raises unless both are snapshots of the same process.
function M.diff (a, b)
  check(a, 1)
  check(b, 2)
  local pa, pb = a:query("process"), b:query("process")
  if pa.pid ~= pb.pid then
    error(("diff: the snapshots are of different processes (pid %d and pid %d)")
      :format(pa.pid, pb.pid), 2)
  end
  local ta, tb = pa.start_time_ticks, pb.start_time_ticks
  if ta == nil or tb == nil then ta, tb = pa.create_time, pb.create_time end
  if differs(ta, tb) then
    error(("diff: the snapshots are of different processes (pid %d was reused)"):format(pa.pid), 2)
  end

  local d = { pid = pa.pid, counters = setmetatable({}, Counters) }
  local threads_a = captured(a, "threads") and keyed(a, "threads", "tid")
  local threads_b = captured(b, "threads") and keyed(b, "threads", "tid")
  local handles_a = captured(a, "handles") and keyed(a, "handles", "handle")
  local handles_b = captured(b, "handles") and keyed(b, "handles", "handle")

  if threads_a and threads_b then
    d.threads = { started = added(threads_a, threads_b), ended = added(threads_b, threads_a) }
  end

  if handles_a and handles_b then
    local retargeted = setmetatable({}, Entries)
    for h, e in pairs(handles_b) do
      local o = handles_a[h]
      if o and not same_object(o, e) then retargeted[h] = { before = o, after = e } end
    end
    d.handles = { opened = added(handles_a, handles_b), closed = added(handles_b, handles_a),
      retargeted = retargeted }
  end

  if captured(a, "va_space") and captured(b, "va_space") then
    local before, after = keyed(a, "regions", "base_address"), keyed(b, "regions", "base_address")
    local names = { before = region_names(a), after = region_names(b) }
    local r = { mapped = setmetatable({}, Entries), unmapped = setmetatable({}, Entries),
      resized = setmetatable({}, Entries), reprotected = setmetatable({}, Entries) }
    for base, o in pairs(before) do
      local e = after[base]
      if e == nil or not same_mapping(o, e) then
        r.unmapped[base] = o
        if e then r.mapped[base] = e end
      else
        local name = names.after[base]
        if o.region_size ~= e.region_size then r.resized[base] = { before = o, after = e, name = name } end
        if protection(o) ~= protection(e) then
          r.reprotected[base] = { before = o, after = e, name = name }
        end
      end
    end
    for base, e in pairs(after) do
      if before[base] == nil then r.mapped[base] = e end
    end
    d.regions = r
    if with_usage(before) and with_usage(after) then
      d.memory = { changed = usage_changes(before, after, names.after) }
    end
    NAMES[d] = names
  end

  for _, name in ipairs(PROCESS_COUNTERS) do
    local x, y = pa[name], pb[name]
    if type(x) == "number" and type(y) == "number" then
      d.counters[name] = { before = x, after = y, delta = y - x }
    end
  end
  for _, c in ipairs(CAPTURE_COUNTERS) do
    local qa, qb = captured(a, c[1]), captured(b, c[1])
    if qa and qb then
      local x, y = qa[c[2]], qb[c[2]]
      d.counters[c[2]] = { before = x, after = y, delta = y - x }
    end
  end

  local at = capture_time(threads_b and threads_a, handles_b and handles_a)
  local bt = capture_time(threads_a and threads_b, handles_a and handles_b)
  if at == nil or bt == nil then
    at, bt = capture_time(threads_a, handles_a), capture_time(threads_b, handles_b)
  end
  if at and bt then d.interval = bt - at end
  d.stacks = changed_stacks(a, b)
  return setmetatable(d, Diff)
end

--- {======================================================================
-- The text report (tostring)
-- ======================================================================

--- Keys of a table in the order pss.text writes them (addresses as
-- unsigned).
local function sorted_keys (map)
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys, text.before)
  return keys
end

local function number (v)
  if math.type(v) == "float" then return ("%.3f"):format(v) end
  return ("%d"):format(v)
end

local function signed (v)
  return (v >= 0 and "+" or "") .. number(v)
end

local function count (map)
  local n = 0
  for _ in pairs(map) do n = n + 1 end
  return n
end

--- "name: 2 opened, 1 closed" for the lists of a section, in this order.
local function summary (name, section, lists)
  local parts, total = {}, 0
  for _, list in ipairs(lists) do
    local n = count(section[list])
    total = total + n
    parts[#parts + 1] = ("%d %s"):format(n, list)
  end
  if total == 0 then return name .. ": no change" end
  return name .. ": " .. table.concat(parts, ", ")
end

local function thread_row (verb, t)
  return { verb, ("%d"):format(t.tid), printable(t.name or "") }
end

local function handle_name (h)
  return printable(h.object_name or h.target or "")
end

local function handle_row (verb, h)
  return { verb, ("%d"):format(h.handle), printable(h.type_name or ""), handle_name(h) }
end

--- Bytes in human units (pss.text's size) with a sign: "+4.0 KiB",
-- "-1.5 MiB", "0 B".
local function signed_size (v)
  if v > 0 then return "+" .. text.size(v) end
  if v < 0 then return "-" .. text.size(-v) end
  return "0 B"
end

--- verb, address, size, then protection, type and name of a mapping.
local function region_row (verb, r, name)
  local what = table.concat({ printable(protection(r) or ""), printable(r.type or ""),
    printable(name or r.path or r.mapped_file_name or "") }, "  ")
  return { verb, address(r.base_address), text.size(r.region_size), what }
end

--- The rows of the regions section: mapped and unmapped by address, then
-- resized and reprotected.
local function region_rows (r, names)
  local rows = {}
  for _, list in ipairs { "mapped", "unmapped" } do
    local by_base = list == "mapped" and names.after or names.before
    for _, k in ipairs(sorted_keys(r[list])) do
      rows[#rows + 1] = region_row(list, r[list][k], by_base[k])
    end
  end
  for _, k in ipairs(sorted_keys(r.resized)) do
    local c = r.resized[k]
    rows[#rows + 1] = { "resized", address(k), text.size(c.before.region_size),
      ("-> %s (%s)  %s"):format(text.size(c.after.region_size),
        signed_size(c.after.region_size - c.before.region_size), printable(c.name or "")) }
  end
  for _, k in ipairs(sorted_keys(r.reprotected)) do
    local c = r.reprotected[k]
    rows[#rows + 1] = { "reprotected", address(k), text.size(c.after.region_size),
      ("%s -> %s  %s"):format(printable(protection(c.before)), printable(protection(c.after)),
        printable(c.name or "")) }
  end
  return rows
end

--- The memory section: the regions whose resident or swapped size
-- changed, by growth; the swap column only when some swap changed.
local function memory_lines (out, changed)
  local rss, swap, swapped = 0, 0, false
  for _, c in ipairs(changed) do
    rss, swap, swapped = rss + c.rss.delta, swap + c.swap.delta, swapped or c.swap.delta ~= 0
  end
  if #changed == 0 then out[#out + 1] = "memory: no change"; return end
  out[#out + 1] = ("memory: %d region%s changed, resident %s, swapped %s"):format(#changed,
    #changed == 1 and "" or "s", signed_size(rss), signed_size(swap))
  local rows = {}
  for _, c in ipairs(changed) do
    local g = growth(c)
    local row = { g > 0 and "grew" or g < 0 and "shrank" or "moved", address(c.base_address),
      signed_size(c.rss.delta), ("%s -> %s"):format(text.size(c.rss.before), text.size(c.rss.after)) }
    if swapped then row[#row + 1] = "swap " .. signed_size(c.swap.delta) end
    row[#row + 1] = printable(c.name or "")
    rows[#rows + 1] = row
  end
  text.block(out, rows, { [3] = true })
end

--- The innermost functions of a stack, "f0 < f1 < ..." (each called by
-- the next), four at most.
local function innermost (functions)
  local shown = {}
  for i = 1, math.min(#functions, 4) do shown[i] = printable(functions[i]) end
  if #functions > 4 then shown[#shown + 1] = ("... (%d more)"):format(#functions - 4) end
  if #shown == 0 then return "(no frames)" end
  return table.concat(shown, " < ")
end

local function report (d)
  local out = {}
  out[1] = d.interval and ("pss.diff (pid %d, %.3f s apart)"):format(d.pid, d.interval)
    or ("pss.diff (pid %d)"):format(d.pid)

  if d.threads then
    out[#out + 1] = summary("threads", d.threads, { "started", "ended" })
    local rows = {}
    for _, list in ipairs { "started", "ended" } do
      for _, k in ipairs(sorted_keys(d.threads[list])) do
        rows[#rows + 1] = thread_row(list, d.threads[list][k])
      end
    end
    text.block(out, rows, { [2] = true })
  else
    out[#out + 1] = "threads: not compared (not captured in both)"
  end

  if d.handles then
    local h = d.handles
    out[#out + 1] = summary("handles", h, { "opened", "closed", "retargeted" })
    local rows = {}
    for _, list in ipairs { "opened", "closed" } do
      for _, k in ipairs(sorted_keys(h[list])) do rows[#rows + 1] = handle_row(list, h[list][k]) end
    end
    for _, k in ipairs(sorted_keys(h.retargeted)) do
      local c = h.retargeted[k]
      rows[#rows + 1] = { "retargeted", ("%d"):format(k), printable(c.after.type_name or ""),
        handle_name(c.before) .. " -> " .. handle_name(c.after) }
    end
    text.block(out, rows, { [2] = true })
  else
    out[#out + 1] = "handles: not compared (not captured in both)"
  end

  if d.regions then
    out[#out + 1] = summary("regions", d.regions, { "mapped", "unmapped", "resized", "reprotected" })
    text.block(out, region_rows(d.regions, NAMES[d] or { before = {}, after = {} }), { [3] = true })
  else
    out[#out + 1] = "regions: not compared (not captured in both)"
  end

  if d.memory then      -- only when both had memory usage
    memory_lines(out, d.memory.changed)
  end

  if d.stacks then      -- only when both had stacks: other diffs read as before
    out[#out + 1] = summary("stacks", d.stacks, { "changed" })
    local rows = {}
    for _, k in ipairs(sorted_keys(d.stacks.changed)) do
      local c = d.stacks.changed[k]
      rows[#rows + 1] = { "changed", ("%d"):format(k), printable(c.name or ""),
        "before: " .. innermost(c.before) }
      rows[#rows + 1] = { "", "", "", "after:  " .. innermost(c.after) }
    end
    text.block(out, rows, { [2] = true })
  end

  local rows, same = {}, 0
  for _, name in ipairs(M.counters) do
    local c = d.counters[name]
    if c and c.delta ~= 0 then
      rows[#rows + 1] = { name, number(c.before), "->", number(c.after), signed(c.delta) }
    elseif c then
      same = same + 1
    end
  end
  out[#out + 1] = ("counters: %d changed, %d unchanged"):format(#rows, same)
  text.block(out, rows, { [2] = true, [4] = true, [5] = true })
  return table.concat(out, "\n") .. "\n"
end
Diff.__tostring = report
--- }======================================================================

return M
