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
  for k, v in (support.read(("/proc/%d/fdinfo/%d"):format(pid, fd)) or ""):gmatch("([%w_-]+):%s*([^\n]*)") do
    info[k] = v
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

return support
