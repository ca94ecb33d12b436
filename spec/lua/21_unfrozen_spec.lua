-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 21: captures that do not stop the target: the process record alone,
-- freeze = false, and the fallback where ptrace is refused -- here by a
-- seccomp filter that makes ptrace fail with EPERM (spec/support/noptrace.c),
-- as a container's profile does. Counts are compared with /proc.
local cjson = require "cjson"
local pss = require "pss"
local support = require "support"

local NOPTRACE = os.getenv("PSS_NOPTRACE") or "build/noptrace"

--- Runs a shell command line; exit status, stdout, stderr.
local function sh (cmd)
  local err = os.tmpname()
  local p = assert(io.popen(("%s 2>%s"):format(cmd, err), "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  local stderr = support.read(err) or ""
  os.remove(err)
  return status, out, stderr
end

--- Lua code run in a child lua5.4 under the filter (bounded by timeout),
-- with arguments in arg[].
local function under_filter (code, ...)
  local args, script = {}, os.tmpname()
  for i, v in ipairs({ ... }) do args[i] = support.quote(v) end
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local status, out, err = sh(("%s timeout 60 %s lua5.4 %s %s"):format(support.lua_env(),
    NOPTRACE, script, table.concat(args, " ")))
  os.remove(script)
  return status, out, err
end

local CAPTURE = [[
local pss = require "pss"
local pid = tonumber(arg[1])
local opts = { "threads", "handles", "va_space" }
if arg[2] then opts = { arg[2] } end
local snap, msg = pss.capture(pid, opts)
if not snap then print("failed\t" .. msg) return end
local function count (it) local n = 0 for _ in it do n = n + 1 end return n end
local p = snap:query("process")
print(p.capture_mode, p.not_frozen or "")
if not arg[2] then
  print(count(snap:threads()), count(snap:handles()), count(snap:regions()))
end
]]

describe("a capture where ptrace is refused (a seccomp filter)", function ()
  local t
  setup(function () t = support.start("--threads 4") end)
  teardown(function () if t then t:stop() end end)

  it("is read while running, says why, and its tables equal /proc's", function ()
    local status, out, err = under_filter(CAPTURE, t.pid)
    assert.equal(0, status, err)
    local mode, why, threads, handles, regions =
      out:match("^(%a+)\t([^\n]*)\n(%d+)\t(%d+)\t(%d+)\n$")
    assert.equal("running", mode, out)
    assert.matches("^ptrace refused: .*seccomp filter", why)
    assert.equal(#support.numbers(("/proc/%d/task"):format(t.pid)), tonumber(threads))
    assert.equal(#support.numbers(("/proc/%d/fd"):format(t.pid)), tonumber(handles))
    assert.equal(#support.maps(t.pid), tonumber(regions))
  end)

  it("fails for thread contexts and the VA clone, naming the cause", function ()
    for _, option in ipairs { "thread_context", "va_clone" } do
      local status, out, err = under_filter(CAPTURE, t.pid, option)
      assert.equal(0, status, err)
      assert.matches("^failed\t.*access denied.*seccomp filter.*ptrace", out)
    end
  end)

  it("pss show says 'read while running' and exits 0; --json carries the mode", function ()
    local env = support.lua_env()
    local status, out, err = sh(("%s timeout 60 %s bin/pss show %d"):format(env, NOPTRACE, t.pid))
    assert.equal(0, status, err)
    assert.matches("captured%s+read while running: ptrace refused", out)
    assert.matches(("pss: pid %d read while running: ptrace refused"):format(t.pid), err, 1, true)
    status, out = sh(("%s timeout 60 %s bin/pss show %d --json"):format(env, NOPTRACE, t.pid))
    assert.equal(0, status)
    local doc = cjson.decode(out)
    assert.equal("running", doc.process.capture_mode)
    assert.matches("^ptrace refused", doc.process.not_frozen)
  end)

  it("with freeze = true fails as the C API does", function ()
    local status, out = under_filter([[
      local pss = require "pss"
      print(select(2, pss.capture(tonumber(arg[1]), { "threads", freeze = true })))
    ]], t.pid)
    assert.equal(0, status)
    assert.matches("access denied.*seccomp filter", out)
  end)
end)

--- The context switches of all of pid's threads: a thread asleep that a
-- tracer stops is woken for it, so a stop shows here; nothing else wakes
-- the target's idle threads.
local function switches (pid)
  local sum = 0
  for _, tid in ipairs(support.numbers(("/proc/%d/task"):format(pid))) do
    local text = support.read(("/proc/%d/task/%d/status"):format(pid, tid)) or ""
    sum = sum + tonumber(text:match("\nvoluntary_ctxt_switches:%s*(%d+)") or 0)
      + tonumber(text:match("\nnonvoluntary_ctxt_switches:%s*(%d+)") or 0)
  end
  return sum
end

describe("a capture that needs no freeze", function ()
  it("of the process record stops no thread of a 64-thread target", function ()
    local t = support.start("--threads 64")
    local snap = assert(pss.capture(t.pid, { "measure_performance" }))
    local p = snap:query("process")
    assert.equal("running", p.capture_mode)
    assert.matches("process record alone", p.not_frozen)
    assert.equal(0, snap:query("performance").threads_frozen)
    assert.equal(#support.numbers(("/proc/%d/task"):format(t.pid)), p.thread_count)
    snap:free()
    -- the target's own view: no thread of it was woken to stop
    local before, settled = switches(t.pid), false
    for _ = 1, 40 do                        -- at most 2 s for its threads to park
      pss.sleep(0.05)
      local now = switches(t.pid)
      settled = now == before
      if settled then break end
      before = now
    end
    if not settled then
      t:stop()
      pending("the target's threads are not idle here: their switches cannot tell a stop")
      return
    end
    before = switches(t.pid)
    for _ = 1, 20 do assert(pss.capture(t.pid, {})):free() end
    assert.equal(before, switches(t.pid))
    -- and the measure sees a stop when there is one
    assert(pss.capture(t.pid, { "threads" })):free()
    assert.is_true(switches(t.pid) > before)
    t:stop()
  end)

  it("with freeze = false reads threads, fds and maps while the target runs", function ()
    local t = support.start("--threads 4")
    local snap = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "measure_performance", freeze = false }))
    local p = snap:query("process")
    assert.equal("running", p.capture_mode)
    assert.equal(0, snap:query("performance").threads_frozen)
    local n = 0
    for th in snap:threads() do
      n = n + 1
      assert.are_not.equal("t", th.state)       -- never stopped by a tracer
      assert.equal(0, th.teb_base_address or 0)  -- it needs the thread stopped
    end
    assert.equal(#support.numbers(("/proc/%d/task"):format(t.pid)), n)
    snap:free()
    t:stop()
  end)

  it("a frozen capture says so", function ()
    local t = support.start("--threads 2")
    local snap = assert(pss.capture(t.pid, { "threads" }))
    local p = snap:query("process")
    assert.equal("frozen", p.capture_mode)
    assert.is_nil(p.not_frozen)
    snap:free()
    t:stop()
  end)
end)

describe("kernel threads", function ()
  it("are captured read-only: pss show 2 and pss threads 2", function ()
    local kthreadd = support.read("/proc/2/stat")
    if not kthreadd or not kthreadd:find("^2 %(kthreadd%)") then
      pending("no kthreadd at pid 2 here (a pid namespace?)")
      return
    end
    local snap = assert(pss.capture(2))
    local p = snap:query("process")
    assert.equal("running", p.capture_mode)
    assert.matches("kernel thread", p.not_frozen)
    local n = 0
    for _ in snap:threads() do n = n + 1 end
    assert.equal(1, n)
    for _ in snap:regions() do error("a kernel thread has no mappings") end
    snap:free()
    local status, out = sh("timeout 60 bin/pss show 2")
    assert.equal(0, status)
    assert.matches("Process 2  kthreadd", out, 1, true)
    status, out = sh("timeout 60 bin/pss threads 2")
    assert.equal(0, status)
    assert.matches("\n%s*2%s+kthreadd", out)
  end)
end)
