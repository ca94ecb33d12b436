-- luacheck: globals describe it assert before_each after_each setup teardown pending
--- 02: every query class and every record field, against the target's report
-- and /proc read here independently (docs/lua-api.md "Records",
-- docs/linux-mapping.md for where each field comes from on Linux).
local lfs = require "lfs"
local pss = require "pss"
local support = require "support"

local O_ACCMODE, O_APPEND, O_NONBLOCK, O_CLOEXEC, O_PATH = 3, 0x400, 0x800, 0x80000, 0x200000
local GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000

local function path (pid, ...) return table.concat({ "/proc", pid, ... }, "/") end

--- A CPU time of the snapshot against /proc read afterwards: it can only
-- have grown since (a thread woken by the thaw runs for a moment), by a
-- few clock ticks at most.
local function cpu_time_then (now, got, what)
  assert(got <= now + 1e-9 and now - got <= 0.05,
    ("%s: %s in the snapshot, %s in /proc afterwards"):format(what, tostring(got), tostring(now)))
end

local function close_to (want, got, tolerance, what)
  assert(math.abs(want - got) <= tolerance,
    ("%s: %s is not within %s of %s"):format(what, tostring(got), tostring(tolerance), tostring(want)))
end

--- The entry of a list whose `key` equals value.
local function find (list, key, value)
  for _, e in ipairs(list) do
    if e[key] == value then return e end
  end
end

--- "0x7ffd..." words of a task's syscall file as integers (all 64 bits).
local function syscall_words (pid, tid)
  local words = {}
  for w in support.read(path(pid, "task", tid, "syscall")):gmatch("%S+") do
    words[#words + 1] = w == "running" and w or math.tointeger(tonumber(w))
  end
  return words
end

describe("thread entries", function ()
  it("are the target's threads, by tid and name, as the report and /proc say", function ()
    local t <close> = support.start("--threads 3")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local threads = support.entries(snap, "threads")
    local tids, report = {}, {}
    for i, th in ipairs(threads) do tids[i] = th.tid end
    for i, th in ipairs(t.threads) do report[i] = th.tid end
    table.sort(report)
    assert.same(support.numbers(path(t.pid, "task")), tids)
    assert.same(report, tids)
    assert.same({ threads_captured = 4, context_length = 0 }, snap:query("threads"))
    for _, th in ipairs(t.threads) do
      local e = find(threads, "tid", th.tid)
      assert.equal(th.name, e.name)
      assert.equal((support.read(path(t.pid, "task", th.tid, "comm")):gsub("\n$", "")), e.name)
    end
    -- the main thread by its id: after a pid wrap a worker has a lower one
    assert.equal("pss-target", find(threads, "tid", t.pid).name)
    assert.equal("worker-2", find(threads, "tid", t.threads[4].tid).name)
  end)

  it("carry state, system call and scheduling as task stat and syscall say", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    -- a thread woken by the thaw restarts its syscall and runs for a moment
    assert.is_true(support.settle(t))
    for _, e in ipairs(support.entries(snap, "threads")) do
      local st = support.stat(path(t.pid, "task", e.tid, "stat"))
      local sc = syscall_words(t.pid, e.tid)
      local what = "tid " .. e.tid
      assert.equal(st[3], e.state, what)
      assert.equal("S", e.state, what)   -- all wait: ppoll and futex
      assert.equal("syscall", e.syscall_state, what)
      assert.equal(sc[1], e.syscall_number, what)
      assert.equal(sc[1] & 0xffff, e.last_syscall_number, what)
      assert.equal(sc[2], e.last_syscall_first_argument, what)
      assert.same({ sc[2], sc[3], sc[4], sc[5], sc[6], sc[7] }, e.last_syscall_arguments, what)
      assert.equal(sc[8], e.last_syscall_stack_pointer, what)
      assert.equal(sc[9], e.last_syscall_program_counter, what)
      assert.equal(tonumber(st[18]), e.priority, what)
      assert.equal(tonumber(st[19]), e.base_priority, what)
      assert.equal(tonumber(st[19]), e.nice, what)
      assert.equal(tonumber(st[41]), e.policy, what)
      assert.equal(tonumber(st[40]), e.realtime_priority, what)
      -- the CPU it last ran on: a thread woken by the thaw may run elsewhere since
      assert.is_true(e.processor >= 0 and e.processor < 4096, what)
      assert.equal(tonumber(st[10]), e.minor_faults, what)
      assert.equal(tonumber(st[12]), e.major_faults, what)
      assert.equal(support.cpumask(support.status(path(t.pid, "task", e.tid)).Cpus_allowed),
        e.affinity_mask, what)
    end
  end)

  it("carry ids, flags, times and the entry point", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local p = snap:query("process")
    for _, e in ipairs(support.entries(snap, "threads")) do
      local st = support.stat(path(t.pid, "task", e.tid, "stat"))
      local what = "tid " .. e.tid
      assert.equal(t.pid, e.pid, what)
      assert.equal(pss.STILL_ACTIVE, e.exit_status, what)
      assert.equal(0, e.flags, what)
      assert.is_false(e.terminated, what)
      assert.equal(0, e.suspend_count, what)
      -- the thread's fs_base, read while the target was frozen
      assert.is_true(e.teb_base_address ~= 0, what)
      assert.equal(0, e.size_of_context_record, what)
      assert.is_nil(e.context, what)
      assert.equal(e.tid == t.pid and p.entry_point or 0, e.win32_start_address, what)
      assert.is_nil(e.exit_time, what)
      cpu_time_then(support.ticks(st[14]), e.user_time, what .. " user_time")
      cpu_time_then(support.ticks(st[15]), e.kernel_time, what .. " kernel_time")
      close_to(support.start_epoch(st[22]), e.create_time, 2, what .. " create_time")
      assert.is_true(e.create_time >= p.create_time, what)
      assert.is_true(e.capture_time >= e.create_time, what)
      close_to(os.time(), e.capture_time, 600, what .. " capture_time")
    end
    -- the main thread by its id, not by walk order (tid order: after a pid
    -- wrap a worker can come first, made a moment after the process)
    assert.equal(p.create_time, find(support.entries(snap, "threads"), "tid", t.pid).create_time)
  end)

  it("thread_names gives every thread's name in thread order", function ()
    local t <close> = support.start("--threads 5")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local names = {}
    for e in snap:thread_names() do names[#names + 1] = e end
    local threads = support.entries(snap, "threads")
    assert.equal(#threads, #names)
    for i, th in ipairs(threads) do assert.same({ thread_name = th.name }, names[i]) end
  end)
end)

describe("the process record", function ()
  it("matches /proc/PID/stat, status, cmdline, exe and auxv", function ()
    local t <close> = support.start("--threads 3 --odd-name")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space" }))
    local p = snap:query("process")
    -- a thread woken by the thaw restarts its syscall and runs for a moment
    assert.is_true(support.settle(t))
    local st = support.stat(path(t.pid, "stat"))
    local status = support.status(t.pid)
    assert.equal(t.pid, p.pid)
    assert.equal(tonumber(st[4]), p.parent_pid)
    assert.equal(support.my_pid(), p.parent_pid)   -- popen's sh execs the target
    assert.equal(t.exe, p.image_file_name)
    assert.equal(support.readlink(path(t.pid, "exe")), p.image_file_name)
    assert.same(support.split0(support.read(path(t.pid, "cmdline"))), p.argv)
    assert.same({ support.target_path, "--threads", "3", "--odd-name", "--exit-after", "300000" }, p.argv)
    assert.equal(st[2], p.comm)
    assert.equal("pss-target", p.comm)
    assert.equal(st[3], p.state)
    assert.equal(pss.STILL_ACTIVE, p.exit_status)
    assert.equal(0, p.exit_code)
    assert.is_nil(p.exit_time)
    assert.equal(0, p.flags)
    assert.is_false(p.protected)
    assert.is_false(p.wow64)
    assert.is_false(p.frozen)
    assert.equal(tonumber(st[22]), p.start_time_ticks)
    close_to(support.start_epoch(st[22]), p.create_time, 2, "create_time")
    cpu_time_then(support.ticks(st[14]), p.user_time, "user_time")
    cpu_time_then(support.ticks(st[15]), p.kernel_time, "kernel_time")
    assert.equal("normal", p.priority_class)
    assert.equal(0x20, p.priority_class_flags)
    assert.equal(tonumber(st[19]), p.base_priority)
    assert.equal(tonumber(st[19]), p.nice)
    assert.equal(tonumber(st[41]), p.policy)
    assert.equal(tonumber(st[40]), p.realtime_priority)
    assert.equal(tonumber(st[20]), p.thread_count)
    assert.equal(4, p.thread_count)
    assert.equal(tonumber(st[5]), p.process_group_id)
    assert.equal(tonumber(st[6]), p.session_id)
    local uid, euid = status.Uid:match("^(%d+)%s+(%d+)")
    local gid, egid = status.Gid:match("^(%d+)%s+(%d+)")
    assert.same({ tonumber(uid), tonumber(euid), tonumber(gid), tonumber(egid) },
      { p.uid, p.euid, p.gid, p.egid })
    assert.equal(tonumber(st[10]), p.minor_faults)
    assert.equal(tonumber(st[12]), p.major_faults)
    assert.equal((tonumber(st[10]) + tonumber(st[12])) & 0xffffffff, p.page_fault_count)
    assert.equal(tonumber(st[48]), p.peb_base_address)
    assert.equal(support.cpumask(status.Cpus_allowed), p.affinity_mask)
    local personality = tonumber(support.read(path(t.pid, "personality")), 16)
    assert.equal(personality, p.personality)
    assert.equal(personality, p.execute_flags)
    assert.equal(support.at_entry(t.pid), p.entry_point)
  end)

  it("has the memory sizes of /proc/PID/status", function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, 0))
    local p = snap:query("process")
    local status = support.status(t.pid)
    local kb = function (key) return support.kb(status, key) end
    assert.equal(kb("VmSize"), p.virtual_size)
    assert.equal(kb("VmPeak"), p.peak_virtual_size)
    assert.equal(kb("VmData") + kb("VmStk"), p.private_usage)
    assert.equal(kb("VmSwap"), p.pagefile_usage)
    close_to(kb("VmRSS"), p.working_set_size, kb("VmRSS") / 10, "working_set_size")
    close_to(kb("VmHWM"), p.peak_working_set_size, kb("VmHWM") / 10, "peak_working_set_size")
    assert.is_true(p.peak_working_set_size >= p.working_set_size)
    close_to(kb("RssAnon"), p.resident_anon, kb("RssAnon") / 10, "resident_anon")
    close_to(kb("RssFile"), p.resident_file, kb("RssFile") / 10, "resident_file")
    close_to(kb("RssShmem"), p.resident_shmem, kb("RssShmem") / 10, "resident_shmem")
    for _, zero in ipairs { "peak_pagefile_usage", "quota_peak_paged_pool_usage",
        "quota_paged_pool_usage", "quota_peak_non_paged_pool_usage", "quota_non_paged_pool_usage" } do
      assert.equal(0, p[zero], zero)
    end
  end)

  it("of a stopped process is frozen and its threads suspended", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    os.execute("kill -STOP " .. t.pid)
    -- closed before t: a stopped target would never see t:stop()'s SIGTERM
    local cont <close> = setmetatable({}, { __close = function ()   -- luacheck: ignore 211
      os.execute("kill -CONT " .. t.pid)
    end })
    assert.is_true(support.settle(t, "T"), "the target did not stop")
    local snap <close> = assert(pss.capture(t.pid, { "threads" }))
    local p = snap:query("process")
    assert.equal("T", p.state)
    assert.equal(pss.PROCESS_FLAGS_FROZEN, p.flags)
    assert.is_true(p.frozen)
    assert.equal(pss.STILL_ACTIVE, p.exit_status)
    for _, th in ipairs(support.entries(snap, "threads")) do
      assert.equal("T", th.state)
      assert.equal(1, th.suspend_count)
      assert.is_false(th.terminated)
    end
  end)

  it("has the priority class that the nice value and policy give", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local classes = { { 5, "below_normal", 0x4000 }, { 15, "idle", 0x40 }, { 0, "normal", 0x20 } }
    if support.is_root then
      table.insert(classes, { -5, "above_normal", 0x8000 })
      table.insert(classes, { -15, "high", 0x80 })
    end
    for _, c in ipairs(classes) do
      assert.is_true(os.execute(("renice -n %d -p %d >/dev/null"):format(c[1], t.pid)))
      local snap <close> = assert(pss.capture(t.pid, { "threads" }))
      local p = snap:query("process")
      assert.same({ c[1], c[1], c[2], c[3] }, { p.nice, p.base_priority, p.priority_class,
        p.priority_class_flags })
      local th = find(support.entries(snap, "threads"), "tid", t.pid)
      assert.same({ c[1], c[1], 20 + c[1] }, { th.nice, th.base_priority, th.priority })
    end
    if support.is_root and os.execute(("chrt -f -p 10 %d 2>/dev/null"):format(t.pid)) then
      local snap <close> = assert(pss.capture(t.pid, { "threads" }))
      local p = snap:query("process")
      assert.same({ "realtime", 0x100, 1, 10 }, { p.priority_class, p.priority_class_flags,
        p.policy, p.realtime_priority })
      local th = find(support.entries(snap, "threads"), "tid", t.pid)
      assert.same({ 1, 10, -11 }, { th.policy, th.realtime_priority, th.priority })
    end
  end)

  it("of pss.self is this process", function ()
    local snap <close> = assert(pss.capture(pss.self, 0))
    local p = snap:query("process")
    local me = support.my_pid()
    assert.equal(me, p.pid)
    assert.equal(support.stat(path(support.self(), "stat"))[4], tostring(p.parent_pid))
    assert.same(support.split0(support.read(path(support.self(), "cmdline"))), p.argv)
    assert.equal("R", p.state)
    assert.equal(support.at_entry(support.self()), p.entry_point)
  end)
end)

--- Report fd kind -> pss kind; object type of the kinds that have an arm.
local KIND = { ["file-ro"] = "file", ["file-wo-append"] = "file", ["file-rw"] = "file",
  ["file-odd"] = "file", directory = "directory", device = "device", ["pipe-read"] = "pipe",
  ["pipe-write"] = "pipe", fifo = "fifo", eventfd = "eventfd", ["eventfd-semaphore"] = "eventfd",
  timerfd = "timerfd", signalfd = "signalfd", epoll = "epoll", inotify = "inotify",
  pidfd = "pidfd", memfd = "memfd" }
local TYPE_NAME = { file = "File", directory = "Directory", device = "Device", pipe = "Pipe",
  fifo = "Fifo", socket = "Socket", eventfd = "EventFd", timerfd = "TimerFd",
  signalfd = "SignalFd", epoll = "Epoll", inotify = "Inotify", pidfd = "PidFd", memfd = "MemFd" }
local OBJECT = { pidfd = "process", eventfd = "event", ["eventfd-semaphore"] = "semaphore",
  memfd = "section" }
local ACCESS = { ["file-ro"] = "r", ["file-wo-append"] = "w", ["file-rw"] = "rw",
  ["pipe-read"] = "r", ["pipe-write"] = "w", fifo = "rw", device = "rw", directory = "r" }

--- What a report socket must look like: object_name, family, type, protocol, state.
local function socket_expect (fd)
  local k = fd.keys
  local established = ("tcp 127.0.0.1:%s -> 127.0.0.1:%s ESTABLISHED"):format(k.lport, k.rport)
  return ({
    ["socket-unix"] = { "unix stream", "unix", "stream", 0, "CONNECTED" },
    ["socket-unix-bound"] = { "unix stream " .. tostring(fd.path), "unix", "stream", 0, "LISTEN" },
    ["socket-tcp-listen"] = { ("tcp 127.0.0.1:%s LISTEN"):format(k.port), "inet", "stream", 6, "LISTEN" },
    ["socket-tcp-client"] = { established, "inet", "stream", 6, "ESTABLISHED" },
    ["socket-tcp-server"] = { established, "inet", "stream", 6, "ESTABLISHED" },
    ["socket-udp"] = { ("udp 127.0.0.1:%s"):format(k.port), "inet", "dgram", 17, "CLOSE" },
    ["socket-udp6"] = { ("udp6 [::1]:%s"):format(k.port), "inet6", "dgram", 17, "CLOSE" },
  })[fd.kind]
end

describe("handle entries", function ()
  it("are the fds of /proc/PID/fd, each as readlink and fdinfo say", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "handles" }))
    local handles = support.entries(snap, "handles")
    local fds = {}
    for i, h in ipairs(handles) do fds[i] = h.handle end
    assert.same(support.numbers(path(t.pid, "fd")), fds)
    assert.same({ handles_captured = #handles }, snap:query("handles"))
    local kind_of = {}
    for _, h in ipairs(handles) do
      local what = "fd " .. h.handle
      local info = support.fdinfo(t.pid, h.handle)
      local flags = tonumber(info.flags, 8)
      assert.equal(support.readlink(path(t.pid, "fd", h.handle)), h.target, what)
      assert.equal(flags, h.open_flags, what)
      assert.equal(tonumber(info.pos), h.position, what)
      assert.equal(tonumber(info.mnt_id), h.mount_id, what)
      if tonumber(info.ino) ~= 0 then assert.equal(tonumber(info.ino), h.inode, what) end
      local acc = flags & O_ACCMODE
      assert.equal(acc == 0 and "r" or acc == 1 and "w" or "rw", h.access, what)
      assert.equal(flags & O_CLOEXEC ~= 0, h.cloexec, what)
      assert.equal(flags & O_NONBLOCK ~= 0, h.nonblock, what)
      assert.equal(flags & O_APPEND ~= 0, h.append, what)
      assert.equal(h.cloexec and 0 or 2, h.attributes, what)
      assert.equal(flags & O_PATH ~= 0 and 0 or acc == 0 and GENERIC_READ or acc == 1 and GENERIC_WRITE
        or GENERIC_READ | GENERIC_WRITE, h.granted_access, what)
      for _, zero in ipairs { "handle_count", "pointer_count", "paged_pool_charge", "non_paged_pool_charge" } do
        assert.equal(0, h[zero], what .. " " .. zero)
      end
      assert.is_nil(h.creation_time, what)
      assert.equal("number", type(h.capture_time), what)
      assert.equal(pss["OBJECT_TYPE_" .. h.object_type:upper()], h.object_type_flags, what)
      local have = pss.HANDLE_HAVE_TYPE | pss.HANDLE_HAVE_NAME | pss.HANDLE_HAVE_BASIC_INFORMATION
      if h.object_type ~= "unknown" then have = have | pss.HANDLE_HAVE_TYPE_SPECIFIC_INFORMATION end
      assert.equal(have, h.flags, what)
      assert.equal(TYPE_NAME[h.kind], h.type_name, what)
      assert.equal("integer", math.type(h.kind_flags), what)
      kind_of[h.kind_flags] = kind_of[h.kind_flags] or h.kind
      assert.equal(kind_of[h.kind_flags], h.kind, what .. ": kind_flags names one kind")
    end
  end)

  it("describe each fd of the report: kind, names, flags, inode, access", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "handles" }))
    local handles = support.entries(snap, "handles")
    for _, fd in ipairs(t.fds) do
      local h = assert(find(handles, "handle", fd.fd), fd.kind)
      local what = fd.kind .. " (fd " .. fd.fd .. ")"
      local kind = KIND[fd.kind] or fd.kind:match("^socket") and "socket"
      assert.equal(kind, h.kind, what)
      assert.equal(TYPE_NAME[kind], h.type_name, what)
      assert.equal(OBJECT[fd.kind] or "unknown", h.object_type, what)
      assert.equal(fd.path and not fd.link and fd.path or fd.link, h.target, what)
      if kind == "socket" then
        if fd.kind == "socket-netlink" then
          assert.matches("^netlink", h.object_name, what)
          assert.equal("netlink", h.socket_family, what)
          assert.is_nil(h.socket_state, what)
        else
          local want = socket_expect(fd)
          assert.same(want, { h.object_name, h.socket_family, h.socket_type, h.socket_protocol,
            h.socket_state }, what)
        end
      else
        assert.equal(h.target, h.object_name, what)
        assert.is_nil(h.socket_family, what)
      end
      assert.equal(fd.flags, h.open_flags & ~O_CLOEXEC, what)
      assert.equal(fd.cloexec, h.cloexec, what)
      assert.equal(fd.inode, h.inode, what)
      if ACCESS[fd.kind] then assert.equal(ACCESS[fd.kind], h.access, what) end
      if fd.keys.offset then assert.equal(tonumber(fd.keys.offset), h.position, what) end
    end
    assert.equal(3, find(handles, "handle", t:fd("file-ro").fd).position)
    assert.is_true(find(handles, "handle", t:fd("file-wo-append").fd).append)
    assert.is_false(find(handles, "handle", t:fd("file-wo-append").fd).cloexec)
    assert.is_true(find(handles, "handle", t:fd("fifo").fd).nonblock)
  end)

  it("carry the counters and the type-specific arms", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "handles" }))
    local handles = support.entries(snap, "handles")
    local function h (kind) return assert(find(handles, "handle", t:fd(kind).fd), kind) end
    local ev, sem = h("eventfd"), h("eventfd-semaphore")
    assert.equal(5, ev.count)
    assert.equal(tonumber(support.fdinfo(t.pid, ev.handle)["eventfd-count"], 16), ev.count)
    assert.same({ manual_reset = false, signaled = true }, ev.event)
    assert.equal(2, sem.count)
    assert.same({ current_count = 2, maximum_count = 0x7fffffff }, sem.semaphore)
    assert.is_nil(sem.event)
    local sig = h("signalfd")
    assert.equal(1 << (tonumber(t:fd("signalfd").keys.signals) - 1), sig.count)
    assert.equal(tonumber(support.fdinfo(t.pid, sig.handle).sigmask, 16), sig.count)
    local timer = h("timerfd")
    assert.equal(tonumber(support.fdinfo(t.pid, timer.handle).ticks), timer.count)
    local memfd = h("memfd")
    assert.equal(65536, tonumber(t:fd("memfd").keys.size))
    assert.same({ base_address = 0, allocation_attributes = 0x08000000, maximum_size = 65536 },
      memfd.section)
    assert.equal("/memfd:pss-memfd (deleted)", memfd.object_name)
    local pidfd = t:fd("pidfd")
    if pidfd then
      local child = tonumber(pidfd.keys.pid)
      local cst = support.stat(path(child, "stat"))
      assert.same({ pid = child, parent_pid = t.pid, exit_status = pss.STILL_ACTIVE, flags = 0,
        peb_base_address = tonumber(cst[48]), base_priority = tonumber(cst[19]),
        affinity_mask = support.cpumask(support.status(child).Cpus_allowed) }, h("pidfd").process)
    end
    for _, e in ipairs(handles) do
      local arms = 0
      for _, arm in ipairs { "process", "thread", "mutant", "event", "section", "semaphore" } do
        if e[arm] ~= nil then
          arms = arms + 1
          assert.equal(arm, e.object_type)
        end
      end
      assert.equal(e.object_type == "unknown" and 0 or 1, arms, "fd " .. e.handle)
    end
  end)
end)

--- What docs/linux-mapping.md derives for each maps line: protect, state,
-- type, allocation base and protection, and the mapped file name.
local function derive (rows)
  local P = pss
  for i, r in ipairs(rows) do
    local rd, wr, ex = r.perms:sub(1, 1) == "r", r.perms:sub(2, 2) == "w", r.perms:sub(3, 3) == "x"
    local cow = wr and r.perms:sub(4, 4) == "p" and r.inode ~= 0
    r.protect_flags = not (rd or wr or ex) and P.PAGE_NOACCESS
      or ex and wr and (cow and P.PAGE_EXECUTE_WRITECOPY or P.PAGE_EXECUTE_READWRITE)
      or ex and rd and P.PAGE_EXECUTE_READ or ex and P.PAGE_EXECUTE
      or wr and (cow and P.PAGE_WRITECOPY or P.PAGE_READWRITE) or P.PAGE_READONLY
    r.state = r.protect_flags == P.PAGE_NOACCESS and "reserve" or "commit"
    r.type = (r.inode ~= 0 or r.perms:sub(4, 4) == "s") and "mapped"
      or r.path == "[vdso]" and "image" or "private"
    local prev = rows[i - 1]
    if r.inode ~= 0 then
      if prev and prev.alloc and prev.inode == r.inode and prev.device == r.device
          and prev.finish == r.start then
        r.alloc = prev.alloc
      else
        r.alloc = { first = r }
      end
      r.alloc.exec = r.alloc.exec or ex
    end
  end
  for _, r in ipairs(rows) do
    if r.alloc and r.alloc.exec then r.type = "image" end
    local first = r.alloc and r.alloc.first or r
    r.allocation_base, r.allocation_protect_flags = first.start, first.protect_flags
    r.mapped_file_name = r.type ~= "private" and r.path ~= "" and r.path or nil
  end
  return rows
end

local PROTECT_TEXT = { [pss.PAGE_NOACCESS] = "---", [pss.PAGE_READONLY] = "r--",
  [pss.PAGE_READWRITE] = "rw-", [pss.PAGE_WRITECOPY] = "rw-", [pss.PAGE_EXECUTE] = "--x",
  [pss.PAGE_EXECUTE_READ] = "r-x", [pss.PAGE_EXECUTE_READWRITE] = "rwx",
  [pss.PAGE_EXECUTE_WRITECOPY] = "rwx" }

describe("region entries", function ()
  it("are the lines of /proc/PID/maps with the documented derived fields", function ()
    local t <close> = support.start("--threads 1")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    local regions = support.entries(snap, "regions")
    local rows = derive(support.maps(t.pid))
    assert.equal(#rows, #regions)
    assert.same({ region_count = #rows }, snap:query("va_space"))
    for i, r in ipairs(rows) do
      local e = regions[i]
      local what = ("%x %s %s"):format(r.start, r.perms, r.path)
      local major, minor = r.device:match("^(%x+):(%x+)$")
      assert.same({ r.start, r.finish - r.start, r.perms, r.offset, r.inode, r.path,
          tonumber(major, 16), tonumber(minor, 16) },
        { e.base_address, e.region_size, e.protect, e.offset, e.inode, e.path,
          e.device_major, e.device_minor }, what)
      assert.equal(r.protect_flags, e.protect_flags, what)
      assert.equal(r.state, e.state, what)
      assert.equal(pss["MEM_" .. r.state:upper()], e.state_flags, what)
      assert.equal(r.type, e.type, what)
      assert.equal(pss["MEM_" .. r.type:upper()], e.type_flags, what)
      assert.equal(r.allocation_base, e.allocation_base, what)
      assert.equal(r.allocation_protect_flags, e.allocation_protect_flags, what)
      assert.equal(PROTECT_TEXT[r.allocation_protect_flags], e.allocation_protect, what)
      assert.equal(r.mapped_file_name, e.mapped_file_name, what)
      if i > 1 then assert.is_true(math.ult(regions[i - 1].base_address, e.base_address), what) end
    end
  end)

  it("include each map of the report with its kind's protection, state and type", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    local regions = support.entries(snap, "regions")
    local P = pss
    local want = {
      ["anon-rw"] = { P.PAGE_READWRITE, "commit", "private" },
      ["anon-ro"] = { P.PAGE_READONLY, "commit", "private" },
      ["anon-none"] = { P.PAGE_NOACCESS, "reserve", "private" },
      ["anon-rx"] = { P.PAGE_EXECUTE_READ, "commit", "private" },
      ["anon-shared"] = { P.PAGE_READWRITE, "commit", "mapped" },
      ["file-private"] = { P.PAGE_READONLY, "commit", "mapped" },
      ["file-shared"] = { P.PAGE_READWRITE, "commit", "mapped" },
      memfd = { P.PAGE_READWRITE, "commit", "mapped" },
    }
    assert.equal(8, #t.maps)
    for _, m in ipairs(t.maps) do
      local e = assert(find(regions, "base_address", m.start), m.kind)
      assert.equal(m.size, e.region_size, m.kind)
      assert.equal(m.perms, e.protect, m.kind)
      assert.equal(m.path or "", e.path, m.kind)
      assert.same(want[m.kind], { e.protect_flags, e.state, e.type }, m.kind)
      assert.equal(e.type == "mapped" and m.path or nil, e.mapped_file_name, m.kind)
      -- the PE fields exist only for image regions
      assert.same({}, { e.image_base, e.size_of_image, e.check_sum, e.time_date_stamp }, m.kind)
    end
    assert.equal("/memfd:pss-memfd (deleted)", t:map("memfd").path)
    assert.equal("/dev/zero (deleted)", t:map("anon-shared").path)
  end)

  it("give image base, size, build id and time of every mapped ELF image", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    local p = snap:query("process")
    local rows = derive(support.maps(t.pid))
    local regions = support.entries(snap, "regions")
    local images = 0
    for i, r in ipairs(rows) do
      local e = regions[i]
      local first = r.alloc and r.alloc.first
      if r.type == "image" and first and first.offset == 0 and first.perms:sub(1, 1) == "r"
          and r.path:sub(1, 1) == "/" and not r.path:find(" %(deleted%)$") then
        local elf = support.elf(r.path)
        local what = r.path .. (" %x"):format(r.start)
        assert.equal(first.start, e.image_base, what)
        assert.equal(elf.span, e.size_of_image, what)
        assert.equal(elf.build_id_word, e.check_sum, what)
        assert.equal(lfs.attributes(r.path, "modification") & 0xffffffff, e.time_date_stamp, what)
        if r.path == t.exe then
          images = images + 1
          assert.equal((elf.pie and first.start or 0) + elf.entry, p.entry_point)
        end
      elseif r.type ~= "image" then
        assert.same({}, { e.image_base, e.size_of_image, e.check_sum, e.time_date_stamp })
      end
    end
    assert.is_true(images > 0, "no region maps the executable")
  end)
end)

describe("names that are not UTF-8", function ()
  it("come back byte for byte in object_name, target, mapped_file_name and path", function ()
    local t <close> = support.start("--threads 0 --odd-name")
    assert.is_true(support.settle(t))
    assert.truthy(t.odd:find("odd-\xff\xfe-name", 1, true))
    local snap <close> = assert(pss.capture(t.pid, { "handles", "va_space" }))
    local h = find(support.entries(snap, "handles"), "handle", t:fd("file-odd").fd)
    assert.equal(t.odd, h.object_name)
    assert.equal(t.odd, h.target)
    local r = find(support.entries(snap, "regions"), "base_address", t:map("file-odd").start)
    assert.equal(t.odd, r.mapped_file_name)
    assert.equal(t.odd, r.path)
    assert.equal(t:map("file-odd").path, r.path)
  end)
end)

describe("addresses at or above 2^63", function ()
  local function check (snap, pid)
    local vsyscall
    for _, m in ipairs(support.maps(pid)) do
      if m.path == "[vsyscall]" then vsyscall = m end
    end
    if not vsyscall then
      pending("no [vsyscall] line in /proc/" .. pid .. "/maps on this kernel")
    end
    local regions = support.entries(snap, "regions")
    local e = assert(find(regions, "path", "[vsyscall]"))
    assert.is_true(e.base_address < 0)
    assert.equal("ffffffffff600000", ("%x"):format(e.base_address))
    assert.equal(vsyscall.start, e.base_address)
    assert.equal(vsyscall.finish - vsyscall.start, e.region_size)
    assert.equal(4096, e.region_size)
    for _, other in ipairs(regions) do
      if other ~= e then assert.is_true(math.ult(other.base_address, e.base_address)) end
    end
  end

  it("are negative integers with the right bits (pss.self)", function ()
    local snap <close> = assert(pss.capture(pss.self, { "va_regions" }))
    check(snap, support.self())
  end)

  it("are negative integers with the right bits (the target)", function ()
    local t <close> = support.start("--threads 0")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "va_space" }))
    check(snap, t.pid)
  end)
end)

describe("query classes", function ()
  it("answer by name and by pss.QUERY_* value alike", function ()
    local t <close> = support.start("--threads 2")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "handle_trace", "measure_performance" }))
    local classes = { process = pss.QUERY_PROCESS_INFORMATION, threads = pss.QUERY_THREAD_INFORMATION,
      handles = pss.QUERY_HANDLE_INFORMATION, va_space = pss.QUERY_VA_SPACE_INFORMATION,
      handle_trace = pss.QUERY_HANDLE_TRACE_INFORMATION, performance = pss.QUERY_PERFORMANCE_COUNTERS }
    for name, value in pairs(classes) do
      assert.same(snap:query(name), snap:query(value), name)
    end
    assert.same({ threads_captured = 3, context_length = 0 }, snap:query("threads"))
    assert.same({ handles_captured = #support.numbers(path(t.pid, "fd")) }, snap:query("handles"))
    assert.same({ region_count = #support.maps(t.pid) }, snap:query("va_space"))
    assert.same({ section_handle = 0, size = 0 }, snap:query("handle_trace"))
    for name, value in pairs { va_clone = pss.QUERY_VA_CLONE_INFORMATION,
                               auxiliary_pages = pss.QUERY_AUXILIARY_PAGES_INFORMATION } do
      local ok1, e1 = pcall(snap.query, snap, name)
      local ok2, e2 = pcall(snap.query, snap, value)
      assert.is_false(ok1)
      assert.is_false(ok2)
      assert.equal(e1, e2)
      assert.matches(name, e1, 1, true)
      assert.matches("captured", e1, 1, true)
    end
  end)
end)

describe("record tables", function ()
  --- Every key of a record is one pss.fields lists for it.
  local function only_listed (record, entry, what)
    local listed = {}
    for _, n in ipairs(pss.fields(record)) do listed[n] = true end
    for k, v in pairs(entry) do
      assert.is_true(listed[k] == true, ("%s: field %s is not in pss.fields(%q)"):format(what, k, record))
      if record == "handle" and type(v) == "table" then only_listed(k .. "_arm", v, what .. "." .. k) end
    end
  end

  it("carry only the fields pss.fields lists", function ()
    local t <close> = support.start("--threads 2 --odd-name")
    assert.is_true(support.settle(t))
    local snap <close> = assert(pss.capture(t.pid, { "threads", "handles", "va_space",
      "measure_performance" }))
    only_listed("process", snap:query("process"), "process")
    only_listed("performance", snap:query("performance"), "performance")
    for _, pair in ipairs { { "thread", "threads" }, { "handle", "handles" }, { "region", "regions" },
                            { "thread_name", "thread_names" } } do
      for i, e in ipairs(support.entries(snap, pair[2])) do
        only_listed(pair[1], e, pair[1] .. " " .. i)
      end
    end
  end)
end)
