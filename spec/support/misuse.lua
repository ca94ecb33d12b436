--- The misuse fuzz of spec/lua/15_misuse_spec.lua: random calls of the
-- whole pss API with wrong types, extra arguments, freed snapshots,
-- markers of freed snapshots, iterators resumed after their end, errors
-- and coroutine yields inside loops, the collector at random points,
-- methods called on the wrong object and metamethods called by hand.
-- Every call must succeed, raise a string, or return nil, message, code;
-- anything else stops the run with a Failure naming the call.
--
-- Safety: captures name only processes the spec started (or pss.self, or
-- pids that are no process): a random small integer could be init. The
-- self is never captured with both a clone and contexts, so no core of
-- this (possibly sanitized, terabyte-mapped) process is ever written, and
-- reads of long lengths go only where nothing is mapped. Cores go to one
-- file in a scratch directory.
local pss = require "pss"
local core = require "pss.core"

local misuse = {}
local random = math.random

--- A broken contract: a table, so no pcall of the fuzz takes it for an
-- error the API may raise.
local Failure = { __tostring = function (f) return f.message end }

local function failure (message) return setmetatable({ message = message }, Failure) end

local function pick (list) return list[random(#list)] end

local Fuzz = {}
Fuzz.__index = Fuzz

local ITERATORS = { "threads", "handles", "regions", "thread_names" }
local SNAPSHOT_METHODS = { "query", "walk", "threads", "handles", "regions", "thread_names",
  "marker", "duplicate", "read", "write_core", "free" }
local MARKER_METHODS = { "position", "seek", "rewind", "free" }
local CLASSES = { "process", "threads", "handles", "va_space", "regions", "thread_names",
  "performance", "va_clone", "auxiliary_pages", "handle_trace", "bogus", 0, 1, 2, 3, 4, 7, 99, -1 }
-- messages of a Lua layer that did not check what it was given
local SLIPS = { "attempt to index", "attempt to call", "attempt to perform", "attempt to concatenate",
  "attempt to compare", "attempt to get length", "table index is" }

--- {======================================================================
-- Values
-- ======================================================================

--- Values of every type; small positive integers only where no pid is made of them.
local function odd_values (files)
  return { false, true, 0, -1, 1, 3, 87, 1 << 31, 1 << 40, math.mininteger, math.maxinteger,
    1.5, 3.0, 0 / 0, math.huge, -math.huge, "", "threads", "handles", "regions", "va_space",
    "process", "bogus", "12", {}, { "threads" }, print, coroutine.create(function () end),
    pss.self, pss, files.w, files.r, files.closed }
end

--- Anything, nil included.
function Fuzz:odd ()
  local i = random(#self.odds + 1)
  return self.odds[i]
end

--- Mostly something the fuzz made (snapshots, markers, steps, coroutines).
function Fuzz:any ()
  if #self.pool > 0 and random(3) > 1 then return pick(self.pool) end
  return self:odd()
end

--- A pool value whose pss.type (or type) is one of `kinds`, or nil.
function Fuzz:of_kind (kinds)
  local found = {}
  for _, v in ipairs(self.pool) do
    local kind = pss.type(v) or type(v)
    for _, k in ipairs(kinds) do
      if k == kind then found[#found + 1] = v end
    end
  end
  return #found > 0 and pick(found) or nil
end

--- Usually a snapshot (live more often than freed), else anything.
function Fuzz:snapshot ()
  local r = random(10)
  local s = r <= 6 and self:of_kind { "snapshot" } or r <= 8 and self:of_kind { "freed snapshot" }
  if s then return s end
  return self:any()
end

function Fuzz:marker ()
  local r = random(10)
  local m = r <= 6 and self:of_kind { "marker" } or r <= 8 and self:of_kind { "freed marker" }
  if m then return m end
  return self:any()
end

--- What may stand for a process: never a pid the spec did not start.
function Fuzz:target ()
  if random(8) > 1 then return pick(self.targets) end
  return pick(self.not_pids)
end

--- A position: one a marker gave, or any integer.
function Fuzz:position ()
  local m = self:of_kind { "marker" }
  if m and random(2) == 1 then
    local ok, pos = pcall(m.position, m)
    if ok then return pos end
  end
  return pick { 0, -1, 1 << 62, 0x5053000000000000, 0x5053010000000003, math.maxinteger, 1.5 }
end

--- An address and a length: a region's start and a few bytes, or where
-- nothing is mapped and any length at all.
function Fuzz:address_and_length ()
  local s = self:of_kind { "snapshot" }
  local m = s and random(2) == 1 and s:marker()
  if m then
    local ok, r = pcall(s.walk, s, "regions", m)
    m:free()
    if ok and r then return r.base_address, pick { 0, 1, 8, 4096, 65536 } end
  end
  return pick { 0, 4096, -4096, math.mininteger }, pick { 0, 1, -1, 1 << 20, 1 << 40, 1 << 62,
    math.maxinteger, 1.5 }
end

--- Plausible arguments of a method (before any are spoiled).
function Fuzz:plausible (method)
  if method == "query" then return { pick(CLASSES), n = 1 } end
  if method == "walk" then return { pick(CLASSES), self:marker(), n = 2 } end
  if method == "read" then
    local address, length = self:address_and_length()
    return { address, length, n = 2 }
  end
  if method == "write_core" then
    return { pick { self.core_path, self.files.w, self.files.r, self.files.closed }, n = 1 }
  end
  if method == "seek" then return { self:position(), n = 1 } end
  return { n = 0 }
end

--- The arguments of a call: plausible ones, some replaced by anything,
-- sometimes with extra ones after them.
function Fuzz:arguments (method)
  local args = self:plausible(method)
  for i = 1, args.n do
    if random(4) == 1 then args[i] = self:any() end
  end
  if random(3) == 1 then
    for _ = 1, random(3) do
      args.n = args.n + 1
      args[args.n] = self:any()
    end
  end
  if method == "write_core" then   -- a string is a path: never one outside the scratch directory
    for i = 1, args.n do
      if type(args[i]) == "string" then args[i] = self.core_path end
    end
  end
  return args
end
--- }======================================================================


--- {======================================================================
-- Calls and their outcomes
-- ======================================================================

function Fuzz:fail (name, what)
  error(failure(("call %d (%s) %s"):format(self.calls, name, what)), 0)
end

--- Counts how a call ended: "ok", "raised" (a string), or "failed" (nil,
-- message, integer code). `lax` calls (the pure-Lua triage modules) may
-- raise any string.
function Fuzz:outcome (name, lax, ok, ...)
  self.calls = self.calls + 1
  local first, second, third = ...
  local kind = "ok"
  if not ok then
    if getmetatable(first) == Failure then error(first, 0) end
    if type(first) ~= "string" then self:fail(name, "raised a " .. type(first)) end
    for _, slip in ipairs(SLIPS) do
      if not lax and first:find(slip, 1, true) then self:fail(name, "raised: " .. first) end
    end
    kind = "raised"
  elseif first == nil and select("#", ...) >= 2 then
    if select("#", ...) ~= 3 or type(second) ~= "string" or math.type(third) ~= "integer" then
      self:fail(name, ("returned nil, %s, %s"):format(type(second), math.type(third) or type(third)))
    end
    kind = "failed"
  end
  self.outcomes[kind] = self.outcomes[kind] + 1
  return table.pack(...)
end

--- Calls fn(...) under pcall; returns its results (packed) whatever the outcome.
function Fuzz:call (name, fn, ...)
  return self:outcome(name, false, pcall(fn, ...))
end

function Fuzz:lax_call (name, fn, ...)
  return self:outcome(name, true, pcall(fn, ...))
end

--- A failure unless `cond`.
function Fuzz:expect (cond, name, what)
  if not cond then self:fail(name, what) end
end

--- Keeps what a call made (snapshots, markers, step functions) in the pool.
function Fuzz:keep (results)
  for i = 1, results.n do
    local v = results[i]
    if pss.type(v) or type(v) == "function" and v ~= print then
      self.pool[#self.pool + 1] = v
    end
  end
  while #self.pool > self.pool_max do table.remove(self.pool, random(#self.pool)) end
end
--- }======================================================================


--- {======================================================================
-- Operations: each makes one call or more
-- ======================================================================

--- Random capture options for a target: names, a raw integer or junk.
function Fuzz:options (target)
  local r = random(12)
  if r == 1 then return nil end
  if r == 2 then return self:odd() end
  if r == 5 and target ~= pss.self then   -- what a core needs
    return { "va_clone", "threads", "thread_context", random(2) == 1 and "va_space" or nil }
  end
  if r <= 4 then
    local flags = pick { 0, pss.CAPTURE_THREADS, pss.CAPTURE_VA_SPACE | pss.CAPTURE_HANDLES,
      pss.CAPTURE_THREADS | pss.CAPTURE_THREAD_CONTEXT, pss.CAPTURE_VA_CLONE, 2, 0x4000,
      random(0, 0xFFFFFFFF), 1 << 32, -1 }
    if target == pss.self and flags & pss.CAPTURE_THREAD_CONTEXT ~= 0 then
      flags = flags & ~pss.CAPTURE_VA_CLONE
    end
    return flags + (random(4) == 1 and 0.0 or 0)
  end
  local options = {}
  for _ = 1, random(0, 4) do options[#options + 1] = pick(self.option_names) end
  if random(10) == 1 then options[#options + 1] = pick { "bogus", 3, true } end
  if random(8) == 1 then options.context_flags = pick { pss.CONTEXT_CONTROL, pss.CONTEXT_ALL, 0, -1, 1.5, "x" } end
  if target == pss.self then   -- no core of this process: no clone with contexts
    local contexts = false
    for _, o in ipairs(options) do contexts = contexts or tostring(o):match("^thread_context") ~= nil end
    for i = #options, 1, -1 do
      if contexts and options[i] == "va_clone" then table.remove(options, i) end
    end
  end
  return options
end

function Fuzz:op_capture ()
  local target = self:target()
  local name = random(6) == 1 and "core.capture" or "pss.capture"
  if name == "core.capture" then
    local flags = self:options(target)
    if math.type(flags) == nil then flags = pick { 0, pss.CAPTURE_THREADS, "x", 1.5 } end
    self:keep(self:call(name, core.capture, target, flags, pick { nil, 0, pss.CONTEXT_CONTROL, -1 }))
  else
    self:keep(self:call(name, pss.capture, target, self:options(target)))
  end
end

function Fuzz:op_snapshot_method ()
  local method = pick(SNAPSHOT_METHODS)
  local args = self:arguments(method)
  self:keep(self:call("snap:" .. method, self.snapshot_methods[method], self:snapshot(),
    table.unpack(args, 1, args.n)))
end

function Fuzz:op_marker_method ()
  local method = pick(MARKER_METHODS)
  local args = self:arguments(method)
  self:keep(self:call("m:" .. method, self.marker_methods[method], self:marker(),
    table.unpack(args, 1, args.n)))
end

--- A generic for over an iterator, cut short by break, by an error, by
-- freeing its snapshot, with the collector run inside.
function Fuzz:op_loop ()
  local snap, method = self:snapshot(), pick(ITERATORS)
  local extra = random(3) == 1 and self:any() or nil
  local stop, raise, collect, free = random(0, 6), random(0, 12), random(0, 8), random(0, 16)
  local name = "for in snap:" .. method
  self:call(name, function ()
    local n = 0
    for e in self.snapshot_methods[method](snap, extra) do
      n = n + 1
      self:expect(type(e) == "table", name, "gave a " .. type(e))
      if n == stop then break end
      if n == raise then error("raised inside the loop") end
      if n == collect then collectgarbage() end
      if n == free then snap:free() end   -- the next step raises
    end
  end)
end

--- A step function from the pool, called again: after its end, after its
-- marker or snapshot was freed, with any arguments.
function Fuzz:op_step ()
  local step = self:of_kind { "function" }
  if step then self:call("step", step, self:odd(), self:any()) end
end

--- A loop inside a coroutine that yields each entry.
function Fuzz:op_coroutine ()
  local snap, method = self:snapshot(), pick(ITERATORS)
  self.pool[#self.pool + 1] = coroutine.create(function ()
    for e in self.snapshot_methods[method](snap) do coroutine.yield(e) end
    return "done"
  end)
end

--- Resumes or closes a coroutine of the pool: it may raise inside (a
-- freed snapshot), which resume returns as false and a string.
function Fuzz:op_resume ()
  local co = self:of_kind { "thread" }
  if not co then return end
  local close = random(4) == 1
  local r = self:call(close and "coroutine.close" or "coroutine.resume",
    close and coroutine.close or coroutine.resume, co, self:any())
  if r[1] == false then
    self:expect(type(r[2]) == "string", "coroutine", "ended with a " .. type(r[2]))
  end
end

--- __gc, __close and __tostring called by hand, on anything.
function Fuzz:op_metamethod ()
  local mt = pick { self.snapshot_mt, self.marker_mt }
  local name = pick { "__gc", "__close", "__tostring" }
  self:call(name, mt[name], self:any(), self:odd())
end

function Fuzz:op_module ()
  local r = random(9)
  if r == 1 then self:call("pss.type", pss.type, self:any())
  elseif r == 2 then self:call("pss.fields", pss.fields, self:odd())
  elseif r == 3 then self:call("pss.errname", pss.errname, self:odd())
  elseif r == 4 then self:call("pss.allocations", pss.allocations, self:odd())
  elseif r == 5 then self:call("pss.sleep", pss.sleep, pick { nil, "x", -1, 0 / 0, math.huge, 2e7, 0, 1e-4 })
  elseif r == 6 then
    self:call("pss.wait_limit", pss.wait_limit, pick { nil, 0.001, 0.05, 2, 5, 0, -1, "x", 0 / 0, {} })
  elseif r == 7 then self:call("tostring", tostring, self:any())
  elseif r == 8 then self:call("pss.errname", pss.errname, pick { 5, 87.0, 1460, -1 })
  else self:call("pss.fields", pss.fields, pick { "process", "thread", "context", "handle" })
  end
end

--- The pure-Lua triage modules, on anything (they may raise any string).
function Fuzz:op_triage ()
  local r = random(5)
  local snap = self:snapshot()
  if r == 1 then self:lax_call("pss.report", pss.report, snap, pick { nil, {}, { top = 2 }, 3 })
  elseif r == 2 then self:lax_call("pss.diff", pss.diff, snap, self:snapshot())
  elseif r == 3 then self:lax_call("pss.json", pss.json, random(2) == 1 and snap or self:odd())
  elseif r == 4 then self:lax_call("pss.svg", pss.svg, snap, pick { nil, { labels = 1 }, "x" })
  else
    self:lax_call("pss.processes", function ()
      local n = 0
      for p in pss.processes() do
        n = n + 1
        if n == 3 or type(p) ~= "table" then break end
      end
    end)
  end
end

function Fuzz:op_collect ()
  self:call("collectgarbage", collectgarbage, pick { "collect", "step", "incremental",
    "generational", "count" })
end

--- Lets go of pool values (for the collector), or frees every snapshot.
function Fuzz:op_drop ()
  if random(10) == 1 then
    for _, v in ipairs(self.pool) do
      if pss.type(v) == "snapshot" then self:call("snap:free", v.free, v) end
    end
  else
    for _ = 1, math.min(#self.pool, random(4)) do table.remove(self.pool, random(#self.pool)) end
  end
end

local OPS = {
  { 14, "op_capture" }, { 30, "op_snapshot_method" }, { 12, "op_marker_method" },
  { 14, "op_loop" }, { 5, "op_step" }, { 3, "op_coroutine" }, { 6, "op_resume" },
  { 6, "op_metamethod" }, { 6, "op_module" }, { 2, "op_triage" }, { 3, "op_collect" },
  { 4, "op_drop" },
}
local WEIGHT = 0
for _, op in ipairs(OPS) do WEIGHT = WEIGHT + op[1] end

function Fuzz:step ()
  local r = random(WEIGHT)
  for _, op in ipairs(OPS) do
    r = r - op[1]
    if r <= 0 then return self[op[2]](self) end
  end
end
--- }======================================================================


--- Runs the fuzz. `options`: seed, calls (at least), targets (pids the
-- spec started and pss.self), not_pids (values that are no process),
-- scratch (a directory for cores). Returns the counts of outcomes and
-- calls; raises a Failure (with the call) when the contract breaks.
function misuse.run (options)
  local files = {
    w = assert(io.open(options.scratch .. "/file", "wb")),
    r = assert(io.open("/proc/self/stat", "rb")),
    closed = assert(io.open(options.scratch .. "/closed", "wb")),
  }
  files.closed:close()
  local probe = assert(pss.capture(pss.self, 0))
  local m = probe:marker()
  local f = setmetatable({
    calls = 0, outcomes = { ok = 0, raised = 0, failed = 0 }, pool = {}, pool_max = 40,
    targets = options.targets, not_pids = options.not_pids, files = files,
    core_path = options.scratch .. "/core", odds = odd_values(files), option_names = {},
    snapshot_mt = getmetatable(probe), marker_mt = getmetatable(m),
    snapshot_methods = getmetatable(probe).__index, marker_methods = getmetatable(m).__index,
  }, Fuzz)
  m:free()
  probe:free()
  for name in pairs(pss.options) do f.option_names[#f.option_names + 1] = name end
  table.sort(f.option_names)   -- pairs order is not the seed's
  math.randomseed(options.seed)
  local ok, err = pcall(function ()
    while f.calls < options.calls do f:step() end
  end)
  f.pool = nil
  files.w:close()
  files.r:close()
  collectgarbage("incremental")
  if not ok then error(err, 0) end
  return { calls = f.calls, ok = f.outcomes.ok, raised = f.outcomes.raised,
    failed = f.outcomes.failed }
end

misuse.Failure = Failure
return misuse
