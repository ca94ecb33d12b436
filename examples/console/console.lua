--- console.lua: pss from a game console, a few walk entries per frame.
-- examples/console/console.c runs this chunk once, then calls frame(n) once
-- per frame until it returns false. The game gives it the table `console`:
--   console.target      the other process to capture (a pid)
--   console.pid         this process's pid
--   console.per_frame   entries to walk per snapshot and frame
--   console.check(ok, name [, detail])   reports one TAP test
--   console.tasks(pid)  the tids in /proc/PID/task, or nil, message
-- Entry lines are printed as TAP comments ("# ...").
-- luacheck: read globals console, globals frame
local pss = require "pss"

local OPTIONS = { "threads", "handles", "va_space" }
local CLASSES = { "threads", "handles", "regions" }
local QUERY = { threads = { "threads", "threads_captured" },
                handles = { "handles", "handles_captured" },
                regions = { "va_space", "region_count" } }

local show = {
  threads = function (t)
    return ("thread %-7d %-16s %s"):format(t.tid, t.name or "", t.state or "?")
  end,
  handles = function (h)
    return ("handle %-4d %-9s %s"):format(h.handle, h.type_name or "?",
      h.object_name or h.target or "")
  end,
  regions = function (r)
    return ("region %012x %10d %s %s"):format(r.base_address, r.region_size, r.protect,
      r.path ~= "" and r.path or r.mapped_file_name or "")
  end,
}

-- One walk per snapshot. A single marker goes through the classes in turn:
-- walking another class with the same marker starts that class afresh.
local walks = {}
local walk_frames = 0
local max_blocks = 0     -- marker blocks seen live in the game's allocator

local function new_walk (label, snap)
  return { label = label, snap = snap, marker = assert(snap:marker()), class = 1,
           walked = { threads = 0, handles = 0, regions = 0 }, tids = {} }
end

-- Walks up to n entries of w, printing each; true when w is complete.
local function step (w, n)
  local count = 0
  while count < n and w.class <= #CLASSES do
    local class = CLASSES[w.class]
    local entry = w.snap:walk(class, w.marker)
    if entry == nil then
      w.class = w.class + 1
    else
      count = count + 1
      w.walked[class] = w.walked[class] + 1
      if class == "threads" then w.tids[#w.tids + 1] = entry.tid end
      print(("# %-10s %s"):format(w.label, show[class](entry)))
    end
  end
  return w.class > #CLASSES
end

-- Frame 1: capture this process and the target.
local function start ()
  local problems = {}
  local function problem (fmt, ...) problems[#problems + 1] = fmt:format(...) end
  local self_snap, err = pss.capture(pss.self, OPTIONS)
  local other, other_err = pss.capture(console.target, OPTIONS)
  local threads = "?"
  if not self_snap then problem("self: %s", err)
  elseif self_snap:query("process").pid ~= console.pid then
    problem("self snapshot has pid %d, not %d", self_snap:query("process").pid, console.pid)
  end
  if not other then problem("pid %d: %s", console.target, other_err)
  else
    local p = other:query("process")
    threads = other:query("threads").threads_captured
    local tasks, tasks_err = console.tasks(console.target)
    if p.pid ~= console.target then problem("snapshot has pid %d", p.pid) end
    if not tasks then problem("%s", tasks_err)
    elseif #tasks ~= threads then
      problem("%d threads captured, %d in /proc/%d/task", threads, #tasks, console.target)
    end
    print(("# %s: %s"):format(p.image_file_name, tostring(other)))
  end
  console.check(#problems == 0, ("captured self (pid %d) and pid %d (%s threads, as /proc/%d/task)")
    :format(console.pid, console.target, threads, console.target), table.concat(problems, "; "))
  if #problems > 0 then
    if self_snap then self_snap:free() end
    if other then other:free() end
    return false
  end
  walks = { new_walk("self", self_snap), new_walk(("pid %d"):format(console.target), other) }
  return true
end

local function same_list (a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Both walks are done: each class walked as many entries as the snapshot
-- holds, and the target's threads are the tids of /proc/PID/task.
local function check_walks ()
  local problems, total = {}, { threads = 0, handles = 0, regions = 0 }
  for _, w in ipairs(walks) do
    for class, q in pairs(QUERY) do
      local expected = w.snap:query(q[1])[q[2]]
      total[class] = total[class] + w.walked[class]
      if w.walked[class] ~= expected then
        problems[#problems + 1] = ("%s: walked %d %s, the snapshot holds %d")
          :format(w.label, w.walked[class], class, expected)
      end
    end
  end
  local tids = walks[2].tids
  table.sort(tids)
  local tasks = console.tasks(console.target) or {}
  table.sort(tasks)
  if not same_list(tids, tasks) then
    problems[#problems + 1] = ("walked tids {%s}, /proc/%d/task {%s}"):format(
      table.concat(tids, ","), console.target, table.concat(tasks, ","))
  end
  console.check(#problems == 0, ("walked %d threads, %d handles, %d regions over %d frames, "
    .. "%d entries per snapshot a frame"):format(total.threads, total.handles, total.regions,
    walk_frames, console.per_frame), table.concat(problems, "; "))
end

-- The last frame: free the markers and the snapshots, one of them by
-- <close>, and check that the markers' memory went back to the game.
local function finish ()
  local problems = {}
  local self_walk, other_walk = walks[1], walks[2]
  local markers = { self_walk.marker, other_walk.marker }
  walks = {}
  for _, m in ipairs(markers) do m:free() end
  local blocks, bytes = pss.allocations()
  if blocks ~= 0 or bytes ~= 0 then
    problems[#problems + 1] = ("%d marker blocks (%d bytes) live after m:free()"):format(blocks, bytes)
  end
  self_walk.snap:free()
  do
    local snap <close> = other_walk.snap   -- freed when this block ends
    print(("# last look: %s"):format(tostring(snap)))
  end
  for _, s in ipairs({ self_walk.snap, other_walk.snap }) do
    if pss.type(s) ~= "freed snapshot" then problems[#problems + 1] = tostring(s) .. " not freed" end
  end
  for _, m in ipairs(markers) do
    if pss.type(m) ~= "freed marker" then problems[#problems + 1] = "a marker is not freed" end
  end
  collectgarbage("collect")
  collectgarbage("collect")
  blocks, bytes = pss.allocations()
  if blocks ~= 0 or bytes ~= 0 then
    problems[#problems + 1] = ("%d marker blocks (%d bytes) live after a full GC"):format(blocks, bytes)
  end
  if max_blocks < #markers then
    problems[#problems + 1] = ("the markers held only %d blocks of the game's allocator"):format(max_blocks)
  end
  console.check(#problems == 0, ("freed %d markers and 2 snapshots (one by <close>); the markers "
    .. "had held %d blocks of the game's allocator, 0 after a full GC"):format(#markers, max_blocks),
    table.concat(problems, "; "))
end

--- Called by the game once per frame; returns true while it wants more.
function frame (n)
  if n == 1 then return start() end
  local all_done = true
  for _, w in ipairs(walks) do
    if not w.done then
      w.done = step(w, console.per_frame)
      all_done = all_done and w.done
    end
  end
  max_blocks = math.max(max_blocks, (pss.allocations()))
  walk_frames = walk_frames + 1
  if not all_done then return true end
  check_walks()
  finish()
  return false
end
