--- pss: process snapshots for Lua 5.4.
-- The Windows Process Snapshotting API over pss.core: capture a live
-- process, then query it and walk its threads, handles and regions.
-- See docs/lua-api.md.
local core = require "pss.core"

local pss = {}
for name, value in pairs(core) do pss[name] = value end
pss._VERSION = core._VERSION   -- "X.Y.Z": PSS_VERSION of src/pss.h

local HANDLE_DETAILS = core.CAPTURE_HANDLE_NAME_INFORMATION
  | core.CAPTURE_HANDLE_BASIC_INFORMATION | core.CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION

--- Capture options by name; each stands for the flags it needs.
pss.options = {
  threads = core.CAPTURE_THREADS,
  thread_context = core.CAPTURE_THREADS | core.CAPTURE_THREAD_CONTEXT,
  thread_context_extended = core.CAPTURE_THREADS | core.CAPTURE_THREAD_CONTEXT
    | core.CAPTURE_THREAD_CONTEXT_EXTENDED,
  handles = core.CAPTURE_HANDLES | HANDLE_DETAILS,
  handle_values = core.CAPTURE_HANDLES,
  handle_names = core.CAPTURE_HANDLES | core.CAPTURE_HANDLE_NAME_INFORMATION,
  handle_basic = core.CAPTURE_HANDLES | core.CAPTURE_HANDLE_BASIC_INFORMATION,
  handle_type_specific = core.CAPTURE_HANDLES | core.CAPTURE_HANDLE_TYPE_SPECIFIC_INFORMATION,
  handle_trace = core.CAPTURE_HANDLE_TRACE,
  va_space = core.CAPTURE_VA_SPACE | core.CAPTURE_VA_SPACE_SECTION_INFORMATION,
  va_regions = core.CAPTURE_VA_SPACE,
  va_clone = core.CAPTURE_VA_CLONE,
  ipt_trace = core.CAPTURE_IPT_TRACE,
  measure_performance = core.CREATE_MEASURE_PERFORMANCE,
  use_vm_allocations = core.CREATE_USE_VM_ALLOCATIONS,
  breakaway = core.CREATE_BREAKAWAY,
  breakaway_optional = core.CREATE_BREAKAWAY | core.CREATE_BREAKAWAY_OPTIONAL,
  force_breakaway = core.CREATE_FORCE_BREAKAWAY,
  release_section = core.CREATE_RELEASE_SECTION,
}

--- Linux: every thread's stack, for snap:stack (the contexts, the regions
-- the unwinder maps its modules from, and the stack bytes themselves).
if core.LINUX_CAPTURE_STACKS then
  pss.options.stacks = core.CAPTURE_THREADS | core.CAPTURE_THREAD_CONTEXT
    | core.CAPTURE_VA_SPACE | core.CAPTURE_VA_SPACE_SECTION_INFORMATION
    | core.LINUX_CAPTURE_STACKS
end

--- Linux: the regions with how much of each is resident, proportional,
-- swapped, shared and dirty (read from smaps: costlier than the maps alone).
if core.LINUX_CAPTURE_MEMORY_USAGE then
  pss.options.memory_usage = core.CAPTURE_VA_SPACE | core.LINUX_CAPTURE_MEMORY_USAGE
end

--- What a capture without options takes: everything a triage needs.
pss.default_options = { "threads", "handles", "va_space" }

--- v as an integer when it is one: 3, and the float 3.0, as
-- luaL_checkinteger takes them; nil for anything else (1.5, NaN, 2^63, "3").
local function integer (v)
  return math.type(v) and math.tointeger(v) or nil
end

--- The argument error for a value that is no integer: a float without an
-- integer value says so, as luaL_checkinteger does.
local function not_integer (n, fname, expected, v)
  local got = math.type(v) == "float" and "number has no integer representation"
    or ("%s expected, got %s"):format(expected, type(v))
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, got), 3)
end

--- Raises the argument error `what` of pss.capture at its caller's
-- level (called from pss.capture itself).
local function bad_argument (n, what)
  error(("bad argument #%d to 'capture' (%s)"):format(n, what), 3)
end

local PID_MAX, DWORD_MAX = 2147483647, 0xFFFFFFFF

--- The capture flags libpss on Linux takes (src/linux/snapshot.c,
-- check_capture_flags), and the flags some of them need beside them.
-- Any other combination is a programming error, checked here so that
-- pss.core never raises for what pss.capture passes it. Windows decides
-- for itself: there a refusal is a failure (nil, message, code).
local KNOWN_FLAGS = core.CAPTURE_VA_CLONE | core.CAPTURE_HANDLES | HANDLE_DETAILS
  | core.CAPTURE_HANDLE_TRACE | core.CAPTURE_THREADS | core.CAPTURE_THREAD_CONTEXT
  | core.CAPTURE_THREAD_CONTEXT_EXTENDED | core.CAPTURE_VA_SPACE
  | core.CAPTURE_VA_SPACE_SECTION_INFORMATION | core.CAPTURE_IPT_TRACE
  | core.CREATE_BREAKAWAY_OPTIONAL | core.CREATE_BREAKAWAY | core.CREATE_FORCE_BREAKAWAY
  | core.CREATE_USE_VM_ALLOCATIONS | core.CREATE_MEASURE_PERFORMANCE | core.CREATE_RELEASE_SECTION
  | (core.LINUX_CAPTURE_UNFROZEN or 0) | (core.LINUX_CAPTURE_FREEZE_OPTIONAL or 0)
  | (core.LINUX_CAPTURE_STACKS or 0) | (core.LINUX_CAPTURE_MEMORY_USAGE or 0)
--- What needs the target's threads stopped, whatever the caller allows.
local NEEDS_PTRACE = core.CAPTURE_THREAD_CONTEXT | core.CAPTURE_THREAD_CONTEXT_EXTENDED
  | core.CAPTURE_VA_CLONE | (core.LINUX_CAPTURE_STACKS or 0)
local NEEDS = {
  { HANDLE_DETAILS, core.CAPTURE_HANDLES },
  { core.CAPTURE_VA_SPACE_SECTION_INFORMATION, core.CAPTURE_VA_SPACE },
  { core.CAPTURE_THREAD_CONTEXT | core.CAPTURE_THREAD_CONTEXT_EXTENDED, core.CAPTURE_THREADS },
  { core.LINUX_CAPTURE_STACKS or 0, core.CAPTURE_THREAD_CONTEXT },
  { core.LINUX_CAPTURE_MEMORY_USAGE or 0, core.CAPTURE_VA_SPACE },
}

--- Whether libpss takes these capture flags (always true on Windows).
local function valid_flags (flags)
  if core.platform == "windows" then return true end
  if flags & ~KNOWN_FLAGS ~= 0 then return false end
  for _, n in ipairs(NEEDS) do
    if flags & n[1] ~= 0 and flags & n[2] == 0 then return false end
  end
  return flags & core.LINUX_CAPTURE_UNFROZEN == 0 or flags & NEEDS_PTRACE == 0
end

--- The capture settings a list of options may carry beside the names.
local SETTINGS = { context_flags = true, freeze = true, stack_limit = true }

local function option_flags (options, level)
  local flags = 0
  for key, value in pairs(options) do
    if math.type(key) == "integer" then
      local bits = type(value) == "string" and pss.options[value]
      if not bits and (value == "stacks" or value == "memory_usage") then
        error(("the %s option is for Linux captures only"):format(value), level)
      elseif not bits then
        error(("unknown capture option %s"):format(
          type(value) == "string" and ("'" .. value .. "'") or tostring(value)), level)
      end
      flags = flags | bits
    elseif not SETTINGS[key] then
      error(("unknown capture setting '%s'"):format(tostring(key)), level)
    end
  end
  return flags
end

--- The Linux flags of the freeze setting: true, stop the target or fail;
-- false, read it while it runs; nil (the default), stop it, or read it
-- while it runs where ptrace is refused and nothing asked needs ptrace.
local function freeze_flags (freeze, flags)
  if freeze ~= nil and type(freeze) ~= "boolean" then
    error(("freeze must be a boolean, got %s"):format(type(freeze)), 3)
  end
  if core.platform ~= "linux" then
    if freeze == false then error("freeze = false is for Linux captures only", 3) end
    return 0
  end
  if freeze == false then
    if flags & NEEDS_PTRACE ~= 0 then
      error("freeze = false cannot go with thread_context, stacks or va_clone: "
        .. "they need the target's threads stopped", 3)
    end
    return core.LINUX_CAPTURE_UNFROZEN
  end
  return freeze == nil and core.LINUX_CAPTURE_FREEZE_OPTIONAL or 0
end

--- The stack_limit setting: bytes of each thread's stack a stacks capture
-- copies (passed to pss.core.capture, which sets it around the capture
-- only); nil when not given.
local function stack_limit (limit, flags)
  if limit == nil then return nil end
  local n = integer(limit)
  if not n or n < 1 or n > DWORD_MAX then
    error(("stack_limit must be an integer in 1..4294967295 (bytes), got %s")
      :format(tostring(limit)), 3)
  end
  if flags & (core.LINUX_CAPTURE_STACKS or 0) == 0 then
    error("stack_limit goes with the stacks option", 3)
  end
  return n
end

--- Captures a snapshot of a process.
-- @param target a pid, or pss.self for the calling process
-- @param options a list of option names (pss.options), optionally with
--   context_flags = n, freeze = boolean and (with stacks) stack_limit =
--   bytes; or an integer of pss.CAPTURE_* flags; default
--   pss.default_options
-- @return a snapshot, or nil, message, Win32 code
function pss.capture (target, options)
  if target ~= pss.self then
    target = integer(target) or not_integer(1, "capture", "pid or pss.self", target)
    if target < 1 or target > PID_MAX then
      bad_argument(1, "pid must be an integer in 1..2147483647, or pss.self")
    end
  end
  if options == nil then options = pss.default_options end
  local flags, context, limit
  if type(options) == "number" then
    flags = integer(options) or not_integer(2, "capture", "integer", options)
  elseif type(options) == "table" then
    context = options.context_flags
    if context ~= nil then
      context = integer(context) or error("context_flags must be an integer", 2)
    end
    flags = option_flags(options, 3)
    flags = flags | freeze_flags(options.freeze, flags)
    limit = stack_limit(options.stack_limit, flags)
    -- contexts without context_flags: every register set there is
    if context == nil and flags & core.CAPTURE_THREAD_CONTEXT ~= 0 then
      context = core.CONTEXT_ALL
    end
  else
    error(("bad argument #2 to 'capture' (table or integer expected, got %s)")
      :format(type(options)), 2)
  end
  if flags < 0 or flags > DWORD_MAX then bad_argument(2, "flags out of range") end
  if not valid_flags(flags) then bad_argument(2, ("invalid capture flags 0x%x"):format(flags)) end
  -- named #3 as pss.core.capture has always named it
  if context ~= nil and (context < 0 or context > DWORD_MAX) then
    bad_argument(3, "context flags out of range")
  end
  if limit then return core.capture(target, flags, context or 0, limit) end
  return core.capture(target, flags, context)
end

--- {======================================================================
-- Triage, in modules loaded on first use (tail calls: argument errors
-- name the caller). See docs/lua-api.md.
-- ======================================================================

--- A snapshot from a file: one that snap:save wrote, or an ELF core file
-- (the kernel's, gdb's gcore's, write_core's); a path or an open file.
-- @return a snapshot, or nil, message, Win32 code
function pss.load (source) return core.load(source) end

--- Iterator over the running processes (pss/process.lua).
function pss.processes () return require("pss.process").processes() end

--- What changed between two snapshots of one process (pss/diff.lua).
function pss.diff (a, b) return require("pss.diff").diff(a, b) end

--- JSON text of a snapshot, a diff or a process list (pss/json.lua).
function pss.json (value) return require("pss.json").encode(value) end

--- Every thread's stack: a list of {tid, name, state, frames} (pss/stack.lua).
function pss.stacks (snap) return require("pss.stack").stacks(snap) end

--- A readable text report of a snapshot (pss/report.lua).
function pss.report (snap, options) return require("pss.report").report(snap, options) end

--- An SVG map of a snapshot's address space (pss/svg.lua).
function pss.svg (snap, options) return require("pss.svg").render(snap, options) end
--- }======================================================================

--- Short, stable names for the Win32 codes pss returns.
pss.errnames = {
  [core.ERROR_ACCESS_DENIED] = "access denied",
  [core.ERROR_INVALID_HANDLE] = "invalid handle",
  [core.ERROR_NOT_ENOUGH_MEMORY] = "out of memory",
  [core.ERROR_GEN_FAILURE] = "system error",
  [core.ERROR_NOT_SUPPORTED] = "not supported",
  [core.ERROR_INVALID_PARAMETER] = "no such process",
  [core.ERROR_PROCESS_ABORTED] = "process exited",
  [core.ERROR_NOT_FOUND] = "not captured",
  [core.ERROR_BUSY] = "traced by another process",
  [core.ERROR_NO_PROC_SLOTS] = "no process slots",
  [core.ERROR_PARTIAL_COPY] = "partial read",
  [core.ERROR_TIMEOUT] = "timed out",
  [core.ERROR_DISK_FULL] = "disk full",
  [core.ERROR_FILE_TOO_LARGE] = "file too large",
  [core.ERROR_BROKEN_PIPE] = "broken pipe",
  [core.ERROR_BAD_FORMAT] = "bad format",
  [core.ERROR_FILE_NOT_FOUND] = "no such file",
}

--- The short name of a Win32 code returned by pss ("access denied", ...).
function pss.errname (code)
  code = integer(code) or not_integer(1, "errname", "integer", code)
  return pss.errnames[code] or ("error " .. code)
end

return pss
