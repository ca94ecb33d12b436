--- The `pss` command (bin/pss): process triage from the shell.
-- main(args) parses the arguments with lua-argparse and returns the exit
-- status: 0, 1 for a runtime failure, 2 for a usage error (with the usage
-- of the command it was given to). Messages go to stderr, naming the pid
-- and the reason. See docs/pss.1.md.
--
-- It never harms the terminal or the files of whoever runs it: every name
-- it prints goes through pss.text's printable (no escape sequence or
-- newline of a process's choosing reaches the terminal), every write is
-- checked (a full disk is exit status 1, not a truncated file and 0), and
-- a file it writes replaces the old one only once it is complete.
local argparse = require "argparse"
local pss = require "pss"
local text = require "pss.text"
local printable = text.printable

local M = {}

local Failure = {}

local function fail (message) error(setmetatable({ text = message }, Failure), 0) end

--- {======================================================================
-- Why a capture failed, for a person
-- ======================================================================

--- The library's own account of a failure, the part after "(pid N): " of
-- its message ("the process is not dumpable", "thread 12 is traced by
-- another process (pid 40, gdb)", ...), or nil.
local function detail (msg)
  return msg:match("%(pid %d+%): (.+)$")
end

--- A hint for a failure the library did not explain, where one helps.
-- On Linux the library says why ptrace was refused (another tracer, a
-- kernel thread, another user, not dumpable, Yama): no guess is added to
-- that, and never "run as root" to root.
local function hint_for (code)
  if pss.ERROR_TIMEOUT ~= nil and code == pss.ERROR_TIMEOUT then   -- nil in an older pss.core
    return "the process did not stop in time; it was left running as it was"
  elseif code == pss.ERROR_ACCESS_DENIED and pss.platform == "windows" then
    return "run pss as the process's user or as an administrator"
  elseif code == pss.ERROR_BUSY then
    return "a debugger or tracer holds it; detach it first"
  end
end

--- The message of a failed capture: the library's, as it is, and a hint
-- only where it helps (never one the message's own detail makes moot).
local function capture_failure (pid, msg, code)
  if code == pss.ERROR_INVALID_PARAMETER then return ("pid %s: no such process"):format(pid) end
  local hint = detail(msg) == nil and hint_for(code)
  return hint and ("%s (%s)"):format(msg, hint) or msg
end

--- A snapshot of pid, or the command fails. Where the target could not be
-- stopped (ptrace refused) it is read while running, and stderr says so:
-- its tables may not describe one instant.
local function capture_pid (pid, options)
  local target = pid == "self" and pss.self or pid
  local snap, msg, code = pss.capture(target, options)
  if not snap then fail(capture_failure(pid, msg, code)) end
  local p = target ~= pss.self and snap:captured("process") and snap:query("process")
  if p and p.capture_mode == "running" then
    io.stderr:write(("pss: pid %d read while running: %s\n"):format(p.pid,
      printable(p.not_frozen or "")))
  end
  return snap
end

--- A saved snapshot or a core file (target.file; "-" is standard input).
local function load (target)
  local source = target.file == "-" and io.stdin or target.file
  local snap, msg = pss.load(source)
  if not snap then
    fail(target.file == "-" and msg:gsub("^load: ", "load: standard input: ", 1) or msg)
  end
  return snap
end

--- The snapshot a command works on: a capture of a pid (with options), or
-- what a file holds, whatever the options (a file holds what it holds).
local function capture (target, options)
  if type(target) == "table" then return load(target) end
  return capture_pid(target, options)
end

--- The name of a target in messages.
local function target_name (target)
  if type(target) ~= "table" then return "pid " .. tostring(target) end
  return target.file == "-" and "standard input" or printable(target.file)
end

--- Fails unless snap holds `what` (a snapshot captured with it, or a file
-- that has it: a core holds no handles).
local function require_captured (snap, target, class, what)
  if not snap:captured(class) then
    fail(("%s: the snapshot holds no %s"):format(target_name(target), what))
  end
end
--- }======================================================================


--- {======================================================================
-- Output: every write checked, files replaced only when complete
-- ======================================================================

local WINDOWS = pss.platform == "windows"

--- Writes text to f and flushes it; fails with the reason.
local function put (f, data, name)
  local ok, err = f:write(data)
  if ok then ok, err = f:flush() end
  if not ok then fail(("write error: %s%s"):format(name and name .. ": " or "", err)) end
end

--- Writes text to a file opened here, then closes it; nil, reason on any
-- failure (the file is closed then too).
local function put_and_close (f, data)
  local ok, err = f:write(data)
  if ok then ok, err = f:flush() end
  local closed, cerr = f:close()
  if ok and not closed then ok, err = nil, cerr end
  return ok, err
end

--- 16 hex digits nobody can guess.
local function random_hex ()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(8)
  if f then f:close() end
  if not bytes or #bytes ~= 8 then   -- Windows: Lua's own seed (time and addresses)
    bytes = string.pack("<i8", math.random(math.mininteger, math.maxinteger))
  end
  return text.hex(bytes)
end

--- A name for a new file in the directory of path that names nothing yet.
local function temporary_name (path)
  local lfs = require "lfs"
  local dir = path:match(WINDOWS and "^(.*[/\\:])" or "^(.*/)") or ""
  for _ = 1, 16 do
    local name = ("%s.pss-%s.tmp"):format(dir, random_hex())
    if not lfs.symlinkattributes(name) then return name end
  end
  fail(("%s: cannot find an unused temporary name beside it"):format(path))
end

--- The reason of an io/os failure message, without the file name Lua
-- puts in front of it ("NAME: reason").
local function reason (name, err)
  return err:sub(1, #name + 2) == name .. ": " and err:sub(#name + 3) or err
end

--- Whether path names something that is not a regular file (a device, a
-- FIFO, a socket, a directory); a symbolic link is followed.
local function special (path)
  local mode = require("lfs").attributes(path, "mode")
  return mode ~= nil and mode ~= "file"
end

--- Writes text to the file path: "-" is standard output; a device or FIFO
-- is written through; anything else gets a new file beside it (a name
-- nobody can guess, checked to be unused) that is renamed over it once
-- complete, so a failure leaves what path held untouched.
local function write_file (path, data)
  if path == "-" then return put(io.stdout, data) end
  if special(path) then
    local f, err = io.open(path, "wb")
    if not f then fail(err) end
    local ok, why = put_and_close(f, data)
    if not ok then fail(("write error: %s: %s"):format(path, why)) end
    return
  end
  -- The residual race: io.open cannot say O_EXCL, so between the check
  -- that the name is unused and the open, someone who can write in the
  -- directory could put a symbolic link there; they would have to guess
  -- 64 random bits first.
  local tmp = temporary_name(path)
  local f, err = io.open(tmp, "wb")
  if not f then fail(("%s: cannot create a file beside it: %s"):format(path, reason(tmp, err))) end
  local ok, why = put_and_close(f, data)
  if not ok then
    os.remove(tmp)
    fail(("write error: %s: %s"):format(path, why))
  end
  ok, why = os.rename(tmp, path)
  if not ok and WINDOWS and os.remove(path) then
    -- Windows renames onto no existing file: the old one is gone by now,
    -- so the new one stays where it is if it cannot take its place
    ok, why = os.rename(tmp, path)
    if not ok then fail(("%s: removed, but %s cannot take its place: %s"):format(path, tmp,
      reason(tmp, why))) end
  end
  if not ok then
    os.remove(tmp)
    fail(("%s: cannot replace it: %s"):format(path, reason(tmp, why)))
  end
end

--- Whether this process's descriptor fd (1: standard output) is a
-- terminal (Linux; false where it cannot tell).
local function is_terminal (fd)
  local target = require("lfs").symlinkattributes("/proc/self/fd/" .. fd, "target")
  if target == nil then return false end
  return target:find("^/dev/pts/") ~= nil or target:find("^/dev/tty") ~= nil
    or target == "/dev/console"
end
--- }======================================================================


--- A header and rows as columns: a column that holds a number is aligned
-- to the right, others to the left; text is printable.
local function columns (header, rows)
  local right, lines = {}, { header }
  for r, row in ipairs(rows) do
    local cells = {}
    for i, v in ipairs(row) do
      if math.type(v) then right[i] = true end
      cells[i] = math.type(v) and tostring(v) or printable(v)
    end
    lines[r + 1] = cells
  end
  return table.concat(text.columns(lines, right), "\n") .. "\n"
end

local function kib (bytes) return bytes and ("%dK"):format(bytes // 1024) or "-" end

--- Capture options with "memory_usage" added where the library has it
-- (Linux): how much of each region is resident, for a small cost (smaps
-- is read in the freeze).
local function with_usage (options)
  options = table.move(options, 1, #options, 1, {})
  if pss.options.memory_usage then options[#options + 1] = "memory_usage" end
  return options
end

--- What a capture of show, diff and map takes.
local VIEW_OPTIONS = with_usage(pss.default_options)

local function list (iter)
  local items = {}
  for e in iter do items[#items + 1] = e end
  return items
end

local function json (value)
  return require("pss.json").encode(value) .. "\n"
end

--- A listing as --json writes it: one object, {"schema", the pid if
-- any, name: the entries}, so that `.threads[]` is the same path in the
-- listing and in `pss show --json`; as --json-lines, one entry a line.
local function json_listing (a, name, entries, pid)
  local encoder = require "pss.json"
  if a.json_lines then return encoder.lines(entries) end
  return json { schema = encoder.SCHEMA, pid = pid, [name] = entries }
end

--- {======================================================================
-- The subcommands: each takes the parsed arguments, returns the text for
-- standard output and optionally a note for standard error.
-- ======================================================================
local commands = {}

function commands.ps (a)
  local procs = require("pss.process").list()
  if a.json or a.json_lines then return json_listing(a, "processes", procs) end
  local rows = {}
  for _, p in ipairs(procs) do
    rows[#rows + 1] = { p.pid, p.ppid, p.user or "-", p.state or "-", p.threads or 0, kib(p.rss),
      p.name }
  end
  return columns({ "PID", "PPID", "USER", "S", "THR", "RSS", "NAME" }, rows)
end

--- A listing of one kind of entry: JSON of the entries, or one row each
-- (row(entry, entries, process)).
local function listing (a, option, method, header, row)
  local snap <close> = capture(a.target, { option })
  require_captured(snap, a.target, option, method)
  local entries = list(snap[method](snap))
  local process = snap:query("process")
  if a.json or a.json_lines then return json_listing(a, method, entries, process.pid) end
  local rows = {}
  for i, e in ipairs(entries) do rows[i] = row(e, entries, process) end
  return columns(header, rows)
end

function commands.threads (a)
  local names
  return listing(a, "threads", "threads", { "TID", "NAME", "S", "CPU(s)", "SYSCALL" },
    function (t, threads, process)
      -- the names of pss show: only where the table is the process's own
      if names == nil then names = text.syscall_names(process, threads) or false end
      return { t.tid, t.name or "", t.state or "-",
        ("%.2f"):format((t.user_time or 0) + (t.kernel_time or 0)), text.syscall(t, names) }
    end)
end

function commands.handles (a)
  local number = WINDOWS and "HANDLE" or "FD"
  return listing(a, "handles", "handles", { number, "TYPE", "NAME" }, function (h)
    return { h.handle, h.type_name or "-", h.object_name or h.target or "" }
  end)
end

--- The mapping column of maps: the path, else what pmap says.
local function mapping (r)
  local name = r.path
  if name == nil or name == "" then name = r.mapped_file_name end
  if name ~= nil and name ~= "" then return name end
  return "[ anon ]"
end

--- The regions as `pmap -x` lists them: Address, Kbytes, RSS, Dirty
-- (shared + private), Mode, Mapping, then a total line; "-" for what a
-- snapshot without usage (a file, a core) does not have.
local function pmap_text (regions, usage)
  local function kb (n) return n and tostring(n // 1024) or "-" end
  local lines = { { "Address", "Kbytes", "RSS", "Dirty", "Mode", "Mapping" } }
  local size, rss, dirty = 0, usage and 0, usage and 0
  for _, r in ipairs(regions) do
    local d = r.shared_dirty and r.private_dirty and r.shared_dirty + r.private_dirty
    size, rss, dirty = size + r.region_size, rss and r.rss and rss + r.rss, dirty and d and dirty + d
    lines[#lines + 1] = { ("%016x"):format(r.base_address), kb(r.region_size), kb(r.rss), kb(d),
      r.protect or "-", printable(mapping(r)) }
  end
  lines[#lines + 1] = { ("-"):rep(16), ("-"):rep(7), ("-"):rep(7), ("-"):rep(7) }
  lines[#lines + 1] = { "total kB", kb(size), kb(rss), kb(dirty) }
  local right = { [2] = true, [3] = true, [4] = true }
  return table.concat(text.columns(lines, right), "\n") .. "\n"
end

function commands.maps (a)
  local snap <close> = capture(a.target, with_usage { "va_space" })
  require_captured(snap, a.target, "va_space", "regions")
  local regions = list(snap:regions())
  if a.json or a.json_lines then
    return json_listing(a, "regions", regions, snap:query("process").pid)
  end
  -- a capture with usage has the sums in the process record (0 without regions)
  return pmap_text(regions, snap:query("process").rss ~= nil)
end

local function show (target, as_json)
  local snap <close> = capture(target, VIEW_OPTIONS)
  if as_json then return json(snap) end
  return require("pss.report").report(snap)
end

function commands.show (a) return show(a.target, a.json) end
function commands.self (a) return show("self", a.json) end

--- Two captures of one pid `interval` seconds apart, or two targets (a
-- pid or a file each: yesterday's snapshot against the process now).
function commands.diff (a)
  local first, second = a.target[1], a.target[2]
  if second == nil and type(first) == "table" then
    fail("diff: a file is compared with another target (pss diff FILE PID|FILE)")
  end
  local before <close> = capture(first, VIEW_OPTIONS)
  if second == nil then pss.sleep(a.interval) end
  local after <close> = capture(second or first, VIEW_OPTIONS)
  -- two targets may be two processes: a message, not a traceback
  local ok, d = pcall(require("pss.diff").diff, before, after)
  if not ok then fail((tostring(d):gsub("^[^\n]-:%d+: ", ""))) end
  if a.json then return json(d) end
  return tostring(d)
end

--- Whether a long write shows how far it is: on standard error, when a
-- person watches it there (Linux).
local function show_progress ()
  return not WINDOWS and is_terminal(2)
end

--- The core goes where -o says: the library writes a path itself (a new
-- file renamed over it once complete); standard output, a device or a
-- FIFO it is handed open. The note goes to standard error when the core
-- goes to standard output.
function commands.core (a)
  local out = a.output
  if out == "-" and is_terminal(1) then
    fail("a core file is not written to a terminal (redirect standard output)")
  end
  local snap <close> = capture(a.pid, { "va_clone", "threads", "thread_context",
    "measure_performance" })
  local write = { progress = show_progress() }
  local ok, msg
  if out == "-" then
    put(io.stdout, "")
    ok, msg = snap:write_core(io.stdout, write)
    if ok then put(io.stdout, "") end
  elseif special(out) then
    local f, err = io.open(out, "wb")
    if not f then fail(err) end
    ok, msg = snap:write_core(f, write)
    local closed, why = f:close()
    if ok and not closed then fail(("write error: %s: %s"):format(out, why)) end
  else
    ok, msg = snap:write_core(out, write)
  end
  if not ok then fail(msg) end
  local name = out == "-" and "standard output" or printable(out)
  local pid = snap:query("process").pid
  local stopped = snap:captured("performance") and snap:query("performance").freeze_wall_clock_period
  local note = stopped and ("%s: core of pid %d; the process was stopped for %.1f ms\n"):format(
    name, pid, stopped * 1e3) or ("%s: %s of pid %d\n"):format(name,
    WINDOWS and "minidump" or "core", pid)
  if out == "-" then return "", note end
  return note
end

--- Every thread's stack (pss/stack.lua), from `count` captures
-- `interval` seconds apart: as eu-stack prints them (one capture), merged
-- with counts (more), collapsed for flame graphs, or JSON.
function commands.stack (a)
  local stack = require "pss.stack"
  if pss.platform ~= "linux" then fail("stack: stacks are captured on Linux only") end
  local captures, comm, pid = {}, nil, nil
  if type(a.target) == "table" and a.count > 1 then
    fail("stack: a file holds one capture (-n is for a live process)")
  end
  for i = 1, a.count do
    if i > 1 then pss.sleep(a.interval) end
    local snap <close> = capture(a.target, { "stacks" })
    require_captured(snap, a.target, "threads", "threads")
    comm = comm or snap:query("process").comm
    pid = pid or snap:query("process").pid
    local threads, msg = stack.stacks(snap, { lines = a.lines })
    if not threads then fail(msg) end
    captures[i] = threads
  end
  if a.json then
    local value = stack.json_value(pid, comm, captures, a.interval)
    value.schema = require("pss.json").SCHEMA
    return json(value)
  end
  if a.folded then return stack.folded(captures) end
  if a.count == 1 then return stack.text(pid, comm, captures[1]) end
  return stack.merged_text(pid, comm, captures, a.interval)
end

--- What `pss save` captures: everything a later `show`, `maps`, `stack`
-- or `diff` of the file uses, and the memory with --memory.
local SAVE_OPTIONS = with_usage { "threads", "handles", "va_space", "thread_context", "stacks",
  "measure_performance" }

--- A snapshot saved where -o says (a path gets a new file renamed over it
-- once complete; standard output, a device or a FIFO is written through);
-- a file target is saved again (a core becomes a snapshot file).
function commands.save (a)
  local out = a.output
  if out == "-" and is_terminal(1) then
    fail("a snapshot is not written to a terminal (redirect standard output)")
  end
  local options = table.move(SAVE_OPTIONS, 1, #SAVE_OPTIONS, 1, {})
  if a.memory then options[#options + 1] = "va_clone" end
  local snap <close> = capture(a.target, options)
  -- how far the memory is, on standard error when a person watches it
  local save = { memory = a.memory, progress = a.memory and show_progress() }
  local ok, msg
  if out == "-" then
    put(io.stdout, "")
    ok, msg = snap:save(io.stdout, save)
  elseif special(out) then
    local f, err = io.open(out, "wb")
    if not f then fail(err) end
    ok, msg = snap:save(f, save)
    local closed, why = f:close()
    if ok and not closed then fail(("write error: %s: %s"):format(out, why)) end
  else
    ok, msg = snap:save(out, save)
  end
  if not ok then fail(msg) end
  local name = out == "-" and "standard output" or printable(out)
  return "", ("%s: snapshot of pid %d%s\n"):format(name, snap:query("process").pid,
    a.memory and ", with its memory" or "")
end

--- The map of a capture with its threads: a thread's stack pointer tells
-- which region is its stack (pss.report's memory kinds).
function commands.map (a)
  local snap <close> = capture(a.target, with_usage { "va_space", "threads" })
  require_captured(snap, a.target, "va_space", "regions")
  write_file(a.output, require("pss.svg").render(snap))
  return ""
end
--- }======================================================================

local PID_MAX = 2147483647

--- A pid is plain decimal digits, 1..2147483647: no sign, no spaces, no
-- leading zero (it could be meant as octal), no hex, no exponent.
local function pid (s)
  local n = s:match("^[1-9]%d*$") and #s <= 10 and tonumber(s)
  if not n or n > PID_MAX then
    return nil, ("'%s' is not a process id (decimal digits, 1 to %d, no leading zero)")
      :format(s, PID_MAX)
  end
  return n
end

--- A target: a pid, or a saved snapshot or core file ({file = path}; "-"
-- is standard input). Digits are a pid: ./123 names a file called 123.
local function target (s)
  if s:match("^%d+$") then return pid(s) end
  if s == "-" then return { file = s } end
  local f = io.open(s, "rb")   -- a file to read (io, not lfs: on every platform)
  if f then
    f:close()
    return { file = s }
  end
  return nil, ("'%s' is not a process id (decimal digits, 1 to %d, no leading zero) nor a "
    .. "file (a saved snapshot or a core)"):format(s, PID_MAX)
end

local function pid_argument (cmd)
  cmd:argument("pid", "process id"):convert(pid)
end

local function target_argument (cmd, args)
  local arg = cmd:argument("target", "process id, or a saved snapshot or core file "
    .. "(- for standard input)"):convert(target)
  if args then arg:args(args) end
end

local INTERVAL_MAX = 2000000

--- Seconds: plain decimal ("5", "0.5", ".5"), 0..INTERVAL_MAX; no sign,
-- exponent, hex, nan or inf.
local function seconds (s)
  local n = (s:match("^%d+%.?%d*$") or s:match("^%.%d+$")) and tonumber(s)
  if not n or n > INTERVAL_MAX then
    return nil, ("'%s' is not a number of seconds (a decimal number from 0 to %d)")
      :format(s, INTERVAL_MAX)
  end
  return n
end

local COUNT_MAX = 100000

--- A number of captures: plain decimal digits, 1..COUNT_MAX.
local function count (s)
  local n = s:match("^[1-9]%d*$") and #s <= 6 and tonumber(s)
  if not n or n > COUNT_MAX then
    return nil, ("'%s' is not a number of captures (1 to %d)"):format(s, COUNT_MAX)
  end
  return n
end

local function output_file (s)
  if s == "" then return nil, "the output file name is empty (use - for standard output)" end
  return s
end

--- The version pss says: pss._VERSION where the module has one.
local function version ()
  return ("pss %s"):format(pss._VERSION or "unknown")
end

--- The listing commands: --json, or --json-lines (one entry a line).
local function json_flags (cmd)
  cmd:mutex(cmd:flag("--json", "JSON output: one object."),
    cmd:flag("--json-lines", "JSON Lines output: one object per entry, a line each."))
end

--- Builds the parser; returns it and its commands by name. -h/--help and
-- --version only record their text in early.text: main writes it,
-- checking the write, where argparse itself would print it and exit 0
-- whatever happened.
local function parser (early)
  local function with_help (cmd)
    cmd:add_help { action = function () early.text = early.text or cmd:get_help() end }
    return cmd
  end
  local p = with_help(argparse("pss", "Process snapshots: triage a live process.")
    :epilog("Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error. "
      .. "See docs/pss.1.md."))
  p:flag("--version", "Show the version and exit.")
    :action(function () early.text = early.text or version() end)
  local cmds = {}
  local function command (name, ...)
    cmds[name] = with_help(p:command(name, ...))
    return cmds[name]
  end
  p:command_target("command")
  p:require_command(true)
  json_flags(command("ps", "List the running processes."))
  local show_cmd = command("show", "A report: process, threads, handles, memory.")
  target_argument(show_cmd); show_cmd:flag("--json", "JSON output.")
  for _, name in ipairs { "threads", "handles", "maps" } do
    local c = command(name, ("List the process's %s."):format(name))
    target_argument(c); json_flags(c)
  end
  local d = command("diff", "What changed in a process over an interval, or between two "
    .. "targets (a file against a pid, or two files).")
  target_argument(d, "1-2")
  d:option("-i --interval", "Seconds between the two captures of one pid.", "5"):convert(seconds)
  d:flag("--json", "JSON output.")
  local st = command("stack", "Every thread's stack, symbolized (like eu-stack); the "
    .. "process is stopped only while its stacks are copied.")
  target_argument(st)
  st:option("-n --count", "Captures to take and merge.", "1"):convert(count)
  st:option("-i --interval", "Seconds between the captures.", "1"):convert(seconds)
  st:flag("-s --lines", "The source file and line of each frame, where debug "
    .. "information has them (reading it costs time the first time).")
  st:mutex(st:flag("--json", "JSON output."),
    st:flag("--folded", "Collapsed stacks for flame-graph tools, one line per stack."))
  local core = command("core", "Write an ELF core file (a minidump on Windows); the "
    .. "process is stopped only for the time of a fork.")
  pid_argument(core)
  core:option("-o --output", "The core file (- for standard output)."):args(1):count(1)
    :convert(output_file)
  local save = command("save", "Save a snapshot to a file that every command reads "
    .. "back (pss show FILE); the process is stopped only while it is captured.")
  target_argument(save)
  save:option("-o --output", "The snapshot file (- for standard output)."):args(1):count(1)
    :convert(output_file)
  save:flag("--memory", "Include the process's memory (a copy-on-write clone of it).")
  local map = command("map", "Write an SVG map of the address space.")
  target_argument(map)
  map:option("-o --output", "The SVG file (- for standard output)."):args(1):count(1)
    :convert(output_file)
  command("self", "A report of pss itself."):flag("--json", "JSON output.")
  local help = command("help", "Show the help of pss, or of one command.")
  help:argument("command", "The command to show the help of."):args("?"):target("topic")
    :convert(function (name)
      if cmds[name] then return name end
      return nil, ("unknown command '%s'"):format(name)
    end)
  -- argparse's completion scripts offer the command names after it, as
  -- after a help command of its own making
  help._is_help_command = true
  command("completion", "Print a completion script for bash or zsh "
    .. "(source <(pss completion bash)).")
    :argument("shell", "The shell."):choices { "bash", "zsh" }
  return p, cmds
end

--- Writes text to standard output; the exit status (1 on a write error).
local function emit (out)
  local ok, err = pcall(put, io.stdout, out)
  if ok then return 0 end
  io.stderr:write("pss: ", printable(getmetatable(err) == Failure and err.text or err), "\n")
  return 1
end

--- The commands about pss itself: its help, its completion scripts.
function commands.help (a, p, cmds)
  return (a.topic and cmds[a.topic] or p):get_help() .. "\n"
end

function commands.completion (a, p)
  return a.shell == "bash" and p:get_bash_complete() or p:get_zsh_complete()
end

--- A usage error, raised by the parser of the command it was given to.
local Usage = {}

--- Parses args; the result, or nil, the parser that refused them and why.
-- argparse calls the error method of the outermost parser with the
-- parser it was in: the usage printed is that command's.
local function parse (p, args)
  p.error = function (at, msg) error(setmetatable({ parser = at, text = msg }, Usage), 0) end
  local ok, a = pcall(p.parse, p, args)
  if ok then return a end
  if getmetatable(a) ~= Usage then error(a, 0) end
  return nil, a.parser, a.text
end

--- Runs the command; returns the exit status.
function M.main (args)
  local early = {}
  local p, cmds = parser(early)
  local a, at, why = parse(p, args)
  if early.text then return emit(early.text .. "\n") end
  if not a then
    io.stderr:write(at:get_usage(), "\n\npss: ", printable(why), "\n")
    return 2
  end
  local done, out, note = pcall(commands[a.command], a, p, cmds)
  if not done then
    local message = getmetatable(out) == Failure and out.text or tostring(out)
    io.stderr:write("pss: ", printable(message), "\n")
    return 1
  end
  local status = emit(out)
  if note then io.stderr:write(note) end
  return status
end

return M
