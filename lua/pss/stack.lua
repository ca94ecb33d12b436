--- pss.stack: every thread's stack of a snapshot, as text for people (like
-- eu-stack), in the collapsed format flame-graph tools read, and merged
-- over several captures (the "poor man's profiler"). Pure Lua over
-- snap:stack; the report (pss.report), the diff (pss.diff) and the `pss
-- stack` command (pss.cli) use it. See docs/lua-api.md ("Stacks").
local text = require "pss.text"
local printable = text.printable

local M = {}

-- pss.core only when a function runs: no require cycle while pss loads.
local function core () return require "pss.core" end

--- Whether snap:stack can unwind the threads of a snapshot: Linux, with
-- threads, their contexts and the regions, and the stack bytes (the
-- stacks option) or a VA clone to read them from.
function M.has_stacks (snap)
  if core().platform ~= "linux" or core().type(snap) ~= "snapshot" then return false end
  if not (snap:captured("threads") and snap:captured("va_space")) then return false end
  if snap:query("threads").context_length == 0 then return false end
  return snap:captured("auxiliary_pages") or snap:captured("va_clone")
end

--- Every thread of a snapshot with its stack, in walk order: a list of
-- {tid, name, state, frames} (frames as snap:stack gives them, with
-- end_reason and end_detail); nil, message, code on the first stack that
-- cannot be had. options as snap:stack's ({lines = true}: source lines).
function M.stacks (snap, options)
  local kind = core().type(snap)
  if kind ~= "snapshot" then
    error(("bad argument #1 to 'stacks' (snapshot expected, got %s)"):format(kind or type(snap)), 2)
  end
  if not snap:captured("threads") then
    error("threads were not captured (capture with the \"stacks\" option)", 2)
  end
  local list = {}
  for t in snap:threads() do
    local frames, msg, code = snap:stack(t.tid, options)
    if not frames then return nil, msg, code end
    list[#list + 1] = { tid = t.tid, name = t.name, state = t.state, frames = frames }
  end
  return list
end

--- {======================================================================
-- One frame in words
-- ======================================================================

--- The last part of a path.
local function basename (path)
  return path:match("([^/]*)$")
end
M.basename = basename

--- A frame's function as the merged views and the diff compare it: the
-- symbol, else "?? (module)", else "??" (the offset would tell two
-- instants of one loop apart).
function M.function_name (f)
  if f.symbol then return f.symbol end
  if f.module then return ("?? (%s)"):format(basename(f.module)) end
  return "??"
end

--- "symbol+0xoff (module)", "?? (module+0xoffset)" or "??": the part of
-- an eu-stack line after the pc.
function M.frame_text (f)
  local module = f.module and printable(basename(f.module))
  if f.symbol then
    local s = ("%s+0x%x"):format(printable(f.symbol), f.offset or 0)
    return module and ("%s (%s)"):format(s, module) or s
  end
  if module then return ("?? (%s+0x%x)"):format(module, f.module_offset or 0) end
  return "??"
end

--- "#N  0x<pc> <frame_text>", N counted from 0, as eu-stack numbers them.
-- texts, if given, keeps each frame's text by address: the threads of a
-- process share most of their return addresses, and within one snapshot
-- an address (and whether it is exact) always reads the same.
function M.frame_line (i, f, texts)
  local words
  if texts then
    local key = f.activation and -f.pc or f.pc
    words = texts[key]
    if not words then
      words = M.frame_text(f)
      texts[key] = words
    end
  else
    words = M.frame_text(f)
  end
  return ("#%-2d 0x%016x %s"):format(i - 1, f.pc, words)
end

--- Why a stack ends, when it is not its outermost frame; nil otherwise.
function M.end_text (frames)
  local reason = frames.end_reason
  if reason == nil or reason == "outermost" then return nil end
  local detail = frames.end_detail
  if detail == nil or detail == "" then return "stack ends: " .. reason end
  return ("stack ends: %s (%s)"):format(reason, printable(detail))
end
--- }======================================================================


--- {======================================================================
-- Text: every thread, like eu-stack
-- ======================================================================

--- The text of one capture: "PID <pid> <comm>", then per thread "TID <tid>
-- <name> (<state>)", its frames and, where it did not reach the
-- outermost frame, why; an empty line between threads.
function M.text (pid, comm, threads)
  local out = { ("PID %d%s"):format(pid, comm and " " .. printable(comm) or "") }
  local texts = {}
  for _, t in ipairs(threads) do
    out[#out + 1] = ""
    out[#out + 1] = ("TID %d %s (%s)"):format(t.tid, printable(t.name or "?"), t.state or "?")
    for i, f in ipairs(t.frames) do
      out[#out + 1] = M.frame_line(i, f, texts)
      -- as eu-stack -s: the source line under its frame
      if f.file then out[#out + 1] = ("    %s:%d"):format(printable(f.file), f.line or 0) end
    end
    local why = M.end_text(t.frames)
    if why then out[#out + 1] = "-- " .. why end
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end
--- }======================================================================


--- {======================================================================
-- Merged stacks: counts over captures and threads
-- ======================================================================

--- The function names of a stack, innermost first.
function M.functions (frames)
  local names = {}
  for i, f in ipairs(frames) do names[i] = M.function_name(f) end
  return names
end

--- A frame's name in a collapsed stack: the symbol, "[module]" or
-- "[unknown]"; ';' (the separator) becomes ':' and a name is printable.
local function folded_name (f)
  local name = f.symbol or (f.module and "[" .. basename(f.module) .. "]") or "[unknown]"
  return (printable(name):gsub(";", ":"))
end

--- One collapsed stack: "name;outermost;...;innermost" ("name;[reason]"
-- for a thread with no frame).
local function folded_stack (t)
  local parts = { (printable(t.name or "?"):gsub(";", ":")) }
  if #t.frames == 0 then parts[2] = "[" .. (t.frames.end_reason or "no frames") .. "]" end
  for i = #t.frames, 1, -1 do parts[#parts + 1] = folded_name(t.frames[i]) end
  return table.concat(parts, ";")
end

--- Counts of equal keys, most frequent first (then by key): a list of
-- {key, count, first} where first is the first item that had the key.
local function count_by (items, key_of)
  local by_key, list = {}, {}
  for _, item in ipairs(items) do
    local k = key_of(item)
    local c = by_key[k]
    if not c then
      c = { key = k, count = 0, first = item, names = {}, name_list = {} }
      by_key[k] = c
      list[#list + 1] = c
    end
    c.count = c.count + 1
    local name = item.name or "?"
    if not c.names[name] then c.names[name] = true; c.name_list[#c.name_list + 1] = name end
  end
  table.sort(list, function (a, b)
    if a.count ~= b.count then return a.count > b.count end
    return a.key < b.key
  end)
  return list
end

--- Every thread of every capture as one list (captures: a list of what
-- M.stacks gave for each).
local function all_threads (captures)
  local all = {}
  for _, threads in ipairs(captures) do
    for _, t in ipairs(threads) do all[#all + 1] = t end
  end
  return all
end

--- The collapsed-stack lines of the captures, one per distinct stack of
-- each thread name ("name;outer;...;inner count"), most frequent first.
function M.folded (captures)
  local out = {}
  for _, c in ipairs(count_by(all_threads(captures), folded_stack)) do
    out[#out + 1] = ("%s %d"):format(c.key, c.count)
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

--- The key of a stack in the merge: its functions and modules, and why it
-- ends.
local function merge_key (t)
  local parts = {}
  for i, f in ipairs(t.frames) do
    parts[i] = M.function_name(f) .. "\0" .. (f.module or "")
  end
  parts[#parts + 1] = t.frames.end_reason or ""
  return table.concat(parts, "\1")
end

--- The distinct stacks of the captures, most frequent first: a list of
-- {count, names (the thread names that had it, sorted), end_reason,
-- frames = {{symbol =, module =}, ...} innermost first}.
function M.merge (captures)
  local merged = {}
  for _, c in ipairs(count_by(all_threads(captures), merge_key)) do
    local frames = {}
    for i, f in ipairs(c.first.frames) do frames[i] = { symbol = f.symbol, module = f.module } end
    table.sort(c.name_list)
    merged[#merged + 1] = { count = c.count, names = c.name_list, frames = frames,
      end_reason = c.first.frames.end_reason }
  end
  return merged
end

--- A capture's threads as plain tables for JSON: the end of each stack
-- beside its frames, not on the list.
local function plain (threads)
  local list = {}
  for i, t in ipairs(threads) do
    list[i] = { tid = t.tid, name = t.name, state = t.state,
      frames = table.move(t.frames, 1, #t.frames, 1, {}),
      end_reason = t.frames.end_reason, end_detail = t.frames.end_detail }
  end
  return list
end

--- What `pss stack --json` writes: pid, comm, captures (their number),
-- interval (with more than one), samples (each capture's threads:
-- {tid, name, state, frames, end_reason, end_detail}) and stacks (M.merge).
function M.json_value (pid, comm, captures, interval)
  local samples = {}
  for i, threads in ipairs(captures) do samples[i] = plain(threads) end
  return { pid = pid, comm = comm, captures = #captures,
    interval = #captures > 1 and interval or nil, samples = samples, stacks = M.merge(captures) }
end

--- The merged text: a header line, then each distinct stack, most
-- frequent first: "<count> x <thread names>" and its frames without pcs.
function M.merged_text (pid, comm, captures, interval)
  local merged = M.merge(captures)
  local total = #all_threads(captures)
  local out = { ("PID %d%s: %d captures %s s apart, %d stacks, %d distinct"):format(pid,
    comm and " " .. printable(comm) or "", #captures, tostring(interval), total, #merged) }
  for _, m in ipairs(merged) do
    local names = {}
    for i, n in ipairs(m.names) do names[i] = printable(n) end
    out[#out + 1] = ""
    out[#out + 1] = ("%d x %s"):format(m.count, table.concat(names, ", "))
    for i, f in ipairs(m.frames) do
      local module = f.module and (" (%s)"):format(printable(basename(f.module))) or ""
      out[#out + 1] = ("#%-2d %s%s"):format(i - 1, printable(f.symbol or "??"), module)
    end
    if m.end_reason and m.end_reason ~= "outermost" then
      out[#out + 1] = "-- stack ends: " .. m.end_reason
    end
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end
--- }======================================================================

return M
