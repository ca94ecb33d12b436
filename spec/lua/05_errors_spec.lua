-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 05: bad input raises; runtime failures return nil, message, code
-- (docs/lua-api.md "Conventions").
local lfs = require "lfs"
local pss = require "pss"
local support = require "support"

--- Calls f(...) and returns the error it must raise.
local function raises (f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    local args = table.pack(...)
    for i = 1, args.n do args[i] = type(args[i]) == "string" and ("%q"):format(args[i]) or tostring(args[i]) end
    error(("no error raised for (%s)"):format(table.concat(args, ", ")), 2)
  end
  return tostring(err)
end

local WRONG = { nil, "12", {}, 1.5, true }   -- [1] is nil: iterate 1..5
local function each_wrong (f)
  for i = 1, 5 do f(WRONG[i], i) end
end

describe("bad arguments raise with a clear message", function ()
  it("pss.capture: the target", function ()
    each_wrong(function (v, i)
      assert.matches("bad argument #1 to 'capture'", raises(pss.capture, v), 1, true, "argument " .. i)
    end)
    for _, v in ipairs { 0, -1, -2147483648, 1 << 31, 1 << 40, math.maxinteger, math.mininteger,
                         2 ^ 40, print, io.stdout } do
      local err = raises(pss.capture, v)
      assert.matches("bad argument #1 to 'capture'", err, 1, true)
      assert.matches("pid", err, 1, true)
    end
    -- a float is taken as the integer it holds (docs/lua-api.md), and only then
    assert.matches("bad argument #1 to 'capture' (number has no integer representation)",
      raises(pss.capture, 2.5), 1, true)
  end)

  it("pss.capture: false as the options (a wrong type, not 'no options')", function ()
    assert.matches("bad argument #2 to 'capture'", raises(pss.capture, pss.self, false), 1, true)
  end)

  it("pss.capture: the options", function ()
    for _, v in ipairs { "threads", 1.5, true, print } do
      assert.matches("bad argument #2 to 'capture'", raises(pss.capture, pss.self, v), 1, true)
    end
    assert.matches("unknown capture option 'nope'", raises(pss.capture, pss.self, { "nope" }), 1, true)
    assert.matches("unknown capture option 'Threads'", raises(pss.capture, pss.self, { "Threads" }), 1, true)
    assert.matches("unknown capture option 1", raises(pss.capture, pss.self, { 1 }), 1, true)
    assert.matches("unknown capture option", raises(pss.capture, pss.self, { {} }), 1, true)
    assert.matches("unknown capture setting 'foo'", raises(pss.capture, pss.self, { foo = 1 }), 1, true)
    assert.matches("unknown capture setting 'threads'",
      raises(pss.capture, pss.self, { threads = true }), 1, true)
    assert.matches("context_flags", raises(pss.capture, pss.self, { context_flags = "1" }), 1, true)
    for _, v in ipairs { -1, 1 << 32, math.mininteger } do
      assert.matches("flags out of range", raises(pss.capture, pss.self, v), 1, true)
    end
  end)

  it("pss.type without an argument", function ()
    assert.matches("bad argument #1", raises(pss.type), 1, true)
  end)

  it("pss.errname with a code that is no integer", function ()
    each_wrong(function (v, i)
      assert.matches("errname", raises(pss.errname, v), 1, true, "argument " .. i)
    end)
  end)

  it("pss.fields with anything but a record name", function ()
    each_wrong(function (v, i)
      assert.matches("bad argument #1", raises(pss.fields, v), 1, true, "argument " .. i)
    end)
    for _, v in ipairs { "bogus", "threads", "Process", "" } do
      local err = raises(pss.fields, v)
      assert.matches("bad argument #1", err, 1, true)
      assert.matches(v, err, 1, true)
    end
  end)

  it("snap:query with an unknown class", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    each_wrong(function (v, i)
      assert.matches("bad argument #2", raises(snap.query, snap, v), 1, true, "argument " .. i)
    end)
    assert.matches("unknown query class 'bogus'", raises(snap.query, snap, "bogus"), 1, true)
    assert.matches("unknown query class 99", raises(snap.query, snap, 99), 1, true)
    assert.matches("unknown query class -1", raises(snap.query, snap, -1), 1, true)
    assert.matches("unknown query class 'va_regions'", raises(snap.query, snap, "va_regions"), 1, true)
  end)

  it("snap:query of a class that was not captured", function ()
    local snap <close> = assert(pss.capture(pss.self, 0))
    for class, option in pairs { threads = "threads", handles = "handles", va_space = "va_space",
        handle_trace = "handle_trace", performance = "measure_performance", va_clone = "va_clone" } do
      assert.matches(('%s were not captured (capture with the "%s" option)'):format(class, option),
        raises(snap.query, snap, class), 1, true)
    end
    assert.matches(pss.platform == "linux"
      and 'auxiliary_pages were not captured (capture with the "stacks" option)'
      or "auxiliary_pages are never captured", raises(snap.query, snap, "auxiliary_pages"), 1, true)
  end)

  it("snapshot and marker methods called on anything else", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    local m <close> = snap:marker()
    local smethods = getmetatable(snap).__index
    local mmethods = getmetatable(m).__index
    for _, name in ipairs { "query", "threads", "handles", "regions", "thread_names", "marker",
                            "duplicate", "free", "walk", "auxiliary_pages", "stack" } do
      for _, bad in ipairs { {}, "s", 1, m } do
        assert.matches("pss.snapshot expected", raises(smethods[name], bad, "threads", m), 1, true, name)
      end
    end
    for _, name in ipairs { "position", "seek", "rewind", "free" } do
      for _, bad in ipairs { {}, "m", 1, snap } do
        assert.matches("pss.marker expected", raises(mmethods[name], bad, 0), 1, true, name)
      end
    end
    assert.matches("pss.snapshot expected", raises(getmetatable(snap).__tostring, m), 1, true)
    assert.matches("pss.marker expected", raises(getmetatable(m).__tostring, snap), 1, true)
  end)

  it("m:seek with garbage", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", "handles" }))
    local m <close> = snap:marker()
    each_wrong(function (v, i)
      assert.matches("bad argument #2", raises(m.seek, m, v), 1, true, "argument " .. i)
    end)
    for _, v in ipairs { 0, 1, -1, 123456789, math.maxinteger, math.mininteger } do
      assert.matches("not a position of this marker", raises(m.seek, m, v), 1, true, tostring(v))
    end
  end)
end)

describe("a process that does not exist", function ()
  it("gives nil, 'no such process', ERROR_INVALID_PARAMETER", function ()
    for _, pid in ipairs { support.missing_pid(), 2147483647 } do
      assert.is_nil(lfs.attributes("/proc/" .. pid))
      local snap, msg, code = pss.capture(pid)
      assert.is_nil(snap)
      assert.equal(("PssCaptureSnapshot: no such process (pid %d)"):format(pid), msg)
      assert.equal(pss.ERROR_INVALID_PARAMETER, code)
      assert.equal("no such process", pss.errname(code))
      assert.equal(3, select("#", pss.capture(pid, { "threads" })))
      assert.equal(3, select("#", pss.capture(pid, 0)))
    end
  end)

  it("after it exited and was reaped gives the same (ERROR_INVALID_PARAMETER)", function ()
    local t <close> = support.start("--threads 1")
    local pid = t.pid
    assert.truthy(pss.capture(pid, 0))
    t:stop()
    assert.is_nil(lfs.attributes("/proc/" .. pid), "the pid was reused at once")
    local snap, msg, code = pss.capture(pid)
    assert.is_nil(snap)
    assert.equal(("PssCaptureSnapshot: no such process (pid %d)"):format(pid), msg)
    assert.equal(pss.ERROR_INVALID_PARAMETER, code)
  end)
end)

describe("a zombie", function ()
  it("is captured: exit_status is its exit code, its one thread is terminated", function ()
    local t <close> = support.start_zombie(7)
    assert.is_true(support.wait_state(t.pid, "Z"), "the target did not become a zombie")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space" }))
    local p = snap:query("process")
    assert.equal(7, p.exit_status)
    assert.equal(7 << 8, p.exit_code)
    assert.equal("Z", p.state)
    assert.equal(t.pid, p.pid)
    assert.equal("", p.image_file_name)
    assert.same({}, p.argv)
    assert.equal(0, p.entry_point)
    assert.equal(0, p.virtual_size)
    assert.equal(0, p.working_set_size)
    local threads = support.entries(snap, "threads")
    assert.equal(1, #threads)
    assert.equal(t.pid, threads[1].tid)
    assert.is_true(threads[1].terminated)
    assert.equal(pss.THREAD_FLAGS_TERMINATED, threads[1].flags)
    assert.equal(7, threads[1].exit_status)
    assert.equal("Z", threads[1].state)
    assert.equal(0, #support.entries(snap, "handles"))
    assert.equal(0, #support.entries(snap, "regions"))
    assert.equal(("pss.snapshot (pid %d, 1 threads, 0 handles, 0 regions)"):format(t.pid), tostring(snap))
  end)

  it("killed by a signal has exit_status 128 + the signal", function ()
    local t <close> = support.start("--threads 2")
    -- a killed target cannot remove its scratch directory: do it here
    local dir = assert(t:fd("directory").path:match("^/.*/pss%-target%.%w+$"))
    local rm <close> = setmetatable({}, { __close = function ()   -- luacheck: ignore 211
      os.execute(("rm -rf '%s'"):format(dir))
    end })
    os.execute("kill -KILL " .. t.pid)
    assert.is_true(support.wait_state(t.pid, "Z"), "the target did not become a zombie")
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local p = snap:query("process")
    assert.equal(128 + 9, p.exit_status)
    assert.equal(9, p.exit_code)
    local threads = support.entries(snap, "threads")
    assert.same({ 1, t.pid }, { #threads, threads[1].tid })   -- the zombie main thread only
    assert.equal(128 + 9, threads[1].exit_status)
  end)
end)

describe("options the system cannot capture", function ()
  it("give nil, message, ERROR_NOT_SUPPORTED", function ()
    local t <close> = support.start("--threads 1")
    for _, opts in ipairs { { "ipt_trace" }, { "threads", "handles", "ipt_trace" } } do
      local snap, msg, code = pss.capture(t.pid, opts)
      assert.is_nil(snap, opts[1])
      assert.equal(("PssCaptureSnapshot: not supported (pid %d)"):format(t.pid), msg)
      assert.equal(pss.ERROR_NOT_SUPPORTED, code)
      assert.equal("not supported", pss.errname(code))
    end
  end)
end)

describe("a process this user may not read", function ()
  it("gives nil, 'access denied (pid N)', ERROR_ACCESS_DENIED", function ()
    if not support.is_root then
      pending("needs root: the spec captures a root-owned target as nobody via setpriv")
    end
    local as_nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups"
    -- nobody may not be able to enter the checkout (a clone under a 0700
    -- directory): it runs a copy of the modules, in a directory of its own
    local copy <close> = support.public_modules()
    if not os.execute(("%s test -r %s"):format(as_nobody, support.quote(copy.core))) then
      pending(("nobody cannot read %s (a directory above it is closed to nobody): "
        .. "set TMPDIR to a directory every user may enter"):format(copy.core))
    end
    local t <close> = support.start("--threads 1")
    local script = ([[
      local pss = require "pss"
      for _, o in ipairs { "list", "zero", "default" } do
        local options = o == "list" and { "threads" } or o == "zero" and 0 or nil
        local s, m, c = pss.capture(%d, options)
        print(pss.type(s), m, c, c and pss.errname(c))
      end
      local own = pss.capture(pss.self, { "threads" })
      print("self", pss.type(own))
    ]]):format(t.pid)
    local cmd = ("cd %s && %s %s lua5.4 -e %s 2>&1"):format(support.quote(copy.dir), copy.env,
      as_nobody, support.quote(script))
    local pipe = assert(io.popen(cmd))
    local out = pipe:read("a")
    pipe:close()
    -- each capture: nil, the message (a reason may follow it), the code
    local lines, denied = {}, ("PssCaptureSnapshot: access denied (pid %d)"):format(t.pid)
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(4, #lines, out)
    for i = 1, 3 do
      local kind, message, code, name = lines[i]:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
      assert.same({ "nil", tostring(pss.ERROR_ACCESS_DENIED), "access denied" }, { kind, code, name }, out)
      assert.is_true(message == denied or message:sub(1, #denied + 2) == denied .. ": ", out)
    end
    assert.equal("self\tsnapshot", lines[4])
  end)
end)
