-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 18: what the split of pss.core added: snap:captured(class), and the
-- Linux pss.core.processes() read in C (docs/lua-api.md).
local pss = require "pss"
local core = require "pss.core"
local support = require "support"

local raises = support.raises

--- Every class name snap:query or a walk takes.
local QUERY = { "process", "va_clone", "auxiliary_pages", "va_space", "handles", "threads",
  "handle_trace", "performance" }
local WALK = { threads = "threads", handles = "handles", regions = "regions",
  va_space = "regions", thread_names = "thread_names" }
local CLASSES = { "process", "va_clone", "auxiliary_pages", "va_space", "handles", "threads",
  "handle_trace", "performance", "regions", "thread_names" }

--- What snap:query and the walks say of a class: does it hold it?
local function held (snap, class)
  local known = false
  for _, q in ipairs(QUERY) do known = known or q == class end
  local by_query, by_walk
  if known then
    local ok, err = pcall(snap.query, snap, class)
    assert(ok or err:find("captured", 1, true), err)
    by_query = ok
  end
  if WALK[class] then
    local ok, err = pcall(function ()
      for _ in snap[WALK[class]](snap) do end
    end)
    assert(ok or err:find("captured", 1, true), err)
    by_walk = ok
  elseif class == "auxiliary_pages" then
    local m <close> = snap:marker()
    by_walk = pcall(snap.walk, snap, "auxiliary_pages", m)
  end
  if by_query ~= nil and by_walk ~= nil then
    assert.equal(by_query, by_walk, class .. ": the query and the walk disagree")
  end
  if by_query == nil then return by_walk end
  return by_query
end

--- The classes a snapshot holds by snap:captured, as a sorted list.
local function captured_list (snap)
  local list = {}
  for _, class in ipairs(CLASSES) do
    local yes = snap:captured(class)
    assert.equal("boolean", type(yes), class)
    assert.equal(held(snap, class), yes, class)
    if yes then list[#list + 1] = class end
  end
  table.sort(list)
  return table.concat(list, " ")
end

--- What each option gives beyond the process record (which every snapshot
-- holds), by snap:captured's names.
local PARTS = {
  threads = "thread_names threads", thread_context = "thread_names threads",
  thread_context_extended = "thread_names threads",
  handles = "handles", handle_values = "handles", handle_names = "handles",
  handle_basic = "handles", handle_type_specific = "handles",
  va_space = "regions va_space", va_regions = "regions va_space",
  handle_trace = "handle_trace", measure_performance = "performance", va_clone = "va_clone",
  stacks = "auxiliary_pages regions thread_names threads va_space",
  memory_usage = "regions va_space",
}

local function expected (parts)
  local list = { "process" }
  for part in (parts or ""):gmatch("%S+") do list[#list + 1] = part end
  table.sort(list)
  return table.concat(list, " ")
end

describe("snap:captured", function ()
  it("answers for each option alone what snap:query and the walks do", function ()
    local t <close> = support.start("--threads 1")
    for name in pairs(pss.options) do
      local snap, msg, code = pss.capture(t.pid, { name })
      if snap == nil then
        assert.equal(pss.ERROR_NOT_SUPPORTED, code, name .. ": " .. tostring(msg))
      else
        assert.equal(expected(PARTS[name]), captured_list(snap), name)
        snap:free()
      end
    end
  end)

  it("answers for no option, every option, raw flags and a duplicate", function ()
    local t <close> = support.start("--threads 2")
    local none <close> = assert(pss.capture(t.pid, 0))
    assert.equal("process", captured_list(none))
    local all <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "handle_trace", "measure_performance" }))
    local want = "handle_trace handles performance process regions thread_names threads va_space"
    assert.equal(want, captured_list(all))
    local dup <close> = assert(all:duplicate())
    assert.equal(want, captured_list(dup))
    all:free()
    assert.equal(want, captured_list(dup), "the duplicate outlives its source")
    local raw <close> = assert(pss.capture(t.pid, pss.CAPTURE_THREADS | pss.CAPTURE_VA_SPACE))
    assert.equal("process regions thread_names threads va_space", captured_list(raw))
  end)

  it("says whether a VA clone is there, and a clone is what snap:read reads", function ()
    local snap <close>, msg, code = pss.capture(pss.self, { "va_clone" })
    if snap == nil then
      assert.equal(pss.ERROR_NOT_SUPPORTED, code, msg)
      return
    end
    assert.is_true(snap:captured("va_clone"))
    assert.equal("process va_clone", captured_list(snap))
    local plain <close> = assert(pss.capture(pss.self, { "threads" }))
    assert.is_false(plain:captured("va_clone"))
    assert.matches("not captured", raises(plain.read, plain, 0, 1), 1, true)
  end)

  it("raises for an unknown class, a class that is not a name and a freed snapshot", function ()
    local snap = assert(pss.capture(pss.self, { "threads" }))
    assert.matches("bad argument #1 to 'captured' (unknown class 'nope')",
      raises(function () return snap:captured("nope") end), 1, true)
    assert.matches("bad argument #1 to 'captured' (unknown class 'regions_')",
      raises(function () return snap:captured("regions_") end), 1, true)
    for _, bad in ipairs { pss.QUERY_THREAD_INFORMATION, pss.WALK_THREADS, true, {} } do
      assert.matches("bad argument #1 to 'captured' %(string expected, got %a+%)",
        raises(function () return snap:captured(bad) end))
    end
    assert.matches("bad argument #1 to 'captured' %(string expected, got no value%)",
      raises(function () return snap:captured() end))
    assert.matches("pss.snapshot expected", raises(snap.captured, {}, "threads"))
    local m <close> = snap:marker()
    assert.matches("pss.snapshot expected", raises(snap.captured, m, "threads"))
    assert.is_true(snap:captured("threads", "extra arguments are ignored"))
    snap:free()
    assert.matches("attempt to use a freed snapshot", raises(snap.captured, snap, "threads"))
    assert.matches("attempt to use a freed snapshot", raises(snap.captured, snap, "nope"))
  end)
end)

--- /proc/PID/stat fields by proc(5) number, read here independently.
local function stat (pid)
  return support.stat(("/proc/%d/stat"):format(pid))
end

local function page_size ()
  local p = io.popen("getconf PAGESIZE")
  local n = tonumber(p:read("l"))
  p:close()
  return n
end

--- The name of a uid as `id` says it, or the uid as a string.
local function user_name (uid)
  local p = io.popen(("id -un %d 2>/dev/null"):format(uid))
  local name = p:read("l")
  p:close()
  return name or tostring(uid)
end

local function by_pid (list)
  local map = {}
  for _, p in ipairs(list) do map[p.pid] = p end
  return map
end

describe("pss.core.processes on Linux", function ()
  if core.platform ~= "linux" then
    it("is Linux's", function () pending("the ToolHelp list is checked on Windows") end)
    return
  end

  it("lists every process once, in pid order, each with its eight fields", function ()
    local before = support.numbers("/proc")
    local list = assert(core.processes())
    local after = support.numbers("/proc")
    assert.is_true(#list > 0)
    local types = { pid = "integer", ppid = "integer", name = "string", state = "string",
      uid = "integer", user = "string", threads = "integer", rss = "integer" }
    for i, p in ipairs(list) do
      if i > 1 then assert.is_true(list[i - 1].pid < p.pid, "sorted, no pid twice") end
      for k, kind in pairs(types) do
        assert.equal(kind, math.type(p[k]) or type(p[k]), k)
      end
      local n = 0
      for _ in pairs(p) do n = n + 1 end
      assert.equal(8, n, "no other field")
      assert.equal(1, #p.state)
      assert.is_true(p.threads >= 0 and p.rss >= 0 and p.pid > 0 and p.ppid >= 0)
    end
    -- other suites run meanwhile: only a pid there before and after must be listed
    local seen, was = by_pid(list), {}
    for _, pid in ipairs(before) do was[pid] = true end
    for _, pid in ipairs(after) do
      if was[pid] then assert.is_table(seen[pid], "pid " .. pid) end
    end
  end)

  it("reads the target's pid, ppid, name, state, uid, user, threads and rss as /proc has them",
      function ()
    local t <close> = support.start("--threads 3")
    assert.is_true(support.settle(t))
    local p = assert(by_pid(assert(core.processes()))[t.pid])
    local st, status = stat(t.pid), support.status(t.pid)
    assert.equal(t.pid, p.pid)
    assert.equal(tonumber(st[4]), p.ppid)
    assert.equal(support.my_pid(), p.ppid, "the spec started it")
    assert.equal("pss-target", p.name)
    assert.equal(st[2], p.name)
    assert.equal("S", p.state)
    assert.equal(st[3], p.state)
    assert.equal(#t.threads, p.threads)
    assert.equal(tonumber(st[20]), p.threads)
    assert.equal(tonumber(status.Uid:match("^%d+")), p.uid)
    assert.equal(user_name(p.uid), p.user)
    assert.equal(tonumber(st[24]) * page_size(), p.rss)
    assert.is_true(p.rss > 0)
  end)

  it("lists this process and a zombie, with its state letter", function ()
    local z <close> = support.start_zombie(3)
    assert.is_true(support.wait_state(z.pid, "Z"))
    local seen = by_pid(assert(core.processes()))
    local me = assert(seen[support.my_pid()])
    assert.equal(tonumber(stat(me.pid)[4]), me.ppid)
    assert.equal((support.read(("/proc/%d/comm"):format(me.pid)):gsub("\n$", "")), me.name)
    local zombie = assert(seen[z.pid])
    assert.equal("Z", zombie.state)
    assert.equal(0, zombie.rss)
  end)

  it("needs no lfs, no /etc/passwd and no getconf: a child without them lists the same",
      function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local script = [[
      package.preload.lfs = function () error("lfs must not be loaded") end
      local open = io.open
      io.open = function (path, ...)
        assert(not tostring(path):find("passwd", 1, true), "/etc/passwd must not be read")
        return open(path, ...)
      end
      io.popen = function () error("io.popen must not be used") end
      os.execute = function () error("os.execute must not be used") end
      local list = assert(require("pss.core").processes())
      assert(package.loaded.lfs == nil)
      for _, p in ipairs(list) do
        if p.pid == ]] .. t.pid .. [[ then
          io.write(p.name, " ", p.state, " ", p.threads, " ", p.user, "\n")
        end
      end
    ]]
    local child = io.popen(("%s lua5.4 -e %s 2>&1"):format(support.lua_env(),
      support.quote(script)))
    local out = child:read("a")
    local ok = child:close()
    assert.is_true(ok, out)
    local p = assert(by_pid(assert(core.processes()))[t.pid])
    assert.equal(("pss-target S 2 %s\n"):format(p.user), out)
  end)

  it("ignores its arguments and leaves no file open", function ()
    local fds = support.fd_count()
    for _ = 1, 3 do assert.is_table(core.processes("ignored", 1)) end
    assert.equal(fds, support.fd_count())
  end)
end)
