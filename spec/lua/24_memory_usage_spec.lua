-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 24: the memory_usage option: every region's figures against
-- /proc/PID/smaps and smaps_rollup read here, and against psutil's
-- memory_maps(grouped=False), for the test target and for Debian's python3
-- holding a 64 MiB bytearray. The targets are stopped (SIGSTOP) while
-- they are compared, and always continued after.
local pss = require "pss"
local support = require "support"

if pss.platform ~= "linux" then return end

local PYTHON = "/usr/bin/python3"

--- The smaps lines behind the fields, by field name.
local LINES = {
  rss = "Rss", pss = "Pss", pss_dirty = "Pss_Dirty", shared_clean = "Shared_Clean",
  shared_dirty = "Shared_Dirty", private_clean = "Private_Clean",
  private_dirty = "Private_Dirty", referenced = "Referenced", anonymous = "Anonymous",
  ksm = "KSM", lazy_free = "LazyFree", anon_huge_pages = "AnonHugePages",
  shmem_pmd_mapped = "ShmemPmdMapped", file_pmd_mapped = "FilePmdMapped",
  shared_hugetlb = "Shared_Hugetlb", private_hugetlb = "Private_Hugetlb", swap = "Swap",
  swap_pss = "SwapPss", locked = "Locked",
}
--- Rounded down per region by smaps, once by smaps_rollup; and moved by
-- the rest of the machine (another process mapping the same libraries).
local PROPORTIONAL = { pss = true, pss_dirty = true, swap_pss = true }
--- Also moved by the rest of the machine: a clean file page is shared
-- while another process maps it too (a second python3 shares python3's).
local MOVABLE = { pss = true, pss_dirty = true, swap_pss = true,
  shared_clean = true, private_clean = true }

--- /proc/PID/smaps as a list of {start, size, [line] = bytes}.
local function smaps (pid)
  local list = {}
  for line in assert(io.lines("/proc/" .. pid .. "/smaps")) do
    local a, b = line:match("^(%x+)%-(%x+) ")
    local key, kb = line:match("^([%w_]+):%s+(%d+) kB$")
    if a then
      list[#list + 1] = { start = tonumber(a, 16), size = tonumber(b, 16) - tonumber(a, 16) }
    elseif key and #list > 0 then
      list[#list][key] = tonumber(kb) * 1024
    end
  end
  return list
end

local function rollup_of (pid)
  local t = {}
  for line in assert(io.lines("/proc/" .. pid .. "/smaps_rollup")) do
    local key, kb = line:match("^([%w_]+):%s+(%d+) kB$")
    if key then t[key] = tonumber(kb) * 1024 end
  end
  return t
end

local function stop (pid)
  assert(os.execute("kill -STOP " .. pid))
  assert.is_true(support.wait_state(pid, "T"), "the target did not stop")
end

local function cont (pid) os.execute("kill -CONT " .. pid) end

local OPTIONS = { "threads", "va_space", "memory_usage" }

--- Every region's figures as smaps said them before and after: equal, or
-- for one the machine moved meanwhile, between the two. nil, or what
-- differs.
local function differs_from_smaps (regions, before, after)
  if #before ~= #regions or #after ~= #regions then
    return ("%d regions captured, smaps lists %d and %d"):format(#regions, #before, #after)
  end
  for i, r in ipairs(regions) do
    if before[i].start ~= r.base_address or before[i].size ~= r.region_size then
      return ("region %d is 0x%x, smaps says 0x%x"):format(i, r.base_address, before[i].start)
    end
    for field, line in pairs(LINES) do
      local x, y = before[i][line] or 0, after[i][line] or 0
      local ok
      if MOVABLE[field] then ok = r[field] >= math.min(x, y) and r[field] <= math.max(x, y)
      else ok = r[field] == x and x == y end
      if not ok then
        return ("region 0x%x: %s %s, smaps says %d before and %d after")
          :format(r.base_address, field, tostring(r[field]), x, y)
      end
    end
  end
end

--- The record's totals against smaps_rollup, but for the proportional
-- ones (at most a KiB per region below it). nil, or what differs.
local function differs_from_rollup (p, regions, rollup)
  for field, line in pairs(LINES) do
    local want = rollup[line] or 0
    local ok = p[field] == want
    if PROPORTIONAL[field] then ok = p[field] <= want and want - p[field] < 1024 * #regions end
    if not ok then
      return ("total %s %d, smaps_rollup %d, %d regions"):format(field, p[field], want, #regions)
    end
  end
end

--- The stopped pid captured between reads of smaps (and smaps_rollup)
-- until a round in which the capture agrees with them (at most ten: only
-- the rest of the machine moves a stopped target's figures, Pss above
-- all). The capture, its regions and record; raises with what differed
-- in the last round when none agreed. The totals are the regions' sums
-- in every round.
local function agreeing_capture (pid)
  local why
  for _ = 1, 10 do
    local before, rollup = smaps(pid), rollup_of(pid)
    local snap = assert(pss.capture(pid, OPTIONS))
    local after = smaps(pid)
    local regions, p = support.entries(snap, "regions"), snap:query("process")
    for field in pairs(LINES) do
      local sum = 0
      for _, r in ipairs(regions) do sum = sum + r[field] end
      assert.are.equal(sum, p[field], field)
    end
    why = differs_from_smaps(regions, before, after) or differs_from_rollup(p, regions, rollup)
    if not why then return snap, regions, p end
  end
  error("in 10 rounds the capture never agreed with smaps: " .. why)
end

--- What psutil's memory_maps(grouped=False) gives, in its own names,
-- which are the fields'; pss and the split of clean pages into shared and
-- private are left out: psutil's own python3 shares python3's pages.
local PSUTIL = { "rss", "shared_dirty", "private_dirty", "referenced", "anonymous", "swap" }
local PSUTIL_READ = { "shared_clean", "private_clean", table.unpack(PSUTIL) }

--- psutil's memory_maps(grouped=False) of pid, as {addr = {PSUTIL fields}}.
local function psutil_maps (pid)
  local script = ([[
import sys, psutil
for m in psutil.Process(int(sys.argv[1])).memory_maps(grouped=False):
    print(m.addr, %s)
]]):format(("m.%s"):rep(#PSUTIL_READ, ", "):format(table.unpack(PSUTIL_READ)))
  local p = assert(io.popen(("%s -c %s %d"):format(PYTHON, support.quote(script), pid)))
  local maps = {}
  for line in p:lines() do
    local words, m = {}, {}
    for w in line:gmatch("%S+") do words[#words + 1] = w end
    for i, field in ipairs(PSUTIL_READ) do m[field] = math.tointeger(tonumber(words[i + 1])) end
    maps[words[1]] = m
  end
  assert(p:close(), "psutil failed")
  return maps
end

--- The capture's regions against psutil: every mapping psutil lists has
-- the same figures; psutil leaves out none.
local function expect_as_psutil (regions, maps)
  local n = 0
  for _, r in ipairs(regions) do
    local key = ("%08x-%08x"):format(r.base_address, r.base_address + r.region_size)
    local m = maps[key]
    assert(m, "psutil lists no mapping " .. key)
    for _, field in ipairs(PSUTIL) do
      assert.are.equal(m[field], r[field], key .. " " .. field)
    end
    assert.are.equal(m.shared_clean + m.private_clean, r.shared_clean + r.private_clean,
      key .. " clean")
    n = n + 1
  end
  local listed = 0
  for _ in pairs(maps) do listed = listed + 1 end
  assert.are.equal(listed, n)
end

local function psutil_available ()
  return os.execute(PYTHON .. " -c 'import psutil' 2>/dev/null") == true
end

describe("the memory_usage option", function ()
  it("gives each region of the test target the figures smaps gives, and the totals", function ()
    local t <close> = support.start("--resident 4 --grow 64")
    stop(t.pid)
    local ok, err = pcall(function ()
      local _, regions = agreeing_capture(t.pid)
      local resident
      for _, r in ipairs(regions) do
        if r.base_address == t:map("resident").start then resident = r.rss end
      end
      assert.are.equal(4 * 1024 * 1024, resident)
    end)
    cont(t.pid)
    assert(ok, err)
  end)

  it("agrees with psutil's memory_maps(grouped=False) on a stopped target", function ()
    if not psutil_available() then return pending("no python3-psutil") end
    local t <close> = support.start("--grow 64")
    stop(t.pid)
    local ok, err = pcall(function ()
      local snap = assert(pss.capture(t.pid, OPTIONS))
      expect_as_psutil(support.entries(snap, "regions"), psutil_maps(t.pid))
    end)
    cont(t.pid)
    assert(ok, err)
  end)

  it("finds python3's 64 MiB bytearray, as smaps, smaps_rollup and psutil do", function ()
    if not support.executable(PYTHON) then return pending("no " .. PYTHON) end
    local script = "import sys, time\nb = bytearray(b'x' * (64 << 20))\n"
      .. "sys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(300)\n"
    local dir = support.temp_dir()
    local out = dir .. "/ready"
    local pid, p = support.spawn(("%s -c %s >%s"):format(PYTHON, support.quote(script), out))
    local ok, err = pcall(function ()
      assert(support.wait_for(function () return (support.read(out) or ""):find("ready") end, 20),
        "python3 did not start")
      stop(pid)
      local _, regions = agreeing_capture(pid)
      local biggest = 0
      for _, r in ipairs(regions) do biggest = math.max(biggest, r.rss) end
      assert.is_true(biggest >= 64 << 20, "no region holds the bytearray: " .. biggest)
      if psutil_available() then expect_as_psutil(regions, psutil_maps(pid)) end
    end)
    cont(pid)
    support.kill_wait(pid)
    p:close()
    support.remove_dir(dir)
    assert(ok, err)
  end)

  it("is absent without the option, and from a file saved before it", function ()
    local t <close> = support.start("--no-fds")
    local snap = assert(pss.capture(t.pid))
    for r in snap:regions() do assert.is_nil(r.rss) end
    assert.is_nil(snap:query("process").rss)
    local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
    local corpus = here .. "../fuzz/loader-corpus/"
    local old = assert(pss.load(corpus .. "v1-snapshot.pss"))
    for r in old:regions() do assert.is_nil(r.swap) end
    assert.is_nil(old:query("process").pss)
    local new = assert(pss.load(corpus .. "v2-snapshot.pss"))
    local total = 0
    for r in new:regions() do total = total + r.rss end
    assert.are.equal(new:query("process").rss, total)
  end)

  it("goes into JSON and through a saved file, and pss.fields lists it", function ()
    local t <close> = support.start("--no-fds --grow 16")
    local snap = assert(pss.capture(t.pid, OPTIONS))
    local dir = support.temp_dir()
    local ok, err = pcall(function ()
      assert(snap:save(dir .. "/s.pss"))
      local back = assert(pss.load(dir .. "/s.pss"))
      local a, b = support.entries(snap, "regions"), support.entries(back, "regions")
      for i, r in ipairs(a) do
        for field in pairs(LINES) do assert.are.equal(r[field], b[i][field], field) end
      end
      local json = require("cjson").decode(pss.json(a[1]))
      assert.are.equal(a[1].rss, json.rss)
      for field in pairs(LINES) do
        local listed = {}
        for _, name in ipairs(pss.fields("region")) do listed[name] = true end
        for _, name in ipairs(pss.fields("process")) do listed["p" .. name] = true end
        assert.is_true(listed[field] and listed["p" .. field], field)
      end
    end)
    support.remove_dir(dir)
    assert(ok, err)
  end)

  it("refuses what cannot go with it, before any capture", function ()
    assert.has_error(function () pss.capture(1, { "threads", "memory_usage", freeze = 3 }) end)
    local t <close> = support.start("--no-fds")
    local snap = assert(pss.capture(t.pid, { "memory_usage", freeze = false }))
    assert.are.equal("running", snap:query("process").capture_mode)
    assert.is_true(snap:query("process").rss > 0)
  end)
end)
