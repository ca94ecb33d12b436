-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- Thread contexts and the freeze, from Lua.
local pss = require "pss"
local support = require "support"

local REGISTERS = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10",
  "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
  "context_flags", "mxcsr", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7", "fs_base" }

--- Each context key and its PSS_LINUX_REGISTER_* bit (pss.h): a key is
-- there exactly when its bit is set in the thread's context_registers.
local BITS = { rax = 0, rcx = 1, rdx = 2, rbx = 3, rsp = 4, rbp = 5, rsi = 6, rdi = 7,
  r8 = 8, r9 = 9, r10 = 10, r11 = 11, r12 = 12, r13 = 13, r14 = 14, r15 = 15, rip = 16,
  eflags = 17, cs = 18, ds = 18, es = 18, fs = 18, gs = 18, ss = 18, mxcsr = 19, fltsave = 19,
  dr0 = 20, dr1 = 20, dr2 = 20, dr3 = 20, dr6 = 20, dr7 = 20, xstate = 21 }
local ALL_BUT_XSTATE = (1 << 21) - 1

--- Checks that a thread's context holds the registers its mask names and
-- no other (fltsave and xstate also need their CONTEXT_* group asked).
local function holds_what_mask_says (e)
  local c, mask = e.context, e.context_registers
  assert.equal("integer", math.type(mask))
  for name, bit in pairs(BITS) do
    local group = name == "fltsave" and pss.CONTEXT_FLOATING_POINT
      or name == "xstate" and pss.CONTEXT_XSTATE
    local asked = not group or c.context_flags & group == group
    assert.equal(mask & (1 << bit) ~= 0 and asked, c[name] ~= nil,
      ("%s of thread %d (mask 0x%x)"):format(name, e.tid, mask))
  end
  assert.equal("integer", math.type(c.context_flags))
  assert.equal(e.teb_base_address, c.fs_base)
end

--- The instruction pointer of a blocked thread, from its syscall file.
local function syscall_pc (pid, tid)
  local text = support.read(("/proc/%d/task/%d/syscall"):format(pid, tid)) or ""
  local words = {}
  for w in text:gmatch("%S+") do words[#words + 1] = w end
  return tonumber(words[#words])
end

describe("thread contexts", function ()
  it("give every register of every thread, and rip where /proc says it is", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "thread_context" }))
    -- a thread woken by the thaw restarts its syscall and runs for a moment
    assert.is_true(support.settle(t))
    local n = 0
    for e in snap:threads() do
      n = n + 1
      local c = assert(e.context, "no context for " .. e.tid)
      for _, name in ipairs(REGISTERS) do
        assert.equal("number", math.type(c[name]) and "number", name)
      end
      assert.equal(pss.CONTEXT_ALL, c.context_flags & pss.CONTEXT_ALL)
      -- a thread the capture stopped: every register it was asked for is known
      assert.equal(ALL_BUT_XSTATE, e.context_registers)
      holds_what_mask_says(e)
      assert.equal(512, #c.fltsave)
      assert.is_nil(c.xstate)
      -- a thread blocked in a syscall stays there: the kernel saw the same pc
      if e.syscall_state == "syscall" then assert.equal(syscall_pc(t.pid, e.tid), c.rip) end
      assert.equal(1232, e.size_of_context_record)
    end
    assert.equal(#t.threads, n)
    assert.equal(1232, snap:query("threads").context_length)
  end)

  it("carry the XSAVE area with thread_context_extended, and only the asked registers", function ()
    local t <close> = support.start("--threads 1")
    local snap <close> = assert(pss.capture(t.pid, { "threads", "thread_context_extended" }))
    for e in snap:threads() do
      assert.is_true(#e.context.xstate >= 512, "xstate")
      assert.equal(1232 + #e.context.xstate, e.size_of_context_record)
      assert.equal(ALL_BUT_XSTATE | 1 << BITS.xstate, e.context_registers)
      holds_what_mask_says(e)
    end
    -- registers of groups not asked for are absent, not 0
    local only <close> = assert(pss.capture(t.pid, { "thread_context",
      context_flags = pss.CONTEXT_CONTROL }))
    for e in only:threads() do
      assert.equal(pss.CONTEXT_CONTROL, e.context.context_flags)
      assert.is_true(e.context.rip ~= 0 and e.context.rsp ~= 0 and e.context.eflags ~= nil)
      assert.is_nil(e.context.rax)
      assert.is_nil(e.context.r12)
      assert.is_nil(e.context.r15)
      assert.is_nil(e.context.dr7)
      assert.is_nil(e.context.fltsave)
      assert.is_nil(e.context.mxcsr)
      holds_what_mask_says(e)
    end
    -- without contexts there is no table, and no register is known
    local none <close> = assert(pss.capture(t.pid, { "threads" }))
    for e in none:threads() do
      assert.is_nil(e.context)
      assert.equal(0, e.context_registers)
    end
  end)

  it("leave the target running as it was, and say how long it was stopped", function ()
    local t <close> = support.start("--threads 3")
    assert.is_true(support.settle(t))
    for _ = 1, 20 do
      local snap <close> = assert(pss.capture(t.pid, { "threads", "thread_context",
        "measure_performance" }))
      local perf = snap:query("performance")
      assert.equal(#t.threads, perf.threads_frozen)
      assert.is_true(perf.freeze_wall_clock_period > 0)
      assert.is_true(perf.freeze_wall_clock_period <= perf.total_wall_clock_period)
    end
    for _, tid in ipairs(support.numbers(("/proc/%d/task"):format(t.pid))) do
      local st = support.stat(("/proc/%d/task/%d/stat"):format(t.pid, tid))
      assert.is_falsy(st[3] == "t" or st[3] == "T", "thread " .. tid .. " left " .. st[3])
    end
    assert.truthy(support.read(("/proc/%d/status"):format(t.pid)):find("TracerPid:%s+0\n"))
  end)
end)

describe("thread contexts of the calling process", function ()
  it("come from a helper process, the calling thread's from the call", function ()
    if support.under_valgrind then
      -- its threads run on valgrind's simulated CPU: ptrace sees valgrind's registers
      pending("skipped under valgrind: ptrace sees valgrind's own registers")
      return
    end
    local children_before = support.numbers("/proc/self/task")
    for _ = 1, 20 do
      local snap <close> = assert(pss.capture(pss.self, { "threads", "thread_context",
        "measure_performance" }))
      local n = 0
      for e in snap:threads() do
        n = n + 1
        assert.is_table(e.context)
        assert.is_true(e.context.rip ~= 0 and e.context.rsp ~= 0)
        assert.equal(e.teb_base_address, e.context.fs_base)
        assert.equal("R", e.state)   -- the calling thread was running the capture
        -- described at the call: what a call preserves and its arguments,
        -- not rax, r10 and r11, which are not known there
        assert.is_nil(e.context.rax)
        assert.is_nil(e.context.r10)
        assert.is_nil(e.context.r11)
        for _, name in ipairs { "rbx", "rbp", "r12", "r13", "r14", "r15", "rdi", "rsi", "rdx",
                                "rcx", "r8", "r9", "eflags", "cs", "ss", "mxcsr", "fltsave" } do
          assert.is_not_nil(e.context[name], name)
        end
        holds_what_mask_says(e)
      end
      assert.equal(#children_before, n)
      assert.equal(n - 1, snap:query("performance").threads_frozen)
    end
    -- no helper left behind, and nobody traces us
    assert.truthy(support.read("/proc/self/status"):find("TracerPid:%s+0\n"))
  end)
end)
