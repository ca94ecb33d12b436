-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 22: stacks (issue 14): the stacks option, snap:stack against eu-stack
-- (on the stack target and on real Debian servers), bad input, the
-- report, the diff and `pss stack` (docs/lua-api.md "Stacks").
local cjson = require "cjson"
local pss = require "pss"
local support = require "support"

local raises = support.raises

--- The chain a chain thread of the stack target waits under, innermost
-- first, for a --depth of `depth`.
local function chain (depth)
  local names = { "stack_block", "stack_chain_leaf" }
  for _ = 1, depth do names[#names + 1] = "stack_chain_depth" end
  names[#names + 1] = "stack_chain_middle"
  names[#names + 1] = "stack_chain_top"
  return names
end

--- The bare function names of a stack, innermost first.
local function names (frames)
  local list = {}
  for i, f in ipairs(frames) do list[i] = support.bare_name(f.symbol) end
  return list
end

--- Where `want` (a list) starts in `list`, or nil.
local function find_run (list, want)
  for i = 1, #list - #want + 1 do
    local ok = true
    for j = 1, #want do ok = ok and list[i + j - 1] == want[j] end
    if ok then return i end
  end
end

--- The first n names of a list, joined (for comparisons and messages).
local function top (list, n)
  return table.concat(list, " ", 1, math.min(n, #list))
end

--- Compares pss's stacks of every thread of pid with eu-stack's, run right
-- after the capture: the number of threads whose top five function names
-- are the same, the number compared, and the differences in words.
local function against_eu_stack (pid)
  local snap <close> = assert(pss.capture(pid, { "stacks" }))
  local eu = assert(support.eu_stack(pid))
  local same, total, diffs = 0, 0, {}
  for t in snap:threads() do
    local theirs = eu[t.tid]
    if theirs then
      local frames = assert(snap:stack(t.tid))
      local mine = names(frames)
      total = total + 1
      if top(mine, 5) == top(theirs, 5) then same = same + 1
      else diffs[#diffs + 1] = ("tid %d: pss %s | eu-stack %s"):format(t.tid, top(mine, 5),
        top(theirs, 5)) end
    end
  end
  return same, total, table.concat(diffs, "\n")
end

--- At least 95 % of the threads agree. A server's thread may wake between
-- the capture and eu-stack (a timer, a cron): up to three rounds are
-- taken, so only a disagreement that stays fails.
local function assert_agrees (pid, what)
  local report = {}
  for round = 1, 3 do
    local same, total, diffs = against_eu_stack(pid)
    assert.is_true(total > 0, what .. ": no thread compared")
    if same >= 0.95 * total then return end
    report[round] = ("round %d: %d of %d threads agree with eu-stack\n%s"):format(round, same,
      total, diffs)
  end
  error(what .. ":\n" .. table.concat(report, "\n"))
end

local run = support.run_pss   -- bin/pss ARGS: exit status, stdout, stderr

describe("the stacks option", function ()
  it("names each chain thread's chain in order, innermost first", function ()
    local t <close> = support.start_stack_target("--threads 3 --depth 4")
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    assert.is_true(snap:captured("auxiliary_pages"))
    assert.is_true(snap:query("auxiliary_pages").aux_pages_captured > 0)
    local want = chain(4)
    for _, th in ipairs(t.threads) do
      local frames = assert(snap:stack(th.tid))
      local list = names(frames)
      if th.role == "chain" then
        assert.equal(1, find_run(list, want) and 1 or top(list, 20))
        assert.equal("chain_thread", list[find_run(list, want) + #want])
        assert.equal("outermost", frames.end_reason)
        assert.equal("", frames.end_detail)
      else
        assert.truthy(find_run(list, { "stack_main_wait", "main" }), top(list, 20))
      end
      local f = frames[1]
      assert.equal("context", f.method)
      assert.is_true(f.activation)
      assert.equal("integer", math.type(f.pc))
      for i = 2, #frames do
        assert.is_true(frames[i].method == "cfi" or frames[i].method == "fallback")
        assert.is_false(frames[i].activation)
      end
    end
  end)

  it("gives frames their module, build id, symbol offset and source line", function ()
    local t <close> = support.start_stack_target("--threads 1 --depth 1")
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local by_path = {}
    for r in snap:regions() do
      if r.build_id then by_path[r.path] = r.build_id end
    end
    local exe = support.readlink("/proc/" .. t.pid .. "/exe")
    assert.truthy(by_path[exe], "no build_id on the regions of " .. exe)
    assert.matches("^%x+$", by_path[exe])
    local frames = assert(snap:stack(t:role("chain").tid, { lines = true }))
    for _, f in ipairs(frames) do
      if f.symbol == "stack_chain_leaf" then
        assert.equal(exe, f.module)
        assert.equal(by_path[exe], f.build_id)
        assert.equal(f.pc - f.module_start, f.module_offset)
        assert.is_true(f.offset > 0)
        assert.matches("stack%-target%.c$", f.file)
        assert.is_true(f.line > 0)
        return
      end
    end
    error("no stack_chain_leaf frame")
  end)

  it("copies the pages above each stack pointer as they are in the target", function ()
    local t <close> = support.start_stack_target("--threads 2")
    -- stopped before the capture and read before it goes on: nothing of
    -- its threads changes in between, not even what the kernel writes
    -- into a running thread's memory (the rseq area of its TLS)
    os.execute("kill -STOP " .. t.pid)
    assert.is_true(support.settle(t, "T"))
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local sps = {}
    for th in snap:threads() do sps[#sps + 1] = th.context.rsp end
    local mem = assert(io.open("/proc/" .. t.pid .. "/mem", "rb"))
    local compared = 0
    local last, pages = nil, 0
    for p in snap:auxiliary_pages() do
      pages = pages + 1
      assert.equal(4096, p.page_size)
      assert.equal(0, p.address % 4096)
      assert.equal(p.page_size, #p.contents)
      assert.is_true(last == nil or math.ult(last, p.address), "pages in address order")
      last = p.address
      assert.is_true(not math.ult(p.address, p.base_address)
        and math.ult(p.address - p.base_address, p.region_size), "the page lies in its region")
      -- the bytes from the stack pointer of the stack up: the threads are
      -- blocked, so /proc/PID/mem still holds what the capture copied
      local from
      for _, sp in ipairs(sps) do
        if sp >= p.base_address and sp - p.base_address < p.region_size then
          from = math.max(sp, p.address)
        end
      end
      assert.truthy(from, ("page 0x%x: in no thread's stack"):format(p.address))
      if from < p.address + 4096 then
        mem:seek("set", from)
        assert.equal(mem:read(p.address + 4096 - from), p.contents:sub(from - p.address + 1))
        compared = compared + 1
      end
    end
    mem:close()
    os.execute("kill -CONT " .. t.pid)
    assert.equal(snap:query("auxiliary_pages").aux_pages_captured, pages)
    assert.is_true(compared >= #sps)
  end)

  it("copies at most stack_limit bytes of each stack, for that capture only", function ()
    local t <close> = support.start_stack_target("--threads 1 --depth 600")
    local th = t:role("chain")
    do  -- one page each: fewer than the 256 frames of 16 bytes the chain has
      local snap <close> = assert(pss.capture(t.pid, { "stacks", stack_limit = 1 }))
      local frames = assert(snap:stack(th.tid))
      assert.equal("memory", frames.end_reason)
      assert.is_true(#frames >= 1 and #frames < pss.LINUX_STACK_FRAMES_MAX)
      assert.is_true(snap:query("auxiliary_pages").aux_pages_captured <= #t.threads)
    end
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local frames = assert(snap:stack(th.tid))
    assert.equal("limit", frames.end_reason)         -- 256 frames of 600+
    assert.equal(pss.LINUX_STACK_FRAMES_MAX, #frames)
  end)

  it("raises for stack_limit values and freeze = false", function ()
    for _, bad in ipairs { 0, -1, 1.5, "x", 2 ^ 32 } do
      assert.matches("stack_limit must be an integer",
        raises(pss.capture, pss.self, { "stacks", stack_limit = bad }), 1, true)
    end
    local core = require "pss.core"
    assert.matches("stack_limit goes with the stacks option",
      raises(pss.capture, pss.self, { "threads", stack_limit = 4096 }), 1, true)
    assert.matches("freeze = false cannot go with thread_context, stacks",
      raises(pss.capture, pss.self, { "stacks", freeze = false }), 1, true)
    assert.matches("bad argument #4 to", raises(core.capture, pss.self, 0, 0, -1), 1, true)
  end)

  it("works on the calling process", function ()
    if support.under_valgrind then
      return pending("skipped under valgrind: ptrace sees valgrind's own registers")
    end
    local snap <close> = assert(pss.capture(pss.self, { "stacks" }))
    local me = support.my_pid()
    local frames = assert(snap:stack(me))
    local list = names(frames)
    assert.truthy(find_run(list, { "lpss_capture" }), top(list, 30))
    assert.equal("outermost", frames.end_reason, frames.end_detail)
    for th in snap:threads() do assert(snap:stack(th.tid)) end
  end)
end)

describe("snap:stack against eu-stack", function ()
  it("agrees on the stack target", function ()
    local t <close> = support.start_stack_target("--threads 8 --depth 3")
    assert_agrees(t.pid, "stack-target")
  end)

  it("agrees on redis-server with io-threads", function ()
    if not support.executable("/usr/bin/redis-server") then
      return pending("redis-server is not installed")
    end
    local dir = support.temp_dir()
    -- no TCP port (a socket in the directory instead), no saving, and a
    -- cron once a second only: its threads wait where they are
    local pid, p = support.spawn(("/usr/bin/redis-server --port 0 --unixsocket %s/sock "
      .. "--io-threads 4 --hz 1 --save '' --appendonly no --dir %s --logfile %s/log "
      .. ">/dev/null 2>&1"):format(dir, dir, dir))
    local ok, err = pcall(function ()
      -- the io threads are there once the log says it is ready
      assert(support.wait_for(function ()
        return (support.read(dir .. "/log") or ""):find("ready to accept") end),
        "redis-server did not start")
      assert.is_true(#support.numbers("/proc/" .. pid .. "/task") >= 5)
      assert_agrees(pid, "redis-server")
    end)
    support.kill_wait(pid)
    p:close()
    support.remove_dir(dir)
    assert(ok, err)
  end)

  it("agrees on an nginx master and its workers", function ()
    if not support.executable("/usr/sbin/nginx") then return pending("nginx is not installed") end
    local port = support.free_port()
    if not port then return pending("no python3 to find a free port") end
    local dir = support.temp_dir()
    local conf = assert(io.open(dir .. "/nginx.conf", "w"))
    conf:write(("daemon off; worker_processes 2; pid %s/nginx.pid; error_log %s/error.log;\n"
      .. "events { worker_connections 64; }\n"
      .. "http { access_log off; server { listen 127.0.0.1:%d; } }\n"):format(dir, dir, port))
    conf:close()
    local master, p = support.spawn(("/usr/sbin/nginx -p %s/ -e %s/error.log -c %s/nginx.conf "
      .. ">/dev/null 2>&1"):format(dir, dir, dir))
    local workers
    local ok, err = pcall(function ()
      workers = support.wait_for(function ()
        local list = {}
        for _, pid in ipairs(support.numbers("/proc")) do
          local st = support.stat("/proc/" .. pid .. "/stat")
          if st and tonumber(st[4]) == master then list[#list + 1] = pid end
        end
        return #list == 2 and list
      end)
      assert(workers, "nginx did not start its workers: " .. tostring(support.read(dir .. "/error.log")))
      support.wait_for(function ()
        return (support.read("/proc/" .. workers[2] .. "/wchan") or ""):find("epoll") end, 2)
      assert_agrees(master, "nginx master")
      for _, w in ipairs(workers) do assert_agrees(w, "nginx worker") end
    end)
    -- a fast shutdown: the master ends its workers and waits for them
    os.execute(("kill -TERM %d"):format(master))
    if not support.wait_for(function ()
      local st = support.stat("/proc/" .. master .. "/stat")
      return st == nil or st[3] == "Z"
    end, 5) then
      for _, w in ipairs(workers or {}) do support.kill_wait(w) end
      support.kill_wait(master)
    end
    p:close()
    support.remove_dir(dir)
    assert(ok, err)
  end)

  it("agrees on python3 with threads sleeping", function ()
    if not support.executable("/usr/bin/python3") then return pending("python3 is not installed") end
    local pid, p = support.spawn("/usr/bin/python3 -c 'import threading, time\n"
      .. "for _ in range(3): threading.Thread(target=time.sleep, args=(300,), daemon=True).start()\n"
      .. "time.sleep(300)' </dev/null")
    local ok, err = pcall(function ()
      assert(pid, "python3 did not start")
      assert(support.wait_for(function ()
        return #support.numbers("/proc/" .. pid .. "/task") == 4 and support.settle({ pid = pid }) end))
      assert_agrees(pid, "python3")
    end)
    support.kill_wait(pid)
    p:close()
    assert(ok, err)
  end)
end)

describe("stacks from bad input", function ()
  it("fails, naming the stacks option, without stacks or contexts", function ()
    local t <close> = support.start_stack_target("--threads 1")
    for _, options in ipairs { { "threads" }, { "thread_context", "va_space" }, { "va_space" } } do
      local snap <close> = assert(pss.capture(t.pid, options))
      local frames, msg, code = snap:stack(t.pid)
      assert.is_nil(frames)
      assert.matches('"stacks" option', msg, 1, true)
      assert.equal(pss.ERROR_NOT_FOUND, code)
    end
  end)

  it("fails for a thread the snapshot does not hold, raises for a wrong tid", function ()
    local snap <close> = assert(pss.capture(pss.self, { "stacks" }))
    local frames, msg, code = snap:stack(support.missing_pid())
    assert.is_nil(frames)
    assert.matches("no thread", msg, 1, true)
    assert.equal(pss.ERROR_NOT_FOUND, code)
    assert.matches("number expected", raises(snap.stack, snap, "x"), 1, true)
    assert.matches("tid must be", raises(snap.stack, snap, 0), 1, true)
    assert.matches("number has no integer representation", raises(snap.stack, snap, 1.5), 1, true)
    local me
    for th in snap:threads() do me = me or th.tid end
    assert.matches("table expected", raises(snap.stack, snap, me, "lines"), 1, true)
    assert.matches("lines must be a boolean", raises(snap.stack, snap, me, { lines = 1 }), 1, true)
    snap:free()
    assert.matches("attempt to use a freed snapshot", raises(snap.stack, snap, 1), 1, true)
  end)

  it("ends a corrupted stack and one with a stack pointer in no mapping with a reason", function ()
    local t <close> = support.start_stack_target("--threads 1 --corrupt --bad-sp")
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local corrupt = assert(snap:stack(t:role("corrupt").tid))
    local list = names(corrupt)
    assert.equal(1, find_run(list, { "stack_block", "stack_corrupt_leaf" }) and 1 or top(list, 10))
    assert.not_equal("outermost", corrupt.end_reason)
    assert.is_true(#corrupt <= pss.LINUX_STACK_FRAMES_MAX)
    local bad = assert(snap:stack(t:role("bad-sp").tid))
    assert.is_true(#bad >= 1)
    assert.equal(support.bare_name(bad[1].symbol), "bad_sp_thread")
    assert.not_equal("outermost", bad.end_reason)
    assert.is_true(bad.end_detail ~= "")
    assert(snap:stack(t:role("chain").tid))      -- the others are unharmed
  end)
end)

describe("the unwinder", function ()
  it("allocates through lua_Alloc and frees with the snapshot", function ()
    local t <close> = support.start_stack_target("--threads 2")
    support.collect()
    local before = { pss.allocations() }
    local function unwound ()
      local snap = assert(pss.capture(t.pid, { "stacks" }))
      for _, th in ipairs(t.threads) do assert(snap:stack(th.tid)) end
      assert.is_true(select(1, pss.allocations()) > before[1], "the unwinder's blocks")
      return snap
    end
    unwound():free()
    assert.same(before, { pss.allocations() })
    do local snap <close> = unwound() end     -- luacheck: ignore snap
    assert.same(before, { pss.allocations() })
    unwound()                                  -- left to the collector
    support.collect()
    assert.same(before, { pss.allocations() })
  end)

  it("serves a duplicate on its own, and stays with the snapshot that made it", function ()
    local t <close> = support.start_stack_target("--threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local dup <close> = snap:duplicate()
    local a = names(assert(snap:stack(t.pid)))
    snap:free()
    assert.same(a, names(assert(dup:stack(t.pid))))
  end)
end)

describe("stacks in the report and the diff", function ()
  it("the report shows each thread's innermost frames", function ()
    local t <close> = support.start_stack_target("--threads 2 --depth 2")
    local snap <close> = assert(pss.capture(t.pid, { "stacks" }))
    local text = pss.report(snap)
    assert.truthy(text:find("\nStacks: the innermost 3 frames of each thread\n", 1, true), text)
    local function frame (n) return "\n    #" .. n .. "  0x" .. ("%x"):rep(16) .. " " end
    for _, th in ipairs(t.threads) do
      local pattern = "\n  " .. th.tid .. " " .. th.name:gsub("%-", "%%-") .. frame(0) .. "[^\n]+"
      if th.role == "chain" then
        pattern = pattern .. frame(1) .. "stack_block%+0x%x+ %(stack%-target%)"
          .. frame(2) .. "stack_chain_leaf%+0x%x+ %(stack%-target%)"
          .. "\n    %.%.%. and %d+ more frames\n"
      end
      assert.truthy(text:find(pattern), text)
    end
    assert.falsy(pss.report(snap, { frames = 0 }):find("Stacks:", 1, true))
    local plain <close> = assert(pss.capture(t.pid))
    assert.falsy(pss.report(plain):find("Stacks:", 1, true))
  end)

  it("the diff tells the threads whose stack changed", function ()
    if support.under_valgrind then
      return pending("skipped under valgrind: ptrace sees valgrind's own registers")
    end
    -- each pcall is a C call: the C stack of this thread grows with n
    local function nested (n)
      if n == 0 then return assert(pss.capture(pss.self, { "stacks" })) end
      local ok, s = pcall(nested, n - 1)
      assert(ok, s)
      return s
    end
    local a <close> = nested(0)
    local b <close> = nested(3)
    local d = pss.diff(a, b)
    local me = support.my_pid()
    assert.truthy(d.stacks.changed[me])
    assert.same(require("pss.stack").functions(assert(a:stack(me))), d.stacks.changed[me].before)
    assert.matches("\nstacks: %d+ changed\n", tostring(d))
    local same = pss.diff(a, a)
    assert.is_nil(next(same.stacks.changed))
    assert.is_nil(pss.diff(assert(pss.capture(pss.self)), assert(pss.capture(pss.self))).stacks)
  end)
end)

describe("pss stack", function ()
  local t
  setup(function () t = support.start_stack_target("--threads 3 --depth 2") end)
  teardown(function () t:stop() end)

  it("prints every thread's stack like eu-stack", function ()
    local status, out, err = run("stack " .. t.pid)
    assert.equal(0, status, err)
    assert.matches("^PID " .. t.pid .. " stack%-target\n", out)
    for _, th in ipairs(t.threads) do
      local block = out:match("\nTID " .. th.tid .. " " .. th.name:gsub("%-", "%%-")
        .. " %(S%)\n(.-)\n\n") or out:match("\nTID " .. th.tid .. " [^\n]*\n(.*)$")
      assert.truthy(block, out)
      assert.matches("^#0  0x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x %S+%+0x%x+ %(libc%.so%.6%)", block)
      if th.role == "chain" then
        local list = {}
        for name in block:gmatch("\n#%d+%s+0x%x+ ([^+ ]+)") do list[#list + 1] = name end
        assert.truthy(find_run(list, chain(2)), block)
      end
    end
    -- no source lines unless asked for (-s), as eu-stack
    assert.is_nil(out:find("stack-target.c:", 1, true))
    status, out, err = run("stack -s " .. t.pid)
    assert.equal(0, status, err)
    assert.matches("\n#%d+%s+0x%x+ stack_chain_leaf%+0x%x+ %(stack%-target%)\n    [^\n]*stack%-target%.c:%d+\n", out)
  end)

  it("writes JSON", function ()
    local status, out, err = run("stack --json " .. t.pid)
    assert.equal(0, status, err)
    local v = cjson.decode(out)
    assert.equal(t.pid, v.pid)
    assert.equal(1, v.captures)
    assert.equal(#t.threads, #v.samples[1])
    for _, th in ipairs(v.samples[1]) do
      assert.equal("outermost", th.end_reason)
      assert.matches("^0x%x+$", th.frames[1].pc)
    end
    assert.equal(#t.threads, v.stacks[1].count + v.stacks[2].count)
  end)

  it("writes collapsed stacks, and merges captures with their counts", function ()
    local status, out, err = run("stack --folded " .. t.pid)
    assert.equal(0, status, err)
    local sum = 0
    for line in out:gmatch("[^\n]+") do
      local stack, count = line:match("^(.+) (%d+)$")
      assert.truthy(stack, line)
      sum = sum + tonumber(count)
      if stack:find("^chain%-") then
        assert.matches(";chain_thread;stack_chain_top;stack_chain_middle;stack_chain_depth;"
          .. "stack_chain_depth;stack_chain_leaf;stack_block;", stack, 1, true)
      end
    end
    assert.equal(#t.threads, sum)
    status, out, err = run("stack -n 3 -i 0.05 --folded " .. t.pid)
    assert.equal(0, status, err)
    sum = 0
    for count in out:gmatch(" (%d+)\n") do sum = sum + tonumber(count) end
    assert.equal(3 * #t.threads, sum)
    status, out, err = run("stack -n 3 -i 0.05 " .. t.pid)
    assert.equal(0, status, err)
    local counts = {}
    for count in out:gmatch("\n(%d+) x [^\n]+\n") do counts[#counts + 1] = tonumber(count) end
    assert.same({ 9, 3 }, counts)       -- three chain threads, the main thread
  end)

  it("refuses a bad pid (2) and fails for a missing one (1)", function ()
    for _, bad in ipairs { "0", "abc", "-1", "012" } do
      local status, _, err = run("stack " .. bad)
      assert.equal(2, status, err)
    end
    local status, _, err = run("stack " .. support.missing_pid())
    assert.equal(1, status)
    assert.matches("no such process", err, 1, true)
    assert.equal(2, (run("stack --json --folded " .. t.pid)))
    assert.equal(2, (run("stack -n 0 " .. t.pid)))
  end)
end)
