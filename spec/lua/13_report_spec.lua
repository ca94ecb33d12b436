-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 13: pss.report (lua/pss/report.lua): the text report of a snapshot,
-- against the target's report and /proc read here independently
-- (docs/lua-api.md, "pss.report").
local lfs = require "lfs"
local pss = require "pss"
local support = require "support"
local R = require "pss.report"

local report = R.report

local blocks = support.report_blocks

--- key -> value of the Process block ("  key   value" lines).
local function process_rows (block)
  local rows = {}
  for i = 2, #block do
    local k, v = block[i]:match("^  (%S[%w ]-)%s%s+(.*)$")
    if k then rows[k] = v end
  end
  return rows
end

--- The rows of a table block as lists of cells split on two or more
-- spaces; the heading and column-header lines are left out, and so are
-- lines of one cell. `strict`: only lines with a first cell (the handle
-- table's continuation lines have none).
local function table_rows (block, strict)
  local rows = {}
  for i = 3, #block do
    local line = block[i]
    if not strict or line:match("^  %S") then
      local cells = {}
      for cell in (line:gsub("^%s+", "") .. "  "):gmatch("(.-)%s%s+") do
        if cell ~= "" then cells[#cells + 1] = cell end
      end
      if #cells > 1 then rows[#rows + 1] = cells end
    end
  end
  return rows
end

--- The words of a line.
local function words (line)
  local list = {}
  for w in line:gmatch("%S+") do list[#list + 1] = w end
  return list
end

--- /proc/PID/task/TID/syscall: the stack pointer (nil when running).
local function task_sp (pid, tid)
  local list = words(support.read(("/proc/%d/task/%d/syscall"):format(pid, tid)) or "")
  if #list < 3 then return nil end
  return math.tointeger(tonumber(list[#list - 1]))
end

--- The maps lines of a process filed under the documented memory kinds,
-- from /proc alone: type as docs/linux-mapping.md derives it, stacks by the
-- threads' stack pointers in task/TID/syscall.
local function classify_maps (pid)
  local maps = support.maps(pid)
  for _, m in ipairs(maps) do
    m.type = (m.inode ~= 0 or m.perms:sub(4, 4) == "s") and "mapped"
      or m.path == "[vdso]" and "image" or "private"
  end
  local i = 1
  while i <= #maps do   -- file rows back to back form one allocation
    local j = i
    if maps[i].inode ~= 0 then
      while maps[j + 1] and maps[j + 1].inode == maps[i].inode and maps[j + 1].device == maps[i].device
          and maps[j + 1].start == maps[j].finish do
        j = j + 1
      end
      local exec = false
      for k = i, j do exec = exec or maps[k].perms:sub(3, 3) == "x" end
      if exec then for k = i, j do maps[k].type = "image" end end
    end
    i = j + 1
  end
  local sps = {}
  for _, tid in ipairs(support.numbers("/proc/" .. pid .. "/task")) do
    sps[#sps + 1] = task_sp(pid, tid)
  end
  for _, m in ipairs(maps) do
    local holds_sp = false
    for _, sp in ipairs(sps) do
      holds_sp = holds_sp or (not math.ult(sp, m.start) and math.ult(sp, m.finish))
    end
    if m.type ~= "private" then m.kind = m.type
    elseif m.path == "[heap]" then m.kind = "heap"
    elseif m.path == "[stack]" or holds_sp then m.kind = "stack"
    elseif m.path == "" then m.kind = "private"
    else m.kind = "other" end
  end
  return maps
end

local ANON = {
  ["[eventfd]"] = "EventFd", ["[timerfd]"] = "TimerFd", ["[signalfd]"] = "SignalFd",
  ["[eventpoll]"] = "Epoll", ["inotify"] = "Inotify", ["[fanotify]"] = "Fanotify", ["[pidfd]"] = "PidFd",
}
local MODES = {
  directory = "Directory", ["char device"] = "Device", ["block device"] = "Device",
  ["named pipe"] = "Fifo", socket = "Socket", file = "File",
}

--- The handle type of an fd, from its /proc/PID/fd link and stat alone.
local function fd_type (pid, fd)
  local path = ("/proc/%d/fd/%d"):format(pid, fd)
  local link = support.readlink(path) or ""
  if link:find("^socket:") then return "Socket" end
  if link:find("^pipe:") then return "Pipe" end
  if link:find("^pidfd:") then return "PidFd" end
  local anon = link:match("^anon_inode:(.*)$")
  if anon then return ANON[anon] or "AnonInode" end
  if link:find("^/memfd:") then return "MemFd" end
  return MODES[lfs.attributes(path, "mode")] or "Unknown"
end

--- Sizes as the docs define them, written here again.
local function human (n)
  if n < 1024 then return n .. " B" end
  local units, v, u = { "KiB", "MiB", "GiB", "TiB", "PiB" }, n, 0
  repeat v = v / 1024; u = u + 1 until v < 1024 or u == #units
  return ("%.1f %s"):format(v, units[u])
end

describe("pss.report", function ()
  local t, snap, text, parts
  setup(function ()
    t = support.start("--threads 3 --resident 16 --extra-maps " .. support.scale(20, 6))
    assert(support.settle(t), "the target's threads did not settle")
    snap = assert(pss.capture(t.pid, { "threads", "handles", "va_space" }))
    assert(support.settle(t), "the target's threads did not settle")
    text = report(snap)
    parts = blocks(text)
  end)
  teardown(function ()
    if snap then snap:free() end
    if t then t:stop() end
  end)

  it("is text in valid UTF-8 with a block per part of the snapshot", function ()
    assert.equal("string", type(text))
    assert.is_not_nil(utf8.len(text))
    for _, heading in ipairs { "Process", "Threads:", "Handles:", "Regions:", "Memory" } do
      assert.is_not_nil(parts[heading], heading)
    end
    assert.equal(text, pss.report(snap))
  end)

  it("summarises the process as /proc says", function ()
    local rows = process_rows(parts.Process)
    local st = support.stat(("/proc/%d/stat"):format(t.pid))
    assert.equal(("Process %d  pss-target"):format(t.pid), parts.Process[1])
    assert.equal(tostring(t.pid), rows.pid)
    assert.equal(st[4], rows.parent)
    assert.equal(st[2], rows.name)
    assert.equal(t.exe, rows.image)
    assert.matches("^" .. support.target_path:gsub("%p", "%%%0") .. " %-%-threads 3 ", rows.command)
    assert.equal("S (sleeping)", rows.state)
    assert.matches("^uid %d+, euid %d+, gid %d+, egid %d+$", rows.user)
    assert.equal(tostring(#t.threads), rows.threads)
    assert.equal(tostring(#support.numbers("/proc/" .. t.pid .. "/fd")), rows.handles)
    assert.equal(tostring(#support.maps(t.pid)), rows.regions)
    assert.matches("^%d+%.%d %a+ %(peak %d+%.%d %a+%)$", rows.virtual)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%.%d%d%d$", rows.created)
    assert.matches("^%d+%.%d%d s %(user %d+%.%d%d s, kernel %d+%.%d%d s%)$", rows.cpu)
  end)

  it("lists every thread with tid, name, state and system call, by CPU time", function ()
    local rows = table_rows(parts["Threads:"])
    assert.equal(("Threads: %d, by CPU time"):format(#t.threads), parts["Threads:"][1])
    assert.same({ "TID", "NAME", "STATE", "CPU", "USER", "KERNEL", "SYSCALL" }, words(parts["Threads:"][2]))
    assert.equal(#t.threads, #rows)
    local by_tid = {}
    for _, row in ipairs(rows) do by_tid[tonumber(row[1])] = row end
    for i, th in ipairs(t.threads) do
      local row = assert(by_tid[th.tid], "no row for tid " .. th.tid)
      assert.equal(th.name, row[2])
      assert.equal("S", row[3])
      -- the main thread waits in ppoll, the workers on their condition variable
      assert.equal(i == 1 and "ppoll" or "futex", row[7], th.name)
      assert.matches("^%d+%.%d%d s$", row[4])
    end
    -- the order: CPU time (user + kernel) down, then tid up
    local list = support.entries(snap, "threads")
    table.sort(list, function (a, b)
      local ca, cb = a.user_time + a.kernel_time, b.user_time + b.kernel_time
      if ca ~= cb then return ca > cb end
      return a.tid < b.tid
    end)
    for i, e in ipairs(list) do assert.equal(tostring(e.tid), rows[i][1]) end
    -- options.threads caps the rows
    local capped = blocks(report(snap, { threads = 2 }))["Threads:"]
    assert.equal(2, #table_rows(capped))
    assert.equal(("  ... and %d more threads"):format(#t.threads - 2), capped[#capped])
  end)

  it("names system calls by the x86-64 table only where it applies", function ()
    local names = 0
    local header = support.read("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
      or support.read("/usr/include/asm/unistd_64.h")
    for n, name in pairs(R.x86_64_syscalls) do
      names = names + 1
      if header then
        assert.is_truthy(header:find(("\n#define __NR_%s %d\n"):format(name, n), 1, true), name)
      end
    end
    assert.is_true(names >= 40)
    -- false: numbers; a table: that table
    local rows = table_rows(blocks(report(snap, { syscalls = false }))["Threads:"])
    for _, row in ipairs(rows) do assert.matches("^#%d+$", row[7]) end
    rows = table_rows(blocks(report(snap, { syscalls = { [271] = "PPOLL", [202] = "FUTEX" } }))["Threads:"])
    for _, row in ipairs(rows) do assert.is_truthy(row[7] == "PPOLL" or row[7] == "FUTEX", row[7]) end
  end)

  it("groups handles by type with the counts /proc/PID/fd gives", function ()
    local want, types = {}, 0
    for _, fd in ipairs(support.numbers("/proc/" .. t.pid .. "/fd")) do
      local k = fd_type(t.pid, fd)
      if not want[k] then types = types + 1 end
      want[k] = (want[k] or 0) + 1
    end
    local got, total = {}, 0
    for _, row in ipairs(table_rows(parts["Handles:"], true)) do
      got[row[1]] = tonumber(row[2])
      total = total + tonumber(row[2])
    end
    assert.same(want, got)
    assert.equal(("Handles: %d in %d types"):format(total, types), parts["Handles:"][1])
    -- what the target reports it opened is there
    for _, kind in ipairs { "Socket", "Pipe", "File", "Directory", "Device", "Fifo", "EventFd", "TimerFd",
                            "SignalFd", "Epoll", "Inotify", "PidFd", "MemFd" } do
      assert.is_true((got[kind] or 0) >= 1, kind)
    end
  end)

  it("shows the top object names of each type", function ()
    local fifo = assert(t:fd("fifo"))
    local all = report(snap, { names = 1000 })
    assert.is_truthy(all:find("\n  Fifo +1  " .. fifo.path:gsub("%p", "%%%0") .. "\n"))
    for _, fd in ipairs(t.fds) do
      if fd.path then assert.is_truthy(all:find(fd.path, 1, true), fd.kind) end
    end
    assert.is_falsy(all:find("... and", 1, true))
    -- three by default, then how many more; /dev/null (3 fds) counts for 3
    assert.is_truthy(text:find("\n  Socket +%d+  [^\n]+\n +[^\n]+\n +[^\n]+\n +%.%.%. and %d+ more\n"))
    local none = blocks(report(snap, { names = 0 }))["Handles:"]
    assert.matches("^  TYPE +COUNT$", none[2])
    for i = 3, #none do assert.matches("^  %S+ +%d+$", none[i]) end
  end)

  it("lists the largest regions as /proc/PID/maps does", function ()
    local maps = support.maps(t.pid)
    table.sort(maps, function (a, b)
      local sa, sb = a.finish - a.start, b.finish - b.start
      if sa ~= sb then return sa > sb end
      return math.ult(a.start, b.start)
    end)
    for _, top in ipairs { 10, 3, 1000 } do
      local block = blocks(report(snap, { top = top, units = "bytes" }))["Regions:"]
      local rows = table_rows(block)
      local n = math.min(top, #maps)
      assert.equal(n, #rows)
      assert.matches(("the %d largest$"):format(n), block[1])
      for i = 1, n do
        assert.equal(("%x"):format(maps[i].start), rows[i][1])
        assert.equal(tostring(maps[i].finish - maps[i].start), rows[i][2])
        assert.equal(maps[i].perms, rows[i][3])
        if maps[i].path ~= "" and maps[i].path ~= "[stack]" then assert.equal(maps[i].path, rows[i][6]) end
      end
    end
    -- in human units; the 16 MiB the target made resident is one of them
    -- (the largest, but for a sanitizer's shadow memory)
    local first = table_rows(parts["Regions:"])[1]
    assert.same({ ("%x"):format(maps[1].start), human(maps[1].finish - maps[1].start), maps[1].perms },
      { first[1], first[2], first[3] })
    local resident = assert(t:map("resident"))
    assert.is_truthy(report(snap, { top = 1000 }):find(("\n +%x +16%%.0 MiB  rw%%-p  commit +private\n")
      :format(resident.start)))
  end)

  it("sums memory by kind as the regions add up", function ()
    local maps = classify_maps(t.pid)
    local want = {}
    for _, kind in ipairs { "image", "mapped", "private", "stack", "heap", "other", "total" } do
      want[kind] = { 0, 0, 0 }
    end
    for _, m in ipairs(maps) do
      for _, kind in ipairs { m.kind, "total" } do
        local w = want[kind]
        w[1], w[2] = w[1] + 1, w[2] + (m.finish - m.start)
        if m.perms:sub(1, 3) ~= "---" then w[3] = w[3] + (m.finish - m.start) end
      end
    end
    assert.is_true(want.stack[1] >= #t.threads, "a stack per thread")
    want["mapped file"], want.mapped = want.mapped, nil
    local block = blocks(report(snap, { units = "bytes" })).Memory
    assert.equal("Memory by kind", block[1])
    -- captured without "memory_usage": sizes of address space, and it says so
    assert.same({ "KIND", "REGIONS", "SIZE", "COMMITTED" }, words(block[2]))
    assert.equal("  Sizes are address space: the snapshot has no resident sizes"
      .. " (a capture with \"memory_usage\" has them).", block[#block])
    local got = {}
    for _, row in ipairs(table_rows(block)) do
      got[row[1]] = { tonumber(row[2]), tonumber(row[3]), tonumber(row[4]) }
    end
    assert.same(want, got)
    -- the same figures in human units
    local human_rows = table_rows(parts.Memory)
    for _, row in ipairs(human_rows) do
      assert.equal(human(want[row[1]][2]), row[3], row[1])
      assert.equal(human(want[row[1]][3]), row[4], row[1])
    end
    -- and the kinds of regions() are those of the report
    local regions = R.regions(snap)
    assert.equal(#maps, #regions)
    for i, r in ipairs(regions) do
      assert.equal(maps[i].start, r.base_address)
      assert.equal(maps[i].kind, r.memory_kind, ("%x %s"):format(r.base_address, maps[i].path))
    end
  end)

  it("names the thread of each stack", function ()
    local regions = R.regions(snap)
    local stacks = {}
    for _, r in ipairs(regions) do
      if r.memory_kind == "stack" then stacks[r.stack_of or "?"] = r end
    end
    for _, th in ipairs(t.threads) do
      local r = assert(stacks[th.tid], "no stack for tid " .. th.tid)
      local sp = task_sp(t.pid, th.tid)
      assert.is_true(not math.ult(sp, r.base_address) and math.ult(sp - r.base_address, r.region_size))
      if th.tid ~= t.pid then
        assert.is_truthy(report(snap, { top = 1000 }):find(("[stack of tid %d]"):format(th.tid), 1, true))
      end
    end
    assert.equal("[stack]", stacks[t.pid].path)
  end)

  it("finds stacks by the registers of a thread-context capture", function ()
    local ctx <close>, err, code = pss.capture(t.pid, { "thread_context", "va_space" })
    if not ctx then
      assert.equal(pss.ERROR_NOT_SUPPORTED, code, err)
      return
    end
    local by_tid = {}
    for _, r in ipairs(R.regions(ctx)) do
      if r.stack_of then by_tid[r.stack_of] = r.base_address end
    end
    for _, th in ipairs(support.entries(ctx, "threads")) do
      local base = assert(by_tid[th.tid], "no stack for tid " .. th.tid)
      assert.is_true(not math.ult(th.context.rsp, base))
    end
  end)
end)

describe("pss.report of a partial snapshot", function ()
  local t
  setup(function () t = support.start("--threads 2 --odd-name") end)
  teardown(function () if t then t:stop() end end)

  it("with threads only, has no handle or region blocks", function ()
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local text = report(snap)
    local parts = blocks(text)
    assert.is_not_nil(parts["Threads:"])
    assert.is_nil(parts["Handles:"])
    assert.is_nil(parts["Regions:"])
    assert.is_nil(parts.Memory)
    local rows = process_rows(parts.Process)
    assert.equal("3", rows.threads)
    assert.equal("not captured", rows.handles)
    assert.equal("not captured", rows.regions)
  end)

  it("with handle values and bare regions, has no thread block", function ()
    local snap <close> = assert(pss.capture(t.pid, { "handle_values", "va_regions" }))
    local parts = blocks(report(snap))
    assert.is_nil(parts["Threads:"])
    assert.is_not_nil(parts["Handles:"])
    assert.is_not_nil(parts["Regions:"])
    assert.is_not_nil(parts.Memory)
    assert.equal("3 (not captured)", process_rows(parts.Process).threads)
  end)

  it("with nothing but the process, is the process block", function ()
    local snap <close> = assert(pss.capture(t.pid, {}))
    local parts = blocks(report(snap))
    assert.is_not_nil(parts.Process)
    assert.is_nil(parts["Threads:"])
    assert.is_nil(parts["Handles:"])
    assert.is_nil(parts["Regions:"])
  end)

  it("of a zombie, says how it exited", function ()
    local z <close> = support.start_zombie(7)
    assert.is_true(support.wait_state(z.pid, "Z"))
    local snap <close> = assert(pss.capture(z.pid))
    local rows = process_rows(blocks(report(snap)).Process)
    assert.equal("7", rows["exit status"])
    assert.equal("Z (zombie)", rows.state)
  end)

  it("writes names that are not UTF-8 with \\x escapes", function ()
    local snap <close> = assert(pss.capture(t.pid, { "handles", "va_space" }))
    local text = report(snap, { names = 1000, top = 1000 })
    assert.is_not_nil(utf8.len(text))
    local odd = t.odd:gsub("[\128-\255]", function (c) return ("\\x%02x"):format(c:byte()) end)
    local _, n = text:gsub(odd:gsub("%p", "%%%0"), "")
    assert.equal(2, n)   -- the fd and the mapping
    assert.equal("a\\x00b\\x0a\\xff\\xc3(\\xed\\xa0\\x80\\xef\\xbf\\xbe\\xc2\\x85é€𝄞",
      R.printable("a\0b\n\255\xc3\x28\xed\xa0\x80\xef\xbf\xbe\xc2\x85é€𝄞"))
  end)
end)

describe("pss.report sizes", function ()
  it("are binary units with one decimal", function ()
    local cases = {
      { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" },
      { 1048575, "1.0 MiB" }, { 8 << 20, "8.0 MiB" }, { 5 << 30, "5.0 GiB" }, { 128 << 40, "128.0 TiB" },
      { -1, "16.0 EiB" },
    }
    for _, c in ipairs(cases) do assert.equal(c[2], R.size(c[1]), tostring(c[1])) end
  end)
end)

describe("pss.report arguments", function ()
  it("raise for what is not a snapshot, and for bad options", function ()
    local snap = assert(pss.capture(pss.self, { "threads" }))
    local function fails (pattern, ...)
      local args = table.pack(...)
      local ok, err = pcall(function ()
        local text = report(table.unpack(args, 1, args.n))   -- not a tail call: this line is blamed
        return text
      end)
      assert.is_false(ok)
      assert.matches(pattern, err)
      assert.matches("13_report_spec.lua:%d+:", err)   -- blamed on the caller
    end
    fails("bad argument #1 to 'report' %(snapshot expected, got nil%)")
    fails("bad argument #1 to 'report' %(snapshot expected, got number%)", 42)
    fails("bad argument #1 to 'report' %(snapshot expected, got table%)", {})
    fails("bad argument #2 to 'report' %(table expected, got string%)", snap, "top")
    fails("report option 'top' must be a positive integer, got 0", snap, { top = 0 })
    fails("report option 'top' must be a positive integer, got 1.5", snap, { top = 1.5 })
    fails("report option 'names' must be a non%-negative integer", snap, { names = -1 })
    fails("report option 'threads' must be a non%-negative integer", snap, { threads = "all" })
    fails("report option 'units' must be \"human\" or \"bytes\", got furlongs", snap, { units = "furlongs" })
    fails("report option 'syscalls' must be a table or false", snap, { syscalls = true })
    fails("unknown report option 'colour'", snap, { colour = true })
    snap:free()
    fails("bad argument #1 to 'report' %(snapshot expected, got freed snapshot%)", snap)
    local ok, err = pcall(pss.report, 42)
    assert.is_false(ok)
    assert.matches("snapshot expected", err)
    assert.has_error(function () R.regions(42) end)
  end)
end)
