-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 12: pss.json: snapshots, diffs and record lists as JSON, decoded again
-- with lua-cjson and compared with the snapshot's own tables; one JSON
-- type per field whatever its value; the schema of every document
-- (docs/lua-api.md "pss.json").
local cjson = require "cjson"
local pss = require "pss"
local diff = require("pss.diff").diff
local encode = require("pss.json").encode
local lines = require("pss.json").lines
local support = require "support"

local function set (list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

--- The fields the docs say are written as "0x..." strings.
local HEX = set { "peb_base_address", "entry_point", "affinity_mask", "teb_base_address",
  "win32_start_address", "last_syscall_first_argument", "last_syscall_arguments",
  "last_syscall_stack_pointer", "last_syscall_program_counter", "base_address",
  "allocation_base", "image_base", "rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "fs_base", "dr0", "dr1", "dr2", "dr3",
  "dr6", "dr7", "address", "pc", "module_start" }
--- The unsigned 64-bit fields (a negative Lua integer is 2^63 or more).
local UNSIGNED = set { "peak_virtual_size", "virtual_size", "peak_working_set_size",
  "working_set_size", "quota_peak_paged_pool_usage", "quota_paged_pool_usage",
  "quota_peak_non_paged_pool_usage", "quota_non_paged_pool_usage", "pagefile_usage",
  "peak_pagefile_usage", "private_usage", "start_time_ticks", "minor_faults", "major_faults",
  "resident_anon", "resident_file", "resident_shmem", "region_size", "maximum_size", "inode",
  "total_cycle_count", "threads_cycle_count", "handles_cycle_count", "va_space_cycle_count",
  "va_clone_cycle_count", "aux_pages_cycle_count", "freeze_cycle_count", "offset", "position",
  "count", "module_offset", "rss", "pss", "pss_dirty", "shared_clean", "shared_dirty",
  "private_clean", "private_dirty", "referenced", "anonymous", "ksm", "lazy_free",
  "anon_huge_pages", "shmem_pmd_mapped", "file_pmd_mapped", "shared_hugetlb", "private_hugetlb",
  "swap", "swap_pss", "locked" }
local BYTES = set { "fltsave", "xstate", "contents" }
local MAX_SAFE = (1 << 53) - 1

local function hex (s)
  return (s:gsub(".", function (c) return ("%02x"):format(c:byte()) end))
end

--- The unsigned value of a 64-bit integer, as a float (what a reader
-- with doubles gets for its exact decimal).
local function unsigned (v)
  return v < 0 and v + 18446744073709551616.0 or v + 0.0
end

--- got (decoded JSON) is what pss.json must make of want (a Lua value) in
-- the field named key: the rules of the docs, checked one by one.
local function same_json (want, got, key, path)
  path = path or "$"
  local kind = math.type(want) or type(want)
  if kind == "table" then
    assert.equal("table", type(got), path)
    for k, v in pairs(want) do
      same_json(v, got[k], type(k) == "string" and k or key, path .. "." .. tostring(k))
    end
    for k in pairs(got) do assert.is_not_nil(want[k], path .. ": extra field " .. tostring(k)) end
  elseif kind == "integer" then
    if HEX[key] then
      assert.equal(("0x%x"):format(want), got, path)
      assert.equal(want, math.tointeger(tonumber(got)), path)     -- parses back
    elseif UNSIGNED[key] then          -- a number, the unsigned value, whatever its size
      assert.equal("number", type(got), path)
      assert.equal(unsigned(want), got + 0.0, path)
    else                               -- a number, exact where a double holds it
      assert.equal("number", type(got), path)
      assert.equal(want + 0.0, got + 0.0, path)
    end
  elseif kind == "float" then
    assert.equal("number", type(got), path)
    assert.equal(want, got, path)                               -- exactly
  elseif kind == "string" then
    if BYTES[key] then assert.equal(hex(want), got, path)
    elseif utf8.len(want) then assert.equal(want, got, path)
    else assert.same({ hex = hex(want) }, got, path) end
  else
    assert.equal(want, got, path)
  end
end

--- Encodes value and decodes the text again; the text must be one JSON
-- value, UTF-8, with nothing around it.
local function round_trip (value)
  local text = encode(value)
  assert.is_string(text)
  assert.is_not_nil(utf8.len(text), "not UTF-8")
  assert.matches("^[%[{\"%-%dtfn]", text)
  assert.matches("[%]}\"%deln]$", text)
  return cjson.decode(text), text
end

local function entries (snap, method)
  return support.entries(snap, method)
end

describe("pss.json", function ()
  it("writes a snapshot as the records it gives", function ()
    local t <close> = support.start("--threads 2 --odd-name")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "measure_performance" }))
    local got, text = round_trip(snap)
    assert.same({ "handles", "performance", "process", "regions", "schema", "threads" },
      (function () local k = {} for n in pairs(got) do k[#k + 1] = n end table.sort(k) return k end)())
    assert.equal("pss/1", got.schema)
    same_json(snap:query("process"), got.process, nil, "$.process")
    same_json(snap:query("performance"), got.performance, nil, "$.performance")
    for _, class in ipairs { "threads", "handles", "regions" } do
      local want = entries(snap, class)
      assert.equal(#want, #got[class], class)
      same_json(want, got[class], nil, "$." .. class)
    end
    -- the same text every time: object keys are sorted
    assert.equal(text, encode(snap))
    assert.matches('^{"handles":%[{', text)
    -- addresses: "0x" and all 64 bits, [vsyscall] (2^63 and more) included
    local high = 0
    for i, r in ipairs(entries(snap, "regions")) do
      assert.equal(("0x%x"):format(r.base_address), got.regions[i].base_address)
      assert.equal(r.base_address, math.tointeger(tonumber(got.regions[i].base_address)))
      if r.base_address < 0 then
        high = high + 1
        assert.matches("^0xf%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$", got.regions[i].base_address)
      end
    end
    if support.read("/proc/self/maps"):match("\nffffffffff600000%-") then
      assert.is_true(high > 0, "no region at 2^63 or above")
    end
    assert.equal(("0x%x"):format(snap:query("process").entry_point), got.process.entry_point)
    assert.equal("table", type(got.process.argv))
    assert.equal(#snap:query("process").argv, #got.process.argv)
    -- a name that is not UTF-8: its exact bytes as hex
    local odd = 0
    for i, h in ipairs(entries(snap, "handles")) do
      if h.target == t.odd then
        odd = odd + 1
        assert.same({ hex = hex(t.odd) }, got.handles[i].target)
      end
    end
    for i, r in ipairs(entries(snap, "regions")) do
      if r.path == t.odd then
        odd = odd + 1
        assert.same({ hex = hex(t.odd) }, got.regions[i].path)
      end
    end
    assert.equal(2, odd)
  end)

  it("writes only what was captured, and lists of records", function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local got = round_trip(snap)
    assert.same({ "process", "schema", "threads" },
      (function () local k = {} for n in pairs(got) do k[#k + 1] = n end table.sort(k) return k end)())
    local bare <close> = assert(pss.capture(t.pid, 0))
    local text
    got, text = round_trip(bare)
    assert.matches('^{"process":{.*},"schema":"pss/1"}$', text)
    -- a snapshot inside another value is a value, not a document
    assert.is_nil(round_trip({ bare }).schema)
    assert.is_nil(round_trip({ bare })[1].schema)
    -- the entry lists a script makes (pss threads/handles/maps --json)
    local regions <close> = assert(pss.capture(t.pid, { "va_space", "handles" }))
    for _, class in ipairs { "regions", "handles" } do
      local list = entries(regions, class)
      got = round_trip(list)
      same_json(list, got, nil, "$")
      assert.equal(#list, #got)
    end
    local list = entries(snap, "threads")
    same_json(list, (round_trip(list)))
  end)

  it("writes registers as 0x strings and the FXSAVE image as hex", function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local snap <close>, msg, code = pss.capture(t.pid, { "thread_context" })
    if not snap then
      assert.equal(pss.ERROR_NOT_SUPPORTED, code, msg)   -- not x86-64
      return
    end
    local want = entries(snap, "threads")
    local got = round_trip(want)
    same_json(want, got)
    local c, g = want[1].context, got[1].context
    assert.equal(("0x%x"):format(c.rip), g.rip)
    assert.equal(c.rsp, math.tointeger(tonumber(g.rsp)))
    assert.equal(1024, #g.fltsave)
    assert.equal(c.fltsave, support.unhex(g.fltsave))
    assert.equal(c.eflags, g.eflags)
  end)

  it("writes a diff with its lists in key order and empty lists as []", function ()
    local t <close> = support.start("--threads 1 --changes")
    assert.is_true(support.settle(t))
    local a <close> = assert(pss.capture(t.pid))
    assert.is_true(os.execute("kill -USR2 " .. t.pid))
    for line in t.pipe:lines() do if line == "change done" then break end end
    assert.is_true(support.settle(t))
    local b <close> = assert(pss.capture(t.pid))
    local d = diff(a, b)
    local got, text = round_trip(d)
    assert.equal("pss/1", got.schema)
    assert.is_nil(d.schema)                -- the diff itself is left as it was
    assert.equal(t.pid, got.pid)
    assert.equal(d.interval, got.interval)
    local function ordered (map)
      local k = {}
      for key in pairs(map) do k[#k + 1] = key end
      table.sort(k, math.ult)
      local list = {}
      for i, key in ipairs(k) do list[i] = map[key] end
      return list
    end
    for section, lists in pairs { threads = { "started", "ended" },
        handles = { "opened", "closed", "retargeted" },
        regions = { "mapped", "unmapped", "resized", "reprotected" } } do
      for _, name in ipairs(lists) do
        local want = ordered(d[section][name])
        local g = got[section][name]
        assert.equal(#want, #g, section .. "." .. name)
        same_json(want, g, nil, "$." .. section .. "." .. name)
      end
    end
    assert.equal(1, #got.threads.started)
    assert.equal(2, #got.handles.opened)
    assert.is_true(got.handles.opened[1].handle < got.handles.opened[2].handle)
    assert.matches('"retargeted":[]', text, 1, true)
    assert.equal(0, #got.handles.retargeted)
    same_json(d.counters, got.counters, nil, "$.counters")
    assert.matches('"counters":{"handles_captured":{"after":', text, 1, true)
    for _, r in ipairs(got.regions.resized) do
      assert.matches("^0x%x+$", r.before.base_address)
      assert.equal(r.before.base_address, r.after.base_address)
    end

    -- nothing changed: every list [], the counters still an object
    local same = diff(a, a)
    got, text = round_trip(same)
    for _, name in ipairs { "started", "ended", "opened", "closed", "retargeted", "mapped",
                            "unmapped", "resized", "reprotected" } do
      assert.matches(('"%s":[]'):format(name), text, 1, true)
    end
    assert.matches('"counters":{', text, 1, true)
    assert.equal(0, got.interval)
  end)

  it("writes a process list, empty lists, big integers and exact floats", function ()
    local procs = {
      { pid = 1, ppid = 0, name = "init", state = "S", uid = 0, user = "root", threads = 1, rss = 8192 },
      { pid = 4194303, ppid = 1, name = "odd-\xff-name", state = "R", uid = 1000, user = "u",
        threads = 12, rss = 123456789012 },
    }
    local got, text = round_trip(procs)
    same_json(procs, got)
    assert.equal("odd-\xff-name", support.unhex(got[2].name.hex))
    assert.equal(1, text:find('[{"name":"init","pid":1,"ppid":0,"rss":8192,"state":"S","threads":1,'
      .. '"uid":0,"user":"root"},{', 1, true))
    assert.equal("[]", encode({}))
    assert.equal('{"list":[],"nested":[[],[[]]]}', encode({ list = {}, nested = { {}, { {} } } }))
    -- integers beyond 2^53 - 1 as numbers too, their exact decimals; floats exactly
    local numbers = { safe = MAX_SAFE, unsafe = MAX_SAFE + 2, low = -MAX_SAFE - 1,
      max = math.maxinteger, min = math.mininteger, third = 1 / 3, tenth = 0.1,
      huge = 1e300, tiny = 5e-324, negative = -2.5, whole = 3.0, zero = 0 }
    got, text = round_trip(numbers)
    same_json(numbers, got)
    assert.matches('"safe":9007199254740991,', text, 1, true)
    assert.matches('"unsafe":9007199254740993,', text, 1, true)
    assert.matches('"low":-9007199254740992,', text, 1, true)
    assert.matches('"max":9223372036854775807,', text, 1, true)
    assert.matches('"min":-9223372036854775808,', text, 1, true)
    assert.matches('"tenth":0.1,', text, 1, true)
    assert.matches('"whole":3,', text, 1, true)
    -- the named fields, wherever they are
    local fields = { base_address = -10485760, inode = -1, region_size = 4096,
      last_syscall_arguments = { 0, -1, 0x7ffd1234 }, fltsave = "\0\1\255", name = "a/b\n\"c\"" }
    got, text = round_trip(fields)
    same_json(fields, got)
    assert.matches('"base_address":"0xffffffffff600000"', text, 1, true)
    assert.matches('"inode":18446744073709551615,', text, 1, true)
    assert.matches('"last_syscall_arguments":["0x0","0xffffffffffffffff","0x7ffd1234"]', text, 1, true)
    assert.matches('"fltsave":"0001ff"', text, 1, true)
    assert.matches('"name":"a/b\\n\\"c\\""', text, 1, true)
    -- exactly the documented fields are special
    for name in pairs(HEX) do
      assert.equal(('{"%s":"0xff"}'):format(name), encode({ [name] = 255 }))
    end
    for name in pairs(UNSIGNED) do
      assert.equal(('{"%s":18446744073709551615}'):format(name), encode({ [name] = -1 }))
      assert.equal(('{"%s":9223372036854775808}'):format(name), encode({ [name] = math.mininteger }))
      assert.equal(('{"%s":4096}'):format(name), encode({ [name] = 4096 }))
    end
    for name in pairs(BYTES) do
      assert.equal(('{"%s":"41"}'):format(name), encode({ [name] = "A" }))
    end
    for _, name in ipairs { "handle", "nice", "processor", "syscall_number", "pid", "tid",
                            "flags", "eflags", "delta", "before", "after" } do
      assert.equal(('{"%s":-1}'):format(name), encode({ [name] = -1 }))
      assert.equal(('{"%s":"A"}'):format(name), encode({ [name] = "A" }))
    end
    local module = require "pss.json"
    for _, pair in ipairs { { HEX, module.hex_fields }, { UNSIGNED, module.unsigned_fields },
                            { BYTES, module.bytes_fields } } do
      assert.same(pair[1], pair[2])
    end
    assert.equal("true", encode(true))
    assert.equal('"x"', encode("x"))
    assert.equal("null", encode(cjson.null))
  end)

  it("gives a field one JSON type, for small values and beyond 2^53", function ()
    -- a crafted region record and process entry: the same fields, small and large
    local small = { region_size = 4096, inode = 12, rss = 0, count = 1, pid = 7,
      base_address = 0x1000 }
    local large = { region_size = (1 << 53) + 1, inode = -2, rss = math.maxinteger,
      count = -1, pid = math.mininteger, base_address = -4096 }
    local a, b = round_trip(small), round_trip(large)
    for k in pairs(small) do
      assert.equal(type(a[k]), type(b[k]), k)
      assert.equal(HEX[k] and "string" or "number", type(b[k]), k)
    end
    local text = encode(large)
    for _, exact in ipairs { '"region_size":9007199254740993', '"inode":18446744073709551614',
        '"rss":9223372036854775807', '"count":18446744073709551615',
        '"pid":-9223372036854775808', '"base_address":"0xfffffffffffff000"' } do
      assert.matches(exact, text, 1, true)
    end
    -- a real capture: every field of every record has one JSON type
    local t <close> = support.start("--threads 2 --resident 8")
    assert.is_true(support.settle(t))
    local options = { "threads", "handles", "va_space", "measure_performance" }
    if pss.options.memory_usage then options[#options + 1] = "memory_usage" end
    local snap <close> = assert(pss.capture(t.pid, options))
    local got = round_trip(snap)
    for _, class in ipairs { "threads", "handles", "regions" } do
      local types = {}
      for i, e in ipairs(got[class]) do
        for k, v in pairs(e) do
          local kind = type(v) == "string" and v:find("^0x%x+$") and "hex" or type(v)
          types[k] = types[k] or kind
          assert.equal(types[k], kind, ("%s[%d].%s"):format(class, i, k))
        end
      end
      for k, kind in pairs(types) do
        if HEX[k] and kind ~= "table" then assert.equal("hex", kind, k) end   -- or a list of them
        if UNSIGNED[k] then assert.equal("number", kind, k) end
      end
    end
    -- and each integer is written as its exact decimal
    local regions = support.entries(snap, "regions")
    local i = 0
    for line in lines(regions):gmatch("[^\n]+") do
      i = i + 1
      local r = regions[i]
      assert.is_true(r.region_size > 0 and (r.inode or 0) >= 0)   -- below 2^63
      assert.matches(('"region_size":%d[,}]'):format(r.region_size), line)
      if r.inode then assert.matches(('"inode":%d[,}]'):format(r.inode), line) end
    end
    assert.equal(#regions, i)
  end)

  it("writes JSON Lines: one record a line, each with the schema", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles" }))
    for _, class in ipairs { "threads", "handles" } do
      local want = entries(snap, class)
      local text = lines(want)
      assert.matches("\n$", text)
      local n = 0
      for line in text:gmatch("([^\n]*)\n") do
        n = n + 1
        assert.matches("^{.*}$", line)
        local got = cjson.decode(line)
        assert.equal("pss/1", got.schema)
        got.schema = nil
        same_json(want[n], got, nil, ("%s line %d"):format(class, n))
      end
      assert.equal(#want, n)
      assert.is_nil(want[1].schema)          -- the records are left as they were
    end
    assert.equal("", lines({}))
    local ok, err = pcall(lines, { { a = 1 }, 5 })
    assert.is_false(ok)
    assert.matches("pss.json: cannot encode a line that is not a record (a number) at $[2]", err,
      1, true)
    ok, err = pcall(lines, { { a = 1 }, { f = print } })
    assert.is_false(ok)
    assert.matches("a function at $[2].f", err, 1, true)
  end)

  it("raises on what JSON cannot hold", function ()
    local t <close> = support.start("--threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local marker <close> = snap:marker()
    local freed = assert(pss.capture(t.pid, { "threads" }))
    freed:free()
    local cycle = { a = 1 }
    cycle.self = cycle
    local cases = {
      { print, "a function at $" },
      { { 1, { x = print } }, "a function at $[2].x" },
      { { co = coroutine.create(print) }, "a thread at $.co" },
      { { v = 0 / 0 }, "at $.v" },
      { { v = math.huge }, "inf at $.v" },
      { { -math.huge }, "-inf at $[1]" },
      { { 1, 2, nil, 4 }, "not 1..n" },
      { { [0] = 1 }, "not 1..n" },
      { { 1, x = 2 }, "both string and integer keys" },
      { { [1.5] = 1 }, "a float key" },
      { { [true] = 1 }, "a boolean key" },
      { cycle, "a table that contains itself at $.self" },
      { { io.stdout }, "a userdata at $[1]" },
      { { m = marker }, "a marker at $.m" },
      { freed, "a freed snapshot at $" },
      { { ["\xff"] = 1 }, "a key that is not UTF-8" },
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(encode, case[1])
      assert.is_false(ok, "case " .. i)
      assert.matches("pss.json: cannot encode ", err, 1, true, "case " .. i)
      assert.matches(case[2], err, 1, true, "case " .. i)
    end
    -- the error is the caller's
    local ok, err = pcall(function () local s = encode(print); return s end)
    assert.is_false(ok)
    assert.matches("12_json_spec.lua:%d+: pss.json: ", err)
    -- a shared (not cyclic) table is fine
    local shared = { 1 }
    assert.equal("[[1],[1]]", encode({ shared, shared }))
  end)
end)
