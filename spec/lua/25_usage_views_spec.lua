-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 25: where the memory is: pss.diff, pss.report, `pss maps`, `pss show`
-- and pss.svg of snapshots captured with "memory_usage", against the
-- target's own account (pss-target --grow PAGES and its "touch N"
-- command) and /proc/PID/smaps read here while the target is stopped
-- (docs/lua-api.md, "pss.report", "pss.diff", "pss.svg"; docs/pss.1.md).
local pss = require "pss"
local support = require "support"
local R = require "pss.report"

local OPTIONS = { "threads", "handles", "va_space", "memory_usage" }

local PAGE = (function ()
  local p = assert(io.popen("getconf PAGESIZE"))
  local n = tonumber(p:read("l"))
  p:close()
  return assert(n)
end)()

local human = support.human

local function literal (s) return (s:gsub("%p", "%%%0")) end

--- {======================================================================
-- The target, with a FIFO for its commands
-- ======================================================================

local Target = {}
Target.__index = Target

--- Starts a command line (sh execs it) with a FIFO as its standard input
-- (opened read-write by the shell: the process never sees its end), and
-- reads its report up to "ready": "pid N" and "map START SIZE PERMS KIND"
-- lines, as pss-target prints them. Fields: pid, maps (kind -> {start,
-- size}).
local function start_command (command)
  local dir = support.temp_dir()
  local fifo = dir .. "/commands"
  assert(os.execute("mkfifo " .. support.quote(fifo)))
  local pipe = assert(io.popen(("exec %s <>%s"):format(command, support.quote(fifo)), "r"))
  local t = setmetatable({ pipe = pipe, dir = dir, fifo = fifo, maps = {} }, Target)
  for line in pipe:lines() do
    if line == "ready" then t.ready = true; break end
    local pid = line:match("^pid (%d+)$")
    if pid then t.pid = tonumber(pid) end
    local at, size, kind = line:match("^map (%x+) (%d+) %S+ (%S+)")
    if at then t.maps[kind] = { start = tonumber(at, 16), size = tonumber(size) } end
  end
  if not (t.ready and t.pid) then
    t:stop()
    error("the process did not start: " .. command)
  end
  return t
end

--- Starts pss-target with these arguments. It ends by itself after five
-- minutes at the latest, so every read of its answers has that bound.
local function start (args)
  return start_command(("%s %s --exit-after 300000"):format(support.target_path, args))
end

--- A python3 process with two regions of 64 private anonymous pages, "a"
-- and "b" (one inaccessible page between them, so that they stay two),
-- none resident; the command "a N" ("b N") makes the next N pages of one
-- resident and answers "touched <pages of it so far>"; "thread 0" starts a
-- thread that waits and answers "thread <its tid>". It ends after five
-- minutes at the latest. Nil without python3.
local TWO_REGIONS = [[
import ctypes, mmap, signal, sys, threading
signal.alarm(300)
page = mmap.PAGESIZE
m = mmap.mmap(-1, 129 * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
if libc.mprotect(base + 64 * page, page, 0) != 0:
    sys.exit("mprotect failed")
starts, touched = {"a": 0, "b": 65 * page}, {"a": 0, "b": 0}
print("pid %d" % __import__("os").getpid())
for name in "ab":
    print("map %x %d rw-p %s" % (base + starts[name], 64 * page, name))
print("ready", flush=True)
tids, idle = [], threading.Event()
def waiter(started):
    tids.append(threading.get_native_id())
    started.set()
    idle.wait()
for line in iter(sys.stdin.readline, ""):
    name, n = line.split()
    if name == "thread":
        started = threading.Event()
        threading.Thread(target=waiter, args=(started,), daemon=True).start()
        started.wait()
        print("thread %d" % tids[-1], flush=True)
        continue
    for i in range(int(n)):
        m[starts[name] + (touched[name] + i) * page] = 1
    touched[name] += int(n)
    print("touched %d" % touched[name], flush=True)
]]
local function start_two_regions ()
  if not support.executable("/usr/bin/python3") then return nil end
  return start_command("env -u LD_PRELOAD /usr/bin/python3 -c " .. support.quote(TWO_REGIONS))
end

--- Sends a command line; returns the target's answer (a line).
function Target:send (command)
  local f = assert(io.open(self.fifo, "w"))
  assert(f:write(command, "\n"))
  assert(f:close())
  return self.pipe:read("l")
end

--- "touch N" (or "WHICH N"): N more pages of the grow map (of region
-- WHICH) resident; the answer checked.
function Target:touch (n, which)
  self.touched = self.touched or {}
  local key = which or "touch"
  self.touched[key] = (self.touched[key] or 0) + n
  assert.equal("touched " .. self.touched[key], self:send(key .. " " .. n))
end

--- Stops the target (SIGTERM), reaps it, removes the FIFO; safe twice.
function Target:stop ()
  if self.pipe then
    if self.pid then os.execute(("kill -TERM %d 2>/dev/null"):format(self.pid)) end
    self.pipe:close()
    self.pipe = nil
    support.remove_dir(self.dir)
  end
end
Target.__close = Target.stop
Target.__gc = Target.stop

--- Stops the target's threads (SIGSTOP) until the value returned is
-- closed, which sends SIGCONT, also when a test fails in between.
local function stopped (t)
  local resume = setmetatable({}, { __close = function ()
    os.execute(("kill -CONT %d 2>/dev/null"):format(t.pid))
  end })
  assert.is_true(os.execute(("kill -STOP %d"):format(t.pid)))
  assert.is_true(support.wait_state(t.pid, "T"), "the target did not stop")
  return resume
end
--- }======================================================================


--- /proc/PID/smaps: start -> {start, size, rss, dirty, swap, perms, path}
-- (bytes), and the starts in address order.
local function smaps (pid)
  local map, order, current = {}, {}, nil
  for line in assert(support.read(("/proc/%d/smaps"):format(pid))):gmatch("[^\n]+") do
    local s, e, perms, path = line:match("^(%x+)%-(%x+) (%S+) %x+ %S+ %d+%s*(.*)$")
    if s then
      current = { start = tonumber(s, 16), finish = tonumber(e, 16), perms = perms, path = path,
        dirty = 0 }
      map[current.start] = current
      order[#order + 1] = current.start
    else
      local key, kb = line:match("^([%w_]+):%s+(%d+) kB$")
      if key == "Size" then current.size = tonumber(kb) * 1024
      elseif key == "Rss" then current.rss = tonumber(kb) * 1024
      elseif key == "Swap" then current.swap = tonumber(kb) * 1024
      elseif key == "Shared_Dirty" or key == "Private_Dirty" then
        current.dirty = current.dirty + tonumber(kb) * 1024
      end
    end
  end
  return map, order
end

local blocks = support.report_blocks

--- The cells of a table line, split on two or more spaces.
local function cells (line)
  local list = {}
  for cell in (line:gsub("^%s+", "") .. "  "):gmatch("(.-)%s%s+") do list[#list + 1] = cell end
  return list
end

describe("pss.diff with memory usage", function ()
  it("lists the region that grew first, by exactly the pages touched, named", function ()
    local t <close> = start("--threads 2 --grow 256")
    local grow = assert(t.maps.grow)
    assert.is_true(support.settle(t))
    local a <close> = assert(pss.capture(t.pid, OPTIONS))
    t:touch(37)
    assert.is_true(support.settle(t))
    local b <close> = assert(pss.capture(t.pid, OPTIONS))
    local d = pss.diff(a, b)
    local changed = d.memory.changed
    local first = assert(changed[1], "no region changed")
    assert.equal(grow.start, first.base_address)
    assert.equal(grow.size, first.region_size)
    assert.same({ before = 0, after = 37 * PAGE, delta = 37 * PAGE }, first.rss)
    assert.same({ before = 0, after = 0, delta = 0 }, first.swap)
    assert.equal("[anon]", first.name)
    -- sorted by growth, and every entry one whose rss or swap changed
    local before, after = {}, {}
    for r in a:regions() do before[r.base_address] = r end
    for r in b:regions() do after[r.base_address] = r end
    for i, c in ipairs(changed) do
      local x, y = assert(before[c.base_address]), assert(after[c.base_address])
      assert.same({ x.rss, y.rss, y.rss - x.rss }, { c.rss.before, c.rss.after, c.rss.delta })
      assert.same({ x.swap, y.swap, y.swap - x.swap }, { c.swap.before, c.swap.after, c.swap.delta })
      assert.is_true(c.rss.delta ~= 0 or c.swap.delta ~= 0)
      if i > 1 then
        local p = changed[i - 1]
        assert.is_true(p.rss.delta + p.swap.delta >= c.rss.delta + c.swap.delta)
      end
    end
    -- the text: first in its section, in human units, named; it ends in a newline
    local text = tostring(d)
    assert.matches("[^\n]\n$", text)
    local row = text:match("\nmemory: %d+ regions? changed, [^\n]*\n([^\n]*)\n")
    assert.matches(("^  grew%%s+0x%x%%s+%%+%s%%s+0 B %%-> %s%%s+%%[anon%%]$"):format(grow.start,
      literal(human(37 * PAGE)), literal(human(37 * PAGE))), row)
    -- the counters have the process's totals: its rss grew by the pages at least
    assert.is_true(d.counters.rss.delta >= 37 * PAGE)
    assert.equal(b:query("process").rss - a:query("process").rss, d.counters.rss.delta)
  end)

  it("sorts the regions by growth, largest first", function ()
    local t <close> = start_two_regions()
    if not t then
      pending("needs /usr/bin/python3")
      return
    end
    local a <close> = assert(pss.capture(t.pid, OPTIONS))
    t:touch(5, "a")
    t:touch(20, "b")
    t:touch(2, "a")
    local b <close> = assert(pss.capture(t.pid, OPTIONS))
    local d = pss.diff(a, b)
    local at = {}
    for i, c in ipairs(d.memory.changed) do at[c.base_address] = i end
    local ia, ib = assert(at[t.maps.a.start], "a"), assert(at[t.maps.b.start], "b")
    assert.is_true(ib < ia, "b grew more than a")
    assert.same({ 7 * PAGE, 20 * PAGE }, { d.memory.changed[ia].rss.delta, d.memory.changed[ib].rss.delta })
    for i = 2, #d.memory.changed do
      local p, c = d.memory.changed[i - 1], d.memory.changed[i]
      assert.is_true(p.rss.delta + p.swap.delta >= c.rss.delta + c.swap.delta)
    end
    -- and the text in that order, in human units
    local text = tostring(d)
    local pa = text:find(("\n  grew%%s+0x%x%%s+%%+%s  "):format(t.maps.a.start, literal(human(7 * PAGE))))
    local pb = text:find(("\n  grew%%s+0x%x%%s+%%+%s  "):format(t.maps.b.start, literal(human(20 * PAGE))))
    assert.is_true(pa ~= nil and pb ~= nil and pb < pa, text)
  end)

  it("names a thread's stack by its tid", function ()
    local t <close> = start_two_regions()
    if not t then
      pending("needs /usr/bin/python3")
      return
    end
    local a <close> = assert(pss.capture(t.pid, OPTIONS))
    local tid = tonumber(assert(t:send("thread 0"):match("^thread (%d+)$")))
    assert.is_true(support.wait_for(function ()
      local st = support.stat(("/proc/%d/task/%d/stat"):format(t.pid, tid))
      return st and st[3] == "S"
    end), "the thread did not wait")
    local b <close> = assert(pss.capture(t.pid, OPTIONS))
    -- the region that holds the new thread's stack pointer, from /proc
    local sp = support.read(("/proc/%d/task/%d/syscall"):format(t.pid, tid)):match("(0x%x+) 0x%x+\n?$")
    sp = math.tointeger(tonumber(sp:sub(3), 16))
    local stack
    for _, m in ipairs(support.maps(t.pid)) do
      if not math.ult(sp, m.start) and math.ult(sp, m.finish) then stack = m end
    end
    assert(stack, "no region holds the thread's stack pointer")
    local d = pss.diff(a, b)
    assert.is_not_nil(d.regions.mapped[stack.start], "the thread's stack is a new mapping")
    assert.matches(("\n  mapped%%s+0x%x%%s+%s  rw%%-p  private  %%[stack of tid %d%%]\n")
      :format(stack.start, literal(human(stack.finish - stack.start)), tid), tostring(d))
  end)

  it("compares memory usage only when both snapshots have it", function ()
    local t <close> = start("--threads 1 --grow 16")
    local a <close> = assert(pss.capture(t.pid, { "va_space" }))
    t:touch(3)
    local b <close> = assert(pss.capture(t.pid, OPTIONS))
    local d = pss.diff(a, b)
    assert.is_table(d.regions)
    assert.is_nil(d.memory)
    assert.is_nil(d.counters.rss)
    assert.is_nil(tostring(d):find("\nmemory:", 1, true))
    d = pss.diff(b, b)
    assert.same({}, d.memory.changed)
    assert.matches("\nmemory: no change\n", tostring(d), 1, true)
  end)

  it("is what `pss diff PID -i SECONDS` prints", function ()
    local t <close> = start("--threads 1 --grow 16")
    local status, out, err = support.run_pss(("diff -i 0 %d"):format(t.pid))
    assert.equal(0, status, err)
    assert.matches("\nmemory: ", out, 1, true)
    assert.matches("[^\n]\n$", out)
    status, out, err = support.run_pss(("diff --json -i 0 %d"):format(t.pid))
    assert.equal(0, status, err)
    local d = require("cjson").decode(out)
    assert.equal("table", type(d.memory.changed))
    assert.is_number(d.counters.rss.delta)
  end)
end)

describe("pss.report with memory usage", function ()
  it("sums resident memory by kind and lists the largest regions by it, as smaps says", function ()
    local t <close> = start("--threads 3 --grow 256")
    t:touch(100)
    local resume <close> = stopped(t)   -- luacheck: ignore 211
    local snap <close> = assert(pss.capture(t.pid, OPTIONS))
    local proc = smaps(t.pid)
    local parts = blocks(pss.report(snap, { units = "bytes", top = 1000 }))

    -- every region listed, by resident size, with the resident size smaps gives
    local block = assert(parts["Regions:"])
    assert.matches("; the %d+ largest by resident size$", block[1])
    assert.same({ "ADDRESS", "RESIDENT", "SWAPPED", "SIZE", "PROT", "STATE", "KIND", "PATH" },
      cells(block[2]))
    local listed, last = 0, math.huge
    for i = 3, #block do
      local row = cells(block[i])
      local m = assert(proc[tonumber(row[1], 16)], row[1])
      assert.equal(m.rss, tonumber(row[2]), row[1])
      assert.equal(m.swap, tonumber(row[3]), row[1])
      assert.equal(m.size, tonumber(row[4]), row[1])
      assert.is_true(m.rss <= last, "in resident order")
      last, listed = m.rss, listed + 1
    end
    local count = 0
    for _ in pairs(proc) do count = count + 1 end
    assert.equal(count, listed)
    local grow = t.maps.grow
    assert.is_truthy(table.concat(block, "\n"):find(("\n +%x +%d +0 +%d +rw%%-p"):format(grow.start,
      100 * PAGE, grow.size)))

    -- by kind: the kinds of R.regions, the sizes of smaps
    local want = {}
    for _, r in ipairs(R.regions(snap)) do
      local kind = r.memory_kind == "mapped" and "mapped file" or r.memory_kind
      for _, k in ipairs { kind, "total" } do
        want[k] = want[k] or { 0, 0 }
        want[k][1] = want[k][1] + proc[r.base_address].rss
        want[k][2] = want[k][2] + proc[r.base_address].swap
      end
    end
    local kinds = assert(parts.Memory)
    assert.same({ "KIND", "REGIONS", "SIZE", "COMMITTED", "RESIDENT", "SWAPPED" }, cells(kinds[2]))
    for i = 3, #kinds do
      local row = cells(kinds[i])
      assert.same(want[row[1]] or { 0, 0 }, { tonumber(row[5]), tonumber(row[6]) }, row[1])
    end
    local total = 0
    for _, m in pairs(proc) do total = total + m.rss end
    assert.equal(total, want.total[1])
    assert.equal(total, snap:query("process").rss)
    local rollup = support.read(("/proc/%d/smaps_rollup"):format(t.pid))
    assert.equal(tonumber(rollup:match("\nRss:%s+(%d+) kB")) * 1024, total)
  end)

  it("keeps the committed view without usage, and says so in one line", function ()
    local t <close> = start("--threads 1 --grow 16")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "va_space" }))
    local parts = blocks(pss.report(snap))
    assert.matches("; the %d+ largest$", parts["Regions:"][1])
    assert.same({ "ADDRESS", "SIZE", "PROT", "STATE", "KIND", "PATH" }, cells(parts["Regions:"][2]))
    local kinds = parts.Memory
    assert.same({ "KIND", "REGIONS", "SIZE", "COMMITTED" }, cells(kinds[2]))
    assert.equal("  Sizes are address space: the snapshot has no resident sizes"
      .. " (a capture with \"memory_usage\" has them).", kinds[#kinds])
  end)
end)

describe("pss maps", function ()
  it("has pmap -x's columns and total, as smaps says while the target is stopped", function ()
    local t <close> = start("--threads 2 --grow 256")
    t:touch(37)
    local resume <close> = stopped(t)   -- luacheck: ignore 211
    local status, out, err = support.run_pss("maps " .. t.pid)
    assert.equal(0, status, err)
    local proc, order = smaps(t.pid)
    local lines = {}
    for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.same({ "Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping" }, cells(lines[1]))
    assert.equal(#order + 3, #lines)
    local size, rss, dirty = 0, 0, 0
    for i, start_ in ipairs(order) do
      local m = proc[start_]
      local row = cells(lines[i + 1])
      assert.equal(("%016x"):format(start_), row[1])
      assert.same({ m.size // 1024, m.rss // 1024, m.dirty // 1024 },
        { tonumber(row[2]), tonumber(row[3]), tonumber(row[4]) }, row[1])
      assert.equal(m.perms, row[5])
      assert.equal(m.path ~= "" and m.path or "[ anon ]", row[6])
      size, rss, dirty = size + m.size // 1024, rss + m.rss // 1024, dirty + m.dirty // 1024
    end
    assert.matches("^%-+ +%-+ +%-+ +%-+$", lines[#lines - 1])
    assert.same({ "total kB", tostring(size), tostring(rss), tostring(dirty) }, cells(lines[#lines]))
    local at
    for i, s in ipairs(order) do if s == t.maps.grow.start then at = i end end
    local grow = cells(lines[1 + assert(at, "no line of the grow map")])
    assert.same({ tostring(256 * PAGE // 1024), tostring(37 * PAGE // 1024) }, { grow[2], grow[3] })

    -- --json: the region entries, with their usage fields
    status, out, err = support.run_pss("maps --json " .. t.pid)
    assert.equal(0, status, err)
    local entries = require("cjson").decode(out).regions
    assert.equal(#order, #entries)
    for _, e in ipairs(entries) do
      local m = assert(proc[math.tointeger(tonumber(e.base_address:sub(3), 16))], e.base_address)
      assert.same({ m.rss, m.swap }, { e.rss, e.swap })
    end
  end)

  it("prints - for the usage of a file that has none", function ()
    local dir = support.temp_dir()
    local t <close> = start("--threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    local path = dir .. "/plain.pss"
    assert.is_true(snap:save(path))
    local status, out, err = support.run_pss("maps " .. support.quote(path))
    support.remove_dir(dir)
    assert.equal(0, status, err)
    local lines = {}
    for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    local regions = support.entries(snap, "regions")
    assert.equal(#regions + 3, #lines)
    for i = 2, #regions + 1 do
      local row = cells(lines[i])
      assert.same({ "-", "-" }, { row[3], row[4] }, lines[i])
    end
    local total = cells(lines[#lines])
    assert.same({ "total kB", "-", "-" }, { total[1], total[3], total[4] })
  end)

  it("and pss show capture a live process with memory usage", function ()
    local t <close> = start("--threads 1 --grow 16")
    local status, out, err = support.run_pss("show " .. t.pid)
    assert.equal(0, status, err)
    assert.matches("\n  KIND +REGIONS +SIZE +COMMITTED +RESIDENT +SWAPPED\n", out)
    status, out, err = support.run_pss("show --json " .. t.pid)
    assert.equal(0, status, err)
    local value = require("cjson").decode(out)
    assert.is_number(value.process.rss)
    for _, r in ipairs(value.regions) do assert.is_number(r.rss) end
  end)
end)

describe("pss.svg with memory usage", function ()
  --- xmllint's verdict on a document (without a sanitized run's LD_PRELOAD).
  local function well_formed (svg)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    assert(f:write(svg))
    assert(f:close())
    local p = assert(io.popen(("env -u LD_PRELOAD -u ASAN_OPTIONS xmllint --noout %s 2>&1")
      :format(support.quote(path))))
    local out = p:read("a")
    local ok = p:close()
    os.remove(path)
    assert(ok, "xmllint: " .. out)
  end

  --- The attributes of the first element of a document with this tag and
  -- attribute text.
  local function element (svg, tag, attr)
    local text = svg:match("<" .. tag .. " [^>]*" .. literal(attr) .. "[^>]*>")
    if not text then return nil end
    local attrs = {}
    for k, v in text:gmatch('([%w%-]+)="([^"]*)"') do attrs[k] = v end
    return attrs
  end

  it("marks the resident part of each region's box", function ()
    local t <close> = start("--threads 1 --grow 256")
    t:touch(37)
    local snap <close> = assert(pss.capture(t.pid, OPTIONS))
    local svg = pss.svg(snap)
    well_formed(svg)
    local grow = t.maps.grow
    local base = ("0x%x"):format(grow.start)
    local box = assert(element(svg, "rect", ('class="region k-private p-w" data-base="%s"'):format(base)))
    assert.equal(tostring(37 * PAGE), box["data-rss"])
    local bar = assert(element(svg, "rect", ('class="resident" data-base="%s"'):format(base)))
    assert.equal(tostring(37 * PAGE), bar["data-rss"])
    -- along the box's bottom edge, as wide as the resident share (to the decimal written)
    assert.equal(tonumber(box.x), tonumber(bar.x))
    assert.equal(tonumber(box.y) + tonumber(box.height), tonumber(bar.y) + tonumber(bar.height))
    assert.is_true(math.abs(tonumber(bar.width) - tonumber(box.width) * 37 / 256) <= 0.1)
    assert.is_not_nil(svg:find('<g class="legend-resident">', 1, true))
    -- a bar for each region with resident pages, none for the others
    local bars = 0
    for r in snap:regions() do
      local has = svg:find(('<rect class="resident" data-base="0x%x"'):format(r.base_address), 1, true)
      assert.equal(r.rss > 0, has ~= nil, ("0x%x"):format(r.base_address))
      if has then bars = bars + 1 end
    end
    local _, n = svg:gsub('<rect class="resident"', "")
    assert.equal(bars, n)
  end)

  it("is unchanged without usage", function ()
    local t <close> = start("--threads 1 --grow 16")
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    local svg = pss.svg(snap)
    assert.is_nil(svg:find('class="resident"', 1, true))
    assert.is_nil(svg:find("legend-resident", 1, true))
    assert.is_nil(svg:find("data-rss", 1, true))
  end)
end)
