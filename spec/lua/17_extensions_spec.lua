-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 17: integers given as floats, and what issue 11 added to the API:
-- ERROR_TIMEOUT, pss.wait_limit, command_line_truncated and long command
-- lines, snap:write_core to an open Lua file (docs/lua-api.md).
local pss = require "pss"
local support = require "support"

local raises = support.raises

--- A little-endian unsigned field of a string.
local function field (s, at, size)
  return string.unpack("<I" .. size, s, at + 1)
end

--- An ELF core's type and extent: where its last segment ends (what a
-- writer that leaves holes must still cover).
local function elf_core (s)
  assert.equal("\127ELF", s:sub(1, 4))
  local phoff, phsize, phnum = field(s, 32, 8), field(s, 54, 2), field(s, 56, 2)
  local extent = phoff + phsize * phnum
  for i = 0, phnum - 1 do
    local at = phoff + i * phsize
    extent = math.max(extent, field(s, at + 8, 8) + field(s, at + 32, 8))
  end
  return field(s, 16, 2), extent
end

local ET_CORE = 4

describe("integers given as floats", function ()
  it("are taken where they have an integer value", function ()
    local t <close> = support.start("--threads 1")
    local snap <close> = assert(pss.capture(t.pid + 0.0, { "threads", "va_space",
      context_flags = pss.CONTEXT_CONTROL + 0.0 }))
    assert.equal(t.pid, snap:query("process").pid)
    local raw <close> = assert(pss.capture(t.pid, pss.CAPTURE_THREADS + 0.0))
    assert.equal(("pss.snapshot (pid %d, 2 threads)"):format(t.pid), tostring(raw))
    assert.same(snap:query("va_space"), snap:query(pss.QUERY_VA_SPACE_INFORMATION + 0.0))
    local m <close> = snap:marker()
    assert.equal(t.pid, snap:walk(pss.WALK_THREADS + 0.0, m).tid)
    m:rewind()
    local start = m:position()
    assert.equal(start, math.tointeger(start + 0.0), "the position is exact as a float")
    snap:walk("threads", m)
    assert.equal(m, m:seek(start + 0.0))
    assert.equal(t.pid, snap:walk("threads", m).tid)
    assert.equal("no such process", pss.errname(pss.ERROR_INVALID_PARAMETER + 0.0))
  end)

  it("read memory: address and length as floats", function ()
    local snap <close> = assert(pss.capture(pss.self, { "va_clone", "va_space" }))
    for r in snap:regions() do
      if r.clone == "copy" and r.offset == 0 and r.path:match("lua") then
        assert.equal("\127ELF", snap:read(r.base_address + 0.0, 4.0))
        return
      end
    end
    error("no region of the interpreter's image")
  end)

  it("raise 'number has no integer representation' where they have none", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    local m <close> = snap:marker()
    for _, bad in ipairs { 1.5, -0.5, 0 / 0, math.huge, -math.huge, 2 ^ 63 } do
      local what = tostring(bad)
      for _, call in ipairs {
        { "capture target", pss.capture, bad }, { "capture flags", pss.capture, pss.self, bad },
        { "errname", pss.errname, bad }, { "query", snap.query, snap, bad },
        { "walk", snap.walk, snap, bad, m }, { "seek", m.seek, m, bad },
      } do
        local err = raises(table.unpack(call, 2))
        assert.matches("bad argument #%d", err, nil, false, call[1] .. " " .. what)
        assert.matches("number has no integer representation", err, 1, true, call[1] .. " " .. what)
      end
      assert.matches("context_flags must be an integer",
        raises(pss.capture, pss.self, { "threads", context_flags = bad }), 1, true, what)
    end
  end)

  it("out of range raise as the integers would", function ()
    for _, bad in ipairs { 0.0, -1.0, 2.0 ^ 31, 2.0 ^ 40 } do
      assert.matches("pid must be an integer in 1..2147483647", raises(pss.capture, bad), 1, true)
    end
    for _, bad in ipairs { -1.0, 2.0 ^ 32 } do
      assert.matches("flags out of range", raises(pss.capture, pss.self, bad), 1, true)
    end
  end)
end)

describe("ERROR_TIMEOUT", function ()
  it("is the Windows code, named 'timed out'", function ()
    assert.equal(1460, pss.ERROR_TIMEOUT)
    assert.equal("timed out", pss.errnames[pss.ERROR_TIMEOUT])
    assert.equal("timed out", pss.errname(pss.ERROR_TIMEOUT))
  end)
end)

describe("pss.wait_limit", function ()
  it("sets the limit in seconds, to the millisecond, and returns the one before", function ()
    local before = pss.wait_limit()
    local restore <close> = setmetatable({}, {   -- luacheck: ignore 211
      __close = function () pss.wait_limit(before) end })
    assert.equal("float", math.type(before))
    assert.is_true(before >= 0.001)
    assert.equal(before, pss.wait_limit())        -- asking changes nothing
    assert.equal(before, pss.wait_limit(0.25))
    assert.equal(0.25, pss.wait_limit())
    assert.equal(0.25, pss.wait_limit(1.0006))    -- 1000.6 ms: 1001
    assert.equal(1.001, pss.wait_limit(0.001))
    assert.equal(0.001, pss.wait_limit(2))
    assert.equal(2.0, pss.wait_limit(nil))
    -- the limit bounds waits only: a target that stops at once is captured
    local t <close> = support.start("--threads 2")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "thread_context" }))
    assert.equal(3, snap:query("threads").threads_captured)
  end)

  it("past it, a capture of the calling process fails cleanly and never kills it", function ()
    -- A thread of this process that does not stop in 1 ms (the keeper of
    -- a clone of another process) makes the freeze helper give up; then
    -- nothing may write to its pipe unguarded: SIGPIPE would kill the
    -- host. In a child lua5.4, so that a death fails this spec only.
    local t <close> = support.start("--threads 1")
    local script = ([[
      local pss = require "pss"
      local clone = assert(pss.capture(%d, { "va_clone", "threads" }))
      local timeouts = 0
      for i = 1, 100 do
        pss.wait_limit(i %% 2 == 0 and 0.001 or 0.05)
        local s, msg, code = pss.capture(pss.self, { "threads", "thread_context" })
        if s then s:free()
        else
          assert(code == pss.ERROR_TIMEOUT and msg:match("^PssCaptureSnapshot: timed out"), msg)
          timeouts = timeouts + 1
        end
      end
      clone:free()
      print("survived", timeouts)
    ]]):format(t.pid)
    local child = assert(io.popen(("%s lua5.4 -e '%s'"):format(support.lua_env(), script)))
    local out = child:read("a")
    local _, how, status = child:close()
    assert.same({ "exit", 0 }, { how, status }, "the child died: " .. out)
    assert.matches("^survived\t%d+\n$", out)
  end)

  it("raises for a limit that is not a number from 0.001 to 4294967.295", function ()
    local before = pss.wait_limit()
    for _, bad in ipairs { 0, 0.0004, -1, 0 / 0, math.huge, 4294968, "soon", {}, true } do
      assert.matches("bad argument #1", raises(pss.wait_limit, bad), 1, true, tostring(bad))
    end
    assert.equal(before, pss.wait_limit())
  end)
end)

describe("the command line", function ()
  it("is not truncated for an ordinary process", function ()
    local t <close> = support.start("--threads 0")
    local snap <close> = assert(pss.capture(t.pid, 0))
    assert.is_false(snap:query("process").command_line_truncated)
    local me <close> = assert(pss.capture(pss.self, 0))
    assert.is_false(me:query("process").command_line_truncated)
  end)

  it("comes whole past 64 KiB, as argv", function ()
    -- one argument of 70,013 bytes that the target reads as its number
    local long = "--exit-after=" .. ("0"):rep(70000) .. "300000"
    local t <close> = support.start("--threads 0 " .. long)
    local snap <close> = assert(pss.capture(t.pid, 0))
    local p = snap:query("process")
    local want = { support.target_path, "--threads", "0", long, "--exit-after", "300000" }
    assert.same(want, support.split0(support.read("/proc/" .. t.pid .. "/cmdline")))
    assert.equal(#want, #p.argv)
    for i, arg in ipairs(want) do   -- not assert.same: a 70 KB diff says nothing
      assert.is_true(arg == p.argv[i], ("argv[%d] has %d bytes, not %d"):format(i, #p.argv[i], #arg))
    end
    assert.is_false(p.command_line_truncated)
  end)
end)

describe("snap:write_core to an open Lua file", function ()
  local t, snap

  setup(function ()
    t = support.start("--threads 2")
    snap = assert(pss.capture(t.pid, { "va_clone", "threads", "thread_context" }))
  end)

  teardown(function ()
    snap:free()
    t:stop()
  end)

  it("writes after what the file buffered, the same core as to a path", function ()
    local by_path, by_file = os.tmpname(), os.tmpname()
    local clean <close> = setmetatable({}, { __close = function ()   -- luacheck: ignore 211
      os.remove(by_path)
      os.remove(by_file)
    end })
    assert.is_true(snap:write_core(by_path))
    local f = assert(io.open(by_file, "wb"))
    f:write("HEAD")                      -- still in the file's buffer
    assert.is_true(snap:write_core(f))
    assert.equal("file", io.type(f))
    f:close()
    local core, written = support.read(by_path), support.read(by_file)
    local kind, extent = elf_core(core)
    assert.equal(ET_CORE, kind)
    assert.equal(extent, #core)
    assert.equal("HEAD", written:sub(1, 4))
    assert.is_true(written:sub(5) == core, "the core on the file differs from the one on the path")
  end)

  it("works with io.stdout, a pipe or a file", function ()
    local script = ([[
      local pss = require "pss"
      local snap = assert(pss.capture(%d, { "va_clone", "threads", "thread_context" }))
      io.write("X")
      assert(snap:write_core(io.stdout))
    ]]):format(t.pid)
    local cmd = ("%s lua5.4 -e '%s'"):format(support.lua_env(), script)
    local pipe = assert(io.popen(cmd, "r"))
    local piped = pipe:read("a")
    assert.is_true(pipe:close())
    assert.equal("X", piped:sub(1, 1))
    local kind, extent = elf_core(piped:sub(2))
    assert.equal(ET_CORE, kind)
    assert.equal(extent, #piped - 1)   -- a pipe gets every byte, holes as zeros
    local path = os.tmpname()
    assert.is_true(os.execute(cmd .. " > " .. path))
    local filed = support.read(path)
    os.remove(path)
    assert.equal("X", filed:sub(1, 1))
    kind, extent = elf_core(filed:sub(2))
    assert.equal(ET_CORE, kind)
    assert.equal(extent, #filed - 1)
  end)

  it("raises for a closed file, a file not open for writing and anything else", function ()
    local path = os.tmpname()
    local clean <close> = setmetatable({}, { __close = function () os.remove(path) end })   -- luacheck: ignore 211
    local closed = assert(io.open(path, "wb"))
    closed:close()
    assert.matches("attempt to use a closed file", raises(snap.write_core, snap, closed), 1, true)
    local reading <close> = assert(io.open(path, "rb"))
    assert.matches("bad argument #2 to '.*' %(.*writing", raises(snap.write_core, snap, reading))
    for _, bad in ipairs { 42, {}, true, print, pss.self } do
      assert.matches("bad argument #2 to '.*' %(path or file expected", raises(snap.write_core, snap, bad))
    end
    assert.matches("path or file expected", raises(snap.write_core, snap))
    assert.equal("", support.read(path))
    -- what the snapshot lacks is found before the file is touched
    local bare <close> = assert(pss.capture(t.pid, { "threads" }))
    local f <close> = assert(io.open(path, "wb"))
    assert.matches("write_core: the snapshot has no VA clone", raises(bare.write_core, bare, f), 1, true)
  end)
end)
