-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 04: lifetime of snapshots and markers: <close>, break, errors, double
-- free, use after free, the garbage collector, duplicates, tostring.
local pss = require "pss"
local support = require "support"

--- pss.allocations() as one comparable value.
local function allocations ()
  local blocks, bytes = pss.allocations()
  return blocks .. " blocks, " .. bytes .. " bytes"
end

local function capture (options)
  return assert(pss.capture(pss.self, options or { "threads", "handles", "va_space" }))
end

describe("<close>", function ()
  it("frees a snapshot and a marker at the end of their block", function ()
    support.collect()
    local before = allocations()
    local s, m
    do
      local snap <close> = capture()
      local marker <close> = snap:marker()
      s, m = snap, marker
      assert.is_table(snap:walk("regions", marker))
      assert.are_not.equal(before, allocations())
    end
    assert.equal("freed snapshot", pss.type(s))
    assert.equal("freed marker", pss.type(m))
    assert.equal(before, allocations())
  end)

  it("frees them when the block ends by an error", function ()
    support.collect()
    local before = allocations()
    local s, m
    local ok = pcall(function ()
      local snap <close> = capture()
      local marker <close> = snap:marker()
      s, m = snap, marker
      snap:walk("handles", marker)
      error("boom")
    end)
    assert.is_false(ok)
    assert.equal("freed snapshot", pss.type(s))
    assert.equal("freed marker", pss.type(m))
    assert.equal(before, allocations())
  end)
end)

describe("a generic for", function ()
  it("frees its marker at once on break", function ()
    local snap <close> = capture()
    support.collect()
    local before = allocations()
    for _, method in ipairs { "threads", "handles", "regions", "thread_names" } do
      local f, s, c, m = snap[method](snap)
      for _ in f, s, c, m do   -- luacheck: ignore 512
        assert.are_not.equal(before, allocations())
        break
      end
      assert.equal("freed marker", pss.type(m), method)
      assert.equal(before, allocations(), method)
      for _ in snap[method](snap) do break end   -- luacheck: ignore 512
      assert.equal(before, allocations(), method)
    end
  end)

  it("frees its marker when the body raises", function ()
    local snap <close> = capture()
    support.collect()
    local before = allocations()
    local f, s, c, m = snap:regions()
    local ok, err = pcall(function ()
      for r in f, s, c, m do
        if r then error("inside the loop") end
      end
    end)
    assert.is_false(ok)
    assert.matches("inside the loop", err)
    assert.equal("freed marker", pss.type(m))
    assert.equal(before, allocations())
  end)

  it("frees its marker when the loop ends normally", function ()
    local snap <close> = capture()
    support.collect()
    local before = allocations()
    local f, s, c, m = snap:handles()
    for _ in f, s, c, m do end
    assert.equal("freed marker", pss.type(m))
    assert.equal(before, allocations())
  end)
end)

describe("an iterator given extra arguments", function ()
  local ITERATORS = { "threads", "handles", "regions", "thread_names" }

  --- Values of every type, and pss objects: what a caller might pass.
  local function extras (other, other_marker, own_marker)
    local co = coroutine.create(function () end)
    return table.pack(nil, false, true, 0, -1, 1.5, 0 / 0, math.huge, "", "threads", {},
      setmetatable({}, { __index = function () error("must not be touched") end }), print, co,
      io.stdout, pss.self, pss, other, other_marker, own_marker)
  end

  it("ignores them, whatever their type, and never touches another snapshot", function ()
    local snap <close> = capture()
    local other <close> = capture({ "threads", "handles" })
    local other_marker <close> = other:marker()
    assert.is_table(other:walk("handles", other_marker))
    local where = other_marker:position()
    local own_marker <close> = snap:marker()
    local text = tostring(other)
    local want = {}
    for _, method in ipairs(ITERATORS) do want[method] = #support.entries(snap, method) end
    support.collect()
    local before = allocations()
    local values = extras(other, other_marker, own_marker)
    for i = 1, values.n do
      for _, method in ipairs(ITERATORS) do
        local n = 0
        for e in snap[method](snap, values[i]) do
          assert.is_table(e)
          n = n + 1
        end
        assert.equal(want[method], n, method .. " with extra argument " .. i)
        for _ in snap[method](snap, values[i], values[i], values[i]) do break end   -- luacheck: ignore 512
        assert.equal(before, allocations(), method)
        -- the other snapshot and its marker are as they were, and usable
        assert.equal("snapshot", pss.type(other), method .. " " .. i)
        assert.equal("marker", pss.type(other_marker), method .. " " .. i)
        assert.equal(where, other_marker:position())
        assert.equal(text, tostring(other))
        assert.equal("marker", pss.type(own_marker))
      end
    end
    assert.is_table(other:walk("handles", other_marker))
    assert.equal(#support.entries(other, "threads"), other:query("threads").threads_captured)
  end)

  it("has a step function that ignores its arguments too", function ()
    local snap <close> = capture()
    local other <close> = capture({ "threads" })
    local other_marker <close> = other:marker()
    local values = extras(other, other_marker, snap:marker())
    for _, method in ipairs(ITERATORS) do
      local f, s, c, m = snap[method](snap)
      local first = support.entries(snap, method)[1]
      assert.same(first, f(other, other_marker))
      for i = 1, values.n do f(values[i], values[i]) end
      m:free()
      assert.matches("attempt to use a freed marker", select(2, pcall(f, other)), 1, true)
      assert.is_nil(s)
      assert.is_nil(c)
    end
    assert.equal("snapshot", pss.type(other))
    assert.equal("marker", pss.type(other_marker))
    assert.is_table(other:walk("threads", other_marker))
  end)
end)

describe("free", function ()
  it("is harmless twice, for snapshots and markers", function ()
    local snap = capture()
    local m = snap:marker()
    assert.is_true(m:free())
    assert.is_true(m:free())
    assert.is_true(snap:free())
    assert.is_true(snap:free())
    assert.equal("freed snapshot", pss.type(snap))
    assert.equal("freed marker", pss.type(m))
  end)

  it("makes every later use of a snapshot raise 'freed'", function ()
    local snap = capture()
    local m <close> = capture():marker()
    snap:free()
    local uses = {
      function () snap:query("process") end,
      function () snap:threads() end,
      function () snap:handles() end,
      function () snap:regions() end,
      function () snap:thread_names() end,
      function () snap:marker() end,
      function () snap:walk("threads", m) end,
      function () snap:duplicate() end,
    }
    for i, use in ipairs(uses) do
      local ok, err = pcall(use)
      assert.is_false(ok, i)
      assert.matches("attempt to use a freed snapshot", err, 1, true)
    end
  end)

  it("makes every later use of a marker raise 'freed'", function ()
    local snap <close> = capture()
    local m = snap:marker()
    local pos = m:position()
    m:free()
    local uses = {
      function () m:position() end,
      function () m:seek(pos) end,
      function () m:rewind() end,
      function () snap:walk("threads", m) end,
    }
    for i, use in ipairs(uses) do
      local ok, err = pcall(use)
      assert.is_false(ok, i)
      assert.matches("attempt to use a freed marker", err, 1, true)
    end
  end)
end)

describe("a marker", function ()
  it("keeps its snapshot alive when nothing else refers to it", function ()
    local weak = setmetatable({}, { __mode = "v" })
    local m
    do
      local snap = capture({ "threads" })
      weak[1] = snap
      m = snap:marker()
    end
    support.collect()
    local snap = weak[1]
    assert.equal("snapshot", pss.type(snap))
    assert.equal("integer", math.type(m:position()))
    assert.equal(support.my_pid(), snap:walk("threads", m).tid)
    m:rewind()
    assert.equal(support.my_pid(), snap:walk("threads", m).tid)
    m:free()
    snap, m = nil, nil   -- luacheck: ignore 311
    support.collect()
    assert.is_nil(weak[1])
  end)

  it("of a freed snapshot raises a clear error and crashes nothing", function ()
    local snap = capture()
    local m = snap:marker()
    snap:walk("handles", m)
    local pos = m:position()
    snap:free()
    for i, use in ipairs {
      function () m:position() end,
      function () m:seek(pos) end,
      function () m:rewind() end,
    } do
      local ok, err = pcall(use)
      assert.is_false(ok, i)
      assert.matches("attempt to use a marker of a freed snapshot", err, 1, true)
    end
    local ok, err = pcall(snap.walk, snap, "handles", m)
    assert.is_false(ok)
    assert.matches("freed snapshot", err, 1, true)
    assert.matches("^pss%.marker %(", tostring(m))
    assert.equal("marker", pss.type(m))
    assert.is_true(m:free())
    assert.equal("freed marker", pss.type(m))
  end)

  it("of a for loop whose snapshot is freed inside the loop stops it with an error", function ()
    support.collect()
    local before = allocations()
    local snap = capture()
    local n = 0
    local ok, err = pcall(function ()
      for _ in snap:regions() do
        n = n + 1
        if n == 2 then snap:free() end
      end
    end)
    assert.is_false(ok)
    assert.matches("freed snapshot", err, 1, true)
    assert.equal(2, n)
    assert.equal(before, allocations())
  end)
end)

describe("the garbage collector", function ()
  it("frees markers nobody refers to", function ()
    support.collect()
    local before = allocations()
    local snap <close> = capture()
    for _ = 1, 10 do
      local m = snap:marker()
      snap:walk("regions", m)
      snap:walk("handles", m)
    end
    assert.are_not.equal(before, allocations())
    support.collect()
    assert.equal(before, allocations())
  end)

  it("brings pss.allocations() back after many snapshots and markers dropped in any order", function ()
    support.collect()
    local before = allocations()
    local fds = support.fd_count()
    math.randomseed(20240229)
    local live = {}
    local classes = { "threads", "handles", "regions", "thread_names" }
    for _ = 1, support.scale(2000, 200) do
      local r = math.random(10)
      if r <= 2 or #live == 0 then
        live[#live + 1] = capture()
      elseif r <= 6 then
        local snap = live[math.random(#live)]
        if pss.type(snap) == "snapshot" then
          local m = snap:marker()
          snap:walk(classes[math.random(4)], m)
          live[#live + 1] = m
        end
      elseif r <= 7 then
        local x = live[math.random(#live)]
        if pss.type(x) == "snapshot" then live[#live + 1] = x:duplicate() end
      elseif r <= 8 then
        local x = live[math.random(#live)]
        x:free()
      else
        table.remove(live, math.random(#live))
      end
    end
    live = nil   -- luacheck: ignore 311
    support.collect()
    assert.equal(before, allocations())
    assert.equal(fds, support.fd_count())
  end)
end)

describe("tostring", function ()
  it("of a live snapshot tells the pid and what was captured", function ()
    local t <close> = support.start("--threads 2")
    local all <close> = assert(pss.capture(t.pid))
    local counts = {}
    for _, c in ipairs { { "threads", "threads_captured" }, { "handles", "handles_captured" },
                         { "va_space", "region_count" } } do
      counts[#counts + 1] = all:query(c[1])[c[2]]
    end
    assert.equal(("pss.snapshot (pid %d, %d threads, %d handles, %d regions)"):format(
      t.pid, counts[1], counts[2], counts[3]), tostring(all))
    assert.equal(3, counts[1])
    local threads <close> = assert(pss.capture(t.pid, { "threads" }))
    assert.equal(("pss.snapshot (pid %d, 3 threads)"):format(t.pid), tostring(threads))
    local regions <close> = assert(pss.capture(t.pid, { "va_regions" }))
    assert.equal(("pss.snapshot (pid %d, %d regions)"):format(t.pid, counts[3]), tostring(regions))
    local none <close> = assert(pss.capture(t.pid, 0))
    assert.equal(("pss.snapshot (pid %d)"):format(t.pid), tostring(none))
  end)

  it("of freed snapshots and of markers, live and freed", function ()
    local snap = capture()
    local m = snap:marker()
    local text = tostring(m)
    assert.matches("^pss%.marker %(.+%)$", text)
    assert.are_not.equal("pss.marker (freed)", text)
    assert.are_not.equal(text, tostring(snap:marker()))
    m:free()
    assert.equal("pss.marker (freed)", tostring(m))
    snap:free()
    assert.equal("pss.snapshot (freed)", tostring(snap))
  end)
end)

describe("snap:duplicate()", function ()
  it("survives freeing the original, and the original survives it", function ()
    local t <close> = support.start("--threads 2")
    local snap = assert(pss.capture(t.pid))
    local text = tostring(snap)
    local want = { support.entries(snap, "threads"), support.entries(snap, "handles"),
      support.entries(snap, "regions"), snap:query("process") }
    local dup = assert(snap:duplicate())
    assert.equal("snapshot", pss.type(dup))
    snap:free()
    t:stop()
    assert.equal("snapshot", pss.type(dup))
    assert.equal(text, tostring(dup))
    assert.same(want, { support.entries(dup, "threads"), support.entries(dup, "handles"),
      support.entries(dup, "regions"), dup:query("process") })
    local again = dup:duplicate()
    assert.is_true(dup:free())
    assert.same(want[1], support.entries(again, "threads"))
    assert.is_true(again:free())
    assert.equal("freed snapshot", pss.type(again))
  end)

  it("keeps a marker of the original usable only while the original lives", function ()
    local snap = capture()
    local dup <close> = snap:duplicate()
    local m <close> = snap:marker()
    assert.same(support.entries(dup, "threads")[1], dup:walk("threads", m))
    snap:free()
    local ok, err = pcall(m.position, m)
    assert.is_false(ok)
    assert.matches("attempt to use a marker of a freed snapshot", err, 1, true)
    local m2 <close> = dup:marker()
    assert.same(support.entries(dup, "threads")[1], dup:walk("threads", m2))
  end)
end)
