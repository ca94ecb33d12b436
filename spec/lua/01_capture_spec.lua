-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 01: every module function, capture option and constant (docs/lua-api.md,
-- "Module functions").
local pss = require "pss"
local support = require "support"

--- The options Linux cannot capture (docs: nil, message, ERROR_NOT_SUPPORTED).
local UNSUPPORTED = { ipt_trace = true }

--- Which query classes a snapshot answers (the others raise "not captured").
local function captured (snap)
  local got = {}
  for _, class in ipairs { "threads", "handles", "va_space", "handle_trace", "performance",
      "va_clone" } do
    if pcall(snap.query, snap, class) then got[#got + 1] = class end
  end
  return table.concat(got, " ")
end

--- The entry of a list whose `key` equals value.
local function find (list, key, value)
  for _, e in ipairs(list) do
    if e[key] == value then return e end
  end
end

describe("pss.capture", function ()
  it("without options captures pss.default_options", function ()
    assert.same({ "threads", "handles", "va_space" }, pss.default_options)
    local t <close> = support.start("--threads 2")
    local snap <close> = assert(pss.capture(t.pid))
    assert.equal("threads handles va_space", captured(snap))
    local with <close> = assert(pss.capture(t.pid, pss.default_options))
    assert.equal(tostring(with), tostring(snap))
    assert.equal(("pss.snapshot (pid %d, 3 threads, %d handles, %d regions)"):format(
      t.pid, #support.numbers("/proc/" .. t.pid .. "/fd"), #support.maps(t.pid)), tostring(snap))
  end)

  it("pss.options maps every documented option name to its flags", function ()
    local details = pss.CAPTURE_HANDLE_NAME_INFORMATION | pss.CAPTURE_HANDLE_BASIC_INFORMATION
      | pss.CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION
    local expected = {
      threads = pss.CAPTURE_THREADS,
      thread_context = pss.CAPTURE_THREADS | pss.CAPTURE_THREAD_CONTEXT,
      thread_context_extended = pss.CAPTURE_THREADS | pss.CAPTURE_THREAD_CONTEXT
        | pss.CAPTURE_THREAD_CONTEXT_EXTENDED,
      handles = pss.CAPTURE_HANDLES | details,
      handle_values = pss.CAPTURE_HANDLES,
      handle_names = pss.CAPTURE_HANDLES | pss.CAPTURE_HANDLE_NAME_INFORMATION,
      handle_basic = pss.CAPTURE_HANDLES | pss.CAPTURE_HANDLE_BASIC_INFORMATION,
      handle_type_specific = pss.CAPTURE_HANDLES | pss.CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION,
      handle_trace = pss.CAPTURE_HANDLE_TRACE,
      va_space = pss.CAPTURE_VA_SPACE | pss.CAPTURE_VA_SPACE_SECTION_INFORMATION,
      va_regions = pss.CAPTURE_VA_SPACE,
      va_clone = pss.CAPTURE_VA_CLONE,
      ipt_trace = pss.CAPTURE_IPT_TRACE,
      measure_performance = pss.CREATE_MEASURE_PERFORMANCE,
      use_vm_allocations = pss.CREATE_USE_VM_ALLOCATIONS,
      breakaway = pss.CREATE_BREAKAWAY,
      force_breakaway = pss.CREATE_FORCE_BREAKAWAY,
      release_section = pss.CREATE_RELEASE_SECTION,
    }
    if pss.platform == "linux" then
      expected.stacks = pss.CAPTURE_THREADS | pss.CAPTURE_THREAD_CONTEXT | pss.CAPTURE_VA_SPACE
        | pss.CAPTURE_VA_SPACE_SECTION_INFORMATION | pss.LINUX_CAPTURE_STACKS
      expected.memory_usage = pss.CAPTURE_VA_SPACE | pss.LINUX_CAPTURE_MEMORY_USAGE
    end
    -- "the CREATE_* flags of those names": the optional breakaway carries its
    -- own bit and at most the breakaway bit it qualifies
    local optional = pss.options.breakaway_optional
    assert.is_true(optional & pss.CREATE_BREAKAWAY_OPTIONAL ~= 0)
    assert.equal(0, optional & ~(pss.CREATE_BREAKAWAY_OPTIONAL | pss.CREATE_BREAKAWAY))
    local names = {}
    for name, flags in pairs(pss.options) do
      names[#names + 1] = name
      if name ~= "breakaway_optional" then assert.equal(expected[name], flags, name) end
    end
    table.sort(names)
    local want = { "breakaway_optional" }
    for name in pairs(expected) do want[#want + 1] = name end
    table.sort(want)
    assert.same(want, names)
  end)

  it("takes each option alone and captures exactly its part", function ()
    local t <close> = support.start("--threads 1")
    local parts = {
      threads = "threads", handles = "handles", handle_values = "handles",
      handle_names = "handles", handle_basic = "handles", handle_type_specific = "handles",
      va_space = "va_space", va_regions = "va_space", handle_trace = "handle_trace",
      measure_performance = "performance", thread_context = "threads",
      thread_context_extended = "threads", va_clone = "va_clone", stacks = "threads va_space",
      memory_usage = "va_space",
    }
    for name in pairs(pss.options) do
      local snap, msg, code = pss.capture(t.pid, { name })
      if UNSUPPORTED[name] then
        assert.is_nil(snap, name)
        assert.equal(("PssCaptureSnapshot: not supported (pid %d)"):format(t.pid), msg)
        assert.equal(pss.ERROR_NOT_SUPPORTED, code, name)
      else
        assert.equal("snapshot", pss.type(snap), name .. ": " .. tostring(msg))
        assert.equal(parts[name] or "", captured(snap), name)
        assert.equal(t.pid, snap:query("process").pid, name)
        snap:free()
      end
    end
  end)

  it("handle options select the name, basic and type-specific parts", function ()
    local t <close> = support.start("--threads 0")
    local ev = t:fd("eventfd").fd
    local have = { handle_values = pss.HANDLE_HAVE_TYPE,
      handle_names = pss.HANDLE_HAVE_TYPE | pss.HANDLE_HAVE_NAME,
      handle_basic = pss.HANDLE_HAVE_TYPE | pss.HANDLE_HAVE_BASIC_INFORMATION,
      handle_type_specific = pss.HANDLE_HAVE_TYPE | pss.HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION,
      handles = pss.HANDLE_HAVE_TYPE | pss.HANDLE_HAVE_NAME | pss.HANDLE_HAVE_BASIC_INFORMATION
        | pss.HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION }
    for name, flags in pairs(have) do
      local snap <close> = assert(pss.capture(t.pid, { name }))
      local h = assert(find(support.entries(snap, "handles"), "handle", ev), name)
      assert.equal(flags, h.flags, name)
      assert.equal("eventfd", h.kind, name)
      assert.equal("anon_inode:[eventfd]", h.target, name)
      assert.equal("EventFd", h.type_name, name)
      assert.equal("event", h.object_type, name)
      assert.equal(flags & pss.HANDLE_HAVE_NAME ~= 0 and "anon_inode:[eventfd]" or nil,
        h.object_name, name)
      local basic = flags & pss.HANDLE_HAVE_BASIC_INFORMATION ~= 0
      assert.equal(basic and tonumber(support.fdinfo(t.pid, ev).flags, 8) or nil, h.open_flags, name)
      assert.equal(basic and 5 or nil, h.count, name)
      assert.equal(basic and 0 or nil, h.attributes, name)
      local arm = flags & pss.HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION ~= 0
      assert.same(arm and { manual_reset = false, signaled = true } or nil, h.event, name)
    end
  end)

  it("va_regions leaves out file names and image fields, va_space has them", function ()
    local t <close> = support.start("--threads 0")
    local m = t:map("file-private")
    local plain <close> = assert(pss.capture(t.pid, { "va_regions" }))
    local full <close> = assert(pss.capture(t.pid, { "va_space" }))
    local r1 = assert(find(support.entries(plain, "regions"), "base_address", m.start))
    local r2 = assert(find(support.entries(full, "regions"), "base_address", m.start))
    assert.is_nil(r1.mapped_file_name)
    assert.equal(m.path, r1.path)
    assert.equal(m.path, r2.mapped_file_name)
    local exe1 = assert(find(support.entries(plain, "regions"), "path", t.exe))
    local exe2 = assert(find(support.entries(full, "regions"), "path", t.exe))
    assert.equal(0, exe1.size_of_image)
    assert.equal(0, exe1.image_base)
    assert.is_true(exe2.size_of_image > 0)
    assert.equal(exe2.base_address, exe2.image_base)
  end)

  it("takes options combined", function ()
    local t <close> = support.start("--threads 2")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "handle_trace", "measure_performance", "use_vm_allocations", "breakaway",
      "breakaway_optional", "force_breakaway", "release_section" }))
    assert.equal("threads handles va_space handle_trace performance", captured(snap))
    assert.same({ section_handle = 0, size = 0 }, snap:query("handle_trace"))
    assert.equal(3, #support.entries(snap, "threads"))
    local perf = snap:query("performance")
    for _, name in ipairs(pss.fields("performance")) do
      assert.equal("number", type(perf[name]), name)
    end
    for _, part in ipairs { "threads", "handles", "va_space" } do
      assert.equal("integer", math.type(perf[part .. "_cycle_count"]))
      assert.is_true(perf[part .. "_wall_clock_period"] <= perf.total_wall_clock_period, part)
    end
    for _, none in ipairs { "va_clone", "aux_pages" } do
      assert.equal(0, perf[none .. "_cycle_count"])
      assert.equal(0, perf[none .. "_wall_clock_period"])
    end
  end)

  it("counts only the captured parts in the performance counters", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", "measure_performance" }))
    local perf = snap:query("performance")
    for _, part in ipairs { "handles", "va_space", "va_clone", "aux_pages" } do
      assert.equal(0, perf[part .. "_cycle_count"], part)
      assert.equal(0, perf[part .. "_wall_clock_period"], part)
    end
    assert.is_true(perf.threads_wall_clock_period <= perf.total_wall_clock_period)
  end)

  it("takes integer flags unchanged", function ()
    local t <close> = support.start("--threads 1")
    local none <close> = assert(pss.capture(t.pid, 0))
    assert.equal("", captured(none))
    assert.equal(("pss.snapshot (pid %d)"):format(t.pid), tostring(none))
    assert.equal(t.pid, none:query("process").pid)
    local some <close> = assert(pss.capture(t.pid, pss.CAPTURE_THREADS | pss.CAPTURE_HANDLES))
    assert.equal("threads handles", captured(some))
    local h = support.entries(some, "handles")[1]
    assert.equal(pss.HANDLE_HAVE_TYPE, h.flags)
    local all <close> = assert(pss.capture(t.pid, pss.CAPTURE_VA_SPACE | pss.CAPTURE_HANDLE_TRACE
      | pss.CREATE_MEASURE_PERFORMANCE | pss.CREATE_RELEASE_SECTION | pss.CREATE_USE_VM_ALLOCATIONS))
    assert.equal("va_space handle_trace performance", captured(all))
    for name, flags in pairs(pss.options) do
      if not UNSUPPORTED[name] then
        local a <close> = assert(pss.capture(t.pid, flags))
        assert.equal(captured(a), (function ()
          local b <close> = assert(pss.capture(t.pid, { name }))
          return captured(b)
        end)(), name)
      end
    end
  end)

  it("gives ERROR_NOT_SUPPORTED for the unsupported flags as integers too", function ()
    for _, flags in ipairs { pss.CAPTURE_IPT_TRACE, pss.CAPTURE_IPT_TRACE | pss.CAPTURE_VA_CLONE } do
      local snap, msg, code = pss.capture(pss.self, flags)
      assert.is_nil(snap)
      assert.matches("^PssCaptureSnapshot: not supported", msg)
      assert.equal(pss.ERROR_NOT_SUPPORTED, code)
    end
  end)

  it("raises on flags the library rejects, naming them", function ()
    for _, flags in ipairs { pss.CAPTURE_HANDLE_NAME_INFORMATION, pss.CAPTURE_RESERVED_00000002,
                             pss.CAPTURE_RESERVED_00000400, pss.CAPTURE_RESERVED_00004000,
                             pss.CAPTURE_VA_SPACE_SECTION_INFORMATION } do
      local ok, err = pcall(pss.capture, pss.self, flags)
      assert.is_false(ok)
      assert.matches("invalid capture flags " .. ("0x%x"):format(flags), err, 1, true)
    end
  end)

  it("takes context_flags with the option list", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", context_flags = 0x10001f }))
    assert.same({ threads_captured = 1, context_length = 0 }, snap:query("threads"))
    local none <close> = assert(pss.capture(pss.self, { context_flags = 0xffffffff }))
    assert.equal("", captured(none))
    -- context_flags choose the registers; CONTEXT_CONTROL alone: no rax
    local s <close> = assert(pss.capture(pss.self, { "thread_context",
      context_flags = pss.CONTEXT_CONTROL }))
    for t in s:threads() do
      assert.equal(pss.CONTEXT_CONTROL, t.context.context_flags)
      assert.is_nil(t.context.rax)
      assert.is_number(t.context.rip)
    end
    for _, bad in ipairs { -1, 1 << 32, 1.5, "1", true, {} } do
      assert.has_error(function () pss.capture(pss.self, { "threads", context_flags = bad }) end)
    end
  end)
end)

describe("pss.self", function ()
  it("captures the calling process", function ()
    local me = support.my_pid()
    local snap <close> = assert(pss.capture(pss.self))
    local p = snap:query("process")
    assert.equal(me, p.pid)
    assert.equal(support.readlink("/proc/" .. support.self() .. "/exe"), p.image_file_name)
    assert.matches(("^pss%%.snapshot %%(pid %d, 1 threads, %%d+ handles, %%d+ regions%%)$"):format(me),
      tostring(snap))
    local threads = support.entries(snap, "threads")
    assert.equal(#support.numbers("/proc/" .. support.self() .. "/task"), #threads)
    -- walked in tid order: after a pid wrap the main thread need not be first
    local main
    for _, th in ipairs(threads) do if th.tid == me then main = th end end
    assert.is_table(main)
    assert.equal(support.stat("/proc/" .. support.self() .. "/stat")[2], main.name)
  end)

  it("is a light userdata that is no snapshot", function ()
    assert.equal("userdata", type(pss.self))
    assert.is_nil(pss.type(pss.self))
    assert.is_nil(getmetatable(pss.self))
  end)
end)

describe("pss.type", function ()
  it("tells snapshots and markers, live and freed, like io.type", function ()
    local snap = assert(pss.capture(pss.self, { "threads" }))
    local m = snap:marker()
    assert.equal("snapshot", pss.type(snap))
    assert.equal("marker", pss.type(m))
    m:free()
    assert.equal("freed marker", pss.type(m))
    snap:free()
    assert.equal("freed snapshot", pss.type(snap))
    for _, other in ipairs { 1, "snapshot", {}, io.stdout, print, true, pss.self, pss } do
      assert.is_nil(pss.type(other))
    end
    assert.is_nil(pss.type(nil))
    assert.has_error(function () pss.type() end)
  end)
end)

describe("pss.errname and pss.errnames", function ()
  it("gives the documented short names", function ()
    local names = {
      [pss.ERROR_ACCESS_DENIED] = "access denied",
      [pss.ERROR_INVALID_PARAMETER] = "no such process",
      [pss.ERROR_PROCESS_ABORTED] = "process exited",
      [pss.ERROR_NOT_SUPPORTED] = "not supported",
      [pss.ERROR_NOT_ENOUGH_MEMORY] = "out of memory",
      [pss.ERROR_INVALID_HANDLE] = "invalid handle",
      [pss.ERROR_NOT_FOUND] = "not captured",
      [pss.ERROR_GEN_FAILURE] = "system error",
      [pss.ERROR_BUSY] = "traced by another process",
      [pss.ERROR_NO_PROC_SLOTS] = "no process slots",
      [pss.ERROR_PARTIAL_COPY] = "partial read",
      [pss.ERROR_TIMEOUT] = "timed out",
      [pss.ERROR_DISK_FULL] = "disk full",
      [pss.ERROR_FILE_TOO_LARGE] = "file too large",
      [pss.ERROR_BROKEN_PIPE] = "broken pipe",
      [pss.ERROR_BAD_FORMAT] = "bad format",
      [pss.ERROR_FILE_NOT_FOUND] = "no such file",
    }
    assert.same(names, pss.errnames)
    for code, name in pairs(names) do assert.equal(name, pss.errname(code)) end
    assert.equal("error 12345", pss.errname(12345))
    assert.equal("error 0", pss.errname(pss.ERROR_SUCCESS))
    assert.equal("error 31337", pss.errname(31337))
  end)

  it("is the table behind errname", function ()
    pss.errnames[777] = "seven"
    local got = pss.errname(777)
    pss.errnames[777] = nil
    assert.equal("seven", got)
  end)
end)

describe("pss.fields", function ()
  local records = { "process", "thread", "handle", "region", "thread_name", "performance",
    "process_arm", "thread_arm", "mutant_arm", "event_arm", "section_arm", "semaphore_arm" }

  it("lists unique field names for every record", function ()
    for _, rec in ipairs(records) do
      local list = pss.fields(rec)
      assert.is_true(#list > 0, rec)
      local seen = {}
      for _, name in ipairs(list) do
        assert.matches("^[%l_][%l%d_]*$", name)
        assert.is_nil(seen[name], rec .. "." .. name .. " twice")
        seen[name] = true
      end
    end
    assert.same({ "thread_name" }, pss.fields("thread_name"))
    assert.same({ "manual_reset", "signaled" }, pss.fields("event_arm"))
    assert.same({ "current_count", "maximum_count" }, pss.fields("semaphore_arm"))
  end)

  it("returns a fresh list each time", function ()
    local a = pss.fields("thread")
    a[1] = "changed"
    assert.are_not.equal("changed", pss.fields("thread")[1])
  end)
end)

describe("pss.allocations", function ()
  it("returns blocks and bytes, both integers, rising with a marker", function ()
    support.collect()
    local blocks, bytes = pss.allocations()
    assert.equal("integer", math.type(blocks))
    assert.equal("integer", math.type(bytes))
    local snap <close> = assert(pss.capture(pss.self, { "threads" }))
    do
      local m <close> = snap:marker()
      assert.equal("marker", pss.type(m))
      local b2, y2 = pss.allocations()
      assert.is_true(b2 > blocks and y2 > bytes)
    end
    assert.same({ blocks, bytes }, { pss.allocations() })
  end)
end)

describe("constants", function ()
  -- the Windows values (processsnapshot.h, winerror.h, winnt.h)
  local windows = require("windows_values").constants

  it("has every documented constant with its Windows value", function ()
    for name, value in pairs(windows) do
      assert.equal("integer", math.type(pss[name]), name)
      assert.equal(value, pss[name], name)
    end
  end)

  it("has no constant of those families with a value not checked here", function ()
    assert.same({}, require("windows_values").unchecked(pss))
  end)

  it("includes the representative values of pss-api", function ()
    assert.equal(0x80, pss.CAPTURE_THREADS)
    assert.equal(0x80000000, pss.CREATE_RELEASE_SECTION)
    assert.equal(7, pss.QUERY_PERFORMANCE_COUNTERS)
    assert.equal(4, pss.WALK_THREAD_NAME)
    assert.equal(259, pss.ERROR_NO_MORE_ITEMS)
    assert.equal(1168, pss.ERROR_NOT_FOUND)
    assert.equal(24, pss.ERROR_BAD_LENGTH)
  end)
end)

describe("pss.sizes and pss.platform", function ()
  it("reports the x64 size of every structure of pss-api.md", function ()
    local expected = require("windows_values").sizes
    for name, size in pairs(expected) do assert.equal(size, pss.sizes[name], name) end
    for name in pairs(pss.sizes) do assert.is_not_nil(expected[name], name) end
  end)

  it("names the system the module was built for", function ()
    assert.equal("linux", pss.platform)
  end)
end)

describe("pss.sleep", function ()
  --- Seconds since boot, from /proc/uptime (10 ms resolution).
  local function uptime ()
    local f = assert(io.open("/proc/uptime"))
    local s = tonumber(f:read("a"):match("^(%S+)"))
    f:close()
    return s
  end

  it("pauses the calling thread for at least the time asked", function ()
    local t0 = uptime()
    assert.is_nil(pss.sleep(0.25))
    assert.is_true(uptime() - t0 >= 0.24)
    pss.sleep(0)
  end)

  it("raises on a time that is not a number in range", function ()
    for _, bad in ipairs { -1, 2e6 + 1, 0 / 0, "x", {} } do
      assert.has_error(function () pss.sleep(bad) end)
    end
  end)
end)
