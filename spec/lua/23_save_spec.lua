-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 23: snapshots that leave the process (issue 15): snap:save and
-- pss.load (the same JSON, stacks and memory from the file, in this and
-- in another process), cores from gcore, bad files, and the commands that
-- take a file where they took a pid (docs/lua-api.md "Saved snapshots").
local pss = require "pss"
local core = require "pss.core"
local support = require "support"

local raises = support.raises

local EVERYTHING = { "threads", "handles", "va_space", "thread_context", "stacks",
  "measure_performance" }

local run = support.run_pss   -- bin/pss ARGS: exit status, stdout, stderr

--- Every thread's frames as text, in tid order, for comparing two snapshots.
local function stack_text (snap)
  local lines = {}
  for _, t in ipairs(assert(pss.stacks(snap))) do
    lines[#lines + 1] = "tid " .. t.tid
    for _, f in ipairs(t.frames) do
      lines[#lines + 1] = ("%x %s %s"):format(f.pc, f.module or "?", f.symbol or "?")
    end
  end
  return table.concat(lines, "\n")
end

describe("snap:save and pss.load", function ()
  local dir
  before_each(function () dir = support.temp_dir() end)
  after_each(function () support.remove_dir(dir) end)

  it("give back the same snapshot: JSON, report and stacks", function ()
    local t <close> = support.start_stack_target("--threads 3 --depth 2")
    local snap <close> = assert(pss.capture(t.pid, EVERYTHING))
    local path = dir .. "/app.pss"
    assert.is_true(snap:save(path))
    local loaded <close> = assert(pss.load(path))
    assert.equal(pss.json(snap), pss.json(loaded))
    assert.equal(pss.report(snap), pss.report(loaded))
    assert.equal(stack_text(snap), stack_text(loaded))
    assert.equal(tostring(snap), tostring(loaded))
    -- duplicates and walks of a loaded snapshot are snapshots like any other
    local dup <close> = assert(loaded:duplicate())
    assert.equal(pss.json(snap), pss.json(dup))
  end)

  it("are read by another process as by this one", function ()
    local t <close> = support.start_stack_target("--threads 2")
    local snap <close> = assert(pss.capture(t.pid, EVERYTHING))
    local path = dir .. "/app.pss"
    assert.is_true(snap:save(path))
    local p = assert(io.popen(("%s lua5.4 -e %s /dev/null %s"):format(support.lua_env(), support.quote(
      "local pss = require 'pss'; io.write(pss.json(assert(pss.load(arg[1]))))"),
      support.quote(path))))
    local text = p:read("a")
    assert.is_true(p:close())
    assert.equal(pss.json(snap), text)
  end)

  it("write to and read from open files, at their positions", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", "va_space" }))
    local path = dir .. "/two.pss"
    local f = assert(io.open(path, "wb"))
    assert.is_true(snap:save(f))
    assert.is_true(snap:save(f))          -- two snapshots, back to back
    f:close()
    f = assert(io.open(path, "rb"))
    local a <close> = assert(pss.load(f))
    local b <close> = assert(pss.load(f))
    f:close()
    assert.equal(pss.json(snap), pss.json(a))
    assert.equal(pss.json(snap), pss.json(b))
  end)

  it("save the memory with memory = true, and read it back", function ()
    local t <close> = support.start_stack_target("--threads 2")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "va_space", "va_clone",
      "thread_context" }))
    local path = dir .. "/mem.pss"
    assert.is_true(snap:save(path, { memory = true }))
    local loaded <close> = assert(pss.load(path))
    local compared = 0
    for r in snap:regions() do
      if r.clone == "copy" and r.protect:sub(1, 1) == "r" then
        local n = math.min(r.region_size, 1 << 20)
        local want = snap:read(r.base_address, n)
        assert.equal(want, loaded:read(r.base_address, n), ("%x"):format(r.base_address))
        compared = compared + #want
      end
    end
    assert.is_true(compared > 0)
    -- without memory, the file holds none: a missing capture option, as for a snapshot
    -- without a clone
    assert.is_true(snap:save(dir .. "/tables.pss"))
    local tables <close> = assert(pss.load(dir .. "/tables.pss"))
    raises("not captured", function () tables:read(0, 1) end)
    raises("not captured", function () tables:save(dir .. "/x.pss", { memory = true }) end)
  end)

  it("give a clear failure for a missing, foreign, cut or damaged file", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    local path = dir .. "/s.pss"
    assert.is_true(snap:save(path))
    local bytes = support.read(path)
    local function load_bytes (b)
      local f = assert(io.open(dir .. "/bad", "wb"))
      f:write(b)
      f:close()
      return pss.load(dir .. "/bad")
    end
    local s, msg, code = pss.load(dir .. "/none.pss")
    assert.is_nil(s)
    assert.equal(core.ERROR_FILE_NOT_FOUND, code)
    assert.matches("none.pss", msg, 1, true)
    for _, b in ipairs { "", "hello", bytes:sub(1, #bytes // 2), bytes:sub(1, 30) .. "x"
        .. bytes:sub(32) } do
      s, msg, code = load_bytes(b)
      assert.is_nil(s)
      assert.equal(core.ERROR_BAD_FORMAT, code, msg)
      assert.matches("^load: ", msg)
    end
    raises("path or file", function () pss.load(42) end)
    raises("path or file", function () snap:save({}) end)
  end)
end)

describe("pss.load of a core", function ()
  it("gives gcore's threads, registers and memory as a live capture saw them", function ()
    if os.execute("command -v gcore >/dev/null") ~= true then
      pending("gcore (gdb) is not installed")
      return
    end
    local dir = support.temp_dir()
    local t <close> = support.start_stack_target("--threads 2")
    local live <close> = assert(pss.capture(t.pid, { "threads", "thread_context", "va_space",
      "va_clone" }))
    -- gdb runs without the LD_PRELOAD of a sanitized run (libasan would stop it)
    assert.is_true(os.execute(("env -u LD_PRELOAD timeout 120 gcore -o %s/core %d >/dev/null 2>&1")
      :format(support.quote(dir), t.pid)))
    local snap <close> = assert(pss.load(("%s/core.%d"):format(dir, t.pid)))
    support.remove_dir(dir)
    assert.equal("core", snap:query("process").capture_mode)
    assert.is_false(snap:captured("handles"))
    local want = {}
    for th in live:threads() do want[th.tid] = th end
    local n = 0
    for th in snap:threads() do
      local w = assert(want[th.tid], "thread " .. th.tid)
      assert.equal(w.context.rip, th.context.rip)
      assert.equal(w.context.rsp, th.context.rsp)
      -- the bytes at the stack pointer, from the core's memory and the clone's
      assert.equal(live:read(w.context.rsp, 256), snap:read(th.context.rsp, 256))
      n = n + 1
    end
    assert.equal(#t.threads, n)
  end)
end)

describe("the commands take a file where they take a pid", function ()
  local dir
  before_each(function () dir = support.temp_dir() end)
  after_each(function () support.remove_dir(dir) end)

  it("pss save, then show, threads, maps, handles, stack and map of the file", function ()
    local t <close> = support.start_stack_target("--threads 2")
    local file = support.quote(dir .. "/app.pss")
    local status, out, err = run(("save %d -o %s"):format(t.pid, file))
    assert.equal(0, status, err)
    assert.equal("", out)
    assert.matches("snapshot of pid " .. t.pid, err, 1, true)
    local loaded <close> = assert(pss.load(dir .. "/app.pss"))
    status, out = run("show --json " .. file)
    assert.equal(0, status)
    assert.equal(pss.json(loaded) .. "\n", out)
    for _, cmd in ipairs { "threads", "maps", "handles" } do
      status, out, err = run(cmd .. " " .. file)
      assert.equal(0, status, err)
      assert.truthy(#out > 0)
    end
    status, out = run("stack " .. file)
    assert.equal(0, status)
    assert.matches("stack_block", out, 1, true)
    status, out = run("map " .. file .. " -o -")
    assert.equal(0, status)
    assert.matches("<svg", out, 1, true)
  end)

  it("pss save -o - | pss show -, and --memory", function ()
    local t <close> = support.start_stack_target("--threads 1")
    local status, out, err = run(("save %d -o - | bin/pss show --json -"):format(t.pid))
    assert.equal(0, status, err)
    assert.matches('"pid":' .. t.pid, out, 1, true)
    local file = dir .. "/mem.pss"
    status, out, err = run(("save %d --memory -o %s"):format(t.pid, support.quote(file)))
    assert.equal("", out)
    assert.equal(0, status, err)
    assert.matches("with its memory", err, 1, true)
    local snap <close> = assert(pss.load(file))
    local th = assert(snap:threads()())
    assert.equal(8, #snap:read(th.context.rsp, 8))
  end)

  it("pss diff of two files, and of a file against the live process", function ()
    local t <close> = support.start_stack_target("--threads 1")
    local a, b = support.quote(dir .. "/a.pss"), support.quote(dir .. "/b.pss")
    assert.equal(0, (run(("save %d -o %s"):format(t.pid, a))))
    assert.equal(0, (run(("save %d -o %s"):format(t.pid, b))))
    local status, out, err = run(("diff %s %s"):format(a, b))
    assert.equal(0, status, err)
    assert.matches("^pss.diff %(pid " .. t.pid, out)
    status, out, err = run(("diff %s %d"):format(a, t.pid))
    assert.equal(0, status, err)
    assert.matches("threads: no change", out, 1, true)
    -- a file alone has nothing to be compared with; another process is refused
    status, out, err = run("diff " .. a)
    assert.equal("", out)
    assert.equal(1, status)
    assert.matches("a file is compared with another target", err, 1, true)
    status, out, err = run(("diff %s %d"):format(a, support.my_pid()))
    assert.equal("", out)
    assert.equal(1, status)
    assert.matches("different processes", err, 1, true)
  end)

  it("says what a file lacks, and refuses what is no file", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    local file = dir .. "/threads.pss"
    assert.is_true(snap:save(file))
    local status, _, err = run("handles " .. support.quote(file))
    assert.equal(1, status)
    assert.matches("the snapshot holds no handles", err, 1, true)
    status, _, err = run("show " .. support.quote(dir .. "/none"))
    assert.equal(2, status)
    assert.matches("nor a file", err, 1, true)
    status, _, err = run("show /etc/passwd")
    assert.equal(1, status)
    assert.matches("neither a pss snapshot nor an ELF core", err, 1, true)
    status, _, err = run("stack -n 2 " .. support.quote(file))
    assert.equal(1, status)
    assert.matches("one capture", err, 1, true)
  end)
end)
