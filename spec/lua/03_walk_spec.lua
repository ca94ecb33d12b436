-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 03: snap:walk with markers, and the iterators (docs/lua-api.md "Snapshots",
-- "Walk markers").
local pss = require "pss"
local support = require "support"

--- Walk class (name or value) -> the iterator method that gives the same entries.
local CLASSES = {
  { "threads", "threads" }, { pss.WALK_THREADS, "threads" },
  { "handles", "handles" }, { pss.WALK_HANDLES, "handles" },
  { "regions", "regions" }, { "va_space", "regions" }, { pss.WALK_VA_SPACE, "regions" },
  { "thread_names", "thread_names" }, { pss.WALK_THREAD_NAME, "thread_names" },
}

local function walk_all (snap, class, m)
  local list = {}
  for _ = 1, 100000 do
    local e = snap:walk(class, m)
    if e == nil then return list end
    list[#list + 1] = e
  end
  error("the walk did not end")
end

describe("snap:walk", function ()
  local t, snap
  setup(function ()
    t = support.start("--threads 3 --extra-fds 20 --extra-maps 20")
    snap = assert(pss.capture(t.pid, { "threads", "handles", "va_space" }))
  end)
  teardown(function ()
    if snap then snap:free() end
    if t then t:stop() end
  end)

  it("gives the iterator's entries for each class name and WALK_* value, then nil", function ()
    for _, c in ipairs(CLASSES) do
      local m <close> = snap:marker()
      local list = walk_all(snap, c[1], m)
      local want = support.entries(snap, c[2])
      assert.is_true(#want > 0, tostring(c[1]))
      assert.same(want, list, tostring(c[1]))
      assert.is_nil(snap:walk(c[1], m))
      assert.is_nil(snap:walk(c[1], m))
    end
    assert.equal(4, #support.entries(snap, "threads"))
    assert.equal(#support.numbers("/proc/" .. t.pid .. "/fd"), #support.entries(snap, "handles"))
  end)

  it("resumes exactly where m:position() was taken, after m:seek()", function ()
    for _, class in ipairs { "threads", "handles", "regions", "thread_names" } do
      local m <close> = snap:marker()
      local all = walk_all(snap, class, m)
      m:rewind()
      local positions = {}
      for i = 1, #all do
        positions[i] = m:position()
        assert.equal("integer", math.type(positions[i]))
        assert.same(all[i], snap:walk(class, m), class)
      end
      local at_end = m:position()
      -- back to each position in a scrambled order: the walk goes on from there
      for k = 0, #all - 1 do
        local i = (k * 7) % #all + 1
        assert.equal(m, m:seek(positions[i]))
        assert.same(all[i], snap:walk(class, m), class .. " at " .. i)
        if i < #all then assert.same(all[i + 1], snap:walk(class, m), class .. " after " .. i) end
      end
      m:seek(at_end)
      assert.is_nil(snap:walk(class, m))
      m:seek(positions[2])
      local rest = walk_all(snap, class, m)
      assert.same({ table.unpack(all, 2) }, rest)
    end
  end)

  it("starts again after m:rewind()", function ()
    local m <close> = snap:marker()
    local first = snap:walk("handles", m)
    walk_all(snap, "handles", m)
    assert.equal(m, m:rewind())
    assert.same(first, snap:walk("handles", m))
    m:rewind()
    assert.same(support.entries(snap, "handles"), walk_all(snap, "handles", m))
  end)

  it("starts another class from its beginning with the same marker", function ()
    local m <close> = snap:marker()
    local handles = support.entries(snap, "handles")
    local regions = support.entries(snap, "regions")
    snap:walk("handles", m)
    snap:walk("handles", m)
    assert.same(regions[1], snap:walk("regions", m))
    assert.same(regions[2], snap:walk("regions", m))
    assert.same(handles[1], snap:walk("handles", m))
    assert.same(support.entries(snap, "threads")[1], snap:walk("threads", m))
  end)

  it("raises on a position that is not one of the marker's", function ()
    local m <close> = snap:marker()
    local other <close> = snap:marker()
    for _ = 1, 5 do snap:walk("handles", other) end
    local foreign = other:position()
    for _, bad in ipairs { 12345, -1, math.maxinteger, math.mininteger, foreign } do
      local ok, err = pcall(m.seek, m, bad)
      assert.is_false(ok, tostring(bad))
      assert.matches("not a position of this marker", err, 1, true)
    end
    for _, bad in ipairs { "x", 1.5, {}, true } do
      assert.has_error(function () m:seek(bad) end)
    end
    assert.has_error(function () m:seek() end)
    -- the failed seeks left the marker where it was
    assert.same(support.entries(snap, "handles")[1], snap:walk("handles", m))
  end)

  it("raises on unknown classes and on things that are no marker", function ()
    local m <close> = snap:marker()
    for _, bad in ipairs { "bogus", "thread", 99, -1, 1.5, true, {} } do
      assert.has_error(function () snap:walk(bad, m) end, nil, tostring(bad))
    end
    local ok, err = pcall(snap.walk, snap, "bogus", m)
    assert.is_false(ok)
    assert.matches("unknown walk class 'bogus'", err, 1, true)
    ok, err = pcall(snap.walk, snap, 99, m)
    assert.is_false(ok)
    assert.matches("unknown walk class 99", err, 1, true)
    for _, bad in ipairs { snap, {}, "m", 1 } do
      ok, err = pcall(snap.walk, snap, "threads", bad)
      assert.is_false(ok)
      assert.matches("pss.marker expected", err, 1, true)
    end
    assert.has_error(function () snap:walk("threads") end)
  end)

  it("walks auxiliary pages only of a capture with stacks", function ()
    local m <close> = snap:marker()
    local why = pss.platform == "linux"
      and 'auxiliary_pages were not captured (capture with the "stacks" option)'
      or "auxiliary_pages are never captured"
    for _, class in ipairs { "auxiliary_pages", pss.WALK_AUXILIARY_PAGES } do
      local ok, err = pcall(snap.walk, snap, class, m)
      assert.is_false(ok)
      assert.matches(why, err, 1, true)
    end
    assert.matches(why, support.raises(snap.auxiliary_pages, snap), 1, true)
  end)
end)

describe("the iterators", function ()
  it("return step, nil, nil and a marker to close", function ()
    local snap <close> = assert(pss.capture(pss.self, { "threads", "handles", "va_space" }))
    for _, method in ipairs { "threads", "handles", "regions", "thread_names" } do
      local f, s, c, m = snap[method](snap)
      assert.equal("function", type(f))
      assert.is_nil(s)
      assert.is_nil(c)
      assert.equal("marker", pss.type(m))
      assert.equal("table", type(f()))
      m:free()
    end
  end)

  it("give thread_names in the order and with the names of threads", function ()
    local t <close> = support.start("--threads 4")
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local names, i = {}, 0
    for e in snap:thread_names() do names[#names + 1] = e.thread_name end
    for th in snap:threads() do
      i = i + 1
      assert.equal(th.name, names[i])
    end
    assert.equal(5, i)
    assert.same({ "pss-target", "worker-0", "worker-1", "worker-2", "worker-3" }, names)
  end)

  it("raise before the loop for a class that was not captured", function ()
    local cases = {
      { { "threads" }, "handles", 'handles were not captured (capture with the "handles" option)' },
      { { "threads" }, "regions", 'regions were not captured (capture with the "va_space" option)' },
      { { "handles" }, "threads", 'threads were not captured (capture with the "threads" option)' },
      { { "handles" }, "thread_names",
        'thread_names were not captured (capture with the "threads" option)' },
    }
    for _, case in ipairs(cases) do
      local snap <close> = assert(pss.capture(pss.self, case[1]))
      local body = 0
      local ok, err = pcall(function ()
        for _ in snap[case[2]](snap) do body = body + 1 end
      end)
      assert.is_false(ok, case[2])
      assert.matches(case[3], err, 1, true)
      assert.equal(0, body)
      local m <close> = snap:marker()
      ok, err = pcall(snap.walk, snap, case[2], m)
      assert.is_false(ok)
      assert.matches(case[3], err, 1, true)
    end
  end)
end)
