--- pss.processes(): the running processes, one table each, from
-- pss.core.processes: on Linux from /proc (a process that vanishes or
-- cannot be read while the list is made is left out, not an error), on
-- Windows from the ToolHelp API. See docs/lua-api.md.
local core = require "pss.core"

local M = {}

--- The list in pid order (Linux gives it so; ToolHelp in its own). A
-- failure raises, blamed on the caller of the function that calls this
-- one (never in a tail call): the loop over M.processes, or the caller of
-- M.list.
local function sorted ()
  local list, msg = core.processes()
  if not list then error(msg, 3) end
  table.sort(list, function (a, b) return a.pid < b.pid end)
  return list
end

--- Iterator over the running processes, in pid order. On Linux: pid,
-- ppid, name, state (the stat letter), uid, user, threads, rss (bytes);
-- on Windows: pid, ppid, name, threads, base_priority, and rss and user
-- where this user may open the process. The list is made at the first
-- step, so a process that ends between this call and the loop is not in
-- it. A failure of the list raises.
function M.processes ()
  local list, i
  return function ()
    list = list or sorted()
    i = (i or 0) + 1
    return list[i]
  end
end

--- The processes as a list (a new one each call).
function M.list ()
  local list = sorted()
  return list
end

return M
