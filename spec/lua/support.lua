--- Test support for the busted specs: start the test target, read its
-- report, and read /proc independently of pss.
local lfs = require "lfs"

local support = {}

support.target_path = os.getenv("PSS_TARGET") or "build/pss-target"
support.under_valgrind = os.getenv("PSS_UNDER_VALGRIND") == "1"
support.sanitized = os.getenv("PSS_SANITIZED") == "1"
support.is_root = io.popen("id -u"):read("l") == "0"

local function unhex (s)
  if s == nil or s == "-" then return nil end
  return (s:gsub("%x%x", function (h) return string.char(tonumber(h, 16)) end))
end
support.unhex = unhex

--- {======================================================================
-- /proc, read directly
-- ======================================================================

function support.read (path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

function support.readlink (path)
  return lfs.symlinkattributes(path, "target")
end

--- The numeric entries of a directory, sorted.
function support.numbers (path)
  local list = {}
  for name in lfs.dir(path) do
    if name:match("^%d+$") then list[#list + 1] = tonumber(name) end
  end
  table.sort(list)
  return list
end

--- Lines of /proc/PID/maps as {start, finish, perms, offset, inode, path}.
function support.maps (pid)
  local list = {}
  for line in (support.read("/proc/" .. pid .. "/maps") or ""):gmatch("[^\n]+") do
    local s, e, perms, off, dev, inode, path =
      line:match("^(%x+)%-(%x+) (%S+) (%x+) (%S+) (%d+)%s*(.*)$")
    list[#list + 1] = { start = tonumber(s, 16), finish = tonumber(e, 16), perms = perms,
      offset = tonumber(off, 16), device = dev, inode = tonumber(inode), path = path }
  end
  return list
end

--- fdinfo of one fd as a table of key -> string value.
function support.fdinfo (pid, fd)
  local info = {}
  -- by line: a timerfd's "settime flags:" line must not pass for "flags:"
  for k, v in (support.read(("/proc/%d/fdinfo/%d"):format(pid, fd)) or ""):gmatch("([^\n:]+):%s*([^\n]*)") do
    info[k] = info[k] or v
  end
  return info
end

--- Fields of /proc/PID/stat after the command, numbered as in proc(5).
function support.stat (path)
  local text = support.read(path)
  if not text then return nil end
  local comm, rest = text:match("^%d+ %((.*)%) (.*)$")
  local f = { [2] = comm }
  local i = 3
  for word in rest:gmatch("%S+") do f[i] = word; i = i + 1 end
  return f
end

--- key -> value of /proc/PID/status (the first column of each line).
function support.status (pid)
  local s = {}
  local dir = tostring(pid):sub(1, 1) == "/" and pid or "/proc/" .. pid
  for k, v in (support.read(dir .. "/status") or ""):gmatch("([%w_]+):%s*([^\n]*)") do
    s[k] = v
  end
  return s
end

--- A kB line of status in bytes.
function support.kb (status, key)
  return tonumber(status[key]:match("%d+")) * 1024
end

--- The low 64 bits of a "Cpus_allowed" mask, as pss returns them.
function support.cpumask (hex)
  return tonumber(hex:gsub(",", ""):sub(-16), 16)
end

--- The NUL-separated strings of a /proc file (cmdline) as a list.
function support.split0 (text)
  local list = {}
  for s in text:gmatch("([^%z]*)%z") do list[#list + 1] = s end
  return list
end

--- AT_ENTRY of /proc/PID/auxv.
function support.at_entry (pid)
  local auxv = support.read("/proc/" .. pid .. "/auxv")
  for i = 1, #auxv - 15, 16 do
    local key, value = string.unpack("<I8I8", auxv, i)
    if key == 9 then return value end
  end
end

local sysconf = {}
local function getconf (name)
  sysconf[name] = sysconf[name] or tonumber(io.popen("getconf " .. name):read("l"))
  return sysconf[name]
end

--- Clock ticks of /proc stat fields as seconds.
function support.ticks (n) return tonumber(n) / getconf("CLK_TCK") end

--- Epoch seconds of a stat(22) start time (to about a second: btime is whole).
function support.start_epoch (ticks)
  local btime = tonumber(support.read("/proc/stat"):match("btime (%d+)"))
  return btime + support.ticks(ticks)
end

--- This process's pid (from /proc/self/stat, read in this process).
function support.my_pid ()
  return tonumber(support.read("/proc/self/stat"):match("^%d+"))
end

--- "PID/." for this process: /proc/PID/./FILE is what the kernel says, even
-- under valgrind, which fakes /proc/self/FILE and /proc/PID/FILE (exe,
-- cmdline, auxv) for the program it runs.
function support.self () return support.my_pid() .. "/." end

--- A pid with no process: the first one below 4194000 not in /proc.
function support.missing_pid ()
  for pid = 4194000, 1, -1 do
    if not lfs.attributes("/proc/" .. pid) then return pid end
  end
end

--- Open fds of this process (the directory fd of the count included).
function support.fd_count ()
  return #support.numbers("/proc/self/fd")
end

--- Waits (at most ~10 s) until /proc/PID/stat says state (and, for "Z",
-- that no other thread is still exiting); true if it did.
function support.wait_state (pid, state)
  for _ = 1, 1000 do
    local st = support.stat("/proc/" .. pid .. "/stat")
    if st and st[3] == state and (state ~= "Z" or st[20] == "1") then return true end
    os.execute("sleep 0.01")
  end
  return false
end

--- Waits (at most ~10 s) until every thread of the target sleeps (or is in
-- `state`), so that what a capture saw is still what /proc says; true if
-- they do.
function support.settle (t, state)
  for _ = 1, 1000 do
    local all = true
    for _, tid in ipairs(support.numbers("/proc/" .. t.pid .. "/task")) do
      local st = support.stat(("/proc/%d/task/%d/stat"):format(t.pid, tid))
      all = all and st ~= nil and st[3] == (state or "S")
    end
    if all then return true end
    os.execute("sleep 0.01")
  end
  return false
end

--- Every entry of an iterator method ("threads", "handles", ...) as a list.
function support.entries (snap, method)
  local list = {}
  for e in snap[method](snap) do list[#list + 1] = e end
  return list
end

--- Full collection, twice (finalizers first, then what they released).
function support.collect ()
  collectgarbage("collect")
  collectgarbage("collect")
end

--- n, or small under valgrind.
function support.scale (n, small)
  return support.under_valgrind and small or n
end

--- An ELF file's entry, PT_LOAD span (page-rounded) and first build-id word
-- (0 unless the note lies in the first page), read from the file itself.
function support.elf (path)
  local f = assert(support.read(path))
  local etype, entry, phoff = string.unpack("<I2", f, 17), string.unpack("<I8", f, 25),
    string.unpack("<I8", f, 33)
  local phsize, phnum = string.unpack("<I2I2", f, 55)
  local lo, hi, build = math.maxinteger, 0, 0
  for i = 0, phnum - 1 do
    local ptype, _, off, vaddr, _, filesz, memsz = string.unpack("<I4I4I8I8I8I8I8", f, phoff + 1 + i * phsize)
    if ptype == 1 then
      lo, hi = math.min(lo, vaddr & ~4095), math.max(hi, (vaddr + memsz + 4095) & ~4095)
    elseif ptype == 4 and off + filesz <= 4096 then
      local at = off + 1
      while at + 12 <= off + 1 + filesz do
        local namesz, descsz, ntype = string.unpack("<I4I4I4", f, at)
        local desc = at + 12 + ((namesz + 3) & ~3)
        if ntype == 3 and f:sub(at + 12, at + 14) == "GNU" then build = string.unpack("<I4", f, desc) end
        at = desc + ((descsz + 3) & ~3)
      end
    end
  end
  return { pie = etype == 3, entry = entry, span = hi - lo, build_id_word = build }
end

--- Environment for a child lua5.4 that loads the same pss as this process.
function support.lua_env ()
  return ("LUA_PATH='%s' LUA_CPATH='%s'"):format(package.path, package.cpath)
end

--- A word for sh: s in single quotes.
function support.quote (s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function copy_file (from, to)
  local bytes = assert(support.read(from), from)
  local f = assert(io.open(to, "wb"))
  assert(f:write(bytes))
  assert(f:close())
end

--- A copy of the pss this process loads (pss.lua, the pss/*.lua modules and
-- pss/core.so) in a new directory under $TMPDIR (or /tmp) that every user
-- may read: for a child that runs as another user, who may not be able to
-- enter the checkout (a clone under a 0700 directory). A to-be-closed
-- value that removes the directory, with fields dir, core (the copy of
-- core.so) and env (LUA_PATH and LUA_CPATH for the child, as for sh).
function support.public_modules ()
  local pss_lua = assert(package.searchpath("pss", package.path), "pss.lua not on package.path")
  local core = assert(package.searchpath("pss.core", package.cpath), "pss.core not on package.cpath")
  local tmp = os.getenv("TMPDIR")
  if tmp == nil or tmp == "" then tmp = "/tmp" end
  local mktemp = assert(io.popen("mktemp -d " .. support.quote(tmp .. "/pss-spec.XXXXXX")))
  local dir = mktemp:read("l")
  mktemp:close()
  assert(dir and dir ~= "", "mktemp -d failed under " .. tmp)
  local copy = setmetatable({ dir = dir, core = dir .. "/pss/core.so" }, { __close = function ()
    os.execute("rm -rf " .. support.quote(dir))
  end })
  local ok, err = pcall(function ()
    assert(lfs.mkdir(dir .. "/pss"))
    copy_file(pss_lua, dir .. "/pss.lua")
    local modules = pss_lua:gsub("%.lua$", "")
    for name in lfs.dir(modules) do
      if name:match("%.lua$") then copy_file(modules .. "/" .. name, dir .. "/pss/" .. name) end
    end
    copy_file(core, copy.core)
    assert(os.execute("chmod -R a+rX " .. support.quote(dir)))
  end)
  if not ok then
    getmetatable(copy).__close()
    error(err, 2)
  end
  copy.env = ("LUA_PATH=%s LUA_CPATH=%s"):format(support.quote(dir .. "/?.lua;;"),
    support.quote(dir .. "/?.so;;"))
  return copy
end
--- }======================================================================


--- {======================================================================
-- The test target (spec/support/pss-target.c)
-- ======================================================================

local Target = {}
Target.__index = Target

local function parse_keys (words, from)
  local keys = {}
  for i = from, #words do
    local k, v = words[i]:match("^([%w_]+)=(.*)$")
    if k then keys[k] = v end
  end
  return keys
end

local function parse_line (t, line)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local tag = words[1]
  if tag == "pid" then t.pid = tonumber(words[2])
  elseif tag == "exe" then t.exe = unhex(words[2])
  elseif tag == "thread" then
    t.threads[#t.threads + 1] = { tid = tonumber(words[2]), name = words[3] }
  elseif tag == "fd" then
    local keys = parse_keys(words, 4)
    local fd = { fd = tonumber(words[2]), kind = words[3], keys = keys,
      path = unhex(keys.path), link = unhex(keys.link),
      cloexec = keys.cloexec == "1", inode = tonumber(keys.inode),
      flags = keys.flags and tonumber(keys.flags, 8) }
    t.fds[#t.fds + 1] = fd
  elseif tag == "map" then
    t.maps[#t.maps + 1] = { start = tonumber(words[2], 16), size = tonumber(words[3]),
      perms = words[4], kind = words[5], path = unhex(words[6]) }
  elseif tag == "writer" then
    t.writer = { tid = tonumber(words[2]), counter = tonumber(words[3], 16),
      buffer = tonumber(words[4], 16), bytes = tonumber(words[5]) }
  elseif tag == "odd" then t.odd = unhex(words[2])
  elseif tag == "extra-fds" then t.extra_fds = tonumber(words[2])
  elseif tag == "extra-maps" then t.extra_maps = tonumber(words[2])
  end
end

--- Starts the target with extra command-line arguments and waits for its
-- report. The target ends by itself after five minutes at the latest, so
-- a failing spec can never leave it behind for long.
function support.start (args)
  local cmd = ("exec %s %s --exit-after 300000 </dev/null"):format(support.target_path, args or "")
  local pipe = assert(io.popen(cmd, "r"))
  local t = setmetatable({ pipe = pipe, threads = {}, fds = {}, maps = {} }, Target)
  for line in pipe:lines() do
    if line == "ready" then t.ready = true; break end
    parse_line(t, line)
  end
  assert(t.ready and t.pid, "the target did not start: " .. cmd)
  return t
end

--- The first fd of the report with this kind.
function Target:fd (kind)
  for _, fd in ipairs(self.fds) do
    if fd.kind == kind then return fd end
  end
end

--- The map of the report with this kind.
function Target:map (kind)
  for _, m in ipairs(self.maps) do
    if m.kind == kind then return m end
  end
end

--- Stops the target (SIGTERM) and reaps it; safe to call twice.
function Target:stop ()
  if self.pipe then
    os.execute(("kill -TERM %d 2>/dev/null"):format(self.pid))
    self.pipe:close()
    self.pipe = nil
  end
end
Target.__close = Target.stop
Target.__gc = Target.stop

--- Starts a target that exits at once with `code` and stays a zombie
-- until :stop() reaps it.
function support.start_zombie (code)
  return support.start(("--exit-now %d"):format(code))
end
--- }======================================================================

--- {======================================================================
-- The stack target (spec/support/stack-target.c) and eu-stack, the oracle
-- of the stack specs
-- ======================================================================

support.stack_target_path = os.getenv("PSS_STACK_TARGET") or "build/stack-target"

--- A new directory under $TMPDIR (or /tmp); removed by support.remove_dir.
function support.temp_dir ()
  local tmp = os.getenv("TMPDIR")
  if tmp == nil or tmp == "" then tmp = "/tmp" end
  local p = assert(io.popen("mktemp -d " .. support.quote(tmp .. "/pss-spec.XXXXXX")))
  local dir = p:read("l")
  p:close()
  assert(dir and dir ~= "", "mktemp -d failed under " .. tmp)
  return dir
end

function support.remove_dir (dir)
  if dir and dir:find("/pss%-spec%.") then os.execute("rm -rf " .. support.quote(dir)) end
end

--- Waits (at most `seconds`, default 10) until f() gives a true value;
-- returns it, or nil when the time is up.
function support.wait_for (f, seconds)
  for _ = 1, math.floor((seconds or 10) * 100) do
    local v = f()
    if v then return v end
    os.execute("sleep 0.01")
  end
end

local StackTarget = {}
StackTarget.__index = StackTarget

--- Starts the stack target with these arguments; its stdin is a pipe the
-- spec holds (EOF ends it), its report goes to a file read until
-- "ready" (at most 10 s). Fields: pid, threads = {{tid, name, role}},
-- and role(name) -> the first thread of that role. It runs without the
-- LD_PRELOAD of a sanitized or valgrind run: its stacks are its own.
function support.start_stack_target (args)
  local dir = support.temp_dir()
  local out = dir .. "/report"
  local stdin = assert(io.popen(("exec env -u LD_PRELOAD %s %s >%s 2>&1"):format(
    support.stack_target_path,
    args or "", support.quote(out)), "w"))
  local t = setmetatable({ stdin = stdin, dir = dir, threads = {} }, StackTarget)
  local report = support.wait_for(function ()
    local text = support.read(out)
    return text and text:find("\nready\n") and text
  end)
  if not report then
    t:stop()
    error("the stack target did not start: " .. tostring(support.read(out)))
  end
  for line in report:gmatch("[^\n]+") do
    local pid = line:match("^pid (%d+)$")
    if pid then t.pid = tonumber(pid) end
    local tid, name, role = line:match("^thread (%d+) (%S+) (%S+)$")
    if tid then t.threads[#t.threads + 1] = { tid = tonumber(tid), name = name, role = role } end
  end
  return t
end

function StackTarget:role (role)
  for _, th in ipairs(self.threads) do
    if th.role == role then return th end
  end
end

--- Kills the target (SIGKILL: a frozen thread cannot hold it back),
-- reaps it and removes its directory; safe to call twice.
function StackTarget:stop ()
  if self.stdin then
    if self.pid then os.execute(("kill -KILL %d 2>/dev/null"):format(self.pid)) end
    self.stdin:close()
    self.stdin = nil
    support.remove_dir(self.dir)
  end
end
StackTarget.__close = StackTarget.stop
StackTarget.__gc = StackTarget.stop

--- A function name as eu-stack and pss both give it, without the symbol
-- version ("__libc_start_main@@GLIBC_2.34" -> "__libc_start_main").
function support.bare_name (name)
  if name == nil or name == "" then return "??" end
  return (name:gsub("@.*$", ""))
end

--- `eu-stack -p PID` (no debuginfod): tid -> list of function names,
-- innermost first ("??" where it names none); nil, reason when eu-stack
-- gives nothing.
function support.eu_stack (pid)
  local p = assert(io.popen(("env -u DEBUGINFOD_URLS -u LD_PRELOAD timeout 60 eu-stack -p %d 2>/dev/null")
    :format(pid)))
  local text = p:read("a")
  p:close()
  local stacks, current = {}, nil
  for line in text:gmatch("[^\n]+") do
    local tid = line:match("^TID (%d+):")
    if tid then
      current = {}
      stacks[tonumber(tid)] = current
    elseif current then
      local name = line:match("^#%d+%s+0x%x+%s*(.*)$")
      if name then current[#current + 1] = support.bare_name(name:match("^(%S*)")) end
    end
  end
  if next(stacks) == nil then return nil, "eu-stack gave no stack: " .. text end
  return stacks
end

--- A TCP port on 127.0.0.1 that no socket uses now (python3 binds port 0
-- and says which it got); nil without python3.
function support.free_port ()
  local p = io.popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); "
    .. "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])' 2>/dev/null")
  local port = p and tonumber(p:read("l"))
  if p then p:close() end
  return port
end

--- Sends SIGKILL to pid and waits (at most 5 s) until it is gone or a
-- zombie for its parent to reap.
function support.kill_wait (pid)
  os.execute(("kill -KILL %d 2>/dev/null"):format(pid))
  support.wait_for(function ()
    local st = support.stat("/proc/" .. pid .. "/stat")
    return st == nil or st[3] == "Z"
  end, 5)
end

--- Starts a shell command line as a process of its own (sh execs it,
-- without the LD_PRELOAD of a sanitized or valgrind run): returns its pid
-- and the popen handle whose close reaps it, after the caller ended it.
-- The command's output must go elsewhere.
function support.spawn (command)
  local p = assert(io.popen("echo $$; unset LD_PRELOAD; exec " .. command, "r"))
  local pid = tonumber(p:read("l"))
  return pid, p
end

--- Whether an executable file is at path.
function support.executable (path)
  return os.execute("test -x " .. support.quote(path)) == true
end
--- }======================================================================

--- Sizes as the docs define them (binary units, one decimal), written here
-- again, apart from pss.text, for the specs of the text it writes.
function support.human (n)
  if n < 1024 then return n .. " B" end
  local units, v, u = { "KiB", "MiB", "GiB", "TiB" }, n, 0
  repeat v = v / 1024; u = u + 1 until v < 1024 or u == #units
  return ("%.1f %s"):format(v, units[u])
end

--- The blocks of a report (separated by blank lines), each a list of its
-- lines, by the first word of their heading: "Process", "Threads:",
-- "Handles:", "Regions:", "Memory".
function support.report_blocks (text)
  local list = {}
  for block in (text .. "\n"):gmatch("(.-)\n\n") do
    local lines = {}
    for line in block:gmatch("[^\n]+") do lines[#lines + 1] = line end
    if lines[1] then list[lines[1]:match("^(%S+)")] = lines end
  end
  return list
end

--- Calls f(...) and returns the message of the error it must raise.
--- Runs bin/pss with a shell command line of arguments (with `before`
-- and `after` around the command, e.g. an environment or a redirection);
-- exit status, stdout, stderr.
function support.run_pss (args, before, after)
  local err = os.tmpname()
  local cmd = ("%s bin/pss %s %s 2>%s"):format(before or "", args, after or "", err)
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  local _, _, status = p:close()
  local stderr = support.read(err)
  os.remove(err)
  return status, out, stderr
end

function support.raises (f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error raised", 2)
  return tostring(err)
end

return support
