-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 11: pss.diff against the target's change steps (pss-target --changes)
-- and /proc read here before and after each step (docs/lua-api.md
-- "pss.diff").
local pss = require "pss"
local diff = require("pss.diff").diff
local support = require "support"

local OPTIONS = { "threads", "handles", "va_space" }

--- Sorted keys of a table (integers as unsigned: addresses).
local function keys (map)
  local list = {}
  for k in pairs(map) do list[#list + 1] = k end
  table.sort(list, math.ult)
  return list
end

local function sorted (list)
  local copy = table.move(list, 1, #list, 1, {})
  table.sort(copy, math.ult)
  return copy
end

local function empty (map) return next(map) == nil end

local human = support.human

--- Sends SIGUSR2 and reads the step's report up to "change done": lists of
-- fds, tids and starts, and by start the sizes of the mapped regions, the
-- perms of the reprotected one and {old, new} size of the resized one.
local function change_step (t)
  assert.is_true(os.execute("kill -USR2 " .. t.pid))
  local c = { opened = {}, closed = {}, started = {}, ended = {}, mapped = {}, unmapped = {},
    reprotected = {}, resized = {}, sizes = {}, perms = {}, grown = {} }
  for line in t.pipe:lines() do
    if line == "change done" then return c end
    local words = {}
    for w in line:gmatch("%S+") do words[#words + 1] = w end
    assert.equal("change", words[1], line)
    local kind = words[2]
    if kind == "opened" or kind == "closed" or kind == "started" or kind == "ended" then
      table.insert(c[kind], tonumber(words[3]))
    else
      local start = tonumber(words[3], 16)
      table.insert(c[kind], start)
      if kind == "mapped" then c.sizes[start] = tonumber(words[4])
      elseif kind == "reprotected" then c.perms[start] = words[4]
      elseif kind == "resized" then c.grown[start] = { tonumber(words[4]), tonumber(words[5]) }
      end
    end
  end
  error("the target ended before \"change done\"")
end

--- The target's tasks, fds (with their link) and maps lines (by start), from /proc.
local function proc_state (pid)
  local s = { tasks = support.numbers("/proc/" .. pid .. "/task"), fds = {}, maps = {} }
  for _, fd in ipairs(support.numbers("/proc/" .. pid .. "/fd")) do
    s.fds[fd] = support.readlink(("/proc/%d/fd/%d"):format(pid, fd))
  end
  for _, m in ipairs(support.maps(pid)) do s.maps[m.start] = m end
  return s
end

--- What changed between two proc_states, in the diff's shape (keys only
-- for the lists; the maps lines for resized and reprotected).
local function proc_changes (p0, p1)
  local function minus (x, y)
    local set, list = {}, {}
    for _, v in ipairs(y) do set[v] = true end
    for _, v in ipairs(x) do if not set[v] then list[#list + 1] = v end end
    return sorted(list)
  end
  local function fd_list (fds) return keys(fds) end
  local c = { started = minus(p1.tasks, p0.tasks), ended = minus(p0.tasks, p1.tasks),
    opened = minus(fd_list(p1.fds), fd_list(p0.fds)), closed = minus(fd_list(p0.fds), fd_list(p1.fds)),
    retargeted = {}, mapped = {}, unmapped = {}, resized = {}, reprotected = {} }
  for fd, link in pairs(p1.fds) do
    if p0.fds[fd] and p0.fds[fd] ~= link then c.retargeted[#c.retargeted + 1] = fd end
  end
  for start, m in pairs(p0.maps) do
    local n = p1.maps[start]
    if not n then c.unmapped[#c.unmapped + 1] = start
    else
      if n.finish ~= m.finish then c.resized[#c.resized + 1] = start end
      if n.perms ~= m.perms then c.reprotected[#c.reprotected + 1] = start end
    end
  end
  for start in pairs(p1.maps) do
    if not p0.maps[start] then c.mapped[#c.mapped + 1] = start end
  end
  for _, k in ipairs { "retargeted", "mapped", "unmapped", "resized", "reprotected" } do
    c[k] = sorted(c[k])
  end
  return c
end

--- Every reported value is in list (the sanitizer runtime of an ASan
-- target maps and unmaps memory of its own for each thread).
local function contains (list, reported, what)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  for _, v in ipairs(reported) do
    assert.is_true(set[v] == true, ("%s: %x is not in the diff"):format(what, v))
  end
end

--- Steps between two captures: the diff must be what /proc says changed.
-- Returns the diff, the step reports, the snapshots and the /proc states.
local function around (t, steps)
  assert.is_true(support.settle(t))
  local p0 = proc_state(t.pid)
  local a = assert(pss.capture(t.pid, OPTIONS))
  assert.same(p0, proc_state(t.pid))   -- the capture itself changes nothing
  local reports = {}
  for i = 1, steps do reports[i] = change_step(t) end
  assert.is_true(support.settle(t))
  local p1 = proc_state(t.pid)
  local b = assert(pss.capture(t.pid, OPTIONS))
  assert.same(p1, proc_state(t.pid))
  local d = diff(a, b)
  local want = proc_changes(p0, p1)
  assert.same(want.started, keys(d.threads.started))
  assert.same(want.ended, keys(d.threads.ended))
  assert.same(want.opened, keys(d.handles.opened))
  assert.same(want.closed, keys(d.handles.closed))
  assert.same(want.retargeted, keys(d.handles.retargeted))
  for _, k in ipairs { "mapped", "unmapped", "resized", "reprotected" } do
    assert.same(want[k], keys(d.regions[k]), k)
  end
  return d, reports, a, b, p0, p1, want
end

--- One step between two captures: the diff must be what /proc says
-- changed, and that must be what the target says it changed.
local function step_and_diff (t)
  local d, reports, a, b, p0, p1, want = around(t, 1)
  local c = reports[1]

  -- threads: by tid, as /proc/PID/task and the report say
  assert.same(sorted(c.started), want.started)
  assert.same(sorted(c.ended), want.ended)
  local threads_b = {}
  for _, e in ipairs(support.entries(b, "threads")) do threads_b[e.tid] = e end
  for tid, e in pairs(d.threads.started) do
    assert.same(threads_b[tid], e)
    assert.equal(tid, e.tid)
  end
  for tid, e in pairs(d.threads.ended) do assert.equal(tid, e.tid) end

  -- handles: by fd number, as /proc/PID/fd says
  assert.same(sorted(c.opened), want.opened)
  assert.same(sorted(c.closed), want.closed)
  assert.same({}, want.retargeted)
  for fd, e in pairs(d.handles.opened) do
    assert.equal(fd, e.handle)
    assert.equal(p1.fds[fd], e.target)
    assert.equal("pipe", e.kind)
  end
  for fd, e in pairs(d.handles.closed) do assert.equal(p0.fds[fd], e.target) end

  -- regions: by base address, as /proc/PID/maps says
  if support.sanitized then
    for _, k in ipairs { "mapped", "unmapped", "resized", "reprotected" } do
      contains(want[k], c[k], k)
    end
  else
    for _, k in ipairs { "mapped", "unmapped", "resized", "reprotected" } do
      assert.same(sorted(c[k]), want[k], k)
    end
  end
  for start, r in pairs(d.regions.mapped) do
    local m = p1.maps[start]
    assert.same({ start, m.finish - start, m.perms }, { r.base_address, r.region_size, r.protect })
  end
  for start, r in pairs(d.regions.unmapped) do
    local m = p0.maps[start]
    assert.same({ start, m.finish - start, m.perms }, { r.base_address, r.region_size, r.protect })
  end
  for _, start in ipairs(c.mapped) do
    assert.equal(c.sizes[start], d.regions.mapped[start].region_size)
    assert.equal("rw-p", d.regions.mapped[start].protect)
    assert.equal("private", d.regions.mapped[start].type)
  end
  for start, sizes in pairs(c.grown) do
    local r = d.regions.resized[start]
    assert.same(sizes, { r.before.region_size, r.after.region_size })
    assert.same({ start, start }, { r.before.base_address, r.after.base_address })
  end
  for start, perms in pairs(c.perms) do
    local r = d.regions.reprotected[start]
    assert.same({ "rw-p", perms }, { r.before.protect, r.after.protect })
  end
  return d, c, a, b
end

describe("pss.diff", function ()
  it("of captures around one change step lists exactly its changes", function ()
    local t <close> = support.start("--threads 2 --changes")
    local d, c, a, b = step_and_diff(t)
    -- step 1 works on the initial change set of the report
    local changer0
    for _, th in ipairs(t.threads) do if th.name == "changer-0" then changer0 = th.tid end end
    assert.same({ changer0 }, c.ended)
    assert.equal("changer-0", d.threads.ended[changer0].name)
    assert.equal("changer-1", d.threads.started[c.started[1]].name)
    assert.same({ t:fd("change-pipe-read").fd }, c.closed)
    assert.same({ t:map("change-unmap").start }, c.unmapped)
    assert.same({ [t:map("change-reprotect").start] = "r--p" }, c.perms)
    local resize = t:map("change-resize")
    assert.same({ [resize.start] = { resize.size, resize.size + 8192 } }, c.grown)
    assert.equal(2, #c.opened)
    assert.equal(2, #c.mapped)
    a:free()
    b:free()
  end)

  it("follows the change set from step to step", function ()
    local t <close> = support.start("--threads 1 --changes")
    local first
    for step = 1, support.scale(3, 2) do
      local d, c = step_and_diff(t)
      assert.equal("changer-" .. step, d.threads.started[c.started[1]].name)
      assert.equal("changer-" .. (step - 1), d.threads.ended[c.ended[1]].name)
      if step == 1 then first = c end
      if step == 2 then
        -- the write end of the initial pipe, the region step 1 reprotected,
        -- the one it grew, and the first one it mapped
        assert.same({ t:fd("change-pipe-write").fd }, c.closed)
        assert.same({ t:map("change-reprotect").start }, c.unmapped)
        assert.same({ t:map("change-resize").start }, c.reprotected)
        local grown = first.mapped[1]
        assert.same({ [grown] = { first.sizes[grown], first.sizes[grown] + 8192 } }, c.grown)
        assert.same({ first.started[1] }, c.ended)
      end
      if step == 3 then
        assert.same({ t:map("change-resize").start }, c.unmapped)
        assert.same({ first.opened[1] }, c.closed)
      end
    end
  end)

  it("lists a handle number reused for another object as retargeted", function ()
    local t <close> = support.start("--threads 1 --changes")
    -- step 1 closes the initial pipe's read end; step 2's pipe gets its number
    local d, reports, _, _, p0, p1 = around(t, 2)
    local reused = reports[1].closed[1]
    assert.equal(reused, reports[2].opened[1])
    assert.same({ reused }, keys(d.handles.retargeted))
    local r = d.handles.retargeted[reused]
    assert.same({ p0.fds[reused], p1.fds[reused] }, { r.before.target, r.after.target })
    assert.are_not.equal(r.before.target, r.after.target)
    assert.same({ reused, reused }, { r.before.handle, r.after.handle })
    assert.is_nil(d.handles.opened[reused])
    assert.is_nil(d.handles.closed[reused])
    assert.same(sorted { reports[1].opened[1], reports[1].opened[2], reports[2].opened[2] },
      keys(d.handles.opened))
    assert.same({ reports[2].closed[1] }, keys(d.handles.closed))
    -- changer-1 came and went between the captures
    assert.same(reports[2].started, keys(d.threads.started))
    assert.same(reports[1].ended, keys(d.threads.ended))
    local text = tostring(d)
    assert.matches(("\n  retargeted  %d  Pipe  pipe:%%[%%d+%%] %%-> pipe:%%[%%d+%%]\n"):format(reused), text)
    assert.matches("handles: 3 opened, 1 closed, 1 retargeted", text, 1, true)
  end)

  it("has the counters' deltas of the two process records", function ()
    local t <close> = support.start("--threads 1 --changes")
    local d, c, a, b = step_and_diff(t)
    local pa, pb = a:query("process"), b:query("process")
    local names = { "user_time", "kernel_time", "virtual_size", "peak_virtual_size",
      "working_set_size", "peak_working_set_size", "private_usage", "pagefile_usage",
      "peak_pagefile_usage", "page_fault_count", "minor_faults", "major_faults", "resident_anon",
      "resident_file", "resident_shmem", "quota_paged_pool_usage", "quota_peak_paged_pool_usage",
      "quota_non_paged_pool_usage", "quota_peak_non_paged_pool_usage", "thread_count" }
    for _, name in ipairs(names) do
      assert.same({ before = pa[name], after = pb[name], delta = pb[name] - pa[name] },
        d.counters[name], name)
    end
    local function count (snap, class, field)
      return snap:query(class)[field]
    end
    for _, q in ipairs { { "threads", "threads_captured" }, { "handles", "handles_captured" },
                         { "va_space", "region_count" } } do
      local x, y = count(a, q[1], q[2]), count(b, q[1], q[2])
      assert.same({ before = x, after = y, delta = y - x }, d.counters[q[2]], q[2])
    end
    local n = 0
    for _ in pairs(d.counters) do n = n + 1 end
    assert.equal(#names + 3, n)
    -- one thread started and one ended; a pipe opened and one fd closed
    assert.equal(0, d.counters.thread_count.delta)
    assert.equal(0, d.counters.threads_captured.delta)
    assert.equal(1, d.counters.handles_captured.delta)
    if not support.sanitized then
      -- two regions mapped, one unmapped, one grown: nothing else moved
      local grown = 0
      for _, s in pairs(c.grown) do grown = grown + s[2] - s[1] end
      local mapped = c.sizes[c.mapped[1]] + c.sizes[c.mapped[2]]
      local unmapped = d.regions.unmapped[c.unmapped[1]].region_size
      assert.equal(1, d.counters.region_count.delta)
      assert.equal(mapped - unmapped + grown, d.counters.virtual_size.delta)
    end
    -- from the threads' capture times (the earliest of each snapshot)
    local function captured_at (snap)
      local at = math.huge
      for _, e in ipairs(support.entries(snap, "threads")) do at = math.min(at, e.capture_time) end
      return at
    end
    assert.is_true(d.interval > 0)
    assert.equal(captured_at(b) - captured_at(a), d.interval)
    assert.equal(t.pid, d.pid)
  end)

  it("of a snapshot with itself is empty", function ()
    local t <close> = support.start("--threads 2 --changes")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, OPTIONS))
    local d = diff(snap, snap)
    for _, list in ipairs { d.threads.started, d.threads.ended, d.handles.opened, d.handles.closed,
        d.handles.retargeted, d.regions.mapped, d.regions.unmapped, d.regions.resized,
        d.regions.reprotected } do
      assert.is_true(empty(list))
    end
    for name, c in pairs(d.counters) do
      assert.equal(0, c.delta, name)
      assert.equal(c.before, c.after, name)
    end
    assert.equal(0, d.interval)
    local text = tostring(d)
    assert.matches("^pss%.diff %(pid " .. t.pid .. ", 0%.000 s apart%)\n", text)
    assert.matches("\nthreads: no change\n", text, 1, true)
    assert.matches("\nhandles: no change\n", text, 1, true)
    assert.matches("\nregions: no change\n", text, 1, true)
    assert.matches("\ncounters: 0 changed, 23 unchanged\n$", text)
  end)

  it("of two captures of an idle target lists no thread, handle or region", function ()
    local t <close> = support.start("--threads 2 --changes")
    assert.is_true(support.settle(t))
    local a <close> = assert(pss.capture(t.pid, OPTIONS))
    assert.is_true(support.settle(t))
    local b <close> = assert(pss.capture(t.pid, OPTIONS))
    local d = diff(a, b)
    for _, list in ipairs { d.threads.started, d.threads.ended, d.handles.opened, d.handles.closed,
        d.handles.retargeted, d.regions.mapped, d.regions.unmapped, d.regions.resized,
        d.regions.reprotected } do
      assert.is_true(empty(list))
    end
    assert.is_true(d.interval >= 0)
  end)

  it("compares only what both snapshots captured", function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local a <close> = assert(pss.capture(t.pid, { "threads" }))
    local b <close> = assert(pss.capture(t.pid, { "threads", "handles" }))
    local d = diff(a, b)
    assert.is_table(d.threads)
    assert.is_nil(d.handles)
    assert.is_nil(d.regions)
    assert.is_table(d.counters.threads_captured)
    assert.is_nil(d.counters.handles_captured)
    assert.is_nil(d.counters.region_count)
    assert.is_table(d.counters.private_usage)
    assert.is_number(d.interval)
    local text = tostring(d)
    assert.matches("\nhandles: not compared (not captured in both)\n", text, 1, true)
    assert.matches("\nregions: not compared (not captured in both)\n", text, 1, true)

    local h <close> = assert(pss.capture(t.pid, { "handle_values" }))
    local r <close> = assert(pss.capture(t.pid, { "va_regions" }))
    d = diff(h, r)
    assert.is_nil(d.threads)
    assert.is_nil(d.handles)
    assert.is_nil(d.regions)
    assert.is_nil(d.interval)     -- no capture time in a regions-only snapshot
    assert.is_table(d.counters.virtual_size)
    assert.matches("^pss%.diff %(pid %d+%)\n", tostring(d))

    -- handles without names against handles with them: the same objects
    local n <close> = assert(pss.capture(t.pid, { "handles" }))
    d = diff(h, n)
    assert.is_true(empty(d.handles.retargeted))
    assert.is_true(empty(d.handles.opened))
  end)

  it("prints each change in an aligned report", function ()
    local t <close> = support.start("--threads 1 --changes")
    local d, c = step_and_diff(t)
    local text = tostring(d)
    local lines = {}
    assert.matches("[^\n]\n$", text)   -- lines, each ending in a newline
    for line in text:gmatch("(.-)\n") do lines[#lines + 1] = line end
    local function line_with (pattern)
      for _, l in ipairs(lines) do
        if l:match(pattern) then return l end
      end
      error(("no line matches %q in:\n%s"):format(pattern, text))
    end
    assert.matches("^pss%.diff %(pid " .. t.pid .. ", %d+%.%d%d%d s apart%)$", lines[1])
    line_with("^threads: 1 started, 1 ended$")
    line_with("^  started  " .. c.started[1] .. "  changer%-1$")
    line_with("^  ended    " .. c.ended[1] .. "  changer%-0$")
    if not support.sanitized then
      line_with("^regions: 2 mapped, 1 unmapped, 1 resized, 1 reprotected$")
    end
    line_with("^handles: 2 opened, 1 closed, 0 retargeted$")
    for _, fd in ipairs(c.opened) do line_with("^  opened%s+" .. fd .. "  Pipe  pipe:%[%d+%]$") end
    line_with("^  closed%s+" .. c.closed[1] .. "  Pipe  pipe:%[%d+%]$")
    -- sizes in human units, every region named (the change set is anonymous memory)
    for _, start in ipairs(c.mapped) do
      line_with(("^  mapped%%s+0x%x%%s+%s  rw%%-p  private  %%[anon%%]$"):format(start,
        human(c.sizes[start]):gsub("%p", "%%%0")))
    end
    line_with(("^  unmapped%%s+0x%x%%s+8%%.0 KiB  rw%%-p  private  %%[anon%%]$"):format(c.unmapped[1]))
    for start, s in pairs(c.grown) do
      line_with(("^  resized%%s+0x%x%%s+%s  %%-> %s %%(%%+%s%%)  %%[anon%%]$"):format(start,
        human(s[1]):gsub("%p", "%%%0"), human(s[2]):gsub("%p", "%%%0"), human(s[2] - s[1]):gsub("%p", "%%%0")))
    end
    for start, perms in pairs(c.perms) do
      line_with(("^  reprotected%%s+0x%x%%s+%%d+%%.%%d %%a+  rw%%-p %%-> %s  %%[anon%%]$"):format(start,
        (perms:gsub("%-", "%%-"))))
    end
    line_with("^counters: %d+ changed, %d+ unchanged$")
    line_with("^  handles_captured%s+%d+  %->%s+%d+%s+%+1$")
    -- aligned: in each section, every row's columns start (text) or end
    -- (numbers) at one place
    local sections, current = {}, nil
    for _, l in ipairs(lines) do
      if l:match("^%S") then current = { title = l }; sections[#sections + 1] = current
      elseif current then current[#current + 1] = l end
    end
    local COLUMNS = {   -- patterns whose captures are the positions to compare
      threads = "^  %S+%s+%d+()  ()", handles = "^  %S+%s+%d+()  ()%S+%s+()",
      regions = "^  %S+%s+()0x%x+%s+%d+%.?%d* %a+()  ()", counters = "^  ()%S+%s+%S+()  %->%s+%S+()%s+%S+()$" }
    for _, rows in ipairs(sections) do
      local pattern = COLUMNS[rows.title:match("^(%a+):")]
      local at
      for _, row in ipairs(rows) do
        local cols = table.pack(row:match(pattern))
        assert.is_true(cols.n > 1 and cols[1] ~= nil, row)
        at = at or cols
        assert.same(at, cols, row)
      end
    end
    assert.is_true(#sections == 5)
  end)

  it("raises for what is not two snapshots of one process", function ()
    local t <close> = support.start("--threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local freed = assert(pss.capture(t.pid, { "threads" }))
    freed:free()
    local marker <close> = snap:marker()
    for _, bad in ipairs { { 1, "number" }, { {}, "table" }, { "x", "string" },
                           { freed, "freed snapshot" }, { marker, "marker" } } do
      local ok, err = pcall(diff, bad[1], snap)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'diff' (snapshot expected, got " .. bad[2] .. ")", err, 1, true)
      ok, err = pcall(diff, snap, bad[1])
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'diff' (snapshot expected, got " .. bad[2] .. ")", err, 1, true)
    end
    local ok, err = pcall(diff, nil, snap)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'diff' (snapshot expected, got nil)", err, 1, true)
    local me <close> = assert(pss.capture(pss.self, { "threads" }))
    ok, err = pcall(diff, snap, me)
    assert.is_false(ok)
    assert.matches(("diff: the snapshots are of different processes (pid %d and pid %d)")
      :format(t.pid, support.my_pid()), err, 1, true)
    -- the error is the caller's
    ok, err = pcall(function () local d = diff(snap, me); return d end)
    assert.is_false(ok)
    assert.matches("11_diff_spec.lua:%d+: diff: ", err)
  end)
end)
