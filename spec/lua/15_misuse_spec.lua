-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 15: a seeded misuse fuzz of the whole Lua API (spec/support/misuse.lua):
-- thousands of random calls, each of which must succeed, raise, or return
-- nil, message, code -- never crash the host (the ASan and valgrind runs
-- see what a crash would not), leak, or leave a target stopped or traced.
-- PSS_FUZZ_SEED=N repeats a run; every run says its seed on stderr first,
-- since a crash can say nothing after.
local pss = require "pss"
local misuse = require "misuse"
local support = require "support"

--- How many threads a process has, how many of them are stopped (T, t),
-- and who traces it: a target left as it was has 0 stopped and tracer 0.
local function state_of (pid)
  local threads, stopped = 0, 0
  for _, tid in ipairs(support.numbers(("/proc/%d/task"):format(pid))) do
    local st = support.stat(("/proc/%d/task/%d/stat"):format(pid, tid))
    threads = threads + 1
    if st and (st[3] == "T" or st[3] == "t") then stopped = stopped + 1 end
  end
  return { threads = threads, stopped = stopped, tracer = support.status(pid).TracerPid }
end

describe("a seeded misuse fuzz of the whole API", function ()
  it("never crashes, leaks or harms a target: each call succeeds, raises or returns nil, message, code",
    function ()
    local seed = tonumber(os.getenv("PSS_FUZZ_SEED")) or (os.time() ~ support.my_pid() << 20)
    io.stderr:write(("# misuse fuzz: PSS_FUZZ_SEED=%d\n"):format(seed))
    local calls = support.scale(3000, 400)
    local t <close> = support.start("--threads 2")
    local zombie <close> = support.start_zombie(3)
    assert.is_true(support.wait_state(zombie.pid, "Z"), "the zombie target did not become one")
    local scratch = os.tmpname()
    os.remove(scratch)
    assert(os.execute("mkdir -m 700 " .. scratch))
    local clean <close> = setmetatable({}, { __close = function ()   -- luacheck: ignore 211
      os.execute("rm -rf " .. scratch)
    end })
    local limit = pss.wait_limit()
    support.collect()
    local blocks, fds = pss.allocations(), support.fd_count()
    local running = state_of(t.pid)
    assert.same({ threads = 3, stopped = 0, tracer = "0" }, running)

    local ok, stats = pcall(misuse.run, {
      seed = seed, calls = calls, scratch = scratch,
      targets = { pss.self, t.pid, t.pid + 0.0, zombie.pid, support.missing_pid() },
      not_pids = { 0, -1, 1 << 31, 2.0 ^ 31, math.mininteger, math.maxinteger, 1.5, 0 / 0,
        math.huge, "", "pid", {}, true, false, print },
    })
    pss.wait_limit(limit)
    assert(ok, ("misuse fuzz (PSS_FUZZ_SEED=%d): %s"):format(seed, tostring(stats)))

    local where = ("PSS_FUZZ_SEED=%d"):format(seed)
    assert.is_true(stats.calls >= calls, where)
    -- each outcome happened: the fuzz reached success, errors and failures
    assert.is_true(stats.ok > 0 and stats.raised > 0 and stats.failed > 0,
      ("%s: %d ok, %d raised, %d failed"):format(where, stats.ok, stats.raised, stats.failed))
    support.collect()
    assert.equal(blocks, (pss.allocations()), "marker memory left after the fuzz, " .. where)
    assert.equal(fds, support.fd_count(), "descriptors left after the fuzz, " .. where)
    -- the target runs as before, traced by nobody
    assert.same(running, state_of(t.pid), where)
  end)
end)
