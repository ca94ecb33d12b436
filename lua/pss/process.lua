--- pss.processes(): the running processes, one table each.
-- On Linux from /proc: a process that vanishes or cannot be read while
-- the list is made is skipped, not an error. On Windows from the ToolHelp
-- API (pss.core.processes). See docs/lua-api.md.
local core = require "pss.core"

local M = {}

local function read (path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- User names by uid, from /etc/passwd (read once per listing).
local function user_names ()
  local names = {}
  for line in (read("/etc/passwd") or ""):gmatch("[^\n]+") do
    local name, uid = line:match("^([^:]*):[^:]*:(%d+):")
    if name and not names[tonumber(uid)] then names[tonumber(uid)] = name end
  end
  return names
end

local page_size

--- One process from its /proc directory, or nil if it is gone.
local function entry (pid, names)
  local stat = read(("/proc/%d/stat"):format(pid))
  local status = read(("/proc/%d/status"):format(pid))
  if not stat or not status then return nil end
  -- the name may hold spaces and parentheses: it ends at the last ')'
  local name, rest = stat:match("^%d+ %((.*)%) (.*)$")
  if not name then return nil end
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  local uid = tonumber(status:match("\nUid:%s*(%d+)"))
  return {
    pid = pid,
    ppid = tonumber(fields[2]),
    name = name,
    state = fields[1],
    uid = uid,
    user = uid and (names[uid] or tostring(uid)),
    threads = tonumber(fields[18]),
    rss = tonumber(fields[22]) * page_size,
  }
end

--- The ToolHelp list, in pid order: pid, ppid, name, threads,
-- base_priority, and rss and user where this user may open the process.
local function windows_processes ()
  local list, msg = core.processes()
  if not list then error(msg, 3) end
  table.sort(list, function (a, b) return a.pid < b.pid end)
  local i = 0
  return function ()
    i = i + 1
    return list[i]
  end
end

--- Iterator over the running processes, in pid order: pid, ppid, name,
-- state (the stat letter), uid, user, threads, rss (bytes).
function M.processes ()
  if core.platform == "windows" then return windows_processes() end
  local pids = {}
  local lfs = require "lfs"
  for name in lfs.dir("/proc") do
    local pid = tonumber(name)
    if pid and name:match("^%d+$") then pids[#pids + 1] = pid end
  end
  table.sort(pids)
  if not page_size then
    local getconf = io.popen("getconf PAGESIZE")
    page_size = tonumber(getconf and getconf:read("l")) or 4096
    if getconf then getconf:close() end
  end
  local names, i = user_names(), 0
  return function ()
    while i < #pids do
      i = i + 1
      local e = entry(pids[i], names)
      if e then return e end
    end
  end
end

--- The processes as a list.
function M.list ()
  local list = {}
  for p in M.processes() do list[#list + 1] = p end
  return list
end

return M
