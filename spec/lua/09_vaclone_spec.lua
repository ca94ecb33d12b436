-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- The VA clone from Lua: snap:read, region.clone, query("va_clone").
local pss = require "pss"
local support = require "support"

--- The pid behind a process handle of this process: a pidfd (its fdinfo
-- says), or where pidfd_open is missing (valgrind) an fd of /proc/PID.
local function pidfd_pid (fd)
  local info = support.read(("/proc/self/fdinfo/%d"):format(fd)) or ""
  local link = support.readlink(("/proc/self/fd/%d"):format(fd)) or ""
  return tonumber(info:match("\nPid:%s*(%d+)") or link:match("^/proc/(%d+)$"))
end

--- The clone's pid, from the handle query("va_clone") gives.
local function clone_pid (snap)
  return assert(pidfd_pid(snap:query("va_clone").va_clone_handle))
end

local function exists (pid)
  return support.read(("/proc/%d/stat"):format(pid)) ~= nil
end

--- Waits (bounded) until pid is gone: a freed clone of another process is
-- reaped by init, which may take a few seconds.
local function gone (pid, seconds)
  local deadline = os.time() + seconds
  while exists(pid) and os.time() <= deadline do os.execute("sleep 0.02") end
  return not exists(pid)
end

--- A little-endian word of the live process, read from its mem file.
local function live_word (pid, address)
  local f = assert(io.open(("/proc/%d/mem"):format(pid), "rb"))
  f:seek("set", address)
  local bytes = f:read(8)
  f:close()
  return string.unpack("<I8", bytes)
end

describe("the VA clone", function ()
  it("of the calling process holds its memory and goes with the snapshot", function ()
    local snap = assert(pss.capture(pss.self, { "va_clone", "va_space" }))
    local pid = clone_pid(snap)
    assert.is_true(exists(pid))
    local image
    for r in snap:regions() do
      if r.type == "image" and r.offset == 0 and r.path and r.path:match("lua") then image = r break end
    end
    assert.truthy(image, "no image region of the interpreter")
    assert.equal("copy", image.clone)
    assert.equal("\127ELF", snap:read(image.base_address, 4))
    snap:free()
    assert.is_false(exists(pid))
  end)

  it("is released by the garbage collector", function ()
    local pid
    do
      local snap = assert(pss.capture(pss.self, { "va_clone" }))
      pid = clone_pid(snap)
    end
    collectgarbage()
    collectgarbage()
    assert.is_false(exists(pid))
  end)

  it("of another process keeps the capture instant while the process runs on", function ()
    local t <close> = support.start("--writer --threads 1")
    local w = assert(t.writer)
    local snap <close> = assert(pss.capture(t.pid, { "va_clone" }))
    local counter = string.unpack("<I8", assert(snap:read(w.counter, 8)))
    local buffer = assert(snap:read(w.buffer, w.bytes))
    assert.equal(w.bytes, #buffer)
    -- one instant: the buffer holds counter+1 up to some word, counter after it
    local words, boundary = w.bytes // 8, nil
    for i = 1, words do
      local v = string.unpack("<I8", buffer, (i - 1) * 8 + 1)
      if v == counter and not boundary then boundary = i
      elseif v ~= (boundary and counter or counter + 1) then
        error(("word %d is %d, counter %d, boundary %s"):format(i, v, counter, boundary))
      end
    end
    os.execute("sleep 0.05")
    assert.equal(counter, string.unpack("<I8", snap:read(w.counter, 8)))
    assert.is_true(live_word(t.pid, w.counter) > counter)
    local pid = clone_pid(snap)
    snap:free()
    assert.is_true(gone(pid, 15))
  end)

  it("says for each region what it holds, and reads behave so", function ()
    local t <close> = support.start("--fork-maps --threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "va_clone", "va_space" }))
    local want = { ["fork-private"] = "copy", ["fork-shared"] = "shared",
      ["fork-dontfork"] = "absent", ["fork-wipe"] = "zeroed" }
    local seen = {}
    for r in snap:regions() do
      for kind, coverage in pairs(want) do
        if r.base_address == t:map(kind).start then
          assert.equal(coverage, r.clone, kind)
          seen[kind] = true
        end
      end
    end
    for kind in pairs(want) do assert.is_true(seen[kind], kind) end
    assert.equal(("\xa5"):rep(16), snap:read(t:map("fork-private").start, 16))
    assert.equal(("\0"):rep(16), snap:read(t:map("fork-wipe").start, 16))
    local bytes, msg, code = snap:read(t:map("fork-dontfork").start, 16)
    assert.equal("", bytes)
    assert.matches("only 0 of 16 bytes", msg)
    assert.equal(pss.ERROR_PARTIAL_COPY, code)
    assert.equal("partial read", pss.errname(code))
  end)

  it("writes a core file gdb opens: every thread where it was, the values of the instant",
    function ()
    if not io.open("/usr/bin/gdb") then
      print("# skipped: gdb is not installed")
      return
    end
    local t <close> = support.start("--threads 2 --parked --writer")
    local w = assert(t.writer)
    local snap <close> = assert(pss.capture(t.pid, { "va_clone", "threads", "thread_context" }))
    local counter = string.unpack("<I8", assert(snap:read(w.counter, 8)))
    local rips = {}
    for e in snap:threads() do rips[#rips + 1] = ("0x%x"):format(e.context.rip) end
    local core = os.tmpname()
    assert.is_true(snap:write_core(core))
    -- the target ran on while its core was written
    assert.is_true(live_word(t.pid, w.counter) > counter)
    -- gdb runs as itself: not with the sanitizer runtime the specs may preload
    local gdb = io.popen(("env -u LD_PRELOAD -u ASAN_OPTIONS DEBUGINFOD_URLS= "
      .. "gdb -nx -batch -iex 'set debuginfod enabled off' "
      .. "-ex 'info threads' -ex 'print (unsigned long long) pss_writer_counter' "
      .. "-ex 'thread apply all print/x $pc' %s %s 2>/dev/null"):format(t.exe, core))
    local out = gdb:read("a")
    gdb:close()
    os.remove(core)
    local threads = 0
    for _ in out:gmatch("\n[%s%*]+%d+%s+Thread 0x") do threads = threads + 1 end
    assert.equal(#rips, threads, out)
    assert.equal(tostring(counter), out:match("%$1 = (%d+)"), out)
    local pcs = {}
    for pc in out:gmatch("%$%d+ = (0x%x+)") do pcs[pc] = true end
    for _, rip in ipairs(rips) do assert.is_true(pcs[rip], rip .. " not in\n" .. out) end
  end)

  it("needs the clone and thread contexts to write a core", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", "thread_context" }))
    assert.has_error(function () snap:write_core("/nonexistent/core") end,
      "write_core: the snapshot has no VA clone (capture with PSS_CAPTURE_VA_CLONE)")
    local cloned <close> = assert(pss.capture(pss.self, { "va_clone" }))
    assert.has_error(function () cloned:write_core("/nonexistent/core") end,
      "write_core: the snapshot has no thread contexts (capture with " ..
      "PSS_CAPTURE_THREADS | PSS_CAPTURE_THREAD_CONTEXT)")
    local full <close> = assert(pss.capture(pss.self, { "va_clone", "threads", "thread_context" }))
    local ok, msg, code = full:write_core("/nonexistent/dir/core")
    assert.is_nil(ok)
    assert.matches("^write_core: ", msg)
    assert.equal("number", math.type(code) and "number")
  end)

  it("is needed to read memory, and reads check their arguments", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    assert.has_error(function () snap:read(0, 1) end,
      'memory contents were not captured (capture with the "va_clone" option)')
    local cloned = assert(pss.capture(pss.self, { "va_clone" }))
    assert.has_error(function () cloned:read(0, -1) end)
    assert.has_error(function () cloned:read("x", 1) end)
    assert.equal("", cloned:read(0, 0))
    cloned:free()
    assert.has_error(function () cloned:read(0, 1) end)
  end)
end)
