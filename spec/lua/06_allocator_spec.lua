-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 06: the markers' lua_Alloc memory (pss.allocations) and the fds of
-- many captures (docs/lua-api.md "Memory").
local pss = require "pss"
local support = require "support"

local function allocations ()
  local blocks, bytes = pss.allocations()
  return { blocks = blocks, bytes = bytes }
end

describe("the allocator", function ()
  it("is back where it started after many capture/walk/free cycles, and so are the fds", function ()
    local cycles = support.scale(10000, 300)
    support.collect()
    local before, fds = allocations(), support.fd_count()
    local counts = { threads = 0, handles = 0, regions = 0, thread_names = 0 }
    for _ = 1, cycles do
      local snap <close> = assert(pss.capture(pss.self, { "threads", "handles", "va_space" }))
      for method in pairs(counts) do
        for _ in snap[method](snap) do counts[method] = counts[method] + 1 end
      end
      local m <close> = snap:marker()
      while snap:walk("regions", m) do end
      while snap:walk("handles", m) do end
    end
    assert.same(before, allocations())
    assert.equal(fds, support.fd_count())
    assert.equal(cycles, counts.threads)
    assert.equal(cycles, counts.thread_names)
    assert.is_true(counts.handles >= cycles and counts.regions >= cycles)
  end)

  it("allocates while a marker walks a big snapshot and frees on close", function ()
    local t <close> = support.start("--threads 8 --extra-fds 2000 --extra-maps 2000")
    local snap <close> = assert(pss.capture(t.pid))
    assert.is_true(snap:query("handles").handles_captured > 2000)
    assert.is_true(snap:query("va_space").region_count > 2000)
    support.collect()
    local before = allocations()
    do
      local m <close> = snap:marker()
      local created = allocations()
      assert.is_true(created.blocks > before.blocks)
      assert.is_true(snap:walk("handles", m) ~= nil)
      local walked = allocations()
      -- a copy of the names of 2000 handles ("pipe:[123]", ...) at the least
      assert.is_true(walked.bytes - created.bytes >= 2000 * 10,
        ("%d bytes for 2000 handles"):format(walked.bytes - created.bytes))
      assert.is_true(walked.blocks > created.blocks)
      while snap:walk("handles", m) do end
      assert.same(walked, allocations())   -- one copy per table, not per entry
      assert.is_true(snap:walk("regions", m) ~= nil)
      assert.is_true(allocations().bytes > walked.bytes)
      m:rewind()
      snap:walk("regions", m)
    end
    assert.same(before, allocations())
  end)

  it("allocates inside a for loop and frees when the loop ends", function ()
    local t <close> = support.start("--threads 0 --extra-fds 500")
    local snap <close> = assert(pss.capture(t.pid, { "handles" }))
    support.collect()
    local before = allocations()
    local inside, n = nil, 0
    for _ in snap:handles() do
      n = n + 1
      inside = inside or allocations()
    end
    assert.is_true(n > 500)
    assert.is_true(inside.bytes > before.bytes and inside.blocks > before.blocks)
    assert.same(before, allocations())
  end)

  it("allocates nothing for a snapshot without markers", function ()
    support.collect()
    local before = allocations()
    local snap <close> = assert(pss.capture(pss.self))
    local dup <close> = snap:duplicate()
    assert.equal("snapshot", pss.type(dup))
    assert.same(before, allocations())
  end)
end)
