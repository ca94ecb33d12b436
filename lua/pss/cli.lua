--- The `pss` command (bin/pss): process triage from the shell.
-- main(args) parses the arguments with lua-argparse and returns the exit
-- status: 0, 1 for a runtime failure, 2 for a usage error. Messages go to
-- stderr, naming the pid and the reason. See docs/pss.1.md.
local argparse = require "argparse"
local pss = require "pss"

local M = {}

--- Why a capture failed, for a person: the message, and for some codes
-- what to do about it.
local HINTS = {
  [pss.ERROR_ACCESS_DENIED] = "run pss as the process's user or as root",
  [pss.ERROR_BUSY] = "a debugger or tracer holds it; detach it first",
}

local Failure = {}

local function fail (text) error(setmetatable({ text = text }, Failure), 0) end

local function capture (pid, options)
  local target = pid == "self" and pss.self or pid
  local snap, msg, code = pss.capture(target, options)
  if snap then return snap end
  if code == pss.ERROR_INVALID_PARAMETER then
    fail(("pid %d: no such process"):format(pid))
  end
  local hint = HINTS[code]
  fail(hint and ("%s (%s)"):format(msg, hint) or msg)
end

--- Right-aligns numbers and left-aligns text in columns.
local function columns (header, rows)
  local widths, numeric = {}, {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, v in ipairs(row) do
      local s = tostring(v)
      row[i] = s
      if #s > widths[i] then widths[i] = #s end
      if math.type(v) then numeric[i] = true end
    end
  end
  local out = {}
  local function line (cells)
    local parts = {}
    for i, c in ipairs(cells) do
      local pad = (" "):rep(widths[i] - #c)
      parts[i] = i == #cells and not numeric[i] and c or (numeric[i] and pad .. c or c .. pad)
    end
    out[#out + 1] = table.concat(parts, "  ")
  end
  line(header)
  for _, row in ipairs(rows) do line(row) end
  return table.concat(out, "\n") .. "\n"
end

local function kib (bytes) return bytes and ("%dK"):format(bytes // 1024) or "-" end

local function list (iter)
  local items = {}
  for e in iter do items[#items + 1] = e end
  return items
end

local function json (value)
  return require("pss.json").encode(value) .. "\n"
end

--- {======================================================================
-- The subcommands: each takes the parsed arguments, returns the output.
-- ======================================================================
local commands = {}

function commands.ps (a)
  local procs = require("pss.process").list()
  if a.json then return json(procs) end
  local rows = {}
  for _, p in ipairs(procs) do
    rows[#rows + 1] = { p.pid, p.ppid, p.user or "-", p.state or "-", p.threads or 0, kib(p.rss),
      p.name }
  end
  return columns({ "PID", "PPID", "USER", "S", "THR", "RSS", "NAME" }, rows)
end

--- A listing of one kind of entry: JSON of the entries, or one row each.
local function listing (a, option, method, header, row)
  local snap <close> = capture(a.pid, { option })
  local entries = list(snap[method](snap))
  if a.json then return json(entries) end
  local rows = {}
  for i, e in ipairs(entries) do rows[i] = row(e) end
  return columns(header, rows)
end

function commands.threads (a)
  return listing(a, "threads", "threads", { "TID", "NAME", "S", "CPU(s)", "SYSCALL" },
    function (t)
      return { t.tid, t.name or "", t.state or "-",
        ("%.2f"):format((t.user_time or 0) + (t.kernel_time or 0)),
        t.syscall_number and t.syscall_number >= 0 and t.syscall_number or "-" }
    end)
end

function commands.handles (a)
  local number = pss.platform == "windows" and "HANDLE" or "FD"
  return listing(a, "handles", "handles", { number, "TYPE", "NAME" }, function (h)
    return { h.handle, h.type_name or "-", h.object_name or h.target or "" }
  end)
end

function commands.maps (a)
  return listing(a, "va_space", "regions", { "ADDRESS", "SIZE", "PERM", "TYPE", "PATH" },
    function (r)
      return { ("%016x"):format(r.base_address), kib(r.region_size), r.protect or "-",
        r.type or "-", r.path or r.mapped_file_name or "" }
    end)
end

local function show (pid, as_json)
  local snap <close> = capture(pid, pss.default_options)
  if as_json then return json(snap) end
  return require("pss.report").report(snap)
end

function commands.show (a) return show(a.pid, a.json) end
function commands.self (a) return show("self", a.json) end

function commands.diff (a)
  local before <close> = capture(a.pid, pss.default_options)
  pss.sleep(a.interval)
  local after <close> = capture(a.pid, pss.default_options)
  local d = require("pss.diff").diff(before, after)
  if a.json then return json(d) end
  return tostring(d)
end

function commands.core (a)
  local snap <close> = capture(a.pid, { "va_clone", "threads", "thread_context",
    "measure_performance" })
  local ok, msg = snap:write_core(a.output)
  if not ok then fail(msg) end
  local stopped = snap:query("performance").freeze_wall_clock_period
  if not stopped then return ("%s: minidump of pid %d\n"):format(a.output, a.pid) end
  return ("%s: core of pid %d; the process was stopped for %.1f ms\n"):format(a.output, a.pid,
    stopped * 1e3)
end

function commands.map (a)
  local snap <close> = capture(a.pid, { "va_space" })
  local f, err = io.open(a.output, "wb")
  if not f then fail(err) end
  f:write(require("pss.svg").render(snap))
  f:close()
  return ""
end
--- }======================================================================

local function pid_argument (cmd)
  cmd:argument("pid", "process id"):convert(function (s)
    local n = tonumber(s)
    if not n or math.type(n) ~= "integer" or n <= 0 then
      return nil, ("'%s' is not a process id"):format(s)
    end
    return n
  end)
end

local function parser ()
  local p = argparse("pss", "Process snapshots: triage a live process.")
    :epilog("Exit status: 0 on success, 1 on a runtime failure, 2 on a usage error. "
      .. "See docs/pss.1.md.")
  p:command_target("command")
  p:require_command(true)
  p:command("ps", "List the running processes."):flag("--json", "JSON output.")
  local show_cmd = p:command("show", "A report: process, threads, handles, memory.")
  pid_argument(show_cmd); show_cmd:flag("--json", "JSON output.")
  for _, name in ipairs { "threads", "handles", "maps" } do
    local c = p:command(name, ("List the process's %s."):format(name))
    pid_argument(c); c:flag("--json", "JSON output.")
  end
  local d = p:command("diff", "What changed in a process over an interval.")
  pid_argument(d)
  d:option("-i --interval", "Seconds between the two captures.", "5"):convert(function (s)
    local n = tonumber(s)
    if not n or n < 0 or n > 2e6 then return nil, ("'%s' is not a number of seconds"):format(s) end
    return n
  end)
  d:flag("--json", "JSON output.")
  local core = p:command("core", "Write an ELF core file (a minidump on Windows); the "
    .. "process is stopped only for the time of a fork.")
  pid_argument(core); core:option("-o --output", "The core file."):args(1):count(1)
  local map = p:command("map", "Write an SVG map of the address space.")
  pid_argument(map); map:option("-o --output", "The SVG file."):args(1):count(1)
  p:command("self", "A report of pss itself."):flag("--json", "JSON output.")
  return p
end

--- Runs the command; returns the exit status.
function M.main (args)
  local p = parser()
  local ok, a = p:pparse(args)
  if not ok then
    io.stderr:write(p:get_usage(), "\n\npss: ", a, "\n")
    return 2
  end
  local done, out = pcall(commands[a.command], a)
  if not done then
    local text = getmetatable(out) == Failure and out.text or tostring(out)
    io.stderr:write("pss: ", text, "\n")
    return 1
  end
  io.stdout:write(out)
  return 0
end

return M
